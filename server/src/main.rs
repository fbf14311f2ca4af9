//! `server`: the Tenantry binary. Everything lives in the library; this only reports the outcome.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // cargo-leptos bakes the site's output name in at build time; a plain `cargo build` does
    // not. Still single-threaded here, so setting the environment is sound.
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none()
        && option_env!("LEPTOS_OUTPUT_NAME").is_none()
    {
        std::env::set_var("LEPTOS_OUTPUT_NAME", "tenantry");
    }
    let cli = server::config::Cli::parse();
    match server::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One clear sentence; details went to the log at debug level.
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
