//! The devnet's simulated subtensor node: Substrate JSON-RPC over
//! WebSocket on loopback, answering what the auditor reads from the chain
//! (spec/subtensor.md) from plain data ([`ChainGenesis`]): the metagraph,
//! through `NeuronInfoRuntimeApi_get_neurons_lite` and the storage items,
//! and one commitment per audit entry at the entry's block.
//!
//! Blocks have deterministic hashes, and a query at an old block's hash
//! sees the state as of that block: `CommitmentOf` keeps only an account's
//! latest commitment, so reading at the entry's block is what proves the
//! report. [`ChainNode::prune_before`] makes the node answer as a pruned
//! (non-archive) node does for older state; [`ChainNode::withhold`] drops
//! a commitment (a fault switch); [`ChainNode::restart`] drops every
//! connection and serves the same state again on the same port.
//!
//! Storage keys and values are built with the `subtensor` crate's runtime
//! facts, so client and node agree by construction, and both are checked
//! against finney by its conformance test.

#![warn(missing_docs)]

pub mod extrinsic;
pub mod metadata;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Compact, Encode};
use serde_json::{json, Value};
use sp_runtime::{DispatchError, ModuleError};
use subtensor::codec::{AxonInfo, CommitmentInfo, Data, NeuronInfoLite, PrometheusInfo};
use subtensor::keys::public_key;
use subtensor::runtime::{self, StorageItem};
use subtensor::storage::{key, part, prefix};
use subtensor::Registration;

use crate::extrinsic::{Chain, Checked};
use crate::metadata::{frame_system, pallet_subtensor, RuntimeCall, RuntimeEvent};

/// A neuron as the node starts with it: the same fields the client reads
/// back as a metagraph neuron.
pub type GenesisNeuron = subtensor::Neuron;

/// The node's initial state, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainGenesis {
    pub netuid: u16,
    pub neurons: Vec<GenesisNeuron>,
    /// `(hotkey SS58, block, sha256)`: committed at that block.
    pub commitments: Vec<(String, u32, [u8; 32])>,
    pub weights_rate_limit: u64,
    pub commit_reveal: bool,
    /// The best block at start; raised to the newest commitment's block.
    pub head: u32,
}

impl ChainGenesis {
    /// A world's chain: its metagraph, and one commitment of
    /// `sha256(report bytes)` per entry at the entry's block. The world's
    /// validator (`//Alice` in generated worlds) holds the validator permit.
    pub fn from_world(world: &devnet::World) -> Result<ChainGenesis, NodeError> {
        let commitments = world
            .commitments()
            .map_err(|e| NodeError::Genesis(e.to_string()))?;
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

/// A genesis the node cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("cannot serve on {addr}: {message}")]
    Listen { addr: SocketAddr, message: String },
}

struct Account {
    uid: u16,
    hotkey: [u8; 32],
    coldkey: [u8; 32],
    neuron: GenesisNeuron,
}

struct State {
    netuid: u16,
    neurons: Vec<Account>,
    weights_rate_limit: u64,
    commit_reveal: bool,
    head: u32,
    /// `(account, block) → sha256`.
    commitments: BTreeMap<([u8; 32], u32), [u8; 32]>,
    withheld: HashSet<([u8; 32], u32)>,
    pruned_before: u32,
    /// Values that do not change with the block.
    fixed: HashMap<Vec<u8>, Vec<u8>>,
    /// Next nonce per account that has sent a transaction.
    nonces: HashMap<[u8; 32], u32>,
    /// Weights set, in block order.
    weights_set: Vec<WeightsSet>,
    /// Blocks that hold a transaction: its bytes and the block's events.
    bodies: BTreeMap<u32, BlockBody>,
    /// The served metadata, built once.
    metadata: Vec<u8>,
}

/// `(block, uid, [(dest, weight)])`: weights a neuron set at a block.
type WeightsSet = (u32, u16, Vec<(u16, u16)>);

struct BlockBody {
    extrinsics: Vec<Vec<u8>>,
    events: Vec<u8>,
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

fn block_of(hash: &[u8; 32]) -> Option<u32> {
    let n = u32::from_be_bytes(hash[28..].try_into().expect("4 bytes"));
    (block_hash(n) == *hash).then_some(n)
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

impl State {
    fn new(genesis: &ChainGenesis) -> Result<State, NodeError> {
        let key_of =
            |address: &str| public_key(address).map_err(|e| NodeError::Genesis(e.to_string()));
        let mut neurons = Vec::new();
        for n in &genesis.neurons {
            neurons.push(Account {
                uid: n.uid,
                hotkey: key_of(&n.hotkey)?,
                coldkey: key_of(&n.coldkey)?,
                neuron: n.clone(),
            });
        }
        neurons.sort_by_key(|a| a.uid);
        let mut commitments = BTreeMap::new();
        let mut head = genesis.head;
        for (hotkey, block, sha) in &genesis.commitments {
            commitments.insert((key_of(hotkey)?, *block), *sha);
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

    fn fixed_storage(&self) -> HashMap<Vec<u8>, Vec<u8>> {
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
    fn block_at(&self, at: Option<String>) -> Result<u32, ErrorObjectOwned> {
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

    fn storage(&self, key_bytes: &[u8], block: u32) -> Option<Vec<u8>> {
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
    fn subnet_size(&self) -> usize {
        self.neurons
            .iter()
            .map(|a| usize::from(a.uid) + 1)
            .max()
            .unwrap_or(0)
    }

    /// `LastUpdate` of the subnet as of `block`.
    fn last_updates(&self, block: u32) -> Vec<u64> {
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

    fn nonce(&self, account: &[u8; 32]) -> u32 {
        self.nonces.get(account).copied().unwrap_or(0)
    }

    /// Checks a submitted transaction and includes it in a new block: the
    /// nonce is used whether the call succeeds or not, as on a real chain.
    fn submit(&mut self, bytes: &[u8]) -> Result<(u32, [u8; 32]), ErrorObjectOwned> {
        let head = self.head;
        let hash_of = |n: u32| (n <= head).then(|| block_hash(n));
        let nonce_of = |a: &[u8; 32]| self.nonce(a);
        let checked = extrinsic::check(
            bytes,
            &Chain {
                head,
                genesis_hash: block_hash(0),
                block_hash: &hash_of,
                nonce: &nonce_of,
            },
        )
        .map_err(|e| e.rpc_error())?;
        self.head += 1;
        let block = self.head;
        *self.nonces.entry(checked.signer).or_insert(0) += 1;
        let event = match self.dispatch(&checked, block) {
            Ok(()) => frame_system::Event::ExtrinsicSuccess {
                dispatch_info: Default::default(),
            },
            Err(dispatch_error) => frame_system::Event::ExtrinsicFailed {
                dispatch_error,
                dispatch_info: Default::default(),
            },
        };
        let events = vec![frame_system::EventRecord {
            phase: frame_system::Phase::ApplyExtrinsic(0),
            event: RuntimeEvent::System(event),
            topics: vec![],
        }];
        self.bodies.insert(
            block,
            BlockBody {
                extrinsics: vec![bytes.to_vec()],
                events: events.encode(),
            },
        );
        Ok((block, checked.hash))
    }

    /// Applies a checked call at `block`, by the chain's rules for
    /// `set_weights` (spec/subtensor.md), in the order the pallet checks them.
    fn dispatch(&mut self, checked: &Checked, block: u32) -> Result<(), DispatchError> {
        let RuntimeCall::SubtensorModule(call) = &checked.call;
        let fail = |name: &str| {
            let index = runtime::set_weights_error_index(name).expect("a listed error");
            DispatchError::Module(ModuleError {
                index: runtime::PALLET_SUBTENSOR.1,
                error: [index, 0, 0, 0],
                message: None,
            })
        };
        let pallet_subtensor::Call::set_weights {
            netuid,
            dests,
            weights,
            ..
        } = call
        else {
            // Time-locked commits are out of scope: the node refuses them.
            return Err(DispatchError::Other(
                "commit_timelocked_weights is not simulated",
            ));
        };
        if *netuid != self.netuid {
            return Err(fail(runtime::ERR_NO_SUBNET));
        }
        if self.commit_reveal {
            return Err(fail(runtime::ERR_COMMIT_REVEAL_ENABLED));
        }
        if dests.len() != weights.len() {
            return Err(fail(runtime::ERR_LENGTHS_DIFFER));
        }
        let uid = self
            .neurons
            .iter()
            .find(|a| a.hotkey == checked.signer)
            .map(|a| a.uid)
            .ok_or_else(|| fail(runtime::ERR_NOT_REGISTERED))?;
        let last = self.last_updates(block)[usize::from(uid)];
        if self.weights_rate_limit > 0
            && last > 0
            && u64::from(block).saturating_sub(last) < self.weights_rate_limit
        {
            return Err(fail(runtime::ERR_TOO_FAST));
        }
        let mut seen = HashSet::new();
        if !dests.iter().all(|d| seen.insert(*d)) {
            return Err(fail(runtime::ERR_DUPLICATE_UIDS));
        }
        let size = self.subnet_size();
        if dests.iter().any(|d| usize::from(*d) >= size) {
            return Err(fail(runtime::ERR_INVALID_UID));
        }
        // Stored max-upscaled to u16, zeros dropped, as the pallet does.
        let max = u64::from(weights.iter().copied().max().unwrap_or(0));
        let stored: Vec<(u16, u16)> = dests
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w > 0)
            .map(|(d, w)| (*d, ((u64::from(*w) * 65_535 + max / 2) / max) as u16))
            .collect();
        self.weights_set.push((block, uid, stored));
        Ok(())
    }

    fn neurons_lite(&self) -> Vec<NeuronInfoLite> {
        self.neurons
            .iter()
            .map(|a| NeuronInfoLite {
                hotkey: a.hotkey,
                coldkey: a.coldkey,
                uid: Compact(a.uid),
                netuid: Compact(self.netuid),
                active: true,
                axon_info: AxonInfo {
                    block: 0,
                    version: 0,
                    ip: 0,
                    port: 0,
                    ip_type: 4,
                    protocol: 0,
                    placeholder1: 0,
                    placeholder2: 0,
                },
                prometheus_info: PrometheusInfo {
                    block: 0,
                    version: 0,
                    ip: 0,
                    port: 0,
                    ip_type: 4,
                },
                stake: vec![(a.coldkey, Compact(a.neuron.stake_rao))],
                rank: Compact(0),
                emission: Compact(0),
                incentive: Compact(a.neuron.incentive),
                consensus: Compact(0),
                trust: Compact(0),
                validator_trust: Compact(0),
                dividends: Compact(0),
                last_update: Compact(a.neuron.last_update),
                validator_permit: a.neuron.validator_permit,
                pruning_score: Compact(0),
            })
            .collect()
    }

    /// The block a hash parameter names (the head when absent), `None`
    /// for a hash the node does not know; pruning does not matter here.
    fn known_block(&self, at: Option<String>) -> Result<Option<u32>, ErrorObjectOwned> {
        let Some(h) = at else {
            return Ok(Some(self.head));
        };
        let bytes: [u8; 32] = hex::decode(h.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| error(-32602, format!("invalid block hash {h}")))?;
        Ok(block_of(&bytes).filter(|n| *n <= self.head))
    }

    fn header(&self, block: u32) -> Value {
        json!({
            "number": format!("0x{block:x}"),
            "parentHash": hex0x(&block_hash(block.saturating_sub(1))),
            "stateRoot": hex0x(&sp_core::hashing::blake2_256(&block.to_le_bytes())),
            "extrinsicsRoot": hex0x(&[0u8; 32]),
            "digest": {"logs": []},
        })
    }
}

type Shared = Arc<Mutex<State>>;

fn extrinsic_param(hex_text: String) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(hex_text.trim_start_matches("0x"))
        .map_err(|_| error(1001, "Extrinsic has invalid format: not hex"))
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().expect("chain state lock")
}

fn rpc_module(state: Shared) -> RpcModule<Shared> {
    let mut module = RpcModule::new(state);
    module
        .register_method("chain_getBlockHash", move |params, s, _| {
            let number: Option<u32> = params.sequence().optional_next().unwrap_or(None);
            let state = lock(s);
            let n = number.unwrap_or(state.head);
            Ok::<_, ErrorObjectOwned>((n <= state.head).then(|| hex0x(&block_hash(n))))
        })
        .expect("unique method");
    module
        .register_method("chain_getFinalizedHead", move |_, s, _| {
            Ok::<_, ErrorObjectOwned>(hex0x(&block_hash(lock(s).head)))
        })
        .expect("unique method");
    module
        .register_method("chain_getHeader", move |params, s, _| {
            let at: Option<String> = params.sequence().optional_next().unwrap_or(None);
            let state = lock(s);
            // Headers outlive pruned state, as on a real node.
            let Some(block) = state.known_block(at)? else {
                return Ok(Value::Null);
            };
            Ok::<_, ErrorObjectOwned>(state.header(block))
        })
        .expect("unique method");
    module
        .register_method("state_getStorage", move |params, s, _| {
            let mut seq = params.sequence();
            let key_hex: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let key_bytes = hex::decode(key_hex.trim_start_matches("0x"))
                .map_err(|_| error(-32602, "invalid storage key"))?;
            let state = lock(s);
            let block = state.block_at(at)?;
            Ok::<_, ErrorObjectOwned>(state.storage(&key_bytes, block).map(|v| hex0x(&v)))
        })
        .expect("unique method");
    module
        .register_method("state_call", move |params, s, _| {
            let mut seq = params.sequence();
            let method: String = seq.next()?;
            let data: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let state = lock(s);
            state.block_at(at)?;
            match method.as_str() {
                "NeuronInfoRuntimeApi_get_neurons_lite" => {
                    let bytes = hex::decode(data.trim_start_matches("0x"))
                        .map_err(|_| error(-32602, "invalid call data"))?;
                    let netuid = u16::from_le_bytes(
                        bytes
                            .get(..2)
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(|| error(-32602, "call data is not a u16 netuid"))?,
                    );
                    let neurons = if netuid == state.netuid {
                        state.neurons_lite()
                    } else {
                        Vec::new()
                    };
                    Ok(hex0x(&neurons.encode()))
                }
                other => Err(error(
                    4003,
                    format!("Client error: Execution failed: Exported method {other} is not found"),
                )),
            }
        })
        .expect("unique method");
    module
        .register_method("state_getMetadata", move |_, s, _| {
            Ok::<_, ErrorObjectOwned>(hex0x(&lock(s).metadata))
        })
        .expect("unique method");
    module
        .register_method("state_getRuntimeVersion", move |_, _, _| {
            Ok::<_, ErrorObjectOwned>(json!({
                "specName": "node-subtensor",
                "implName": "chutes-audit-devnet",
                "authoringVersion": 1,
                "specVersion": extrinsic::SPEC_VERSION,
                "implVersion": 1,
                "apis": [],
                "transactionVersion": extrinsic::TRANSACTION_VERSION,
                "systemVersion": 1,
                "stateVersion": 1,
            }))
        })
        .expect("unique method");
    module
        .register_method("system_accountNextIndex", move |params, s, _| {
            let address: String = params.one()?;
            let account =
                public_key(&address).map_err(|e| error(-32602, format!("invalid account: {e}")))?;
            Ok::<_, ErrorObjectOwned>(lock(s).nonce(&account))
        })
        .expect("unique method");
    module
        .register_method("chain_getBlock", move |params, s, _| {
            let at: Option<String> = params.sequence().optional_next().unwrap_or(None);
            let state = lock(s);
            let Some(block) = state.known_block(at)? else {
                return Ok(Value::Null);
            };
            let extrinsics: Vec<String> = state
                .bodies
                .get(&block)
                .map(|b| b.extrinsics.iter().map(|x| hex0x(x)).collect())
                .unwrap_or_default();
            Ok::<_, ErrorObjectOwned>(json!({
                "block": {"header": state.header(block), "extrinsics": extrinsics},
                "justifications": null,
            }))
        })
        .expect("unique method");
    module
        .register_method("author_submitExtrinsic", move |params, s, _| {
            let bytes = extrinsic_param(params.one()?)?;
            let (_, hash) = lock(s).submit(&bytes)?;
            Ok::<_, ErrorObjectOwned>(hex0x(&hash))
        })
        .expect("unique method");
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, s, _| async move {
                let submitted = params
                    .one::<String>()
                    .and_then(extrinsic_param)
                    .and_then(|bytes| lock(&s).submit(&bytes));
                let block = match submitted {
                    Ok((block, _)) => block,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                // Included at once and final at once: the devnet has one
                // author and no forks.
                let sink = pending.accept().await?;
                let hash = hex0x(&block_hash(block));
                for status in [
                    json!("ready"),
                    json!({"inBlock": hash}),
                    json!({"finalized": hash}),
                ] {
                    sink.send(serde_json::value::to_raw_value(&status)?).await?;
                }
                SubscriptionResult::Ok(())
            },
        )
        .expect("unique method");
    module
        .register_method("system_chain", |_, _, _| {
            Ok::<_, ErrorObjectOwned>("Bittensor devnet")
        })
        .expect("unique method");
    module
        .register_method("system_name", |_, _, _| {
            Ok::<_, ErrorObjectOwned>("chutes-audit devnet-chain")
        })
        .expect("unique method");
    module
        .register_method("system_properties", |_, _, _| {
            Ok::<_, ErrorObjectOwned>(json!({"ss58Format": runtime::SS58_PREFIX, "tokenDecimals": 9, "tokenSymbol": "TAO"}))
        })
        .expect("unique method");
    module
}

/// A running simulated node.
pub struct ChainNode {
    addr: SocketAddr,
    state: Shared,
    handle: Option<ServerHandle>,
}

impl ChainNode {
    /// Serves `genesis` on `addr` (port 0 for an ephemeral one).
    pub async fn start(genesis: &ChainGenesis, addr: SocketAddr) -> Result<ChainNode, NodeError> {
        let state = Arc::new(Mutex::new(State::new(genesis)?));
        let mut node = ChainNode {
            addr,
            state,
            handle: None,
        };
        node.serve().await?;
        Ok(node)
    }

    async fn serve(&mut self) -> Result<(), NodeError> {
        let server = Server::builder()
            .build(self.addr)
            .await
            .map_err(|e| NodeError::Listen {
                addr: self.addr,
                message: e.to_string(),
            })?;
        self.addr = server.local_addr().map_err(|e| NodeError::Listen {
            addr: self.addr,
            message: e.to_string(),
        })?;
        self.handle = Some(server.start(rpc_module(self.state.clone())));
        Ok(())
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The best block.
    pub fn head(&self) -> u32 {
        self.state.lock().expect("chain state lock").head
    }

    /// Commits `sha256` for `hotkey` at `block` (the head moves up to it).
    pub fn commit(&self, hotkey: &str, block: u32, sha256: [u8; 32]) -> Result<(), NodeError> {
        let account = public_key(hotkey).map_err(|e| NodeError::Genesis(e.to_string()))?;
        let mut state = self.state.lock().expect("chain state lock");
        state.commitments.insert((account, block), sha256);
        state.head = state.head.max(block);
        Ok(())
    }

    /// Moves the head on by `blocks`.
    pub fn advance(&self, blocks: u32) {
        self.state.lock().expect("chain state lock").head += blocks;
    }

    /// Answers as a pruned node for state older than `block`.
    pub fn prune_before(&self, block: u32) {
        self.state.lock().expect("chain state lock").pruned_before = block;
    }

    /// Turns commit-reveal weights on or off for the subnet: with it on,
    /// `set_weights` fails with `CommitRevealEnabled`.
    pub fn set_commit_reveal(&self, enabled: bool) {
        let mut state = self.state.lock().expect("chain state lock");
        state.commit_reveal = enabled;
        state.fixed = state.fixed_storage();
    }

    /// Fault switch: the commitment of `hotkey` at `block` reads as absent.
    pub fn withhold(&self, hotkey: &str, block: u32) -> Result<(), NodeError> {
        let account = public_key(hotkey).map_err(|e| NodeError::Genesis(e.to_string()))?;
        self.state
            .lock()
            .expect("chain state lock")
            .withheld
            .insert((account, block));
        Ok(())
    }

    /// Drops every connection and serves the same state on the same port.
    pub async fn restart(&mut self) -> Result<(), NodeError> {
        if let Some(handle) = self.handle.take() {
            let _ = handle.stop();
            handle.stopped().await;
        }
        self.serve().await
    }
}

impl Drop for ChainNode {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.stop();
        }
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
