//! The chain as a [`ChainSource`]: the subtensor client, on one subnet.

use audit_store::{MetagraphSnapshot, Neuron};
use subtensor::{ChainError, CommitmentAt, SubtensorClient};

use crate::source::{ChainSource, Commitment, SourceError};

/// The subtensor client bound to a subnet.
#[derive(Debug, Clone)]
pub struct SubtensorChain {
    /// The node connection (the archive node when one is configured).
    pub client: SubtensorClient,
    /// The subnet whose commitments and metagraph are read.
    pub netuid: u16,
}

/// A chain failure is transient (the node may answer next run), except a
/// hotkey the client cannot even encode, which no retry fixes.
fn source_error(e: ChainError) -> SourceError {
    match e {
        ChainError::Usage(_) => SourceError::refused(e),
        _ => SourceError::transient(e),
    }
}

impl ChainSource for SubtensorChain {
    async fn commitment(&self, hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        Ok(
            match self
                .client
                .commitment(self.netuid, hotkey, block)
                .await
                .map_err(source_error)?
            {
                CommitmentAt::Sha256 { sha256, block } => Commitment::Sha256 { sha256, block },
                CommitmentAt::None => Commitment::None,
                CommitmentAt::Pruned => Commitment::Pruned,
            },
        )
    }

    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        let block = self.client.current_block().await.map_err(source_error)?;
        let hash = self.client.block_hash(block).await.map_err(source_error)?;
        let neurons = self
            .client
            .metagraph(self.netuid, hash)
            .await
            .map_err(source_error)?;
        Ok(MetagraphSnapshot {
            snapshot_id: 0,
            netuid: self.netuid,
            block,
            taken_at: chrono::Utc::now().naive_utc(),
            neurons: neurons
                .into_iter()
                .map(|n| Neuron {
                    uid: n.uid,
                    hotkey: n.hotkey,
                    coldkey: n.coldkey,
                    incentive: n.incentive,
                    stake: n.stake_rao as f64 / 1e9,
                    last_update: n.last_update,
                    validator_permit: n.validator_permit,
                })
                .collect(),
        })
    }
}
