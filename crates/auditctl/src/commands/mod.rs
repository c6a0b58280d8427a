//! One module per subcommand; each loads what it needs and prints.

mod compare_prom;
mod completions;
mod config;
mod demo;
mod devnet;
mod query;
mod report;
mod run;
mod status;
mod sync;
mod synth;
mod weights;

use anyhow::Result;

use crate::cli::{Cli, Command, ConfigCommand, DevnetCommand};
use audit_service::signals::Stop;

/// Runs the parsed command; returns the exit code. Commands that end on a
/// signal by design watch `stop`; the others are dropped at a signal.
pub async fn run(cli: Cli, stop: Stop) -> Result<u8> {
    match &cli.command {
        Command::Config(ConfigCommand::Check) => config::check(&cli.global),
        Command::Status(args) => status::run(&cli.global, args).await,
        Command::Weights(args) => weights::run(&cli.global, args).await,
        Command::Sync(args) => sync::run(&cli.global, args).await,
        Command::Devnet(command) => devnet::run(&cli.global, command, stop).await,
        Command::Run(args) => run::run(&cli.global, args, stop).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Report(args) => report::run(&cli.global, args).await,
        Command::Query(args) => query::run(&cli.global, args).await,
        Command::Synth(args) => synth::run(&cli.global, args, stop).await,
        Command::CompareProm(args) => compare_prom::run(&cli.global, args).await,
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// Whether `command` ends on a signal by design (and is given time to),
/// rather than being cancelled by it.
pub fn stops_on_signal(command: &Command) -> bool {
    match command {
        Command::Run(_) | Command::Devnet(DevnetCommand::Serve(_)) => true,
        Command::Synth(args) => args.command.is_none() && args.every.is_some(),
        _ => false,
    }
}
