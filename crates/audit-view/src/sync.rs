//! What `sync` shows: the summary's counts, every rejected or failed
//! entry, and the hours without a verified entry.

use audit_sync::SyncSummary;
use chrono::NaiveDateTime;
use comfy_table::Cell;
use indicatif::HumanBytes;
use serde::Serialize;

use crate::output;

/// What `sync --json` prints: the options it ran with and what it did.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    /// The evaluation time the window ends at.
    pub at: NaiveDateTime,
    /// The window's days before `at`.
    pub window_days: u32,
    /// Whether an entry failed an integrity check (exit code 3).
    pub integrity_violation: bool,
    /// Whether the chain's answers were proven (`subtensor.proofs`).
    pub chain_proofs: bool,
    /// What the pipeline did.
    #[serde(flatten)]
    pub summary: SyncSummary,
}

/// The human view: counts, then every rejected or failed entry.
pub fn render(report: &SyncReport) -> String {
    let s = &report.summary;
    let integrity = s.rejected.iter().filter(|r| r.integrity).count();
    let mut counts = output::key_values();
    let rows: Vec<(&str, String)> = vec![
        ("entries listed", s.listed.to_string()),
        ("loaded now", s.loaded.to_string()),
        ("already loaded", s.already_loaded.to_string()),
        ("unverifiable, not loaded", s.unverifiable.to_string()),
        (
            "loaded unverifiable (scores marked)",
            s.loaded_unverifiable.to_string(),
        ),
        ("re-verified", s.reverified.to_string()),
        (
            "rejected",
            format!("{} ({integrity} integrity)", s.rejected.len()),
        ),
        ("failed (retried next run)", s.failed.len().to_string()),
        ("skipped (not ours)", s.skipped.to_string()),
        ("pruned (left the window)", s.pruned.to_string()),
        (
            "malformed listing elements",
            s.malformed_listing.len().to_string(),
        ),
        (
            "lost from the lake (re-fetched)",
            s.missing_from_lake.len().to_string(),
        ),
        ("hours without a verified entry", s.gaps.len().to_string()),
        ("rows", s.rows.to_string()),
        ("duplicates collapsed", s.duplicates_collapsed.to_string()),
        ("malformed rows", s.malformed_rows.to_string()),
        ("malformed metrics", s.malformed_metrics.to_string()),
        ("not miner work (uid < 0)", s.not_miner_work.to_string()),
        ("downloaded", HumanBytes(s.bytes).to_string()),
        (
            "metagraph block",
            s.metagraph_block
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not refreshed".into()),
        ),
        ("GPU counts", s.gpu_counts.to_string()),
    ];
    for (label, value) in rows {
        counts.add_row(vec![Cell::new(label), Cell::new(value)]);
    }
    output::align_right(&mut counts, &[1]);
    let mut text = format!(
        "sync at {} (window {} days)\n{counts}\n",
        report.at.format("%Y-%m-%d %H:%M:%S"),
        report.window_days
    );
    for (title, list) in [("rejected", &s.rejected), ("failed", &s.failed)] {
        if list.is_empty() {
            continue;
        }
        let mut table = output::table(["entry", "hotkey", "block", "integrity", "reason"]);
        for r in list.iter() {
            table.add_row(vec![
                Cell::new(&r.entry_id),
                Cell::new(&r.hotkey),
                Cell::new(r.block),
                Cell::new(if r.integrity { "yes" } else { "no" }),
                Cell::new(&r.reason),
            ]);
        }
        text.push_str(&format!("\n{title}:\n{table}\n"));
    }
    if !s.malformed_listing.is_empty() {
        let mut table = output::table(["listing element", "reason"]);
        for m in &s.malformed_listing {
            table.add_row(vec![Cell::new(m.index), Cell::new(&m.reason)]);
        }
        text.push_str(&format!("\nskipped listing elements:\n{table}\n"));
    }
    if !s.gaps.is_empty() {
        text.push_str(&format!(
            "\nhours without a verified validator entry (hour ends): {}\n",
            hour_spans(&s.gaps)
        ));
    }
    if !report.chain_proofs {
        text.push_str(
            "\nUNPROVEN: chain reads were not proven (subtensor.proofs: false): the commitments \
             this sync checked are the node's word, and each entry records it\n",
        );
    }
    for violation in &s.chain_integrity {
        text.push_str(&format!("\nCHAIN: {violation}\n"));
    }
    if report.integrity_violation {
        text.push_str(&integrity_line(integrity, s.chain_integrity.len()));
    }
    text
}

/// The closing line of a sync that exits 3: entries that failed their
/// checks, chain reads that failed their proofs, or both.
fn integrity_line(entries: usize, chain_reads: usize) -> String {
    let mut what = Vec::new();
    if entries > 0 {
        let plural = if entries == 1 { "y" } else { "ies" };
        what.push(format!(
            "{entries} entr{plural} failed verification against the chain or its report"
        ));
    }
    if chain_reads > 0 {
        let plural = if chain_reads == 1 { "" } else { "s" };
        what.push(format!("{chain_reads} chain read{plural} failed its proof"));
    }
    format!("\nINTEGRITY VIOLATION: {} (exit code 3)\n", what.join("; "))
}

/// Hour ends as runs of consecutive hours, so a week without data reads
/// as one span rather than 168 times: `2025-02-03 13:00 .. 2025-02-10
/// 09:00, 2025-02-10 11:00`.
pub fn hour_spans(hours: &[NaiveDateTime]) -> String {
    let at = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    audit_model::coverage::hour_runs(hours)
        .iter()
        .map(|&(first, last)| match first == last {
            true => at(first),
            false => format!("{} .. {}", at(first), at(last)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_sync::Rejection;

    #[test]
    fn the_summary_table_names_every_count_and_each_rejection() {
        let report = SyncReport {
            chain_proofs: true,
            at: audit_store::time::parse_utc("2025-02-10T12:00:00").unwrap(),
            window_days: 7,
            integrity_violation: true,
            summary: SyncSummary {
                listed: 30,
                loaded: 20,
                already_loaded: 5,
                unverifiable: 1,
                skipped: 2,
                rejected: vec![Rejection {
                    entry_id: "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
                    hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
                    block: 4_800_300,
                    reason: "report sha256 does not match the commitment".into(),
                    kind: audit_sync::FaultKind::Integrity,
                    integrity: true,
                }],
                failed: vec![],
                pruned: 3,
                leftovers_cleaned: 0,
                rows: 1_234_567,
                duplicates_collapsed: 12,
                malformed_rows: 2,
                malformed_metrics: 1,
                not_miner_work: 40,
                bytes: 12_345_678,
                metagraph_block: None,
                chain_integrity: vec![
                    "the metagraph: integrity violation: `Keys` of uid 1 does not prove against the state root of #4801000".into(),
                ],
                gpu_counts: 17,
                malformed_listing: vec![audit_store::MalformedListing {
                    index: 3,
                    reason: "not an audit entry: missing field `block`".into(),
                }],
                loaded_unverifiable: 0,
                reverified: 1,
                missing_from_lake: vec!["2b4e28ba-2fa1-11d2-883f-0016d3cca427".into()],
                gaps: vec![
                    audit_store::time::parse_utc("2025-02-10T03:00:00").unwrap(),
                    audit_store::time::parse_utc("2025-02-10T05:00:00").unwrap(),
                ],
            },
        };
        insta::assert_snapshot!(render(&report));
    }

    fn hour(d: u32, h: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2025, 2, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn gaps_read_as_spans_of_consecutive_hours() {
        let gaps = [
            hour(9, 22),
            hour(9, 23),
            hour(10, 0),
            hour(10, 1),
            hour(10, 5),
            hour(10, 7),
            hour(10, 8),
        ];
        assert_eq!(
            hour_spans(&gaps),
            "2025-02-09 22:00 .. 2025-02-10 01:00, 2025-02-10 05:00, 2025-02-10 07:00 .. 2025-02-10 08:00"
        );
        assert_eq!(hour_spans(&[]), "");
    }

    #[test]
    fn a_week_missing_from_a_short_world_is_one_span_in_the_summary() {
        // A 10-hour world scored over 7 days: 158 hours before it are gaps.
        let gaps: Vec<_> = (0..158)
            .map(|i| hour(3, 13) + chrono::TimeDelta::hours(i))
            .collect();
        let report = SyncReport {
            chain_proofs: true,
            at: hour(10, 12),
            window_days: 7,
            integrity_violation: false,
            summary: SyncSummary {
                gaps,
                ..SyncSummary::default()
            },
        };
        let text = render(&report);
        assert!(
            text.contains(
                "hours without a verified validator entry (hour ends): 2025-02-03 13:00 .. 2025-02-10 02:00\n"
            ),
            "{text}"
        );
    }
}
