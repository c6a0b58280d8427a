//! Steps 3 to 5 of the rules on the per-miner table: normalisation, the
//! multi-uid penalty, and the final shares. A few hundred rows; plain Rust
//! keeps every guard explicit.

use audit_store::NormalisedFeatures;
use serde::Serialize;

use crate::features::MinerFeatures;
use crate::profile::ScoringProfile;
use crate::IncentivesError;

/// One miner's normalised features and scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerScore {
    /// The raw features the scores come from.
    #[serde(flatten)]
    pub features: MinerFeatures,
    /// The features as shares.
    #[serde(flatten)]
    pub normalised: NormalisedFeatures,
    /// Sum of normalised features times their weights.
    pub pre_score: f64,
    /// Zeroed because an earlier hotkey of the same coldkey scored higher.
    pub penalised: bool,
    /// Final share; the shares of all miners sum to 1.
    pub score: f64,
}

/// Figures of the unique_chute_count normalisation, for `--explain`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UniqueScale {
    /// The largest truncated unique_chute_count.
    pub highest_unique: f64,
    /// Median of the non-zero values (0 when there are none).
    pub median: f64,
}

/// The share of each value in the total; a total of 0 counts as 1.
fn shares(values: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let total: f64 = values.clone().sum();
    let total = if total == 0.0 { 1.0 } else { total };
    values.map(|v| v / total).collect()
}

/// The median as the spec defines it: the mean of the two middle values
/// for an even count, 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Normalises the unique_chute_count feature (spec §3).
fn unique_shares(values: &[f64], profile: &ScoringProfile) -> (Vec<f64>, UniqueScale) {
    let non_zero: Vec<f64> = values.iter().copied().filter(|v| *v != 0.0).collect();
    let median = median(&non_zero);
    let highest = values.iter().copied().fold(0.0, f64::max);
    let scale = UniqueScale {
        highest_unique: highest,
        median,
    };
    if highest == 0.0 {
        return (vec![0.0; values.len()], scale);
    }
    let powered: Vec<f64> = values
        .iter()
        .map(|v| {
            let exponent = if *v >= median {
                profile.unique_exponent_above_median
            } else {
                profile.unique_exponent_below_median
            };
            (v / highest).powf(exponent)
        })
        .collect();
    let sum: f64 = powered.iter().sum();
    if sum == 0.0 {
        return (vec![0.0; values.len()], scale);
    }
    (powered.iter().map(|p| p / sum).collect(), scale)
}

/// Normalises, penalises and shares out. Miners come back ordered by final
/// score (highest first), then hotkey; those that end with 0 are dropped.
pub fn finalise(
    miners: Vec<MinerFeatures>,
    profile: &ScoringProfile,
) -> (Vec<MinerScore>, UniqueScale) {
    let w = &profile.feature_weights;
    let compute = shares(miners.iter().map(|m| m.raw.compute_units));
    let invocations = shares(miners.iter().map(|m| m.raw.invocation_count));
    let bounties = shares(miners.iter().map(|m| m.raw.bounty_count));
    let uniques: Vec<f64> = miners.iter().map(|m| m.raw.unique_chute_count).collect();
    let (unique, scale) = unique_shares(&uniques, profile);

    let mut scored: Vec<MinerScore> = miners
        .into_iter()
        .enumerate()
        .map(|(i, features)| {
            let pre_score = compute[i] * w.compute_units
                + invocations[i] * w.invocation_count
                + unique[i] * w.unique_chute_count
                + bounties[i] * w.bounty_count;
            MinerScore {
                features,
                normalised: NormalisedFeatures {
                    norm_compute_units: compute[i],
                    norm_invocation_count: invocations[i],
                    norm_unique_chute_count: unique[i],
                    norm_bounty_count: bounties[i],
                },
                pre_score,
                penalised: false,
                score: pre_score,
            }
        })
        .collect();

    // Multi-uid penalty: highest pre-score first, ties by hotkey.
    scored.sort_by(|a, b| {
        b.pre_score
            .total_cmp(&a.pre_score)
            .then_with(|| a.features.hotkey.cmp(&b.features.hotkey))
    });
    if profile.multi_uid_penalty {
        let mut seen = std::collections::HashSet::new();
        for m in &mut scored {
            if !seen.insert(m.features.coldkey.clone()) {
                m.penalised = true;
                m.score = 0.0;
            }
        }
    }

    let total: f64 = scored.iter().map(|m| m.score).sum();
    for m in &mut scored {
        m.score = if total > 0.0 { m.score / total } else { 0.0 };
    }
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.features.hotkey.cmp(&b.features.hotkey))
    });
    (scored, scale)
}

/// Defence in depth: every share and normalised feature must be a number
/// in [0, 1], and the pre-score too. The ingest and the row guards keep
/// NaN, infinities and negatives out; should any get through (a lake this
/// version did not write, an overflowing sum), the run stops here rather
/// than hand out weights computed from them.
pub fn check_shares(miners: &[MinerScore]) -> Result<(), IncentivesError> {
    for m in miners {
        for (what, value) in [
            ("norm_compute_units", m.normalised.norm_compute_units),
            ("norm_invocation_count", m.normalised.norm_invocation_count),
            (
                "norm_unique_chute_count",
                m.normalised.norm_unique_chute_count,
            ),
            ("norm_bounty_count", m.normalised.norm_bounty_count),
            ("pre_score", m.pre_score),
            ("score", m.score),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(IncentivesError::ImplausibleScore {
                    hotkey: m.features.hotkey.clone(),
                    what,
                    value,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_store::RawFeatures;

    fn features(hotkey: &str, compute_units: f64) -> MinerFeatures {
        MinerFeatures {
            hotkey: hotkey.into(),
            uid: 1,
            coldkey: hotkey.into(),
            raw: RawFeatures {
                invocation_count: 1.0,
                compute_units,
                ..RawFeatures::default()
            },
        }
    }

    #[test]
    fn a_share_that_is_nan_negative_or_above_one_stops_the_run() {
        let profile = ScoringProfile::default();
        for hostile in [f64::NAN, f64::INFINITY, -1_000_000.0] {
            let (scored, _) = finalise(vec![features("A", 10.0), features("B", hostile)], &profile);
            let err = check_shares(&scored).unwrap_err();
            assert!(
                matches!(err, IncentivesError::ImplausibleScore { .. }),
                "{hostile}: {err}"
            );
        }
        let (scored, _) = finalise(vec![features("A", 10.0), features("B", 30.0)], &profile);
        check_shares(&scored).unwrap();
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn zero_totals_do_not_divide_by_zero() {
        assert_eq!(shares([0.0, 0.0].into_iter()), vec![0.0, 0.0]);
        let (u, scale) = unique_shares(&[0.0, 0.0], &ScoringProfile::default());
        assert_eq!(u, vec![0.0, 0.0]);
        assert_eq!(scale.highest_unique, 0.0);
    }

    #[test]
    fn the_unique_median_splits_the_exponents() {
        // Non-zero values 2, 4, 8: median 4. 2 is below (^2.2), 4 and 8 at
        // or above (^1.3); the zero stays zero.
        let (u, scale) = unique_shares(&[2.0, 4.0, 8.0, 0.0], &ScoringProfile::default());
        assert_eq!(scale.median, 4.0);
        let raw = [0.25f64.powf(2.2), 0.5f64.powf(1.3), 1.0, 0.0];
        let sum: f64 = raw.iter().sum();
        for (got, want) in u.iter().zip(raw.iter().map(|r| r / sum)) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
    }
}
