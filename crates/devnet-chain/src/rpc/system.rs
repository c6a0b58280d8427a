//! `system_*`: what the node is and how it is doing. The devnet is a
//! single development node: no peers, never syncing, the one authority.

use jsonrpsee::server::RpcModule;
use serde_json::json;
use subtensor::keys::public_key;
use subtensor::runtime;

use super::{common, params};
use crate::state::{lock, Shared};

/// The node's libp2p identity: an ed25519 peer id (identity multihash of
/// the protobuf-encoded public key), derived from a fixed phrase since the
/// devnet has no network key. Base58, as `system_localPeerId` answers.
pub(crate) fn local_peer_id() -> String {
    let key = sp_core::hashing::blake2_256(b"chutes-audit devnet peer");
    // Multihash identity (0x00), 36 bytes: protobuf {KeyType: Ed25519, Data: 32 bytes}.
    let mut id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    id.extend_from_slice(&key);
    bs58::encode(id).into_string()
}

pub(super) fn register(module: &mut RpcModule<Shared>) {
    common::method(module, "system_name", |_, _| {
        Ok(json!("chutes-audit devnet-chain"))
    });
    common::method(module, "system_version", |_, _| {
        Ok(json!(env!("CARGO_PKG_VERSION")))
    });
    common::method(module, "system_chain", |_, _| Ok(json!("Bittensor devnet")));
    common::method(module, "system_chainType", |_, _| Ok(json!("Development")));
    common::method(module, "system_properties", |_, _| {
        Ok(json!({
            "ss58Format": runtime::SS58_PREFIX,
            "tokenDecimals": 9,
            "tokenSymbol": "TAO",
        }))
    });
    common::method(module, "system_health", |_, _| {
        Ok(json!({"peers": 0, "isSyncing": false, "shouldHavePeers": false}))
    });
    common::method(module, "system_localPeerId", |_, _| {
        Ok(json!(local_peer_id()))
    });
    common::method(module, "system_peers", |_, _| Ok(json!([])));
    common::method(module, "system_nodeRoles", |_, _| Ok(json!(["Authority"])));
    common::method(module, "system_syncState", |_, s| {
        let head = lock(s).head();
        Ok(json!({"startingBlock": 0, "currentBlock": head, "highestBlock": head}))
    });
    common::method(module, "system_accountNextIndex", |p, s| {
        let address: String = p.one()?;
        let account = public_key(&address)
            .map_err(|e| params::invalid(format!("{address:?} is not an SS58 account: {e}")))?;
        Ok(json!(lock(s).nonce(&account)))
    });
}
