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
//!   each is owed one run at start once the stages before it succeed, for
//!   data an earlier process loaded but did not get to process;
//! - every stage run has a deadline: a run that exceeds it is abandoned
//!   (its future dropped), counted as failed ("stuck: exceeded its
//!   deadline"), and the cycle goes on, so one stuck stage holds the others
//!   back by its deadline at most; loops run on tasks of their own;
//! - shutdown lets the stage in flight finish within a grace period, then
//!   drops it and returns: a stage stuck on the network cannot hold the
//!   process (the stores' writes are transactions and renames, so a dropped
//!   run leaves nothing half-written);
//! - `/healthz` answers 503 with the reasons while any stage's last
//!   attempt failed, a stage is overdue or runs past its deadline, 200
//!   otherwise.
//!
//! # Example
//!
//! A service with one cycle stage, run for two cycles and stopped:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use audit_service::{Service, Stage, StageContext, StageError, StageOutcome, When};
//! use futures::future::BoxFuture;
//!
//! /// A stage that only says so (the auditor's sync, score, compare...).
//! struct Hello;
//!
//! impl Stage for Hello {
//!     fn name(&self) -> &str {
//!         "hello"
//!     }
//!
//!     fn run<'a>(&'a self, _: &'a StageContext) -> BoxFuture<'a, Result<StageOutcome, StageError>> {
//!         Box::pin(async {
//!             Ok(StageOutcome {
//!                 new_data: false,
//!                 summary: "said hello".into(),
//!             })
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = Service::new(Duration::from_millis(10)).cycle_stage(
//!     Arc::new(Hello),
//!     When::Always,
//!     Duration::from_secs(5),
//! );
//! let mut cycles = service.cycles();
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let running = tokio::spawn(service.run(stopped));
//! cycles.wait_for(|done| *done >= 2).await.unwrap();
//! stop.send(true).unwrap();
//!
//! let summary = running.await.unwrap();
//! assert!(summary.stages["hello"].succeeded >= 2);
//! assert_eq!(summary.failed, 0);
//! # }
//! ```

#![warn(missing_docs)]

mod backoff;
mod health;
mod http;
mod listener;
mod metrics;
pub mod signals;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::watch;

pub use backoff::Backoff;
pub use health::{Health, StageHealth, Verdict};
pub use http::{router, Observed};
pub use listener::{listen, raise_open_file_limit, serve, ListenerLimits, OpenFileLimit};
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
    deadline: Duration,
    owed: bool,
    /// Owed one run at start, once the stages before it succeed: a
    /// process killed between the sync that loaded an hour and the stages
    /// after it would otherwise leave that hour unscored until more data.
    owed_at_start: bool,
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
    loops: Vec<LoopStage>,
    backoff_base: Duration,
    shutdown_grace: Duration,
    observed: Observed,
    cycles: watch::Sender<u64>,
}

struct LoopStage {
    stage: Arc<dyn Stage>,
    interval: Duration,
    deadline: Duration,
}

/// How long the stage in flight may go on after shutdown is asked, by
/// default: inside the 10 s a supervisor (`docker stop`, systemd) waits.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
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

    /// How long the stage in flight may go on once shutdown is asked
    /// before it is dropped.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Appends a stage to the cycle; a run longer than `deadline` is
    /// abandoned.
    pub fn cycle_stage(mut self, stage: Arc<dyn Stage>, when: When, deadline: Duration) -> Self {
        let interval = match when {
            When::Always => Some(self.cycle_interval),
            When::NewData => None,
            // It runs at the first cycle at or after `every`.
            When::NewDataOrAfter(every) => Some(every.max(self.cycle_interval)),
        };
        self.expect(stage.name(), interval, deadline);
        self.cycle.push(CycleStage {
            stage,
            when,
            deadline,
            owed: false,
            owed_at_start: when != When::Always,
            last_success: None,
        });
        self
    }

    /// Adds a stage that runs on its own every `interval`; a run longer
    /// than `deadline` is abandoned.
    pub fn loop_stage(
        mut self,
        stage: Arc<dyn Stage>,
        interval: Duration,
        deadline: Duration,
    ) -> Self {
        self.expect(stage.name(), Some(interval), deadline);
        self.loops.push(LoopStage {
            stage,
            interval,
            deadline,
        });
        self
    }

    fn expect(&self, name: &str, interval: Option<Duration>, deadline: Duration) {
        if let Ok(mut health) = self.observed.health.lock() {
            health.expect(name, interval, deadline);
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

    /// Runs until `shutdown` turns true; the stage in flight may finish
    /// within the shutdown grace, and is dropped after it.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> ServiceSummary {
        let Service {
            cycle,
            cycle_interval,
            loops,
            backoff_base,
            shutdown_grace,
            observed,
            cycles,
        } = self;
        let runner = Runner {
            observed,
            backoff_base,
            shutdown_grace,
            cycles: Arc::new(cycles),
        };
        let mut tasks = Vec::new();
        for stage in loops {
            let (runner, shutdown) = (runner.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                runner.run_loop(stage, shutdown).await
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
    shutdown_grace: Duration,
    cycles: Arc<watch::Sender<u64>>,
}

/// How one run of a stage ended, short of success.
enum Unfinished {
    /// The stage returned an error.
    Failed(StageError),
    /// The run exceeded its deadline and was dropped.
    Stuck(Duration),
    /// Shutdown was asked and the grace passed: the run was dropped.
    CutOff(Duration),
}

impl Unfinished {
    fn message(&self) -> String {
        match self {
            Unfinished::Failed(err) => error_chain(err.as_ref()),
            Unfinished::Stuck(deadline) => {
                format!(
                    "stuck: exceeded its deadline of {} s",
                    deadline.as_secs_f64()
                )
            }
            Unfinished::CutOff(grace) => format!(
                "cut off by the shutdown: still running {} s after it was asked",
                grace.as_secs_f64()
            ),
        }
    }
}

impl Runner {
    fn context(&self) -> StageContext {
        StageContext {
            metrics: self.observed.metrics.clone(),
            page: self.observed.page.clone(),
        }
    }

    /// Runs one stage once, within its deadline (and the shutdown grace),
    /// and records the result in health and metrics.
    async fn attempt(
        &self,
        stage: &dyn Stage,
        deadline: Duration,
        shutdown: &watch::Receiver<bool>,
        summary: &mut ServiceSummary,
    ) -> Option<StageOutcome> {
        let name = stage.name().to_owned();
        if let Ok(mut h) = self.observed.health.lock() {
            h.running(&name, chrono::Utc::now().naive_utc());
        }
        let context = self.context();
        let run = tokio::time::timeout(deadline, stage.run(&context));
        let grace = self.shutdown_grace;
        let mut shutdown = shutdown.clone();
        let cut_off = async move {
            // A dropped sender means nobody can ask any more: stop too.
            let _ = shutdown.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        // Dropping the run's future is what abandons it: everything it
        // was waiting on goes with it.
        let result = tokio::select! {
            ran = run => match ran {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(err)) => Err(Unfinished::Failed(err)),
                Err(_) => Err(Unfinished::Stuck(deadline)),
            },
            _ = cut_off => Err(Unfinished::CutOff(grace)),
        };
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
            Err(unfinished) => {
                let message = unfinished.message();
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
                let started = step.owed_at_start && !any_failed;
                if !step.due(new_data || started, Instant::now()) {
                    continue;
                }
                let attempt =
                    self.attempt(step.stage.as_ref(), step.deadline, &shutdown, &mut summary);
                match attempt.await {
                    Some(outcome) => {
                        new_data |= outcome.new_data;
                        step.owed = false;
                        step.owed_at_start = false;
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
        LoopStage {
            stage,
            interval,
            deadline,
        }: LoopStage,
        mut shutdown: watch::Receiver<bool>,
    ) -> ServiceSummary {
        let mut summary = ServiceSummary::default();
        let backoff = Backoff {
            base: self.backoff_base,
            ceiling: interval,
        };
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let attempt = self.attempt(stage.as_ref(), deadline, &shutdown, &mut summary);
            let ok = attempt.await.is_some();
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
