//! `gather` on a catalog built by hand, on SQLite and PostgreSQL: the
//! headline, the chosen run, the miners and their coverage come out as
//! the records say.

use audit_report::{gather, Settings};
use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime};

fn t(hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
}

fn entry(n: u32, hotkey: &str, source: EntrySource, hour: u32) -> AuditEntry {
    AuditEntry {
        entry_id: format!("00000000-0000-5000-8000-{n:012}"),
        hotkey: hotkey.into(),
        block: 1000 + n,
        path: format!("audit/{source}/{hotkey}/{n}.json"),
        source,
        created_at: t(hour + 1),
        start_time: t(hour),
        end_time: t(hour + 1),
    }
}

fn loaded(unverifiable: bool) -> LoadedEntry {
    LoadedEntry {
        report_sha256: "ab".repeat(32),
        unverifiable,
        instance_rows: 0,
        commitment_proven: None,
        exports: vec![],
    }
}

fn score(hotkey: &str, coldkey: &str, score: f64, chain: Option<f64>) -> MinerScore {
    MinerScore {
        hotkey: hotkey.into(),
        uid: None,
        coldkey: Some(coldkey.into()),
        raw: RawFeatures {
            invocation_count: 10.0,
            compute_units: 5.0,
            bounty_count: 0.0,
            unique_chute_count: 2.0,
            private_instances: 0,
            private_seconds: 0.0,
            private_compute_units: 0.0,
        },
        normalised: NormalisedFeatures {
            norm_invocation_count: score,
            norm_compute_units: score,
            norm_bounty_count: 0.0,
            norm_unique_chute_count: 1.0,
        },
        pre_score: score.max(0.1),
        penalised: score == 0.0,
        score,
        chain_share: chain,
        delta: chain.map(|c| (score - c).abs()),
        weight: None,
    }
}

fn run(evaluated: u32, sum: f64, miners: Vec<MinerScore>) -> WeightsRun {
    WeightsRun {
        run_id: 0,
        evaluated_at: t(evaluated),
        created_at: t(evaluated),
        profile_name: "chutes-default".into(),
        profile_version: 1,
        snapshot_id: None,
        sum_abs_delta: sum,
        max_delta: sum / 2.0,
        submission: None,
        miners,
    }
}

fn synthetic(id: &str, task: &str, hotkey: &str, check: SyntheticCheck) -> Synthetic {
    Synthetic {
        invocation_id: id.into(),
        parent_invocation_id: format!("p-{id}"),
        task: task.into(),
        chute_id: "chute-1".into(),
        instance_id: "inst-1".into(),
        miner_uid: None,
        miner_hotkey: hotkey.into(),
        created_at: t(4),
        has_error: id == "s1",
        check,
        checked_at: None,
    }
}

async fn build(catalog: &Catalog) {
    let v = EntrySource::Validator;
    let m = EntrySource::Miner;
    // Validator hours 1, 2, 4, 5 loaded (5 unverifiable); 3 rejected for
    // integrity; 6 rejected for a transient reason; 7 pending.
    let mut entries: Vec<AuditEntry> = [1, 2, 4, 5, 3, 6, 7]
        .iter()
        .enumerate()
        .map(|(i, h)| entry(i as u32, "5Validator", v, *h))
        .collect();
    // MinerA reports hours 1–5, MinerB hours 1–2.
    entries.extend((1..6).map(|h| entry(100 + h, "5MinerA", m, h)));
    entries.extend((1..3).map(|h| entry(200 + h, "5MinerB", m, h)));
    catalog.record_listed(&entries, t(1)).await.unwrap();
    for e in &entries {
        let id = &e.entry_id;
        match (e.source, e.start_time) {
            (EntrySource::Validator, s) if s == t(3) => catalog
                .reject(
                    id,
                    "integrity: report sha256 00 differs from the commitment",
                    None,
                    t(8),
                )
                .await
                .unwrap(),
            (EntrySource::Validator, s) if s == t(6) => catalog
                .reject(id, "download failed: 503", None, t(8))
                .await
                .unwrap(),
            (EntrySource::Validator, s) if s == t(7) => {}
            (source, s) => catalog
                .mark_loaded(
                    id,
                    &loaded(source == EntrySource::Validator && s == t(5)),
                    t(8),
                )
                .await
                .unwrap(),
        }
    }
    let early = catalog
        .record_weights_run(&run(
            6,
            0.3,
            vec![score("5MinerA", "5ColdA", 1.0, Some(0.5))],
        ))
        .await
        .unwrap();
    catalog
        .mark_weights_sent(
            early,
            &WeightsSubmission {
                sent_to: "ws://node".into(),
                block: 77,
                extrinsic_hash: "0xfeed".into(),
            },
        )
        .await
        .unwrap();
    let attempt = |run_id: i64, call, outcome, block: Option<u64>, round: Option<u64>| {
        WeightsSubmissionRecord {
            submission_id: 0,
            run_id,
            attempted_at: t(6),
            netuid: 64,
            call,
            outcome,
            reason: None,
            tries: 1,
            sender_uid: Some(0),
            extrinsic_hash: block.map(|b| format!("0x{b:04x}")),
            block_hash: None,
            block,
            reveal_round: round,
            commit_epoch: None,
            nonce: None,
            era_birth: None,
            era_period: None,
            chain_proven: None,
            checked_at: None,
            vector: vec![(1, 65535)],
        }
    };
    let plain = Some(WeightsCallKind::Plain);
    let timelocked = Some(WeightsCallKind::Timelocked);
    for record in [
        attempt(early, plain, SubmissionOutcome::Landed, Some(77), None),
        attempt(
            early,
            timelocked,
            SubmissionOutcome::Dropped,
            Some(80),
            Some(1000),
        ),
    ] {
        catalog.record_weights_submission(&record).await.unwrap();
    }
    let miners = vec![
        score("5MinerA", "5ColdA", 0.6, Some(0.5)),
        score("5MinerB", "5ColdB", 0.4, Some(0.3)),
        score("5MinerC", "5ColdB", 0.0, None),
    ];
    let latest = catalog
        .record_weights_run(&run(8, 0.4, miners))
        .await
        .unwrap();
    let mut refused = attempt(
        latest,
        None,
        SubmissionOutcome::PreconditionRefused,
        None,
        None,
    );
    refused.reason = Some("rate limit: 12 blocks remaining".into());
    catalog.record_weights_submission(&refused).await.unwrap();
    // After the evaluation time: not on the page.
    catalog
        .record_weights_run(&run(9, 9.0, vec![]))
        .await
        .unwrap();

    let neuron = |uid: u16, hotkey: &str, incentive: u16| Neuron {
        uid,
        hotkey: hotkey.into(),
        coldkey: format!("5Cold{hotkey}"),
        incentive,
        stake: 0.0,
        last_update: 0,
        validator_permit: false,
    };
    catalog
        .record_metagraph(&MetagraphSnapshot {
            snapshot_id: 0,
            netuid: 64,
            block: 100,
            taken_at: t(7),
            neurons: vec![
                neuron(0, "5Validator", 0),
                neuron(1, "5MinerA", 5),
                neuron(2, "5MinerB", 3),
                neuron(3, "5MinerC", 0),
                neuron(4, "5MinerD", 2),
            ],
        })
        .await
        .unwrap();
    let result = |hotkey: &str, ratio: Option<f64>| AgreementResult {
        hotkey: hotkey.into(),
        coverage_seconds: 3600,
        validator_count: Some(100),
        reported_count: ratio.map(|r| (r * 100.0) as u64),
        ratio,
        flagged: ratio.is_none_or(|r| r < 0.9),
        note: ratio.is_none().then(|| "no reported metrics".into()),
        missing_hours: vec![],
    };
    catalog
        .record_agreement_run(&AgreementRun {
            run_id: 0,
            evaluated_at: t(8),
            created_at: t(8),
            threshold: 0.8,
            results: vec![result("5MinerA", Some(0.95)), result("5MinerB", Some(0.5))],
        })
        .await
        .unwrap();
    catalog
        .record_synthetics(&[
            synthetic("s1", "chat", "5MinerA", SyntheticCheck::Present),
            synthetic("s2", "chat", "5MinerB", SyntheticCheck::Missing),
            synthetic("s3", "image", "5MinerA", SyntheticCheck::Rerouted),
            synthetic("s4", "tts", "5MinerA", SyntheticCheck::Pending),
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn the_catalog_becomes_the_pages_data() {
    each_backend(|t_: TestStore| async move {
        build(t_.store().catalog()).await;
        let data = gather(t_.store(), t(8), &Settings::default())
            .await
            .unwrap();

        let h = &data.headline;
        assert_eq!(
            (h.verified, h.unverifiable, h.rejected, h.pending),
            (10, 1, 2, 1)
        );
        assert_eq!(h.hour_gaps, vec![t(3)]);
        assert_eq!(h.validator_hours, 4);
        assert_eq!(h.integrity_violations.len(), 1);
        assert!(h.integrity_violations[0].reason.starts_with("integrity"));

        let run = data.run.as_ref().unwrap();
        assert_eq!((run.evaluated_at, run.sum_abs_delta), (t(8), 0.4));
        let sums: Vec<f64> = data.history.iter().map(|p| p.sum_abs_delta).collect();
        assert_eq!(sums, vec![0.3, 0.4]);
        // Every attempt, plain or committed, revealed or not, refused too.
        type Attempt<'a> = (Option<&'a str>, &'a str, Option<u64>, Option<bool>);
        let attempts: Vec<Attempt> = data
            .submissions
            .iter()
            .map(|s| (s.call.as_deref(), s.outcome.as_str(), s.block, s.revealed))
            .collect();
        assert_eq!(
            attempts,
            [
                (Some("plain"), "landed", Some(77), None),
                (Some("timelocked"), "dropped", Some(80), Some(false)),
                (None, "precondition_refused", None, None),
            ]
        );
        assert_eq!(
            data.submissions[2].reason.as_deref(),
            Some("rate limit: 12 blocks remaining")
        );

        // Highest score first; D is paid but not computed.
        let order: Vec<&str> = data.miners.iter().map(|m| m.hotkey.as_str()).collect();
        assert_eq!(order, ["5MinerA", "5MinerB", "5MinerC", "5MinerD"]);
        let [a, b, c, d] = &data.miners[..] else {
            panic!()
        };
        assert_eq!(a.uid, Some(1));
        assert_eq!((a.score, a.chain_share), (Some(0.6), Some(0.5)));
        assert!(a.flagged, "0.1 is above the 0.03 flag");
        assert_eq!(
            c.explain.as_ref().unwrap().penalised_by.as_deref(),
            Some("5MinerB")
        );
        assert_eq!((d.score, d.chain_share), (None, Some(0.2)));
        assert!(d.explain.is_none());

        // The grid starts at the first covered hour and ends at `at`.
        assert_eq!(data.coverage_hours, (1..8).map(t).collect::<Vec<_>>());
        assert_eq!(a.coverage, vec![3600, 3600, 3600, 3600, 3600, 0, 0]);
        assert_eq!(b.coverage, vec![3600, 3600, 0, 0, 0, 0, 0]);
        assert_eq!(d.coverage, vec![0; 7]);

        assert_eq!(b.agreement.as_ref().unwrap().ratio, Some(0.5));
        // The threshold the run was judged with, not a default.
        assert_eq!(data.agreement.as_ref().unwrap().threshold, 0.8);
        let tasks: Vec<(&str, u64, u64, u64, u64)> = data
            .synthetics
            .iter()
            .map(|t| (t.task.as_str(), t.present, t.missing, t.rerouted, t.pending))
            .collect();
        assert_eq!(
            tasks,
            [
                ("chat", 1, 1, 0, 0),
                ("image", 0, 0, 1, 0),
                ("tts", 0, 0, 0, 1)
            ]
        );
        assert_eq!(data.synthetic_findings.len(), 2);
        assert_eq!(
            (
                a.synthetics.present,
                a.synthetics.rerouted,
                a.synthetics.errors
            ),
            (1, 1, 1)
        );

        // A page from it renders, and as of an earlier time the later run
        // is not used.
        let html = audit_report::render(&data);
        assert!(html.contains("id=\"miner-5MinerD\""));
        let earlier = gather(t_.store(), t(7), &Settings::default())
            .await
            .unwrap();
        assert_eq!(earlier.run.unwrap().sum_abs_delta, 0.3);
    })
    .await;
}
