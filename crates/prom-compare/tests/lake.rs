//! `compare` over a small lake built by hand, on SQLite and PostgreSQL:
//! what counts on each side, whose report a row is, numbers that are not
//! numbers, the breakdown of one miner, and the run in the catalog.

use audit_store::facts::{self, invocations as inv, miner_metrics as mm};
use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use polars::prelude::*;
use prom_compare::*;

const VALIDATOR: &str = "5Validator";

/// 2025-02-10 12:00 plus `h` hours.
fn hour(h: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        + TimeDelta::hours(h)
}

fn at() -> NaiveDateTime {
    hour(0) + TimeDelta::minutes(30)
}

fn entry_id(hotkey: &str, h: i64) -> String {
    uuid_of(&format!("{hotkey}.{h}"))
}

fn uuid_of(text: &str) -> String {
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

async fn load(store: &Store, hotkey: &str, h: i64, source: EntrySource) -> String {
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
        exports: vec![],
    };
    catalog
        .mark_loaded(&entry.entry_id, &loaded, hour(h + 1))
        .await
        .unwrap();
    entry.entry_id
}

/// Invocation rows: (miner, chute, error, completed).
fn invocations(rows: &[(&str, &str, bool, bool)]) -> DataFrame {
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
fn metrics(rows: &[(&str, &str, f64)]) -> DataFrame {
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
async fn build(store: &Store) {
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

fn options(explain: Option<&'static str>) -> CompareOptions<'static> {
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

#[tokio::test(flavor = "multi_thread")]
async fn counts_follow_the_rules_and_the_run_is_recorded() {
    each_backend(|t: TestStore| async move {
        let store = t.store();
        build(store).await;
        let run = compare(store, &options(None)).await.unwrap();
        let line = |h: &str| run.miners.iter().find(|m| m.hotkey == h).unwrap();
        assert_eq!(run.validator_entries, 2);
        assert_eq!(run.miner_entries, 3);

        let a = line("5A").agreement;
        assert_eq!((a.validator_count, a.reported_count), (Some(20), Some(15)));
        assert_eq!(a.ratio, Some(0.75));
        assert_eq!(a.verdict, Verdict::Flagged);
        // 5B's report claimed to be 5A's: it counts for 5B, who committed
        // it; NaN and inf rows count nothing.
        let b = line("5B").agreement;
        assert_eq!((b.validator_count, b.reported_count), (Some(10), Some(9)));
        assert_eq!(b.verdict, Verdict::Agrees);
        let c = line("5C").agreement;
        assert_eq!((c.validator_count, c.reported_count), (Some(0), None));
        assert_eq!(c.verdict, Verdict::NoMetrics);

        let order: Vec<&str> = run.miners.iter().map(|m| m.hotkey.as_str()).collect();
        assert_eq!(order, ["5A", "5B", "5C"]);
        assert_eq!(run.summary.flagged, 1);
        assert_eq!(run.summary.no_metrics, 1);
        assert_eq!(run.summary.full_coverage, 0);
        assert_eq!(line("5A").coverage.seconds, 7200);
        assert_eq!(line("5A").coverage.missing_hours.len(), 165);

        let stored = store
            .catalog()
            .latest_agreement_run()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.run_id, run.run_id);
        assert_eq!(stored.evaluated_at, at());
        assert_eq!(stored.threshold, 0.9);
        let a = stored.results.iter().find(|r| r.hotkey == "5A").unwrap();
        assert!(a.flagged);
        assert_eq!(a.ratio, Some(0.75));
        assert_eq!(a.missing_hours, line("5A").coverage.missing_hours);
        let c = stored.results.iter().find(|r| r.hotkey == "5C").unwrap();
        assert_eq!(c.note.as_deref(), Some("no reported metrics"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_breaks_a_miner_down_by_chute_and_hour() {
    let t = audit_store::testing::sqlite_store().await;
    let store = t.store();
    build(store).await;
    let run = compare(store, &options(Some("5A"))).await.unwrap();
    let e = run.explanation.unwrap();
    let chutes: Vec<(&str, Option<u64>, Option<u64>)> = e
        .by_chute
        .iter()
        .map(|c| {
            (
                c.chute_id.as_str(),
                c.agreement.validator_count,
                c.agreement.reported_count,
            )
        })
        .collect();
    assert_eq!(
        chutes,
        [("c1", Some(16), Some(11)), ("c2", Some(4), Some(4))]
    );
    let hours: Vec<(NaiveDateTime, Option<u64>, Option<u64>, HourStatus)> = e
        .by_hour
        .iter()
        .filter(|h| h.validator_count.is_some() || h.reported_count.is_some())
        .map(|h| (h.hour, h.validator_count, h.reported_count, h.status))
        .collect();
    assert_eq!(
        hours,
        [
            (hour(-3), Some(10), Some(10), HourStatus::Agrees),
            // 5 of 10, but a counter went down in that report.
            (hour(-2), Some(10), Some(5), HourStatus::ExpectedGap),
        ]
    );
    let err = compare(store, &options(Some("5Nobody"))).await.unwrap_err();
    assert!(
        matches!(err, PromCompareError::UnknownMiner { .. }),
        "{err}"
    );
}
