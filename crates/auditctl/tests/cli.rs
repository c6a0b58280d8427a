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
    // set_weights.enabled sends now: only the intervals wait for `run`.
    assert!(
        stdout.contains("# accepted, not used yet by this version: intervals\n"),
        "{stdout}"
    );
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
fn demo_runs_the_whole_audit_with_no_setup_and_a_second_run_loads_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let small = [
        "--miners",
        "5",
        "--hours",
        "3",
        "--invocations-per-hour",
        "120",
    ];
    let first = auditctl(dir.path(), &[&["--json", "demo"][..], &small[..]].concat());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let entries = report["sync"]["loaded"].as_u64().unwrap();
    assert!(entries >= 3, "{report}");
    assert_eq!(report["sync"]["rejected"], serde_json::json!([]));
    // The world pays what its own traffic earns: only u16 rounding is left.
    let worst = report["weights"]["comparison"]["max_delta"]
        .as_f64()
        .unwrap();
    assert!(worst < 1e-3, "largest delta {worst}");
    // One synthetic of each type, published, synced and found in the exports.
    let synthetics = &report["synthetics"];
    let outcomes = synthetics["sent"]["rounds"][0]["outcomes"]
        .as_array()
        .unwrap();
    assert_eq!(outcomes.len(), 5, "{synthetics}");
    assert!(
        outcomes.iter().all(|o| o["result"] == "sent"),
        "{synthetics}"
    );
    let checked = synthetics["verification"]["checked"].as_u64().unwrap();
    assert!(checked >= 5, "{synthetics}");
    assert_eq!(
        synthetics["verification"]["present"].as_u64(),
        Some(checked)
    );
    assert!(dir.path().join("data/demo/world/entries.json").is_file());
    assert!(dir.path().join("data/demo/data/catalog.db").is_file());

    let second = auditctl(dir.path(), &["demo"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    let table = text(&second.stdout);
    assert!(table.contains("weights run 2"), "{table}");
    assert!(table.contains("clean: every attempt"), "{table}");
    let loaded_now = table
        .lines()
        .find(|l| l.contains("loaded now"))
        .unwrap_or_default()
        .to_string();
    assert!(
        loaded_now.trim_end_matches('│').trim().ends_with(" 0"),
        "{loaded_now}"
    );
}
