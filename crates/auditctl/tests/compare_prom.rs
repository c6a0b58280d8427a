//! `auditctl compare-prom` on a generated week: a world of 6 miners whose
//! self-reports under-report by their own factor (miner 1 publishes none),
//! with two of miner 5's hours removed, synced over HTTP from the devnet
//! with its chain node. Then the table, `--explain`, `--json`, exit codes,
//! and live mode against the devnet's simulated Prometheus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use audit_store::Store;
use audit_sync::sync;
use chrono::NaiveDateTime;
use devnet::{DevnetServer, GenerateOptions, Network, NetworkOptions, World};
use serde_json::Value;

const AT: &str = "2025-02-10T12:00:00Z";
const MINERS: usize = 6;

/// The factor by which the generator's miner `i` under-reports.
fn factor(i: usize) -> Option<f64> {
    (i != 1).then(|| 0.6 + 0.4 * ((i * 37) % 11) as f64 / 10.0)
}

struct Fixture {
    _dir: tempfile::TempDir,
    world_dir: PathBuf,
    data: PathBuf,
    config: PathBuf,
    /// Miner hotkeys by generator index.
    hotkeys: Vec<String>,
    /// The starts of miner 5's removed hours.
    removed: Vec<NaiveDateTime>,
}

/// CLI runs write to one SQLite catalog: one at a time.
static CLI: Mutex<()> = Mutex::new(());

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(build())
        })
        .join()
        .unwrap()
    })
}

async fn build() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    devnet::generate(&GenerateOptions {
        out: world_dir.clone(),
        seed: 64,
        miners: MINERS,
        hours: 170,
        invocations_per_hour: 40,
        now: audit_store::time::parse_utc(AT).unwrap(),
    })
    .unwrap();
    let mut world = World::load(&world_dir).unwrap();
    let hotkeys: Vec<String> = (0..MINERS)
        .map(|i| {
            let uid = i as u16 + 1;
            world
                .metagraph
                .iter()
                .find(|n| n.uid == uid)
                .unwrap()
                .hotkey
                .clone()
        })
        .collect();
    // Remove two of miner 5's hours from what the network lists.
    let own: Vec<String> = world
        .entries
        .iter()
        .filter(|e| e.hotkey == hotkeys[5])
        .map(|e| e.start_time.clone())
        .collect();
    let removed_times = [own[30].clone(), own[100].clone()];
    world
        .entries
        .retain(|e| !(e.hotkey == hotkeys[5] && removed_times.contains(&e.start_time)));
    std::fs::write(
        world_dir.join("entries.json"),
        serde_json::to_vec_pretty(&world.entries).unwrap(),
    )
    .unwrap();
    let world = World::load(&world_dir).unwrap();
    let removed = removed_times
        .iter()
        .map(|t| audit_store::time::parse_utc(t).unwrap())
        .collect();

    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    let url = network.http_url();
    let chain = Arc::new(network.chain_source().await.unwrap());
    let data = dir.path().join("data");
    let store = Arc::new(Store::open(&data, None).await.unwrap());
    let options = network
        .sync_options(world.now())
        .with_window_days(7)
        .with_miner_reports(true)
        .with_concurrency(4);
    let summary = sync(
        store,
        Arc::new(network.chutes_client().unwrap()),
        chain,
        &options,
        |_, _, _| {},
    )
    .await
    .unwrap();
    assert!(summary.rejected.is_empty(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    let config = dir.path().join("auditctl.yml");
    std::fs::write(
        &config,
        format!(
            "validators:\n  - name: devnet\n    hotkey: {}\n    url: {url}\n",
            world.meta.validator_hotkey
        ),
    )
    .unwrap();
    Fixture {
        _dir: dir,
        world_dir,
        data,
        config,
        hotkeys,
        removed,
    }
}

fn auditctl(f: &Fixture, args: &[&str]) -> Output {
    let _one = CLI.lock().unwrap_or_else(|e| e.into_inner());
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(&f.config)
        .arg("--data-dir")
        .arg(&f.data)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The table's first line names the run id, which depends on how many
/// runs the other tests recorded first.
fn without_run_id(text: &str) -> String {
    let (first, rest) = text.split_once('\n').unwrap();
    let (_, after) = first.split_once(" at ").unwrap();
    format!("compare-prom run [id] at {after}\n{rest}")
}

fn hours_of(value: &Value) -> Vec<NaiveDateTime> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|h| audit_store::time::parse_utc(h.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn flags_exactly_the_under_reporters_and_finds_the_removed_hours() {
    let f = fixture();
    let run = json(&auditctl(f, &["--json", "compare-prom", "--at", AT]));
    let miners = run["miners"].as_array().unwrap();
    let by_hotkey: BTreeMap<&str, &Value> = miners
        .iter()
        .map(|m| (m["hotkey"].as_str().unwrap(), m))
        .collect();
    let flagged: BTreeSet<&str> = miners
        .iter()
        .filter(|m| m["agreement"]["verdict"] == "flagged")
        .map(|m| m["hotkey"].as_str().unwrap())
        .collect();
    let under_reporting: BTreeSet<&str> = (0..MINERS)
        .filter(|&i| factor(i).is_some_and(|f| f < 0.9))
        .map(|i| f.hotkeys[i].as_str())
        .collect();
    assert_eq!(flagged, under_reporting);
    assert_eq!(under_reporting.len(), 3);
    let silent = by_hotkey[f.hotkeys[1].as_str()];
    assert_eq!(silent["agreement"]["verdict"], "no_metrics");
    assert_eq!(silent["agreement"]["reported_count"], Value::Null);

    // Coverage: exactly the removed hours are missing; the others are full.
    for (i, hotkey) in f.hotkeys.iter().enumerate() {
        let coverage = &by_hotkey[hotkey.as_str()]["coverage"];
        let missing = hours_of(&coverage["missing_hours"]);
        match i {
            1 => assert_eq!(missing.len(), 167),
            5 => {
                assert_eq!(missing, f.removed);
                assert_eq!(coverage["seconds"], 166 * 3600);
                assert_eq!(coverage["full"], false);
            }
            _ => {
                assert!(missing.is_empty(), "miner {i}: {missing:?}");
                assert_eq!(coverage["full"], true);
            }
        }
    }
    // Sorted by worst agreement: ratios ascend until the miners without.
    let ratios: Vec<f64> = miners
        .iter()
        .map_while(|m| m["agreement"]["ratio"].as_f64())
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] <= w[1]), "{ratios:?}");
    assert_eq!(run["summary"]["flagged"], 3);

    // Findings are not failures, unless asked.
    let table = auditctl(f, &["compare-prom", "--at", AT]);
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("3 flagged (agreement < 0.9)"), "{text}");
    insta::assert_snapshot!("compare_prom_table", without_run_id(&text));
    let out = auditctl(f, &["compare-prom", "--at", AT, "--fail-on-flagged"]);
    assert_eq!(out.status.code(), Some(3));
    let out = auditctl(
        f,
        &[
            "compare-prom",
            "--at",
            AT,
            "--threshold",
            "0.5",
            "--fail-on-flagged",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "nobody is below 0.5");
    let out = auditctl(f, &["compare-prom", "--at", AT, "--threshold", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_names_the_chutes_and_hours_that_differ() {
    let f = fixture();
    let hotkey = f.hotkeys[5].as_str();
    let out = auditctl(f, &["compare-prom", "--at", AT, "--explain", hotkey]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("compare_prom_explain", text);

    let e = json(&auditctl(
        f,
        &["--json", "compare-prom", "--at", AT, "--explain", hotkey],
    ));
    let no_report: Vec<NaiveDateTime> = e["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "no_report")
        .map(|h| audit_store::time::parse_utc(h["hour"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(no_report, f.removed);
    // The chutes add up to the miner's totals.
    let sum = |side: &str| -> u64 {
        e["by_chute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["agreement"][side].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        sum("validator_count"),
        e["miner"]["agreement"]["validator_count"].as_u64().unwrap()
    );
    assert_eq!(
        sum("reported_count"),
        e["miner"]["agreement"]["reported_count"].as_u64().unwrap()
    );

    // A miner whose reports say Prometheus restarted: its shortfalls are
    // expected gaps, not disagreements.
    let e = json(&auditctl(
        f,
        &[
            "--json",
            "compare-prom",
            "--at",
            AT,
            "--explain",
            &f.hotkeys[0],
        ],
    ));
    let statuses: BTreeSet<&str> = e["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["reported_count"].is_u64())
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert!(!statuses.contains("differs"), "{statuses:?}");
    assert!(statuses.contains("expected_gap"), "{statuses:?}");

    let out = auditctl(f, &["compare-prom", "--at", AT, "--explain", "5Nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5Nobody has no invocation"));
}

/// Live mode for `hotkey` against the devnet serving the fixture's world.
fn live(f: &Fixture, server: &DevnetServer, hotkey: &str) -> Value {
    let url = format!("{}_devnet/prometheus/{hotkey}", server.url());
    json(&auditctl(
        f,
        &[
            "--json",
            "compare-prom",
            "--at",
            AT,
            "--prometheus-url",
            &url,
            "--hotkey",
            hotkey,
        ],
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn live_mode_agrees_with_the_simulated_prometheus_and_names_where_it_differs() {
    let f = fixture();
    let world = World::load(&f.world_dir).unwrap();
    let server = DevnetServer::start(world, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let hotkey = f.hotkeys[5].clone();
    let (live, explained) = tokio::task::spawn_blocking(move || {
        let f = fixture();
        let live = live(f, &server, &hotkey);
        let e = json(&auditctl(
            f,
            &["--json", "compare-prom", "--at", AT, "--explain", &hotkey],
        ));
        (live, e)
    })
    .await
    .unwrap();
    // Hour by hour, the Prometheus counters give what the self-reports
    // said, except in the removed hours: there the counter stood still.
    let reported: BTreeMap<&str, Option<u64>> = explained["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["validator_count"].is_u64())
        .map(|h| (h["hour"].as_str().unwrap(), h["reported_count"].as_u64()))
        .collect();
    let hours = live["hours"].as_array().unwrap();
    assert_eq!(hours.len(), reported.len());
    for h in hours {
        let at = h["hour"].as_str().unwrap();
        assert_eq!(
            h["validator_count"].as_u64(),
            reported_validator(&explained, at)
        );
        let from_prometheus = h["reported_count"].as_u64().unwrap_or(0);
        assert_eq!(from_prometheus, reported[at].unwrap_or(0), "hour {at}");
    }
    let differing: BTreeSet<NaiveDateTime> =
        hours_of(&live["differing_hours"]).into_iter().collect();
    let expected: BTreeSet<NaiveDateTime> = explained["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "differs" || h["status"] == "no_report")
        .map(|h| audit_store::time::parse_utc(h["hour"].as_str().unwrap()).unwrap())
        .collect();
    assert!(f.removed.iter().all(|h| differing.contains(h)));
    assert_eq!(differing, expected);
    assert!(live["restarted_hours"].as_array().unwrap().is_empty());
}

fn reported_validator(explained: &Value, hour: &str) -> Option<u64> {
    explained["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hour"] == hour)
        .and_then(|h| h["validator_count"].as_u64())
}

#[tokio::test(flavor = "multi_thread")]
async fn live_mode_marks_prometheus_restarts_as_expected_gaps() {
    let f = fixture();
    let world = World::load(&f.world_dir).unwrap();
    let server = DevnetServer::start(world, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = server.url();
    let hotkey = f.hotkeys[3].clone();
    let (restarting, wrong) = tokio::task::spawn_blocking(move || {
        let f = fixture();
        let restarting = live(f, &server, &hotkey);
        // Not a Prometheus: the answer is refused, exit code 1.
        let wrong = auditctl(
            f,
            &[
                "compare-prom",
                "--at",
                AT,
                "--prometheus-url",
                &format!("{url}nothing-here"),
                "--hotkey",
                &hotkey,
            ],
        );
        (restarting, wrong)
    })
    .await
    .unwrap();
    // Its counter drops at every restart it can be seen in (a counter
    // standing at zero shows none): those hours are expected gaps.
    let hours = restarting["hours"].as_array().unwrap();
    let restarted: Vec<&Value> = hours.iter().filter(|h| h["restarted"] == true).collect();
    assert!(
        restarted.len() * 2 > hours.len(),
        "{} of {}",
        restarted.len(),
        hours.len()
    );
    assert!(restarted.iter().all(|h| h["status"] != "differs"));
    assert!(restarted.iter().any(|h| h["status"] == "expected_gap"));
    assert_eq!(restarting["agreement"]["verdict"], "flagged");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("refused the query (HTTP 404)"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}
