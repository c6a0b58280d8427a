//! End to end on a generated world served over HTTP: sync through the
//! typed client into SQLite and the lake, then `auditctl weights` on it.
//! The chain side here reads the world's own commitments; the simulated
//! node replaces it when it lands.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use audit_store::{MetagraphSnapshot, Neuron, Store};
use audit_sync::{sync, ChainSource, Commitment, SourceError, SyncOptions};
use chrono::NaiveDate;
use chutes_client::{ChutesClient, ClientConfig, Endpoints};
use devnet::{DevnetServer, Faults, GenerateOptions, World};

struct WorldChain(World);

impl ChainSource for WorldChain {
    async fn commitment(&self, hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        let all = self
            .0
            .commitments()
            .map_err(|e| SourceError(e.to_string()))?;
        Ok(all
            .into_iter()
            .find(|(h, b, _)| h == hotkey && *b == block)
            .map(|(_, _, sha)| Commitment::Sha256(sha))
            .unwrap_or(Commitment::None))
    }
    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        Ok(MetagraphSnapshot {
            snapshot_id: 0,
            netuid: self.0.meta.netuid,
            block: 5_000_000,
            taken_at: self.0.now(),
            neurons: self
                .0
                .metagraph
                .iter()
                .map(|n| Neuron {
                    uid: n.uid,
                    hotkey: n.hotkey.clone(),
                    coldkey: n.coldkey.clone(),
                    incentive: n.incentive,
                    stake: n.stake,
                    last_update: 0,
                    validator_permit: n.uid == 0,
                })
                .collect(),
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_world_syncs_over_http_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    let now = NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    devnet::generate(&GenerateOptions {
        out: world_dir.clone(),
        seed: 11,
        miners: 8,
        hours: 6,
        invocations_per_hour: 400,
        now,
    })
    .unwrap();
    let world = World::load(&world_dir).unwrap();
    let validator = world.meta.validator_hotkey.clone();
    let server = DevnetServer::start(world.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = url::Url::parse(&server.url()).unwrap();
    let mut config = ClientConfig::new(Endpoints {
        api: url.clone(),
        llm: url.clone(),
        chute_url_template: format!("{url}{{slug}}"),
    });
    config.backoff = Duration::from_millis(1);
    let client = Arc::new(ChutesClient::new(config).unwrap());
    let data = dir.path().join("data");
    let store = Arc::new(Store::open(&data, None).await.unwrap());
    let options = SyncOptions {
        at: now,
        window_days: 7,
        validators: BTreeMap::from([(validator.clone(), url.to_string())]),
        hotkey: None,
        miner_reports: true,
        load_unverifiable: true,
        concurrency: 4,
        crash_before_catalog: false,
    };
    let chain = Arc::new(WorldChain(world.clone()));
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
    server.set_faults(Faults {
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
