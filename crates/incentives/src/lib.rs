//! The Chutes incentive rules (docs/spec/incentives.md), reproduced over the
//! audit lake.
//!
//! [`score`] takes the [`ScoringInputs`] of one evaluation time and a
//! [`ScoringProfile`] and returns every miner's raw and normalised features
//! and final share. It is pure: the same lake, time and profile give the
//! same bits, whatever order files are read in. Row-level work runs in
//! polars and in one loop over each invocation's columns (`features`,
//! `invocation`); the per-miner arithmetic runs on the small result
//! (`score`). [`compare`] sets the shares against the chain's incentive.
//!
//! # Example
//!
//! Two miners' week on a three-neuron metagraph, scored by the default
//! profile from in-memory frames ([`ScoringInputs::from_store`] reads the
//! same from the lake):
//!
//! ```
//! use audit_store::facts::{self, invocations as inv};
//! use audit_store::{FactTable, Neuron};
//! use incentives::{score, ScoringInputs, ScoringProfile, ENTRY_CREATED};
//! use polars::prelude::*;
//!
//! let at = audit_store::time::parse_utc("2025-02-10T12:00:00Z").unwrap();
//! let hour_ago = incentives::micros(at) - 3_600_000_000;
//! // Miner A served two invocations of 3 compute units each, B one of 2.
//! let invocations = df!(
//!     inv::INVOCATION_ID => ["i1", "i2", "i3"],
//!     inv::PARENT_INVOCATION_ID => ["i1", "i2", "i3"],
//!     inv::CHUTE_ID => ["chute"; 3],
//!     inv::MINER_HOTKEY => ["5A", "5A", "5B"],
//!     inv::MINER_UID => [1i32, 1, 2],
//!     inv::NC => [3.0, 3.0, 2.0],
//!     inv::COMPUTE_MULTIPLIER => [1.0; 3],
//!     inv::BOUNTY => [0.0; 3],
//!     inv::STARTED_AT => [hour_ago; 3],
//!     inv::COMPLETED_AT => [hour_ago + 1_000_000; 3],
//!     ENTRY_CREATED => [hour_ago; 3],
//! )?;
//! let invocations = facts::conform(invocations, FactTable::Invocations, &[ENTRY_CREATED])?;
//! let none = |table| DataFrame::empty_with_schema(&facts::schema(table)).lazy();
//! let neuron = |uid: u16, hotkey: &str| Neuron {
//!     uid,
//!     hotkey: hotkey.into(),
//!     coldkey: format!("cold-{hotkey}"),
//!     incentive: 0,
//!     stake: 0.0,
//!     last_update: 0,
//!     validator_permit: false,
//! };
//! let inputs = ScoringInputs::from_frames(
//!     invocations.lazy(),
//!     none(FactTable::Reports),
//!     none(FactTable::InstanceAudits),
//!     vec![neuron(0, "5V"), neuron(1, "5A"), neuron(2, "5B")],
//!     vec![],
//! );
//!
//! let scores = score(&inputs, at, &ScoringProfile::default())?;
//! let shares: Vec<(&str, f64)> = scores
//!     .miners
//!     .iter()
//!     .map(|m| (m.features.hotkey.as_str(), m.score))
//!     .collect();
//! assert_eq!(shares[0].0, "5A");
//! assert!(shares[0].1 > shares[1].1);
//! assert!((shares.iter().map(|s| s.1).sum::<f64>() - 1.0).abs() < 1e-9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod compare;
mod evaluate;
mod features;
mod inputs;
mod invocation;
mod profile;
mod score;

use chrono::NaiveDateTime;
use serde::Serialize;

pub use compare::{compare, ComparedMiner, Comparison};
pub use evaluate::{assess, evaluate, Assessment, EvaluatedRun, Evaluation};
pub use features::{InvocationStats, MinerFeatures};
pub use inputs::{micros, ScoringInputs, ENTRIES_PER_GROUP, ENTRY_CREATED};
pub use profile::{FeatureWeights, ScoringProfile};
pub use score::{median, MinerScore, UniqueScale};

/// What can stop a scoring run.
#[derive(Debug, thiserror::Error)]
pub enum IncentivesError {
    /// Scores need the metagraph of their time; sync records it.
    #[error("no metagraph snapshot of netuid {netuid} at or before {at}: a sync records one")]
    NoMetagraph {
        /// The subnet asked for.
        netuid: u16,
        /// The evaluation time.
        at: NaiveDateTime,
    },
    /// Reading the catalog or the lake.
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    /// A polars query over the facts.
    #[error("reading the facts failed: {0}")]
    Facts(String),
    /// An evaluation time the date arithmetic cannot handle.
    #[error("evaluation time out of range: {0}")]
    Time(String),
    /// Loaded entries whose lake files are gone: scoring would quietly use
    /// fewer rows than the catalog claims, so it refuses.
    #[error(
        "the lake disagrees with its catalog: {} loaded entr{} have no files in the lake ({}); a sync fetches them again",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        entries.join(", ")
    )]
    LakeDisagrees {
        /// The entry ids whose files are missing.
        entries: Vec<String>,
    },
    /// A share outside [0, 1] or not a number: the inputs held values the
    /// guards should have refused; no weights come from such a run.
    #[error("refusing the scores: {what} of {hotkey} is {value}, outside [0, 1]")]
    ImplausibleScore {
        /// The miner whose figure is out of range.
        hotkey: String,
        /// Which figure.
        what: &'static str,
        /// Its value.
        value: f64,
    },
}

impl From<polars::prelude::PolarsError> for IncentivesError {
    fn from(err: polars::prelude::PolarsError) -> Self {
        IncentivesError::Facts(err.to_string())
    }
}

/// The result of a scoring run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// The evaluation time: the window ends here.
    pub evaluated_at: NaiveDateTime,
    /// The scoring profile's name, so a run says which rules made it.
    pub profile_name: String,
    /// The profile's version.
    pub profile_version: u32,
    /// Miners with a final share, highest first.
    pub miners: Vec<MinerScore>,
    /// Miners whose share ended at 0 (penalised, or no work that counts).
    pub zeroed: Vec<MinerScore>,
    /// The unique_chute_count scale, for `--explain`.
    pub unique_scale: UniqueScale,
    /// Counts about the invocation rows read.
    pub invocations: InvocationStats,
    /// Validator entries in the window.
    pub entries: usize,
    /// Entries among `entries` that were loaded without a checked
    /// commitment (`load_unverifiable`): when not 0, these scores rest on
    /// data that was not proven, and must not be sent as weights.
    pub unverifiable_entries_used: usize,
    /// Entries among `entries` whose commitment was read with proofs off
    /// (`subtensor.proofs: false`): scored on the node's word.
    pub unproven_entries_used: usize,
}

/// Scores every miner as of `at` (spec §1–§5).
pub fn score(
    inputs: &ScoringInputs,
    at: NaiveDateTime,
    profile: &ScoringProfile,
) -> Result<Scores, IncentivesError> {
    let (features, invocations) = features::raw_features(inputs, at, profile)?;
    let (all, unique_scale) = score::finalise(features, profile);
    score::check_shares(&all)?;
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
        unverifiable_entries_used: inputs.unverifiable_entries_used,
        unproven_entries_used: inputs.unproven_entries_used,
    })
}

/// The run as the catalog records it: every scored miner (zeroed ones
/// too) with its features, scores and comparison with the chain.
pub fn weights_run(
    scores: &Scores,
    comparison: &Comparison,
    snapshot_id: Option<i64>,
    created_at: NaiveDateTime,
) -> audit_store::WeightsRun {
    let compared = comparison
        .matched
        .iter()
        .chain(&comparison.computed_unpaid)
        .chain(&comparison.paid_not_computed);
    let miners = scores
        .miners
        .iter()
        .chain(&scores.zeroed)
        .map(|m| {
            let cmp = compared.clone().find(|c| c.hotkey == m.features.hotkey);
            audit_store::MinerScore {
                hotkey: m.features.hotkey.clone(),
                uid: Some(m.features.uid),
                coldkey: Some(m.features.coldkey.clone()),
                raw: m.features.raw.clone(),
                normalised: m.normalised.clone(),
                pre_score: m.pre_score,
                penalised: m.penalised,
                score: m.score,
                chain_share: cmp.map(|c| c.actual),
                delta: cmp.map(|c| c.delta),
                weight: None,
            }
        })
        .collect();
    audit_store::WeightsRun {
        run_id: 0,
        evaluated_at: scores.evaluated_at,
        created_at,
        profile_name: scores.profile_name.clone(),
        profile_version: scores.profile_version,
        snapshot_id,
        sum_abs_delta: comparison.sum_abs_delta,
        max_delta: comparison.max_delta,
        submission: None,
        miners,
    }
}

/// A cheap xorshift generator for tests' scrambled rows: the same
/// values every run from the same seed.
#[cfg(test)]
pub(crate) fn scrambler(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
