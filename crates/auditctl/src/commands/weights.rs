//! `auditctl weights`: the scores reproduced from the lake, set against
//! the incentive on chain, recorded in the catalog, and sent when
//! `set_weights.enabled` (`--dry-run` shows exactly what would be sent).
//! The output says which hours the scores cannot see (coverage gaps) and
//! whether unverifiable entries were scored. The sending and recording is
//! `audit_run::submit`, which `auditctl run` calls too, with the same
//! `audit_run::SubmitSettings::from_config`.

use std::time::Duration;

use anyhow::{bail, Result};
use audit_run::{SendingAction, SubmitSettings};
use audit_store::Store;
use audit_view::output;
use audit_view::weights::{explain, find, render, render_evidence, Evidence, WeightsOutput};

use crate::cli::{Global, WeightsArgs};
use crate::configuration::setup_error;
use crate::exit;
use audit_config::Config;

pub async fn run(global: &Global, args: &WeightsArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let mode = audit_run::send_mode(&config, args.dry_run);
    // Weights scored on hours that have not happened must not be sent.
    let at = audit_run::evaluation_time(args.at, mode == weights::Mode::Send)?;
    // A run records its result in the catalog: a writer.
    let lock = args.lock.request("auditctl weights");
    let store = audit_run::open_store(&config, Some(&lock)).await?;
    let report = audit_run::evaluate(&store, &config, at).await?;

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
    let wait = args.wait_reveal.map(Duration::from_secs);
    let settings = SubmitSettings::from_config(&config, wait).map_err(setup_error)?;
    let now = chrono::Utc::now();
    let sending = audit_run::submit(&store, &settings, mode, &report, now.naive_utc(), now).await?;
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
        output::print(&audit_view::sending::render(&sending))?;
    }
    Ok(code)
}

/// The coverage gaps of the scoring window and the unverifiable entries
/// the scores used.
async fn evidence(
    store: &Store,
    config: &Config,
    report: &incentives::EvaluatedRun,
) -> Result<Evidence> {
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
