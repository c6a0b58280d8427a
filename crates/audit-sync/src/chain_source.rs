//! The chain as a [`ChainSource`]: the subtensor client, on one subnet.

use audit_store::{MetagraphSnapshot, Neuron};
use subtensor::{ChainError, ClientOptions, SubtensorClient};

use crate::source::{ChainSource, Commitment, SourceError, SourceErrorKind};

/// The subtensor client bound to a subnet.
#[derive(Debug, Clone)]
pub struct SubtensorChain {
    /// The node connection (the archive node when one is configured).
    pub client: SubtensorClient,
    /// The subnet whose commitments and metagraph are read.
    pub netuid: u16,
}

/// The chain could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("connecting to the chain at {url}")]
pub struct ConnectError {
    /// The node's URL.
    pub url: String,
    /// What the client said.
    #[source]
    pub source: ChainError,
}

impl SubtensorChain {
    /// Connects to the node at `url` and binds it to `netuid`.
    pub async fn connect(
        url: &str,
        options: ClientOptions,
        netuid: u16,
    ) -> Result<Self, ConnectError> {
        let client = SubtensorClient::connect(url, options)
            .await
            .map_err(|source| ConnectError {
                url: url.to_string(),
                source,
            })?;
        Ok(SubtensorChain { client, netuid })
    }
}

/// A chain failure is transient (the node may answer next run), except a
/// hotkey the client cannot even encode, which no retry fixes, and a read
/// that did not prove, which is an integrity violation.
fn source_error(e: ChainError) -> SourceError {
    match e {
        ChainError::Usage(_) => SourceError::refused(e),
        ChainError::Integrity { .. } => SourceError::new(SourceErrorKind::Integrity, e),
        _ => SourceError::transient(e),
    }
}

impl ChainSource for SubtensorChain {
    fn proves_reads(&self) -> bool {
        self.client.options().proofs
    }

    async fn commitment(&self, hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        self.client
            .commitment(self.netuid, hotkey, block)
            .await
            .map_err(source_error)
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
