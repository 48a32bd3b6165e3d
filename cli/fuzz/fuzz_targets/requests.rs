//! Every request reader of `distil serve` on arbitrary bytes: none may panic, and one that accepts
//! a body must keep the limits it enforces.

#![no_main]

use distil_cli::server::requests::{every_reader, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    // A small limit, so that lists past it are within the fuzzer's reach.
    let limits = Limits { max_texts: 4 };
    if let Err(broken) = every_reader(body, &limits) {
        panic!("{broken}");
    }
});
