//! `server`: the Tenantry binary. Everything lives in the library; this only reports the outcome.

use std::process::ExitCode;

use clap::Parser;

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
