//! `auditctl`: the command line of chutes-audit. A thin layer: it parses
//! arguments, loads the configuration, calls the library crates and prints
//! their results as tables or JSON. Exit codes are in [`exit`].

mod cli;
mod commands;
mod config;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed memory for reuse: with glibc's allocator a fifth
/// of the week's scoring went to the kernel zeroing pages that polars had
/// just freed and asked for again (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::init_logging(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return exit::FAILURE.into();
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code.into(),
        Err(err) => {
            // The whole chain, masked (a driver's message may quote a URL)
            // and on one line with its controls escaped (an error body
            // from the network may carry escape sequences or line breaks).
            let message = audit_store::redact(&format!("{err:#}"));
            eprintln!("error: {}", audit_model::escape_control(&message));
            if let Some(advice) = exit::advice(&err) {
                eprintln!("hint: {advice}");
            }
            exit::classify(&err).into()
        }
    }
}
