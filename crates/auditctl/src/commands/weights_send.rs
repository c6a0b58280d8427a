//! Sending from the CLI: the configuration resolved into
//! `audit_run::SubmitSettings`, and the outcome rendered. The sending and
//! recording itself is `audit_run::submit`, which `auditctl run` calls too.

use std::time::Duration;

use anyhow::{Context, Result};
use audit_run::{Sending, SubmitSettings};
use audit_store::Store;
use chrono::Utc;
use weights::{Mode, SendOptions};

use audit_config::Config;

/// Tries in all when the node cannot be reached; never after it refused.
const TRIES: u32 = 3;
/// First wait between tries; doubles.
const BACKOFF: Duration = Duration::from_secs(2);

/// Whether this invocation sends, plans, or neither.
pub fn mode(config: &Config, dry_run: bool) -> Mode {
    match (dry_run, config.set_weights.enabled) {
        (true, _) => Mode::DryRun,
        (false, true) => Mode::Send,
        (false, false) => Mode::Disabled,
    }
}

/// The sending settings the configuration gives: the key, the chain, the
/// beacon, the freshness bound. `wait_reveal` waits for a commit's reveal.
pub fn settings(config: &Config, wait_reveal: Option<Duration>) -> Result<SubmitSettings> {
    let hotkey = match &config.set_weights.secret_seed {
        None => None,
        Some(seed) => Some(
            subtensor::Hotkey::from_seed_hex(seed.expose())
                .context("set_weights.secret_seed is not a usable seed")?,
        ),
    };
    let beacon = config
        .set_weights
        .beacon
        .beacon()
        .map_err(|m| anyhow::anyhow!("set_weights.beacon: {m}"))?;
    Ok(SubmitSettings {
        chain_url: config.subtensor.url.to_string(),
        chain_options: config.chain_options(),
        netuid: config.netuid,
        hotkey,
        configured_address: config.set_weights.ss58.clone(),
        version_key: config.set_weights.version_key,
        max_entry_age: Duration::from_secs(config.set_weights.max_entry_age_seconds),
        beacon,
        block_time: Duration::from_secs(config.set_weights.block_time_seconds),
        send: SendOptions {
            tries: TRIES,
            backoff: BACKOFF,
            wait_reveal,
        },
        validators: config.validator_hotkeys(),
        window_days: config.scoring.window_days,
    })
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
