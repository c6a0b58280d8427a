//! How fast the lake takes facts: Parquet writes through `FactWriter` in
//! batches, the shape the ingest streams them in, and a scan back.
//! Run with `cargo xtask bench lake`.

use audit_store::{FactTable, Lake};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polars::prelude::*;

const ROWS: usize = 200_000;
const BATCH: usize = 50_000;

fn batch(offset: usize) -> DataFrame {
    let ids: Vec<String> = (offset..offset + BATCH)
        .map(|i| format!("{i:032x}"))
        .collect();
    let miners: Vec<String> = (offset..offset + BATCH)
        .map(|i| format!("5Miner{:03}", i % 200))
        .collect();
    let compute: Vec<f64> = (offset..offset + BATCH)
        .map(|i| (i % 977) as f64 * 0.37)
        .collect();
    let started: Vec<i64> = (offset..offset + BATCH)
        .map(|i| 1_739_200_000_000_000 + i as i64)
        .collect();
    df!(
        "invocation_id" => ids,
        "miner_hotkey" => miners,
        "compute_units" => compute,
        "started_at" => started,
    )
    .unwrap()
}

fn lake(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let batches: Vec<DataFrame> = (0..ROWS / BATCH).map(|b| batch(b * BATCH)).collect();
    let entry = "6f1c8c1e-7d8e-5b6a-9f0e-1a2b3c4d5e6f";

    let mut group = c.benchmark_group("lake");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("write_invocation_facts", |b| {
        b.iter(|| {
            let mut writer = lake
                .fact_writer(entry, FactTable::Invocations, batches[0].schema())
                .unwrap();
            for batch in &batches {
                writer.write(batch).unwrap();
            }
            writer.finish().unwrap()
        })
    });
    let ids = vec![entry.to_string()];
    group.bench_function("scan_sum_by_miner", |b| {
        b.iter(|| {
            lake.scan(&ids, FactTable::Invocations)
                .unwrap()
                .unwrap()
                .group_by([col("miner_hotkey")])
                .agg([col("compute_units").sum()])
                .collect()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, lake);
criterion_main!(benches);
