//! A small lake built by hand, shared by the tests: validator hours with
//! invocations, miners' self-reports, and the compare options over them.

#![allow(dead_code)]

use audit_store::facts::{self, invocations as inv, miner_metrics as mm};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use polars::prelude::*;
use prom_compare::*;

pub const VALIDATOR: &str = "5Validator";

/// 2025-02-10 12:00 plus `h` hours.
pub fn hour(h: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        + TimeDelta::hours(h)
}

pub fn at() -> NaiveDateTime {
    hour(0) + TimeDelta::minutes(30)
}

pub fn entry_id(hotkey: &str, h: i64) -> String {
    uuid_of(&format!("{hotkey}.{h}"))
}

pub fn uuid_of(text: &str) -> String {
    // A fixed UUID shape from a text: only needs to be unique and valid.
    let mut bytes = [0u8; 16];
    for (i, b) in text.bytes().enumerate() {
        bytes[i % 16] = bytes[i % 16].wrapping_mul(31).wrapping_add(b);
    }
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        u32::from_be_bytes(bytes[0..4].try_into().unwrap()),
        u16::from_be_bytes(bytes[4..6].try_into().unwrap()),
        u16::from_be_bytes(bytes[6..8].try_into().unwrap()) & 0xfff,
        u16::from_be_bytes(bytes[8..10].try_into().unwrap()) & 0xfff,
        u64::from_be_bytes([
            0, 0, bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ])
    )
}

pub async fn load(store: &Store, hotkey: &str, h: i64, source: EntrySource) -> String {
    let entry = AuditEntry {
        entry_id: entry_id(hotkey, h),
        hotkey: hotkey.into(),
        block: 1000 + h.unsigned_abs() as u32,
        path: format!("audit/x/{hotkey}/{h}.json"),
        source,
        created_at: hour(h + 1) + TimeDelta::seconds(30),
        start_time: hour(h),
        end_time: hour(h + 1),
    };
    let catalog = store.catalog();
    catalog
        .record_listed(std::slice::from_ref(&entry), hour(h + 1))
        .await
        .unwrap();
    let loaded = LoadedEntry {
        report_sha256: "00".into(),
        unverifiable: false,
        instance_rows: 0,
        commitment_proven: None,
        exports: vec![],
    };
    catalog
        .mark_loaded(&entry.entry_id, &loaded, hour(h + 1))
        .await
        .unwrap();
    entry.entry_id
}

/// Invocation rows: (miner, chute, error, completed).
pub fn invocations(rows: &[(&str, &str, bool, bool)]) -> DataFrame {
    let n = rows.len();
    let t = hour(-3).and_utc().timestamp_micros();
    let frame = df!(
        inv::INVOCATION_ID => (0..n).map(|i| format!("i{i}")).collect::<Vec<_>>(),
        inv::MINER_HOTKEY => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        inv::CHUTE_ID => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        inv::ERROR_MESSAGE => rows.iter().map(|r| r.2.then_some("boom")).collect::<Vec<_>>(),
        inv::STARTED_AT => vec![t; n],
        inv::COMPLETED_AT => rows.iter().map(|r| r.3.then_some(t + 1)).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
    .with_columns([
        col(inv::STARTED_AT).cast(facts::timestamp()),
        col(inv::COMPLETED_AT).cast(facts::timestamp()),
    ])
    .collect()
    .unwrap();
    facts::conform(frame, FactTable::Invocations, &[]).unwrap()
}

/// Self-reported rows: (claimed hotkey, chute, total_count).
pub fn metrics(rows: &[(&str, &str, f64)]) -> DataFrame {
    let frame = df!(
        mm::MINER_HOTKEY => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        mm::CHUTE_ID => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        mm::FUNCTION => rows.iter().map(|_| "chat").collect::<Vec<_>>(),
        mm::TOTAL_COUNT => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    )
    .unwrap();
    facts::conform(frame, FactTable::MinerMetrics, &[]).unwrap()
}

/// Two validator hours (-3 and -2):
/// - 5A: 10 successes in -3 (6 on chute c1, 4 on c2), 10 in -2 (c1);
///   a failed and an unfinished row that do not count;
/// - 5B: 10 successes in -3;
/// - 5C: only failures: it appears, with a count of 0.
///
/// Self-reports:
/// - 5A reports 6 + 4 in -3 and 5 in -2 (so 15 of 20: flagged), and its
///   -2 report carries a negative count (a counter went down);
/// - 5B reports 9 in -3, plus NaN and +inf rows that must not count,
///   but its -3 report body claims to be 5A: it still counts for 5B;
/// - 5C reports nothing.
pub async fn build(store: &Store) {
    let lake = store.lake();
    let id = load(store, VALIDATOR, -3, EntrySource::Validator).await;
    let mut rows: Vec<(&str, &str, bool, bool)> = Vec::new();
    rows.extend(std::iter::repeat_n(("5A", "c1", false, true), 6));
    rows.extend(std::iter::repeat_n(("5A", "c2", false, true), 4));
    rows.push(("5A", "c1", true, true));
    rows.push(("5A", "c1", false, false));
    rows.extend(std::iter::repeat_n(("5B", "c1", false, true), 10));
    rows.push(("5C", "c3", true, true));
    lake.write_facts(&id, FactTable::Invocations, &mut invocations(&rows))
        .unwrap();
    let id = load(store, VALIDATOR, -2, EntrySource::Validator).await;
    let rows = vec![("5A", "c1", false, true); 10];
    lake.write_facts(&id, FactTable::Invocations, &mut invocations(&rows))
        .unwrap();
    // Another validator's export is not the reference.
    let id = load(store, "5Other", -2, EntrySource::Validator).await;
    let rows = vec![("5B", "c1", false, true); 50];
    lake.write_facts(&id, FactTable::Invocations, &mut invocations(&rows))
        .unwrap();

    let id = load(store, "5A", -3, EntrySource::Miner).await;
    lake.write_facts(
        &id,
        FactTable::MinerMetrics,
        &mut metrics(&[("5A", "c1", 6.0), ("5A", "c2", 4.0)]),
    )
    .unwrap();
    let id = load(store, "5A", -2, EntrySource::Miner).await;
    lake.write_facts(
        &id,
        FactTable::MinerMetrics,
        &mut metrics(&[("5A", "c1", 5.0), ("5A", "c2", -7.0)]),
    )
    .unwrap();
    lake.write_report(
        &id,
        br#"{"prometheus_message": "Prometheus has been running the entire audit time slice."}"#,
    )
    .unwrap();
    let id = load(store, "5B", -3, EntrySource::Miner).await;
    lake.write_facts(
        &id,
        FactTable::MinerMetrics,
        &mut metrics(&[
            ("5A", "c1", 9.0),
            ("5A", "c1", f64::NAN),
            ("5A", "c1", f64::INFINITY),
        ]),
    )
    .unwrap();
}

pub fn options(explain: Option<&'static str>) -> CompareOptions<'static> {
    static VALIDATORS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec![VALIDATOR.to_string()]);
    CompareOptions {
        at: at(),
        threshold: 0.9,
        validators: &VALIDATORS,
        explain,
        now: hour(1),
    }
}

/// Serves `app` on a loopback port; its base URL.
pub async fn serve(app: axum::Router) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Live options for miner 5A against the Prometheus at `url`.
pub fn live_options<'a>(url: &'a url::Url, validators: &'a [String]) -> LiveOptions<'a> {
    LiveOptions {
        at: at(),
        threshold: 0.9,
        validators,
        hotkey: "5A",
        prometheus_url: url,
        timeout: std::time::Duration::from_secs(30),
    }
}
