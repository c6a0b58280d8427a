//! The Chutes incentive rules (spec/incentives.md), reproduced over the
//! audit lake.
//!
//! [`score`] takes the [`ScoringInputs`] of one evaluation time and a
//! [`ScoringProfile`] and returns every miner's raw and normalised features
//! and final share. It is pure: the same lake, time and profile give the
//! same bits, whatever order files are read in. Row-level work runs in
//! polars (`features`); the per-miner arithmetic runs on the small result
//! (`score`). [`compare`] sets the shares against the chain's incentive.

mod compare;
mod features;
mod inputs;
mod profile;
mod score;

use chrono::NaiveDateTime;
use serde::Serialize;

pub use compare::{compare, ComparedMiner, Comparison};
pub use features::{InvocationStats, MinerFeatures};
pub use inputs::{micros, ScoringInputs, ENTRY_CREATED};
pub use profile::{FeatureWeights, ScoringProfile};
pub use score::{median, MinerScore, UniqueScale};

/// What can stop a scoring run.
#[derive(Debug, thiserror::Error)]
pub enum IncentivesError {
    #[error(
        "no metagraph snapshot of netuid {netuid} at or before {at}; run `auditctl sync` first"
    )]
    NoMetagraph { netuid: u16, at: NaiveDateTime },
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    #[error("reading the facts failed: {0}")]
    Facts(String),
    #[error("evaluation time out of range: {0}")]
    Time(String),
}

impl From<polars::prelude::PolarsError> for IncentivesError {
    fn from(err: polars::prelude::PolarsError) -> Self {
        IncentivesError::Facts(err.to_string())
    }
}

/// The result of a scoring run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub evaluated_at: NaiveDateTime,
    pub profile_name: String,
    pub profile_version: u32,
    /// Miners with a final share, highest first.
    pub miners: Vec<MinerScore>,
    /// Miners whose share ended at 0 (penalised, or no work that counts).
    pub zeroed: Vec<MinerScore>,
    pub unique_scale: UniqueScale,
    pub invocations: InvocationStats,
    pub entries: usize,
}

/// Scores every miner as of `at` (spec §1–§5).
pub fn score(
    inputs: &ScoringInputs,
    at: NaiveDateTime,
    profile: &ScoringProfile,
) -> Result<Scores, IncentivesError> {
    let (features, invocations) = features::raw_features(inputs, at, profile)?;
    let (all, unique_scale) = score::finalise(features, profile);
    let (miners, zeroed) = all.into_iter().partition(|m| m.score > 0.0);
    Ok(Scores {
        evaluated_at: at,
        profile_name: profile.name.clone(),
        profile_version: profile.version,
        miners,
        zeroed,
        unique_scale,
        invocations,
        entries: inputs.entries,
    })
}
