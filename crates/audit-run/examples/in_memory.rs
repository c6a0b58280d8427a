//! The audit loop embedded without the CLI, on sources this file provides:
//! a network held in memory (three hours of a validator's audit entries,
//! their reports and CSV exports) and a chain that answers for the
//! reports' commitments and the metagraph. Nothing touches the network.
//!
//! ```text
//! cargo run -p audit-run --example in_memory
//! ```
//!
//! It runs one cycle (sync, score, compare-prom, synth verify, the report
//! page) on a SQLite catalog and Parquet lake in a temporary directory,
//! prints each stage's last line and the entries the service's `/metrics`
//! counts as loaded, and fails when a stage failed or an entry did not
//! load. `cargo test` runs the same code (`test = true` in Cargo.toml).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit_model::clock::{Clock, ClockReading};
use audit_model::{AuditEntry, EntrySource, GpuCount, Listing, MetagraphSnapshot, Neuron};
use audit_run::{Auditor, Deadlines, Intervals, PageSettings, RunPlan};
use audit_store::Store;
use audit_sync::{AuditSource, ChainSource, Commitment, Fetched, SourceError, SyncOptions};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use sha2::{Digest, Sha256};

/// The validator whose entries are audited, and where its exports live.
const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const VALIDATOR_URL: &str = "http://validator.example";
/// Two miners (the dev keys //Bob and //Charlie) sharing the work 3 : 1.
const MINERS: [&str; 2] = [
    "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y",
];
const NETUID: u16 = 64;
const HOURS: u32 = 3;

/// The audit data side: files by path, and the listing.
struct MemoryNetwork {
    entries: Vec<AuditEntry>,
    files: HashMap<String, Vec<u8>>,
}

impl AuditSource for MemoryNetwork {
    async fn list_entries(&self) -> Result<Listing, SourceError> {
        Ok(Listing::of(self.entries.clone()))
    }

    async fn report(&self, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        self.serve(path, dest)
    }

    async fn export(&self, base: &str, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        self.serve(&format!("{base}/{path}"), dest)
    }

    async fn gpu_counts(&self) -> Result<Vec<GpuCount>, SourceError> {
        Ok(Vec::new())
    }
}

impl MemoryNetwork {
    fn serve(&self, key: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let body = self.files.get(key);
        let body = body.ok_or_else(|| SourceError::refused(format!("404: {key}")))?;
        Fetched::write(dest, body)
    }
}

/// The chain side: the commitment of each report, and the subnet.
struct MemoryChain {
    commitments: HashMap<(String, u32), [u8; 32]>,
    metagraph: MetagraphSnapshot,
}

impl ChainSource for MemoryChain {
    // The example's chain is its own memory: nothing to prove against.
    fn proves_reads(&self) -> bool {
        true
    }

    async fn commitment(&self, hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        Ok(match self.commitments.get(&(hotkey.to_string(), block)) {
            Some(sha256) => Commitment::Sha256 {
                sha256: *sha256,
                block,
            },
            None => Commitment::None,
        })
    }

    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        Ok(self.metagraph.clone())
    }
}

/// A present that stands still, just after the last hour.
struct FixedClock(NaiveDateTime);

impl Clock for FixedClock {
    fn now(&self) -> ClockReading<'_> {
        Box::pin(std::future::ready(Ok(self.0)))
    }
}

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `HOURS` hourly entries of the validator, each a report committed on
/// the chain naming three exports, with ten invocations an hour.
fn world() -> (MemoryNetwork, MemoryChain) {
    let mut files = HashMap::new();
    let mut entries = Vec::new();
    let mut commitments = HashMap::new();
    for h in 0..HOURS {
        let (from, end) = (
            start() + TimeDelta::hours(h.into()),
            start() + TimeDelta::hours(i64::from(h) + 1),
        );
        let block = 1_000 + h * 300;
        let stem = format!("invocations/{}", from.format("%Y/%m/%d/%H"));
        let mut invocations = String::from(
            "invocation_id,parent_invocation_id,miner_uid,miner_hotkey,chute_id,started_at,completed_at,compute_multiplier,bounty,metrics\n",
        );
        for i in 0..10 {
            // Three in four to the first miner.
            let uid = if i % 4 == 3 { 2 } else { 1 };
            let at = from + TimeDelta::minutes(5 * i64::from(i));
            invocations.push_str(&format!(
                "h{h}-{i},h{h}-{i},{uid},{},chute,{},{},1.0,0,\"{{'nc': 1.5, 'p': False}}\"\n",
                MINERS[usize::from(uid == 2)],
                at.format("%Y-%m-%d %H:%M:%S"),
                (at + TimeDelta::seconds(2)).format("%Y-%m-%d %H:%M:%S"),
            ));
        }
        let reports = "invocation_id,user_id,timestamp,confirmed_at,confirmed_by,reason\n";
        let jobs = "job_id,miner_uid,miner_terminated\n";
        let report = format!(
            r#"{{"instance_audit": [], "csv_exports": {{
                "invocations": {{"path": "{stem}.csv", "sha256": "{}"}},
                "reports": {{"path": "{stem}-reports.csv", "sha256": "{}"}},
                "jobs": {{"path": "{stem}-jobs.csv", "sha256": "{}"}}}}}}"#,
            hex::encode(sha256(invocations.as_bytes())),
            hex::encode(sha256(reports.as_bytes())),
            hex::encode(sha256(jobs.as_bytes())),
        );
        for (suffix, body) in [
            ("", invocations.as_str()),
            ("-reports", reports),
            ("-jobs", jobs),
        ] {
            files.insert(
                format!("{VALIDATOR_URL}/{stem}{suffix}.csv"),
                body.as_bytes().to_vec(),
            );
        }
        let path = format!("audit/validator/{VALIDATOR}/{block}.json");
        commitments.insert((VALIDATOR.to_string(), block), sha256(report.as_bytes()));
        files.insert(path.clone(), report.into_bytes());
        entries.push(AuditEntry {
            entry_id: audit_sync::expected_entry_id(VALIDATOR, block),
            hotkey: VALIDATOR.into(),
            block,
            path,
            source: EntrySource::Validator,
            created_at: end + TimeDelta::seconds(7),
            start_time: from,
            end_time: end,
        });
    }
    let neuron = |uid: u16, hotkey: &str, incentive: u16, validator_permit: bool| Neuron {
        uid,
        hotkey: hotkey.into(),
        coldkey: hotkey.into(),
        incentive,
        stake: if validator_permit { 1_000.0 } else { 0.0 },
        last_update: 1_600,
        validator_permit,
    };
    let metagraph = MetagraphSnapshot {
        snapshot_id: 0,
        netuid: NETUID,
        block: 1_900,
        taken_at: start() + TimeDelta::hours(HOURS.into()),
        neurons: vec![
            neuron(0, VALIDATOR, 0, true),
            neuron(1, MINERS[0], 49_151, false),
            neuron(2, MINERS[1], 16_384, false),
        ],
    };
    let network = MemoryNetwork { entries, files };
    let chain = MemoryChain {
        commitments,
        metagraph,
    };
    (network, chain)
}

/// The stages this example can feed: everything but sending weights and
/// synthetic requests, which need a real chain node and gateway.
fn plan(at: NaiveDateTime) -> RunPlan {
    let minute = Duration::from_secs(60);
    let validators = BTreeMap::from([(VALIDATOR.to_string(), VALIDATOR_URL.to_string())]);
    RunPlan {
        intervals: Intervals {
            sync: Duration::from_millis(200),
            synthetics: minute,
            compare_prom: minute,
            weights: minute,
        },
        deadlines: Deadlines {
            sync: minute,
            score: minute,
            weights: minute,
            compare_prom: minute,
            synthetics: minute,
            synth_verify: minute,
            report: minute,
        },
        backoff_base: Duration::from_millis(100),
        sync: Some(SyncOptions::new(at, validators)),
        score: Some((NETUID, incentives::ScoringProfile::default())),
        weights: None,
        compare_prom: Some(prom_compare::DEFAULT_THRESHOLD),
        synthetics: None,
        synth_verify: true,
        page: Some(PageSettings {
            report: audit_report::Settings {
                netuid: NETUID,
                ..audit_report::Settings::default()
            },
            out: None,
        }),
    }
}

/// One cycle of the loop on the in-memory sources; what it did, one line
/// per stage and the loaded entries, or why it is not what it should be.
async fn run() -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_for_writing(
        dir.path(),
        None,
        &audit_store::LockRequest {
            command: "the in_memory example".into(),
            wait: audit_store::LockWait::Refuse,
        },
    )
    .await?;
    let at = start() + TimeDelta::hours(HOURS.into()) + TimeDelta::minutes(5);
    let (network, chain) = world();
    let auditor = Auditor {
        store: Arc::new(store),
        source: Arc::new(network),
        chain: Arc::new(chain),
        clock: Arc::new(FixedClock(at)),
        validators: vec![VALIDATOR.to_string()],
    };
    let service = audit_run::service(&auditor, plan(at))?;
    let observed = service.observed();
    let mut cycles = service.cycles();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(service.run(stopped));
    let cycled = tokio::time::timeout(Duration::from_secs(120), cycles.wait_for(|n| *n >= 1)).await;
    let _ = stop.send(true);
    let summary = running.await?;
    cycled.map_err(|_| "no cycle finished within two minutes")??;

    let mut out = String::new();
    for (stage, tally) in &summary.stages {
        match (&tally.last_summary, &tally.last_error) {
            (Some(line), None) => out.push_str(&format!("{stage}: {line}\n")),
            (_, error) => return Err(format!("stage {stage} failed: {error:?}").into()),
        }
    }
    let stages: Vec<&str> = summary.stages.keys().map(String::as_str).collect();
    if stages != ["compare-prom", "report", "score", "sync", "synth-verify"] {
        return Err(format!("the cycle ran {stages:?}").into());
    }
    let metrics = observed.metrics().render();
    let loaded = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chutes_audit_entries{state=\"loaded\"} "))
        .ok_or("no loaded entries in /metrics")?;
    if loaded != HOURS.to_string() {
        return Err(format!("{loaded} entries loaded, not {HOURS}:\n{out}").into());
    }
    out.push_str(&format!("/metrics: {loaded} entries loaded\n"));
    Ok(out)
}

#[tokio::main]
#[cfg_attr(test, allow(dead_code))]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    print!("{}", run().await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_loop_runs_a_cycle_on_sources_held_in_memory() {
        let out = super::run().await.unwrap();
        assert!(out.contains("2 miners scored from 3 entries"), "{out}");
        assert!(out.contains("3 loaded"), "{out}");
    }
}
