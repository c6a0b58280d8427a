//! A miner's scoring features, declared once: the scores compute them
//! (`incentives`), the catalog keeps them with each weights run, and the
//! report explains them, all through these two types.

use serde::{Deserialize, Serialize};

/// A miner's raw features over the window, before normalisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawFeatures {
    /// Successful non-private invocations, plus whole private seconds.
    pub invocation_count: f64,
    /// Per-invocation compute units, plus private-instance compute.
    pub compute_units: f64,
    /// Non-private invocations with a bounty, plus private instances.
    pub bounty_count: f64,
    /// GPU-weighted, time-averaged distinct chutes, truncated.
    pub unique_chute_count: f64,
    /// Billed private instances in the window (in `bounty_count`).
    pub private_instances: u64,
    /// Their billed seconds (whole ones in `invocation_count`).
    pub private_seconds: f64,
    /// Their seconds times multiplier (in `compute_units`).
    pub private_compute_units: f64,
}

/// The features as shares of the miners' totals (unique chutes after the
/// median exponents), which the profile's weights sum into a pre-score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NormalisedFeatures {
    /// compute_units as a share of the total.
    pub norm_compute_units: f64,
    /// invocation_count as a share of the total.
    pub norm_invocation_count: f64,
    /// unique_chute_count after the median exponents, as a share.
    pub norm_unique_chute_count: f64,
    /// bounty_count as a share of the total.
    pub norm_bounty_count: f64,
}
