//! The score stage: `incentives::evaluate` (scores from the lake, set
//! against the chain's incentive, recorded in the catalog) as of the
//! clock's present; the deltas go to the metrics and the run is handed to
//! the weights stage.

use std::sync::{Arc, Mutex};

use audit_service::{StageContext, StageError, StageOutcome};
use incentives::{EvaluatedRun, ScoringProfile};

use crate::Shared;

/// The newest scored run not yet taken by the weights stage.
#[derive(Clone, Default)]
pub(crate) struct LatestScores(Arc<Mutex<Option<EvaluatedRun>>>);

impl LatestScores {
    /// Hands a new run over, replacing an older one nobody took.
    pub fn put(&self, run: EvaluatedRun) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
    }

    /// Takes the newest run, if there is one.
    pub fn take(&self) -> Option<EvaluatedRun> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Gives a run back when sending it failed, unless a newer one came.
    pub fn restore(&self, run: EvaluatedRun) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(run);
        }
    }
}

/// Scores the lake and compares with the chain.
pub(crate) struct ScoreStage {
    shared: Shared,
    netuid: u16,
    profile: ScoringProfile,
    latest: LatestScores,
}

impl ScoreStage {
    /// Scores with `profile` against subnet `netuid`'s incentive; each run
    /// is put in `latest`.
    pub(crate) fn new(
        shared: Shared,
        netuid: u16,
        profile: ScoringProfile,
        latest: LatestScores,
    ) -> Self {
        ScoreStage {
            shared,
            netuid,
            profile,
            latest,
        }
    }

    async fn score(&self, _: &StageContext) -> Result<StageOutcome, StageError> {
        let a = &self.shared;
        let at = crate::now(a.clock.as_ref()).await?;
        let run = incentives::evaluate(
            &a.store,
            incentives::Evaluation {
                at,
                validators: &a.validators,
                netuid: self.netuid,
                profile: &self.profile,
                now: chrono::Utc::now().naive_utc(),
            },
        )
        .await?;
        let c = &run.comparison;
        self.shared
            .metrics
            .set_weight_deltas(c.sum_abs_delta, c.max_delta);
        let summary = format!(
            "weights run {} at {}: {} miners scored from {} entries; sum |delta| {:.6}, max delta {:.6}",
            run.run_id,
            at.format("%Y-%m-%d %H:%M"),
            run.scores.miners.len(),
            run.scores.entries,
            c.sum_abs_delta,
            c.max_delta
        );
        self.latest.put(run);
        Ok(StageOutcome {
            new_data: false,
            summary,
        })
    }
}

crate::stage!(ScoreStage, "score", score);
