//! `auditctl weights`: the scores reproduced from the lake, set against
//! the incentive on chain, recorded in the catalog, and sent when
//! `set_weights.enabled` (`--dry-run` shows exactly what would be sent).
//! The output says which hours the scores cannot see (coverage gaps) and
//! whether unverifiable entries were scored.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use audit_store::Store;
use chrono::NaiveDateTime;

use super::weights_send;
use crate::cli::{Global, WeightsArgs};
use crate::view::weights::{
    explain, find, render, render_evidence, Evidence, WeightsOutput, WeightsReport,
};
use crate::{exit, output};
use audit_config::Config;
use audit_run::SendingAction;

pub async fn run(global: &Global, args: &WeightsArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let at = args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc());
    if weights_send::mode(&config, args.dry_run) == weights::Mode::Send {
        // Weights scored on hours that have not happened must not be sent.
        audit_model::time::check_not_future(at, chrono::Utc::now().naive_utc())?;
    }
    // A run records its result in the catalog: a writer.
    let store = Store::open_for_writing(
        &config.data_dir,
        Some(&config.database_url()),
        &args.lock.request("auditctl weights"),
    )
    .await
    .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let report = score(&store, &config, at).await?;

    if let Some(hotkey) = &args.explain {
        let Some(text) = explain(&report, hotkey) else {
            bail!("miner {hotkey} has no score at {at}: it has no counted work in the window or is not on the metagraph");
        };
        if global.json {
            let miner = find(&report.scores, hotkey);
            output::print(&output::json(&miner))?;
        } else {
            output::print(&text)?;
        }
        return Ok(exit::SUCCESS);
    }
    let coverage = evidence(&store, &config, &report).await?;
    let mode = weights_send::mode(&config, args.dry_run);
    let wait = args.wait_reveal.map(Duration::from_secs);
    let sending = weights_send::submit(&store, &config, &report, mode, wait).await?;
    let code = if sending.succeeded() {
        exit::SUCCESS
    } else if sending.integrity_violation() {
        exit::INTEGRITY
    } else {
        exit::FAILURE
    };
    if global.json {
        let would_send = match &sending.action {
            SendingAction::DryRun { plan, .. } => Some(plan.is_some()),
            _ => None,
        };
        let doc = WeightsOutput {
            run: &report,
            coverage,
            would_send,
            sending,
        };
        output::print(&output::json(&doc))?;
    } else {
        output::print(&render(&report, config.scoring.delta_flag))?;
        output::print(&render_evidence(&coverage))?;
        output::print(&crate::view::sending::render(&sending))?;
    }
    Ok(code)
}

/// The coverage gaps of the scoring window and the unverifiable entries
/// the scores used.
async fn evidence(store: &Store, config: &Config, report: &WeightsReport) -> Result<Evidence> {
    let until = report.scores.evaluated_at;
    let window_days = config.scoring.window_days;
    let from = audit_model::time::window_start(until, window_days);
    Ok(Evidence {
        window_days,
        gaps: store.catalog().coverage_gaps(from, until).await?,
        unverifiable_entries_used: report.scores.unverifiable_entries_used,
        unproven_entries_used: report.scores.unproven_entries_used,
    })
}

/// Scores the lake as of `at`, compares with the chain, and records the
/// run in the catalog.
pub async fn score(store: &Store, config: &Config, at: NaiveDateTime) -> Result<WeightsReport> {
    let validators = config.validator_hotkeys();
    let run = incentives::Evaluation {
        at,
        validators: &validators,
        netuid: config.netuid,
        profile: &config.scoring,
        now: chrono::Utc::now().naive_utc(),
    };
    Ok(incentives::evaluate(store, run).await?)
}
