//! The Bittensor chain (subtensor) as the auditor uses it
//! (spec/subtensor.md).
//!
//! This crate holds what every chain-facing part shares, pure and tested
//! without a node: the runtime facts ([`runtime`]: pallet and call indices,
//! storage items with their hashers, transaction extensions), storage key
//! construction ([`storage`]), the SCALE types read from the chain
//! ([`codec`]: commitments, `NeuronInfoLite`), and sr25519 hotkeys
//! ([`keys`]), the JSON-RPC client over them ([`rpc`]), and weight
//! setting through `substrate-api-client` ([`weights`]). The devnet's
//! simulated node builds on the same pieces.
//! A conformance test checks [`runtime`] against the real finney metadata.

#![warn(missing_docs)]

pub mod codec;
pub mod commit_reveal;
pub mod keys;
pub mod rpc;
pub mod runtime;
pub mod storage;
pub mod weights;

pub use codec::{Data, NeuronInfoLite, Registration};
pub use commit_reveal::{Pulse, TimelockedCommit, WeightSettingFacts};
pub use keys::{Hotkey, KeyError};
pub use rpc::{BlockHash, ClientOptions, CommitmentAt, Neuron, SubtensorClient};
pub use weights::{TimelockedCall, WeightsCall, WeightsError, WeightsSet};

/// A chain-side failure, naming what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{0}")]
    Usage(String),
    #[error("decoding {what}: {message}")]
    Decode { what: String, message: String },
    #[error("cannot connect to the chain at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{method} on {url} timed out")]
    Timeout { url: String, method: String },
    #[error("{method} on {url}: {message}")]
    Rpc {
        url: String,
        method: String,
        message: String,
    },
    /// The node no longer holds the state asked for (not an archive node).
    #[error("state pruned: {message}")]
    Pruned { message: String },
}
