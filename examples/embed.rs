//! The smallest embedding program: `cargo run --release --example embed -- [MODEL]` (MODEL a
//! directory or a hub id in the local cache; by default all-MiniLM-L6-v2).
use distil::{Embed, Engine, Options};

fn main() -> distil::Result<()> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or("sentence-transformers/all-MiniLM-L6-v2".into());
    let engine = Engine::from_pretrained(&model, &Options::default())?;
    let texts = ["A cat sits on the mat.", "A dog lies on the rug."];
    let vectors = Embed::new(&engine)?.run(&texts)?.vectors; // Array2<f32>: [texts, dim]
    let cosine = vectors.row(0).dot(&vectors.row(1)); // the rows have unit length
    let (n, dim) = vectors.dim();
    println!("{n} vectors of {dim} floats; cosine {cosine:.4}");
    Ok(())
}
