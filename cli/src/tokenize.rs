//! `distil tokenize`.

use std::path::PathBuf;
use std::process::ExitCode;

use distil::tokenizer::Tokenizer;
use distil::Result;

use super::inputs::{self, Layout};

#[derive(clap::Args)]
pub struct TokenizeArgs {
    /// A model directory or hub id whose vocab.txt and tokenizer_config.json to use.
    #[arg(long, conflicts_with = "vocab")]
    model: Option<String>,
    /// A vocab.txt to use instead of a model.
    #[arg(long)]
    vocab: Option<PathBuf>,
    /// With --vocab: lowercase and strip accents (an uncased vocabulary).
    #[arg(long, requires = "vocab")]
    lowercase: bool,
    /// Ids, tokens and byte offsets as one JSON object per input.
    #[arg(long)]
    json: bool,
    /// Texts; read from standard input, one per line, when absent.
    texts: Vec<String>,
}

/// `--json` output, keys in this order.
#[derive(serde::Serialize)]
struct TokenizeJson<'a> {
    ids: &'a [u32],
    tokens: &'a [String],
    /// Byte ranges, as `[start, end]` pairs.
    offsets: &'a [(usize, usize)],
}

pub fn run(args: TokenizeArgs) -> Result<ExitCode> {
    let inputs = inputs::read(args.texts).map_err(distil::Error::input)?;
    let tokenizer = match (&args.vocab, &args.model) {
        (Some(vocab), _) => Tokenizer::from_vocab_file(vocab, args.lowercase)?,
        (None, model) => {
            let model = model.as_deref().unwrap_or("distilbert-base-cased");
            Tokenizer::from_dir(&distil::hub::resolve(model)?)?
        }
    };
    let answers = inputs::texts(&inputs)
        .into_iter()
        .map(|text| Ok::<_, String>(tokenizer.encode(text)));
    let layout = Layout::json_or(args.json, Layout::Lines);
    Ok(inputs::answer_each(&inputs, answers, layout, |_, enc| {
        if args.json {
            let doc = TokenizeJson {
                ids: &enc.ids,
                tokens: &enc.tokens,
                offsets: &enc.offsets,
            };
            println!("{}", serde_json::to_string(&doc).unwrap_or_default());
        } else {
            let ids: Vec<String> = enc.ids.iter().map(u32::to_string).collect();
            println!("{}", ids.join(" "));
        }
    }))
}
