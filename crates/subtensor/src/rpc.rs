//! The chain client: Substrate JSON-RPC over WebSocket, the same against
//! the public finney node and the devnet's simulated node.
//!
//! Every call has a timeout. When the socket drops, the client reconnects
//! with bounded backoff and repeats the call once connected. A node that
//! no longer holds a block's state (a pruned, non-archive node) answers
//! with Substrate's own words, "State already discarded"; only that answer
//! becomes [`Pruned`](ChainError::Pruned), kept apart from every other
//! failure: the auditor marks such an entry *unverifiable*, never
//! verified. Any other error (an unknown block, a gateway's "request
//! pruned by rate limiter") is an ordinary, transient failure: a lying or
//! overloaded node must not be able to turn a check into "cannot check".
//!
//! With [`ClientOptions::proofs`] on (the default), every storage read is
//! proven ([`crate::proven`]): fetched with `state_getReadProof` and checked
//! against the state root of the block's header, the header against the
//! block hash, and the block hash against every witness endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::{ClientT, Error as RpcError};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::{Decode, Encode};
use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

use crate::codec::{decode_all, NeuronInfoLite, Registration};
use crate::keys::{public_key, ss58};
use crate::runtime::{self, StorageItem};
use crate::storage::{self, part};
use crate::ChainError;

use crate::proof::BlockHash;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit of one call, reconnection included.
    pub call_timeout: Duration,
    /// Reconnection attempts after the socket drops.
    pub reconnect_attempts: u32,
    /// First wait between attempts; doubles each time.
    pub backoff: Duration,
    /// Limit of the wait for a submitted transaction to be reported in a
    /// block: past it, the transaction's fate is unknown (it may still
    /// land until its mortal era ends), never assumed either way.
    pub inclusion_timeout: Duration,
    /// Prove every storage read against the block's state root (and the
    /// metagraph's uid → hotkey map against `Keys`). Off, the node's word
    /// is taken: a loud, recorded choice of the caller's.
    pub proofs: bool,
    /// Other endpoints (`ws://`, `wss://`) that must name the same hash
    /// for every block a proven read is made at; a different hash for a
    /// block they have finalized is an integrity violation.
    pub witnesses: Vec<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            call_timeout: Duration::from_secs(30),
            reconnect_attempts: 5,
            backoff: Duration::from_millis(200),
            inclusion_timeout: Duration::from_secs(120),
            proofs: true,
            witnesses: Vec::new(),
        }
    }
}

/// What an account had committed as of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitmentAt {
    /// The committed sha256 field, and the block the commitment was made
    /// at (the `Registration`'s own block): `CommitmentOf` keeps only the
    /// latest one, so a read at a later block still finds an older
    /// commitment, and only this block tells them apart.
    Sha256 {
        /// The committed hash.
        sha256: [u8; 32],
        /// The block the commitment was made at.
        block: u32,
    },
    /// Nothing committed, or no `Sha256` field.
    None,
    /// The node no longer holds that block's state.
    Pruned,
}

/// What a block holds, as the node reports it: enough to find a
/// transaction in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockBody {
    /// The block's number, from its header.
    pub number: u32,
    /// `blake2_256` of each extrinsic, in block order.
    pub extrinsic_hashes: Vec<[u8; 32]>,
}

/// `chain_getBlock`'s answer, as far as it is read.
#[derive(serde::Deserialize)]
struct SignedBlockJson {
    block: BlockJson,
}

#[derive(serde::Deserialize)]
struct BlockJson {
    header: HeaderJson,
    extrinsics: Vec<String>,
}

#[derive(serde::Deserialize)]
struct HeaderJson {
    number: String,
}

/// A neuron of the metagraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neuron {
    /// Its slot on the subnet: weights are set by uid.
    pub uid: u16,
    /// Its hotkey, SS58: scores are keyed by it.
    pub hotkey: String,
    /// Its owner's coldkey, SS58.
    pub coldkey: String,
    /// Fraction of 65535.
    pub incentive: u16,
    /// Total stake in rao (1e-9 TAO).
    pub stake_rao: u64,
    /// The block its weights were last set at.
    pub last_update: u64,
    /// Whether it may set weights.
    pub validator_permit: bool,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct SubtensorClient {
    url: String,
    options: ClientOptions,
    socket: Arc<RwLock<Arc<WsClient>>>,
    /// Connections to [`ClientOptions::witnesses`].
    witnesses: Arc<Vec<SubtensorClient>>,
    /// Blocks whose header and hash were checked.
    proven: Arc<std::sync::Mutex<crate::proof::Checked>>,
}

impl std::fmt::Debug for SubtensorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubtensorClient")
            .field("url", &self.url)
            .finish()
    }
}

/// Substrate's words for state a pruned node no longer has
/// (`sc_client_api`'s `StateDiscarded` / `State already discarded for …`).
/// Nothing else counts: "unknown block" is a node that has not seen the
/// block (yet), and "pruned" alone appears in gateways' rate-limit texts.
pub(crate) fn is_pruned(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("state already discarded")
}

/// A node's JSON-RPC error in its own words: the message, then its data
/// (`Invalid Transaction ("Transaction has a bad signature")`).
pub(crate) fn node_error_message(e: &jsonrpsee::types::ErrorObjectOwned) -> String {
    match e.data() {
        Some(data) => format!("{} ({})", e.message(), data.get()),
        None => e.message().to_string(),
    }
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

pub(crate) fn unhex(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text.trim_start_matches("0x")).map_err(|e| e.to_string())
}

impl SubtensorClient {
    /// Connects to `url` (`ws://` or `wss://`).
    pub async fn connect(url: &str, options: ClientOptions) -> Result<SubtensorClient, ChainError> {
        let socket = Self::open(url, &options).await?;
        let mut witnesses = Vec::new();
        for witness in &options.witnesses {
            let own = ClientOptions {
                witnesses: Vec::new(),
                proofs: false,
                ..options.clone()
            };
            witnesses.push(Box::pin(SubtensorClient::connect(witness, own)).await?);
        }
        Ok(SubtensorClient {
            url: url.to_string(),
            options,
            socket: Arc::new(RwLock::new(Arc::new(socket))),
            witnesses: Arc::new(witnesses),
            proven: Arc::default(),
        })
    }

    /// The witness connections.
    pub(crate) fn witness_clients(&self) -> &[SubtensorClient] {
        &self.witnesses
    }

    /// The blocks already checked.
    pub(crate) fn checked(&self) -> std::sync::MutexGuard<'_, crate::proof::Checked> {
        self.proven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The timeouts this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    async fn open(url: &str, options: &ClientOptions) -> Result<WsClient, ChainError> {
        WsClientBuilder::default()
            .request_timeout(options.call_timeout)
            .connection_timeout(options.call_timeout)
            .build(url)
            .await
            .map_err(|e| ChainError::Connect {
                url: url.to_string(),
                message: e.to_string(),
            })
    }

    /// Replaces a dropped socket, with backoff.
    async fn reconnect(&self, dropped: &Arc<WsClient>) -> Result<(), ChainError> {
        let mut socket = self.socket.write().await;
        if !Arc::ptr_eq(&socket, dropped) && socket.is_connected() {
            return Ok(()); // another call already reconnected
        }
        let mut wait = self.options.backoff;
        let mut last = None;
        for attempt in 0..=self.options.reconnect_attempts {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            match Self::open(&self.url, &self.options).await {
                Ok(fresh) => {
                    tracing::info!(url = %self.url, "reconnected to the chain");
                    *socket = Arc::new(fresh);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// One call, with a timeout and one repeat after a reconnection.
    pub(crate) async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: ArrayParams,
    ) -> Result<R, ChainError> {
        for attempt in 0..2 {
            let socket = self.socket.read().await.clone();
            let answer = tokio::time::timeout(
                self.options.call_timeout,
                socket.request::<R, _>(method, params.clone()),
            )
            .await;
            match answer {
                Err(_) => {
                    return Err(ChainError::Timeout {
                        url: self.url.clone(),
                        method: method.to_string(),
                    })
                }
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(RpcError::Call(e))) => {
                    let message = node_error_message(&e);
                    if is_pruned(&message) {
                        return Err(ChainError::Pruned { message });
                    }
                    return Err(ChainError::Rpc {
                        url: self.url.clone(),
                        method: method.to_string(),
                        message,
                    });
                }
                Ok(Err(RpcError::RestartNeeded(_) | RpcError::Transport(_))) if attempt == 0 => {
                    tracing::warn!(url = %self.url, method, "chain connection dropped; reconnecting");
                    self.reconnect(&socket).await?;
                }
                Ok(Err(e)) => {
                    return Err(ChainError::Rpc {
                        url: self.url.clone(),
                        method: method.to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// The hash of block `number`, if the node has it.
    pub async fn block_hash(&self, number: u32) -> Result<Option<BlockHash>, ChainError> {
        let hash: Option<String> = self.call("chain_getBlockHash", rpc_params![number]).await?;
        hash.map(|h| {
            unhex(&h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| self.decode("chain_getBlockHash", "not a 32-byte hash"))
        })
        .transpose()
    }

    /// The number and extrinsic hashes of the block `hash`, if the node
    /// has it. Answers that are not a block are malformed, not absent.
    pub async fn block_body(&self, hash: BlockHash) -> Result<Option<BlockBody>, ChainError> {
        let answer: Option<serde_json::Value> = self
            .call("chain_getBlock", rpc_params![hex0x(&hash)])
            .await?;
        let Some(answer) = answer else {
            return Ok(None);
        };
        let signed: SignedBlockJson =
            serde_json::from_value(answer).map_err(|e| self.decode("chain_getBlock", e))?;
        let number = u32::from_str_radix(signed.block.header.number.trim_start_matches("0x"), 16)
            .map_err(|e| self.decode("chain_getBlock header number", e))?;
        let extrinsic_hashes = signed
            .block
            .extrinsics
            .iter()
            .map(|x| {
                unhex(x)
                    .map(|bytes| sp_core::hashing::blake2_256(&bytes))
                    .map_err(|e| self.decode("chain_getBlock extrinsic", e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(BlockBody {
            number,
            extrinsic_hashes,
        }))
    }

    pub(crate) fn decode(&self, what: &str, message: impl std::fmt::Display) -> ChainError {
        ChainError::Decode {
            what: format!("{what} from {}", self.url),
            message: message.to_string(),
        }
    }

    /// A storage value at `at` (the newest block when `None`: the best
    /// one, or with proofs the finalized one).
    pub async fn storage(
        &self,
        item: &StorageItem,
        parts: &[Vec<u8>],
        at: Option<BlockHash>,
    ) -> Result<Option<Vec<u8>>, ChainError> {
        let key = storage::key(item, parts)?;
        let mut values = self.read(item.name, std::slice::from_ref(&key), at).await?;
        Ok(values.remove(&key).flatten())
    }

    /// The values under `keys` at `at` (see [`Self::storage`]), proven
    /// when [`ClientOptions::proofs`] is on; `what` names them in errors.
    pub(crate) async fn read(
        &self,
        what: &str,
        keys: &[Vec<u8>],
        at: Option<BlockHash>,
    ) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, ChainError> {
        if self.options.proofs {
            return self.read_proven(what, keys, at).await;
        }
        let mut values = BTreeMap::new();
        for key in keys {
            let hex_key = hex0x(key);
            let value: Option<String> = match at {
                Some(hash) => {
                    self.call("state_getStorage", rpc_params![hex_key, hex0x(&hash)])
                        .await?
                }
                None => self.call("state_getStorage", rpc_params![hex_key]).await?,
            };
            let value = value
                .map(|v| unhex(&v).map_err(|e| self.decode(what, e)))
                .transpose()?;
            values.insert(key.clone(), value);
        }
        Ok(values)
    }

    pub(crate) async fn storage_value<T: Decode>(
        &self,
        item: &StorageItem,
        parts: &[Vec<u8>],
        at: Option<BlockHash>,
    ) -> Result<Option<T>, ChainError> {
        match self.storage(item, parts, at).await? {
            Some(bytes) => decode_all(&bytes)
                .map(Some)
                .map_err(|e| self.decode(item.name, e)),
            None => Ok(None),
        }
    }

    /// The best block's number (with proofs, the finalized one's).
    pub async fn current_block(&self) -> Result<u32, ChainError> {
        Ok(self
            .storage_value::<u32>(&runtime::NUMBER, &[], None)
            .await?
            .unwrap_or(0))
    }

    /// The block a multi-read answer is taken at: `at`, or the head
    /// ([`Self::head_hash`]), named once. Every read of the answer is of
    /// that one block, with proofs or without: read at the head each, a
    /// block landing between two reads (a uid replaced) would mix two
    /// states into one metagraph.
    async fn pinned(&self, at: Option<BlockHash>) -> Result<BlockHash, ChainError> {
        match at {
            Some(hash) => Ok(hash),
            None => self.head_hash().await,
        }
    }

    /// The block reads at `None` are made at, as a hash: with proofs the
    /// finalized head (what every endpoint agrees on), else the best one.
    pub async fn head_hash(&self) -> Result<BlockHash, ChainError> {
        let method = if self.options.proofs {
            "chain_getFinalizedHead"
        } else {
            "chain_getBlockHash"
        };
        let hash: String = self.call(method, rpc_params![]).await?;
        unhex(&hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.decode(method, "not a 32-byte hash"))
    }

    /// What `account` (SS58) had committed on `netuid` as of `block`:
    /// `CommitmentOf` read at that block's hash.
    pub async fn commitment(
        &self,
        netuid: u16,
        account: &str,
        block: u32,
    ) -> Result<CommitmentAt, ChainError> {
        let account = public_key(account).map_err(|e| ChainError::Usage(e.to_string()))?;
        let Some(hash) = self.block_hash(block).await? else {
            // A block the node does not know: too new, or gone with pruning.
            return Err(ChainError::Rpc {
                url: self.url.clone(),
                method: "chain_getBlockHash".into(),
                message: format!("the node has no block {block}"),
            });
        };
        let read = self
            .storage_value::<Registration>(
                &runtime::COMMITMENT_OF,
                &[part(netuid), part(account)],
                Some(hash),
            )
            .await;
        match read {
            Ok(Some(registration)) => Ok(registration
                .sha256()
                .map(|sha256| CommitmentAt::Sha256 {
                    sha256,
                    block: registration.block,
                })
                .unwrap_or(CommitmentAt::None)),
            Ok(None) => Ok(CommitmentAt::None),
            Err(ChainError::Pruned { .. }) => Ok(CommitmentAt::Pruned),
            Err(e) => Err(e),
        }
    }

    /// Every neuron of `netuid` at `at`: from the runtime API, or, when
    /// the node does not offer it, assembled from storage. With proofs,
    /// at a proven block, and each neuron's uid → hotkey pairing checked
    /// against the proven `Keys` (a runtime API answer is not provable):
    /// the pairing is what weights are sent by.
    pub async fn metagraph(
        &self,
        netuid: u16,
        at: Option<BlockHash>,
    ) -> Result<Vec<Neuron>, ChainError> {
        let hash = self.pinned(at).await?;
        let data = hex0x(&netuid.encode());
        let method = "NeuronInfoRuntimeApi_get_neurons_lite";
        let answer: Result<String, ChainError> = self
            .call("state_call", rpc_params![method, data, hex0x(&hash)])
            .await;
        match answer {
            Ok(hex_bytes) => {
                let bytes = unhex(&hex_bytes).map_err(|e| self.decode(method, e))?;
                let neurons: Vec<NeuronInfoLite> =
                    decode_all(&bytes).map_err(|e| self.decode(method, e))?;
                let neurons: Vec<Neuron> = neurons
                    .into_iter()
                    .map(|n| Neuron {
                        uid: n.uid.0,
                        hotkey: ss58(&n.hotkey),
                        coldkey: ss58(&n.coldkey),
                        incentive: n.incentive.0,
                        stake_rao: n.stake.iter().map(|(_, s)| s.0).sum(),
                        last_update: n.last_update.0,
                        validator_permit: n.validator_permit,
                    })
                    .collect();
                if self.options.proofs {
                    self.check_pairings(netuid, &neurons, hash).await?;
                }
                Ok(neurons)
            }
            Err(ChainError::Rpc { message, .. }) => {
                tracing::debug!("runtime API unavailable ({message}); reading storage");
                self.metagraph_from_storage(netuid, Some(hash)).await
            }
            Err(e) => Err(e),
        }
    }

    /// Checks the runtime API's uid → hotkey pairs against `Keys` (and
    /// the count against `SubnetworkN`), both read proven at `at`.
    async fn check_pairings(
        &self,
        netuid: u16,
        neurons: &[Neuron],
        at: BlockHash,
    ) -> Result<(), ChainError> {
        let from_storage = self.uid_hotkeys(netuid, Some(at)).await?;
        let answered: BTreeMap<u16, &str> =
            neurons.iter().map(|n| (n.uid, n.hotkey.as_str())).collect();
        let proven: BTreeMap<u16, String> = from_storage
            .iter()
            .map(|(uid, key)| (*uid, ss58(key)))
            .collect();
        let differs = proven
            .iter()
            .find(|(uid, hotkey)| answered.get(uid) != Some(&hotkey.as_str()))
            .map(|(uid, _)| *uid)
            .or_else(|| {
                answered
                    .keys()
                    .find(|uid| !proven.contains_key(uid))
                    .copied()
            });
        match differs {
            None => Ok(()),
            Some(uid) => Err(ChainError::Integrity {
                what: format!("NeuronInfoRuntimeApi_get_neurons_lite uid {uid}"),
                block: hex0x(&at),
                url: self.url.clone(),
                reason: format!(
                    "the runtime API pairs uid {uid} with {}, the proven Keys with {}",
                    answered.get(&uid).copied().unwrap_or("no hotkey"),
                    proven.get(&uid).map(String::as_str).unwrap_or("no hotkey"),
                ),
            }),
        }
    }

    /// `(uid, hotkey)` for every uid below `SubnetworkN` that `Keys` holds,
    /// read at `at` in two batches.
    async fn uid_hotkeys(
        &self,
        netuid: u16,
        at: Option<BlockHash>,
    ) -> Result<Vec<(u16, [u8; 32])>, ChainError> {
        let n = self
            .storage_value::<u16>(&runtime::SUBNETWORK_N, &[part(netuid)], at)
            .await?
            .unwrap_or(0);
        let keys = (0..n)
            .map(|uid| storage::key(&runtime::KEYS, &[part(netuid), part(uid)]))
            .collect::<Result<Vec<_>, _>>()?;
        let values = self.read(runtime::KEYS.name, &keys, at).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (uid, key) in (0..n).zip(&keys) {
            if let Some(bytes) = values.get(key).cloned().flatten() {
                let hotkey: [u8; 32] =
                    decode_all(&bytes).map_err(|e| self.decode(runtime::KEYS.name, e))?;
                out.push((uid, hotkey));
            }
        }
        Ok(out)
    }

    /// The same facts from `Keys`, `Owner`, `Incentive` and `LastUpdate`
    /// (no stake or permit there: stake 0, permit false).
    pub async fn metagraph_from_storage(
        &self,
        netuid: u16,
        at: Option<BlockHash>,
    ) -> Result<Vec<Neuron>, ChainError> {
        let at = Some(self.pinned(at).await?);
        let incentive = self
            .storage_value::<Vec<u16>>(&runtime::INCENTIVE, &[part(netuid)], at)
            .await?
            .unwrap_or_default();
        let last_update = self
            .storage_value::<Vec<u64>>(&runtime::LAST_UPDATE, &[part(netuid)], at)
            .await?
            .unwrap_or_default();
        let hotkeys = self.uid_hotkeys(netuid, at).await?;
        let owner_keys = hotkeys
            .iter()
            .map(|(_, hotkey)| storage::key(&runtime::OWNER, &[part(*hotkey)]))
            .collect::<Result<Vec<_>, _>>()?;
        let owners = self.read(runtime::OWNER.name, &owner_keys, at).await?;
        let mut neurons = Vec::with_capacity(hotkeys.len());
        for ((uid, hotkey), owner_key) in hotkeys.into_iter().zip(&owner_keys) {
            let coldkey = match owners.get(owner_key).cloned().flatten() {
                Some(bytes) => decode_all::<[u8; 32]>(&bytes)
                    .map_err(|e| self.decode(runtime::OWNER.name, e))?,
                None => [0; 32],
            };
            neurons.push(Neuron {
                uid,
                hotkey: ss58(&hotkey),
                coldkey: ss58(&coldkey),
                incentive: incentive.get(usize::from(uid)).copied().unwrap_or(0),
                stake_rao: 0,
                last_update: last_update.get(usize::from(uid)).copied().unwrap_or(0),
                validator_permit: false,
            });
        }
        Ok(neurons)
    }

    /// The uid of `hotkey` (SS58) on `netuid`, if registered.
    pub async fn uid_of(&self, netuid: u16, hotkey: &str) -> Result<Option<u16>, ChainError> {
        let key = public_key(hotkey).map_err(|e| ChainError::Usage(e.to_string()))?;
        self.storage_value::<u16>(&runtime::UIDS, &[part(netuid), part(key)], None)
            .await
    }

    /// The block of `uid`'s last weights.
    pub async fn last_update(&self, netuid: u16, uid: u16) -> Result<Option<u64>, ChainError> {
        self.last_update_at(netuid, uid, None).await
    }

    /// The block of `uid`'s last weights as of block `at` (the best block
    /// when `None`): what proves a transaction in `at` set them.
    pub async fn last_update_at(
        &self,
        netuid: u16,
        uid: u16,
        at: Option<BlockHash>,
    ) -> Result<Option<u64>, ChainError> {
        Ok(self
            .storage_value::<Vec<u64>>(&runtime::LAST_UPDATE, &[part(netuid)], at)
            .await?
            .and_then(|v| v.get(usize::from(uid)).copied()))
    }

    /// Blocks between two weight settings of one validator.
    pub async fn weights_rate_limit(&self, netuid: u16) -> Result<u64, ChainError> {
        Ok(self
            .storage_value::<u64>(&runtime::WEIGHTS_SET_RATE_LIMIT, &[part(netuid)], None)
            .await?
            .unwrap_or(0))
    }

    /// Whether weights must go through commit-reveal on `netuid`.
    pub async fn commit_reveal_enabled(&self, netuid: u16) -> Result<bool, ChainError> {
        Ok(self
            .storage_value::<bool>(
                &runtime::COMMIT_REVEAL_WEIGHTS_ENABLED,
                &[part(netuid)],
                None,
            )
            .await?
            .unwrap_or(false))
    }

    /// The weights `uid` set on `netuid`: `(dest uid, weight)`.
    pub async fn weights(&self, netuid: u16, uid: u16) -> Result<Vec<(u16, u16)>, ChainError> {
        self.weights_at(netuid, uid, None).await
    }

    /// The weights `uid` had set on `netuid` as of block `at` (the head
    /// when `None`).
    pub async fn weights_at(
        &self,
        netuid: u16,
        uid: u16,
        at: Option<BlockHash>,
    ) -> Result<Vec<(u16, u16)>, ChainError> {
        Ok(self
            .storage_value::<Vec<(u16, u16)>>(&runtime::WEIGHTS, &[part(netuid), part(uid)], at)
            .await?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::is_pruned;

    #[test]
    fn only_substrates_state_discarded_answer_means_pruned() {
        assert!(is_pruned(
            "Client error: State already discarded for 0xabcd"
        ));
        for other in [
            "request pruned by rate limiter",
            "Client error: UnknownBlock: Header was not found in the database",
            "unknown block",
            "pruned",
        ] {
            assert!(!is_pruned(other), "{other:?} read as pruned");
        }
    }
}
