//! `auditctl synth` and `auditctl synth verify` against a served devnet
//! and its chain: every task type records its attempts with real outputs,
//! a forced failure records both attempts, the check is clean after the
//! hour is published and synced, dropped and re-routed attempts are named
//! exactly (exit 3), and refused requests are reported, never recorded.

use std::path::{Path, PathBuf};

use audit_store::{Store, Synthetic, SyntheticCheck};
use chrono::NaiveDateTime;
use devnet::{Faults, Network, NetworkOptions, World};
use serde_json::Value;

const API_KEY: &str = "cpk_devnet0123.synthetic.secret";

struct Net {
    dir: tempfile::TempDir,
    network: Network,
    config: PathBuf,
}

/// A small generated world served over HTTP, its chain committing every
/// hour the server publishes, and a config pointing auditctl at both.
async fn start() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    devnet::generate(&devnet::GenerateOptions {
        out: world_dir.clone(),
        seed: 11,
        miners: 6,
        hours: 2,
        invocations_per_hour: 50,
        now: audit_store::time::parse_utc("2025-02-10T12:00:00").unwrap(),
    })
    .unwrap();
    let world = World::load(&world_dir).unwrap();
    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    let url = network.http_url();
    let ws = network.ws_url();
    let config = dir.path().join("auditctl.yml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {data}\napi_key: {API_KEY}\n\
             endpoints:\n  api: {url}\n  llm: {url}\n  chute_url_template: \"{url}chute/{{slug}}\"\n  timeout_seconds: 10\n\
             validators:\n  - name: devnet\n    hotkey: {validator}\n    url: {url}\n\
             subtensor:\n  url: {ws}\n  archive_url: {ws}\n",
            data = dir.path().join("data").display(),
            validator = world.meta.validator_hotkey,
        ),
    )
    .unwrap();
    Net {
        dir,
        network,
        config,
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl Net {
    /// Runs auditctl with this net's config, off the async workers so the
    /// in-process servers keep answering.
    async fn auditctl(&self, args: &[&str]) -> Run {
        let config = self.config.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditctl"))
                .arg("--config")
                .arg(&config)
                .args(&args)
                .env_remove("DATABASE_URL")
                .env_remove("CHUTES_API_KEY")
                .env_remove("AUDITCTL_CONFIG")
                .env("HF_HOME", "/nonexistent-hf-home")
                .output()
                .unwrap();
            Run {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    async fn recorded(&self) -> Vec<Synthetic> {
        let store = Store::open(&self.dir.path().join("data"), None)
            .await
            .unwrap();
        let far = audit_store::time::parse_utc("2100-01-01T00:00:00").unwrap();
        store
            .catalog()
            .synthetics_between(NaiveDateTime::default(), far)
            .await
            .unwrap()
    }

    /// Publishes the open hour and an empty one after it (so the first
    /// hour lies before the newest entry's start), then syncs.
    async fn publish_and_sync(&self) {
        self.network.advance().unwrap();
        let published = self.network.advance().unwrap();
        let at = published.entry.created_at.clone();
        let sync = self.auditctl(&["sync", "--at", &at]).await;
        assert_eq!(sync.code, Some(0), "{}\n{}", sync.stdout, sync.stderr);
    }
}

fn outcomes(run: &Value) -> Vec<Value> {
    run["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["outcomes"].as_array().unwrap().clone())
        .collect()
}

fn by_parent<'a>(recorded: &'a [Synthetic], parent: &str) -> Vec<&'a Synthetic> {
    let mut attempts: Vec<&Synthetic> = recorded
        .iter()
        .filter(|s| s.parent_invocation_id == parent)
        .collect();
    attempts
        .sort_by(|a, b| (a.created_at, &a.invocation_id).cmp(&(b.created_at, &b.invocation_id)));
    attempts
}

#[tokio::test(flavor = "multi_thread")]
async fn each_type_records_its_attempts_and_its_output_is_real() {
    let net = start().await;
    let run = net
        .auditctl(&["--json", "synth", "--type", "all", "--seed", "7"])
        .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let sent = outcomes(&report);
    let tasks: Vec<&str> = sent.iter().map(|o| o["task"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["chat", "completion", "image", "tts", "embed"]);
    for o in &sent {
        assert_eq!(o["result"], "sent", "{o}");
        assert!(o["failure"].is_null(), "{o}");
    }
    // The outputs as decoded: streamed text, a PNG that decodes, a WAV
    // with samples, an embedding with a shape.
    let output = |i: usize| &sent[i]["output"];
    assert_eq!(output(0)["kind"], "text");
    assert!(
        output(0)["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count()
            >= 5
    );
    assert!(
        output(0)["chunks"].as_u64().unwrap() >= 10,
        "max_tokens is at least 10"
    );
    assert_eq!(output(1)["kind"], "text");
    assert_eq!(
        (
            output(2)["kind"].as_str(),
            output(2)["width"].as_u64(),
            output(2)["height"].as_u64()
        ),
        (Some("image"), Some(32), Some(32))
    );
    assert_eq!(output(3)["kind"], "audio");
    assert!(output(3)["samples"].as_u64().unwrap() > 0);
    assert_eq!(output(3)["sample_rate"], 16_000);
    assert_eq!(
        (output(4)["rows"].as_u64(), output(4)["dims"].as_u64()),
        (Some(1), Some(16))
    );

    // Every attempt is in the catalog, as the router made it: the same
    // ids, instances and miners the devnet put in the open hour's export.
    let recorded = net.recorded().await;
    let rows = net.network.server().open_hour_rows();
    assert_eq!(recorded.len(), rows.len());
    for o in &sent {
        let parent = o["parent_invocation_id"].as_str().unwrap();
        let attempts = by_parent(&recorded, parent);
        assert_eq!(attempts.len(), o["attempts"].as_array().unwrap().len());
        assert!(!attempts.is_empty());
        assert!(attempts
            .iter()
            .all(|s| s.task == o["task"].as_str().unwrap()));
        assert!(attempts.iter().all(|s| s.check == SyntheticCheck::Pending));
    }
    for s in &recorded {
        let row = rows
            .iter()
            .find(|r| r.invocation_id == s.invocation_id)
            .expect("exported");
        assert_eq!(row.parent_invocation_id, s.parent_invocation_id);
        assert_eq!(row.instance_id, s.instance_id);
        assert_eq!(row.miner_hotkey, s.miner_hotkey);
        assert_eq!(
            row.error_message.is_none(),
            !s.has_error,
            "{row:?} vs {s:?}"
        );
    }
    // The trace is logged in the upstream style; the key never shows.
    assert!(
        run.stderr.contains("]: attempting to query target="),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(" uid=") && run.stderr.contains(" coldkey="));
    assert!(!run.stdout.contains(API_KEY) && !run.stderr.contains(API_KEY));

    // The same seed makes the same choices.
    let again = net
        .auditctl(&[
            "--json", "synth", "--type", "chat", "--type", "image", "--seed", "7",
        ])
        .await
        .json();
    let chutes = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|o| o["chute_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(chutes(&outcomes(&again))[0], chutes(&sent)[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forced_failure_records_both_attempts_with_the_error_on_the_first() {
    let net = start().await;
    net.network.server().set_faults(Faults {
        fail_attempts: 1,
        ..Faults::default()
    });
    let run = net
        .auditctl(&["--json", "synth", "--type", "embed", "--seed", "3"])
        .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let outcome = &outcomes(&run.json())[0];
    let recorded = net.recorded().await;
    let attempts = by_parent(&recorded, outcome["parent_invocation_id"].as_str().unwrap());
    assert!(attempts.len() >= 2, "{attempts:?}");
    assert!(attempts[0].has_error);
    assert!(!attempts.last().unwrap().has_error);
    assert_ne!(attempts[0].invocation_id, attempts[1].invocation_id);
    let table = net
        .auditctl(&["synth", "--type", "embed", "--no-render"])
        .await;
    assert!(table.stdout.contains("retried"), "{}", table.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_is_clean_once_exported_and_names_exactly_the_dropped_and_rerouted() {
    let net = start().await;
    let clean = net
        .auditctl(&[
            "--json", "synth", "--type", "chat", "--type", "embed", "--seed", "5",
        ])
        .await;
    assert_eq!(clean.code, Some(0), "{}", clean.stderr);
    let first = net.recorded().await.len();

    // Not exported yet: nothing judged, nothing flagged.
    let early = net.auditctl(&["--json", "synth", "verify"]).await;
    assert_eq!(early.code, Some(0), "{}\n{}", early.stdout, early.stderr);
    assert_eq!(early.json()["checked"], 0);

    net.publish_and_sync().await;
    let verified = net.auditctl(&["--json", "synth", "verify"]).await;
    assert_eq!(
        verified.code,
        Some(0),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
    let v = verified.json();
    assert_eq!(v["checked"].as_u64(), Some(first as u64));
    assert_eq!(v["present"].as_u64(), Some(first as u64));
    assert!(v["findings"].as_array().unwrap().is_empty());
    let human = net.auditctl(&["synth", "verify"]).await;
    assert!(
        human
            .stdout
            .contains(&format!("{first} synthetic attempt(s) checked")),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("clean"), "{}", human.stdout);

    // The next image's first attempt is left out of the export, the next
    // TTS's first attempt is exported under another miner.
    net.network.server().set_faults(Faults {
        drop_attempts: 1,
        ..Faults::default()
    });
    let dropped = net
        .auditctl(&["--json", "synth", "--type", "image", "--seed", "6"])
        .await
        .json();
    net.network.server().set_faults(Faults {
        reroute_attempts: 1,
        ..Faults::default()
    });
    let rerouted = net
        .auditctl(&["--json", "synth", "--type", "tts", "--seed", "6"])
        .await
        .json();
    let rows = net.network.server().open_hour_rows();
    net.publish_and_sync().await;

    let recorded = net.recorded().await;
    let first_attempt = |run: &Value| {
        let parent = outcomes(run)[0]["parent_invocation_id"]
            .as_str()
            .unwrap()
            .to_string();
        by_parent(&recorded, &parent)[0].clone()
    };
    let (lost, moved) = (first_attempt(&dropped), first_attempt(&rerouted));
    let moved_to = rows
        .iter()
        .find(|r| r.invocation_id == moved.invocation_id)
        .map(|r| r.miner_hotkey.clone())
        .unwrap();
    assert_ne!(moved_to, moved.miner_hotkey);

    let flagged = net.auditctl(&["--json", "synth", "verify"]).await;
    assert_eq!(
        flagged.code,
        Some(3),
        "{}\n{}",
        flagged.stdout,
        flagged.stderr
    );
    let v = flagged.json();
    assert_eq!(v["checked"].as_u64(), Some(recorded.len() as u64));
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{findings:#?}");
    let missing = findings.iter().find(|f| f["verdict"] == "missing").unwrap();
    assert_eq!(missing["invocation_id"], lost.invocation_id.as_str());
    assert_eq!(
        missing["parent_invocation_id"],
        lost.parent_invocation_id.as_str()
    );
    assert_eq!(missing["task"], "image");
    assert_eq!(missing["chute_id"], lost.chute_id.as_str());
    assert_eq!(missing["expected_hotkey"], lost.miner_hotkey.as_str());
    assert_eq!(missing["found_hotkeys"], serde_json::json!([]));
    let other = findings
        .iter()
        .find(|f| f["verdict"] == "rerouted")
        .unwrap();
    assert_eq!(other["invocation_id"], moved.invocation_id.as_str());
    assert_eq!(other["task"], "tts");
    assert_eq!(other["expected_hotkey"], moved.miner_hotkey.as_str());
    assert_eq!(other["found_hotkeys"], serde_json::json!([moved_to]));

    // The verdicts are stored with the attempts.
    let after = net.recorded().await;
    let verdict = |id: &str| after.iter().find(|s| s.invocation_id == id).unwrap().check;
    assert_eq!(verdict(&lost.invocation_id), SyntheticCheck::Missing);
    assert_eq!(verdict(&moved.invocation_id), SyntheticCheck::Rerouted);
    assert_eq!(
        after
            .iter()
            .filter(|s| s.check == SyntheticCheck::Present)
            .count(),
        after.len() - 2
    );
    // The table names them in full too.
    let human = net.auditctl(&["synth", "verify"]).await;
    assert_eq!(human.code, Some(3));
    for needle in [
        &lost.invocation_id,
        &moved.invocation_id,
        &moved_to,
        &lost.parent_invocation_id,
    ] {
        assert!(
            human.stdout.contains(needle.as_str()),
            "{needle}: {}",
            human.stdout
        );
    }
    // The report page counts what `synth verify --json` found.
    // At the world's time: every judged synthetic is before covered_until.
    let at = format!("{}Z", v["covered_until"].as_str().unwrap());
    let page = net
        .auditctl(&["--json", "report", "--at", &at])
        .await
        .json();
    let tallies = page["synthetics"].as_array().unwrap();
    let total = |field: &str| -> u64 { tallies.iter().map(|t| t[field].as_u64().unwrap()).sum() };
    assert_eq!(total("present"), v["present"].as_u64().unwrap(), "{page:#}");
    assert_eq!((total("missing"), total("rerouted")), (1, 1), "{page:#}");
    let found: Vec<&str> = page["synthetic_findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["invocation_id"].as_str().unwrap())
        .collect();
    assert!(found.contains(&lost.invocation_id.as_str()), "{found:?}");
    assert!(found.contains(&moved.invocation_id.as_str()), "{found:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_are_reported_and_never_recorded() {
    let net = start().await;
    net.network.server().set_faults(Faults {
        refuse_invocations: vec![401, 429],
        ..Faults::default()
    });
    let run = net
        .auditctl(&["--json", "synth", "--type", "embed", "--count", "2"])
        .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let outcomes = outcomes(&run.json());
    let statuses: Vec<(String, u64)> = outcomes
        .iter()
        .map(|o| {
            (
                o["result"].as_str().unwrap().to_string(),
                o["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses, [("refused".into(), 401), ("refused".into(), 429)]);
    assert!(outcomes[0]["meaning"].as_str().unwrap().contains("API key"));
    assert!(outcomes[1]["meaning"]
        .as_str()
        .unwrap()
        .contains("overloaded"));
    assert!(net.recorded().await.is_empty());
    assert!(net.network.server().open_hour_rows().is_empty());
    assert!(!run.stdout.contains(API_KEY) && !run.stderr.contains(API_KEY));

    // Without a key nothing is sent: a configuration error.
    let config = std::fs::read_to_string(&net.config).unwrap();
    std::fs::write(
        &net.config,
        config.replace(&format!("api_key: {API_KEY}\n"), ""),
    )
    .unwrap();
    let keyless = net.auditctl(&["synth"]).await;
    assert_eq!(keyless.code, Some(2), "{}", keyless.stderr);
    assert!(keyless.stderr.contains("api_key"), "{}", keyless.stderr);
    let bad = net.auditctl(&["synth", "--type", "poetry"]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(Path::new(&net.config).exists());
}

/// Arms a hostile switch on this net's server.
fn arm(net: &Net, hostile: devnet::Hostile) {
    net.network.server().set_faults(Faults {
        hostile,
        ..Faults::default()
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_stream_of_attempts_ends_the_request_at_the_cap() {
    let net = start().await;
    arm(
        &net,
        devnet::Hostile {
            endless_attempts: true,
            ..devnet::Hostile::default()
        },
    );
    let started = std::time::Instant::now();
    let endless = net
        .auditctl(&["--json", "synth", "--type", "chat", "--seed", "3"])
        .await;
    let outcome = outcomes(&endless.json())[0].clone();
    assert_eq!(outcome["result"], "sent", "{}", outcome["result"]);
    let failure = outcome["failure"].as_str().unwrap_or_default();
    let attempts = outcome["attempts"].as_array().unwrap().len();
    assert!(
        failure.contains("trace events"),
        "{failure} ({attempts} attempts)"
    );
    assert_eq!(attempts, synthetics::MAX_TRACE_EVENTS, "{failure}");
    assert_eq!(net.recorded().await.len(), attempts);
    // Well before the request's 10 s timeout.
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_stream_line_is_refused_at_the_line_cap_in_linear_time() {
    let net = start().await;
    arm(
        &net,
        devnet::Hostile {
            huge_trace_line: 64 << 20,
            ..devnet::Hostile::default()
        },
    );
    let started = std::time::Instant::now();
    let huge = net
        .auditctl(&["--json", "synth", "--type", "chat", "--seed", "3"])
        .await;
    let outcome = outcomes(&huge.json())[0].clone();
    let failure = outcome["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("line of the event stream exceeds"),
        "{outcome}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
}
