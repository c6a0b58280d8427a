//! What reaches the terminal: strings from the network (export rows, an
//! error body) are shown with their control characters escaped, never
//! obeyed; logs carry colour only on a terminal and never under
//! `NO_COLOR`; a seed pasted under the wrong key is never echoed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use devnet::{GenerateOptions, Network, NetworkOptions, World};
use serde_json::Value;
use sha2::{Digest, Sha256};

const AT: &str = "2025-02-10T12:00:00Z";

/// What a hostile string carries: a recolour, a window title, a bell, a
/// line rewrite, a NUL, an 8-bit CSI and a bidi override.
const HOSTILE: &str = "\u{1b}[31m\u{1b}]0;pwned\u{7}\r\u{0}\u{9b}2J\u{202e}";

/// The characters of `bytes` a terminal would act on (newlines aside):
/// C0, DEL, C1 and the bidi controls.
fn controls(bytes: &[u8]) -> Vec<char> {
    let bidi = |c: char| matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|&c| (c.is_control() || bidi(c)) && c != '\n')
        .collect()
}

fn auditctl(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Appends `rows` (column → value, the rest copied from the export's first
/// row) to the first validator export; its hash and report are updated,
/// as a validator publishing such rows would.
fn append_rows(world_dir: &Path, rows: &[&[(&str, &str)]]) {
    let world = World::load(world_dir).unwrap();
    let entry = world
        .entries
        .iter()
        .find(|e| e.hotkey == world.meta.validator_hotkey)
        .unwrap();
    let report_file = world_dir.join(&entry.report);
    let mut report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let path = report["csv_exports"]["invocations"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let csv_file = world.export_file(&path).unwrap();
    let mut bytes = std::fs::read(&csv_file).unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers().unwrap().clone();
    let first = reader.records().next().unwrap().unwrap();
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for (i, changes) in rows.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let record: Vec<String> = header
            .iter()
            .zip(first.iter())
            .map(|(column, value)| match column {
                "invocation_id" | "parent_invocation_id" => id.clone(),
                _ => changes
                    .iter()
                    .find(|(c, _)| *c == column)
                    .map_or(value, |(_, v)| v)
                    .to_string(),
            })
            .collect();
        writer.write_record(&record).unwrap();
    }
    bytes.extend_from_slice(&writer.into_inner().unwrap());
    std::fs::write(&csv_file, &bytes).unwrap();
    report["csv_exports"]["invocations"]["sha256"] = hex::encode(Sha256::digest(&bytes)).into();
    std::fs::write(&report_file, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
}

/// A miner's hotkey made of control characters, and a real miner's row
/// under a chute id made of them: the first row is malformed (not an
/// SS58 address), the second loads, and neither reaches the terminal raw
/// in compare-prom's table, its `--explain` or its JSON.
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_export_rows_reach_no_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    devnet::generate(&GenerateOptions {
        out: world_dir.clone(),
        seed: 22,
        miners: 3,
        hours: 3,
        invocations_per_hour: 30,
        now: audit_store::time::parse_utc(AT).unwrap(),
    })
    .unwrap();
    let miner = World::load(&world_dir).unwrap().metagraph[1].hotkey.clone();
    let bad_hotkey = format!("5F{HOSTILE}");
    let bad_chute = format!("chute{HOSTILE}");
    append_rows(
        &world_dir,
        &[
            &[("miner_hotkey", &bad_hotkey)],
            &[("miner_hotkey", &miner), ("chute_id", &bad_chute)],
        ],
    );
    let world = World::load(&world_dir).unwrap();
    let network = Network::start(world.clone(), NetworkOptions::default())
        .await
        .unwrap();
    let (url, ws) = (network.http_url(), network.ws_url());
    let config = dir.path().join("auditctl.yml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nendpoints:\n  api: {url}\n  llm: {url}\n\
             validators:\n  - name: devnet\n    hotkey: {}\n    url: {url}\n\
             subtensor:\n  url: {ws}\n  archive_url: {ws}\n  timeout_seconds: 5\n",
            dir.path().join("data").display(),
            world.meta.validator_hotkey
        ),
    )
    .unwrap();
    let config = config.clone();
    let miner_for_cli = miner.clone();
    let (synced, table, explained, json) = tokio::task::spawn_blocking(move || {
        (
            auditctl(&config, &["--json", "sync", "--at", AT]),
            auditctl(&config, &["compare-prom", "--at", AT]),
            auditctl(
                &config,
                &["compare-prom", "--at", AT, "--explain", &miner_for_cli],
            ),
            auditctl(
                &config,
                &[
                    "--json",
                    "compare-prom",
                    "--at",
                    AT,
                    "--explain",
                    &miner_for_cli,
                ],
            ),
        )
    })
    .await
    .unwrap();

    let summary: Value = serde_json::from_slice(&synced.stdout)
        .unwrap_or_else(|_| panic!("sync: {}", text(&synced.stderr)));
    assert_eq!(summary["malformed_rows"], 1, "{summary}");
    assert_eq!(
        controls(&synced.stderr),
        Vec::<char>::new(),
        "{}",
        text(&synced.stderr)
    );

    for out in [&table, &explained, &json] {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            controls(&out.stdout),
            Vec::<char>::new(),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(
            controls(&out.stderr),
            Vec::<char>::new(),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(
        !text(&table.stdout).contains("5F\\u{1b}"),
        "{}",
        text(&table.stdout)
    );
    // The chute is shown, its controls written out.
    let shown = text(&explained.stdout);
    assert!(shown.contains("chute\\u{1b}[31m\\u{1b}]0;pwned"), "{shown}");
    // JSON keeps the value exactly: a reader decodes the same string.
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    let chutes: Vec<&str> = doc["by_chute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chute_id"].as_str().unwrap())
        .collect();
    assert!(chutes.contains(&bad_chute.as_str()), "{chutes:?}");
}

/// A loopback server answering every request with a 500 whose body
/// carries control characters.
fn failing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("upstream exploded {HOSTILE}\nerror: all good");
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn an_error_body_is_shown_on_one_line_with_its_controls_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let url = failing_server();
    let config = dir.path().join("auditctl.yml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\napi_key: cpk_test\nendpoints:\n  api: {url}\n  llm: {url}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = auditctl(&config, &["synth", "--no-render"]);
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("500"), "{stderr}");
    assert!(stderr.contains("upstream exploded \\u{1b}[31m"), "{stderr}");
    assert_eq!(controls(&out.stderr), Vec::<char>::new(), "{stderr}");
    // The body's line break cannot forge a line of auditctl's own.
    assert!(
        !stderr.lines().any(|l| l.starts_with("error: all good")),
        "{stderr}"
    );
}

/// A config whose hotkey seed sits in a file others may read: `config
/// check` warns through the log, naming the file, whose name carries
/// control characters.
fn warning_config(dir: &Path) -> PathBuf {
    let config = dir.join("seed\u{1b}]0;pwned\u{7}\r.yml");
    std::fs::write(
        &config,
        format!(
            "set_weights:\n  secret_seed: \"{}\"\n  ss58: {}\n",
            devnet::validator_seed_hex(),
            devnet::VALIDATOR_HOTKEY
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    config
}

#[test]
fn logs_to_a_file_or_pipe_carry_no_colour_and_no_raw_controls() {
    let dir = tempfile::tempdir().unwrap();
    let config = warning_config(dir.path());
    let out = auditctl(&config, &["config", "check"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert_eq!(controls(&out.stderr), Vec::<char>::new(), "{stderr}");
}

/// Runs `config check` with stderr on a pseudo-terminal; returns what the
/// terminal received.
fn on_a_terminal(config: &Path, no_color: Option<&str>) -> String {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditctl"));
    command
        .arg("--config")
        .arg(config)
        .args(["config", "check"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::from(terminal));
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let status = command.status().unwrap();
    // The command holds its copy of the terminal until dropped.
    drop(command);
    assert!(status.success());
    // The child has exited and its end of the terminal is closed: what it
    // wrote is buffered; read until the terminal reports its end (EIO),
    // on a thread so a stuck read cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(seen);
    });
    let seen = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    text(&seen)
}

#[test]
fn logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = warning_config(dir.path());
    let coloured = on_a_terminal(&config, None);
    assert!(coloured.contains("chmod 600"), "{coloured:?}");
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    // Colour, but not the file name's title sequence.
    assert!(!coloured.contains("\u{1b}]0;pwned"), "{coloured:?}");
    for value in ["1", "true"] {
        let plain = on_a_terminal(&config, Some(value));
        assert!(plain.contains("chmod 600"), "{plain:?}");
        assert!(!plain.contains('\u{1b}'), "NO_COLOR={value}: {plain:?}");
    }
    // An empty NO_COLOR does not count (no-color.org).
    assert!(on_a_terminal(&config, Some("")).contains("\u{1b}["));
}

#[test]
fn a_seed_given_under_the_wrong_key_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = devnet::validator_seed_hex();
    let in_file = dir.path().join("auditctl.yml");
    std::fs::write(&in_file, format!("set_weights: \"{seed}\"\n")).unwrap();
    let empty = dir.path().join("empty.yml");
    std::fs::write(&empty, "").unwrap();
    let set = format!("set_weights.ss58={seed}");
    for out in [
        auditctl(&in_file, &["config", "check"]),
        auditctl(&empty, &["--set", &set, "config", "check"]),
        auditctl(
            &empty,
            &["--set", &format!("set_weights={seed}"), "config", "check"],
        ),
    ] {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("`set_weights"), "{stderr}");
        assert!(!stderr.contains(&seed[2..34]), "{stderr}");
        assert!(!stderr.contains(&seed[34..]), "{stderr}");
    }
}
