//! The client against a scripted HTTP server on loopback: every endpoint's
//! shape, pagination, retries on 5xx but not 4xx, the body cap, and the
//! trace stream of an invocation that fails over to a second miner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chutes_client::*;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// Answers by request target (path and query); `fail_first` 503s first;
/// `cut_first` sends the first answers' bodies only halfway, then hangs up.
#[derive(Default)]
struct Script {
    routes: HashMap<String, Reply>,
    fail_first: HashMap<String, usize>,
    cut_first: HashMap<String, usize>,
    hits: Mutex<HashMap<String, usize>>,
}

async fn serve(script: Script) -> (Url, Arc<Script>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let script = Arc::new(script);
    let shared = script.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let script = shared.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut read = 0;
                loop {
                    let n = socket.read(&mut buf[read..]).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length: usize = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if read >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&buf[..read]).to_string();
                let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let count = {
                    let mut hits = script.hits.lock().unwrap();
                    let c = hits.entry(target.clone()).or_default();
                    *c += 1;
                    *c
                };
                let (status, headers, body) =
                    if count <= script.fail_first.get(&target).copied().unwrap_or(0) {
                        (503, vec![], b"busy".to_vec())
                    } else {
                        script.routes.get(&target).cloned().unwrap_or((
                            404,
                            vec![],
                            b"not found".to_vec(),
                        ))
                    };
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let cut = count <= script.cut_first.get(&target).copied().unwrap_or(0);
                let sent = if cut { body.len() / 2 } else { body.len() };
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body[..sent]).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, script)
}

fn client(url: &Url) -> ChutesClient {
    client_with_cap(url, 10_000)
}

fn client_with_cap(url: &Url, cap: u64) -> ChutesClient {
    let mut config = ClientConfig::new(Endpoints {
        api: url.clone(),
        llm: url.clone(),
        chute_url_template: format!("{url}chute/{{slug}}/"),
    });
    config.backoff = Duration::from_millis(5);
    config.max_body_bytes = cap;
    config.api_key = Some("cpk_test".into());
    ChutesClient::new(config).unwrap()
}

fn ok(body: &str) -> Reply {
    (200, vec![], body.as_bytes().to_vec())
}

#[tokio::test]
async fn audit_entries_reports_and_exports() {
    let mut script = Script::default();
    script.routes.insert(
        "/audit/".into(),
        ok(r#"[{"entry_id": "E1-ABC", "hotkey": "5V", "block": 7, "path": "audit/validator/5V/7.json",
              "created_at": "2025-02-10T16:00:07.123456", "start_time": "2025-02-10T15:00:00Z", "end_time": "2025-02-10T16:00:00+00:00"},
             {"entry_id": "e3", "hotkey": "5V", "path": "audit/validator/5V/9.json",
              "created_at": "2025-02-10T16:00:07", "start_time": "2025-02-10T15:00:00", "end_time": "2025-02-10T16:00:00"},
             {"entry_id": "e4", "hotkey": "5V", "block": 10, "path": "audit/validator/5V/10.json",
              "created_at": "yesterday", "start_time": "2025-02-10T15:00:00", "end_time": "2025-02-10T16:00:00"},
             17,
             {"entry_id": "e2", "hotkey": "5M", "block": 8, "path": "audit/miner/5M/8.json",
              "created_at": "2025-02-10T16:00:09", "start_time": "2025-02-10T15:00:00", "end_time": "2025-02-10T16:00:00"}]"#),
    );
    script.routes.insert(
        "/audit/download?path=audit%2Fvalidator%2F5V%2F7.json".into(),
        ok("{\"a\": 1}"),
    );
    script.routes.insert(
        "/invocations/exports/2025/02/10/16.csv".into(),
        ok("invocation_id\nx\n"),
    );
    script
        .fail_first
        .insert("/invocations/exports/2025/02/10/16.csv".into(), 2);
    let (url, script) = serve(script).await;
    let c = client(&url);

    let listing = c.audit_entries().await.unwrap();
    // Three malformed elements are set aside, by position; the rest reads.
    let skipped: Vec<usize> = listing.malformed.iter().map(|m| m.index).collect();
    assert_eq!(skipped, [1, 2, 3], "{:?}", listing.malformed);
    assert!(listing.malformed[0].reason.contains("block"));
    assert!(listing.malformed[1].reason.contains("created_at"));
    let entries = listing.entries;
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].entry_id, "e1-abc",
        "ids normalised to lower case"
    );
    assert_eq!(
        entries[0].created_at.to_string(),
        "2025-02-10 16:00:07.123456"
    );
    assert_eq!(entries[1].source, audit_model::EntrySource::Miner);

    let report = c
        .download_report("audit/validator/5V/7.json")
        .await
        .unwrap();
    assert_eq!(report.bytes, b"{\"a\": 1}");
    // sha256 of exactly the bytes served (checked with Python hashlib).
    assert_eq!(
        report.sha256,
        "f9d86028c6e0d64e225186f96acb69338b2c59764df79162107f5c4bb34d1310"
    );

    // Two 503s, then the body: retried.
    let export = c
        .download_export(&url, "invocations/2025/02/10/16.csv")
        .await
        .unwrap();
    assert_eq!(export.bytes, b"invocation_id\nx\n");
    assert_eq!(
        script.hits.lock().unwrap()["/invocations/exports/2025/02/10/16.csv"],
        3
    );

    assert!(c
        .download_export(&url, "invocations/../../etc/passwd")
        .await
        .is_err());
    assert!(c.download_export(&url, "elsewhere/x.csv").await.is_err());
    for encoded in [
        "invocations/%2e%2e/%2e%2e/etc/passwd",
        "invocations/a%5c..%5cb.csv",
    ] {
        let err = c.download_export(&url, encoded).await.unwrap_err();
        assert!(
            matches!(err, ClientError::UnsafePath(_)),
            "{encoded}: {err}"
        );
    }
    {
        let hits = script.hits.lock().unwrap();
        assert!(
            hits.keys().all(|target| !target.contains("etc")),
            "an unsafe path reached the server: {hits:?}"
        );
    }

    // Streamed to a file: the same bytes and hash as buffered.
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("16.csv.part");
    let streamed = c
        .download_export_to(&url, "invocations/2025/02/10/16.csv", &dest)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"invocation_id\nx\n");
    assert_eq!(
        (streamed.bytes, streamed.sha256),
        (export.bytes.len() as u64, export.sha256)
    );
}

#[tokio::test]
async fn a_large_export_streams_to_its_file_whole_and_in_order_after_a_broken_attempt() {
    // Several of the writer's megabyte writes and a remainder: every byte
    // lands where it was sent.
    let body: String = (0..400_000u32)
        .map(|i| format!("{i:08x},\n"))
        .collect::<String>();
    assert!(body.len() > 3 << 20 && body.len() % (1 << 20) != 0);
    let mut script = Script::default();
    script
        .routes
        .insert("/invocations/exports/2025/02/10/17.csv".into(), ok(&body));
    // The first answer breaks off after 2 MB: the retry's file must hold
    // the body alone, nothing of the broken attempt's writes.
    script
        .cut_first
        .insert("/invocations/exports/2025/02/10/17.csv".into(), 1);
    let (url, script) = serve(script).await;
    let c = client_with_cap(&url, 8 << 20);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("17.csv.part");
    let streamed = c
        .download_export_to(&url, "invocations/2025/02/10/17.csv", &dest)
        .await
        .unwrap();
    let buffered = c
        .download_export(&url, "invocations/2025/02/10/17.csv")
        .await
        .unwrap();
    assert!(std::fs::read(&dest).unwrap() == body.as_bytes());
    assert_eq!(
        (streamed.bytes, streamed.sha256),
        (body.len() as u64, buffered.sha256)
    );
    assert_eq!(
        script.hits.lock().unwrap()["/invocations/exports/2025/02/10/17.csv"],
        3,
        "a broken body, its retry, then the buffered download"
    );
}

#[tokio::test]
async fn four_hundreds_are_not_retried_and_errors_name_the_url() {
    let (url, script) = serve(Script::default()).await;
    let err = client(&url)
        .download_report("audit/none.json")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("404") && text.contains("/audit/download"),
        "{text}"
    );
    assert_eq!(script.hits.lock().unwrap().values().sum::<usize>(), 1);

    let mut script = Script::default();
    script
        .fail_first
        .insert("/chutes/gpu_count_history".into(), 10);
    script
        .routes
        .insert("/chutes/gpu_count_history".into(), ok("[]"));
    let (url, script) = serve(script).await;
    let err = client(&url).gpu_counts().await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(
        script.hits.lock().unwrap()["/chutes/gpu_count_history"],
        4,
        "1 + 3 retries"
    );
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let mut script = Script::default();
    script.routes.insert(
        "/chutes/gpu_count_history".into(),
        (200, vec![], vec![b' '; 20_000]),
    );
    let (url, _) = serve(script).await;
    let err = client(&url).gpu_counts().await.unwrap_err();
    assert!(
        matches!(err, ClientError::TooLarge { cap: 10_000, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn the_catalogue_pages_until_a_short_page_and_gpu_counts_parse() {
    let page = |n: usize, from: usize| {
        let items: Vec<String> = (from..from + n)
            .map(|i| format!(r#"{{"chute_id": "c{i}", "name": "n{i}", "slug": "s{i}", "standard_template": "vllm", "user": {{"username": "chutes"}}, "cord_ref_id": "r", "instances": [{{"instance_id": "i", "active": true, "verified": {}}}]}}"#, i % 2 == 0))
            .collect();
        ok(&format!(
            r#"{{"total": 1001, "items": [{}], "cord_refs": {{"r": [{{"path": "/speak", "function": "speak", "stream": false}}]}}}}"#,
            items.join(",")
        ))
    };
    let mut script = Script::default();
    script.routes.insert(
        "/chutes/?include_public=true&limit=1000&page=0&exclude=affine".into(),
        page(1000, 0),
    );
    script.routes.insert(
        "/chutes/?include_public=true&limit=1000&page=1&exclude=affine".into(),
        page(1, 1000),
    );
    script.routes.insert(
        "/chutes/gpu_count_history".into(),
        ok(r#"[{"chute_id": "c0", "gpu_count": 8}]"#),
    );
    let (url, _) = serve(script).await;
    let c = client_with_cap(&url, 1 << 20);
    let chutes = c.chutes().await.unwrap();
    assert_eq!(chutes.len(), 1001);
    assert!(chutes[0].is_hot() && !chutes[1].is_hot());
    assert_eq!(chutes[0].cords[0].path.as_deref(), Some("/speak"));
    assert_eq!(chutes[0].username.as_deref(), Some("chutes"));
    assert_eq!(c.gpu_counts().await.unwrap()[0].gpu_count, 8);
    assert_eq!(
        c.chute_url("s1", "speak").unwrap().as_str(),
        format!("{url}chute/s1/speak")
    );
}

#[tokio::test]
async fn a_catalogue_that_pages_forever_is_cut_off_with_a_clear_error() {
    // Every page is full, so a client without a cap would ask forever.
    let mut script = Script::default();
    for page in 0..=MAX_CATALOGUE_PAGES {
        script.routes.insert(
            format!("/chutes/?include_public=true&limit=1&page={page}&exclude=affine"),
            ok(&format!(r#"{{"items": [{{"chute_id": "c{page}"}}]}}"#)),
        );
    }
    let (url, script) = serve(script).await;
    let mut config = ClientConfig::new(Endpoints {
        api: url.clone(),
        llm: url.clone(),
        chute_url_template: format!("{url}chute/{{slug}}/"),
    });
    config.page_size = 1;
    let c = ChutesClient::new(config).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), c.chutes())
        .await
        .expect("the client stops on its own")
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::TooManyPages {
                pages: MAX_CATALOGUE_PAGES,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("did not end"), "{err}");
    let asked = script.hits.lock().unwrap().len();
    assert_eq!(asked, MAX_CATALOGUE_PAGES);
}

#[tokio::test]
async fn a_traced_invocation_streams_a_failed_attempt_then_a_retry() {
    let lines = [
        r#"data: {"trace": {"timestamp": "2025-02-10T15:51:19.1", "invocation_id": "p1", "chute_id": "c", "function": "chat", "message": "identified 2 available targets"}}"#,
        r#"data: {"trace": {"timestamp": "2025-02-10T15:51:19.2", "invocation_id": "p1", "child_id": "a1", "chute_id": "c", "function": "chat", "message": "attempting to query target=i1 uid=3 hotkey=5A coldkey=5CA"}}"#,
        r#"data: {"trace": {"timestamp": "2025-02-10T15:51:19.3", "invocation_id": "p1", "chute_id": "c", "function": "chat", "message": "error encountered while querying target=i1 uid=3 hotkey=5A coldkey=5CA: connection reset"}}"#,
        r#"data: {"trace": {"timestamp": "2025-02-10T15:51:19.4", "invocation_id": "p1", "child_id": "a2", "chute_id": "c", "function": "chat", "message": "attempting to query target=i2 uid=4 hotkey=5B coldkey=5CB"}}"#,
        r#"data: {"result": "data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}}]}"}"#,
        r#"data: {"trace": {"timestamp": "2025-02-10T15:51:19.5", "invocation_id": "p1", "chute_id": "c", "function": "chat", "message": "successfully called function='chat' on target=i2 uid=4 hotkey=5B coldkey=5CB"}}"#,
        "data: [DONE]",
    ];
    let mut script = Script::default();
    script.routes.insert(
        "/v1/chat/completions".into(),
        (
            200,
            vec![("X-Chutes-InvocationID".into(), "p1".into())],
            lines.join("\n").into_bytes(),
        ),
    );
    let (url, _) = serve(script).await;
    let c = client(&url);
    let response = c
        .invoke_traced(TracedRequest {
            url: c.llm_url("v1/chat/completions").unwrap(),
            body: serde_json::json!({"model": "m"}),
        })
        .await
        .unwrap();
    assert_eq!(response.parent_invocation_id.as_deref(), Some("p1"));
    let events: Vec<Event> = response.events.map(Result::unwrap).collect().await;
    assert_eq!(events.len(), 6);
    let attempts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Trace(t) if matches!(t.message, TraceMessage::Attempting(_)) => {
                t.child_id.as_deref()
            }
            _ => None,
        })
        .collect();
    assert_eq!(attempts, ["a1", "a2"]);
    assert!(events.iter().any(|e| matches!(e, Event::Trace(t) if matches!(&t.message, TraceMessage::Failed { target, .. } if target.instance_id == "i1"))));

    // A non-200 is an error naming the status, and is not retried.
    let err = c
        .invoke_traced(TracedRequest {
            url: c.llm_url("v1/completions").unwrap(),
            body: serde_json::json!({}),
        })
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("404"), "{err}");
}
