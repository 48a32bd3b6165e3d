//! The `distil` command line: `fill-mask`, `tokenize` and `embed`.
//!
//! `main` only calls `try_main`, prints its error on one line and exits non-zero.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("distil: {err}");
            ExitCode::FAILURE
        }
    }
}
