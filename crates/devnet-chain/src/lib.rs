//! The devnet's simulated subtensor node: Substrate JSON-RPC over
//! WebSocket on loopback, answering what the auditor reads from the chain
//! (docs/spec/subtensor.md) from plain data ([`ChainGenesis`]): the metagraph,
//! through `NeuronInfoRuntimeApi_get_neurons_lite` and the storage items,
//! and one commitment per audit entry at the entry's block.
//!
//! The state is versioned by block: a read at block N answers the same
//! forever. Each block's header carries the state root of a real
//! Substrate trie over that state, and the block hash is the blake2-256
//! of the SCALE-encoded header, so a client proves what it reads
//! (`subtensor::proof`); the node keeps no chain of its history, so a
//! header's parent hash names its parent by number only. A query at an
//! old block's hash sees the state as of that block: `CommitmentOf` keeps only an account's
//! latest commitment, so reading at the entry's block is what proves the
//! report. [`ChainNode::prune_before`] makes the node answer as a pruned
//! (non-archive) node does for older state; [`ChainNode::withhold`] drops
//! a commitment (a fault switch); [`ChainNode::restart`] drops every
//! connection and serves the same state again on the same port. Fault
//! switches for sending: [`ChainNode::stall_inclusion`] (ready, never in
//! a block), [`ChainNode::fake_inclusion`] (a block named that does not
//! hold it), [`ChainNode::forge_inclusion`] (a body and events that claim
//! it, state untouched), [`ChainNode::garble_storage`] (bytes that do not
//! decode). [`ChainNode::block_per_request`] produces a block before each
//! answer: a chain that moves between any two reads of its head;
//! [`ChainNode::record_reads`] lists the block each state query was
//! answered at, so a test sees whether one answer's reads shared one.
//!
//! Storage keys and values are built with the `subtensor` crate's runtime
//! facts, so client and node agree by construction, and both are checked
//! against finney by its conformance test.
//!
//! # Example
//!
//! A node on loopback from plain data, read with the auditor's own client:
//! the metagraph, and the commitment that proves an hour's report.
//!
//! ```
//! use devnet_chain::{ChainGenesis, ChainNode, GenesisNeuron};
//! use subtensor::{ClientOptions, CommitmentAt, Hotkey, SubtensorClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let alice = Hotkey::from_dev_uri("//Alice")?.ss58();
//! let validator = GenesisNeuron {
//!     uid: 0,
//!     hotkey: alice.clone(),
//!     coldkey: alice.clone(),
//!     incentive: 0,
//!     stake_rao: 1_000_000_000,
//!     last_update: 0,
//!     validator_permit: true,
//! };
//! let genesis = ChainGenesis {
//!     netuid: 64,
//!     neurons: vec![validator],
//!     // The sha256 of a report, committed at block 1000.
//!     commitments: vec![(alice.clone(), 1_000, [7; 32])],
//!     weights_rate_limit: 100,
//!     commit_reveal: false,
//!     head: 1_200,
//!     timelock: Default::default(),
//! };
//! let node = ChainNode::start(&genesis, "127.0.0.1:0".parse()?).await?;
//!
//! let chain = SubtensorClient::connect(&node.ws_url(), ClientOptions::default()).await?;
//! assert_eq!(chain.metagraph(64, None).await?[0].hotkey, alice);
//! let committed = chain.commitment(64, &alice, 1_000).await?;
//! assert_eq!(committed, CommitmentAt::Sha256 { sha256: [7; 32], block: 1_000 });
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod beacon;
mod commit_reveal;
mod error;
pub mod extrinsic;
mod genesis;
mod hashes;
mod lies;
pub mod metadata;
mod node;
mod pallet;
mod rpc;
mod runtime_api;
mod state;
mod trie;

pub use beacon::BEACON_PERIOD;
pub use drand_tlock::Beacon;
pub use error::NodeError;
pub use genesis::{
    dev_accounts, dev_seed, ChainGenesis, CommitRevealGenesis, GenesisNeuron, DEV_ENDOWMENT_RAO,
};
pub use node::ChainNode;
pub use sp_keyring::Sr25519Keyring;
