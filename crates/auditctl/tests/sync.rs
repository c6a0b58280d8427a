//! `auditctl sync` against the devnet (HTTP network and simulated chain
//! node on loopback), on SQLite and PostgreSQL: a clean load and a no-op
//! resync, each integrity fault with exit code 3 (a lying chain node's
//! among them, caught by the read proofs), an unverifiable entry
//! after chain pruning (not loaded unless opted in, its hour a gap), pruning when the window moves, malformed rows
//! counted, a newly published hour caught up, and a crash between the
//! lake and the catalog recovered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use audit_store::testing::{each_backend, TestStore};
use devnet::{Faults, GenerateOptions, Network, NetworkOptions, World};
use serde_json::Value;
use sha2::{Digest, Sha256};

const AT: &str = "2025-02-10T12:00:00Z";

struct Devnet {
    dir: tempfile::TempDir,
    world: World,
    network: Network,
}

/// A small world; `corrupt` appends malformed rows to the first validator
/// export (its hash, report and commitment updated, as a validator
/// publishing bad rows would).
async fn devnet(corrupt: bool) -> Devnet {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("world");
    devnet::generate(&GenerateOptions {
        out: out.clone(),
        seed: 21,
        miners: 5,
        hours: 4,
        invocations_per_hour: 80,
        now: audit_store::time::parse_utc(AT).unwrap(),
    })
    .unwrap();
    let world = World::load(&out).unwrap();
    if corrupt {
        let entry = &world.entries[0];
        let report_file = out.join(&entry.report);
        let mut report: Value =
            serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
        let path = report["csv_exports"]["invocations"]["path"]
            .as_str()
            .unwrap()
            .to_string();
        let csv = world.export_file(&path).unwrap();
        let mut bytes = std::fs::read(&csv).unwrap();
        bytes.extend_from_slice(
            b"only,three,fields\nx,y,z,not-a-uid,1,2,3,4,5,six,7,8,9,10,11,12,13\n",
        );
        std::fs::write(&csv, &bytes).unwrap();
        report["csv_exports"]["invocations"]["sha256"] = hex::encode(Sha256::digest(&bytes)).into();
        std::fs::write(&report_file, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    }
    let world = World::load(&out).unwrap();
    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    Devnet {
        dir,
        world,
        network,
    }
}

impl Devnet {
    /// An auditctl config pointing at this devnet and at `t`'s catalog.
    fn config(&self, t: &TestStore) -> PathBuf {
        self.config_with(t, "")
    }

    /// The same, with more YAML appended (`sync:` settings).
    fn config_with(&self, t: &TestStore, extra: &str) -> PathBuf {
        let url = self.network.http_url();
        let ws = self.network.ws_url();
        let path = self
            .dir
            .path()
            .join(format!("auditctl-{}.yml", t.backend()));
        std::fs::write(
            &path,
            format!(
                "data_dir: {}\ndatabase_url: {}\nendpoints:\n  api: {url}\n  llm: {url}\n\
                 validators:\n  - name: devnet\n    hotkey: {}\n    url: {url}\n\
                 subtensor:\n  url: {ws}\n  archive_url: {ws}\n  timeout_seconds: 5\n{extra}",
                t.data_dir().display(),
                t.database_url(),
                self.world.meta.validator_hotkey
            ),
        )
        .unwrap();
        path
    }

    fn validator_entries(&self) -> Vec<&devnet::world::EntrySpec> {
        self.world
            .entries
            .iter()
            .filter(|e| e.hotkey == self.world.meta.validator_hotkey)
            .collect()
    }
}

/// Runs `auditctl --json sync ARGS`; returns the exit code and the summary.
fn sync(config: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(config)
        .args(["--json", "sync"])
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "exit {code}, no JSON summary; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, summary)
}

fn count(summary: &Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {summary}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_window_loads_and_a_second_sync_is_a_no_op() {
    let net = devnet(false).await;
    each_backend(|t| {
        let net = &net;
        async move {
            let config = net.config(&t);
            let (code, first) = sync(&config, &["--at", AT]);
            assert_eq!(code, 0, "{first}");
            assert_eq!(
                count(&first, "loaded"),
                net.world.entries.len() as u64,
                "{first}"
            );
            assert_eq!(first["rejected"], serde_json::json!([]));
            assert!(count(&first, "rows") > 0);
            assert!(
                count(&first, "duplicates_collapsed") > 0,
                "straddling invocations"
            );
            assert_eq!(
                count(&first, "metagraph_block"),
                net.network.chain().head() as u64
            );
            let (code, second) = sync(&config, &["--at", AT]);
            assert_eq!(code, 0);
            assert_eq!(count(&second, "loaded"), 0, "{second}");
            assert_eq!(
                count(&second, "already_loaded"),
                net.world.entries.len() as u64
            );
            // --no-miner-reports and --hotkey narrow what is considered.
            let (_, narrowed) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(
                count(&narrowed, "already_loaded"),
                net.validator_entries().len() as u64
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_integrity_fault_rejects_exactly_its_entry_with_exit_code_3() {
    let net = devnet(false).await;
    let validator = net.world.meta.validator_hotkey.clone();
    let entries = net.validator_entries();
    let report_of = |i: usize| -> Value {
        serde_json::from_slice(&net.world.report_bytes(entries[i]).unwrap()).unwrap()
    };
    let tampered_export = report_of(0)["csv_exports"]["invocations"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let tampered_report = net.world.report_path(entries[1]);
    net.network.server().set_faults(Faults {
        tamper_exports: vec![tampered_export],
        tamper_reports: vec![tampered_report],
        ..Faults::default()
    });
    net.network
        .chain()
        .withhold(&validator, entries[2].block)
        .unwrap();
    each_backend(|t| {
        let net = &net;
        let entries = &entries;
        async move {
            let config = net.config(&t);
            let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 3, "{summary}");
            assert_eq!(summary["integrity_violation"], true);
            let rejected: BTreeMap<u64, String> = summary["rejected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["block"].as_u64().unwrap(),
                        r["reason"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let blocks: Vec<u64> = entries[..3].iter().map(|e| u64::from(e.block)).collect();
            assert_eq!(
                rejected.keys().copied().collect::<Vec<_>>(),
                blocks,
                "{summary}"
            );
            assert_eq!(count(&summary, "loaded"), (entries.len() - 3) as u64);
            // A rejected entry is tried again next run, and still refused.
            let (code, again) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 3);
            assert_eq!(again["rejected"].as_array().unwrap().len(), 3);
        }
    })
    .await;
}

/// A chain node that lies, consistently in all it answers, about the
/// validator's commitment (one the chain never saw) is refused through
/// the read proof: exactly that entry is rejected as an integrity
/// violation naming the read and the node, the rest load, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_commitment_is_refused_by_its_proof_with_exit_code_3() {
    let net = devnet(false).await;
    let validator = net.world.meta.validator_hotkey.clone();
    let entries = net.validator_entries();
    net.network
        .chain()
        .forge_commitment(&validator, entries[0].block, [9; 32])
        .unwrap();
    each_backend(|t| {
        let net = &net;
        let entries = &entries;
        async move {
            let config = net.config(&t);
            let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 3, "{summary}");
            let rejected = summary["rejected"].as_array().unwrap();
            assert_eq!(rejected.len(), 1, "{summary}");
            assert_eq!(rejected[0]["block"], entries[0].block);
            let reason = rejected[0]["reason"].as_str().unwrap();
            assert!(reason.contains("CommitmentOf"), "{reason}");
            assert!(reason.contains(&net.network.ws_url()), "{reason}");
            assert_eq!(count(&summary, "loaded"), (entries.len() - 1) as u64);
        }
    })
    .await;
}

/// A node serving a stale state root for every block is refused by the
/// header hashes: nothing loads, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_state_root_loads_nothing_with_exit_code_3() {
    let net = devnet(false).await;
    net.network.chain().serve_stale_root(Some(10));
    let t = audit_store::testing::sqlite_store().await;
    let config = net.config(&t);
    let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
    assert_eq!(code, 3, "{summary}");
    assert_eq!(count(&summary, "loaded"), 0, "{summary}");
    let rejected = summary["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), net.validator_entries().len(), "{summary}");
    for r in rejected {
        assert!(r["reason"].as_str().unwrap().contains("hashes to"), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pruned_chain_state_is_not_loaded_unless_the_user_opts_in() {
    let net = devnet(false).await;
    let entries = net.validator_entries();
    net.network.chain().prune_before(entries[1].block);
    each_backend(|t| {
        let net = &net;
        async move {
            // The default: what cannot be proven is not loaded.
            let config = net.config(&t);
            let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 0, "{summary}");
            assert_eq!(count(&summary, "unverifiable"), 1, "{summary}");
            assert_eq!(
                count(&summary, "loaded"),
                net.validator_entries().len() as u64 - 1
            );
            let unproven = audit_store::time::parse_utc(&net.validator_entries()[0].end_time)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
            let gaps = summary["gaps"].as_array().unwrap();
            assert!(
                gaps.contains(&Value::from(unproven.as_str())),
                "the unproven hour {unproven} is a gap"
            );
            let proven = audit_store::time::parse_utc(&net.validator_entries()[1].end_time)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
            assert!(!gaps.contains(&Value::from(proven.as_str())));
            // Opted in: loaded, and the catalog keeps the flag for scores.
            let config = net.config_with(&t, "sync:\n  load_unverifiable: true\n");
            let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 0, "{summary}");
            assert_eq!(count(&summary, "loaded_unverifiable"), 1, "{summary}");
            let store = t.reopen().await;
            let loaded = store
                .catalog()
                .loaded_entries(
                    audit_store::EntrySource::Validator,
                    audit_store::time::parse_utc("2025-02-01T00:00:00").unwrap(),
                    audit_store::time::parse_utc(AT).unwrap(),
                )
                .await
                .unwrap();
            let flagged: Vec<u32> = loaded
                .iter()
                .filter(|e| e.unverifiable)
                .map(|e| e.entry.block)
                .collect();
            assert_eq!(flagged, vec![net.validator_entries()[0].block]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_leave_the_catalog_and_the_lake_when_the_window_moves() {
    let net = devnet(false).await;
    each_backend(|t| {
        let net = &net;
        async move {
            let config = net.config(&t);
            let (code, _) = sync(&config, &["--at", AT]);
            assert_eq!(code, 0);
            let (code, later) = sync(&config, &["--at", "2025-02-17T13:00:00Z"]);
            assert_eq!(code, 0, "{later}");
            assert_eq!(
                count(&later, "pruned"),
                net.world.entries.len() as u64,
                "{later}"
            );
            let lake = t.data_dir().join("lake").join("entries");
            let left = std::fs::read_dir(&lake).map(|d| d.count()).unwrap_or(0);
            assert_eq!(left, 0, "lake folders left in {}", lake.display());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_rows_are_counted_and_the_rest_loads() {
    let net = devnet(true).await;
    each_backend(|t| {
        let net = &net;
        async move {
            let config = net.config(&t);
            let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 0, "{summary}");
            assert_eq!(count(&summary, "malformed_rows"), 2, "{summary}");
            assert_eq!(
                count(&summary, "loaded"),
                net.validator_entries().len() as u64
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newly_published_hour_is_caught_up() {
    let net = devnet(false).await;
    each_backend(|t| {
        let net = &net;
        async move {
            let config = net.config(&t);
            let (code, _) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            assert_eq!(code, 0);
        }
    })
    .await;
    let published = net.network.advance().unwrap();
    let next_hour = "2025-02-10T13:00:00Z";
    each_backend(|t| {
        let net = &net;
        let published = &published;
        async move {
            let config = net.config(&t);
            let (_, _) = sync(&config, &["--at", AT, "--no-miner-reports"]);
            let (code, summary) = sync(&config, &["--at", next_hour, "--no-miner-reports"]);
            assert_eq!(code, 0, "{summary}");
            assert_eq!(count(&summary, "loaded"), 1, "only the new hour: {summary}");
            assert_eq!(published.entry.block, net.network.chain().head());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_the_lake_and_the_catalog_recovers_without_duplicates() {
    let net = devnet(false).await;
    each_backend(|t| {
        let net = &net;
        async move {
            let store = Arc::new(t.reopen().await);
            let client = Arc::new(net.network.chutes_client().unwrap());
            let chain = Arc::new(net.network.chain_source().await.unwrap());
            let options = net
                .network
                .sync_options(audit_store::time::parse_utc(AT).unwrap())
                .with_miner_reports(false)
                .with_concurrency(2);
            let crashed = audit_sync::sync(
                store.clone(),
                client.clone(),
                chain.clone(),
                &options.clone().with_crash_before_catalog(true),
                |_, _, _| {},
            )
            .await;
            assert!(crashed.is_err(), "the injected crash stops the run");
            assert!(
                !store.lake().entries().unwrap().is_empty(),
                "the lake was written first"
            );
            let recovered = audit_sync::sync(store.clone(), client, chain, &options, |_, _, _| {})
                .await
                .unwrap();
            let validator_entries = net.validator_entries().len();
            assert_eq!(recovered.loaded, validator_entries, "{recovered:?}");
            let lake = store.lake().entries().unwrap();
            assert_eq!(
                lake.len(),
                validator_entries,
                "one lake folder per entry, no orphans"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_future_evaluation_time_is_refused_before_anything_is_pruned() {
    let net = devnet(false).await;
    each_backend(|t| {
        let net = &net;
        async move {
            let config = net.config(&t);
            let (code, first) = sync(&config, &["--at", AT]);
            assert_eq!(code, 0, "{first}");
            let loaded = count(&first, "loaded");
            assert!(loaded > 0);

            let year_on = (chrono::Utc::now() + chrono::TimeDelta::days(365))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
                .arg("--config")
                .arg(&config)
                .args(["sync", "--at", &year_on])
                .env_remove("DATABASE_URL")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(stderr.contains("lies in the future"), "{stderr}");

            // Nothing was pruned: the same window is still all there.
            let (code, again) = sync(&config, &["--at", AT]);
            assert_eq!(code, 0, "{again}");
            assert_eq!(count(&again, "pruned"), 0, "{again}");
            assert_eq!(count(&again, "already_loaded"), loaded, "{again}");
        }
    })
    .await;
}

/// Runs `auditctl --json ARGS` (with `--set` overrides first); returns the
/// exit code, the JSON printed and stderr.
fn auditctl_json(config: &Path, set: &[&str], args: &[&str]) -> (i32, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditctl"));
    command.arg("--config").arg(config).arg("--json");
    for pair in set {
        command.args(["--set", pair]);
    }
    let out = command
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("exit {code}, no JSON; stderr: {stderr}"));
    (code, json, stderr)
}

/// Turning proofs off is loud and recorded: the load warns, the sync
/// says its reads were unproven, and the entries it loaded carry that
/// into `status` and the scores' evidence. With proofs on (the default)
/// none of it appears.
#[tokio::test(flavor = "multi_thread")]
async fn chain_proofs_turned_off_are_warned_about_and_recorded_with_each_entry() {
    let net = devnet(false).await;
    let entries = net.validator_entries().len();
    each_backend(|t| {
        let net = &net;
        async move {
            let config = net.config(&t);
            let off = ["subtensor.proofs=false"];
            let sync = ["sync", "--at", AT, "--no-miner-reports"];
            let (code, summary, stderr) = auditctl_json(&config, &off, &sync);
            assert_eq!(code, 0, "{summary} {stderr}");
            assert_eq!(summary["chain_proofs"], false, "{summary}");
            assert!(stderr.contains("subtensor.proofs is false"), "{stderr}");
            assert_eq!(count(&summary, "loaded"), entries as u64);

            let (_, status, _) = auditctl_json(&config, &[], &["status", "--at", AT]);
            let unproven = status["coverage"]["unproven"].as_array().unwrap();
            assert_eq!(unproven.len(), entries, "{status}");
            let (_, weights, _) = auditctl_json(&config, &[], &["weights", "--at", AT]);
            assert_eq!(
                weights["coverage"]["unproven_entries_used"], entries,
                "{weights}"
            );
        }
    })
    .await;

    // The default proves, and says nothing of it.
    let t = audit_store::testing::sqlite_store().await;
    let config = net.config(&t);
    let sync = ["sync", "--at", AT, "--no-miner-reports"];
    let (code, summary, stderr) = auditctl_json(&config, &[], &sync);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["chain_proofs"], true);
    assert!(!stderr.contains("proofs"), "{stderr}");
    let (_, status, _) = auditctl_json(&config, &[], &["status", "--at", AT]);
    assert_eq!(status["coverage"]["unproven"], serde_json::json!([]));
}

/// A node that answers two miners' hotkeys swapped (in `Keys`, `Uids` and
/// the runtime API alike, its proofs built from the lie) cannot slip its
/// metagraph into the catalog: the metagraph fails its proof, the sync
/// names it and exits 3, and no snapshot is recorded, so nothing is
/// scored on the lie. Every other read of that node fails its proof too
/// (one state root for all): no entry loads until it tells the truth.
#[tokio::test(flavor = "multi_thread")]
async fn a_metagraph_with_swapped_keys_is_an_integrity_violation_and_not_recorded() {
    let net = devnet(false).await;
    net.network.chain().swap_keys(Some((1, 2)));
    let t = audit_store::testing::sqlite_store().await;
    let config = net.config(&t);
    let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
    assert_eq!(code, 3, "{summary}");
    assert_eq!(summary["metagraph_block"], Value::Null, "{summary}");
    let chain = summary["chain_integrity"].as_array().unwrap();
    assert_eq!(chain.len(), 1, "{summary}");
    assert!(
        chain[0].as_str().unwrap().contains("metagraph"),
        "{summary}"
    );
    assert_eq!(count(&summary, "loaded"), 0, "{summary}");
    let rejected = summary["rejected"].as_array().unwrap();
    assert!(rejected.iter().all(|r| r["integrity"] == true), "{summary}");
    let catalog = t.store().catalog();
    let at = audit_store::time::parse_utc(AT).unwrap();
    let snapshot = catalog
        .metagraph_at(net.world.meta.netuid, at)
        .await
        .unwrap();
    assert!(snapshot.is_none(), "{snapshot:?}");

    // The same node telling the truth again: the sync is clean.
    net.network.chain().swap_keys(None);
    let (code, summary) = sync(&config, &["--at", AT, "--no-miner-reports"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["chain_integrity"], serde_json::json!([]));
    assert!(summary["metagraph_block"].is_u64(), "{summary}");
    assert_eq!(
        count(&summary, "loaded"),
        net.validator_entries().len() as u64
    );
}
