//! A Prometheus answering with a 60 MB `query_range` result (generated as
//! it is sent): live mode parses it as it streams, into numbers, so the
//! process's peak memory grows by a fraction of the answer's size. Its own
//! test binary, so the peak is this test's.

mod common;

use axum::body::{Body, Bytes};
use common::*;
use futures::StreamExt;
use prom_compare::*;

const SERIES: usize = 2_000;
const SAMPLES: i64 = 1_440;

/// One series of the answer: a minute's samples over a day.
fn series(i: usize) -> Bytes {
    let start = hour(-3).and_utc().timestamp();
    let mut text = format!(
        r#"{}{{"metric": {{"chute_id": "c{i}", "function": "chat"}}, "values": ["#,
        if i == 0 { "" } else { ", " }
    );
    for s in 0..SAMPLES {
        if s > 0 {
            text.push_str(", ");
        }
        text.push_str(&format!("[{}, \"{}\"]", start + 60 * s, s));
    }
    text.push_str("]}");
    Bytes::from(text)
}

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb << 10
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_answer_is_parsed_as_it_streams() {
    let t = audit_store::testing::sqlite_store().await;
    build(t.store()).await;
    let answer_bytes: usize = (0..SERIES).map(|i| series(i).len()).sum();
    assert!(answer_bytes > 60_000_000, "{answer_bytes}");
    let url = serve(axum::Router::new().route(
        "/api/v1/query_range",
        axum::routing::get(|| async {
            let head = Bytes::from_static(
                br#"{"status": "success", "data": {"resultType": "matrix", "result": ["#,
            );
            let body = futures::stream::iter([head])
                .chain(futures::stream::iter(0..SERIES).map(series))
                .chain(futures::stream::iter([Bytes::from_static(b"]}}")]))
                .map(Ok::<_, std::convert::Infallible>);
            Body::from_stream(body)
        }),
    ))
    .await;
    let validators = [VALIDATOR.to_string()];
    let before = peak_rss();
    let started = std::time::Instant::now();
    let live = compare_live(t.store(), &live_options(&url, &validators))
        .await
        .unwrap();
    let grown = peak_rss().saturating_sub(before);
    eprintln!(
        "a {} MB answer: peak memory grew by {} MiB, {:.1} s",
        answer_bytes / 1_000_000,
        grown >> 20,
        started.elapsed().as_secs_f64()
    );
    assert!(live.agreement.reported_count.is_some());
    assert!(
        grown < 128 << 20,
        "peak memory grew by {} MiB for a {} MB answer",
        grown >> 20,
        answer_bytes / 1_000_000
    );
}
