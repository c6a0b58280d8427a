//! `auditctl`: the command line of chutes-audit. A thin layer: it parses
//! arguments, loads the configuration, calls the library crates and prints
//! their results as tables or JSON. Exit codes are in [`exit`].

mod cli;
#[cfg(test)]
mod cli_help_tests;
mod commands;
mod configuration;
mod exit;
mod logging;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// mimalloc keeps freed memory for reuse: with glibc's allocator a fifth
/// of the week's scoring went to the kernel zeroing pages that polars had
/// just freed and asked for again (docs/performance.md). Built without
/// its transparent huge pages (`no_thp`): it advised the kernel to back
/// its 1 GiB arena with 2 MiB pages, each zeroed whole on first touch, a
/// third of a catch-up's CPU for a process that lives a second.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init_logging(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    // Descriptors for downloads, the catalog and the listener's clients:
    // the soft limit up to what the system allows this process.
    match audit_service::raise_open_file_limit() {
        Ok(limit) => tracing::debug!(?limit, "open-file limit"),
        Err(err) => tracing::debug!("the open-file limit stays as it is: {err}"),
    }
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
    let graceful = commands::stops_on_signal(&cli.command);
    let ended = runtime.block_on(async {
        let (stop, drop_command) = audit_service::signals::listen(graceful);
        tokio::select! {
            result = commands::run(cli, stop) => Ok(result),
            signal = drop_command => Err(signal),
        }
    });
    // What a dropped command left on blocking threads gets a moment; a
    // thread stuck on the network does not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match ended {
        Ok(Ok(code)) => code.into(),
        Ok(Err(err)) => {
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
        Err(signal) => {
            eprintln!(
                "stopped by {}: the command was cancelled; what it finished is kept, nothing half-written",
                signal.name()
            );
            exit::stopped_by(signal).into()
        }
    }
}
