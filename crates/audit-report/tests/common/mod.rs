//! A synthetic week of report data at the sizes the page must handle,
//! shared by the page and browser tests.
#![allow(dead_code)]

use audit_report::*;
use audit_store::{NormalisedFeatures, RawFeatures};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

pub fn t(day: u32, hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, day)
        .unwrap()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
}

/// An SS58-shaped hotkey per index.
pub fn hotkey(i: usize) -> String {
    format!("5F{i:02}{}", "Qx7Lm9Pz".repeat(6))
}

pub fn miner(i: usize, hours: usize) -> MinerReport {
    let score = if i % 9 == 8 {
        None
    } else {
        Some(1.0 / (i + 2) as f64)
    };
    let chain_share = Some(1.0 / (i + 2) as f64 + if i % 7 == 0 { 0.04 } else { 0.001 });
    let delta = score.zip(chain_share).map(|(s, c)| (s - c).abs());
    MinerReport {
        hotkey: hotkey(i),
        uid: Some(i as u16 + 1),
        coldkey: Some(format!("5Cold{i:02}{}", "Ab".repeat(20))),
        score,
        chain_share,
        delta,
        flagged: delta.is_some_and(|d| d > 0.03),
        explain: score.map(|s| Explain {
            raw: RawFeatures {
                invocation_count: 1000.0 + i as f64,
                compute_units: 123.456_789 * i as f64,
                bounty_count: 3.0,
                unique_chute_count: 12.0,
                private_instances: 1,
                private_seconds: 3600.0,
                private_compute_units: 7.5,
            },
            normalised: NormalisedFeatures {
                norm_invocation_count: s,
                norm_compute_units: s,
                norm_bounty_count: 0.1,
                norm_unique_chute_count: 0.5,
            },
            pre_score: s,
            penalised: false,
            penalised_by: None,
        }),
        // Every fifth miner loses a few hours; miner 3 reports nothing.
        coverage: (0..hours)
            .map(|h| match (i, h % 37) {
                (3, _) => 0,
                (i, 5..=8) if i % 5 == 0 => 0,
                (_, 20) => 1800,
                _ => 3600,
            })
            .collect(),
        agreement: Some(AgreementLine {
            coverage_seconds: 601_200,
            validator_count: Some(50_000 + i as u64),
            reported_count: (i != 3).then_some(48_000 + i as u64),
            ratio: (i != 3).then_some(0.85 + (i % 10) as f64 / 100.0),
            flagged: i == 3 || i % 10 < 5,
            note: (i == 3).then(|| "no reported metrics".to_string()),
        }),
        synthetics: TaskTally {
            task: "all".into(),
            present: 20,
            missing: u64::from(i == 7),
            rerouted: u64::from(i == 11),
            pending: 2,
            errors: 1,
        },
    }
}

/// A week of a 64-miner subnet, at the sizes the page must handle.
pub fn week(miners: usize) -> ReportData {
    let at = t(10, 12);
    let hours = 168;
    let coverage_hours: Vec<NaiveDateTime> = (0..hours)
        .map(|h| at - TimeDelta::hours(hours as i64 - h as i64))
        .collect();
    ReportData {
        evaluated_at: at,
        window_from: at - TimeDelta::days(7),
        netuid: 64,
        headline: Headline {
            verified: 166,
            unverifiable: 1,
            rejected: 1,
            pending: 0,
            validator_hours: 166,
            hour_gaps: vec![t(8, 3), t(8, 4)],
            integrity_violations: vec![Violation {
                entry_id: "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2".into(),
                hotkey: hotkey(99),
                created_at: t(9, 1),
                reason: "integrity: export invocations/2025/02/09/00.csv has sha256 00, the report says ff".into(),
            }],
        },
        run: Some(RunInfo {
            run_id: 168,
            evaluated_at: at,
            profile_name: "chutes-default".into(),
            profile_version: 1,
            sum_abs_delta: 0.123_456,
            max_delta: 0.045_678,
            delta_flag: 0.03,
        }),
        history: (0..168)
            .map(|i| HistoryPoint {
                run_id: i + 1,
                evaluated_at: at - TimeDelta::hours(168 - i),
                sum_abs_delta: 0.1 + (i % 24) as f64 / 200.0,
                max_delta: 0.02 + (i % 12) as f64 / 400.0,
            })
            .collect(),
        coverage_hours,
        agreement: Some(AgreementInfo {
            run_id: 4,
            evaluated_at: at,
            threshold: 0.9,
        }),
        synthetics: ["chat", "completion", "embed", "image", "tts"]
            .iter()
            .enumerate()
            .map(|(i, task)| TaskTally {
                task: task.to_string(),
                present: 200 + 30 * i as u64,
                missing: i as u64,
                rerouted: u64::from(i == 2),
                pending: 10,
                errors: 4,
            })
            .collect(),
        synthetic_findings: (0..300)
            .map(|i| SyntheticFinding {
                task: "chat".into(),
                chute_id: format!("chute-{i:04}-7f3a-4c1e-9b2d-000000000000"),
                parent_invocation_id: format!("parent-{i:04}-7f3a-4c1e-9b2d-000000000000"),
                invocation_id: format!("child-{i:04}-7f3a-4c1e-9b2d-000000000000"),
                expected_hotkey: hotkey(i % miners),
                check: if i % 2 == 0 { "missing" } else { "rerouted" }.into(),
                created_at: at - TimeDelta::hours(3),
            })
            .collect(),
        submissions: (0..42)
            .map(|i| Submission {
                run_id: i * 4,
                evaluated_at: at - TimeDelta::hours(168 - i * 4),
                attempted_at: at - TimeDelta::hours(168 - i * 4),
                call: Some("timelocked".into()),
                outcome: "revealed".into(),
                reason: None,
                block: Some(4_812_000 + i as u64 * 300),
                extrinsic_hash: Some(format!("0x{}", "ab".repeat(32))),
                reveal_round: Some(20_000_000 + i as u64 * 1200),
                revealed: Some(true),
                miners: 64,
            })
            .collect(),
        miners: (0..miners).map(|i| miner(i, hours as usize)).collect(),
    }
}
