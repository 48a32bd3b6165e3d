//! Loading the model once the server listens: the engine, a warm-up pass, the batcher; then the
//! server is ready.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use distil::{Embed, EmbedConfig, Engine, Error, FillMask, FillMaskOptions, Result};

use super::batcher::{BatchLimits, Batcher};
use super::{App, Loaded, LOADING, READY};

/// Loads the model, warms it up, starts the batcher and marks the server ready.
pub(super) fn load(app: &App) -> Result<()> {
    let config = &app.config;
    if !config.load_delay.is_zero() {
        std::thread::sleep(config.load_delay);
    }
    let started = Instant::now();
    let engine = Arc::new(Engine::from_pretrained(&config.model, &config.engine)?);
    engine.check_weights()?;
    let dir = engine.dir().to_path_buf();
    let embed_config = EmbedConfig::from_dir(&dir)?;
    let fill_mask = can_fill_mask(&engine);
    warm_up(&engine, &embed_config, fill_mask.is_ok())?;
    let limits = BatchLimits {
        batch_delay: config.batch_delay,
        max_answer_bytes: config.max_answer_bytes,
    };
    let batcher = Batcher::start(
        Arc::clone(&engine),
        embed_config,
        limits,
        config.max_concurrent,
        Arc::clone(&app.metrics),
    )
    .map_err(|e| Error::input(format!("cannot start the batcher thread: {e}")))?;
    let threads = engine.threads();
    let loaded = Loaded {
        engine,
        batcher,
        fill_mask,
    };
    if app.loaded.set(loaded).is_err() {
        return Err(Error::input("internal error: the model was loaded twice"));
    }
    // Not ready if a shutdown began meanwhile.
    let _ = app
        .phase
        .compare_exchange(LOADING, READY, Ordering::AcqRel, Ordering::Acquire);
    tracing::info!(
        dir = %dir.display(),
        threads,
        ms = started.elapsed().as_millis() as u64,
        "model loaded and warmed up; ready"
    );
    Ok(())
}

/// Whether the model can fill masks, or why not: the engine's reason (no MLM head, no mask token
/// in `vocab.txt`), and what still works.
fn can_fill_mask(engine: &Engine) -> std::result::Result<(), String> {
    engine
        .mask_id()
        .map(|_| ())
        .map_err(|e| format!("{e}; POST /embed works"))
}

/// One request's worth of work before the first real one: pages the weights in and sizes the
/// allocator's pools, so the first client does not pay for it.
fn warm_up(engine: &Engine, embed_config: &EmbedConfig, fill_mask: bool) -> Result<()> {
    if fill_mask {
        let mask = engine
            .tokenizer()
            .mask_id()
            .and_then(|id| engine.tokenizer().id_to_token(id))
            .unwrap_or("[MASK]")
            .to_string();
        let text = format!("Warming up the {mask} before the first request.");
        let fill_mask = FillMask::new(engine, FillMaskOptions::default())?;
        for result in fill_mask.run(&[text.as_str()]) {
            result?;
        }
    } else {
        let embed = Embed::with_config(engine, embed_config.clone());
        embed.run(&["Warming up before the first request."])?;
    }
    Ok(())
}
