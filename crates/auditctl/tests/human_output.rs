//! What people read, as snapshots: every command's human output on one
//! fixed devnet world (generated here, served by `auditctl devnet serve`,
//! evaluated at a fixed time), and the errors of the common mistakes. A
//! change in what users see is then reviewed as a diff.
//!
//! Each snapshot starts with the command line and its exit code; what
//! varies from run to run is masked: the home directory, loopback ports,
//! durations and wall-clock times (the world's own times are all 2025).
//! Every `--help` is snapshotted from clap in `src/cli_help_tests.rs`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const AT: &str = "2025-02-10T12:00:00Z";

/// `auditctl` run in `home` (where `auditctl.yml` is the default config),
/// with nothing from the caller's environment.
fn auditctl(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(args)
        .current_dir(home)
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_CONFIG")
        .env_remove("AUDITCTL_DATA_DIR")
        .env_remove("AUDITCTL_LOG_FORMAT")
        .env_remove("CHUTES_API_KEY")
        .env_remove("AUDITCTL_SECRET_SEED")
        .env_remove("RUST_LOG")
        .output()
        .expect("run auditctl")
}

/// The command line, its exit code, stdout and (when any) stderr, masked.
fn shown(home: &Path, args: &[&str], out: &Output) -> String {
    let mut text = format!(
        "$ auditctl {}\n[exit {}]\n{}",
        args.join(" "),
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout)
    );
    if !out.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    mask(&text, home)
}

/// Runs `args` in `home` and snapshots what it shows as `name`.
fn snapshot(name: &str, home: &Path, args: &[&str]) -> Output {
    let out = auditctl(home, args);
    let text = shown(home, args, &out);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{name}: a control character reaches the user:\n{text:?}"
    );
    insta::assert_snapshot!(name, text);
    out
}

/// What varies between runs, masked.
fn mask(text: &str, home: &Path) -> String {
    let mut text = text.to_string();
    for home in [home.to_path_buf(), home.canonicalize().unwrap_or_default()] {
        let home = home.display().to_string();
        if !home.is_empty() {
            text = text.replace(&home, "[home]");
        }
    }
    mask_wall_clock(&mask_durations(&mask_ports(&text)))
}

/// `127.0.0.1:38211` as `127.0.0.1:[port]`.
fn mask_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (before, from) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(before);
        let digits = from.len() - from.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("[port]");
        }
        rest = &from[digits..];
    }
    out.push_str(rest);
    out
}

/// A decimal number directly followed by `s`, `ms`, `µs` or `ns` (a
/// `Duration` printed with `{:.1?}`) as `[duration]`.
fn mask_durations(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < chars.len() {
        let starts = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.');
        if chars[i].is_ascii_digit() && starts {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let decimal = chars[i..j].contains(&'.');
            for unit in ["ms", "µs", "ns", "s"].into_iter().filter(|_| decimal) {
                let unit: Vec<char> = unit.chars().collect();
                let end = j + unit.len();
                if chars[j..].starts_with(&unit)
                    && chars.get(end).is_none_or(|c| !c.is_alphanumeric())
                {
                    out.push_str("[duration]");
                    i = end;
                    continue 'scan;
                }
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A date of this century after the world's year (with its time, when
/// one follows): the wall clock's, as `[wall clock]`.
fn mask_wall_clock(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    let digit = |k: usize| bytes.get(k).is_some_and(u8::is_ascii_digit);
    while i + 10 <= bytes.len() {
        let is_date = (0..4).all(|k| digit(i + k))
            && bytes[i + 4] == b'-'
            && digit(i + 5)
            && digit(i + 6)
            && bytes[i + 7] == b'-'
            && digit(i + 8)
            && digit(i + 9)
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        let year: u32 = text.get(i..i + 4).and_then(|y| y.parse().ok()).unwrap_or(0);
        if !is_date || !(2026..2100).contains(&year) {
            i += 1;
            continue;
        }
        let mut end = i + 10;
        // ` 09:13`, `T09:13:37`, `T09:13:37.123456Z`
        let time = |at: usize| {
            matches!(bytes.get(at), Some(b' ' | b'T'))
                && digit(at + 1)
                && digit(at + 2)
                && bytes.get(at + 3) == Some(&b':')
                && digit(at + 4)
                && digit(at + 5)
        };
        if time(end) {
            end += 6;
            if bytes.get(end) == Some(&b':') && digit(end + 1) && digit(end + 2) {
                end += 3;
            }
            if bytes.get(end) == Some(&b'.') {
                end += 1;
                while digit(end) {
                    end += 1;
                }
            }
            if bytes.get(end) == Some(&b'Z') {
                end += 1;
            }
        }
        out.push_str(&text[copied..i]);
        out.push_str("[wall clock]");
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// `devnet serve` in the background; killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves the world in `home/world`, writing `home/auditctl.yml`; returns
/// the server and what it printed up to "press Ctrl-C to stop".
fn serve(home: &Path) -> (Serving, String) {
    let args = [
        "devnet",
        "serve",
        "--world",
        "world",
        "--write-config",
        "auditctl.yml",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(args)
        .current_dir(home)
        .env_remove("AUDITCTL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serving = Serving(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line.starts_with("press Ctrl-C");
            lines.push(line);
            if last {
                let _ = tx.send(lines.join("\n") + "\n");
                return;
            }
        }
    });
    let printed = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("devnet serve printed its addresses");
    let text = format!("$ auditctl {}\n{printed}", args.join(" "));
    (serving, mask(&text, home))
}

/// The hotkey of the world's miner with `uid`.
fn miner(home: &Path, uid: u16) -> String {
    let world = devnet::World::load(&home.join("world")).unwrap();
    world
        .metagraph
        .iter()
        .find(|n| n.uid == uid)
        .unwrap()
        .hotkey
        .clone()
}

/// The story of a user on the devnet, each step's output a snapshot:
/// generate, serve, check the config, try before syncing, sync, then every
/// reading command. One world serves them all, in this order (later
/// outputs count the runs earlier ones recorded).
#[test]
fn every_command_on_one_devnet_world() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    snapshot(
        "devnet_generate",
        home,
        &[
            "devnet",
            "generate",
            "--seed",
            "7",
            "--miners",
            "4",
            "--hours",
            "3",
            "--invocations-per-hour",
            "60",
            "--now",
            AT,
            "--out",
            "world",
        ],
    );
    snapshot(
        "devnet_generate_into_a_full_directory",
        home,
        &["devnet", "generate", "--out", "world"],
    );
    let (_serving, printed) = serve(home);
    insta::assert_snapshot!("devnet_serve", printed);
    snapshot("config_check", home, &["config", "check"]);

    // Before any sync: what a new user sees.
    snapshot("status_before_sync", home, &["status", "--at", AT]);
    snapshot("weights_before_sync", home, &["weights", "--at", AT]);
    snapshot(
        "compare_prom_before_sync",
        home,
        &["compare-prom", "--at", AT],
    );
    snapshot(
        "synth_verify_before_sync",
        home,
        &["synth", "verify", "--at", AT],
    );

    snapshot("sync", home, &["sync", "--at", AT]);
    snapshot("sync_again", home, &["sync", "--at", AT]);
    snapshot("status", home, &["status", "--at", AT]);

    let uid1 = miner(home, 1);
    snapshot("weights", home, &["weights", "--at", AT]);
    snapshot(
        "weights_explain",
        home,
        &["weights", "--at", AT, "--explain", &uid1],
    );
    snapshot(
        "weights_explain_an_unknown_miner",
        home,
        &["weights", "--at", AT, "--explain", "5NotAMiner"],
    );
    // The world's entries are as old as its 2025 clock: the entry-age
    // check is lifted so the dry run shows what would be sent.
    snapshot(
        "weights_dry_run",
        home,
        &[
            "--set",
            "set_weights.max_entry_age_seconds=4000000000",
            "weights",
            "--at",
            AT,
            "--dry-run",
        ],
    );
    snapshot(
        "weights_at_a_time_before_the_data",
        home,
        &["weights", "--at", "2025-01-01T00:00:00Z"],
    );

    snapshot("compare_prom", home, &["compare-prom", "--at", AT]);
    snapshot(
        "compare_prom_explain",
        home,
        &["compare-prom", "--at", AT, "--explain", &uid1],
    );
    snapshot(
        "compare_prom_explain_an_unknown_miner",
        home,
        &["compare-prom", "--at", AT, "--explain", "5NotAMiner"],
    );

    snapshot(
        "synth",
        home,
        &["synth", "--type", "chat", "--seed", "3", "--no-render"],
    );
    snapshot("synth_verify", home, &["synth", "verify", "--at", AT]);

    snapshot(
        "query",
        home,
        &[
            "query",
            "--at",
            AT,
            "SELECT miner_hotkey, COUNT(*) AS invocations, ROUND(SUM(compute_multiplier), 3) AS multiplied \
             FROM invocations GROUP BY miner_hotkey ORDER BY miner_hotkey",
        ],
    );
    snapshot(
        "query_that_writes",
        home,
        &["query", "--at", AT, "DROP TABLE invocations"],
    );
    snapshot(
        "query_of_an_unknown_table",
        home,
        &["query", "--at", AT, "SELECT * FROM wallets"],
    );
    snapshot(
        "report",
        home,
        &["report", "--at", AT, "--out", "page.html"],
    );
    assert!(home.join("page.html").is_file());
}

/// The common mistakes that need no world: each says what is wrong in
/// words, with the exit code scripts rely on.
#[test]
fn the_common_mistakes_say_what_is_wrong() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    snapshot(
        "a_missing_config_file",
        home,
        &["--config", "missing.yml", "status"],
    );
    snapshot(
        "a_bad_url",
        home,
        &["--set", "endpoints.api=not a url", "config", "check"],
    );
    snapshot(
        "a_bad_subtensor_url",
        home,
        &[
            "--set",
            "subtensor.url=http://127.0.0.1:9944",
            "config",
            "check",
        ],
    );
    snapshot(
        "an_unreadable_time",
        home,
        &["weights", "--at", "yesterday"],
    );
    snapshot(
        "a_time_in_the_future",
        home,
        &["sync", "--at", "2999-01-01T00:00:00Z"],
    );
    snapshot("an_unknown_command", home, &["wieghts"]);
    snapshot("run_without_an_api_key", home, &["run"]);
    snapshot("synth_without_an_api_key", home, &["synth"]);
    snapshot(
        "report_with_no_data",
        home,
        &["report", "--out", "page.html"],
    );
    snapshot(
        "a_duration_that_is_not_one",
        home,
        &["query", "--window", "a week", "SELECT 1"],
    );
}

#[test]
fn the_masks_hide_only_what_varies() {
    let home = PathBuf::from("/tmp/.tmpAbC");
    assert_eq!(
        mask(
            "/tmp/.tmpAbC/data at http://127.0.0.1:43121/ in 1.2s, 35.0ms, 3.1µs; 30s 2s2 v1.2s at 2026-12-06 09:13: and 2026-12-06T09:13:37.123Z, not 2025-02-10 12:00 or 2999-01-01",
            &home
        ),
        "[home]/data at http://127.0.0.1:[port]/ in [duration], [duration], [duration]; 30s 2s2 v1.2s at [wall clock]: and [wall clock], not 2025-02-10 12:00 or 2999-01-01"
    );
}
