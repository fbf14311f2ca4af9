//! `server`: the Tenantry binary. Everything lives in the library; this only reports the outcome.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: through 10,000 sign-ins glibc's allocator kept each thread's 19 MiB hashing
/// buffers (see bench/load and the README).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = server::config::Cli::parse();
    match server::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One sentence, no backtrace: each `Error` variant says what to fix.
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
