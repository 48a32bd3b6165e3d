//! The smallest fill-mask program: `cargo run --release --example fill_mask -- [MODEL] [TEXT]`
//! (MODEL a directory or a hub id in the local cache; by default distilbert-base-cased).
use distil::{Engine, FillMask, FillMaskOptions, Options};

fn main() -> distil::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or("distilbert-base-cased".into());
    let text = args.next().unwrap_or("Paris is [MASK] of France.".into());
    let engine = Engine::from_pretrained(&model, &Options::default())?;
    let fill_mask = FillMask::new(&engine, FillMaskOptions::default())?;
    for prediction in &fill_mask.run(&[text.as_str()]).remove(0)?.masks[0] {
        println!("{:.4}  {}", prediction.score, prediction.sequence);
    }
    Ok(())
}
