//! What can go wrong starting a node or naming an account: below the
//! state and the node, so both use it without the state reaching up.

use std::net::SocketAddr;

use subtensor::keys::public_key;

/// Why the node cannot start, or a switch names an account it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A hotkey or coldkey is not an SS58 account.
    #[error("genesis: {address} is not an SS58 account: {source}")]
    Account {
        /// The address as given.
        address: String,
        /// Why it does not decode.
        #[source]
        source: subtensor::KeyError,
    },
    /// The port cannot be bound.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the socket said.
        #[source]
        source: std::io::Error,
    },
}

/// The account an SS58 address names.
pub(crate) fn account_of(address: &str) -> Result<[u8; 32], NodeError> {
    public_key(address).map_err(|source| NodeError::Account {
        address: address.to_string(),
        source,
    })
}
