//! Scoring a week of exports: by default 168 hourly entries of 60,000
//! invocations (about 10 million rows), the size of the real network.
//! Target: under 10 s and 2 GiB on a 2-core machine.
//!
//! `cargo xtask bench score`; `BENCH_HOURS` and `BENCH_ROWS_PER_HOUR`
//! change the size. The lake is generated once per run, in a temp dir.

use std::time::Instant;

use audit_store::facts::{self, instance_audits as ia, invocations as inv};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use incentives::{ScoringInputs, ScoringProfile};
use polars::prelude::*;

const MINERS: usize = 256;
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

fn conform(frame: DataFrame, table: FactTable) -> DataFrame {
    facts::conform(frame, table, &[]).unwrap()
}

/// One hour of invocations, deterministic from the hour index; ids repeat
/// across neighbouring hours now and then, as straddling invocations do.
fn hour_frame(hour: usize, rows: usize) -> DataFrame {
    let base = start() + TimeDelta::hours(hour as i64);
    let id = |i: usize| format!("{:08x}-0000-4000-8000-{:012x}", hour, i);
    let ids: Vec<String> = (0..rows)
        .map(|i| {
            if i % 97 == 0 && hour > 0 {
                format!("{:08x}-0000-4000-8000-{:012x}", hour - 1, i)
            } else {
                id(i)
            }
        })
        .collect();
    let miners: Vec<String> = (0..rows)
        .map(|i| format!("5Miner{:042}", (i * 7 + hour) % MINERS))
        .collect();
    let chutes: Vec<String> = (0..rows)
        .map(|i| format!("chute-{:04}", (i * 13) % CHUTES))
        .collect();
    let started: Vec<i64> = (0..rows)
        .map(|i| {
            (base + TimeDelta::milliseconds((i * 3_600_000 / rows) as i64))
                .and_utc()
                .timestamp_micros()
        })
        .collect();
    let completed: Vec<Option<i64>> = started
        .iter()
        .enumerate()
        .map(|(i, s)| (i % 50 != 0).then_some(s + 1_000_000 + (i % 30_000) as i64 * 100))
        .collect();
    let errors: Vec<Option<&str>> = (0..rows)
        .map(|i| (i % 41 == 0).then_some("upstream error"))
        .collect();
    let form = |i: usize, k: usize, v: f64| (i % 4 == k).then_some(v);
    let frame = df!(
        inv::INVOCATION_ID => ids.clone(),
        inv::PARENT_INVOCATION_ID => ids,
        inv::CHUTE_ID => chutes,
        inv::MINER_HOTKEY => miners,
        inv::MINER_UID => (0..rows).map(|i| ((i * 7 + hour) % MINERS) as i32).collect::<Vec<_>>(),
        inv::STARTED_AT => started,
        inv::COMPLETED_AT => completed,
        inv::ERROR_MESSAGE => errors,
        inv::COMPUTE_MULTIPLIER => (0..rows).map(|i| 0.5 + (i % 5) as f64 * 0.25).collect::<Vec<_>>(),
        inv::BOUNTY => (0..rows).map(|i| if i % 500 == 0 { 2.0 } else { 0.0 }).collect::<Vec<_>>(),
        inv::PRIVATE => (0..rows).map(|i| Some(i % 23 == 0)).collect::<Vec<_>>(),
        inv::NC => (0..rows).map(|i| form(i, 0, 0.3 + (i % 17) as f64 * 0.01)).collect::<Vec<_>>(),
        inv::STEPS => (0..rows).map(|i| form(i, 1, 25.0)).collect::<Vec<_>>(),
        inv::MASPS => (0..rows).map(|i| form(i, 1, 0.05)).collect::<Vec<_>>(),
        inv::IT => (0..rows).map(|i| form(i, 2, 512.0)).collect::<Vec<_>>(),
        inv::OT => (0..rows).map(|i| form(i, 2, 128.0)).collect::<Vec<_>>(),
        inv::MASPT => (0..rows).map(|i| form(i, 2, 0.002)).collect::<Vec<_>>(),
    )
    .unwrap();
    let frame = frame
        .lazy()
        .with_columns([
            col(inv::STARTED_AT).cast(facts::timestamp()),
            col(inv::COMPLETED_AT).cast(facts::timestamp()),
        ])
        .collect()
        .unwrap();
    conform(frame, FactTable::Invocations)
}

fn audit_frame(_hour: usize) -> DataFrame {
    let n = MINERS * 4;
    let activated = (start() - TimeDelta::days(3)).and_utc().timestamp_micros();
    let frame = df!(
        ia::INSTANCE_ID => (0..n).map(|i| format!("inst-{i}")).collect::<Vec<_>>(),
        ia::CHUTE_ID => (0..n).map(|i| format!("chute-{:04}", (i * 31) % CHUTES)).collect::<Vec<_>>(),
        ia::MINER_HOTKEY => (0..n).map(|i| format!("5Miner{:042}", i % MINERS)).collect::<Vec<_>>(),
        ia::ACTIVATED_AT => vec![activated; n],
        ia::BILLED_TO => (0..n).map(|i| (i % 9 == 0).then_some("user")).collect::<Vec<_>>(),
        ia::COMPUTE_MULTIPLIER => vec![1.0; n],
    )
    .unwrap();
    let frame = frame
        .lazy()
        .with_column(col(ia::ACTIVATED_AT).cast(facts::timestamp()))
        .collect()
        .unwrap();
    conform(frame, FactTable::InstanceAudits)
}

async fn build(dir: &std::path::Path, hours: usize, rows: usize) -> Store {
    let store = Store::open(dir, None).await.unwrap();
    let began = Instant::now();
    for hour in 0..hours {
        let end = start() + TimeDelta::hours(hour as i64 + 1);
        let entry = AuditEntry {
            entry_id: uuid_for(hour),
            hotkey: VALIDATOR.into(),
            block: 1000 + hour as u32,
            path: format!("audit/validator/{VALIDATOR}/{}.json", 1000 + hour),
            source: EntrySource::Validator,
            created_at: end + TimeDelta::seconds(7),
            start_time: end - TimeDelta::hours(1),
            end_time: end,
        };
        store
            .catalog()
            .record_listed(std::slice::from_ref(&entry), end)
            .await
            .unwrap();
        store
            .lake()
            .write_facts(
                &entry.entry_id,
                FactTable::Invocations,
                &mut hour_frame(hour, rows),
            )
            .unwrap();
        store
            .lake()
            .write_facts(
                &entry.entry_id,
                FactTable::InstanceAudits,
                &mut audit_frame(hour),
            )
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
            .mark_loaded(&entry.entry_id, &loaded, end)
            .await
            .unwrap();
    }
    let neurons = (0..MINERS)
        .map(|i| Neuron {
            uid: i as u16,
            hotkey: format!("5Miner{i:042}"),
            coldkey: format!("5Cold{:043}", i % 200),
            incentive: (i * 97 % 1000) as u16,
            stake: 0.0,
            last_update: 0,
            validator_permit: false,
        })
        .collect();
    let snapshot = MetagraphSnapshot {
        snapshot_id: 0,
        netuid: 64,
        block: 5000,
        taken_at: start(),
        neurons,
    };
    store.catalog().record_metagraph(&snapshot).await.unwrap();
    let gpus: Vec<GpuCount> = (0..CHUTES)
        .map(|i| GpuCount {
            chute_id: format!("chute-{i:04}"),
            gpu_count: 1 + (i % 8) as u32,
        })
        .collect();
    store
        .catalog()
        .replace_gpu_counts(&gpus, start())
        .await
        .unwrap();
    eprintln!(
        "lake of {hours} h x {rows} rows built in {:.1?}",
        began.elapsed()
    );
    store
}

fn uuid_for(hour: usize) -> String {
    format!("6f1c8c1e-7d8e-5b6a-9f0e-{hour:012x}")
}

fn score(c: &mut Criterion) {
    let hours = env("BENCH_HOURS", 168);
    let rows = env("BENCH_ROWS_PER_HOUR", 60_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(build(dir.path(), hours, rows));
    let at = start() + TimeDelta::hours(hours as i64) + TimeDelta::minutes(30);
    let profile = ScoringProfile::default();
    let validators = vec![VALIDATOR.to_string()];

    let mut group = c.benchmark_group("score");
    group.sample_size(10);
    group.throughput(Throughput::Elements((hours * rows) as u64));
    group.bench_function(format!("week_{hours}h_x_{rows}"), |b| {
        b.iter(|| {
            let inputs = runtime
                .block_on(ScoringInputs::from_store(
                    &store,
                    at,
                    &validators,
                    64,
                    &profile,
                ))
                .unwrap();
            let scores = incentives::score(&inputs, at, &profile).unwrap();
            assert!(!scores.miners.is_empty());
            scores
        })
    });
    group.finish();
}

criterion_group!(benches, score);
criterion_main!(benches);
