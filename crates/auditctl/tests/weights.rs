//! `auditctl weights` end to end on a small lake built by hand: scores,
//! the comparison table, `--explain`, `--json`, and the recorded run.

use std::path::Path;
use std::process::Command;

use audit_store::facts::{self, invocations as inv};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;

const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";

fn at(h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
}

fn invocation_facts(rows: &[(&str, &str, f64)]) -> DataFrame {
    let n = rows.len();
    let started: Vec<i64> = (0..n).map(|_| at(9).and_utc().timestamp_micros()).collect();
    let completed: Vec<i64> = (0..n)
        .map(|_| at(9).and_utc().timestamp_micros() + 1_000_000)
        .collect();
    let frame = df!(
        inv::INVOCATION_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        inv::PARENT_INVOCATION_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        inv::MINER_HOTKEY => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        inv::NC => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        inv::CHUTE_ID => vec!["chute"; n],
        inv::MINER_UID => vec![1i32; n],
        inv::COMPUTE_MULTIPLIER => vec![1.0; n],
        inv::BOUNTY => vec![0.0; n],
        inv::STARTED_AT => started,
        inv::COMPLETED_AT => completed,
    )
    .unwrap();
    facts::conform(frame, FactTable::Invocations, &[]).unwrap()
}

async fn build_lake(data_dir: &Path) {
    let store = Store::open(data_dir, None).await.unwrap();
    let entry = AuditEntry {
        entry_id: "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2".into(),
        hotkey: VALIDATOR.into(),
        block: 100,
        path: format!("audit/validator/{VALIDATOR}/100.json"),
        source: EntrySource::Validator,
        created_at: at(10),
        start_time: at(9),
        end_time: at(10),
    };
    let catalog = store.catalog();
    catalog
        .record_listed(std::slice::from_ref(&entry), at(10))
        .await
        .unwrap();
    let mut frame = invocation_facts(&[
        ("i1", "5MinerA", 3.0),
        ("i2", "5MinerA", 3.0),
        ("i3", "5MinerB", 2.0),
        ("i4", "5MinerC", 2.0),
        ("i5", "5Ghost", 9.0),
    ]);
    store
        .lake()
        .write_facts(&entry.entry_id, FactTable::Invocations, &mut frame)
        .unwrap();
    let loaded = LoadedEntry {
        report_sha256: "00".into(),
        unverifiable: false,
        instance_rows: 0,
        commitment_proven: None,
        exports: vec![],
    };
    catalog
        .mark_loaded(&entry.entry_id, &loaded, at(10))
        .await
        .unwrap();
    let neuron = |uid: u16, hotkey: &str, coldkey: &str, incentive: u16| Neuron {
        uid,
        hotkey: hotkey.into(),
        coldkey: coldkey.into(),
        incentive,
        stake: 0.0,
        last_update: 0,
        validator_permit: false,
    };
    let snapshot = MetagraphSnapshot {
        snapshot_id: 0,
        netuid: 64,
        block: 120,
        taken_at: at(10),
        neurons: vec![
            neuron(0, VALIDATOR, "5ColdV", 0),
            neuron(1, "5MinerA", "5ColdA", 30000),
            neuron(2, "5MinerB", "5ColdB", 30000),
            neuron(3, "5MinerC", "5ColdB", 0),
            neuron(4, "5MinerD", "5ColdD", 5535),
        ],
    };
    catalog.record_metagraph(&snapshot).await.unwrap();
}

fn auditctl(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_compares_with_the_chain_and_records_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build_lake(&data).await;

    // Sending is off by default: the table, the evidence, and no chain
    // asked (sending is tested against the devnet node in set_weights.rs).
    let out = auditctl(&data, &["weights", "--at", "2025-02-10T12:00:00Z"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("weights_table", table);

    let out = auditctl(
        &data,
        &["weights", "--at", "2025-02-10T12:00:00Z", "--json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["run_id"], 2);
    // C shares B's coldkey and scored less: penalised away.
    let hotkeys: Vec<&str> = doc["scores"]["miners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["hotkey"].as_str().unwrap())
        .collect();
    assert_eq!(hotkeys, ["5MinerA", "5MinerB"]);
    assert_eq!(doc["sending"], "not_enabled");
    assert_eq!(doc["coverage"]["unverifiable_entries_used"], 0);
    // The one entry covers 09:00-10:00; the other hours of the week are gaps.
    assert_eq!(
        doc["coverage"]["gaps"].as_array().unwrap().len(),
        7 * 24 - 1
    );
    // The gaps' count is asserted above; the snapshot keeps their ends.
    let mut doc = doc;
    let gaps = doc["coverage"]["gaps"].as_array().unwrap();
    let ends = serde_json::json!([gaps.first(), gaps.last()]);
    doc["coverage"]["gaps"] = ends;
    // As text: serde_json arbitrary_precision (turned on by a chain
    // dependency) makes insta print numbers of a Value as structs.
    insta::assert_snapshot!("weights_json", serde_json::to_string_pretty(&doc).unwrap());

    let out = auditctl(
        &data,
        &[
            "weights",
            "--at",
            "2025-02-10T12:00:00Z",
            "--explain",
            "5MinerC",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("penalised: coldkey 5ColdB is already scored through 5MinerB"),
        "{text}"
    );

    let out = auditctl(
        &data,
        &[
            "weights",
            "--at",
            "2025-02-10T12:00:00Z",
            "--explain",
            "5Ghost",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5Ghost has no score"));

    let out = auditctl(&data, &["weights", "--at", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));

    let store = Store::open(&data, None).await.unwrap();
    let ids = store.catalog().latest_weights_run_ids(10).await.unwrap();
    // Every scoring run is recorded, explained ones too; the bad --at never ran.
    assert_eq!(ids.len(), 4);
    let run = store.catalog().weights_run(ids[0]).await.unwrap().unwrap();
    assert_eq!(run.profile_name, "chutes-default");
    assert_eq!(run.miners.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_without_a_metagraph_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = auditctl(&dir.path().join("data"), &["weights"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `auditctl sync` first"));
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_refuse_a_lake_that_lost_a_loaded_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build_lake(&data).await;
    let entry = data
        .join("lake")
        .join("entries")
        .join("0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2");
    std::fs::remove_dir_all(&entry).unwrap();
    let out = auditctl(
        &data,
        &["weights", "--dry-run", "--at", "2025-02-10T12:00:00Z"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2")
            && stderr.contains("run `auditctl sync`"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstreams_unchanged_config_scores_and_warns_about_its_key_pair() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build_lake(&data).await;
    let upstream = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/upstream-config.yml"
    );
    let out = auditctl(
        &data,
        &[
            "--config",
            upstream,
            "weights",
            "--at",
            "2025-02-10T12:00:00Z",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "5GerCEPSx22bmr5Wnm2wj87SSpZiVvhVqFUrGG5795XkUbjr is not the address of set_weights.secret_seed, \
             which derives 5DCJTfVx3ReNyxW3SgQEKFgvXFuqnK3BNW1vMhTQK4jdZbV4"
        ),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("not sent: set_weights.enabled is false"),
        "{stdout}"
    );
    assert!(!stdout.contains("971c2a66") && !stderr.contains("971c2a66"));
}
