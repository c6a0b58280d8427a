//! End-to-end ingest from the loopback devnet: list, download, hash,
//! verify against the simulated chain node, parse, write Parquet, mark the
//! catalog. `cargo xtask bench ingest`.
//!
//! Targets (2-core machine): at least 250,000 invocation rows/s end to end,
//! peak memory under 1 GiB for a week at 60,000 rows an hour, and a
//! catch-up of one new hour under 2 s plus its download.
//! `BENCH_HOURS` (default 6) and `BENCH_ROWS_PER_HOUR` (default 60,000)
//! size the world; the week figure is measured with `auditctl sync`, as a
//! criterion loop over a week would take hours:
//!
//! ```text
//! auditctl devnet generate --out W --seed 7 --miners 64 --hours 168 \
//!     --invocations-per-hour 60000 --approximate-incentives
//! auditctl devnet serve --world W --write-config w.yml &
//! /usr/bin/time -v auditctl --config w.yml sync --data-dir D --at 2025-02-10T11:00:00Z
//! /usr/bin/time -v auditctl --config w.yml sync --data-dir D --at 2025-02-10T12:00:00Z
//! ```
//!
//! Measured (2 cores, 24 GiB, bench profile): validator exports of the week
//! (167 entries, 10.18 M rows) 26.7 s, 381 k rows/s, 675 MiB peak; the
//! default sync with 10.5 k miner self-reports 63 s, 687 MiB; the next
//! hour's catch-up 1.0 s in all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_store::Store;
use chrono::{NaiveDate, NaiveDateTime};
use chutes_client::ChutesClient;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use devnet::{GenerateOptions, Network, NetworkOptions, World};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
}

struct Net {
    network: Network,
    client: Arc<ChutesClient>,
}

async fn net(dir: &std::path::Path, hours: usize, rows: usize) -> Net {
    let out = dir.join("world");
    devnet::generate(&GenerateOptions {
        out: out.clone(),
        seed: 3,
        miners: 64,
        hours: hours as u32,
        invocations_per_hour: rows,
        now: now(),
    })
    .unwrap();
    let world = World::load(&out).unwrap();
    let network = Network::start(world, NetworkOptions::default())
        .await
        .unwrap();
    let client = Arc::new(network.chutes_client().unwrap());
    Net { network, client }
}

impl Net {
    async fn sync(&self, store: Arc<Store>, at: NaiveDateTime) -> audit_sync::SyncSummary {
        let chain = Arc::new(self.network.chain_source().await.unwrap());
        let options = self
            .network
            .sync_options(at)
            .with_miner_reports(false)
            .with_concurrency(4);
        audit_sync::sync(store, self.client.clone(), chain, &options, |_, _, _| {})
            .await
            .unwrap()
    }
}

fn ingest(c: &mut Criterion) {
    let hours = env("BENCH_HOURS", 6);
    let rows = env("BENCH_ROWS_PER_HOUR", 60_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let net = runtime.block_on(net(dir.path(), hours, rows));

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements((hours * rows) as u64));
    group.bench_function(format!("sync_{hours}h_x_{rows}"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let data = tempfile::tempdir().unwrap();
                let store = Arc::new(runtime.block_on(Store::open(data.path(), None)).unwrap());
                let began = Instant::now();
                let summary = runtime.block_on(net.sync(store, now()));
                total += began.elapsed();
                assert_eq!(summary.loaded, hours);
            }
            total
        })
    });

    // One new hour on top of a loaded window: sync an hour earlier first
    // (not timed), then the hour the validator just published.
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function(format!("catch_up_1h_x_{rows}"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let data = tempfile::tempdir().unwrap();
                let store = Arc::new(runtime.block_on(Store::open(data.path(), None)).unwrap());
                runtime.block_on(net.sync(store.clone(), now() - chrono::Duration::hours(1)));
                let began = Instant::now();
                let summary = runtime.block_on(net.sync(store, now()));
                total += began.elapsed();
                assert_eq!(summary.loaded, 1);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
