//! Fuzz target `safetensors`: the bytes as a tiny model's `model.safetensors`, loaded through
//! `Engine::load`, then run (see `harness::safetensors`).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::safetensors(data);
});
