//! The chain's side of timelocked weights (docs/spec/commit-reveal.md): the
//! facts a commit is built from, the queue it waits in, and the beacon
//! pulses the chain decrypts it with.
//!
//! Only reads live here; the commit itself is signed and sent in
//! [`crate::weights`]. Values the chain stores as `ValueQuery` read as
//! their runtime defaults when absent ([`runtime`] states them, checked
//! against finney's metadata).

use parity_scale_codec::{Decode, Encode};

use crate::proof::BlockHash;
use crate::rpc::SubtensorClient;
use crate::runtime;
use crate::storage::part;
use crate::ChainError;

/// `Tempo`'s default on finney: blocks per epoch, less one.
pub const DEFAULT_TEMPO: u16 = 360;
/// `RevealPeriodEpochs`' default.
pub const DEFAULT_REVEAL_PERIOD_EPOCHS: u64 = 1;
/// `CommitRevealWeightsVersion`'s default.
pub const DEFAULT_COMMIT_REVEAL_VERSION: u16 = 4;

/// Everything the weight setter reads from the chain before it decides
/// how, and whether, to send: one consistent look at the best block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSettingFacts {
    /// The best block the facts were read at.
    pub block: u32,
    /// Whether weights must be committed timelocked.
    pub commit_reveal: bool,
    /// Blocks between two weight settings (0: none).
    pub rate_limit: u64,
    /// The least `version_key` the chain accepts.
    pub weights_version_key: u64,
    /// Blocks per epoch, less one.
    pub tempo: u16,
    /// Epochs between a commit and its reveal.
    pub reveal_period_epochs: u64,
    /// The `commit_reveal_version` a commit must carry.
    pub commit_reveal_version: u16,
    /// The newest drand round whose pulse is on chain.
    pub last_stored_round: u64,
}

/// A commit waiting in `TimelockedWeightCommits`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TimelockedCommit {
    /// The committing hotkey's public key.
    pub who: [u8; 32],
    /// The block the commit was included in.
    pub commit_block: u64,
    /// The ciphertext, as sent.
    pub commit: Vec<u8>,
    /// The drand round it is encrypted to.
    pub reveal_round: u64,
}

/// A beacon pulse as `Drand.Pulses` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Pulse {
    /// The drand round.
    pub round: u64,
    /// sha256 of the signature.
    pub randomness: Vec<u8>,
    /// The round's BLS signature (48 bytes, G1 compressed).
    pub signature: Vec<u8>,
}

impl SubtensorClient {
    /// Reads what deciding and building a weights call needs, at the best
    /// block.
    pub async fn weight_setting_facts(
        &self,
        netuid: u16,
    ) -> Result<WeightSettingFacts, ChainError> {
        let n = [part(netuid)];
        Ok(WeightSettingFacts {
            block: self.current_block().await?,
            commit_reveal: self.commit_reveal_enabled(netuid).await?,
            rate_limit: self.weights_rate_limit(netuid).await?,
            weights_version_key: self
                .storage_value::<u64>(&runtime::WEIGHTS_VERSION_KEY, &n, None)
                .await?
                .unwrap_or(0),
            tempo: self
                .storage_value::<u16>(&runtime::TEMPO, &n, None)
                .await?
                .unwrap_or(DEFAULT_TEMPO),
            reveal_period_epochs: self
                .storage_value::<u64>(&runtime::REVEAL_PERIOD_EPOCHS, &n, None)
                .await?
                .unwrap_or(DEFAULT_REVEAL_PERIOD_EPOCHS),
            commit_reveal_version: self
                .storage_value::<u16>(&runtime::COMMIT_REVEAL_WEIGHTS_VERSION, &[], None)
                .await?
                .unwrap_or(DEFAULT_COMMIT_REVEAL_VERSION),
            last_stored_round: self.last_stored_round().await?,
        })
    }

    /// The newest drand round whose pulse the chain holds.
    pub async fn last_stored_round(&self) -> Result<u64, ChainError> {
        Ok(self
            .storage_value::<u64>(&runtime::DRAND_LAST_STORED_ROUND, &[], None)
            .await?
            .unwrap_or(0))
    }

    /// The pulse of `round`, when the chain holds it.
    pub async fn pulse(&self, round: u64) -> Result<Option<Pulse>, ChainError> {
        self.storage_value::<Pulse>(&runtime::DRAND_PULSES, &[part(round)], None)
            .await
    }

    /// The commits waiting in `netuid`'s queue of `epoch`.
    pub async fn timelocked_commits(
        &self,
        netuid: u16,
        epoch: u64,
    ) -> Result<Vec<TimelockedCommit>, ChainError> {
        self.timelocked_commits_at(netuid, epoch, None).await
    }

    /// The commits waiting in `netuid`'s queue of `epoch` as of block `at`
    /// (the head when `None`).
    pub async fn timelocked_commits_at(
        &self,
        netuid: u16,
        epoch: u64,
        at: Option<BlockHash>,
    ) -> Result<Vec<TimelockedCommit>, ChainError> {
        Ok(self
            .storage_value::<Vec<TimelockedCommit>>(
                &runtime::TIMELOCKED_WEIGHT_COMMITS,
                &[part(netuid), part(epoch)],
                at,
            )
            .await?
            .unwrap_or_default())
    }
}

/// The epoch `block` falls in on `netuid` (docs/spec/commit-reveal.md): epochs
/// are offset per subnet so they do not all end on one block.
pub fn epoch_of(block: u64, netuid: u16, tempo: u16) -> u64 {
    (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_offset_by_netuid() {
        // tempo 360: an epoch is 361 blocks; subnet 64 shifts by 65.
        assert_eq!(epoch_of(0, 64, 360), 0);
        assert_eq!(epoch_of(295, 64, 360), 0);
        assert_eq!(epoch_of(296, 64, 360), 1);
        assert_eq!(epoch_of(296 + 361, 64, 360), 2);
        assert_eq!(epoch_of(10, 1, 9), 1);
    }

    #[test]
    fn a_queued_commit_decodes_as_the_chain_stores_it() {
        let commit = TimelockedCommit {
            who: [7; 32],
            commit_block: 1200,
            commit: vec![1, 2, 3],
            reveal_round: 1000,
        };
        let bytes = vec![commit.clone()].encode();
        // account ‖ u64 ‖ compact len ‖ bytes ‖ u64, inside a Vec.
        assert_eq!(bytes.len(), 1 + 32 + 8 + 1 + 3 + 8);
        let back: Vec<TimelockedCommit> = Decode::decode(&mut &bytes[..]).unwrap();
        assert_eq!(back, vec![commit]);
    }
}
