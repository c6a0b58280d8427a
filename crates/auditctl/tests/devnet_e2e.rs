//! End to end on a generated world served over HTTP: sync through the
//! typed client into SQLite and the lake, then `auditctl weights` on it.
//! The chain side is the devnet's simulated node.

use std::sync::Arc;

use audit_store::Store;
use audit_sync::sync;
use chrono::NaiveDate;
use devnet::{Faults, Network, NetworkOptions, World};

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_world_syncs_over_http_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    let now = NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    // Through the CLI, so the world's incentives are derived from its own
    // traffic: the comparison below must then show small deltas.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args([
            "devnet", "generate", "--seed", "11", "--miners", "8", "--hours", "6",
        ])
        .args([
            "--invocations-per-hour",
            "400",
            "--now",
            "2025-02-10T12:00:00Z",
            "--out",
        ])
        .arg(&world_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let world = World::load(&world_dir).unwrap();
    let validator = world.meta.validator_hotkey.clone();
    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    let url = network.http_url();
    let client = Arc::new(network.chutes_client().unwrap());
    let data = dir.path().join("data");
    let store = Arc::new(Store::open(&data, None).await.unwrap());
    let options = network.sync_options(world.now()).with_concurrency(4);
    assert_eq!(options.at, now);
    let chain = Arc::new(network.chain_source().await.unwrap());
    let summary = sync(
        store.clone(),
        client.clone(),
        chain.clone(),
        &options,
        |_, _, _| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.loaded, world.entries.len(), "{summary:?}");
    assert!(summary.rejected.is_empty());
    assert!(summary.duplicates_collapsed > 0, "straddling invocations");
    assert_eq!(summary.malformed_rows, 0);
    assert!(summary.not_miner_work > 0);

    // A tampered export is caught on a fresh store.
    let report: serde_json::Value =
        serde_json::from_slice(&world.report_bytes(&world.entries[0]).unwrap()).unwrap();
    let export = report["csv_exports"]["invocations"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    network.server().set_faults(Faults {
        tamper_exports: vec![export],
        ..Faults::default()
    });
    let other = Arc::new(Store::open(&dir.path().join("other"), None).await.unwrap());
    let tampered = sync(other, client.clone(), chain, &options, |_, _, _| {})
        .await
        .unwrap();
    assert!(tampered.integrity_violation());
    assert_eq!(tampered.rejected.len(), 1);
    drop(store);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--data-dir")
        .arg(&data)
        .args(["weights", "--at", "2025-02-10T12:00:00Z"])
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The default config scores the Chutes validator's entries; this world's
    // validator is the devnet's, so score through a config naming it.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 entries"), "{stdout}");
    let config = dir.path().join("auditctl.yml");
    std::fs::write(
        &config,
        format!("validators:\n  - name: devnet\n    hotkey: {validator}\n    url: {url}\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["weights", "--at", "2025-02-10T12:00:00Z"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("6 entries"), "{table}");
    // Run 2: the run above with the default config was run 1.
    insta::assert_snapshot!("generated_world_weights", table);
}

/// Syncs the devnet's world into `store`, through a chain connection of
/// its own (each backend's run has its own runtime).
async fn sync_world(store: Arc<Store>, network: &Network) -> audit_sync::SyncSummary {
    let options = network
        .sync_options(network.server().world().now())
        .with_concurrency(4);
    sync(
        store,
        Arc::new(network.chutes_client().unwrap()),
        Arc::new(network.chain_source().await.unwrap()),
        &options,
        |_, _, _| {},
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scores_are_the_same_bits_on_every_backend_and_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = devnet::GenerateOptions {
        out: dir.path().join("world"),
        seed: 5,
        miners: 10,
        hours: 5,
        invocations_per_hour: 300,
        now: NaiveDate::from_ymd_opt(2025, 2, 10)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
    };
    devnet::generate(&options).unwrap();
    options.out = dir.path().join("world");
    let world = World::load(&options.out).unwrap();
    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    let url = network.http_url();
    let config = dir.path().join("auditctl.yml");
    std::fs::write(
        &config,
        format!(
            "validators:\n  - name: devnet\n    hotkey: {}\n    url: {url}\n",
            world.meta.validator_hotkey
        ),
    )
    .unwrap();

    let outputs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = outputs.clone();
    audit_store::testing::each_backend(|t| {
        let (network, config, seen) = (&network, config.clone(), seen.clone());
        async move {
            let store = Arc::new(t.reopen().await);
            let summary = sync_world(store, network).await;
            assert!(summary.rejected.is_empty(), "{summary:?}");
            for _ in 0..2 {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditctl"))
                    .arg("--config")
                    .arg(&config)
                    .arg("--data-dir")
                    .arg(t.data_dir())
                    .arg("--database-url")
                    .arg(t.database_url())
                    .args(["--json", "weights", "--at", "2025-02-10T12:00:00Z"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                // Everything but the run id, with floats as their exact bits.
                let bits: Vec<(String, u64, u64)> = report["scores"]["miners"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        (
                            m["hotkey"].as_str().unwrap().to_string(),
                            m["score"].as_f64().unwrap().to_bits(),
                            m["compute_units"].as_f64().unwrap().to_bits(),
                        )
                    })
                    .collect();
                seen.lock().unwrap().push(bits);
            }
        }
    })
    .await;
    let outputs = outputs.lock().unwrap();
    assert!(outputs.len() >= 2);
    assert!(!outputs[0].is_empty());
    for other in outputs.iter().skip(1) {
        assert_eq!(other, &outputs[0], "scores differ between runs or backends");
    }
}
