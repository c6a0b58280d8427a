//! The node's initial state as plain data, and how a devnet world becomes
//! one.

use crate::NodeError;

/// A neuron as the node starts with it: the same fields the client reads
/// back as a metagraph neuron.
pub type GenesisNeuron = subtensor::Neuron;

/// The node's initial state, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainGenesis {
    /// The subnet the node simulates; every other netuid reads as absent.
    pub netuid: u16,
    /// The registered neurons, by uid.
    pub neurons: Vec<GenesisNeuron>,
    /// `(hotkey SS58, block, sha256)`: committed at that block.
    pub commitments: Vec<(String, u32, [u8; 32])>,
    /// `WeightsSetRateLimit` of the subnet, in blocks.
    pub weights_rate_limit: u64,
    /// `CommitRevealWeightsEnabled` of the subnet.
    pub commit_reveal: bool,
    /// The best block at start; raised to the newest commitment's block.
    pub head: u32,
}

impl ChainGenesis {
    /// A world's chain: its metagraph, and one commitment of
    /// `sha256(report bytes)` per entry at the entry's block. The world's
    /// validator (`//Alice` in generated worlds) holds the validator permit.
    pub fn from_world(world: &devnet::World) -> Result<ChainGenesis, NodeError> {
        let commitments = world.commitments().map_err(NodeError::World)?;
        let head = commitments.iter().map(|(_, b, _)| *b).max().unwrap_or(0) + 10;
        Ok(ChainGenesis {
            netuid: world.meta.netuid,
            neurons: world
                .metagraph
                .iter()
                .map(|n| GenesisNeuron {
                    uid: n.uid,
                    hotkey: n.hotkey.clone(),
                    coldkey: n.coldkey.clone(),
                    incentive: n.incentive,
                    stake_rao: (n.stake * 1e9).round() as u64,
                    last_update: 0,
                    validator_permit: n.hotkey == world.meta.validator_hotkey,
                })
                .collect(),
            commitments,
            weights_rate_limit: 100,
            commit_reveal: false,
            head,
        })
    }
}
