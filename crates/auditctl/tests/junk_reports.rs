//! A lying API serving every report as 2 GiB of junk, generated as it is
//! sent, with no length: `auditctl sync` streams each report to a staging
//! file while hashing it and refuses it at the report cap, so its peak
//! memory stays far below the bodies' sizes at the default concurrency,
//! every entry is left for the next run with the reason, and no staging
//! file is left behind. Its own test binary: one child at a time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devnet::{Faults, GenerateOptions, Hostile, Network, NetworkOptions, World};
use serde_json::Value;

const AT: &str = "2025-02-10T12:00:00Z";
const JUNK: u64 = 2 << 30;
const PEAK_LIMIT: u64 = 600 << 20;

/// A process's peak resident memory (`VmHWM`), while it runs.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    Some(kb << 10)
}

fn staging_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = item.path();
        if path.to_string_lossy().contains(audit_store::TMP_MARKER) {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(staging_files(&path));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn junk_reports_are_refused_while_streaming_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("world");
    devnet::generate(&GenerateOptions {
        out: out.clone(),
        seed: 5,
        miners: 5,
        hours: 2,
        invocations_per_hour: 20,
        now: audit_store::time::parse_utc(AT).unwrap(),
    })
    .unwrap();
    let world = World::load(&out).unwrap();
    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    network.server().set_faults(Faults {
        hostile: Hostile {
            junk_reports: JUNK,
            ..Hostile::default()
        },
        ..Faults::default()
    });
    let data_dir = dir.path().join("data");
    let config = dir.path().join("auditctl.yml");
    let url = network.http_url();
    let ws = network.ws_url();
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nendpoints:\n  api: {url}\n  llm: {url}\n\
             validators:\n  - name: devnet\n    hotkey: {}\n    url: {url}\n\
             subtensor:\n  url: {ws}\n  archive_url: {ws}\n  timeout_seconds: 5\n",
            data_dir.display(),
            world.meta.validator_hotkey
        ),
    )
    .unwrap();

    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(&config)
        .args(["--json", "sync", "--at", AT])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // VmHWM only rises: the last reading before the exit is the peak up
    // to a few milliseconds.
    let mut peak = 0;
    let watcher = tokio::task::spawn_blocking(move || loop {
        match peak_rss(pid) {
            Some(now) => peak = peak.max(now),
            None => return peak,
        }
        std::thread::sleep(Duration::from_millis(5));
    });
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let peak = watcher.await.unwrap();
    let elapsed = started.elapsed();
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON summary; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    eprintln!(
        "{} junk reports of {} MiB: peak RSS {} MiB, {:.1} s",
        world.entries.len(),
        JUNK >> 20,
        peak >> 20,
        elapsed.as_secs_f64()
    );

    assert!(
        peak < PEAK_LIMIT,
        "peak RSS {} MiB with {} junk reports of {} MiB",
        peak >> 20,
        world.entries.len(),
        JUNK >> 20
    );
    // Not proven tampered (only its first bytes were read), so not an
    // integrity violation: each entry is retried next run, the reason
    // naming the cap.
    assert_eq!(output.status.code(), Some(0), "{summary}");
    assert_eq!(summary["loaded"], 0, "{summary}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), world.entries.len(), "{summary}");
    for f in failed {
        let reason = f["reason"].as_str().unwrap();
        assert!(reason.contains("endpoints.max_report_bytes"), "{reason}");
    }
    let left = staging_files(&data_dir);
    assert!(left.is_empty(), "staging files left: {left:?}");
}
