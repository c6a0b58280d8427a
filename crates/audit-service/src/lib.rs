//! The auditor as a long-running service (`auditctl run`).
//!
//! The service knows nothing of syncing or scoring: it runs [`Stage`]s.
//! One *cycle* runs its stages in order every interval (sync, then the
//! stages that need new data, then the rest); independent *loops* run
//! beside it on their own interval (synthetics). The stages themselves are
//! built by the caller from the library crates' entry points.
//!
//! Guarantees, each pinned by a test in `tests/service.rs`:
//! - a stage's failure is logged, counted, and retried with backoff; it
//!   never ends the service;
//! - a stage that needs new data runs when an earlier stage of the cycle
//!   brought some, and keeps being owed that run until it succeeds; one
//!   that also has an interval runs once that much passed without data;
//! - shutdown lets the stage in flight finish, then returns: nothing is
//!   cut off half-way;
//! - `/healthz` answers 503 with the reasons while any stage's last
//!   attempt failed or a stage is overdue, 200 otherwise.

#![warn(missing_docs)]

mod backoff;
mod health;
mod http;
mod metrics;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::watch;

pub use backoff::Backoff;
pub use health::{Health, StageHealth, Verdict};
pub use http::{router, Observed};
pub use metrics::Metrics;

/// What a stage run can fail with: any error, kept with its source.
pub type StageError = Box<dyn std::error::Error + Send + Sync>;

/// What a stage did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOutcome {
    /// The stage brought new validator data (stages that wait for it run).
    pub new_data: bool,
    /// One line for the log.
    pub summary: String,
}

/// What a stage sees of the service.
pub struct StageContext {
    /// Where the stage reports what it measured.
    pub metrics: Metrics,
    /// Where a stage that renders the report page puts it (served at `/`).
    pub page: Arc<RwLock<Option<String>>>,
}

/// One step of the service: sync, score, set weights, compare, verify...
pub trait Stage: Send + Sync {
    /// The stage's name in logs, health and metrics.
    fn name(&self) -> &str;
    /// Runs the stage once, to the end.
    fn run<'a>(
        &'a self,
        context: &'a StageContext,
    ) -> BoxFuture<'a, Result<StageOutcome, StageError>>;
}

/// When a cycle stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Every cycle.
    Always,
    /// Only when an earlier stage brought new data (or a previous run
    /// after new data failed).
    NewData,
    /// When an earlier stage brought new data, and otherwise once its last
    /// success is this old: a stage that reads the lake and the clock
    /// (coverage moves with time even when no entry arrives).
    NewDataOrAfter(Duration),
}

struct CycleStage {
    stage: Arc<dyn Stage>,
    when: When,
    owed: bool,
    last_success: Option<Instant>,
}

impl CycleStage {
    /// Whether this cycle runs the stage.
    fn due(&self, new_data: bool, now: Instant) -> bool {
        match self.when {
            When::Always => true,
            When::NewData => new_data || self.owed,
            When::NewDataOrAfter(every) => {
                new_data
                    || self.owed
                    || self
                        .last_success
                        .is_none_or(|at| now.saturating_duration_since(at) >= every)
            }
        }
    }
}

/// The service: a cycle of stages and independent loops.
pub struct Service {
    cycle: Vec<CycleStage>,
    cycle_interval: Duration,
    loops: Vec<(Arc<dyn Stage>, Duration)>,
    backoff_base: Duration,
    observed: Observed,
    cycles: watch::Sender<u64>,
}

/// What a finished service did, for the closing log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceSummary {
    /// Cycles started.
    pub cycles: u64,
    /// Stage runs that succeeded.
    pub succeeded: u64,
    /// Stage runs that failed.
    pub failed: u64,
    /// The same counts by stage, with each stage's last summary line.
    pub stages: BTreeMap<String, StageTally>,
}

/// What one stage did over a service's life.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StageTally {
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Runs that failed.
    pub failed: u64,
    /// The last successful run's summary line.
    pub last_summary: Option<String>,
    /// The last failure's message.
    pub last_error: Option<String>,
}

impl ServiceSummary {
    fn merge(&mut self, other: ServiceSummary) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        for (name, tally) in other.stages {
            let mine = self.stages.entry(name).or_default();
            mine.succeeded += tally.succeeded;
            mine.failed += tally.failed;
            mine.last_summary = tally.last_summary.or(mine.last_summary.take());
            mine.last_error = tally.last_error.or(mine.last_error.take());
        }
    }
}

impl Service {
    /// A service whose cycle runs every `cycle_interval`.
    pub fn new(cycle_interval: Duration) -> Self {
        let now = chrono::Utc::now().naive_utc();
        let metrics = Metrics::new();
        metrics.started(now.and_utc().timestamp() as f64);
        Service {
            cycle: Vec::new(),
            cycle_interval,
            loops: Vec::new(),
            backoff_base: Duration::from_secs(5),
            observed: Observed {
                health: Arc::new(Mutex::new(Health::new(now))),
                metrics,
                page: Arc::new(RwLock::new(None)),
            },
            cycles: watch::channel(0).0,
        }
    }

    /// The first wait after a failure (doubling up to the interval).
    pub fn with_backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// Appends a stage to the cycle.
    pub fn cycle_stage(mut self, stage: Arc<dyn Stage>, when: When) -> Self {
        let interval = match when {
            When::Always => Some(self.cycle_interval),
            When::NewData => None,
            // It runs at the first cycle at or after `every`.
            When::NewDataOrAfter(every) => Some(every.max(self.cycle_interval)),
        };
        self.expect(stage.name(), interval);
        self.cycle.push(CycleStage {
            stage,
            when,
            owed: false,
            last_success: None,
        });
        self
    }

    /// Adds a stage that runs on its own every `interval`.
    pub fn loop_stage(mut self, stage: Arc<dyn Stage>, interval: Duration) -> Self {
        self.expect(stage.name(), Some(interval));
        self.loops.push((stage, interval));
        self
    }

    fn expect(&self, name: &str, interval: Option<Duration>) {
        if let Ok(mut health) = self.observed.health.lock() {
            health.expect(name, interval);
        }
    }

    /// What the HTTP listener serves; clone it before [`Service::run`].
    pub fn observed(&self) -> Observed {
        self.observed.clone()
    }

    /// The number of cycles finished so far, updated at the end of each:
    /// a driver (the demo, a test) waits on it instead of guessing times.
    pub fn cycles(&self) -> watch::Receiver<u64> {
        self.cycles.subscribe()
    }

    /// Runs until `shutdown` turns true; the stage in flight finishes
    /// first.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> ServiceSummary {
        let Service {
            cycle,
            cycle_interval,
            loops,
            backoff_base,
            observed,
            cycles,
        } = self;
        let runner = Runner {
            observed,
            backoff_base,
            cycles: Arc::new(cycles),
        };
        let mut tasks = Vec::new();
        for (stage, interval) in loops {
            let (runner, shutdown) = (runner.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                runner.run_loop(stage, interval, shutdown).await
            }));
        }
        let mut summary = runner.run_cycle(cycle, cycle_interval, shutdown).await;
        for task in tasks {
            if let Ok(s) = task.await {
                summary.merge(s);
            }
        }
        summary
    }
}

#[derive(Clone)]
struct Runner {
    observed: Observed,
    backoff_base: Duration,
    cycles: Arc<watch::Sender<u64>>,
}

impl Runner {
    fn context(&self) -> StageContext {
        StageContext {
            metrics: self.observed.metrics.clone(),
            page: self.observed.page.clone(),
        }
    }

    /// Runs one stage once and records the result in health and metrics.
    async fn attempt(
        &self,
        stage: &dyn Stage,
        summary: &mut ServiceSummary,
    ) -> Option<StageOutcome> {
        let name = stage.name().to_owned();
        let result = stage.run(&self.context()).await;
        let now = chrono::Utc::now().naive_utc();
        let mut health = self.observed.health.lock().ok();
        let tally = summary.stages.entry(name.clone()).or_default();
        match result {
            Ok(outcome) => {
                tracing::info!(stage = %name, "{}", outcome.summary);
                if let Some(h) = health.as_mut() {
                    h.succeeded(&name, now);
                }
                self.observed
                    .metrics
                    .stage_succeeded(&name, now.and_utc().timestamp() as f64);
                summary.succeeded += 1;
                tally.succeeded += 1;
                tally.last_summary = Some(outcome.summary.clone());
                Some(outcome)
            }
            Err(err) => {
                let message = error_chain(err.as_ref());
                tracing::warn!(stage = %name, "failed: {message}");
                if let Some(h) = health.as_mut() {
                    h.failed(&name, now, &message);
                }
                self.observed.metrics.stage_failed(&name);
                summary.failed += 1;
                tally.failed += 1;
                tally.last_error = Some(message);
                None
            }
        }
    }

    async fn run_cycle(
        &self,
        mut cycle: Vec<CycleStage>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> ServiceSummary {
        let mut summary = ServiceSummary::default();
        let backoff = Backoff {
            base: self.backoff_base,
            ceiling: interval,
        };
        let mut failed_cycles = 0u32;
        while !*shutdown.borrow() {
            summary.cycles += 1;
            let mut new_data = false;
            let mut any_failed = false;
            for step in &mut cycle {
                if *shutdown.borrow() {
                    break;
                }
                if !step.due(new_data, Instant::now()) {
                    continue;
                }
                match self.attempt(step.stage.as_ref(), &mut summary).await {
                    Some(outcome) => {
                        new_data |= outcome.new_data;
                        step.owed = false;
                        step.last_success = Some(Instant::now());
                    }
                    None => {
                        any_failed = true;
                        step.owed = step.when != When::Always;
                    }
                }
            }
            self.cycles.send_modify(|n| *n += 1);
            failed_cycles = if any_failed { failed_cycles + 1 } else { 0 };
            let wait = if any_failed {
                backoff.delay(failed_cycles)
            } else {
                interval
            };
            if sleep_or_shutdown(wait, &mut shutdown).await {
                break;
            }
        }
        summary
    }

    async fn run_loop(
        &self,
        stage: Arc<dyn Stage>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> ServiceSummary {
        let mut summary = ServiceSummary::default();
        let backoff = Backoff {
            base: self.backoff_base,
            ceiling: interval,
        };
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let ok = self.attempt(stage.as_ref(), &mut summary).await.is_some();
            failures = if ok { 0 } else { failures + 1 };
            let wait = if ok {
                interval
            } else {
                backoff.delay(failures)
            };
            if sleep_or_shutdown(wait, &mut shutdown).await {
                break;
            }
        }
        summary
    }
}

/// Waits `wait`, or less if shutdown is asked; true when it was.
async fn sleep_or_shutdown(wait: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        // A dropped sender means nobody can ask any more: stop too.
        _ = shutdown.wait_for(|stop| *stop) => false,
    };
    !slept || *shutdown.borrow()
}

/// An error and its sources on one line.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Resolves on SIGINT or SIGTERM: the signal to finish the step in flight
/// and stop.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
