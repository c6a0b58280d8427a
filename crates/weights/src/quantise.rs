//! Scores to the weights the chain receives: hotkeys to uids through the
//! metagraph, then the one quantisation of the workspace
//! (docs/spec/incentives.md §6): zeros dropped, the largest weight 65535,
//! halves to even, uids ascending.

use std::collections::HashMap;
use std::fmt;

/// A neuron's position on the subnet, as the chain numbers it.
pub type Uid = u16;

/// The largest weight: what the best miner gets.
pub const MAX_WEIGHT: u16 = u16::MAX;

/// Scores keyed by uid, and the hotkeys the metagraph did not know.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UidScores {
    /// `(uid, score)` for every scored hotkey on the metagraph.
    pub scores: Vec<(Uid, f64)>,
    /// Scored hotkeys not on the metagraph (deregistered since scoring):
    /// skipped, named so the user can see who lost out.
    pub skipped: Vec<String>,
}

/// Maps scores by hotkey to uids through the metagraph read at send
/// time (`registered`: each neuron's hotkey and uid); uids move when
/// miners deregister, so a stale map would weight the wrong neuron.
pub fn scores_by_uid<'a, 'b>(
    scores: impl IntoIterator<Item = (&'a str, f64)>,
    registered: impl IntoIterator<Item = (&'b str, Uid)>,
) -> UidScores {
    let uid_of: HashMap<&str, Uid> = registered.into_iter().collect();
    let mut out = UidScores::default();
    for (hotkey, score) in scores {
        match uid_of.get(hotkey) {
            Some(uid) => out.scores.push((*uid, score)),
            None => out.skipped.push(hotkey.to_string()),
        }
    }
    out
}

/// Scores that did not become weights, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    /// NaN or infinite: a scoring fault, never sent.
    pub not_finite: usize,
    /// Below zero: the chain has no negative weights.
    pub negative: usize,
    /// Zero, or so small next to the largest that it rounds to 0.
    pub zero: usize,
}

impl Dropped {
    fn total(&self) -> usize {
        self.not_finite + self.negative + self.zero
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.zero, "zero"),
            (self.negative, "negative"),
            (self.not_finite, "not a finite number"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            f.write_str("none dropped")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// The quantised weights: non-zero, largest 65535, uids strictly
/// ascending. Only [`quantise`] makes one, so these always hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightVector {
    uids: Vec<Uid>,
    values: Vec<u16>,
    dropped: Dropped,
}

impl WeightVector {
    /// The uids, ascending (the call's `dests`).
    pub fn uids(&self) -> &[Uid] {
        &self.uids
    }

    /// The weights, paired with [`Self::uids`] by position.
    pub fn values(&self) -> &[u16] {
        &self.values
    }

    /// `(uid, weight)` pairs, ascending by uid.
    pub fn pairs(&self) -> impl Iterator<Item = (Uid, u16)> + '_ {
        self.uids.iter().copied().zip(self.values.iter().copied())
    }

    /// How many uids get a weight (never 0).
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    /// Always false: an empty vector is refused as [`QuantiseError::NothingToSend`].
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// What was left out and why, to tell the user.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }
}

/// Why scores give nothing to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantiseError {
    /// No score is positive: sending would zero every miner, so nothing
    /// is sent.
    #[error("nothing to send: {}", nothing_reason(*.scores, .dropped))]
    NothingToSend {
        /// Scores given.
        scores: usize,
        /// Why each was left out.
        dropped: Dropped,
    },
    /// Two scores for one uid: the mapping from hotkeys went wrong.
    #[error("uid {0} has more than one score")]
    DuplicateUid(Uid),
}

fn nothing_reason(scores: usize, dropped: &Dropped) -> String {
    if scores == 0 {
        "no miner has a score".to_string()
    } else if dropped.zero == scores {
        format!("all {scores} scores are zero")
    } else {
        format!("none of the {scores} scores is positive ({dropped})")
    }
}

/// The one quantisation of the workspace: drops scores that are zero,
/// negative or not finite (counted), scales the rest so the largest is
/// 65535, rounds halves to even, drops what rounds to 0, and orders by
/// uid.
///
/// The scale is computed as `(w / max) * 65535`, the order of operations
/// of the Python SDK's `convert_weights_and_uids_for_emit`, so that ties
/// round as they do upstream.
pub fn quantise(scores: &[(Uid, f64)]) -> Result<WeightVector, QuantiseError> {
    let mut sorted = scores.to_vec();
    sorted.sort_by_key(|(uid, _)| *uid);
    if let Some(pair) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(QuantiseError::DuplicateUid(pair[0].0));
    }
    let mut dropped = Dropped::default();
    let positive: Vec<(Uid, f64)> = sorted
        .into_iter()
        .filter(|(_, w)| {
            if !w.is_finite() {
                dropped.not_finite += 1;
            } else if *w < 0.0 {
                dropped.negative += 1;
            } else if *w == 0.0 {
                dropped.zero += 1;
            }
            w.is_finite() && *w > 0.0
        })
        .collect();
    let max = positive.iter().map(|(_, w)| *w).fold(0.0, f64::max);
    if positive.is_empty() || max <= 0.0 {
        return Err(QuantiseError::NothingToSend {
            scores: scores.len(),
            dropped,
        });
    }
    let mut out = WeightVector {
        uids: Vec::with_capacity(positive.len()),
        values: Vec::with_capacity(positive.len()),
        dropped,
    };
    for (uid, w) in positive {
        let scaled = ((w / max) * f64::from(MAX_WEIGHT)).round_ties_even();
        // 0 < w <= max, so scaled is in [0, 65535]; the cast is exact.
        let value = scaled.clamp(0.0, f64::from(MAX_WEIGHT)) as u16;
        if value == 0 {
            out.dropped.zero += 1;
        } else {
            out.uids.push(uid);
            out.values.push(value);
        }
    }
    debug_assert_eq!(out.dropped.total() + out.len(), scores.len());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_becomes_65535_and_uids_ascend() {
        let w = quantise(&[(7, 0.25), (3, 1.0), (300, 0.5)]).unwrap();
        assert_eq!(w.uids(), &[3, 7, 300]);
        // 0.25 * 65535 = 16383.75 → 16384; 0.5 * 65535 = 32767.5 → even 32768.
        assert_eq!(w.values(), &[65535, 16384, 32768]);
        assert_eq!(w.dropped(), Dropped::default());
    }

    #[test]
    fn halves_round_to_even() {
        // 1/65535 * 65535 * 0.5 → 0.5 → 0 (dropped); 1.5 → 2; 2.5 → 2.
        let max = 65535.0;
        let w = quantise(&[(0, max), (1, 0.5), (2, 1.5), (3, 2.5), (4, 3.5)]).unwrap();
        assert_eq!(
            w.pairs().collect::<Vec<_>>(),
            vec![(0, 65535), (2, 2), (3, 2), (4, 4)]
        );
        assert_eq!(w.dropped().zero, 1);
    }

    #[test]
    fn ties_get_equal_weights() {
        let w = quantise(&[(9, 0.2), (1, 0.4), (5, 0.4), (2, 0.2)]).unwrap();
        assert_eq!(
            w.pairs().collect::<Vec<_>>(),
            vec![(1, 65535), (2, 32768), (5, 65535), (9, 32768)]
        );
    }

    #[test]
    fn a_single_miner_gets_everything() {
        let w = quantise(&[(42, 1e-300)]).unwrap();
        assert_eq!(w.pairs().collect::<Vec<_>>(), vec![(42, 65535)]);
    }

    #[test]
    fn all_zero_sends_nothing_and_says_why() {
        let err = quantise(&[(1, 0.0), (2, -0.0)]).unwrap_err();
        assert_eq!(err.to_string(), "nothing to send: all 2 scores are zero");
        let err = quantise(&[]).unwrap_err();
        assert_eq!(err.to_string(), "nothing to send: no miner has a score");
        let err = quantise(&[(1, 0.0), (2, f64::NAN), (3, -1.0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing to send: none of the 3 scores is positive (1 zero, 1 negative, 1 not a finite number)"
        );
    }

    #[test]
    fn non_finite_and_negative_scores_are_dropped_and_counted() {
        let w = quantise(&[
            (1, f64::NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (4, -0.5),
            (5, 0.5),
            (6, 0.0),
        ])
        .unwrap();
        assert_eq!(w.pairs().collect::<Vec<_>>(), vec![(5, 65535)]);
        assert_eq!(
            w.dropped(),
            Dropped {
                not_finite: 3,
                negative: 1,
                zero: 1
            }
        );
    }

    #[test]
    fn uids_above_255_and_256_plus_miners() {
        let scores: Vec<(Uid, f64)> = (0..1024u16)
            .rev()
            .map(|u| (u, f64::from(u) + 1.0))
            .collect();
        let w = quantise(&scores).unwrap();
        assert_eq!(w.len(), 1024);
        assert!(w.uids().windows(2).all(|p| p[0] < p[1]));
        assert_eq!(w.pairs().last(), Some((1023, 65535)));
        assert_eq!(w.pairs().nth(511), Some((511, 32768))); // 512/1024 · 65535 = 32767.5
        assert_eq!(w.pairs().next(), Some((0, 64))); // 65535/1024 = 63.99
    }

    #[test]
    fn a_uid_scored_twice_is_refused() {
        assert_eq!(
            quantise(&[(4, 1.0), (2, 1.0), (4, 0.5)]),
            Err(QuantiseError::DuplicateUid(4))
        );
    }

    fn neuron(uid: Uid, hotkey: &str) -> audit_model::Neuron {
        audit_model::Neuron {
            uid,
            hotkey: hotkey.to_string(),
            coldkey: format!("cold-{hotkey}"),
            incentive: 0,
            stake: 0.0,
            last_update: 0,
            validator_permit: false,
        }
    }

    #[test]
    fn hotkeys_map_through_the_metagraph_and_strangers_are_skipped() {
        let neurons = [neuron(0, "a"), neuron(300, "b")];
        let registered = neurons.iter().map(|n| (n.hotkey.as_str(), n.uid));
        let mapped = scores_by_uid([("b", 0.7), ("gone", 0.2), ("a", 0.1)], registered);
        assert_eq!(mapped.scores, vec![(300, 0.7), (0, 0.1)]);
        assert_eq!(mapped.skipped, vec!["gone".to_string()]);
    }
}
