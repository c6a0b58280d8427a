//! compare-prom over a week: by default 168 hourly validator entries of
//! 60,000 invocations (about 10 million rows) and 64 miners each with 168
//! self-reports. Target: under 3 s on a 2-core machine.
//!
//! `cargo xtask bench criterion compare`; `BENCH_HOURS`, `BENCH_ROWS_PER_HOUR` and
//! `BENCH_MINERS` change the size. The lake is generated once per run, in
//! a temp dir.

use std::time::Instant;

use audit_store::facts::{self, invocations as inv, miner_metrics as mm};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polars::prelude::*;
use prom_compare::{compare, CompareOptions};

const CHUTES: usize = 400;
const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 3)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

fn miner(i: usize) -> String {
    format!("5Miner{i:042}")
}

fn chute(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0xc0ffee, i % CHUTES)
}

fn uuid_for(kind: u32, hour: usize, who: usize) -> String {
    format!("{kind:08x}-{hour:04x}-4000-8000-{who:012x}")
}

/// One hour of invocations, deterministic from the hour index.
fn hour_frame(hour: usize, rows: usize, miners: usize) -> DataFrame {
    let base = start() + TimeDelta::hours(hour as i64);
    let started: Vec<i64> = (0..rows)
        .map(|i| {
            (base + TimeDelta::milliseconds((i * 3_600_000 / rows) as i64))
                .and_utc()
                .timestamp_micros()
        })
        .collect();
    let frame = df!(
        inv::INVOCATION_ID => (0..rows).map(|i| uuid_for(1, hour, i)).collect::<Vec<_>>(),
        inv::CHUTE_ID => (0..rows).map(|i| chute(i * 13)).collect::<Vec<_>>(),
        inv::FUNCTION_NAME => (0..rows).map(|i| ["chat", "generate", "embed"][i % 3]).collect::<Vec<_>>(),
        inv::MINER_HOTKEY => (0..rows).map(|i| miner((i * 7 + hour) % miners)).collect::<Vec<_>>(),
        inv::MINER_UID => (0..rows).map(|i| ((i * 7 + hour) % miners) as i32).collect::<Vec<_>>(),
        inv::STARTED_AT => started.clone(),
        inv::COMPLETED_AT => started.iter().enumerate().map(|(i, s)| (i % 50 != 0).then_some(s + 2_000_000)).collect::<Vec<_>>(),
        inv::ERROR_MESSAGE => (0..rows).map(|i| (i % 41 == 0).then_some("upstream error")).collect::<Vec<_>>(),
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

/// One miner's self-report for an hour: a row per chute it served.
fn report_frame(m: usize, hour: usize, chutes: usize) -> DataFrame {
    let frame = df!(
        mm::MINER_HOTKEY => vec![miner(m); chutes],
        mm::CHUTE_ID => (0..chutes).map(|c| chute(m * 7 + c)).collect::<Vec<_>>(),
        mm::FUNCTION => vec!["chat"; chutes],
        mm::TOTAL_SECONDS => (0..chutes).map(|c| (c * 17 + hour) as f64).collect::<Vec<_>>(),
        mm::TOTAL_COUNT => (0..chutes).map(|c| ((c * 31 + hour + m) % 400) as f64).collect::<Vec<_>>(),
    )
    .unwrap();
    facts::conform(frame, FactTable::MinerMetrics, &[]).unwrap()
}

async fn record(store: &Store, entry: &AuditEntry) {
    store
        .catalog()
        .record_listed(std::slice::from_ref(entry), entry.end_time)
        .await
        .unwrap();
    let loaded = LoadedEntry {
        report_sha256: String::new(),
        unverifiable: false,
        instance_rows: 0,
        commitment_proven: None,
        exports: vec![],
    };
    store
        .catalog()
        .mark_loaded(&entry.entry_id, &loaded, entry.end_time)
        .await
        .unwrap();
}

async fn build(dir: &std::path::Path, hours: usize, rows: usize, miners: usize) -> Store {
    let store = Store::open(dir, None).await.unwrap();
    let began = Instant::now();
    for hour in 0..hours {
        let begin = start() + TimeDelta::hours(hour as i64);
        let end = begin + TimeDelta::hours(1);
        let entry = AuditEntry {
            entry_id: uuid_for(0, hour, 0),
            hotkey: VALIDATOR.into(),
            block: 1000 + hour as u32,
            path: format!("audit/validator/{VALIDATOR}/{}.json", 1000 + hour),
            source: EntrySource::Validator,
            created_at: end + TimeDelta::seconds(7),
            start_time: begin,
            end_time: end,
        };
        record(&store, &entry).await;
        store
            .lake()
            .write_facts(
                &entry.entry_id,
                FactTable::Invocations,
                &mut hour_frame(hour, rows, miners),
            )
            .unwrap();
        // The hour's self-reports as a catch-up keeps them: one batch.
        let mut batch = Vec::new();
        for m in 0..miners {
            let entry = AuditEntry {
                entry_id: uuid_for(2, hour, m),
                hotkey: miner(m),
                block: 1001 + hour as u32,
                path: format!("audit/miner/{}/{}.json", miner(m), 1001 + hour),
                source: EntrySource::Miner,
                created_at: end + TimeDelta::seconds(30),
                start_time: begin,
                end_time: end,
            };
            record(&store, &entry).await;
            store.lake().write_report(&entry.entry_id, b"{}").unwrap();
            batch.push(SelfReportFacts {
                entry_id: entry.entry_id.clone(),
                tables: vec![(FactTable::MinerMetrics, report_frame(m, hour, 12))],
            });
        }
        store.lake().write_self_reports(&batch).unwrap();
    }
    eprintln!(
        "built {hours} hours x {rows} invocations, {miners} miners, in {:.1?}",
        began.elapsed()
    );
    store
}

fn bench(c: &mut Criterion) {
    let hours = env("BENCH_HOURS", 168);
    let rows = env("BENCH_ROWS_PER_HOUR", 60_000);
    let miners = env("BENCH_MINERS", 64);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(build(dir.path(), hours, rows, miners));
    let at = start() + TimeDelta::hours(hours as i64) + TimeDelta::minutes(30);
    let validators = vec![VALIDATOR.to_string()];
    let options = CompareOptions {
        at,
        threshold: 0.9,
        validators: &validators,
        explain: None,
        now: at,
    };
    let began = Instant::now();
    let first = runtime.block_on(compare(&store, &options)).unwrap();
    eprintln!(
        "one comparison of {} miners: {:.2?}",
        first.miners.len(),
        began.elapsed()
    );
    let mut group = c.benchmark_group("compare-prom");
    group.sample_size(10);
    group.throughput(Throughput::Elements((hours * rows) as u64));
    group.bench_function(format!("{hours}h x {rows} rows, {miners} miners"), |b| {
        b.iter(|| {
            let run = runtime.block_on(compare(&store, &options)).unwrap();
            assert_eq!(run.miners.len(), miners);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
