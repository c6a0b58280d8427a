//! Which drand round to encrypt to (docs/spec/commit-reveal.md, "Choosing
//! reveal_round"), for runtimes with the tempo-based epoch model (finney
//! up to about spec 423): the round published just after the reveal
//! epoch begins, so the chain holds the pulse when it reveals.
//!
//! ```text
//! epoch        = (block + netuid + 1) / (tempo + 1)
//! reveal_epoch = epoch + RevealPeriodEpochs
//! first_block  = reveal_epoch * (tempo + 1) - (netuid + 1)
//! target_block = first_block + 3
//! reveal_round = max(1, floor((now + (target_block - block) * block_time - genesis) / period))
//! ```

use std::time::Duration;

/// Blocks after the reveal epoch's first block at which the pulse is
/// aimed: a margin for the pulse to reach the chain (the Python SDK's
/// `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCK_OFFSET: u64 = 3;

/// Everything [`reveal_round`] depends on, read from the chain and the
/// clock at commit time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealInputs {
    /// The chain's current block.
    pub block: u64,
    /// The subnet.
    pub netuid: u16,
    /// `Tempo(netuid)`: blocks per epoch, minus one.
    pub tempo: u16,
    /// `RevealPeriodEpochs(netuid)`.
    pub reveal_period_epochs: u64,
    /// Time per block (12 s on finney).
    pub block_time: Duration,
    /// Wall-clock time since the Unix epoch.
    pub now: Duration,
    /// The beacon's genesis (Unix seconds).
    pub beacon_genesis: u64,
    /// The beacon's period (seconds).
    pub beacon_period: u64,
}

/// The round to encrypt to, with the steps that led to it so a user can
/// follow the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealPlan {
    /// The epoch of the commit block.
    pub epoch: u64,
    /// The epoch in which the chain reveals the commit.
    pub reveal_epoch: u64,
    /// The first block of the reveal epoch.
    pub first_block: u64,
    /// The block by which the pulse should be on chain.
    pub target_block: u64,
    /// The drand round to encrypt to.
    pub round: u64,
}

/// Why no round could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealError {
    /// A beacon with period 0 has no rounds after genesis.
    #[error("the beacon's period is 0 seconds: it has no rounds to aim at")]
    ZeroPeriod,
}

/// The spec's formula, in whole nanoseconds so no float rounding can move
/// the floor. Arithmetic saturates: chain values are untrusted.
pub fn reveal_round(inputs: &RevealInputs) -> Result<RevealPlan, RevealError> {
    if inputs.beacon_period == 0 {
        return Err(RevealError::ZeroPeriod);
    }
    let epoch_len = u64::from(inputs.tempo) + 1;
    let offset = u64::from(inputs.netuid) + 1;
    let epoch = inputs.block.saturating_add(offset) / epoch_len;
    let reveal_epoch = epoch.saturating_add(inputs.reveal_period_epochs);
    let first_block = reveal_epoch
        .saturating_mul(epoch_len)
        .saturating_sub(offset);
    let target_block = first_block.saturating_add(SECURITY_BLOCK_OFFSET);
    let wait = u128::from(target_block.saturating_sub(inputs.block))
        .saturating_mul(inputs.block_time.as_nanos());
    let target = inputs.now.as_nanos().saturating_add(wait);
    let genesis = u128::from(inputs.beacon_genesis) * NANOS;
    let period = u128::from(inputs.beacon_period) * NANOS;
    let round = target.saturating_sub(genesis) / period;
    Ok(RevealPlan {
        epoch,
        reveal_epoch,
        first_block,
        target_block,
        round: u64::try_from(round).unwrap_or(u64::MAX).max(1),
    })
}

const NANOS: u128 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn finney(block: u64, now: u64) -> RevealInputs {
        RevealInputs {
            block,
            netuid: 64,
            tempo: 360,
            reveal_period_epochs: 1,
            block_time: Duration::from_secs(12),
            now: Duration::from_secs(now),
            beacon_genesis: 1_692_803_367,
            beacon_period: 3,
        }
    }

    #[test]
    fn a_hand_worked_finney_commit() {
        // epoch = (1000 + 65) / 361 = 2; reveal epoch 3;
        // first block = 3 * 361 - 65 = 1018; target 1021, 21 blocks = 252 s;
        // (1_700_000_000 + 252 - 1_692_803_367) / 3 = 7_196_885 / 3 = 2_398_961.67.
        let plan = reveal_round(&finney(1000, 1_700_000_000)).unwrap();
        assert_eq!(
            plan,
            RevealPlan {
                epoch: 2,
                reveal_epoch: 3,
                first_block: 1018,
                target_block: 1021,
                round: 2_398_961,
            }
        );
    }

    #[test]
    fn fractions_of_a_second_count() {
        // 250 ms blocks (testnet) and a clock between seconds: the target
        // is 0.9 + 21 * 0.25 = 6.15 s after genesis, round floor(6.15 / 3) = 2
        // (dropping the sub-second parts gives 5.25 s or 0.9 s: round 1).
        let inputs = RevealInputs {
            block_time: Duration::from_millis(250),
            now: Duration::from_millis(1_692_803_367_000 + 900),
            ..finney(1000, 0)
        };
        assert_eq!(reveal_round(&inputs).unwrap().round, 2);
    }

    #[test]
    fn a_longer_reveal_period_aims_further() {
        let one = reveal_round(&finney(1000, 1_700_000_000)).unwrap();
        let three = reveal_round(&RevealInputs {
            reveal_period_epochs: 3,
            ..finney(1000, 1_700_000_000)
        })
        .unwrap();
        assert_eq!(three.first_block, one.first_block + 2 * 361);
        // Two more epochs of 361 blocks of 12 s, in 3 s rounds.
        assert_eq!(three.round, one.round + 2 * 361 * 4);
    }

    #[test]
    fn a_target_in_the_past_aims_at_now() {
        // Reveal period 0 and the block past the target: wait nothing.
        let plan = reveal_round(&RevealInputs {
            reveal_period_epochs: 0,
            ..finney(1030, 1_692_803_367 + 30)
        })
        .unwrap();
        assert_eq!(plan.target_block, 1021);
        assert_eq!(plan.round, 10);
    }

    #[test]
    fn before_genesis_the_round_is_1() {
        assert_eq!(reveal_round(&finney(0, 0)).unwrap().round, 1);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let wild = RevealInputs {
            block: u64::MAX,
            netuid: u16::MAX,
            tempo: u16::MAX,
            reveal_period_epochs: u64::MAX,
            block_time: Duration::MAX,
            now: Duration::MAX,
            beacon_genesis: 0,
            beacon_period: 1,
        };
        assert_eq!(reveal_round(&wild).unwrap().round, u64::MAX);
        assert_eq!(
            reveal_round(&RevealInputs {
                beacon_period: 0,
                ..finney(1, 1)
            }),
            Err(RevealError::ZeroPeriod)
        );
    }
}
