//! What `status` shows: an overview of the catalog and the lake, the
//! entries by state, and the window's coverage.

use audit_store::{EntrySource, EntryState, StoreStatus, WeightsSubmissionRecord};

use crate::output;

/// One line: when, how, how it ended, where it landed.
fn submission(s: Option<&WeightsSubmissionRecord>) -> String {
    let Some(s) = s else {
        return "-".into();
    };
    let call = s.call.map(|c| format!("{c} ")).unwrap_or_default();
    let mut line = format!(
        "{} {call}{} (run {}, {} weights)",
        time(Some(s.attempted_at)),
        s.outcome,
        s.run_id,
        s.vector.len()
    );
    if let Some(block) = s.block {
        line.push_str(&format!(", block {block}"));
    }
    if let Some(round) = s.reveal_round {
        line.push_str(&format!(", reveal round {round}"));
    }
    if let Some(reason) = &s.reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}

fn time(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The human view: an overview and the entries by state.
pub fn render(report: &StoreStatus) -> String {
    let c = &report.catalog;
    let mut overview = output::key_values();
    overview.add_row(["data dir", &report.data_dir]);
    overview.add_row([
        "catalog",
        &format!("{} ({})", report.database, report.backend),
    ]);
    overview.add_row([
        "entries span",
        &format!("{} .. {}", time(c.oldest_entry), time(c.newest_entry)),
    ]);
    overview.add_row(["newest loaded", &time(c.newest_loaded)]);
    overview.add_row(["invocation rows", &c.invocation_rows.to_string()]);
    overview.add_row(["synthetics", &c.synthetics.to_string()]);
    let block = c
        .latest_metagraph_block
        .map(|b| format!(", latest at block {b}"))
        .unwrap_or_default();
    overview.add_row([
        "metagraph snapshots",
        &format!("{}{block}", c.metagraph_snapshots),
    ]);
    overview.add_row(["gpu counts", &format!("{} chutes", c.gpu_counts)]);
    overview.add_row([
        "weights runs",
        &format!("{} (latest {})", c.weights_runs, time(c.latest_weights_run)),
    ]);
    overview.add_row(["agreement runs", &c.agreement_runs.to_string()]);
    overview.add_row([
        "last weights submission",
        &submission(report.last_submission.as_ref()),
    ]);
    overview.add_row([
        "lake",
        &format!(
            "{} entries, {} files, {}",
            report.lake.entries,
            report.lake.files,
            output::bytes(report.lake.bytes)
        ),
    ]);

    let mut header = vec!["entries".to_string()];
    header.extend(EntryState::ALL.iter().map(|s| s.to_string()));
    let mut states = output::table(header);
    for source in EntrySource::ALL {
        let mut row = vec![source.to_string()];
        for state in EntryState::ALL {
            let n: u64 = c
                .entries
                .iter()
                .filter(|e| e.source == *source && e.state == *state)
                .map(|e| e.count)
                .sum();
            row.push(n.to_string());
        }
        states.add_row(row);
    }
    output::align_right(&mut states, &[1, 2, 3, 4, 5]);
    let cov = &report.coverage;
    let mut text = format!("{overview}\n{states}\n");
    text.push_str(&format!(
        "\nhours without a verified validator entry in the {} days to {}: {}\n",
        cov.window_days,
        cov.until.format("%Y-%m-%d %H:%M"),
        if cov.gaps.is_empty() {
            "none".to_string()
        } else {
            format!(
                "{} ({})",
                cov.gaps.len(),
                super::sync::hour_spans(&cov.gaps)
            )
        }
    ));
    if !cov.missing_from_lake.is_empty() {
        text.push_str(&format!(
            "loaded entries missing from the lake (run `auditctl sync`): {}\n",
            cov.missing_from_lake.join(", ")
        ));
    }
    if !cov.unproven.is_empty() {
        text.push_str(&format!(
            "UNPROVEN: {} loaded entries had their commitment read with proofs off \
             (subtensor.proofs: false): the node's word, not the chain's\n",
            cov.unproven.len()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_store::{CatalogSummary, Coverage, EntryCount, LakeStatus};
    use chrono::{NaiveDate, Timelike};

    #[test]
    fn the_status_table_reads_well() {
        let t = |h| {
            NaiveDate::from_ymd_opt(2025, 2, 10)
                .unwrap()
                .and_hms_opt(h, 0, 7)
        };
        let report = StoreStatus {
            data_dir: "/var/lib/chutes-audit".into(),
            database: "postgres://audit:***@db/audit".into(),
            backend: "postgres".into(),
            catalog: CatalogSummary {
                entries: vec![
                    EntryCount {
                        source: EntrySource::Validator,
                        state: EntryState::Loaded,
                        count: 167,
                    },
                    EntryCount {
                        source: EntrySource::Validator,
                        state: EntryState::Rejected,
                        count: 1,
                    },
                    EntryCount {
                        source: EntrySource::Miner,
                        state: EntryState::Unverifiable,
                        count: 3,
                    },
                ],
                oldest_entry: t(1),
                newest_entry: t(23),
                newest_loaded: t(22),
                invocation_rows: 10_080_000,
                synthetics: 42,
                metagraph_snapshots: 2,
                latest_metagraph_block: Some(4_812_345),
                gpu_counts: 120,
                weights_runs: 1,
                latest_weights_run: t(23),
                agreement_runs: 0,
            },
            lake: LakeStatus {
                entries: 168,
                files: 1344,
                bytes: 3 << 30,
            },
            coverage: Coverage {
                until: t(23).unwrap(),
                window_days: 7,
                gaps: vec![
                    t(3).unwrap().with_second(0).unwrap(),
                    t(4).unwrap().with_second(0).unwrap(),
                ],
                missing_from_lake: vec!["1b4e28ba-2fa1-11d2-883f-0016d3cca427".into()],
                unproven: Vec::new(),
            },
            last_submission: Some(WeightsSubmissionRecord {
                submission_id: 3,
                run_id: 12,
                attempted_at: t(23).unwrap(),
                netuid: 64,
                call: Some(audit_store::WeightsCallKind::Timelocked),
                outcome: audit_store::SubmissionOutcome::Dropped,
                reason: None,
                tries: 1,
                sender_uid: Some(0),
                extrinsic_hash: Some("0xab".into()),
                block_hash: None,
                block: Some(4_812_340),
                reveal_round: Some(9_876_543),
                commit_epoch: Some(13_000),
                nonce: None,
                era_birth: None,
                era_period: None,
                chain_proven: None,
                checked_at: t(23),
                vector: vec![(1, 65_535), (2, 1)],
            }),
        };
        insta::assert_snapshot!(render(&report));
    }
}
