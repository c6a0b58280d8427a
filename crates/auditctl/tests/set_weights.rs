//! `auditctl weights` setting weights on the devnet's chain node, started
//! in-process: the plain path (landed, read back, then the rate limit),
//! `--dry-run`, commit-reveal (revealed at its round; a commit to the
//! wrong beacon key accepted then silently dropped, and said so), each
//! precondition refusing with its own words and sending nothing, and a
//! tampered signature refused by the node and not retried, and a node
//! that lies about its state (swapped keys, a stale root) caught by the
//! proofs with exit code 3 and nothing sent. Every attempt is in the
//! catalog, and `status` shows the last one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use audit_store::facts::{self, invocations as inv};
use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use chrono::{NaiveDateTime, TimeDelta, Timelike, Utc};
use devnet_chain::{ChainGenesis, ChainNode, CommitRevealGenesis, GenesisNeuron, Sr25519Keyring};
use polars::prelude::*;
use serde_json::Value;
use subtensor::{ClientOptions, SubtensorClient};

const NETUID: u16 = 64;
const ENTRY_ID: &str = "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2";
/// docs/spec/upstream-config.md: the upstream README's example seed, and the
/// address it is shipped with, which that seed does not derive.
const UPSTREAM_SEED: &str = "0x971c2a6674d0861ade72297d11110ce21c93734210527c8f4c9190c00139ce20";
const UPSTREAM_ADDRESS: &str = "5GerCEPSx22bmr5Wnm2wj87SSpZiVvhVqFUrGG5795XkUbjr";

fn address(who: Sr25519Keyring) -> String {
    subtensor::keys::ss58(&who.public().0)
}

fn seed(who: Sr25519Keyring) -> String {
    format!("0x{}", hex::encode(devnet_chain::dev_seed(who).unwrap()))
}

/// Alice validates; Bob, Charlie and Dave mine.
const MINERS: [Sr25519Keyring; 3] = [
    Sr25519Keyring::Bob,
    Sr25519Keyring::Charlie,
    Sr25519Keyring::Dave,
];

fn neurons() -> Vec<(u16, Sr25519Keyring)> {
    let mut all = vec![(0, Sr25519Keyring::Alice)];
    all.extend((1..).zip(MINERS));
    all
}

/// The start of the current hour: an entry this fresh is not stale.
fn this_hour() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
}

/// One validator entry published at `hour`, loaded, with invocations
/// `(miner hotkey, compute units)`, and the metagraph of the chain.
async fn build_lake(
    store: &Store,
    hour: NaiveDateTime,
    rows: &[(String, f64)],
    unverifiable: bool,
) {
    let validator = address(Sr25519Keyring::Alice);
    let entry = AuditEntry {
        entry_id: ENTRY_ID.into(),
        hotkey: validator.clone(),
        block: 100,
        path: format!("audit/validator/{validator}/100.json"),
        source: EntrySource::Validator,
        created_at: hour,
        start_time: hour - TimeDelta::hours(1),
        end_time: hour,
    };
    let catalog = store.catalog();
    catalog
        .record_listed(std::slice::from_ref(&entry), hour)
        .await
        .unwrap();
    let n = rows.len();
    let started = (hour - TimeDelta::minutes(30)).and_utc().timestamp_micros();
    let uid_of = |hotkey: &str| {
        neurons()
            .iter()
            .find(|(_, who)| address(*who) == hotkey)
            .map_or(99, |(uid, _)| i32::from(*uid))
    };
    let frame = df!(
        inv::INVOCATION_ID => (0..n).map(|i| format!("i{i}")).collect::<Vec<_>>(),
        inv::PARENT_INVOCATION_ID => (0..n).map(|i| format!("i{i}")).collect::<Vec<_>>(),
        inv::MINER_HOTKEY => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        inv::NC => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        inv::CHUTE_ID => vec!["chute"; n],
        inv::MINER_UID => rows.iter().map(|r| uid_of(&r.0)).collect::<Vec<_>>(),
        inv::COMPUTE_MULTIPLIER => vec![1.0; n],
        inv::BOUNTY => vec![0.0; n],
        inv::STARTED_AT => vec![started; n],
        inv::COMPLETED_AT => vec![started + 1_000_000; n],
    )
    .unwrap();
    let mut frame = facts::conform(frame, FactTable::Invocations, &[]).unwrap();
    store
        .lake()
        .write_facts(ENTRY_ID, FactTable::Invocations, &mut frame)
        .unwrap();
    let loaded = LoadedEntry {
        report_sha256: "00".into(),
        unverifiable,
        instance_rows: 0,
        commitment_proven: None,
        exports: vec![],
    };
    catalog.mark_loaded(ENTRY_ID, &loaded, hour).await.unwrap();
    let snapshot = MetagraphSnapshot {
        snapshot_id: 0,
        netuid: NETUID,
        block: 120,
        taken_at: hour - TimeDelta::hours(1),
        neurons: neurons()
            .into_iter()
            .map(|(uid, who)| Neuron {
                uid,
                hotkey: address(who),
                coldkey: format!("{}-cold", address(who)),
                incentive: 0,
                stake: 0.0,
                last_update: 0,
                validator_permit: uid == 0,
            })
            .collect(),
    };
    catalog.record_metagraph(&snapshot).await.unwrap();
}

/// Bob, Charlie and Dave with unequal work.
fn work() -> Vec<(String, f64)> {
    let [bob, charlie, dave] = MINERS.map(address);
    vec![
        (bob.clone(), 3.0),
        (bob, 3.0),
        (charlie.clone(), 2.0),
        (charlie, 1.0),
        (dave, 1.0),
    ]
}

fn genesis(commit_reveal: bool, rate_limit: u64, timelock: CommitRevealGenesis) -> ChainGenesis {
    ChainGenesis {
        netuid: NETUID,
        neurons: neurons()
            .into_iter()
            .map(|(uid, who)| GenesisNeuron {
                uid,
                hotkey: address(who),
                coldkey: address(who),
                incentive: 0,
                stake_rao: 1_000_000_000,
                last_update: 0,
                validator_permit: uid == 0,
            })
            .collect(),
        commitments: vec![],
        weights_rate_limit: rate_limit,
        commit_reveal,
        head: 1_000,
        timelock,
    }
}

/// Subnet 64's `WeightsVersionKey` on finney, which upstream sends as a
/// constant.
const FINNEY_VERSION_KEY: u64 = 69_420;

/// A chain whose `WeightsVersionKey` is finney's.
fn finney_version_key() -> CommitRevealGenesis {
    CommitRevealGenesis {
        weights_version_key: FINNEY_VERSION_KEY,
        ..CommitRevealGenesis::default()
    }
}

async fn start(genesis: &ChainGenesis) -> (ChainNode, SubtensorClient) {
    let node = ChainNode::start(genesis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = SubtensorClient::connect(&node.ws_url(), ClientOptions::default())
        .await
        .unwrap();
    (node, chain)
}

/// A config sending as `who` (seed, address) to `node`; `extra` lines go
/// under `set_weights`. Written owner-only, as a seed file should be.
fn config(dir: &Path, node: &ChainNode, seed: &str, ss58: &str, extra: &str) -> PathBuf {
    let beacon = node.beacon();
    let text = format!(
        "netuid: {NETUID}\n\
         validators:\n  - name: devnet\n    hotkey: {validator}\n    url: http://127.0.0.1:9/\n\
         subtensor:\n  url: {ws}\n  archive_url: {ws}\n  timeout_seconds: 10\n\
         set_weights:\n  enabled: true\n  ss58: {ss58}\n  secret_seed: \"{seed}\"\n  \
         block_time_seconds: 1\n  \
         beacon:\n    public_key: \"{key}\"\n    genesis: {genesis}\n    period: {period}\n{extra}",
        validator = address(Sr25519Keyring::Alice),
        ws = node.ws_url(),
        key = hex::encode(beacon.public_key),
        genesis = beacon.genesis_time,
        period = beacon.period,
    );
    let path = dir.join("auditctl.yml");
    std::fs::write(&path, text).unwrap();
    set_mode(&path, 0o600);
    path
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn auditctl(config: &Path, t: &TestStore, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(t.data_dir())
        .arg("--database-url")
        .arg(t.database_url())
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_SECRET_SEED")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails with what the command printed on both streams: with `--json`
/// the error is in the document on stdout, not in the log on stderr.
#[track_caller]
fn assert_succeeded(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}\nstdout:\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// The `(uid, weight)` pairs of a JSON vector.
fn pairs(v: &Value) -> Vec<(u16, u16)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_array().unwrap();
            let n = |x: &Value| u16::try_from(x.as_u64().unwrap()).unwrap();
            (n(&p[0]), n(&p[1]))
        })
        .collect()
}

/// The run's scores quantised through the metagraph, as spec §6 says.
fn quantised(doc: &Value) -> Vec<(u16, u16)> {
    let scores: Vec<(String, f64)> = doc["scores"]["miners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["hotkey"].as_str().unwrap().to_string(),
                m["score"].as_f64().unwrap(),
            )
        })
        .collect();
    let metagraph: Vec<(String, u16)> = neurons()
        .into_iter()
        .map(|(uid, who)| (address(who), uid))
        .collect();
    let mapped = weights::scores_by_uid(
        scores.iter().map(|(h, s)| (h.as_str(), *s)),
        metagraph.iter().map(|(h, u)| (h.as_str(), *u)),
    );
    weights::quantise(&mapped.scores).unwrap().pairs().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_weights_land_and_a_second_run_inside_the_rate_limit_is_refused() {
    each_backend(|t: TestStore| async move {
        // No version key configured: the chain's is sent.
        let (node, chain) = start(&genesis(false, 100, finney_version_key())).await;
        build_lake(t.store(), this_hour(), &work(), false).await;
        let dir = tempfile::tempdir().unwrap();
        let alice = Sr25519Keyring::Alice;
        let config = config(dir.path(), &node, &seed(alice), &address(alice), "");

        let out = auditctl(&config, &t, &["--json", "weights"]);
        assert_succeeded(&out);
        let doc = json(&out);
        assert_eq!(doc["sending"], "attempted");
        assert_eq!(doc["submission"]["outcome"], "landed");
        assert_eq!(doc["submission"]["call"], "plain");
        assert_eq!(doc["submission"]["tries"], 1);
        let sent = pairs(&doc["submission"]["vector"]);
        // What the chain holds is what was sent, and that is the run's
        // scores quantised: largest 65535, every miner, uids ascending.
        assert_eq!(chain.weights(NETUID, 0).await.unwrap(), sent);
        assert_eq!(sent, quantised(&doc));
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0], (1, 65_535), "Bob did the most work");
        assert_eq!(node.submissions(), 1);
        let block = chain.last_update(NETUID, 0).await.unwrap().unwrap();
        assert_eq!(doc["submission"]["block"], block);
        assert!(doc["submission"]["extrinsic_hash"]
            .as_str()
            .unwrap()
            .starts_with("0x"));
        // The seed never reaches the output.
        let seed_hex = seed(alice);
        assert!(!text(&out.stdout).contains(&seed_hex[2..]));
        assert!(!text(&out.stderr).contains(&seed_hex[2..]));

        // Again at once: refused before sending, with the blocks to wait.
        let out = auditctl(&config, &t, &["weights"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let wait = 100 - (u64::from(node.head()) - block);
        assert!(
            stdout.contains(&format!(
                "not sent: rate limit: {wait} blocks remaining (limit 100, last update at block {block})"
            )),
            "{stdout}"
        );
        assert_eq!(node.submissions(), 1, "nothing sent");

        // Both attempts are in the catalog; status shows the last.
        let latest = t
            .reopen()
            .await
            .catalog()
            .latest_weights_submission()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.outcome, SubmissionOutcome::PreconditionRefused);
        assert_eq!(latest.tries, 0);
        let out = auditctl(&config, &t, &["--json", "status"]);
        assert_succeeded(&out);
        let status = json(&out);
        assert_eq!(status["last_submission"]["outcome"], "precondition_refused");
        assert_eq!(
            status["last_submission"]["submission_id"].as_i64().unwrap(),
            latest.submission_id
        );
        let out = auditctl(&config, &t, &["status"]);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("precondition_refused (run 2, 0 weights): rate limit"),
            "{stdout}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_prints_the_call_and_the_values_and_sends_nothing() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, chain) = start(&genesis(false, 100, finney_version_key())).await;
    build_lake(t.store(), this_hour(), &work(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Sr25519Keyring::Alice;
    let config = config(dir.path(), &node, &seed(alice), &address(alice), "");

    let out = auditctl(&config, &t, &["weights", "--dry-run"]);
    assert_succeeded(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("dry run, nothing sent; would send:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "set_weights on subnet 64 from uid 0 (version key {FINNEY_VERSION_KEY} from the chain's WeightsVersionKey, chain block {})",
            node.head()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("65535"), "{stdout}");
    assert!(
        stdout.contains("hours without a verified validator entry in the 7 days scored: 167"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unverifiable entries scored: none"),
        "{stdout}"
    );

    let out = auditctl(&config, &t, &["--json", "weights", "--dry-run"]);
    assert_succeeded(&out);
    let doc = json(&out);
    assert_eq!(doc["sending"], "dry_run");
    assert_eq!(doc["would_send"], true);
    assert_eq!(doc["plan"]["call"], "set_weights");
    assert_eq!(doc["plan"]["version_key"], FINNEY_VERSION_KEY);
    assert_eq!(doc["plan"]["version_key_source"], "chain");

    // A configured key wins when it is at least the chain's, and says so.
    let out = auditctl(
        &config,
        &t,
        &[
            "weights",
            "--dry-run",
            "--set",
            "set_weights.version_key=70000",
        ],
    );
    assert_succeeded(&out);
    assert!(
        text(&out.stdout).contains("(version key 70000 from set_weights.version_key, chain block"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(pairs(&doc["plan"]["weights"]), quantised(&doc));
    assert_eq!(doc["plan"]["reveal_round"], Value::Null);
    assert_eq!(doc["coverage"]["unverifiable_entries_used"], 0);
    assert_eq!(doc["coverage"]["gaps"].as_array().unwrap().len(), 167);

    // With sending off, the chain is not even asked.
    let off = std::fs::read_to_string(&config)
        .unwrap()
        .replace("enabled: true", "enabled: false");
    std::fs::write(&config, off).unwrap();
    let out = auditctl(&config, &t, &["weights"]);
    assert_succeeded(&out);
    assert!(text(&out.stdout).contains("not sent: set_weights.enabled is false"));

    assert_eq!(node.submissions(), 0);
    assert!(chain.weights(NETUID, 0).await.unwrap().is_empty());
    assert_eq!(
        t.store()
            .catalog()
            .latest_weights_submission()
            .await
            .unwrap(),
        None,
        "a dry run is not an attempt"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_without_a_key_scores_says_why_it_would_not_send_and_succeeds() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain) = start(&genesis(false, 100, CommitRevealGenesis::default())).await;
    build_lake(t.store(), this_hour(), &work(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Sr25519Keyring::Alice;
    let config = config(dir.path(), &node, &seed(alice), &address(alice), "");
    // An observer's config: no key, sending off.
    let observer: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("ss58:") && !l.contains("secret_seed:"))
        .map(|l| format!("{}\n", l.replace("enabled: true", "enabled: false")))
        .collect();
    std::fs::write(&config, observer).unwrap();

    let out = auditctl(&config, &t, &["weights", "--dry-run"]);
    assert_succeeded(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("weights run "),
        "the scores first: {stdout}"
    );
    assert!(
        stdout.contains("dry run, nothing sent; would not send: no hotkey is configured"),
        "{stdout}"
    );
    let out = auditctl(&config, &t, &["--json", "weights", "--dry-run"]);
    assert_succeeded(&out);
    let doc = json(&out);
    assert_eq!(doc["would_send"], false);
    assert!(
        doc["refused"]
            .as_str()
            .unwrap()
            .starts_with("no hotkey is configured"),
        "{doc}"
    );
    assert_eq!(doc["scores"]["miners"].as_array().unwrap().len(), 3);
    assert_eq!(node.submissions(), 0);
}

/// Epochs of 10 blocks, a block a second: a commit reveals within ~20 s.
fn fast_timelock() -> CommitRevealGenesis {
    CommitRevealGenesis {
        tempo: 9,
        reveal_period_epochs: 1,
        ..CommitRevealGenesis::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_is_revealed_at_its_round_and_one_to_the_wrong_key_is_reported_dropped() {
    each_backend(|t: TestStore| async move {
        let (node, chain) = start(&genesis(true, 0, fast_timelock())).await;
        node.produce_blocks(Duration::from_secs(1));
        build_lake(t.store(), this_hour(), &work(), false).await;
        let dir = tempfile::tempdir().unwrap();
        let alice = Sr25519Keyring::Alice;
        let config = config(dir.path(), &node, &seed(alice), &address(alice), "");

        let out = auditctl(&config, &t, &["--json", "weights", "--wait-reveal", "60"]);
        assert_succeeded(&out);
        let doc = json(&out);
        assert_eq!(doc["plan"]["call"], "commit_timelocked_weights");
        assert_eq!(doc["submission"]["call"], "timelocked");
        assert_eq!(doc["submission"]["outcome"], "revealed", "{doc}");
        assert!(doc["submission"]["reveal_round"].as_u64().unwrap() > 0);
        let sent = pairs(&doc["submission"]["vector"]);
        assert_eq!(sent, quantised(&doc));
        assert_eq!(chain.weights(NETUID, 0).await.unwrap(), sent);

        // The same weights, encrypted to a key the chain's beacon is not:
        // accepted, then dropped at reveal without a word from the chain.
        let stranger = drand_tlock::BeaconSecret::from_seed(&[9; 64])
            .unwrap()
            .public_key()
            .to_bytes();
        let wrong = std::fs::read_to_string(&config).unwrap().replace(
            &hex::encode(node.beacon().public_key),
            &hex::encode(stranger),
        );
        std::fs::write(&config, wrong).unwrap();
        let out = auditctl(&config, &t, &["--json", "weights"]);
        assert_succeeded(&out);
        let doc = json(&out);
        assert_eq!(doc["submission"]["outcome"], "committed");
        let commit_id = doc["submission"]["submission_id"].as_i64().unwrap();
        let reveal_at = doc["plan"]["reveal_expected_at_unix"].as_u64().unwrap();
        // Past the reveal epoch (the round's time, then the rest of it).
        let now = Utc::now().timestamp() as u64;
        tokio::time::sleep(Duration::from_secs(reveal_at.saturating_sub(now) + 12)).await;
        assert_eq!(
            chain.weights(NETUID, 0).await.unwrap(),
            sent,
            "the earlier reveal still stands"
        );

        let out = auditctl(&config, &t, &["weights", "--dry-run"]);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!(
                "previous commit (submission {commit_id}): NOT REVEALED"
            )),
            "{stdout}\n{}",
            text(&out.stderr)
        );
        let latest = t
            .reopen()
            .await
            .catalog()
            .latest_weights_submission()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.submission_id, commit_id);
        assert_eq!(latest.outcome, SubmissionOutcome::Dropped);
        assert!(latest.checked_at.is_some());
    })
    .await;
}

/// One refusal: the chain, the lake, the signer and the extra settings,
/// and the words expected.
struct Case<'a> {
    genesis: ChainGenesis,
    hour: NaiveDateTime,
    rows: Vec<(String, f64)>,
    unverifiable: bool,
    signer: (&'a str, &'a str),
    extra: &'a str,
    expected: String,
}

impl<'a> Case<'a> {
    /// Everything in order, signed by `signer`: only what a case changes
    /// refuses.
    fn ready(signer: (&'a str, &'a str), expected: &str) -> Self {
        Case {
            genesis: genesis(false, 100, CommitRevealGenesis::default()),
            hour: this_hour(),
            rows: work(),
            unverifiable: false,
            signer,
            extra: "",
            expected: expected.to_string(),
        }
    }
}

/// Runs `weights` against a fresh lake and node; returns its output and
/// how many transactions the node received.
async fn refusal(case: &Case<'_>) -> (Output, u64) {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain) = start(&case.genesis).await;
    build_lake(t.store(), case.hour, &case.rows, case.unverifiable).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &node, case.signer.0, case.signer.1, case.extra);
    let out = auditctl(&config, &t, &["weights"]);
    (out, node.submissions())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_precondition_refuses_in_its_own_words_and_sends_nothing() {
    let alice = Sr25519Keyring::Alice;
    let eve = Sr25519Keyring::Eve;
    let (s, a) = (seed(alice), address(alice));
    let ours = (s.as_str(), a.as_str());

    // The upstream example pair: refused when the config is read.
    let (out, sent) = refusal(&Case::ready((UPSTREAM_SEED, UPSTREAM_ADDRESS), "")).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{UPSTREAM_ADDRESS} is not the address of set_weights.secret_seed, which derives \
             5DCJTfVx3ReNyxW3SgQEKFgvXFuqnK3BNW1vMhTQK4jdZbV4"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("971c2a66"), "the seed is never printed");
    assert_eq!(sent, 0);

    let (es, ea) = (seed(eve), address(eve));
    let cases = [
        Case::ready(
            (es.as_str(), ea.as_str()),
            &format!(
                "not sent: {ea} is not registered on subnet 64: register it before sending weights"
            ),
        ),
        Case {
            hour: this_hour() - TimeDelta::hours(5),
            extra: "  max_entry_age_seconds: 3600\n",
            ..Case::ready(ours, "old (max 1h 0m): sync before sending weights")
        },
        Case {
            genesis: genesis(
                false,
                100,
                CommitRevealGenesis {
                    weights_version_key: 1_000,
                    ..CommitRevealGenesis::default()
                },
            ),
            extra: "  version_key: 999\n",
            ..Case::ready(
                ours,
                "not sent: version key 999 is below subnet 64's WeightsVersionKey 1000",
            )
        },
        Case {
            // Work only by a hotkey that is not on the metagraph.
            rows: vec![(address(Sr25519Keyring::Ferdie), 5.0)],
            ..Case::ready(ours, "not sent: no miner has a score: nothing to send")
        },
        Case {
            unverifiable: true,
            ..Case::ready(ours, "not sent: the scores used 1 unverifiable entries")
        },
    ];
    for case in &cases {
        let (out, sent) = refusal(case).await;
        let (stdout, expected) = (text(&out.stdout), &case.expected);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains(expected), "{expected}\n{stdout}");
        assert_eq!(sent, 0, "nothing sent: {expected}");
        if case.unverifiable {
            assert!(
                stdout.contains("UNVERIFIABLE: 1 scored entries"),
                "{stdout}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_signature_is_a_chain_refusal_tried_once() {
    each_backend(|t: TestStore| async move {
        let (node, chain) = start(&genesis(false, 100, CommitRevealGenesis::default())).await;
        node.tamper_signatures(true);
        build_lake(t.store(), this_hour(), &work(), false).await;
        let dir = tempfile::tempdir().unwrap();
        let alice = Sr25519Keyring::Alice;
        let config = config(dir.path(), &node, &seed(alice), &address(alice), "");

        let stdout = failed_weights(&config, &t);
        assert!(
            stdout.contains("not sent: the chain refused the call (not retried):"),
            "{stdout}"
        );
        assert!(stdout.contains("bad signature"), "{stdout}");
        assert!(stdout.contains(", 1 try"), "{stdout}");
        assert_eq!(node.submissions(), 1, "not retried");
        assert!(chain.weights(NETUID, 0).await.unwrap().is_empty());
        let latest = t
            .reopen()
            .await
            .catalog()
            .latest_weights_submission()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.outcome, SubmissionOutcome::ChainRefused);
        assert_eq!(latest.tries, 1);
        assert_eq!(latest.call, Some(WeightsCallKind::Plain));
        assert_eq!(latest.vector.len(), 3, "the vector that was tried");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_in_a_config_others_can_read_is_warned_about() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain) = start(&genesis(false, 100, CommitRevealGenesis::default())).await;
    build_lake(t.store(), this_hour(), &work(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Sr25519Keyring::Alice;
    let config = config(dir.path(), &node, &seed(alice), &address(alice), "");
    let quiet = auditctl(&config, &t, &["weights", "--dry-run"]);
    assert!(!text(&quiet.stderr).contains("chmod 600"));
    set_mode(&config, 0o644);
    let out = auditctl(&config, &t, &["weights", "--dry-run"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("(mode 644), which users other than its owner can read: `chmod 600` it"),
        "{stderr}"
    );
    assert!(!stderr.contains(&seed(alice)[2..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_node_is_retried_then_recorded_as_a_transport_error() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain) = start(&genesis(false, 100, CommitRevealGenesis::default())).await;
    build_lake(t.store(), this_hour(), &work(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Sr25519Keyring::Alice;
    let config = config(dir.path(), &node, &seed(alice), &address(alice), "");
    // Nothing listens on port 1; the URL's password must never show.
    let text_of_config = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&node.ws_url(), "ws://auditor:hunter2@127.0.0.1:1");
    std::fs::write(&config, text_of_config).unwrap();

    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["submission"]["outcome"], "transport_error");
    assert_eq!(
        doc["submission"]["tries"], 3,
        "retried: the node was never reached"
    );
    assert!(!text(&out.stdout).contains("hunter2"));
    assert!(!text(&out.stderr).contains("hunter2"));
    let latest = t
        .store()
        .catalog()
        .latest_weights_submission()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.outcome, SubmissionOutcome::TransportError);
    assert!(!latest.reason.unwrap_or_default().contains("hunter2"));
    assert_eq!(node.submissions(), 0);
}

/// A chain with plain weights and `rate_limit`, the lake, and a config
/// sending as Alice with `extra` under `set_weights` (in the returned
/// folder).
async fn plain_chain(
    t: &TestStore,
    rate_limit: u64,
    extra: &str,
) -> (ChainNode, SubtensorClient, tempfile::TempDir, PathBuf) {
    let (node, chain) = start(&genesis(false, rate_limit, CommitRevealGenesis::default())).await;
    build_lake(t.store(), this_hour(), &work(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Sr25519Keyring::Alice;
    let config = config(dir.path(), &node, &seed(alice), &address(alice), extra);
    (node, chain, dir, config)
}

/// `auditctl weights` expected to fail (exit 1): its text output.
fn failed_weights(config: &Path, t: &TestStore) -> String {
    let out = auditctl(config, t, &["weights"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    stdout
}

/// The newest attempt in the catalog.
async fn latest(t: &TestStore) -> WeightsSubmissionRecord {
    t.reopen()
        .await
        .catalog()
        .latest_weights_submission()
        .await
        .unwrap()
        .unwrap()
}

/// Every attempt of the runs so far, oldest first.
async fn all_submissions(t: &TestStore) -> Vec<WeightsSubmissionRecord> {
    t.reopen()
        .await
        .catalog()
        .weights_submissions_of_runs(&(1..=10).collect::<Vec<_>>())
        .await
        .unwrap()
}

/// A node that takes the transaction, answers `ready` and never includes
/// it: the command ends at its inclusion deadline and records `unknown`
/// with what finds it later. While the era lasts nothing more is sent;
/// once it is over, the next run records it expired and sends anew.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_send_ends_at_its_deadline_as_unknown_and_expires_before_the_next_send() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, chain, _dir, config) = plain_chain(&t, 0, "  inclusion_timeout_seconds: 2\n").await;
    node.stall_inclusion(true);

    let started = std::time::Instant::now();
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert!(started.elapsed() < Duration::from_secs(60), "no deadline");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    let submission = &doc["submission"];
    assert_eq!(submission["outcome"], "unknown", "{submission}");
    assert_eq!(submission["tries"], 1, "not retried: it may still land");
    assert_eq!(submission["nonce"], 0);
    assert_eq!(submission["era_period"], 8);
    let birth = submission["era_birth"].as_u64().unwrap();
    assert!(
        birth <= 1_000,
        "born at or before the head it was signed at"
    );
    assert!(submission["extrinsic_hash"]
        .as_str()
        .unwrap()
        .starts_with("0x"));
    assert_eq!(submission["block"], Value::Null);
    assert_eq!(node.head(), 1_000, "never included");
    assert_eq!(node.submissions(), 1);
    let record = latest(&t).await;
    assert_eq!(record.outcome, SubmissionOutcome::Unknown);
    assert_eq!(record.era_birth, Some(birth));

    // Its era is not over: nothing more is sent.
    node.stall_inclusion(false);
    let stdout = failed_weights(&config, &t);
    assert!(stdout.contains("STILL UNKNOWN"), "{stdout}");
    assert!(stdout.contains("may still land"), "{stdout}");
    assert_eq!(node.submissions(), 1, "nothing sent beside it");

    // The era ends with the transaction in no block: expired, then a new
    // send lands.
    node.advance(10);
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_succeeded(&out);
    let doc = json(&out);
    assert_eq!(doc["earlier_sends"][0]["outcome"], "expired", "{doc}");
    assert_eq!(doc["submission"]["outcome"], "landed");
    assert_eq!(node.submissions(), 2);
    let first = &all_submissions(&t).await[0];
    assert_eq!(first.outcome, SubmissionOutcome::Expired);
    assert!(first.reason.as_deref().unwrap().contains("never landed"));
    assert!(!chain.weights(NETUID, 0).await.unwrap().is_empty());
}

/// A stalled send that the pool includes after the deadline is found in
/// its block by the next run, with `LastUpdate` agreeing: landed there.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_send_found_in_a_block_later_is_recorded_landed_there() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, chain, _dir, config) =
        plain_chain(&t, 100, "  inclusion_timeout_seconds: 2\n").await;
    node.stall_inclusion(true);
    let stdout = failed_weights(&config, &t);
    assert!(stdout.contains("recorded as unknown"), "{stdout}");
    assert!(stdout.contains("nonce 0, valid from block"), "{stdout}");

    node.stall_inclusion(false);
    assert_eq!(node.release_stalled(), 1);
    let block = node.head();
    let out = auditctl(&config, &t, &["--json", "weights"]);
    let doc = json(&out);
    assert_eq!(doc["earlier_sends"][0]["outcome"], "landed", "{doc}");
    assert_eq!(doc["earlier_sends"][0]["block"], block);
    // Then planned as usual: the landing started the rate limit.
    assert_eq!(doc["submission"]["outcome"], "precondition_refused");
    assert_eq!(out.status.code(), Some(1));
    let first = &all_submissions(&t).await[0];
    assert_eq!(first.outcome, SubmissionOutcome::Landed);
    assert_eq!(first.block, Some(u64::from(block)));
    assert_eq!(
        chain.last_update(NETUID, 0).await.unwrap(),
        Some(u64::from(block))
    );
}

/// With the same weights already on chain, reading `Weights` back cannot
/// tell a real inclusion from a claimed one: a block that does not hold
/// the transaction, or a forged body whose block never moved `LastUpdate`,
/// is not recorded as landed, and the command fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_claimed_inclusion_without_evidence_is_not_recorded_as_landed() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, chain, _dir, config) = plain_chain(&t, 0, "").await;
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_eq!(json(&out)["submission"]["outcome"], "landed");
    let on_chain = chain.weights(NETUID, 0).await.unwrap();
    let last_update = chain.last_update(NETUID, 0).await.unwrap();

    node.forge_inclusion(true);
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["submission"]["outcome"], "unconfirmed", "{doc}");
    let reason = doc["submission"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("LastUpdate of uid 0 at that block is"),
        "{reason}"
    );
    assert_eq!(chain.weights(NETUID, 0).await.unwrap(), on_chain);
    assert_eq!(chain.last_update(NETUID, 0).await.unwrap(), last_update);

    node.forge_inclusion(false);
    node.fake_inclusion(true);
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["submission"]["outcome"], "unknown", "{doc}");
    let reason = doc["submission"]["reason"].as_str().unwrap();
    assert!(reason.contains("that block does not hold it"), "{reason}");
    assert_eq!(latest(&t).await.outcome, SubmissionOutcome::Unknown);
}

/// A node that answers two miners' hotkeys swapped, in every answer it
/// gives (`Keys`, `Uids`, the runtime API, read proofs), would have the
/// validator's weights go to the wrong miners and read back as landed.
/// The metagraph read before sending does not prove against the block's
/// state root: nothing is sent, the attempt is recorded as an integrity
/// violation naming the read and the node, and the command exits 3.
#[tokio::test(flavor = "multi_thread")]
async fn swapped_keys_are_an_integrity_violation_and_nothing_is_sent() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, chain, _dir, config) = plain_chain(&t, 0, "").await;
    node.swap_keys(Some((1, 2)));
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["submission"]["outcome"], "integrity_violation", "{doc}");
    let reason = doc["submission"]["reason"].as_str().unwrap();
    assert!(reason.contains("integrity violation"), "{reason}");
    assert!(reason.contains(&node.ws_url()), "names the node: {reason}");
    assert_eq!(node.submissions(), 0, "nothing sent");
    assert_eq!(
        latest(&t).await.outcome,
        SubmissionOutcome::IntegrityViolation
    );
    let out = auditctl(&config, &t, &["weights"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains("INTEGRITY VIOLATION"),
        "{}",
        text(&out.stdout)
    );

    // The truth again: sent, to the right uids.
    node.swap_keys(None);
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_succeeded(&out);
    let doc = json(&out);
    assert_eq!(doc["submission"]["outcome"], "landed");
    assert_eq!(pairs(&doc["submission"]["vector"]), quantised(&doc));
    assert_eq!(chain.weights(NETUID, 0).await.unwrap(), quantised(&doc));
}

/// A node that serves a stale state root (the state of an older block
/// under the block's header) is caught by the header's hash: nothing is
/// sent, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_root_is_an_integrity_violation_and_nothing_is_sent() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain, _dir, config) = plain_chain(&t, 0, "").await;
    node.serve_stale_root(Some(5));
    let out = auditctl(&config, &t, &["--json", "weights"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["submission"]["outcome"], "integrity_violation", "{doc}");
    let reason = doc["submission"]["reason"].as_str().unwrap();
    assert!(reason.contains("hashes to"), "{reason}");
    assert_eq!(node.submissions(), 0, "nothing sent");
}

/// Storage that does not decode is the node's malformed answer, said so,
/// not "the node could not be reached".
#[tokio::test(flavor = "multi_thread")]
async fn malformed_storage_is_recorded_as_a_malformed_answer() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain, _dir, config) = plain_chain(&t, 100, "").await;
    node.garble_storage(&subtensor::runtime::WEIGHTS_SET_RATE_LIMIT, true);
    let stdout = failed_weights(&config, &t);
    assert!(
        stdout.contains("the node answered malformed data: "),
        "{stdout}"
    );
    assert!(stdout.contains("WeightsSetRateLimit"), "{stdout}");
    assert!(!stdout.contains("could not be reached"), "{stdout}");
    assert_eq!(latest(&t).await.outcome, SubmissionOutcome::MalformedAnswer);
    assert_eq!(node.submissions(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_at_a_future_time_are_refused_and_nothing_is_sent() {
    let t = audit_store::testing::sqlite_store().await;
    let (node, _chain) = start(&genesis(false, 100, CommitRevealGenesis::default())).await;
    build_lake(t.store(), this_hour(), &work(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Sr25519Keyring::Alice;
    let config = config(dir.path(), &node, &seed(alice), &address(alice), "");
    let year_on = (Utc::now() + TimeDelta::days(365))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();

    let out = auditctl(&config, &t, &["weights", "--at", &year_on]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lies in the future"), "{stderr}");
    assert_eq!(node.submissions(), 0);
}
