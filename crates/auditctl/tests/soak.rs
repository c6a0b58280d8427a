//! The soak: `auditctl run` against the devnet for N simulated hours under
//! a chaos schedule, then the claims a validator relies on, checked from
//! outside the process.
//!
//! Each simulated hour publishes one more hour of traffic and brings one
//! disturbance of the network (a 5xx burst, slow answers, a chain node
//! restart, ...) and one of the process (a flood of idle connections on its
//! listener, SIGTERM or SIGKILL at a random moment followed by a restart).
//! Throughout, a probe samples the process's resident memory and open
//! descriptors. At the end:
//! - every published hour is loaded exactly once, and the catalog and the
//!   lake agree;
//! - every weights cycle that was recorded as landed has its extrinsic in
//!   the block it names (no `landed` without chain evidence);
//! - each SIGTERM ended the process within 10 s;
//! - peak memory and descriptors stayed under their bounds;
//! - the scores equal those of a clean sync of the same world.
//!
//! `SOAK_HOURS` sets the length (3 in the test suite); `cargo xtask soak
//! --hours 48` runs it long, in release, and prints the table.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_store::{EntryState, Store, SubmissionOutcome};
use common::{sample, spawn_run_limited, value, write_config_for, Net, Running, LOADED};
use devnet::Faults;

/// How long a SIGTERM may take to end the process.
const SIGTERM_LIMIT: Duration = Duration::from_secs(10);
/// How long the process may take to catch up after a disturbance.
const RECOVERY_LIMIT: Duration = Duration::from_secs(90);
/// How long a disturbance lasts.
const DISTURBANCE: Duration = Duration::from_secs(3);
/// The soak's `set_weights.inclusion_timeout_seconds`.
const INCLUSION_DEADLINE: Duration = Duration::from_secs(3);
/// Idle connections a flood opens against the listener.
const FLOOD_CONNECTIONS: usize = 1_500;
/// The soft descriptor limit the process starts with, as under systemd.
const NOFILE: u32 = 1_024;
/// The bounds the probe holds the process to.
const PEAK_RSS_MIB: u64 = 1_024;
const PEAK_DESCRIPTORS: u64 = 4_096;

/// What the network does wrong during an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetworkFault {
    /// Every answer of the API is a 503.
    Burst5xx,
    /// Every answer of the API is two seconds late.
    SlowAnswers,
    /// The chain node restarts (its socket drops).
    NodeRestart,
    /// The node takes weights into its pool and never includes them.
    ChainStall,
    /// The node answers `inBlock` for a block that does not hold them.
    FakeInclusion,
    /// As `FakeInclusion`, and the block's body and events claim them.
    ForgedInclusion,
    /// Nothing.
    Calm,
}

/// What happens to the process during an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessFault {
    /// Idle connections fill its listener.
    ListenerFlood,
    /// SIGTERM at a random moment, then a restart.
    Sigterm,
    /// SIGKILL at a random moment, then a restart.
    Sigkill,
}

const NETWORK_FAULTS: [NetworkFault; 7] = [
    NetworkFault::Burst5xx,
    NetworkFault::ChainStall,
    NetworkFault::NodeRestart,
    NetworkFault::ForgedInclusion,
    NetworkFault::SlowAnswers,
    NetworkFault::FakeInclusion,
    NetworkFault::Calm,
];
const PROCESS_FAULTS: [ProcessFault; 3] = [
    ProcessFault::Sigterm,
    ProcessFault::ListenerFlood,
    ProcessFault::Sigkill,
];

/// The schedule: each list in turn, so any three hours meet every process
/// fault and any seven every network fault.
fn schedule(hour: u32) -> (NetworkFault, ProcessFault) {
    let h = hour.saturating_sub(1) as usize;
    (
        NETWORK_FAULTS[h % NETWORK_FAULTS.len()],
        PROCESS_FAULTS[h % PROCESS_FAULTS.len()],
    )
}

/// A deterministic pseudo-random delay (splitmix64 of the hour): the
/// moment a signal arrives, varied without a dependency.
fn jitter(hour: u32, max: Duration) -> Duration {
    let mut z = u64::from(hour).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    max.mul_f64((z % 1_000) as f64 / 1_000.0)
}

/// Samples the current process's memory and descriptors from `/proc`.
struct Probe {
    pid: Arc<AtomicU32>,
    peak_rss_kib: Arc<AtomicU64>,
    peak_fds: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Probe {
    fn start(pid: u32) -> Probe {
        let probe = Probe {
            pid: Arc::new(AtomicU32::new(pid)),
            peak_rss_kib: Arc::default(),
            peak_fds: Arc::default(),
            stop: Arc::default(),
        };
        let (pid, rss, fds, stop) = (
            probe.pid.clone(),
            probe.peak_rss_kib.clone(),
            probe.peak_fds.clone(),
            probe.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let pid = pid.load(Ordering::Relaxed);
                if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| vm_hwm_kib(&s))
                {
                    rss.fetch_max(kib, Ordering::Relaxed);
                }
                if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    fds.fetch_max(dir.count() as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        probe
    }

    fn follow(&self, pid: u32) {
        self.pid.store(pid, Ordering::Relaxed);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// What the soak saw, for the table and the assertions.
#[derive(Debug, Default)]
struct Observations {
    hours: u32,
    sigterm_exits: Vec<Duration>,
    sigkills: u32,
    floods: u32,
    flood_held: usize,
    recoveries: Vec<Duration>,
    restarts_of_node: u32,
    bursts: u32,
    chain_lies: u32,
    health_reads: u32,
    past_deadline: Vec<String>,
}

/// Connections a flood holds open until the hour has caught up.
type Held = Vec<TcpStream>;

/// The soak's state: the devnet, the process under test, the probe.
struct Soak {
    net: Net,
    config: std::path::PathBuf,
    run: Running,
    probe: Probe,
    seen: Observations,
}

impl Soak {
    async fn start() -> Soak {
        let net = common::start_devnet_sized(4, 2, 40).await;
        let config = write_config_for(
            &net,
            &net.dir.path().join("data"),
            &format!(
                "  inclusion_timeout_seconds: {}\n",
                INCLUSION_DEADLINE.as_secs()
            ),
        );
        let run = spawn_run_limited(&config, NOFILE);
        let probe = Probe::start(run.child.id());
        let mut soak = Soak {
            net,
            config,
            run,
            probe,
            seen: Observations::default(),
        };
        soak.until_caught_up(0.0, "the first cycle").await;
        soak
    }

    /// Entries the world has published so far.
    fn published(&self) -> usize {
        self.net.server.world().entries.len()
    }

    /// Waits until every published entry is loaded and scored at or after
    /// `since` (Unix seconds); returns how long it took.
    /// Meanwhile `/healthz` is read at each poll: a stage that runs past
    /// its deadline (one that could not even be abandoned) is noted.
    async fn until_caught_up(&mut self, since: f64, what: &str) -> Duration {
        let started = Instant::now();
        let expected = self.published() as f64;
        loop {
            let m = self.run.metrics().await;
            let scored = sample(
                &m,
                "chutes_audit_stage_last_success_seconds{stage=\"score\"}",
            );
            if value(&m, LOADED) >= expected && scored.is_some_and(|at| at >= since) {
                return started.elapsed();
            }
            let (_, health) = self.run.get("/healthz").await;
            self.seen.health_reads += 1;
            self.seen.past_deadline.extend(
                health
                    .lines()
                    .filter(|l| l.contains("running past its deadline"))
                    .map(str::to_owned),
            );
            if started.elapsed() > RECOVERY_LIMIT {
                self.run.timed_out(what).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One simulated hour under its two disturbances.
    async fn hour(&mut self, hour: u32) {
        let (network, process) = schedule(hour);
        let since = unix_now();
        self.disturb_network(network).await;
        self.net.server.advance().unwrap();
        let held = self.disturb_process(hour, process).await;
        // Long enough for a stalled send to reach its inclusion deadline.
        tokio::time::sleep(DISTURBANCE + INCLUSION_DEADLINE).await;
        self.calm().await;
        // A flood lasts until the hour is loaded and scored: the stages
        // must keep their descriptors while the listener is full.
        let took = self
            .until_caught_up(
                since,
                &format!("hour {hour} after {network:?} and {process:?}"),
            )
            .await;
        drop(held);
        self.seen.recoveries.push(took);
        self.seen.hours += 1;
    }

    /// One calm hour at the end: a send left `unknown` by the last
    /// disturbance is resolved before the next weights go out.
    async fn settle(&mut self) {
        let since = unix_now();
        self.net.server.advance().unwrap();
        self.until_caught_up(since, "the calm hour at the end")
            .await;
        self.run
            .until_metrics_within(RECOVERY_LIMIT, "weights after the calm hour", |m| {
                sample(
                    m,
                    "chutes_audit_stage_last_success_seconds{stage=\"weights\"}",
                )
                .is_some_and(|at| at >= since)
            })
            .await;
    }

    async fn disturb_network(&mut self, fault: NetworkFault) {
        match fault {
            NetworkFault::Burst5xx => {
                self.seen.bursts += 1;
                self.net.server.set_faults(Faults {
                    error_rate: 1.0,
                    ..Faults::default()
                });
            }
            NetworkFault::SlowAnswers => self.net.server.set_faults(Faults {
                delay_ms: 2_000,
                ..Faults::default()
            }),
            NetworkFault::NodeRestart => {
                self.seen.restarts_of_node += 1;
                self.net.chain.lock().await.restart().await.unwrap();
            }
            NetworkFault::ChainStall => {
                self.seen.chain_lies += 1;
                self.net.chain.lock().await.stall_inclusion(true);
            }
            NetworkFault::FakeInclusion => {
                self.seen.chain_lies += 1;
                self.net.chain.lock().await.fake_inclusion(true);
            }
            NetworkFault::ForgedInclusion => {
                self.seen.chain_lies += 1;
                self.net.chain.lock().await.forge_inclusion(true);
            }
            NetworkFault::Calm => {}
        }
    }

    /// Every switch off again, on both sides.
    async fn calm(&self) {
        self.net.server.set_faults(Faults::default());
        let chain = self.net.chain.lock().await;
        chain.stall_inclusion(false);
        chain.fake_inclusion(false);
        chain.forge_inclusion(false);
    }

    async fn disturb_process(&mut self, hour: u32, fault: ProcessFault) -> Held {
        tokio::time::sleep(jitter(hour, Duration::from_millis(1_500))).await;
        match fault {
            ProcessFault::Sigterm => {
                let (status, took) = self.run.signal("TERM", SIGTERM_LIMIT * 3).await;
                assert!(status.code().is_some(), "SIGTERM: {status:?}");
                self.seen.sigterm_exits.push(took);
                self.restart();
                Held::new()
            }
            ProcessFault::Sigkill => {
                self.run.signal("KILL", SIGTERM_LIMIT).await;
                self.seen.sigkills += 1;
                self.restart();
                Held::new()
            }
            ProcessFault::ListenerFlood => {
                self.seen.floods += 1;
                let held = flood(&self.run.base, FLOOD_CONNECTIONS);
                self.seen.flood_held = self.seen.flood_held.max(held.len());
                held
            }
        }
    }

    fn restart(&mut self) {
        self.run = spawn_run_limited(&self.config, NOFILE);
        self.probe.follow(self.run.child.id());
    }
}

/// Opens up to `n` idle TCP connections to the listener at `base`
/// (`http://127.0.0.1:port`): as many as this process's descriptors allow.
fn flood(base: &str, n: usize) -> Held {
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut held = Vec::with_capacity(n);
    let until = Instant::now() + Duration::from_secs(5);
    while held.len() < n && Instant::now() < until {
        // A refused or slow connect is the listener defending itself:
        // keep trying until the time is up.
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            held.push(stream);
        }
    }
    held
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor()
}

fn soak_hours() -> u32 {
    std::env::var("SOAK_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(3)
}

/// Every published entry loaded once, the lake holding each, nothing
/// half-written.
async fn assert_catalog_and_lake_agree(net: &Net, data: &Path) {
    let store = Store::open_for_writing(
        data,
        None,
        &audit_store::LockRequest {
            command: "soak".into(),
            wait: audit_store::LockWait::Refuse,
        },
    )
    .await
    .unwrap();
    let loaded = store
        .catalog()
        .entries_in_states(&[EntryState::Loaded], chrono::NaiveDateTime::default())
        .await
        .unwrap();
    let mut ids: Vec<String> = loaded.iter().map(|e| e.entry.entry_id.clone()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "an entry is loaded twice");
    let mut published: Vec<String> = net
        .server
        .world()
        .entries
        .iter()
        .map(|e| devnet::world::entry_id(&e.hotkey, e.block))
        .collect();
    published.sort();
    assert_eq!(ids, published, "loaded entries differ from published ones");
    assert_eq!(store.lake().missing(&ids).unwrap(), Vec::<String>::new());
    assert_eq!(store.lake().clean_leftovers().unwrap(), 0);
}

/// Every send recorded `landed` has its extrinsic in the block it names,
/// and the sender's `LastUpdate` at that block is that block; none is
/// left `unknown`. Returns the outcomes' tally.
async fn assert_landed_has_evidence(net: &Net, data: &Path) -> Vec<(String, usize)> {
    let store = Store::open(data, None).await.unwrap();
    let runs = store
        .catalog()
        .latest_weights_run_ids(100_000)
        .await
        .unwrap();
    let sends = store
        .catalog()
        .weights_submissions_of_runs(&runs)
        .await
        .unwrap();
    let chain = subtensor::SubtensorClient::connect(&net.ws, Default::default())
        .await
        .unwrap();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for send in &sends {
        *tally.entry(send.outcome.as_str().to_string()).or_default() += 1;
        assert_ne!(send.outcome, SubmissionOutcome::Unknown, "{send:?}");
        if send.outcome != SubmissionOutcome::Landed {
            continue;
        }
        let hash = |text: &Option<String>| -> [u8; 32] {
            hex::decode(text.as_deref().unwrap().trim_start_matches("0x"))
                .unwrap()
                .try_into()
                .unwrap()
        };
        let (block_hash, extrinsic) = (hash(&send.block_hash), hash(&send.extrinsic_hash));
        let body = chain.block_body(block_hash).await.unwrap().unwrap();
        assert!(
            body.extrinsic_hashes.contains(&extrinsic),
            "landed without its extrinsic in block {:?}: {send:?}",
            send.block
        );
        let last = chain
            .last_update_at(send.netuid, send.sender_uid.unwrap(), Some(block_hash))
            .await
            .unwrap();
        assert_eq!(last, send.block, "{send:?}");
    }
    assert!(tally.get("landed").is_some_and(|n| *n > 0), "{tally:?}");
    tally.into_iter().collect()
}

/// The shares a store scores at `at`, bit for bit.
async fn shares(data: &Path, net: &Net, at: chrono::NaiveDateTime) -> Vec<(String, u64)> {
    let store = Store::open(data, None).await.unwrap();
    let profile = incentives::ScoringProfile::default();
    let validators = vec![net.world.meta.validator_hotkey.clone()];
    let assessed = incentives::assess(
        &store,
        incentives::Evaluation {
            at,
            validators: &validators,
            netuid: net.world.meta.netuid,
            profile: &profile,
            now: at,
        },
    )
    .await
    .unwrap();
    let mut shares: Vec<(String, u64)> = assessed
        .scores
        .miners
        .iter()
        .map(|m| (m.features.hotkey.clone(), m.score.to_bits()))
        .collect();
    shares.sort();
    shares
}

/// A clean sync of the same world into a fresh data directory.
fn clean_sync(net: &Net, data: &Path, at: &str) {
    let config = write_config_for(net, data, "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(&config)
        .args(["sync", "--at", at])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clean sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn table(seen: &Observations, probe: &Probe) -> String {
    let max = |d: &[Duration]| d.iter().max().copied().unwrap_or_default();
    let rows = [
        ("simulated hours", seen.hours.to_string()),
        ("5xx bursts", seen.bursts.to_string()),
        ("chain node restarts", seen.restarts_of_node.to_string()),
        (
            "chain node lies (stalls, fake and forged inclusions)",
            seen.chain_lies.to_string(),
        ),
        (
            "listener floods",
            format!(
                "{}, up to {} idle connections held open",
                seen.floods, seen.flood_held
            ),
        ),
        ("SIGKILLs", seen.sigkills.to_string()),
        (
            "SIGTERMs, slowest exit",
            format!(
                "{}, {:.2?}",
                seen.sigterm_exits.len(),
                max(&seen.sigterm_exits)
            ),
        ),
        ("slowest recovery", format!("{:.2?}", max(&seen.recoveries))),
        (
            "stages running past their deadline",
            format!(
                "{} in {} /healthz reads",
                seen.past_deadline.len(),
                seen.health_reads
            ),
        ),
        (
            "peak RSS",
            format!("{} MiB", probe.peak_rss_kib.load(Ordering::Relaxed) / 1024),
        ),
        (
            "peak open descriptors",
            probe.peak_fds.load(Ordering::Relaxed).to_string(),
        ),
    ];
    let mut text = String::from("| soak | figure |\n|---|---|\n");
    for (name, figure) in rows {
        text.push_str(&format!("| {name} | {figure} |\n"));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_survives_a_chaos_schedule_and_its_claims_hold() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut soak = Soak::start().await;
    for hour in 1..=soak_hours() {
        soak.hour(hour).await;
    }
    soak.settle().await;
    let (status, took) = soak.run.signal("TERM", SIGTERM_LIMIT * 3).await;
    soak.seen.sigterm_exits.push(took);
    assert_eq!(status.code(), Some(0), "{}", soak.run.log());
    println!("{}", table(&soak.seen, &soak.probe));

    assert_eq!(soak.seen.past_deadline, Vec::<String>::new());
    for (i, took) in soak.seen.sigterm_exits.iter().enumerate() {
        assert!(*took <= SIGTERM_LIMIT, "SIGTERM {i} took {took:?}");
    }
    let peak_mib = soak.probe.peak_rss_kib.load(Ordering::Relaxed) / 1024;
    assert!(peak_mib < PEAK_RSS_MIB, "peak RSS {peak_mib} MiB");
    let peak_fds = soak.probe.peak_fds.load(Ordering::Relaxed);
    assert!(peak_fds < PEAK_DESCRIPTORS, "{peak_fds} descriptors open");

    let data = soak.net.dir.path().join("data");
    assert_catalog_and_lake_agree(&soak.net, &data).await;
    let sends = assert_landed_has_evidence(&soak.net, &data).await;
    println!("weights sends by outcome: {sends:?}");

    let at = soak.net.server.world().meta.now.clone();
    let clean = soak.net.dir.path().join("clean");
    clean_sync(&soak.net, &clean, &at);
    let at = audit_store::time::parse_utc(&at).unwrap();
    assert_eq!(
        shares(&data, &soak.net, at).await,
        shares(&clean, &soak.net, at).await,
        "the soaked lake scores differently from a clean sync"
    );
}
