//! `auditctl completions SHELL` and the hidden `auditctl man --out DIR`:
//! both generated from the clap definitions, so they never drift from
//! the commands themselves.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit;

/// The completion script for the shell, on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "auditctl", &mut std::io::stdout());
    Ok(exit::SUCCESS)
}

/// `auditctl.1` and a page per subcommand (`auditctl-sync.1`, ...).
pub fn man(args: &ManArgs) -> Result<u8> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    clap_mangen::generate_to(Cli::command(), &args.out)
        .with_context(|| format!("writing the man pages into {}", args.out.display()))?;
    println!("man pages written to {}", args.out.display());
    Ok(exit::SUCCESS)
}
