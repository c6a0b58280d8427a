//! `auditctl weights`: the scores reproduced from the lake, set against
//! the incentive on chain, recorded in the catalog, and sent when
//! `set_weights.enabled` (`--dry-run` shows exactly what would be sent).
//! The output says which hours the scores cannot see (coverage gaps) and
//! whether unverifiable entries were scored.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use audit_store::Store;
use chrono::NaiveDateTime;
use incentives::{ComparedMiner, MinerScore, Scores};
use serde::Serialize;

use super::weights_send;
use crate::cli::{Global, WeightsArgs};
use crate::config::Config;
use crate::{exit, output};
use audit_run::{Sending, SendingAction};

/// Everything one run reports.
pub type WeightsReport = incentives::EvaluatedRun;

/// The run, what its evidence lacks, and what was done about sending.
#[derive(Debug, Serialize)]
struct WeightsOutput<'a> {
    #[serde(flatten)]
    run: &'a WeightsReport,
    coverage: Evidence,
    /// A dry run's verdict; `refused` says why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    would_send: Option<bool>,
    #[serde(flatten)]
    sending: Sending,
}

/// What the scores rest on, beyond the entries counted.
#[derive(Debug, Serialize)]
pub struct Evidence {
    /// The window's days before the evaluation time.
    pub window_days: u32,
    /// Hour ends in the window with no verified validator entry.
    pub gaps: Vec<NaiveDateTime>,
    /// Entries scored whose commitment could not be checked.
    pub unverifiable_entries_used: usize,
}

pub async fn run(global: &Global, args: &WeightsArgs) -> Result<u8> {
    let config = super::load_config(global)?;
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
        output::print(&weights_send::render(&sending))?;
    }
    Ok(code)
}

/// The coverage gaps of the scoring window and the unverifiable entries
/// the scores used.
async fn evidence(store: &Store, config: &Config, report: &WeightsReport) -> Result<Evidence> {
    let until = report.scores.evaluated_at;
    let window_days = config.scoring.window_days;
    let from = chrono::TimeDelta::try_days(i64::from(window_days))
        .and_then(|d| until.checked_sub_signed(d))
        .unwrap_or(NaiveDateTime::MIN);
    Ok(Evidence {
        window_days,
        gaps: store.catalog().coverage_gaps(from, until).await?,
        unverifiable_entries_used: report.scores.unverifiable_entries_used,
    })
}

/// The evidence lines of the text output.
pub fn render_evidence(e: &Evidence) -> String {
    let gaps = if e.gaps.is_empty() {
        "none".to_string()
    } else {
        format!("{} ({})", e.gaps.len(), super::sync::hour_spans(&e.gaps))
    };
    let mut out = format!(
        "hours without a verified validator entry in the {} days scored: {gaps}
",
        e.window_days
    );
    if e.unverifiable_entries_used > 0 {
        out.push_str(&format!(
            "UNVERIFIABLE: {} scored entries were never proven against the chain \
             (sync.load_unverifiable); these scores are not sent\n",
            e.unverifiable_entries_used
        ));
    } else {
        out.push_str("unverifiable entries scored: none\n");
    }
    out
}

/// Scores the lake as of `at`, compares with the chain, and records the
/// run in the catalog.
pub async fn score(store: &Store, config: &Config, at: NaiveDateTime) -> Result<WeightsReport> {
    let validators: Vec<String> = config.validators.iter().map(|v| v.hotkey.clone()).collect();
    let run = incentives::Evaluation {
        at,
        validators: &validators,
        netuid: config.netuid,
        profile: &config.scoring,
        now: chrono::Utc::now().naive_utc(),
    };
    Ok(incentives::evaluate(store, run).await?)
}

fn find<'a>(scores: &'a Scores, hotkey: &str) -> Option<&'a MinerScore> {
    scores
        .miners
        .iter()
        .chain(&scores.zeroed)
        .find(|m| m.features.hotkey == hotkey)
}

fn share(v: f64) -> String {
    format!("{v:.6}")
}

fn uid(m: &ComparedMiner) -> String {
    m.uid.map(|u| u.to_string()).unwrap_or_else(|| "-".into())
}

/// The comparison tables and the headline.
pub fn render(report: &WeightsReport, flag_above: f64) -> String {
    let s = &report.scores;
    let c = &report.comparison;
    let mut out = format!(
        "weights run {} at {} (profile {} v{}): {} entries, {} invocation rows, {} duplicates collapsed, {} excluded by reports\n",
        report.run_id,
        s.evaluated_at.format("%Y-%m-%d %H:%M:%S"),
        s.profile_name,
        s.profile_version,
        s.entries,
        s.invocations.rows,
        s.invocations.duplicates_collapsed,
        s.invocations.excluded_by_reports,
    );
    if s.invocations.implausible_rows > 0 {
        out.push_str(&format!(
            "{} invocation rows refused: a NaN, infinite or negative multiplier, bounty or compute\n",
            s.invocations.implausible_rows
        ));
    }
    let mut matched = output::table(["hotkey", "uid", "computed", "chain", "delta", ""]);
    for m in &c.matched {
        let flag = if m.flagged {
            format!("> {flag_above}")
        } else {
            String::new()
        };
        matched.add_row([
            m.hotkey.clone(),
            uid(m),
            share(m.computed),
            share(m.actual),
            share(m.delta),
            flag,
        ]);
    }
    output::align_right(&mut matched, &[1, 2, 3, 4]);
    out.push_str(&format!("{matched}\n"));
    for (title, list, value) in [
        ("computed but unpaid", &c.computed_unpaid, "computed"),
        ("paid but not computed", &c.paid_not_computed, "chain"),
    ] {
        if list.is_empty() {
            out.push_str(&format!("{title}: none\n"));
            continue;
        }
        let mut table = output::table(["hotkey", "uid", value]);
        for m in list {
            let v = if value == "computed" {
                m.computed
            } else {
                m.actual
            };
            table.add_row([m.hotkey.clone(), uid(m), share(v)]);
        }
        output::align_right(&mut table, &[1, 2]);
        out.push_str(&format!("{title}:\n{table}\n"));
    }
    let flagged = c
        .matched
        .iter()
        .chain(&c.computed_unpaid)
        .chain(&c.paid_not_computed)
        .filter(|m| m.flagged)
        .count();
    out.push_str(&format!(
        "sum of |delta|: {}   largest delta: {}   flagged (> {flag_above}): {flagged}\n",
        share(c.sum_abs_delta),
        share(c.max_delta)
    ));
    out
}

/// One miner's features and how they became its score.
pub fn explain(report: &WeightsReport, hotkey: &str) -> Option<String> {
    let m = find(&report.scores, hotkey)?;
    let f = &m.features;
    let scale = &report.scores.unique_scale;
    let mut table = output::table(["feature", "raw", "normalised"]);
    table.add_row([
        "compute_units".to_string(),
        format!("{:.6}", f.compute_units),
        share(m.norm_compute_units),
    ]);
    table.add_row([
        "invocation_count".to_string(),
        format!("{}", f.invocation_count),
        share(m.norm_invocation_count),
    ]);
    table.add_row([
        "unique_chute_count".to_string(),
        format!("{}", f.unique_chute_count),
        share(m.norm_unique_chute_count),
    ]);
    table.add_row([
        "bounty_count".to_string(),
        format!("{}", f.bounty_count),
        share(m.norm_bounty_count),
    ]);
    output::align_right(&mut table, &[1, 2]);
    let side = if f.unique_chute_count >= scale.median {
        "at or above"
    } else {
        "below"
    };
    let mut out = format!(
        "miner {} (uid {}, coldkey {})\n{table}\n",
        f.hotkey, f.uid, f.coldkey
    );
    out.push_str(&format!(
        "private instances: {} ({:.0} s billed, {:.6} compute units), already included above\n",
        f.private_instances, f.private_seconds, f.private_compute_units
    ));
    out.push_str(&format!(
        "unique chutes: {} is {side} the median {} (highest {})\n",
        f.unique_chute_count, scale.median, scale.highest_unique
    ));
    out.push_str(&format!("pre-score: {}\n", share(m.pre_score)));
    if m.penalised {
        let keeper = report
            .scores
            .miners
            .iter()
            .chain(&report.scores.zeroed)
            .find(|o| o.features.coldkey == f.coldkey && !o.penalised)
            .map(|o| o.features.hotkey.as_str())
            .unwrap_or("another hotkey");
        out.push_str(&format!(
            "penalised: coldkey {} is already scored through {keeper}; final score 0\n",
            f.coldkey
        ));
    } else {
        out.push_str(&format!("final score: {}\n", share(m.score)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_evidence_names_gaps_and_unverifiable_entries() {
        let h = |d, h| {
            NaiveDate::from_ymd_opt(2025, 2, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let evidence = Evidence {
            window_days: 7,
            gaps: vec![h(10, 5), h(10, 6), h(10, 8)],
            unverifiable_entries_used: 2,
        };
        assert_eq!(
            render_evidence(&evidence),
            "hours without a verified validator entry in the 7 days scored: 3 (2025-02-10 05:00 .. 2025-02-10 06:00, 2025-02-10 08:00)\n\
             UNVERIFIABLE: 2 scored entries were never proven against the chain \
             (sync.load_unverifiable); these scores are not sent\n"
        );
    }
}
