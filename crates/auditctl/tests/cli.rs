//! The binary as a user runs it: exit codes, messages, output formats.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn auditctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_CONFIG")
        .env_remove("CHUTES_API_KEY")
        .env_remove("AUDITCTL_SECRET_SEED")
        .output()
        .expect("run auditctl")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/config.example.yml")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(["config", "check", "--config"])
        .arg(example())
        .current_dir(dir.path())
        .env("CHUTES_API_KEY", "cpk_do_not_print_me")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("version_key: 69420"), "{stdout}");
    assert!(stdout.contains("api_key: '***'"), "{stdout}");
    assert!(!stdout.contains("cpk_do_not_print_me"));
    assert!(stdout.contains("api_key: environment"), "{stdout}");
    // `run` acts on every key now: intervals, set_weights.enabled, run.*.
    assert!(!stdout.contains("not used yet"), "{stdout}");
    assert!(stdout.contains("sync_seconds: 600"), "{stdout}");
    assert!(stdout.contains("synth_verify: true"), "{stdout}");
}

#[test]
fn a_broken_config_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("scoring:\n  feature_weights:\n    compute_unit: 0.5\n", "scoring.feature_weights"),
        ("subtensor:\n  url: http://not-a-websocket\n", "subtensor.url"),
        ("validators:\n  - name: x\n    hotkey: 5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ\n    url: nope\n", "validators[0].url"),
    ];
    for (yaml, key) in cases {
        let path = dir.path().join("broken.yml");
        std::fs::write(&path, yaml).unwrap();
        let out = auditctl(
            dir.path(),
            &["config", "check", "--config", path.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = auditctl(dir.path(), &["config", "check", "--config", "missing.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.yml"));
}

#[test]
fn status_works_with_no_setup_and_speaks_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = auditctl(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sqlite://data/catalog.db"));
    assert!(dir.path().join("data/catalog.db").is_file());

    let out = auditctl(dir.path(), &["status", "--json", "--data-dir", "elsewhere"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["backend"], "sqlite");
    assert_eq!(doc["lake"]["entries"], 0);
}

#[test]
fn no_form_of_a_database_password_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "postgres://me:hun/ter2@127.0.0.1:1/audit",
        "postgres://me:hun#ter2@127.0.0.1:1/audit",
        "postgres://me@127.0.0.1:1/audit?password=hunter2",
    ] {
        let out = auditctl(dir.path(), &["status", "--database-url", url]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("ter2"), "{url}: {stderr}");
        let out = auditctl(dir.path(), &["config", "check", "--database-url", url]);
        let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!shown.contains("ter2"), "{url}: {shown}");
    }
}

#[test]
fn a_second_writer_is_refused_naming_the_holder_or_waits_with_wait() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let held = audit_store::WriteLock::acquire(
        &data,
        &audit_store::LockRequest::refuse("auditctl sync (test)"),
    )
    .unwrap();
    let data_arg = data.to_str().unwrap();
    let out = auditctl(dir.path(), &["weights", "--data-dir", data_arg]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert!(
        stderr.contains("auditctl sync (test)") && stderr.contains("--wait"),
        "{stderr}"
    );
    // Readers do not need the lock.
    let out = auditctl(dir.path(), &["status", "--data-dir", data_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut waiting = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(["weights", "--wait", "--data-dir", data_arg])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(waiting.try_wait().unwrap().is_none(), "--wait must wait");
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    // It got the lock and went on (to find no metagraph in an empty lake).
    assert!(!stderr.contains("--wait"), "{stderr}");
    assert!(stderr.contains("metagraph"), "{stderr}");
}

#[test]
fn an_unreachable_database_fails_with_exit_1_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = auditctl(
        dir.path(),
        &[
            "status",
            "--database-url",
            "postgres://me:hunter2@127.0.0.1:1/audit",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn run_without_an_api_key_or_any_stage_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    // The defaults send synthetics, which need a key: said before any
    // network or data-directory work.
    let out = auditctl(dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("api_key"), "{stderr}");
    assert!(stderr.contains("run.stages.synthetics"), "{stderr}");
    assert!(!dir.path().join("data").exists());

    std::fs::write(
        dir.path().join("auditctl.yml"),
        "run:\n  stages: {sync: false, score: false, compare_prom: false, synthetics: false, synth_verify: false, report: false}\n\
         subtensor:\n  url: ws://127.0.0.1:1\n  archive_url: ws://127.0.0.1:1\n  timeout_seconds: 1\n",
    )
    .unwrap();
    let out = auditctl(dir.path(), &["run"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("every stage of `run` is turned off"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists());
}

/// A demo world small enough for a test: 5 miners, 3 hours.
const SMALL_DEMO_WORLD: [&str; 6] = [
    "--miners",
    "5",
    "--hours",
    "3",
    "--invocations-per-hour",
    "120",
];

#[test]
fn demo_runs_the_whole_loop_with_no_setup_sets_weights_and_writes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        &["--json", "demo"][..],
        &SMALL_DEMO_WORLD,
        &["--simulated-hours", "2"],
    ]
    .concat();
    let started = std::time::Instant::now();
    let first = auditctl(dir.path(), &args);
    let wall = started.elapsed();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    eprintln!("demo wall time: {wall:.1?}");
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let stages = &report["service"]["stages"];
    for stage in [
        "sync",
        "score",
        "weights",
        "compare-prom",
        "synthetics",
        "synth-verify",
        "report",
    ] {
        assert!(
            stages[stage]["succeeded"].as_u64() >= Some(1),
            "{stage} never succeeded: {report}"
        );
    }
    // The initial week and the two published hours were each sent.
    assert!(
        stages["weights"]["succeeded"].as_u64() >= Some(3),
        "{report}"
    );
    let weights = stages["weights"]["last_summary"].as_str().unwrap();
    assert!(weights.contains(": landed (extrinsic 0x"), "{weights}");
    assert!(report["weights_on_chain"].as_u64() >= Some(1), "{report}");
    // Synthetics of the first published hour are judged once the next
    // hour is loaded: found under their miners, none missing.
    let verified = stages["synth-verify"]["last_summary"].as_str().unwrap();
    let present: u64 = verified
        .split(", ")
        .find_map(|part| part.strip_suffix(" present"))
        .and_then(|n| n.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(present >= 1, "{verified}");
    assert!(verified.contains(" 0 missing, 0 rerouted"), "{verified}");
    let page = std::path::PathBuf::from(report["page"].as_str().unwrap());
    assert!(text(&std::fs::read(&page).unwrap()).contains("<html"));
    assert!(dir.path().join("data/demo/world/entries.json").is_file());
    assert!(dir.path().join("data/demo/data/catalog.db").is_file());

    // Again on the same data: the world goes on from where it was.
    let second = auditctl(dir.path(), &["demo", "--simulated-hours", "1"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    let table = text(&second.stdout);
    assert!(table.contains("report page: "), "{table}");
    assert!(table.contains("weights on the devnet chain"), "{table}");
}

#[test]
fn demo_with_commit_reveal_commits_timelocked_weights_and_sees_them_revealed() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        &["--json", "demo", "--commit-reveal"][..],
        &SMALL_DEMO_WORLD,
        &["--simulated-hours", "1"],
    ]
    .concat();
    let out = auditctl(dir.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["commit_reveal"], true);
    let weights = &report["service"]["stages"]["weights"];
    assert_eq!(weights["failed"], 0, "{report}");
    let last = weights["last_summary"].as_str().unwrap();
    assert!(last.contains(": committed (extrinsic 0x"), "{last}");
    // Revealed by the chain: Weights holds the validator's vector.
    assert!(report["weights_on_chain"].as_u64() >= Some(1), "{report}");
    // No commit of the run was lost to the hour's jump in blocks.
    assert!(
        !text(&out.stderr).contains("NOT revealed"),
        "{}",
        text(&out.stderr)
    );
}

/// `devnet serve` running in the background; killed when dropped.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_config_written_for_a_world_made_elsewhere_holds_no_foreign_seed_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let generate = [
        "devnet",
        "generate",
        "--out",
        "world",
        "--approximate-incentives",
        "--miners",
        "3",
        "--hours",
        "2",
        "--invocations-per-hour",
        "20",
    ];
    let out = auditctl(dir.path(), &generate);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Another validator than the generator's //Alice: a world made
    // elsewhere, whose validator key the devnet does not have.
    let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    let meta_path = dir.path().join("world/world.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["validator_hotkey"] = bob.into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();

    let config = dir.path().join("devnet.yml");
    let _serving = Serving(
        Command::new(env!("CARGO_BIN_EXE_auditctl"))
            .args(["devnet", "serve", "--world", "world", "--write-config"])
            .arg(&config)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !config.is_file() {
        assert!(std::time::Instant::now() < deadline, "no config written");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(!written.contains("secret_seed"), "{written}");

    let config = config.to_str().unwrap();
    let out = auditctl(
        dir.path(),
        &["--json", "--config", config, "config", "check"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["validators"][0]["hotkey"], bob);
    assert_eq!(doc["warnings"], serde_json::json!([]));
    let out = auditctl(
        dir.path(),
        &["--config", config, "sync", "--no-miner-reports"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_auditctl()"),
        ("zsh", "#compdef auditctl"),
        ("fish", "complete -c auditctl"),
    ] {
        let out = auditctl(dir.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // Subcommands and their flags, as clap knows them.
        for word in ["compare-prom", "dry-run", "wait-reveal"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let out = auditctl(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let out = auditctl(dir.path(), &["man", "--out", "man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(dir.path().join("man/auditctl.1")).unwrap();
    assert!(page.contains(".TH auditctl"), "{page}");
    assert!(page.contains("compare\\-prom"), "{page}");
    let weights = std::fs::read_to_string(dir.path().join("man/auditctl-weights.1")).unwrap();
    assert!(weights.contains("dry\\-run"), "{weights}");
    // The hidden generator is no part of the documented interface.
    let out = auditctl(dir.path(), &["--help"]);
    assert!(
        !text(&out.stdout).contains("\n  man "),
        "{}",
        text(&out.stdout)
    );
}
