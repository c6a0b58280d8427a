//! A hostile API serving a huge export body (generated on the fly, never
//! stored): the download streams to a staging file while it is hashed, so
//! the sync's memory stays bounded whatever the body's size; the entry is
//! rejected when the hash does not match, and the staging file is gone.
//! Its own test binary, so the process's peak memory is this test's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use audit_sync::*;
use chutes_client::{ChutesClient, ClientConfig, Endpoints};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const BLOCK: u32 = 4_812_345;
const BODY: u64 = 256 << 20;
const EXPORT: &str = "/invocations/exports/2025/02/10/16.csv";

fn report() -> String {
    format!(
        r#"{{"instance_audit": [], "csv_exports": {{"invocations": {{"path": "invocations/2025/02/10/16.csv", "sha256": "{}"}}}}}}"#,
        "ab".repeat(32)
    )
}

/// Serves the listing, the report, and `BODY` bytes of junk as the export.
async fn hostile_api() -> url::Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let listing = format!(
        r#"[{{"entry_id": "{}", "hotkey": "{VALIDATOR}", "block": {BLOCK},
            "path": "audit/validator/{VALIDATOR}/{BLOCK}.json",
            "created_at": "2025-02-10T16:00:07", "start_time": "2025-02-10T15:00:00",
            "end_time": "2025-02-10T16:00:00"}}]"#,
        expected_entry_id(VALIDATOR, BLOCK)
    );
    let routes: Arc<HashMap<String, String>> = Arc::new(HashMap::from([
        ("/audit/".to_string(), listing),
        (
            format!("/audit/download?path=audit%2Fvalidator%2F{VALIDATOR}%2F{BLOCK}.json"),
            report(),
        ),
        ("/chutes/gpu_count_history".to_string(), "[]".to_string()),
    ]));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..read]).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                if target == EXPORT {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {BODY}\r\nconnection: close\r\n\r\n"
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 << 10];
                    let mut sent = 0;
                    while sent < BODY {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                        sent += chunk.len() as u64;
                    }
                    return;
                }
                let (status, body) = match routes.get(&target) {
                    Some(body) => (200, body.clone()),
                    None => (404, "not found".to_string()),
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

/// An honest chain: the report is committed at its block.
struct Chain;

impl ChainSource for Chain {
    // A test double: its answers are the test's own, taken as proven.
    fn proves_reads(&self) -> bool {
        true
    }

    async fn commitment(&self, _hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        Ok(Commitment::Sha256 {
            sha256: Sha256::digest(report().as_bytes()).into(),
            block,
        })
    }
    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        Err(SourceError::refused("no metagraph here"))
    }
}

/// The process's peak resident memory, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb << 10
}

fn temp_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir).unwrap().flatten() {
        let path = item.path();
        if path.to_string_lossy().contains(TMP_MARKER) {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(temp_files(&path));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_export_streams_through_bounded_memory_and_is_rejected_on_its_hash() {
    let url = hostile_api().await;
    let before = peak_rss();
    each_backend(|t: TestStore| {
        let url = url.clone();
        async move {
            let store = Arc::new(
                Store::open(t.data_dir(), Some(t.database_url()))
                    .await
                    .unwrap(),
            );
            let mut config = ClientConfig::new(Endpoints {
                api: url.clone(),
                llm: url.clone(),
                chute_url_template: format!("{url}{{slug}}/"),
            });
            config.max_body_bytes = 4 << 30;
            config.backoff = Duration::from_millis(1);
            let client = Arc::new(ChutesClient::new(config).unwrap());
            let options = SyncOptions::new(
                audit_store::time::parse_utc("2025-02-10T17:00:00").unwrap(),
                BTreeMap::from([(VALIDATOR.to_string(), url.to_string())]),
            );
            let summary = sync(
                store.clone(),
                client,
                Arc::new(Chain),
                &options,
                |_, _, _| {},
            )
            .await
            .unwrap();
            assert!(summary.integrity_violation(), "{summary:?}");
            assert!(
                summary.rejected[0].reason.contains("has sha256"),
                "{}",
                summary.rejected[0].reason
            );
            assert!(store.lake().entry_ids().unwrap().is_empty());
            let left = temp_files(store.lake().root());
            assert!(left.is_empty(), "staging files left: {left:?}");
        }
    })
    .await;
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 96 << 20,
        "peak memory grew by {} MiB for a {} MiB body",
        grown >> 20,
        BODY >> 20
    );
}
