//! The chain's state: what every storage item holds as of a block, the
//! block hashes that name blocks, and the headers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use subtensor::codec::{CommitmentInfo, Data};
use subtensor::runtime::{self, StorageItem};
use subtensor::storage::{key, part, prefix};
use subtensor::Registration;

use crate::genesis::{ChainGenesis, GenesisNeuron};
use crate::metadata::{self, frame_system};
use crate::node::{account_of, NodeError};

/// The state behind every connection.
pub(crate) type Shared = Arc<Mutex<State>>;

/// The state, also after a handler panicked while holding it.
pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Account {
    pub(crate) uid: u16,
    pub(crate) hotkey: [u8; 32],
    pub(crate) coldkey: [u8; 32],
    pub(crate) neuron: GenesisNeuron,
}

pub(crate) struct State {
    pub(crate) netuid: u16,
    pub(crate) neurons: Vec<Account>,
    pub(crate) weights_rate_limit: u64,
    pub(crate) commit_reveal: bool,
    pub(crate) head: u32,
    /// `(account, block) → sha256`.
    pub(crate) commitments: BTreeMap<([u8; 32], u32), [u8; 32]>,
    pub(crate) withheld: HashSet<([u8; 32], u32)>,
    pub(crate) pruned_before: u32,
    /// Values that do not change with the block.
    pub(crate) fixed: HashMap<Vec<u8>, Vec<u8>>,
    /// Next nonce per account that has sent a transaction.
    pub(crate) nonces: HashMap<[u8; 32], u32>,
    /// Weights set, in block order.
    pub(crate) weights_set: Vec<WeightsSet>,
    /// Blocks that hold a transaction: its bytes and the block's events.
    pub(crate) bodies: BTreeMap<u32, BlockBody>,
    /// The served metadata, built once.
    pub(crate) metadata: Vec<u8>,
}

/// `(block, uid, [(dest, weight)])`: weights a neuron set at a block.
pub(crate) type WeightsSet = (u32, u16, Vec<(u16, u16)>);

pub(crate) struct BlockBody {
    pub(crate) extrinsics: Vec<Vec<u8>>,
    pub(crate) events: Vec<u8>,
}

/// The hash of block `n`: 28 bytes derived from it, then `n` itself, so
/// a hash names its block and a made-up one is recognised as unknown.
pub fn block_hash(n: u32) -> [u8; 32] {
    let mut hash = [0u8; 32];
    let digest = sp_core::hashing::blake2_256(
        &[b"chutes-audit devnet".as_slice(), &n.to_le_bytes()].concat(),
    );
    hash[..28].copy_from_slice(&digest[..28]);
    hash[28..].copy_from_slice(&n.to_be_bytes());
    hash
}

pub(crate) fn block_of(hash: &[u8; 32]) -> Option<u32> {
    let n = u32::from_be_bytes(hash[28..].try_into().expect("4 bytes"));
    (block_hash(n) == *hash).then_some(n)
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

pub(crate) fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

impl State {
    pub(crate) fn new(genesis: &ChainGenesis) -> Result<State, NodeError> {
        let mut neurons = Vec::new();
        for n in &genesis.neurons {
            neurons.push(Account {
                uid: n.uid,
                hotkey: account_of(&n.hotkey)?,
                coldkey: account_of(&n.coldkey)?,
                neuron: n.clone(),
            });
        }
        neurons.sort_by_key(|a| a.uid);
        let mut commitments = BTreeMap::new();
        let mut head = genesis.head;
        for (hotkey, block, sha) in &genesis.commitments {
            commitments.insert((account_of(hotkey)?, *block), *sha);
            head = head.max(*block);
        }
        let mut state = State {
            netuid: genesis.netuid,
            neurons,
            weights_rate_limit: genesis.weights_rate_limit,
            commit_reveal: genesis.commit_reveal,
            head,
            commitments,
            withheld: HashSet::new(),
            pruned_before: 0,
            fixed: HashMap::new(),
            nonces: HashMap::new(),
            weights_set: Vec::new(),
            bodies: BTreeMap::new(),
            metadata: metadata::metadata_bytes(),
        };
        state.fixed = state.fixed_storage();
        Ok(state)
    }

    pub(crate) fn fixed_storage(&self) -> HashMap<Vec<u8>, Vec<u8>> {
        let netuid = part(self.netuid);
        let size = self.subnet_size();
        let mut incentive = vec![0u16; size];
        let mut out = HashMap::new();
        let mut put = |item: &StorageItem, parts: &[Vec<u8>], value: Vec<u8>| {
            out.insert(key(item, parts).expect("parts match hashers"), value);
        };
        for a in &self.neurons {
            incentive[usize::from(a.uid)] = a.neuron.incentive;
            put(
                &runtime::UIDS,
                &[netuid.clone(), part(a.hotkey)],
                a.uid.encode(),
            );
            put(
                &runtime::KEYS,
                &[netuid.clone(), part(a.uid)],
                a.hotkey.encode(),
            );
            put(&runtime::OWNER, &[part(a.hotkey)], a.coldkey.encode());
        }
        put(
            &runtime::SUBNETWORK_N,
            std::slice::from_ref(&netuid),
            (size as u16).encode(),
        );
        put(
            &runtime::INCENTIVE,
            std::slice::from_ref(&netuid),
            incentive.encode(),
        );
        put(
            &runtime::WEIGHTS_SET_RATE_LIMIT,
            std::slice::from_ref(&netuid),
            self.weights_rate_limit.encode(),
        );
        put(
            &runtime::COMMIT_REVEAL_WEIGHTS_ENABLED,
            std::slice::from_ref(&netuid),
            self.commit_reveal.encode(),
        );
        out
    }

    /// The block a query names: the hash given, else the head.
    pub(crate) fn block_at(&self, at: Option<String>) -> Result<u32, ErrorObjectOwned> {
        let Some(at) = at else {
            return Ok(self.head);
        };
        let bytes = hex::decode(at.trim_start_matches("0x"))
            .map_err(|_| error(-32602, format!("invalid block hash {at}")))?;
        let hash: [u8; 32] = bytes
            .try_into()
            .map_err(|_| error(-32602, format!("invalid block hash {at}")))?;
        let block = block_of(&hash).filter(|n| *n <= self.head).ok_or_else(|| {
            error(
                4003,
                format!("Client error: UnknownBlock: Header was not found in the database: {at}"),
            )
        })?;
        if block < self.pruned_before {
            // The words a pruned Substrate node answers with.
            return Err(error(
                4003,
                format!("Client error: State already discarded for {at}"),
            ));
        }
        Ok(block)
    }

    pub(crate) fn storage(&self, key_bytes: &[u8], block: u32) -> Option<Vec<u8>> {
        if key_bytes == key(&runtime::NUMBER, &[]).expect("plain").as_slice() {
            return Some(block.encode());
        }
        let commitment_prefix = prefix(&runtime::COMMITMENT_OF);
        if key_bytes.len() == 32 + 2 + 8 + 32 && key_bytes[..32] == commitment_prefix[..] {
            if key_bytes[32..34] != self.netuid.encode()[..] {
                return None;
            }
            let account: [u8; 32] = key_bytes[42..].try_into().expect("32 bytes");
            // The latest commitment at or before `block`: CommitmentOf keeps one.
            let (&(_, committed_at), sha) = self
                .commitments
                .range((account, 0)..=(account, block))
                .next_back()?;
            if self.withheld.contains(&(account, committed_at)) {
                return None;
            }
            let registration = Registration {
                deposit: 0,
                block: committed_at,
                info: CommitmentInfo {
                    fields: vec![Data::Sha256(*sha)],
                },
            };
            return Some(registration.encode());
        }
        if let Some(value) = self.dynamic_storage(key_bytes, block) {
            return value;
        }
        self.fixed.get(key_bytes).cloned()
    }

    /// Storage that transactions change: `Some(value)` when `key_bytes`
    /// names such an item.
    fn dynamic_storage(&self, key_bytes: &[u8], block: u32) -> Option<Option<Vec<u8>>> {
        let netuid = part(self.netuid);
        if key_bytes == key(&runtime::LAST_UPDATE, std::slice::from_ref(&netuid)).ok()? {
            return Some(Some(self.last_updates(block).encode()));
        }
        if key_bytes == key(&runtime::EVENTS, &[]).ok()? {
            let events = self.bodies.get(&block).map(|b| b.events.clone());
            return Some(Some(events.unwrap_or_else(|| vec![0])));
        }
        let weights_prefix = [prefix(&runtime::WEIGHTS), netuid.clone()].concat();
        if key_bytes.len() == weights_prefix.len() + 2 && key_bytes.starts_with(&weights_prefix) {
            let uid = u16::from_le_bytes(key_bytes[weights_prefix.len()..].try_into().ok()?);
            let weights = self
                .weights_set
                .iter()
                .rev()
                .find(|(at, u, _)| *at <= block && *u == uid)
                .map(|(_, _, w)| w.encode());
            return Some(weights);
        }
        let account_prefix = prefix(&runtime::ACCOUNT);
        if key_bytes.len() == account_prefix.len() + 16 + 32
            && key_bytes.starts_with(&account_prefix)
        {
            let account: [u8; 32] = key_bytes[account_prefix.len() + 16..].try_into().ok()?;
            let known = self.nonces.contains_key(&account)
                || self
                    .neurons
                    .iter()
                    .any(|a| a.hotkey == account || a.coldkey == account);
            let info = frame_system::AccountInfo {
                nonce: self.nonce(&account),
                providers: 1,
                ..Default::default()
            };
            return Some(known.then(|| info.encode()));
        }
        None
    }

    /// Uids in use: one past the highest.
    pub(crate) fn subnet_size(&self) -> usize {
        self.neurons
            .iter()
            .map(|a| usize::from(a.uid) + 1)
            .max()
            .unwrap_or(0)
    }

    /// `LastUpdate` of the subnet as of `block`.
    pub(crate) fn last_updates(&self, block: u32) -> Vec<u64> {
        let size = self.subnet_size();
        let mut out = vec![0u64; size];
        for a in &self.neurons {
            out[usize::from(a.uid)] = a.neuron.last_update;
        }
        for (at, uid, _) in &self.weights_set {
            if *at <= block {
                out[usize::from(*uid)] = u64::from(*at);
            }
        }
        out
    }

    pub(crate) fn nonce(&self, account: &[u8; 32]) -> u32 {
        self.nonces.get(account).copied().unwrap_or(0)
    }

    /// The block a hash parameter names (the head when absent), `None`
    /// for a hash the node does not know; pruning does not matter here.
    pub(crate) fn known_block(&self, at: Option<String>) -> Result<Option<u32>, ErrorObjectOwned> {
        let Some(h) = at else {
            return Ok(Some(self.head));
        };
        let bytes: [u8; 32] = hex::decode(h.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| error(-32602, format!("invalid block hash {h}")))?;
        Ok(block_of(&bytes).filter(|n| *n <= self.head))
    }

    pub(crate) fn header(&self, block: u32) -> Value {
        json!({
            "number": format!("0x{block:x}"),
            "parentHash": hex0x(&block_hash(block.saturating_sub(1))),
            "stateRoot": hex0x(&sp_core::hashing::blake2_256(&block.to_le_bytes())),
            "extrinsicsRoot": hex0x(&[0u8; 32]),
            "digest": {"logs": []},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hashes_name_their_block_and_made_up_ones_do_not() {
        assert_eq!(block_of(&block_hash(4_800_000)), Some(4_800_000));
        assert_ne!(block_hash(1), block_hash(2));
        let mut forged = block_hash(7);
        forged[0] ^= 1;
        assert_eq!(block_of(&forged), None);
    }
}
