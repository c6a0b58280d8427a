//! The auditor's stages for `auditctl run`, built from the library crates'
//! entry points and handed to [`audit_service::Service`].
//!
//! `audit-service` knows how to repeat, retry and observe stages but not
//! what they do; the library crates know what to do but not when. This
//! crate is the wiring between them, and nothing else: every stage calls
//! the same entry point as its one-shot command (`sync`, `weights`,
//! `compare-prom`, `synth`, `synth verify`, `report`) and feeds the
//! metrics of the issue with what it returned.
//!
//! The cycle, every `sync` interval: sync; when it brought new data,
//! score and compare with the chain, then set weights (when configured);
//! compare-prom after new data (or once its interval passed); `synth
//! verify`; the report page. Synthetics run beside it on their own
//! interval. Which stages exist is the caller's [`RunPlan`].

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

mod clock;
mod compare;
mod page;
mod score;
mod submission;
mod sync;
mod synth;
mod weights;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use audit_service::{Observed, Service, When};
use audit_store::Store;
use chutes_client::ChutesClient;
use tokio::sync::watch;

pub use clock::{Clock, ClockError, DevnetClock, SystemClock};
pub use compare::ComparePromStage;
pub use page::{PageSettings, PageStage};
pub use score::{LatestScores, ScoreStage};
pub use submission::{
    submit, PlanView, PreviousCommit, Sending, SendingAction, SubmitError, SubmitSettings,
};
pub use sync::SyncStage;
pub use synth::{SynthStage, SynthVerifyStage, SyntheticsSettings};
pub use weights::WeightsStage;

/// What every stage shares: the store (opened for writing by the caller,
/// which holds the data directory's lock), the network, the chain the
/// commitments are read from, the clock, and the validators audited.
#[derive(Clone)]
pub struct Auditor {
    /// The catalog and the lake.
    pub store: Arc<Store>,
    /// The Chutes API (and, for synthetics, the gateway).
    pub client: Arc<ChutesClient>,
    /// The chain the sync reads commitments from (an archive node on
    /// finney).
    pub chain: Arc<audit_sync::SubtensorChain>,
    /// Where evaluation times come from.
    pub clock: Arc<dyn Clock>,
    /// The validator hotkeys whose entries are verified and scored.
    pub validators: Vec<String>,
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

/// Which stages run and with what settings; `None` or `false` turns a
/// stage off.
pub struct RunPlan {
    /// The intervals.
    pub intervals: Intervals,
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

/// Builds the service `plan` describes over `auditor`.
pub fn service(auditor: &Auditor, plan: RunPlan) -> Result<Service, PlanError> {
    plan.check()?;
    let i = plan.intervals;
    let mut service = Service::new(i.sync).with_backoff_base(plan.backoff_base);
    if let Some(options) = plan.sync {
        service = service.cycle_stage(
            Arc::new(SyncStage::new(auditor.clone(), options)),
            When::Always,
        );
    }
    let latest = LatestScores::default();
    if let Some((netuid, profile)) = plan.score {
        let stage = ScoreStage::new(auditor.clone(), netuid, profile, latest.clone());
        service = service.cycle_stage(Arc::new(stage), When::NewData);
    }
    if let Some(settings) = plan.weights {
        let stage = WeightsStage::new(auditor.clone(), settings, latest, i.weights);
        service = service.cycle_stage(Arc::new(stage), When::NewData);
    }
    if let Some(threshold) = plan.compare_prom {
        let stage = ComparePromStage::new(auditor.clone(), threshold);
        service = service.cycle_stage(Arc::new(stage), When::NewDataOrAfter(i.compare_prom));
    }
    if plan.synth_verify {
        service = service.cycle_stage(
            Arc::new(SynthVerifyStage::new(auditor.clone())),
            When::Always,
        );
    }
    if let Some(page) = plan.page {
        service = service.cycle_stage(
            Arc::new(PageStage::new(auditor.clone(), page)),
            When::Always,
        );
    }
    if let Some(settings) = plan.synthetics {
        let stage = SynthStage::new(auditor.clone(), settings);
        service = service.loop_stage(Arc::new(stage), i.synthetics);
    }
    Ok(service)
}

/// Serves `/healthz`, `/metrics` and the page on `addr` until `shutdown`
/// turns true; returns the bound address (port 0 picks a free one).
pub async fn listen(
    addr: SocketAddr,
    observed: Observed,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = audit_service::router(observed);
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!("the HTTP listener on {bound} stopped: {err}");
        }
    });
    Ok((bound, task))
}

/// The evaluation time as a stage error when the clock cannot be read.
async fn now(clock: &dyn Clock) -> Result<chrono::NaiveDateTime, audit_service::StageError> {
    Ok(clock.now().await?)
}
