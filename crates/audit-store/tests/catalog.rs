//! The catalog's behaviour, run against SQLite and PostgreSQL alike.

use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime};

fn at(h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_micro_opt(h, 0, 7, 123_456)
        .unwrap()
}

fn entry(n: u32, source: EntrySource) -> AuditEntry {
    AuditEntry {
        entry_id: format!("00000000-0000-5000-8000-{n:012}"),
        hotkey: format!("5Hotkey{n}"),
        block: 4_812_000 + n,
        path: format!("audit/validator/5Hotkey{n}/{}.json", 4_812_000 + n),
        source,
        created_at: at(n),
        start_time: at(n) - chrono::Duration::hours(1),
        end_time: at(n),
    }
}

fn loaded(rows: u64) -> LoadedEntry {
    LoadedEntry {
        report_sha256: "ab".repeat(32),
        unverifiable: false,
        instance_rows: 7,
        commitment_proven: None,
        exports: vec![
            ExportRecord {
                kind: ExportKind::Invocations,
                path: "invocations/2025/02/10/16.csv".into(),
                sha256: "cd".repeat(32),
                bytes: 1234,
                row_count: rows,
                malformed_rows: 2,
            },
            ExportRecord {
                kind: ExportKind::Jobs,
                path: "invocations/2025/02/10/16-jobs.csv".into(),
                sha256: "ef".repeat(32),
                bytes: 10,
                row_count: 1,
                malformed_rows: 0,
            },
        ],
    }
}

fn neuron(uid: u16, coldkey: &str) -> Neuron {
    Neuron {
        uid,
        hotkey: format!("5Hot{uid}"),
        coldkey: coldkey.into(),
        incentive: 1000 * uid,
        stake: 1.5 * f64::from(uid),
        last_update: 4_800_000 + u64::from(uid),
        validator_permit: uid == 0,
    }
}

#[tokio::test]
async fn entries_move_through_their_states_and_survive_a_reopen() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let listed = vec![
            entry(1, EntrySource::Validator),
            entry(2, EntrySource::Validator),
            entry(3, EntrySource::Miner),
        ];
        assert_eq!(catalog.record_listed(&listed, at(5)).await.unwrap(), 3);
        // Listing again adds nothing and keeps state.
        assert_eq!(catalog.record_listed(&listed, at(6)).await.unwrap(), 0);

        let id1 = &listed[0].entry_id;
        let id2 = &listed[1].entry_id;
        let sha = "ab".repeat(32);
        let verdict = Verified {
            report_sha256: &sha,
            unverifiable: false,
            commitment_proven: true,
        };
        catalog.mark_verified(id1, &verdict, at(6)).await.unwrap();
        catalog.mark_loaded(id1, &loaded(100), at(6)).await.unwrap();
        catalog
            .reject(
                id2,
                "export invocations: sha256 mismatch",
                Some("00"),
                at(6),
            )
            .await
            .unwrap();

        let t = t.restart().await;
        let catalog = t.store().catalog();
        let one = catalog.entry(id1).await.unwrap().unwrap();
        assert_eq!(one.state, EntryState::Loaded);
        assert_eq!(one.entry, listed[0], "{}", t.backend());
        assert_eq!(one.instance_rows, 7);
        assert_eq!(one.loaded_at, Some(at(6)));
        // The load (which read no chain) keeps the verdict's proof record.
        assert_eq!(one.commitment_proven, Some(true));
        assert_eq!(catalog.exports(id1).await.unwrap(), loaded(100).exports);

        let two = catalog.entry(id2).await.unwrap().unwrap();
        assert_eq!(two.state, EntryState::Rejected);
        assert_eq!(
            two.reject_reason.as_deref(),
            Some("export invocations: sha256 mismatch")
        );
        assert_eq!(two.attempts, 1);

        let todo = catalog
            .entries_in_states(&[EntryState::Pending, EntryState::Rejected], at(0))
            .await
            .unwrap();
        let ids: Vec<_> = todo.iter().map(|e| e.entry.entry_id.as_str()).collect();
        assert_eq!(ids, [id2.as_str(), listed[2].entry_id.as_str()]);

        let validator = catalog
            .loaded_entries(EntrySource::Validator, at(0), at(10))
            .await
            .unwrap();
        assert_eq!(validator.len(), 1);
        assert!(catalog
            .loaded_entries(EntrySource::Miner, at(0), at(10))
            .await
            .unwrap()
            .is_empty());

        let summary = catalog.summary().await.unwrap();
        assert_eq!(summary.invocation_rows, 100);
        assert_eq!(summary.oldest_entry, Some(at(1)));
        assert_eq!(summary.newest_loaded, Some(at(1)));
        let counted: u64 = summary.entries.iter().map(|c| c.count).sum();
        assert_eq!(counted, 3);
    })
    .await;
}

#[tokio::test]
async fn unverifiable_stays_flagged_after_loading() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let e = entry(4, EntrySource::Validator);
        catalog
            .record_listed(std::slice::from_ref(&e), at(5))
            .await
            .unwrap();
        // Read with proofs off: the record says so.
        let verdict = Verified::unverifiable("aa", false);
        catalog
            .mark_verified(&e.entry_id, &verdict, at(5))
            .await
            .unwrap();
        let rec = catalog.entry(&e.entry_id).await.unwrap().unwrap();
        assert_eq!(rec.state, EntryState::Unverifiable);
        let mut l = loaded(3);
        l.unverifiable = true;
        catalog.mark_loaded(&e.entry_id, &l, at(6)).await.unwrap();
        let rec = catalog.entry(&e.entry_id).await.unwrap().unwrap();
        assert_eq!((rec.state, rec.unverifiable), (EntryState::Loaded, true));
        assert_eq!(rec.commitment_proven, Some(false));
    })
    .await;
}

#[tokio::test]
async fn only_entries_loaded_unverifiable_in_the_window_are_flagged() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let entries: Vec<AuditEntry> = (1..=5).map(|n| entry(n, EntrySource::Validator)).collect();
        catalog.record_listed(&entries, at(6)).await.unwrap();
        // 1: flagged but before the window; 2: verified; 3 and 5: flagged;
        // 4: still pending.
        for (n, unverifiable) in [(1, true), (2, false), (3, true), (5, true)] {
            let mut l = loaded(3);
            l.unverifiable = unverifiable;
            let id = &entries[n - 1].entry_id;
            catalog.mark_loaded(id, &l, at(7)).await.unwrap();
        }
        let flagged: Vec<String> = catalog
            .flagged_unverifiable(at(2))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.entry.entry_id)
            .collect();
        assert_eq!(
            flagged,
            [entries[2].entry_id.clone(), entries[4].entry_id.clone()]
        );
    })
    .await;
}

#[tokio::test]
async fn a_failure_inside_a_transaction_leaves_nothing_behind() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        // Loading an entry that was never listed fails on the last statement,
        // after the exports were inserted: the exports must be rolled back.
        let err = catalog
            .mark_loaded("00000000-0000-5000-8000-000000000099", &loaded(5), at(1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound(_) | StoreError::Query { .. }),
            "{err}"
        );
        assert!(catalog
            .exports("00000000-0000-5000-8000-000000000099")
            .await
            .unwrap()
            .is_empty());

        // A snapshot whose second neuron repeats a uid fails half way: no
        // snapshot and no neuron may remain.
        let snapshot = MetagraphSnapshot {
            snapshot_id: 0,
            netuid: 64,
            block: 100,
            taken_at: at(1),
            neurons: vec![neuron(1, "5Cold"), neuron(1, "5Cold")],
        };
        assert!(catalog.record_metagraph(&snapshot).await.is_err());
        assert!(catalog.metagraph_at(64, at(23)).await.unwrap().is_none());
        assert_eq!(catalog.summary().await.unwrap().metagraph_snapshots, 0);
    })
    .await;
}

#[tokio::test]
async fn migrations_applied_twice_are_a_no_op() {
    each_backend(|t: TestStore| async move {
        let e = entry(7, EntrySource::Validator);
        t.store()
            .catalog()
            .record_listed(std::slice::from_ref(&e), at(1))
            .await
            .unwrap();
        // Opening again runs the migration harness again.
        let again = t.reopen().await;
        let third = t.reopen().await;
        assert!(third.catalog().entry(&e.entry_id).await.unwrap().is_some());
        assert_eq!(again.catalog().summary().await.unwrap().entries.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn pruning_removes_old_entries_with_their_exports() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let old = entry(1, EntrySource::Validator);
        let new = entry(9, EntrySource::Validator);
        catalog
            .record_listed(&[old.clone(), new.clone()], at(10))
            .await
            .unwrap();
        catalog
            .mark_loaded(&old.entry_id, &loaded(1), at(10))
            .await
            .unwrap();
        let pruned = catalog.prune_entries_before(at(5)).await.unwrap();
        assert_eq!(pruned, vec![old.entry_id.clone()]);
        assert!(catalog.entry(&old.entry_id).await.unwrap().is_none());
        assert!(catalog.exports(&old.entry_id).await.unwrap().is_empty());
        assert!(catalog.entry(&new.entry_id).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn metagraph_snapshots_are_read_as_of_a_time() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let mut first = MetagraphSnapshot {
            snapshot_id: 0,
            netuid: 64,
            block: 100,
            taken_at: at(1),
            neurons: vec![
                neuron(0, "5ColdA"),
                neuron(1, "5ColdA"),
                neuron(2, "5ColdB"),
            ],
        };
        first.snapshot_id = catalog.record_metagraph(&first).await.unwrap();
        let mut second = first.clone();
        second.block = 400;
        second.taken_at = at(3);
        second.neurons.truncate(1);
        second.snapshot_id = catalog.record_metagraph(&second).await.unwrap();
        assert_ne!(first.snapshot_id, second.snapshot_id);

        assert_eq!(catalog.metagraph_at(64, at(2)).await.unwrap(), Some(first));
        assert_eq!(catalog.metagraph_at(64, at(4)).await.unwrap(), Some(second));
        assert_eq!(catalog.metagraph_at(64, at(0)).await.unwrap(), None);
        assert_eq!(catalog.metagraph_at(1, at(4)).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn gpu_counts_are_replaced_whole() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let a = GpuCount {
            chute_id: "a".into(),
            gpu_count: 8,
        };
        let b = GpuCount {
            chute_id: "b".into(),
            gpu_count: 1,
        };
        catalog
            .replace_gpu_counts(&[a.clone(), b], at(1))
            .await
            .unwrap();
        let c = GpuCount {
            chute_id: "c".into(),
            gpu_count: 4,
        };
        catalog
            .replace_gpu_counts(&[c.clone(), a.clone()], at(2))
            .await
            .unwrap();
        assert_eq!(catalog.gpu_counts().await.unwrap(), vec![a, c]);
    })
    .await;
}

#[tokio::test]
async fn synthetics_record_and_check() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let mut s = Synthetic {
            invocation_id: "child-1".into(),
            parent_invocation_id: "parent-1".into(),
            task: "chat".into(),
            chute_id: "chute".into(),
            instance_id: "inst".into(),
            miner_uid: Some(49),
            miner_hotkey: "5Miner".into(),
            created_at: at(2),
            has_error: false,
            check: SyntheticCheck::Pending,
            checked_at: None,
        };
        catalog
            .record_synthetics(std::slice::from_ref(&s))
            .await
            .unwrap();
        // The error event arrives later in the trace.
        s.has_error = true;
        catalog
            .record_synthetics(std::slice::from_ref(&s))
            .await
            .unwrap();
        catalog
            .set_synthetic_check("child-1", SyntheticCheck::Rerouted, at(4))
            .await
            .unwrap();
        let got = catalog.synthetics_between(at(0), at(3)).await.unwrap();
        s.check = SyntheticCheck::Rerouted;
        s.checked_at = Some(at(4));
        assert_eq!(got, vec![s]);
        assert!(catalog
            .synthetics_between(at(3), at(9))
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            catalog
                .set_synthetic_check("nope", SyntheticCheck::Missing, at(4))
                .await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn weights_and_agreement_runs_round_trip() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let miner = |hotkey: &str, score: f64| MinerScore {
            hotkey: hotkey.into(),
            uid: Some(3),
            coldkey: Some("5Cold".into()),
            raw: RawFeatures {
                invocation_count: 10.0,
                compute_units: 123.456,
                bounty_count: 1.0,
                unique_chute_count: 8.0,
                private_instances: 1,
                private_seconds: 3600.5,
                private_compute_units: 7200.0,
            },
            normalised: NormalisedFeatures {
                norm_invocation_count: 0.5,
                norm_compute_units: 0.25,
                norm_bounty_count: 0.0,
                norm_unique_chute_count: 1.0,
            },
            pre_score: 0.4,
            penalised: score == 0.0,
            score,
            chain_share: Some(0.3),
            delta: Some(0.1),
            weight: Some(65535),
        };
        let mut run = WeightsRun {
            run_id: 0,
            evaluated_at: at(5),
            created_at: at(6),
            profile_name: "chutes-default".into(),
            profile_version: 1,
            snapshot_id: None,
            sum_abs_delta: 0.2,
            max_delta: 0.1,
            submission: None,
            miners: vec![miner("5B", 0.0), miner("5A", 1.0)],
        };
        run.run_id = catalog.record_weights_run(&run).await.unwrap();
        let sub = WeightsSubmission {
            sent_to: "ws://127.0.0.1:9944".into(),
            block: 123,
            extrinsic_hash: "0xabc".into(),
        };
        catalog.mark_weights_sent(run.run_id, &sub).await.unwrap();
        let got = catalog.weights_run(run.run_id).await.unwrap().unwrap();
        run.submission = Some(sub);
        run.miners.reverse(); // ordered by score, highest first
        assert_eq!(got, run);
        assert_eq!(
            catalog.latest_weights_run_ids(5).await.unwrap(),
            vec![run.run_id]
        );

        let mut agreement = AgreementRun {
            run_id: 0,
            evaluated_at: at(5),
            created_at: at(6),
            threshold: 0.85,
            results: vec![
                AgreementResult {
                    hotkey: "5A".into(),
                    coverage_seconds: 597_600,
                    validator_count: Some(100),
                    reported_count: None,
                    ratio: None,
                    flagged: false,
                    note: Some("no reported metrics".into()),
                    missing_hours: vec![at(2), at(3)],
                },
                AgreementResult {
                    hotkey: "5B".into(),
                    coverage_seconds: 604_800,
                    validator_count: Some(100),
                    reported_count: Some(80),
                    ratio: Some(0.8),
                    flagged: true,
                    note: None,
                    missing_hours: vec![],
                },
            ],
        };
        agreement.run_id = catalog.record_agreement_run(&agreement).await.unwrap();
        assert_eq!(
            catalog.latest_agreement_run().await.unwrap(),
            Some(agreement)
        );
    })
    .await;
}

#[tokio::test]
async fn a_second_writer_on_a_data_directory_is_refused_naming_the_first() {
    each_backend(|t: TestStore| async move {
        let url = t.database_url().to_string();
        let first = Store::open_for_writing(
            t.data_dir(),
            Some(&url),
            &LockRequest::refuse("auditctl sync"),
        )
        .await
        .unwrap();
        let err = Store::open_for_writing(
            t.data_dir(),
            Some(&url),
            &LockRequest::refuse("auditctl weights"),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Locked { .. }), "{text}");
        assert!(text.contains("auditctl sync"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        // Readers are not writers: they still open.
        t.reopen().await;
        drop(first);
        Store::open_for_writing(t.data_dir(), Some(&url), &LockRequest::refuse("again"))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn two_data_directories_sharing_a_postgres_catalog_take_turns() {
    each_backend(|t: TestStore| async move {
        if t.store().catalog().backend() != Backend::Postgres {
            return; // An SQLite catalog lives in its data directory.
        }
        let url = t.database_url().to_string();
        let first = Store::open_for_writing(
            t.data_dir(),
            Some(&url),
            &LockRequest::refuse("auditctl sync"),
        )
        .await
        .unwrap();
        let other = tempfile::tempdir().unwrap();
        let err = Store::open_for_writing(other.path(), Some(&url), &LockRequest::refuse("other"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("the catalog"), "{text}");
        assert!(text.contains("auditctl sync"), "{text}");
        drop(first);
        Store::open_for_writing(other.path(), Some(&url), &LockRequest::refuse("other"))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn connection_errors_never_print_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "postgres://me:hun/ter2@127.0.0.1:1/audit",
        "postgres://me:hun#ter2@127.0.0.1:1/audit",
        "postgres://me@127.0.0.1:1/audit?password=hunter2",
    ] {
        let err = Store::open(dir.path(), Some(url)).await.unwrap_err();
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        assert!(!text.contains("ter2"), "{url}: {text}");
    }
}

#[tokio::test]
async fn weights_run_heads_list_the_window_oldest_first_without_miners() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let run = |evaluated: u32, sum: f64| WeightsRun {
            run_id: 0,
            evaluated_at: at(evaluated),
            created_at: at(20),
            profile_name: "chutes-default".into(),
            profile_version: 1,
            snapshot_id: None,
            sum_abs_delta: sum,
            max_delta: sum / 2.0,
            submission: None,
            miners: vec![],
        };
        // Recorded out of order; one before the window, one after it.
        let late = catalog.record_weights_run(&run(9, 0.3)).await.unwrap();
        let early = catalog.record_weights_run(&run(3, 0.1)).await.unwrap();
        catalog.record_weights_run(&run(1, 9.0)).await.unwrap();
        catalog.record_weights_run(&run(12, 9.0)).await.unwrap();
        let sent = WeightsSubmission {
            sent_to: "ws://node".into(),
            block: 7,
            extrinsic_hash: "0x01".into(),
        };
        catalog.mark_weights_sent(late, &sent).await.unwrap();

        let heads = catalog.weights_run_heads(at(1), at(9)).await.unwrap();
        let got: Vec<(i64, f64)> = heads.iter().map(|r| (r.run_id, r.sum_abs_delta)).collect();
        assert_eq!(got, vec![(early, 0.1), (late, 0.3)]);
        assert_eq!(heads[1].submission, Some(sent));
        assert!(heads.iter().all(|r| r.miners.is_empty()));
    })
    .await;
}

#[tokio::test]
async fn pruning_the_window_takes_the_old_synthetics_along() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let synthetic = |id: &str, hour: u32| Synthetic {
            invocation_id: id.into(),
            parent_invocation_id: "parent".into(),
            task: "embed".into(),
            chute_id: "chute".into(),
            instance_id: "inst".into(),
            miner_uid: None,
            miner_hotkey: "5Miner".into(),
            created_at: at(hour),
            has_error: false,
            check: SyntheticCheck::Pending,
            checked_at: None,
        };
        catalog
            .record_synthetics(&[synthetic("old", 1), synthetic("new", 6)])
            .await
            .unwrap();
        catalog.prune_entries_before(at(5)).await.unwrap();
        let left = catalog.synthetics_between(at(0), at(9)).await.unwrap();
        let ids: Vec<&str> = left.iter().map(|s| s.invocation_id.as_str()).collect();
        assert_eq!(ids, ["new"]);
    })
    .await;
}

#[tokio::test]
async fn weights_submissions_keep_every_attempt_and_the_reveal_seen_later() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let run = WeightsRun {
            run_id: 0,
            evaluated_at: at(5),
            created_at: at(5),
            profile_name: "chutes-default".into(),
            profile_version: 1,
            snapshot_id: None,
            sum_abs_delta: 0.0,
            max_delta: 0.0,
            submission: None,
            miners: vec![],
        };
        let run_id = catalog.record_weights_run(&run).await.unwrap();
        assert_eq!(catalog.latest_weights_submission().await.unwrap(), None);
        let mut commit = WeightsSubmissionRecord {
            submission_id: 0,
            run_id,
            attempted_at: at(6),
            netuid: 64,
            call: Some(WeightsCallKind::Timelocked),
            outcome: SubmissionOutcome::Committed,
            reason: None,
            tries: 2,
            sender_uid: Some(0),
            extrinsic_hash: Some(format!("0x{}", "ab".repeat(32))),
            block_hash: Some(format!("0x{}", "cd".repeat(32))),
            block: Some(4_812_345),
            reveal_round: Some(u64::from(u32::MAX) + 7),
            commit_epoch: Some(13_000),
            nonce: None,
            era_birth: None,
            era_period: None,
            chain_proven: None,
            checked_at: None,
            // uids above 255 and the full u16 range survive the signed columns
            vector: vec![(1, 65_535), (300, 1), (4095, 32_768)],
        };
        commit.submission_id = catalog.record_weights_submission(&commit).await.unwrap();
        let refused = WeightsSubmissionRecord {
            submission_id: 0,
            attempted_at: at(7),
            call: None,
            outcome: SubmissionOutcome::PreconditionRefused,
            reason: Some("rate limit: 37 blocks remaining".into()),
            tries: 0,
            extrinsic_hash: None,
            block_hash: None,
            block: None,
            reveal_round: None,
            commit_epoch: None,
            nonce: None,
            era_birth: None,
            era_period: None,
            chain_proven: None,
            vector: vec![],
            ..commit.clone()
        };
        let refused_id = catalog.record_weights_submission(&refused).await.unwrap();
        assert!(refused_id > commit.submission_id);

        // The newest attempt is the refusal; the commit still awaits its reveal.
        let latest = catalog.latest_weights_submission().await.unwrap().unwrap();
        assert_eq!(
            latest,
            WeightsSubmissionRecord {
                submission_id: refused_id,
                ..refused
            }
        );
        let pending = catalog.commit_awaiting_reveal().await.unwrap().unwrap();
        assert_eq!(pending, commit);

        // A later run finds it dropped at reveal: no longer awaited.
        catalog
            .record_reveal_check(commit.submission_id, SubmissionOutcome::Dropped, at(9))
            .await
            .unwrap();
        assert_eq!(catalog.commit_awaiting_reveal().await.unwrap(), None);
        assert!(catalog
            .record_reveal_check(9_999, SubmissionOutcome::Revealed, at(9))
            .await
            .is_err());

        // A send whose inclusion was not seen keeps what finds it later,
        // is listed until resolved, and takes the resolution's block.
        let unknown = WeightsSubmissionRecord {
            submission_id: 0,
            attempted_at: at(8),
            call: Some(WeightsCallKind::Plain),
            outcome: SubmissionOutcome::Unknown,
            block_hash: None,
            block: None,
            reveal_round: None,
            commit_epoch: None,
            nonce: Some(u32::MAX),
            era_birth: Some(4_812_400),
            era_period: Some(8),
            chain_proven: None,
            ..commit.clone()
        };
        let unknown_id = catalog.record_weights_submission(&unknown).await.unwrap();
        let unresolved = catalog.unresolved_sends().await.unwrap();
        assert_eq!(
            unresolved,
            vec![WeightsSubmissionRecord {
                submission_id: unknown_id,
                ..unknown.clone()
            }]
        );
        let landed = SendResolution {
            submission_id: unknown_id,
            outcome: SubmissionOutcome::Landed,
            block: Some(4_812_403),
            block_hash: Some(format!("0x{}", "ef".repeat(32))),
            reason: "found in block 4812403".into(),
        };
        catalog
            .record_send_resolution(&landed, at(9))
            .await
            .unwrap();
        assert!(catalog.unresolved_sends().await.unwrap().is_empty());

        // Survives a reopen, with the run it belongs to.
        let reopened = t.reopen().await;
        let latest = reopened
            .catalog()
            .latest_weights_submission()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.run_id, run_id);
        assert_eq!(latest.outcome, SubmissionOutcome::Landed);
        assert_eq!(latest.block, Some(4_812_403));
        assert_eq!(latest.block_hash, landed.block_hash);
        assert_eq!(latest.reason.as_deref(), Some("found in block 4812403"));
        assert_eq!(latest.checked_at, Some(at(9)));
        assert_eq!(latest.nonce, Some(u32::MAX));
        assert_eq!(
            (latest.era_birth, latest.era_period),
            (Some(4_812_400), Some(8))
        );
    })
    .await;
}

#[tokio::test]
async fn a_week_long_listing_adds_only_the_new_entries_and_a_batch_loads_whole_or_not_at_all() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        // More entries than one look-up of the known ones takes (8,192).
        let listed: Vec<AuditEntry> = (0..9_000u32)
            .map(|n| AuditEntry {
                entry_id: format!("00000000-0000-5000-8000-{n:012}"),
                ..entry(1, EntrySource::Miner)
            })
            .collect();
        assert_eq!(
            catalog.record_listed(&listed[..100], at(5)).await.unwrap(),
            100
        );
        let first = &listed[0].entry_id;
        catalog.mark_loaded(first, &loaded(1), at(5)).await.unwrap();
        // The next hour lists the whole window again: only the new ones
        // are added, and the loaded one keeps its state.
        assert_eq!(catalog.record_listed(&listed, at(6)).await.unwrap(), 8_900);
        assert_eq!(
            catalog.entry(first).await.unwrap().unwrap().state,
            EntryState::Loaded
        );

        // A batch naming an entry the catalog lacks changes nothing.
        let record = loaded(3);
        let batch: Vec<(&str, &LoadedEntry)> = vec![
            (listed[1].entry_id.as_str(), &record),
            ("00000000-0000-5000-8000-999999999999", &record),
        ];
        assert!(catalog.mark_all_loaded(&batch, at(6)).await.is_err());
        assert_eq!(
            catalog.loaded_entry_ids(at(0)).await.unwrap(),
            vec![first.clone()]
        );
        let batch: Vec<(&str, &LoadedEntry)> = listed[1..4]
            .iter()
            .map(|e| (e.entry_id.as_str(), &record))
            .collect();
        catalog.mark_all_loaded(&batch, at(6)).await.unwrap();
        let mut ids = catalog.loaded_entry_ids(at(0)).await.unwrap();
        ids.sort();
        let want: Vec<String> = listed[..4].iter().map(|e| e.entry_id.clone()).collect();
        assert_eq!(ids, want, "{}", t.backend());
        assert_eq!(catalog.exports(&listed[2].entry_id).await.unwrap().len(), 2);
    })
    .await;
}

/// A task dropped inside a catalog transaction (a service stage abandoned
/// at its deadline, polled once and dropped here) must not leave the
/// shared connection inside that transaction: the next write commits and
/// a second connection sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_mid_transaction_leaves_the_connection_usable() {
    use std::future::Future as _;
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        // The first poll sends BEGIN and usually waits for the database;
        // a blocking step that finishes at once can let one poll complete
        // the whole write, so try until a poll leaves one half-done.
        let mut abandoned = None;
        for n in 3..24 {
            let listed = [entry(n, EntrySource::Validator)];
            let dropped = catalog.record_listed(&listed, at(1));
            let mut dropped = std::pin::pin!(dropped);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            if dropped.as_mut().poll(&mut cx).is_pending() {
                abandoned = Some(n);
                break;
            }
        }
        let abandoned = abandoned.expect("no write was left half-done to drop");
        let added = catalog
            .record_listed(&[entry(2, EntrySource::Validator)], at(2))
            .await
            .expect("the connection is usable after a dropped transaction");
        assert_eq!(added, 1);
        let other = t.reopen().await;
        let pending = other
            .catalog()
            .entries_in_states(&[EntryState::Pending], at(0))
            .await
            .unwrap();
        // The write after the dropped one is there. Writes one poll
        // completed are there too, and so may the dropped one be, if its
        // COMMIT had gone out before the drop; nothing else is.
        let ids: Vec<&str> = pending.iter().map(|e| e.entry.entry_id.as_str()).collect();
        let want = entry(2, EntrySource::Validator).entry_id;
        assert!(ids.contains(&want.as_str()), "{ids:?} {:?}", t.backend());
        let tried =
            |id: &str| (3..=abandoned).any(|n| entry(n, EntrySource::Validator).entry_id == id);
        assert!(ids.iter().all(|id| *id == want || tried(id)), "{ids:?}");
    })
    .await;
}

/// A sync's self-reports are marked loaded a thousand at a time, in
/// statements that name many entries: each entry still gets its own
/// verdict, an attempt more, and no trace of an earlier rejection; an
/// entry the catalog lacks, in any statement of the batch, changes
/// nothing and is named.
#[tokio::test]
async fn a_large_batch_marks_each_entry_with_its_own_verdict() {
    each_backend(|t: TestStore| async move {
        let catalog = t.store().catalog();
        let listed: Vec<AuditEntry> = (0..2_500u32)
            .map(|n| AuditEntry {
                entry_id: format!("00000000-0000-5000-8000-{n:012}"),
                block: 4_900_000 + n,
                ..entry(1, EntrySource::Miner)
            })
            .collect();
        assert_eq!(
            catalog.record_listed(&listed, at(5)).await.unwrap(),
            2_500,
            "{}",
            t.backend()
        );
        let row = catalog
            .entry(&listed[1_234].entry_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.entry, listed[1_234]);
        assert_eq!((row.state, row.first_seen_at), (EntryState::Pending, at(5)));
        catalog
            .reject(&listed[7].entry_id, "bad report", None, at(5))
            .await
            .unwrap();
        let records: Vec<LoadedEntry> = (0..2_500u64)
            .map(|n| LoadedEntry {
                report_sha256: format!("{n:064x}"),
                unverifiable: n % 3 == 0,
                instance_rows: n,
                commitment_proven: None,
                exports: Vec::new(),
            })
            .collect();
        let batch: Vec<(&str, &LoadedEntry)> = listed
            .iter()
            .zip(&records)
            .map(|(e, r)| (e.entry_id.as_str(), r))
            .collect();

        // The unknown entry sits in the last statement: the first two
        // are taken back with it.
        let mut broken = batch.clone();
        broken.push(("00000000-0000-5000-8000-999999999999", &records[0]));
        let err = catalog.mark_all_loaded(&broken, at(6)).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("00000000-0000-5000-8000-999999999999"),
            "{err}"
        );
        assert!(catalog.loaded_entry_ids(at(0)).await.unwrap().is_empty());

        catalog.mark_all_loaded(&batch, at(6)).await.unwrap();
        assert_eq!(catalog.loaded_entry_ids(at(0)).await.unwrap().len(), 2_500);
        for n in [0usize, 7, 1_023, 1_024, 2_047, 2_499] {
            let row = catalog.entry(&listed[n].entry_id).await.unwrap().unwrap();
            assert_eq!(row.state, EntryState::Loaded, "{n}");
            assert_eq!(row.report_sha256.as_deref(), Some(&*format!("{n:064x}")));
            assert_eq!(row.unverifiable, n % 3 == 0, "{n}");
            assert_eq!(row.instance_rows, n as u64);
            assert_eq!(row.reject_reason, None);
            assert_eq!(row.attempts, if n == 7 { 2 } else { 1 }, "{n}");
            assert_eq!((row.updated_at, row.loaded_at), (at(6), Some(at(6))));
        }
    })
    .await;
}
