//! The scoring profile: every constant of the rules in one named,
//! versioned value, so an upstream change is a configuration edit and each
//! weights run records which rules produced it. The defaults are the rules
//! of docs/spec/incentives.md.

use serde::{Deserialize, Serialize};

/// The longest scoring window a profile may ask for, in days.
pub const MAX_WINDOW_DAYS: u32 = 366;

/// Feature weights of the score (spec §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureWeights {
    /// Weight of the compute-units share.
    pub compute_units: f64,
    /// Weight of the invocation-count share.
    pub invocation_count: f64,
    /// Weight of the unique-chute share.
    pub unique_chute_count: f64,
    /// Weight of the bounty-count share.
    pub bounty_count: f64,
}

/// Every constant of the scoring rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringProfile {
    /// Named in every weights run, so a run says which rules made it.
    pub name: String,
    /// Bumped with every change of a constant.
    pub version: u32,
    /// Days before the evaluation time that feed the score.
    pub window_days: u32,
    /// How the four features add up to the pre-score.
    pub feature_weights: FeatureWeights,
    /// Exponent for unique_chute_count at or above the median.
    pub unique_exponent_above_median: f64,
    /// Exponent below the median.
    pub unique_exponent_below_median: f64,
    /// Always treated as public, whatever its metrics say.
    pub legacy_public_chute_id: String,
    /// Deletion reasons that mark a billed private instance.
    pub private_deletion_reasons: Vec<String>,
    /// A deletion reason containing this also counts.
    pub private_deletion_reason_contains: String,
    /// Zero every later hotkey of a coldkey (multi-uid penalty).
    pub multi_uid_penalty: bool,
    /// `version_key` of the set_weights extrinsic.
    pub version_key: u64,
    /// Deltas against the chain above this are flagged.
    pub delta_flag: f64,
}

impl Default for ScoringProfile {
    fn default() -> Self {
        ScoringProfile {
            name: "chutes-default".into(),
            version: 1,
            window_days: 7,
            feature_weights: FeatureWeights {
                compute_units: 0.52,
                invocation_count: 0.20,
                unique_chute_count: 0.20,
                bounty_count: 0.08,
            },
            unique_exponent_above_median: 1.3,
            unique_exponent_below_median: 2.2,
            legacy_public_chute_id: "561e4875-254d-588f-a36f-57c9cdef8961".into(),
            private_deletion_reasons: vec![
                "job has been terminated due to insufficient user balance".into(),
                "user-defined/private chute instance has not been used since shutdown_after_seconds"
                    .into(),
                "user has zero/negative balance (private chute)".into(),
            ],
            private_deletion_reason_contains: "has an old version".into(),
            multi_uid_penalty: true,
            version_key: 69420,
            delta_flag: 0.03,
        }
    }
}

impl ScoringProfile {
    /// Checks the values; the error names the key under `scoring.`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let w = &self.feature_weights;
        for (key, value) in [
            ("feature_weights.compute_units", w.compute_units),
            ("feature_weights.invocation_count", w.invocation_count),
            ("feature_weights.unique_chute_count", w.unique_chute_count),
            ("feature_weights.bounty_count", w.bounty_count),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err((key.into(), format!("{value} must lie in [0, 1]")));
            }
        }
        // A window beyond a year is no scoring rule and, near u32::MAX
        // days, overflows the date arithmetic.
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            return Err((
                "window_days".into(),
                format!(
                    "{} is outside the range 1..={MAX_WINDOW_DAYS}",
                    self.window_days
                ),
            ));
        }
        if !(self.delta_flag.is_finite() && (0.0..=1.0).contains(&self.delta_flag)) {
            return Err((
                "delta_flag".into(),
                format!("{} is outside the range 0..=1", self.delta_flag),
            ));
        }
        for (key, value) in [
            (
                "unique_exponent_above_median",
                self.unique_exponent_above_median,
            ),
            (
                "unique_exponent_below_median",
                self.unique_exponent_below_median,
            ),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err((key.into(), format!("{value} must be a positive number")));
            }
        }
        Ok(())
    }
}
