//! The auditor's stages for `auditctl run`, built from the library crates'
//! entry points and handed to [`audit_service::Service`].
//!
//! `audit-service` knows how to repeat, retry and observe stages but not
//! what they do; the library crates know what to do but not when. This
//! crate is the wiring between them, and nothing else: every stage calls
//! the same entry point as its one-shot command (`sync`, `weights`,
//! `compare-prom`, `synth`, `synth verify`, `report`) and feeds the
//! series it measured (entries, integrity violations, synthetics, miner
//! agreement and coverage, weight deltas and submissions), registered on
//! the service's metrics.
//!
//! The [`Auditor`] is generic over `audit_sync`'s [`AuditSource`] and
//! [`ChainSource`]: the loop runs on the real network's clients or on any
//! sources an embedder provides (`examples/in_memory.rs` runs it on
//! sources held in memory). [`RunPlan::from_config`] and
//! [`NetworkAuditor::connect`] build the run `auditctl run` runs from its
//! configuration. The HTTP listener is `audit_service::listen`.
//!
//! The cycle, every `sync` interval: sync; when it brought new data,
//! score and compare with the chain, then set weights (when configured);
//! compare-prom after new data (or once its interval passed); `synth
//! verify`; the report page. Synthetics run beside it on their own
//! interval. Which stages exist is the caller's [`RunPlan`].
//!
//! ```
//! use audit_config::Config;
//! use audit_run::RunPlan;
//!
//! // The stages a configuration turns on, checked before any I/O.
//! let mut config = Config::default();
//! config.run.stages.synthetics = false; // they would need an API key
//! let plan = RunPlan::from_config(&config, None).unwrap();
//! assert!(plan.sync.is_some() && plan.score.is_some());
//! assert!(plan.weights.is_none(), "set_weights.enabled is off by default");
//!
//! // A stage that cannot run is a configuration error, not a failure later.
//! config.run.stages.synthetics = true;
//! assert!(matches!(
//!     RunPlan::from_config(&config, None),
//!     Err(audit_run::SetupError::Config(_))
//! ));
//!
//! // A one-shot command's time: `--at`, else now; a future one refused
//! // where it would prune the lake or send weights.
//! let tomorrow = chrono::Utc::now().naive_utc() + chrono::TimeDelta::days(1);
//! assert!(audit_run::evaluation_time(Some(tomorrow), false).is_ok());
//! assert!(audit_run::evaluation_time(Some(tomorrow), true).is_err());
//! ```

#![warn(missing_docs)]

/// Implements `audit_service::Stage` for a type whose async method
/// `$method(&self, &StageContext)` does one run: each stage module says
/// only its name and its work.
macro_rules! stage {
    ($ty:ty, $name:literal, $method:ident) => {
        impl audit_service::Stage for $ty {
            fn name(&self) -> &str {
                $name
            }

            fn run<'a>(
                &'a self,
                context: &'a audit_service::StageContext,
            ) -> futures::future::BoxFuture<
                'a,
                Result<audit_service::StageOutcome, audit_service::StageError>,
            > {
                Box::pin(self.$method(context))
            }
        }
    };
}
pub(crate) use stage;

mod compare;
mod configured;
mod metrics;
mod page;
mod score;
mod submission;
mod sync;
mod synth;
mod weights;

use std::sync::Arc;
use std::time::Duration;

use audit_service::{Service, When};
use audit_store::Store;
use audit_sync::{AuditSource, ChainSource};

pub use audit_model::clock::{Clock, ClockError, SystemClock};
pub use configured::{
    chutes_client, compare_prom, connect_chain, evaluate, evaluation_time, listener_limits,
    open_store, prompts, send_mode, SetupError,
};
pub use page::PageSettings;
pub use submission::{
    submit, PlanView, PreviousCommit, Sending, SendingAction, SubmitError, SubmitSettings,
};
pub use synth::SyntheticsSettings;

use compare::ComparePromStage;
use metrics::AuditMetrics;
use page::PageStage;
use score::{LatestScores, ScoreStage};
use sync::SyncStage;
use synth::{SynthStage, SynthVerifyStage};
use weights::WeightsStage;

/// What every stage shares: the store (opened for writing by the caller,
/// which holds the data directory's lock), where the audit data and the
/// chain's word on it come from, the clock, and the validators audited.
///
/// The sources are `audit_sync`'s traits: on the real network the Chutes
/// client and the subtensor client (`chutes_client::ChutesClient`,
/// `audit_sync::SubtensorChain`), in a test or an embedding anything that
/// lists entries, serves their files and answers for the commitments.
pub struct Auditor<A, C> {
    /// The catalog and the lake.
    pub store: Arc<Store>,
    /// The audit entries, their reports and exports, the GPU counts.
    pub source: Arc<A>,
    /// The commitments the entries are checked against (an archive node
    /// on finney) and the metagraph.
    pub chain: Arc<C>,
    /// Where evaluation times come from.
    pub clock: Arc<dyn Clock>,
    /// The validator hotkeys whose entries are verified and scored.
    pub validators: Vec<String>,
}

/// The auditor of the real network: the Chutes API and the chain node.
pub type NetworkAuditor = Auditor<chutes_client::ChutesClient, audit_sync::SubtensorChain>;

impl<A, C> Clone for Auditor<A, C> {
    fn clone(&self) -> Self {
        Auditor {
            store: self.store.clone(),
            source: self.source.clone(),
            chain: self.chain.clone(),
            clock: self.clock.clone(),
            validators: self.validators.clone(),
        }
    }
}

/// What the stages after the sync read: the store, the clock and the
/// validators, whatever the sources.
#[derive(Clone)]
struct Shared {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    validators: Vec<String>,
    metrics: AuditMetrics,
}

/// How often the stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// The cycle: sync and what follows it.
    pub sync: Duration,
    /// The synthetics loop.
    pub synthetics: Duration,
    /// compare-prom runs after new data, and otherwise once this passed.
    pub compare_prom: Duration,
    /// Weights are sent at most once per this.
    pub weights: Duration,
}

/// How long one run of each stage may take: a run past it is abandoned
/// and counted as failed, so a peer that stalls holds the cycle back by
/// this much at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// One sync (a cold week's load included).
    pub sync: Duration,
    /// Scoring and the comparison with the chain.
    pub score: Duration,
    /// One weights submission, inclusion included.
    pub weights: Duration,
    /// compare-prom.
    pub compare_prom: Duration,
    /// One synthetics round.
    pub synthetics: Duration,
    /// `synth verify`.
    pub synth_verify: Duration,
    /// The report page.
    pub report: Duration,
}

/// Which stages run and with what settings; `None` or `false` turns a
/// stage off.
pub struct RunPlan {
    /// The intervals.
    pub intervals: Intervals,
    /// Each stage's deadline.
    pub deadlines: Deadlines,
    /// The first wait after a failure (doubling up to the interval).
    pub backoff_base: Duration,
    /// The ingest, with its options (`at` is set from the clock each run).
    pub sync: Option<audit_sync::SyncOptions>,
    /// Scoring and the comparison with the chain: the netuid and profile.
    pub score: Option<(u16, incentives::ScoringProfile)>,
    /// Setting weights from each new score (needs `score`).
    pub weights: Option<SubmitSettings>,
    /// compare-prom with this flag threshold.
    pub compare_prom: Option<f64>,
    /// The synthetics loop.
    pub synthetics: Option<SyntheticsSettings>,
    /// `synth verify` after each sync.
    pub synth_verify: bool,
    /// The report page after each cycle.
    pub page: Option<PageSettings>,
}

/// Why a plan cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Weights are sent from scores; without scoring there is nothing to send.
    #[error("setting weights needs the score stage: turn run.stages.score on, or set_weights.enabled off")]
    WeightsWithoutScore,
    /// Nothing would run.
    #[error("every stage of `run` is turned off: enable at least one in run.stages")]
    Empty,
}

impl RunPlan {
    /// Whether the plan can run: checked before any I/O by a caller that
    /// wants a configuration error early, and again by [`service`].
    pub fn check(&self) -> Result<(), PlanError> {
        if self.weights.is_some() && self.score.is_none() {
            return Err(PlanError::WeightsWithoutScore);
        }
        let any = self.sync.is_some()
            || self.score.is_some()
            || self.compare_prom.is_some()
            || self.synthetics.is_some()
            || self.synth_verify
            || self.page.is_some();
        if !any {
            return Err(PlanError::Empty);
        }
        Ok(())
    }
}

/// Builds the service `plan` describes over `auditor`: the stages it
/// turns on, in the cycle's order, their series registered on the
/// service's metrics.
pub fn service<A, C>(auditor: &Auditor<A, C>, plan: RunPlan) -> Result<Service, PlanError>
where
    A: AuditSource + 'static,
    C: ChainSource + 'static,
{
    plan.check()?;
    let (i, d) = (plan.intervals, plan.deadlines);
    let mut service = Service::new(i.sync).with_backoff_base(plan.backoff_base);
    let metrics = match AuditMetrics::register(service.observed().metrics().registry()) {
        Ok(metrics) => metrics,
        // A new service's registry holds only the service's own names.
        Err(err) => unreachable!("the stages' series clash with the service's: {err}"),
    };
    let shared = Shared {
        store: auditor.store.clone(),
        clock: auditor.clock.clone(),
        validators: auditor.validators.clone(),
        metrics,
    };
    if let Some(options) = plan.sync {
        let stage = SyncStage::new(auditor.clone(), options, shared.metrics.clone());
        service = service.cycle_stage(Arc::new(stage), When::Always, d.sync);
    }
    let latest = LatestScores::default();
    if let Some((netuid, profile)) = plan.score {
        let stage = ScoreStage::new(shared.clone(), netuid, profile, latest.clone());
        service = service.cycle_stage(Arc::new(stage), When::NewData, d.score);
    }
    if let Some(settings) = plan.weights {
        let stage = WeightsStage::new(shared.clone(), settings, latest, i.weights);
        service = service.cycle_stage(Arc::new(stage), When::NewData, d.weights);
    }
    if let Some(threshold) = plan.compare_prom {
        let stage = ComparePromStage::new(shared.clone(), threshold);
        let when = When::NewDataOrAfter(i.compare_prom);
        service = service.cycle_stage(Arc::new(stage), when, d.compare_prom);
    }
    if plan.synth_verify {
        let stage = SynthVerifyStage::new(shared.clone());
        service = service.cycle_stage(Arc::new(stage), When::Always, d.synth_verify);
    }
    if let Some(page) = plan.page {
        let stage = PageStage::new(shared.clone(), page);
        service = service.cycle_stage(Arc::new(stage), When::Always, d.report);
    }
    if let Some(settings) = plan.synthetics {
        let stage = SynthStage::new(shared, settings);
        service = service.loop_stage(Arc::new(stage), i.synthetics, d.synthetics);
    }
    Ok(service)
}

/// Runs `work` on a blocking thread of its own (for futures that are not
/// `Send`), and drops it there as soon as the returned future is dropped:
/// a stage abandoned at its deadline must not go on sending in the
/// background. `None` when the thread ended without an answer.
async fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce(tokio::sync::oneshot::Receiver<()>) -> Option<T> + Send + 'static,
) -> Result<T, audit_service::StageError> {
    // The sender lives in this future; dropping it wakes the thread.
    let (_abandon_on_drop, abandoned) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::task::spawn_blocking(move || work(abandoned)).await?;
    done.ok_or_else(|| "the stage's thread was abandoned".into())
}

/// `work` to its end, or `None` once `abandoned` fires (its sender dropped).
async fn unless_abandoned<T>(
    abandoned: tokio::sync::oneshot::Receiver<()>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = abandoned => None,
    }
}

/// The evaluation time as a stage error when the clock cannot be read.
async fn now(clock: &dyn Clock) -> Result<chrono::NaiveDateTime, audit_service::StageError> {
    clock.now().await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Sets its flag when dropped.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_on_its_own_thread_is_dropped_there_when_the_stage_is_abandoned() {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let handle = tokio::runtime::Handle::current();
        // A future that is not `Send` (an `Rc`), waiting on a peer that
        // never answers, as a submission to a stalled node does.
        let stage = super::on_own_thread(move |abandoned| {
            let waiting = async move {
                let _guard = std::rc::Rc::new(Dropped(flag));
                // Long past the test's wait, short enough that a failure
                // ends (the runtime waits for its blocking threads).
                tokio::time::sleep(Duration::from_secs(20)).await;
            };
            handle.block_on(super::unless_abandoned(abandoned, waiting))
        });
        let abandoned = tokio::time::timeout(Duration::from_millis(100), stage).await;
        assert!(abandoned.is_err(), "the work never finishes on its own");
        for _ in 0..200 {
            if dropped.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the work went on in the background after its stage was abandoned");
    }
}
