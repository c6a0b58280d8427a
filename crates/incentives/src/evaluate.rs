//! One scoring run end to end, as a validator needs it: read the inputs
//! from the store, score, compare with the chain, record the run.
//!
//! The CLI, the service loop and embedding validators all call
//! [`evaluate`] (or [`assess`], which records nothing); nothing above this
//! crate repeats the sequence.

use audit_store::Store;
use chrono::NaiveDateTime;
use serde::Serialize;

use crate::compare::Comparison;
use crate::inputs::ScoringInputs;
use crate::profile::ScoringProfile;
use crate::{compare, score, weights_run, IncentivesError, Scores};

/// What one run needs besides the store.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    /// The evaluation time: the window is the profile's days before it.
    pub at: NaiveDateTime,
    /// The validator hotkeys whose exports feed the score.
    pub validators: &'a [String],
    /// The subnet whose metagraph the scores are set against.
    pub netuid: u16,
    /// The versioned scoring rules.
    pub profile: &'a ScoringProfile,
    /// The wall-clock time the run is recorded at.
    pub now: NaiveDateTime,
}

/// A recorded run: the scores, their comparison with the chain, and the
/// catalog's id for it.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatedRun {
    /// The catalog's id of the recorded weights run.
    pub run_id: i64,
    /// Every miner's features and share.
    pub scores: Scores,
    /// The shares set against the incentive on chain.
    pub comparison: Comparison,
}

/// Scores and their comparison with the chain, not recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// Every miner's features and share.
    pub scores: Scores,
    /// The shares set against the incentive on chain.
    pub comparison: Comparison,
    /// The catalog's metagraph snapshot the comparison used.
    pub snapshot_id: Option<i64>,
}

/// Scores the lake as of `run.at` and compares with the chain's incentive
/// in the metagraph snapshot of that time, writing nothing: for readers
/// (an embedding validator, a second opinion) that must leave the catalog
/// as it is. `run.now` is unused here.
///
/// Scoring is CPU-bound polars work, so it runs on tokio's blocking pool.
pub async fn assess(store: &Store, run: Evaluation<'_>) -> Result<Assessment, IncentivesError> {
    let inputs =
        ScoringInputs::from_store(store, run.at, run.validators, run.netuid, run.profile).await?;
    if inputs.entries == 0 {
        tracing::warn!(
            "no loaded validator entry in the {} days before {}: nothing to score until a sync loads some",
            run.profile.window_days,
            run.at
        );
    }
    let (at, profile) = (run.at, run.profile.clone());
    let (scores, inputs) =
        tokio::task::spawn_blocking(move || score(&inputs, at, &profile).map(|s| (s, inputs)))
            .await
            .map_err(|join| IncentivesError::Facts(format!("the scoring task failed: {join}")))??;
    let comparison = compare(&scores.miners, &inputs.metagraph, run.profile.delta_flag);
    Ok(Assessment {
        scores,
        comparison,
        snapshot_id: inputs.snapshot_id,
    })
}

/// [`assess`], then records the run in the catalog.
pub async fn evaluate(store: &Store, run: Evaluation<'_>) -> Result<EvaluatedRun, IncentivesError> {
    let now = run.now;
    let assessed = assess(store, run).await?;
    let record = weights_run(
        &assessed.scores,
        &assessed.comparison,
        assessed.snapshot_id,
        now,
    );
    let run_id = store.catalog().record_weights_run(&record).await?;
    Ok(EvaluatedRun {
        run_id,
        scores: assessed.scores,
        comparison: assessed.comparison,
    })
}
