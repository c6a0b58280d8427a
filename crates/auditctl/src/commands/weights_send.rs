//! Sending from the CLI: the configuration resolved into
//! `audit_run::SubmitSettings`, and the outcome rendered. The sending and
//! recording itself is `audit_run::submit`, which `auditctl run` calls too.

use std::time::Duration;

use anyhow::Result;
use audit_run::{Sending, SubmitSettings};
use audit_store::Store;
use chrono::Utc;
use weights::Mode;

use audit_config::Config;

/// Whether this invocation sends, plans, or neither.
pub fn mode(config: &Config, dry_run: bool) -> Mode {
    match (dry_run, config.set_weights.enabled) {
        (true, _) => Mode::DryRun,
        (false, true) => Mode::Send,
        (false, false) => Mode::Disabled,
    }
}

/// The sending settings the configuration gives
/// (`audit_run::SubmitSettings::from_config`, as `run` sends with).
/// `wait_reveal` waits for a commit's reveal.
pub fn settings(config: &Config, wait_reveal: Option<Duration>) -> Result<SubmitSettings> {
    SubmitSettings::from_config(config, wait_reveal).map_err(super::run::setup_error)
}

/// Sends (or plans) the weights of the recorded run `run` and records
/// what happened (`audit_run::submit`).
pub async fn submit(
    store: &Store,
    config: &Config,
    run: &incentives::EvaluatedRun,
    mode: Mode,
    wait_reveal: Option<Duration>,
) -> Result<Sending> {
    let settings = settings(config, wait_reveal)?;
    let now = Utc::now();
    Ok(audit_run::submit(store, &settings, mode, run, now.naive_utc(), now).await?)
}
