//! Step 5's comparison: computed shares against the incentive the chain
//! paid (spec §5).

use audit_store::Neuron;
use serde::Serialize;

use crate::score::MinerScore;

/// One miner in the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedMiner {
    /// The miner.
    pub hotkey: String,
    /// Its uid on the metagraph of the evaluation time; `None` when it is not there.
    pub uid: Option<u16>,
    /// Our final share (0 when we computed none).
    pub computed: f64,
    /// `incentive / sum(incentive)` on chain (0 when not paid).
    pub actual: f64,
    /// `|computed - actual|`: how far the chain's payout is from the rules.
    pub delta: f64,
    /// `delta` is above the profile's flag threshold.
    pub flagged: bool,
}

/// How the computed shares compare with the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Miners with both a computed share and an incentive, by delta.
    pub matched: Vec<ComparedMiner>,
    /// Computed a share, paid nothing.
    pub computed_unpaid: Vec<ComparedMiner>,
    /// Paid by the chain, no computed share.
    pub paid_not_computed: Vec<ComparedMiner>,
    /// Sum of |computed - actual| over every miner of the three lists.
    pub sum_abs_delta: f64,
    /// The largest single delta: one miner paid far off the rules shows here.
    pub max_delta: f64,
}

/// Compares final scores with the metagraph's incentives.
pub fn compare(scores: &[MinerScore], metagraph: &[Neuron], flag_above: f64) -> Comparison {
    let total: f64 = metagraph.iter().map(|n| f64::from(n.incentive)).sum();
    let actual = |n: &Neuron| {
        if total > 0.0 {
            f64::from(n.incentive) / total
        } else {
            0.0
        }
    };
    let row = |hotkey: &str, uid: Option<u16>, computed: f64, actual: f64| {
        let delta = (computed - actual).abs();
        ComparedMiner {
            hotkey: hotkey.to_string(),
            uid,
            computed,
            actual,
            delta,
            flagged: delta > flag_above,
        }
    };

    let mut matched = Vec::new();
    let mut computed_unpaid = Vec::new();
    for s in scores.iter().filter(|s| s.score > 0.0) {
        let neuron = metagraph.iter().find(|n| n.hotkey == s.features.hotkey);
        let paid = neuron.map(actual).unwrap_or(0.0);
        let r = row(&s.features.hotkey, neuron.map(|n| n.uid), s.score, paid);
        if paid > 0.0 {
            matched.push(r);
        } else {
            computed_unpaid.push(r);
        }
    }
    let mut paid_not_computed: Vec<ComparedMiner> = metagraph
        .iter()
        .filter(|n| n.incentive > 0)
        .filter(|n| {
            !scores
                .iter()
                .any(|s| s.score > 0.0 && s.features.hotkey == n.hotkey)
        })
        .map(|n| row(&n.hotkey, Some(n.uid), 0.0, actual(n)))
        .collect();

    let by_delta = |a: &ComparedMiner, b: &ComparedMiner| {
        b.delta
            .total_cmp(&a.delta)
            .then_with(|| a.hotkey.cmp(&b.hotkey))
    };
    matched.sort_by(by_delta);
    computed_unpaid.sort_by(by_delta);
    paid_not_computed.sort_by(by_delta);
    let all = || {
        matched
            .iter()
            .chain(&computed_unpaid)
            .chain(&paid_not_computed)
    };
    let sum_abs_delta = all().map(|m| m.delta).sum();
    let max_delta = all().map(|m| m.delta).fold(0.0, f64::max);
    Comparison {
        matched,
        computed_unpaid,
        paid_not_computed,
        sum_abs_delta,
        max_delta,
    }
}
