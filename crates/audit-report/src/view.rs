//! The page's view model: [`ReportData`] turned into the strings and
//! chart shapes the template places. Pure; all formatting lives here so
//! the template has no arithmetic and the tests can read the numbers.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::charts;
use crate::data::{MinerReport, ReportData};
use crate::format::{anchor, num};

/// Findings listed on the page; the rest are counted (and in `--json`).
pub const FINDINGS_SHOWN: usize = 200;

fn opt(v: Option<f64>, places: usize) -> String {
    v.map(|v| num(v, places)).unwrap_or_else(|| "—".into())
}

/// The share format of `auditctl weights`: six decimals.
pub fn share(v: Option<f64>) -> String {
    opt(v, 6)
}

fn time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Consecutive hours as ranges: `02-10 03:00–06:00` (end exclusive).
fn hour_ranges(hours: &[NaiveDateTime]) -> Vec<String> {
    audit_store::coverage::hour_runs(hours)
        .into_iter()
        .map(|(first, last)| {
            let end = last + chrono::TimeDelta::hours(1);
            format!("{}–{}", first.format("%m-%d %H:%M"), end.format("%H:%M"))
        })
        .collect()
}

/// A headline figure.
#[derive(Debug, Serialize)]
struct Card {
    label: &'static str,
    value: String,
    note: String,
    /// Something a reader should look into.
    alert: bool,
}

/// One row of the scores table.
#[derive(Debug, Serialize)]
struct MinerRow {
    anchor: String,
    hotkey: String,
    uid: String,
    score: String,
    chain: String,
    delta: String,
    flagged: bool,
}

/// A miner's section.
#[derive(Debug, Serialize)]
struct MinerSection {
    anchor: String,
    hotkey: String,
    uid: String,
    coldkey: String,
    score: String,
    chain: String,
    delta: String,
    flagged: bool,
    features: Vec<[String; 3]>,
    lines: Vec<String>,
    coverage: String,
    missing: Vec<String>,
    agreement: String,
    agreement_flagged: bool,
    synthetics: String,
    synthetics_alert: bool,
}

/// The whole page.
#[derive(Debug, Serialize)]
pub struct Page {
    evaluated_at: String,
    window: String,
    netuid: u16,
    cards: Vec<Card>,
    run: Option<String>,
    scores: Option<charts::ScoreChart>,
    table: Vec<MinerRow>,
    history: Option<charts::HistoryChart>,
    history_note: String,
    coverage: Option<charts::CoverageChart>,
    coverage_note: String,
    agreement: Option<charts::AgreementChart>,
    agreement_note: String,
    synthetics: Option<charts::SyntheticsChart>,
    tasks: Vec<[String; 7]>,
    findings: Vec<[String; 6]>,
    findings_more: usize,
    submissions: Vec<[String; 7]>,
    gaps: Vec<String>,
    violations: Vec<[String; 4]>,
    miners: Vec<MinerSection>,
}

fn cards(data: &ReportData) -> Vec<Card> {
    let h = &data.headline;
    let flagged = data.miners.iter().filter(|m| m.flagged).count();
    let mut cards = vec![
        Card {
            label: "entries verified",
            value: h.verified.to_string(),
            note: format!("{} pending", h.pending),
            alert: false,
        },
        Card {
            label: "unverifiable",
            value: h.unverifiable.to_string(),
            note: "chain state pruned".into(),
            alert: h.unverifiable > 0,
        },
        Card {
            label: "rejected",
            value: h.rejected.to_string(),
            note: "failed a check".into(),
            alert: h.rejected > 0,
        },
        Card {
            label: "integrity violations",
            value: h.integrity_violations.len().to_string(),
            note: "tampered or uncommitted".into(),
            alert: !h.integrity_violations.is_empty(),
        },
        Card {
            label: "hour gaps",
            value: h.hour_gaps.len().to_string(),
            note: format!("{} hours with validator data", h.validator_hours),
            alert: !h.hour_gaps.is_empty(),
        },
    ];
    if let Some(run) = &data.run {
        cards.push(Card {
            label: "sum |Δ|",
            value: num(run.sum_abs_delta, 6),
            note: format!("max Δ {}", num(run.max_delta, 6)),
            alert: false,
        });
        cards.push(Card {
            label: "miners flagged",
            value: flagged.to_string(),
            note: format!("Δ > {}", num(run.delta_flag, 3)),
            alert: flagged > 0,
        });
    }
    cards
}

fn explain_rows(m: &MinerReport) -> (Vec<[String; 3]>, Vec<String>) {
    let Some(e) = &m.explain else {
        return (
            Vec::new(),
            vec!["not scored in this run: no counted work in the window".into()],
        );
    };
    let features = vec![
        [
            "compute units".into(),
            num(e.raw.compute_units, 6),
            num(e.normalised.norm_compute_units, 6),
        ],
        [
            "invocations".into(),
            num(e.raw.invocation_count, 0),
            num(e.normalised.norm_invocation_count, 6),
        ],
        [
            "unique chutes".into(),
            num(e.raw.unique_chute_count, 0),
            num(e.normalised.norm_unique_chute_count, 6),
        ],
        [
            "bounties".into(),
            num(e.raw.bounty_count, 0),
            num(e.normalised.norm_bounty_count, 6),
        ],
    ];
    let mut lines = vec![
        format!(
            "private instances: {} ({} s billed, {} compute units), already included above",
            e.raw.private_instances,
            num(e.raw.private_seconds, 0),
            num(e.raw.private_compute_units, 6)
        ),
        format!("pre-score: {}", num(e.pre_score, 6)),
    ];
    if e.penalised {
        let keeper = e.penalised_by.as_deref().unwrap_or("another hotkey");
        let coldkey = m.coldkey.as_deref().unwrap_or("its coldkey");
        lines.push(format!(
            "penalised: coldkey {coldkey} is already scored through {keeper}; final score 0"
        ));
    } else {
        lines.push(format!("final score: {}", share(m.score)));
    }
    (features, lines)
}

fn section(m: &MinerReport, data: &ReportData) -> MinerSection {
    let (features, lines) = explain_rows(m);
    let hours = &data.coverage_hours;
    let missing: Vec<NaiveDateTime> = hours
        .iter()
        .zip(&m.coverage)
        .filter(|(_, s)| **s < 3600)
        .map(|(h, _)| *h)
        .collect();
    let full = hours.len() - missing.len().min(hours.len());
    let (agreement, agreement_flagged) = match &m.agreement {
        None if data.agreement.is_some() => ("not in the compare-prom run".into(), false),
        None => ("no compare-prom run recorded yet".into(), false),
        Some(a) => {
            let counts = format!(
                "validator {} vs reported {}",
                a.validator_count
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "—".into()),
                a.reported_count
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "—".into()),
            );
            let text = match (a.ratio, &a.note) {
                (Some(r), _) => format!("agreement ratio {} ({counts})", num(r, 3)),
                (None, Some(note)) => format!("{note} ({counts})"),
                (None, None) => format!("no ratio ({counts})"),
            };
            (text, a.flagged)
        }
    };
    let s = &m.synthetics;
    MinerSection {
        anchor: anchor(&m.hotkey),
        hotkey: m.hotkey.clone(),
        uid: m.uid.map(|u| u.to_string()).unwrap_or_else(|| "—".into()),
        coldkey: m.coldkey.clone().unwrap_or_else(|| "—".into()),
        score: share(m.score),
        chain: share(m.chain_share),
        delta: share(m.delta),
        flagged: m.flagged,
        features,
        lines,
        coverage: format!(
            "{full} of {} hours fully covered by its own reports",
            hours.len()
        ),
        missing: hour_ranges(&missing),
        agreement,
        agreement_flagged,
        synthetics: format!(
            "{} synthetic attempts: {} present, {} missing, {} re-routed, {} pending",
            s.checked() + s.pending,
            s.present,
            s.missing,
            s.rerouted,
            s.pending
        ),
        synthetics_alert: s.missing + s.rerouted > 0,
    }
}

/// Builds the page's view of the data.
pub fn page(data: &ReportData) -> Page {
    let table = data
        .miners
        .iter()
        .filter(|m| m.score.is_some() || m.chain_share.is_some_and(|c| c > 0.0))
        .map(|m| MinerRow {
            anchor: anchor(&m.hotkey),
            hotkey: m.hotkey.clone(),
            uid: m.uid.map(|u| u.to_string()).unwrap_or_else(|| "—".into()),
            score: share(m.score),
            chain: share(m.chain_share),
            delta: share(m.delta),
            flagged: m.flagged,
        })
        .collect();
    let miner_reports = data
        .miners
        .iter()
        .any(|m| m.coverage.iter().any(|s| *s > 0));
    let coverage_note = match (data.coverage_hours.first(), data.coverage_hours.last()) {
        (Some(a), Some(b)) if miner_reports => format!(
            "{} hours from {} to {}; each row is a miner's own self-reports",
            data.coverage_hours.len(),
            time(*a),
            time(*b + chrono::TimeDelta::hours(1))
        ),
        _ => "no miner self-reports loaded in the window".into(),
    };
    Page {
        evaluated_at: time(data.evaluated_at),
        window: format!("{} – {}", time(data.window_from), time(data.evaluated_at)),
        netuid: data.netuid,
        cards: cards(data),
        run: data.run.as_ref().map(|r| {
            format!(
                "weights run {} at {} (profile {} v{})",
                r.run_id,
                time(r.evaluated_at),
                r.profile_name,
                r.profile_version
            )
        }),
        scores: charts::scores(data),
        table,
        history: charts::history(
            &data.history,
            data.run.as_ref().map(|r| r.delta_flag).unwrap_or(0.0),
        ),
        history_note: format!("{} recorded runs", data.history.len()),
        coverage: if miner_reports {
            charts::coverage(data)
        } else {
            None
        },
        coverage_note,
        agreement: charts::agreement(data),
        agreement_note: match &data.agreement {
            Some(a) => format!(
                "compare-prom run {} at {}; ratios below {} are flagged",
                a.run_id,
                time(a.evaluated_at),
                num(a.threshold, 2)
            ),
            None => "not recorded yet: run `auditctl compare-prom`".into(),
        },
        synthetics: charts::synthetics(&data.synthetics),
        tasks: data
            .synthetics
            .iter()
            .map(|t| {
                [
                    t.task.clone(),
                    t.checked().to_string(),
                    t.present.to_string(),
                    t.missing.to_string(),
                    t.rerouted.to_string(),
                    t.pending.to_string(),
                    t.errors.to_string(),
                ]
            })
            .collect(),
        findings: data
            .synthetic_findings
            .iter()
            .take(FINDINGS_SHOWN)
            .map(|f| {
                [
                    f.check.clone(),
                    f.task.clone(),
                    f.chute_id.clone(),
                    f.parent_invocation_id.clone(),
                    f.invocation_id.clone(),
                    f.expected_hotkey.clone(),
                ]
            })
            .collect(),
        findings_more: data.synthetic_findings.len().saturating_sub(FINDINGS_SHOWN),
        submissions: data
            .submissions
            .iter()
            .map(|s| {
                [
                    s.run_id.to_string(),
                    time(s.evaluated_at),
                    match s.call.as_deref() {
                        Some("timelocked") => "committed (timelocked)".into(),
                        Some(call) => call.to_string(),
                        None => "not sent".into(),
                    },
                    match (s.revealed, s.reveal_round) {
                        (Some(true), _) => "revealed".into(),
                        (Some(false), _) => "NOT revealed (dropped)".into(),
                        (None, Some(round)) => format!("awaiting round {round}"),
                        (None, None) => "—".into(),
                    },
                    match &s.reason {
                        Some(reason) => format!("{}: {reason}", s.outcome),
                        None => s.outcome.clone(),
                    },
                    s.block.map(|b| b.to_string()).unwrap_or_else(|| "—".into()),
                    s.extrinsic_hash.clone().unwrap_or_else(|| "—".into()),
                ]
            })
            .collect(),
        gaps: hour_ranges(&data.headline.hour_gaps),
        violations: data
            .headline
            .integrity_violations
            .iter()
            .map(|v| {
                [
                    time(v.created_at),
                    v.entry_id.clone(),
                    v.hotkey.clone(),
                    v.reason.clone(),
                ]
            })
            .collect(),
        miners: data.miners.iter().map(|m| section(m, data)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn hours_group_into_ranges() {
        let h = |n: u32| {
            NaiveDate::from_ymd_opt(2025, 2, 10)
                .unwrap()
                .and_hms_opt(n, 0, 0)
                .unwrap()
        };
        assert_eq!(
            hour_ranges(&[h(3), h(4), h(5), h(9)]),
            ["02-10 03:00–06:00", "02-10 09:00–10:00"]
        );
        assert!(hour_ranges(&[]).is_empty());
    }
}
