//! What `weights` shows: the comparison with the chain, one miner's
//! explanation, and what the scores rest on.

use audit_run::Sending;
use chrono::NaiveDateTime;
use incentives::{ComparedMiner, MinerScore, Scores};
use serde::Serialize;

use crate::output;

/// Everything one run reports.
pub type WeightsReport = incentives::EvaluatedRun;

/// The run, what its evidence lacks, and what was done about sending.
#[derive(Debug, Serialize)]
pub struct WeightsOutput<'a> {
    /// The run.
    #[serde(flatten)]
    pub run: &'a WeightsReport,
    /// What its evidence lacks.
    pub coverage: Evidence,
    /// A dry run's verdict; `refused` says why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_send: Option<bool>,
    /// What was done about sending.
    #[serde(flatten)]
    pub sending: Sending,
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
    /// Entries scored whose commitment was read with proofs off.
    pub unproven_entries_used: usize,
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
    if e.unproven_entries_used > 0 {
        out.push_str(&format!(
            "UNPROVEN: {} scored entries had their commitment read with proofs off \
             (subtensor.proofs: false): the node's word, not the chain's\n",
            e.unproven_entries_used
        ));
    }
    out
}

/// A miner's score by hotkey, scored or zeroed.
pub fn find<'a>(scores: &'a Scores, hotkey: &str) -> Option<&'a MinerScore> {
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
        format!("{:.6}", f.raw.compute_units),
        share(m.normalised.norm_compute_units),
    ]);
    table.add_row([
        "invocation_count".to_string(),
        format!("{}", f.raw.invocation_count),
        share(m.normalised.norm_invocation_count),
    ]);
    table.add_row([
        "unique_chute_count".to_string(),
        format!("{}", f.raw.unique_chute_count),
        share(m.normalised.norm_unique_chute_count),
    ]);
    table.add_row([
        "bounty_count".to_string(),
        format!("{}", f.raw.bounty_count),
        share(m.normalised.norm_bounty_count),
    ]);
    output::align_right(&mut table, &[1, 2]);
    let side = if f.raw.unique_chute_count >= scale.median {
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
        f.raw.private_instances, f.raw.private_seconds, f.raw.private_compute_units
    ));
    out.push_str(&format!(
        "unique chutes: {} is {side} the median {} (highest {})\n",
        f.raw.unique_chute_count, scale.median, scale.highest_unique
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
            unproven_entries_used: 3,
        };
        assert_eq!(
            render_evidence(&evidence),
            "hours without a verified validator entry in the 7 days scored: 3 (2025-02-10 05:00 .. 2025-02-10 06:00, 2025-02-10 08:00)\n\
             UNVERIFIABLE: 2 scored entries were never proven against the chain \
             (sync.load_unverifiable); these scores are not sent\n\
             UNPROVEN: 3 scored entries had their commitment read with proofs off \
             (subtensor.proofs: false): the node's word, not the chain's\n"
        );
    }
}
