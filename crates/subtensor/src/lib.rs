//! The Bittensor chain (subtensor) as the auditor uses it
//! (docs/spec/subtensor.md).
//!
//! This crate holds what every chain-facing part shares, pure and tested
//! without a node: the runtime facts ([`runtime`]: pallet and call indices,
//! storage items with their hashers, transaction extensions), storage key
//! construction ([`storage`]), the SCALE types read from the chain
//! ([`codec`]: commitments, `NeuronInfoLite`), and sr25519 hotkeys
//! ([`keys`]), the JSON-RPC client over them ([`rpc`]) with its reads
//! proven against the block's state root ([`proof`]), and weight
//! setting through `substrate-api-client` ([`weights`]). The devnet's
//! simulated node builds on the same pieces.
//! A conformance test checks [`runtime`] against the real finney metadata.
//!
//! # Example
//!
//! A hotkey from a seed, checked against the address a config names, and
//! its signature verified, all without a node:
//!
//! ```
//! use subtensor::Hotkey;
//!
//! let alice = Hotkey::from_dev_uri("//Alice")?;
//! assert_eq!(alice.ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
//! alice.check_address("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")?;
//!
//! let signature = alice.sign(b"set_weights");
//! assert!(subtensor::keys::verify(&alice.public(), b"set_weights", &signature));
//! # Ok::<(), subtensor::KeyError>(())
//! ```
//!
//! Reading the chain goes through [`SubtensorClient`], over a node's
//! JSON-RPC (the devnet's simulated node in tests).

#![warn(missing_docs)]

pub mod codec;
pub mod commit_reveal;
pub mod keys;
pub mod proof;
mod proven;
pub mod rpc;
pub mod runtime;
pub mod storage;
pub mod weights;

pub use codec::{Data, NeuronInfoLite, Registration};
pub use commit_reveal::{Pulse, TimelockedCommit, WeightSettingFacts};
pub use keys::{Hotkey, KeyError};
pub use proof::BlockHash;
pub use rpc::{BlockBody, ClientOptions, CommitmentAt, Neuron, SubtensorClient};
pub use weights::{
    SentExtrinsic, SignedExtrinsic, TimelockedCall, WeightsCall, WeightsError, WeightsSet,
};

/// A chain-side failure, naming what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The caller asked for something that cannot be encoded (a bad
    /// address): no retry fixes it.
    #[error("{0}")]
    Usage(String),
    /// The node answered bytes that are not the type expected.
    #[error("decoding {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The decoder's error.
        message: String,
    },
    /// The WebSocket could not be opened.
    #[error("cannot connect to the chain at {url}: {message}")]
    Connect {
        /// The node.
        url: String,
        /// The transport's error.
        message: String,
    },
    /// A call took longer than the configured limit, reconnects included.
    #[error("{method} on {url} timed out")]
    Timeout {
        /// The node.
        url: String,
        /// The RPC method.
        method: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method} on {url}: {message}")]
    Rpc {
        /// The node.
        url: String,
        /// The RPC method.
        method: String,
        /// The node's error message.
        message: String,
    },
    /// The node no longer holds the state asked for (not an archive node).
    #[error("state pruned: {message}")]
    Pruned {
        /// The node's words.
        message: String,
    },
    /// A read did not prove against the block's state root, a header did
    /// not hash to its block, or two endpoints disagree about a finalized
    /// block: the node lies or serves another chain. Nothing read from it
    /// may be scored or sent.
    #[error("integrity violation: {what} at block {block} from {url}: {reason}")]
    Integrity {
        /// What was read (`SubtensorModule.Keys`, `chain_getHeader`).
        what: String,
        /// The block, `#number 0xhash` or the hash.
        block: String,
        /// The endpoint that answered.
        url: String,
        /// What did not hold.
        reason: String,
    },
}
