//! The chain's state: what every storage item holds as of a block, which
//! keys exist then, and the headers. Everything is versioned by block: a
//! read at block N answers the same however the head moves later (only a
//! test's [`State::commit`] into the past rewrites history).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use subtensor::codec::{CommitmentInfo, Data};
use subtensor::commit_reveal::TimelockedCommit;
use subtensor::runtime::{self, StorageItem};
use subtensor::storage::{key, part, prefix};
use subtensor::Registration;
use tokio::sync::watch;

use crate::beacon::{unix_now, DevBeacon};
use crate::error::{account_of, NodeError};
use crate::genesis::{self, ChainGenesis, CommitRevealGenesis, GenesisNeuron};
use crate::hashes::Hashes;
use crate::metadata::{self, frame_system};

/// The state behind every connection.
pub(crate) type Shared = Arc<Mutex<State>>;

/// The state, also after a handler panicked while holding it.
pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered neuron with its keys decoded.
pub(crate) struct Account {
    pub(crate) uid: u16,
    pub(crate) hotkey: [u8; 32],
    pub(crate) coldkey: [u8; 32],
    pub(crate) neuron: GenesisNeuron,
}

/// The epoch queues and the stored pulses, with their history so a read
/// at an old block sees them as they were.
#[derive(Default)]
pub(crate) struct Timelock {
    /// `epoch → commits`, as of the head.
    pub(crate) queues: BTreeMap<u64, Vec<TimelockedCommit>>,
    /// Snapshots of `queues`, by the block from which each holds.
    pub(crate) history: BTreeMap<u32, BTreeMap<u64, Vec<TimelockedCommit>>>,
    /// `round → (block stored at, signature)`.
    pub(crate) pulses: BTreeMap<u64, (u32, Vec<u8>)>,
}

/// What the node lies about.
#[derive(Debug, Default)]
pub(crate) struct Lies {
    /// `(account, block)`: that commitment reads as absent.
    pub(crate) withheld: HashSet<([u8; 32], u32)>,
    /// Two uids whose hotkeys (`Keys`, `Uids`, the runtime API) are
    /// answered swapped: weights meant for one land on the other.
    pub(crate) swapped_keys: Option<(u16, u16)>,
    /// `(account, block) → sha256`: commitments the chain never saw,
    /// answered as if made at that block.
    pub(crate) forged_commitments: BTreeMap<([u8; 32], u32), [u8; 32]>,
    /// Answer for block N the state of block N − this, under a header
    /// whose state root is that older block's (hiding what changed since).
    pub(crate) stale_root: Option<u32>,
}

impl Lies {
    /// Whether any switch is on.
    pub(crate) fn any(&self) -> bool {
        !self.withheld.is_empty()
            || self.swapped_keys.is_some()
            || !self.forged_commitments.is_empty()
            || self.stale_root.is_some()
    }
}

/// Everything the node knows; storage values are derived from it per block.
pub(crate) struct State {
    pub(crate) netuid: u16,
    pub(crate) neurons: Vec<Account>,
    pub(crate) weights_rate_limit: u64,
    pub(crate) commit_reveal: bool,
    /// Tempo, reveal period and versions for timelocked weights.
    pub(crate) timelock_genesis: CommitRevealGenesis,
    /// The commit queues and beacon pulses.
    pub(crate) timelock: Timelock,
    /// The simulated drand beacon.
    pub(crate) beacon: DevBeacon,
    /// `(block, uid)`: timelocked commits, which move `LastUpdate`.
    pub(crate) commit_updates: Vec<(u32, u16)>,
    /// The best (and finalized) block; moved only by [`State::set_head`].
    head: u32,
    /// Tells header subscriptions that the head moved.
    heads: watch::Sender<u32>,
    /// `(account, block) → sha256`.
    pub(crate) commitments: BTreeMap<([u8; 32], u32), [u8; 32]>,
    /// Fault switches that make the node's answers lie about its state.
    pub(crate) lies: Lies,
    /// Fault switch: the chain holds, under these key prefixes, a byte no
    /// type decodes from (as after a runtime upgrade the client does not
    /// know): proofs verify, decoding fails.
    garbled: Vec<Vec<u8>>,
    pub(crate) pruned_before: u32,
    /// Fault switch: flip a bit of every submitted signature.
    pub(crate) tamper_signatures: bool,
    /// Fault switch: produce a block before answering each request.
    pub(crate) block_per_request: bool,
    /// While recording: the block each state query was answered at, in
    /// arrival order (how a test sees whether a client's reads of one
    /// answer share a block).
    pub(crate) reads: Option<Vec<u32>>,
    /// Transactions submitted so far, accepted or not.
    pub(crate) submissions: u64,
    /// Fault switch: admit transactions to the pool, answer `ready`, and
    /// never include them (until released).
    pub(crate) stall_inclusion: bool,
    /// What the stall switch holds, encoded, in arrival order.
    pub(crate) stalled: Vec<Vec<u8>>,
    /// Fault switch: answer a submission with a new block that does not
    /// hold it, and drop it.
    pub(crate) fake_inclusion: bool,
    /// Fault switch: as `fake_inclusion`, with the block's body and events
    /// claiming the transaction succeeded, while the state never changes.
    pub(crate) forge_inclusion: bool,
    /// The values no transaction changes, from the block they hold on:
    /// a switch of the subnet's settings lands in a new block.
    fixed: BTreeMap<u32, HashMap<Vec<u8>, Vec<u8>>>,
    /// The dev accounts, endowed at genesis.
    dev_accounts: Vec<[u8; 32]>,
    /// Per account that has sent a transaction: its next nonce from each
    /// block it moved at.
    nonces: HashMap<[u8; 32], BTreeMap<u32, u32>>,
    /// Weights set, in block order.
    pub(crate) weights_set: Vec<WeightsSet>,
    /// Blocks that hold a transaction: its bytes and the block's events.
    pub(crate) bodies: BTreeMap<u32, BlockBody>,
    /// The served metadata (V14), built once.
    pub(crate) metadata: Vec<u8>,
    /// Block hashes and state tries computed so far.
    pub(crate) hashes: Hashes,
}

/// `(block, uid, [(dest, weight)])`: weights a neuron set at a block.
pub(crate) type WeightsSet = (u32, u16, Vec<(u16, u16)>);

/// A block that holds a transaction.
pub(crate) struct BlockBody {
    pub(crate) extrinsics: Vec<Vec<u8>>,
    pub(crate) events: Vec<u8>,
}

/// The parent hash block `n`'s header carries: the node keeps no chain
/// of its history (a world starts millions of blocks in), so it names the
/// parent by number, deterministically; the block's own hash is the real
/// hash of its header ([`State::block_hash`]).
fn parent_hash(n: u32) -> [u8; 32] {
    match n.checked_sub(1) {
        None => [0; 32],
        Some(parent) => sp_core::hashing::blake2_256(
            &[b"chutes-audit devnet".as_slice(), &parent.to_le_bytes()].concat(),
        ),
    }
}

/// Bytes as JSON-RPC carries them.
pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A JSON-RPC error without data.
pub(crate) fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

impl State {
    /// The state at genesis; fails on an address that is not SS58.
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
            timelock_genesis: genesis.timelock,
            timelock: Timelock::default(),
            beacon: DevBeacon::new(unix_now()),
            commit_updates: Vec::new(),
            head,
            heads: watch::Sender::new(head),
            commitments,
            lies: Lies::default(),
            garbled: Vec::new(),
            pruned_before: 0,
            tamper_signatures: false,
            block_per_request: false,
            reads: None,
            submissions: 0,
            stall_inclusion: false,
            stalled: Vec::new(),
            fake_inclusion: false,
            forge_inclusion: false,
            fixed: BTreeMap::new(),
            dev_accounts: genesis::dev_accounts(),
            nonces: HashMap::new(),
            weights_set: Vec::new(),
            bodies: BTreeMap::new(),
            metadata: metadata::metadata_bytes(),
            hashes: Hashes::default(),
        };
        let fixed = state.fixed_storage();
        state.fixed.insert(0, fixed);
        state.on_initialize(head, unix_now());
        state.snapshot_queues(head);
        Ok(state)
    }

    /// The best block.
    pub(crate) fn head(&self) -> u32 {
        self.head
    }

    /// Moves the head to `block` (never back) and tells header
    /// subscribers.
    pub(crate) fn set_head(&mut self, block: u32) {
        self.head = self.head.max(block);
        self.heads.send_replace(self.head);
    }

    /// A receiver of head moves, for a header subscription.
    pub(crate) fn watch_heads(&self) -> watch::Receiver<u32> {
        self.heads.subscribe()
    }

    /// The values no transaction changes, as of `block`.
    fn fixed_at(&self, block: u32) -> Option<&HashMap<Vec<u8>, Vec<u8>>> {
        self.fixed.range(..=block).next_back().map(|(_, f)| f)
    }

    /// Applies a change of the subnet's settings (already made to the
    /// fields) in a new block, as a sudo call would: earlier blocks keep
    /// the settings they had.
    pub(crate) fn settings_changed(&mut self) {
        self.advance(1, unix_now());
        let fixed = self.fixed_storage();
        self.fixed.insert(self.head, fixed);
    }

    /// Turns the garble switch on or off for keys under `prefix`. It
    /// rewrites every block's state, so what was computed is forgotten.
    pub(crate) fn garble(&mut self, prefix: Vec<u8>, on: bool) {
        self.garbled.retain(|p| *p != prefix);
        if on {
            self.garbled.push(prefix);
        }
        self.hashes.forget_from(0);
    }

    /// Commits `sha256` for `account` at `block`; the head moves up to it.
    /// A block at or below the head rewrites history (a test's setup), so
    /// what was computed from that block on is forgotten.
    pub(crate) fn commit(&mut self, account: [u8; 32], block: u32, sha256: [u8; 32]) {
        self.commitments.insert((account, block), sha256);
        self.hashes.forget_from(block);
        self.set_head(block);
    }

    /// The storage values a block's settings make.
    fn fixed_storage(&self) -> HashMap<Vec<u8>, Vec<u8>> {
        let netuid = part(self.netuid);
        let size = self.subnet_size();
        let mut incentive = vec![0u16; size];
        let mut out = HashMap::new();
        let mut put = |item: &StorageItem, parts: &[Vec<u8>], value: Vec<u8>| {
            // The parts are built for the item's hashers just above.
            if let Ok(k) = key(item, parts) {
                out.insert(k, value);
            }
        };
        for a in &self.neurons {
            if let Some(slot) = incentive.get_mut(usize::from(a.uid)) {
                *slot = a.neuron.incentive;
            }
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
        let cr = &self.timelock_genesis;
        let per_subnet = [
            (
                &runtime::WEIGHTS_VERSION_KEY,
                cr.weights_version_key.encode(),
            ),
            (&runtime::TEMPO, cr.tempo.encode()),
            (
                &runtime::REVEAL_PERIOD_EPOCHS,
                cr.reveal_period_epochs.encode(),
            ),
        ];
        for (item, value) in per_subnet {
            put(item, std::slice::from_ref(&netuid), value);
        }
        put(
            &runtime::COMMIT_REVEAL_WEIGHTS_VERSION,
            &[],
            cr.version.encode(),
        );
        out
    }

    /// The block a state query names (the head when absent), with the
    /// errors a Substrate node gives for an unknown block and for state
    /// it has pruned.
    pub(crate) fn block_at(&self, at: Option<[u8; 32]>) -> Result<u32, ErrorObjectOwned> {
        let Some(hash) = at else {
            return Ok(self.head);
        };
        let block = self.known_block(Some(hash)).ok_or_else(|| {
            error(
                4003,
                format!(
                    "Client error: UnknownBlock: Header was not found in the database: {}",
                    hex0x(&hash)
                ),
            )
        })?;
        if block < self.pruned_before {
            // The words a pruned Substrate node answers with.
            return Err(error(
                4003,
                format!("Client error: State already discarded for {}", hex0x(&hash)),
            ));
        }
        Ok(block)
    }

    /// [`State::block_at`] for a query that reads state: the block is
    /// logged while reads are recorded ([`crate::ChainNode::record_reads`]).
    pub(crate) fn read_at(&mut self, at: Option<[u8; 32]>) -> Result<u32, ErrorObjectOwned> {
        let block = self.block_at(at)?;
        if let Some(reads) = &mut self.reads {
            reads.push(block);
        }
        Ok(block)
    }

    /// The block a hash names (the head when absent), `None` for a hash
    /// the node does not know; pruning does not matter here, as headers
    /// outlive state on a real node.
    pub(crate) fn known_block(&self, at: Option<[u8; 32]>) -> Option<u32> {
        match at {
            None => Some(self.head),
            Some(hash) => self.hashes.block_of(&hash).filter(|n| *n <= self.head),
        }
    }

    /// The value under `key_bytes` as of `block`: the chain's truth, which
    /// the state root commits to ([`crate::lies`] serves what a lying node
    /// answers).
    pub(crate) fn storage(&self, key_bytes: &[u8], block: u32) -> Option<Vec<u8>> {
        self.storage_with(key_bytes, block, &self.commitments)
    }

    /// [`State::storage`] with `commitments` in place of the chain's own.
    pub(crate) fn storage_with(
        &self,
        key_bytes: &[u8],
        block: u32,
        commitments: &BTreeMap<([u8; 32], u32), [u8; 32]>,
    ) -> Option<Vec<u8>> {
        if key(&runtime::NUMBER, &[]).ok()? == key_bytes {
            return Some(block.encode());
        }
        if self.garbled.iter().any(|p| key_bytes.starts_with(p)) {
            // Only keys that hold a value are listed, so garbling adds none.
            return Some(vec![0xff]);
        }
        if let Some(value) = self.commitment(key_bytes, block, commitments) {
            return value;
        }
        if let Some(value) = self.dynamic_storage(key_bytes, block) {
            return value;
        }
        self.fixed_at(block)?.get(key_bytes).cloned()
    }

    /// `Commitments.CommitmentOf`: `Some(value)` when `key_bytes` names it.
    fn commitment(
        &self,
        key_bytes: &[u8],
        block: u32,
        commitments: &BTreeMap<([u8; 32], u32), [u8; 32]>,
    ) -> Option<Option<Vec<u8>>> {
        let rest = key_bytes.strip_prefix(prefix(&runtime::COMMITMENT_OF).as_slice())?;
        // Identity(netuid) ++ Twox64Concat(account).
        let (netuid, rest) = rest.split_first_chunk::<2>()?;
        let account: [u8; 32] = rest.get(8..)?.try_into().ok()?;
        if u16::from_le_bytes(*netuid) != self.netuid {
            return Some(None);
        }
        // The latest commitment at or before `block`: CommitmentOf keeps one.
        let Some((&(_, committed_at), sha)) = commitments
            .range((account, 0)..=(account, block))
            .next_back()
        else {
            return Some(None);
        };
        let registration = Registration {
            deposit: 0,
            block: committed_at,
            info: CommitmentInfo {
                fields: vec![Data::Sha256(*sha)],
            },
        };
        Some(Some(registration.encode()))
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
        if let Some(uid) = key_bytes.strip_prefix(weights_prefix.as_slice()) {
            let uid = u16::from_le_bytes(uid.try_into().ok()?);
            let weights = self
                .weights_set
                .iter()
                .rev()
                .find(|(at, u, _)| *at <= block && *u == uid)
                .map(|(_, _, w)| w.encode());
            return Some(weights);
        }
        if let Some(value) = self.timelock_storage(key_bytes, block) {
            return Some(value);
        }
        let account_prefix = prefix(&runtime::ACCOUNT);
        if let Some(rest) = key_bytes.strip_prefix(account_prefix.as_slice()) {
            // Blake2_128Concat(account).
            let account: [u8; 32] = rest.get(16..)?.try_into().ok()?;
            return Some(self.account_info(&account, block).map(|info| info.encode()));
        }
        None
    }

    /// The commit queues and the `Drand` items: `Some(value)` when
    /// `key_bytes` names one.
    fn timelock_storage(&self, key_bytes: &[u8], block: u32) -> Option<Option<Vec<u8>>> {
        if key_bytes == key(&runtime::DRAND_LAST_STORED_ROUND, &[]).ok()? {
            return Some(Some(self.last_stored_round(block).encode()));
        }
        if let Some(rest) = key_bytes.strip_prefix(prefix(&runtime::DRAND_PULSES).as_slice()) {
            // Blake2_128Concat(round).
            let round = u64::from_le_bytes(rest.get(16..)?.try_into().ok()?);
            let exact = key(&runtime::DRAND_PULSES, &[part(round)]).ok()? == key_bytes;
            return Some(
                exact
                    .then(|| self.pulse(round, block))
                    .flatten()
                    .map(|p| p.encode()),
            );
        }
        let queues = prefix(&runtime::TIMELOCKED_WEIGHT_COMMITS);
        if let Some(rest) = key_bytes.strip_prefix(queues.as_slice()) {
            // Twox64Concat(netuid) ++ Twox64Concat(epoch).
            let epoch = u64::from_le_bytes(rest.get(18..)?.try_into().ok()?);
            let parts = [part(self.netuid), part(epoch)];
            let exact = key(&runtime::TIMELOCKED_WEIGHT_COMMITS, &parts).ok()? == key_bytes;
            return Some(
                exact
                    .then(|| self.queue(epoch, block))
                    .flatten()
                    .map(|q| q.encode()),
            );
        }
        None
    }

    /// `System.Account` as of `block` of an account the chain knows then:
    /// a neuron's key, a sender, or a dev account (endowed).
    fn account_info(&self, account: &[u8; 32], block: u32) -> Option<frame_system::AccountInfo> {
        let dev = self.dev_accounts.contains(account);
        let sent = self
            .nonces
            .get(account)
            .is_some_and(|moves| moves.range(..=block).next().is_some());
        let known = dev
            || sent
            || self
                .neurons
                .iter()
                .any(|a| a.hotkey == *account || a.coldkey == *account);
        known.then(|| frame_system::AccountInfo {
            nonce: self.nonce_at(account, block),
            providers: 1,
            data: frame_system::AccountData {
                free: if dev { genesis::DEV_ENDOWMENT_RAO } else { 0 },
                ..Default::default()
            },
            ..Default::default()
        })
    }

    /// Up to `count` keys under `prefix` that hold a value at `block`,
    /// after `after` (not including it), in key order as a Substrate node
    /// orders them: candidates per item, kept when [`State::storage`] has
    /// a value, so listing and reading agree. Only the page's candidates
    /// are read.
    pub(crate) fn keys(
        &self,
        block: u32,
        prefix: &[u8],
        after: Option<&[u8]>,
        count: usize,
    ) -> Vec<Vec<u8>> {
        self.candidate_keys(block)
            .into_iter()
            .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_slice() > a))
            .filter(|k| self.storage(k, block).is_some())
            .take(count)
            .collect()
    }

    /// Every `(key, value)` the chain holds at `block`, each value read
    /// once: what its state trie holds.
    pub(crate) fn entries_at(&self, block: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.candidate_keys(block)
            .into_iter()
            .filter_map(|key| self.storage(&key, block).map(|value| (key, value)))
            .collect()
    }

    /// The keys that may hold a value at `block`, in key order: a
    /// superset of those that do.
    fn candidate_keys(&self, block: u32) -> BTreeSet<Vec<u8>> {
        let netuid = part(self.netuid);
        // A set: accounts recur (many commitments, hot and cold keys), and
        // each candidate costs a read.
        let mut candidates: BTreeSet<Vec<u8>> = self
            .fixed_at(block)
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default();
        let plain = [&runtime::NUMBER, &runtime::EVENTS];
        candidates.extend(plain.iter().filter_map(|item| key(item, &[]).ok()));
        candidates.extend(key(&runtime::LAST_UPDATE, std::slice::from_ref(&netuid)).ok());
        let accounts = self
            .neurons
            .iter()
            .flat_map(|a| [a.hotkey, a.coldkey])
            .chain(self.nonces.keys().copied())
            .chain(self.dev_accounts.iter().copied());
        candidates.extend(accounts.filter_map(|a| key(&runtime::ACCOUNT, &[part(a)]).ok()));
        candidates.extend(
            self.weights_set.iter().filter_map(|(_, uid, _)| {
                key(&runtime::WEIGHTS, &[netuid.clone(), part(*uid)]).ok()
            }),
        );
        candidates.extend(key(&runtime::DRAND_LAST_STORED_ROUND, &[]).ok());
        candidates.extend(
            self.pulse_rounds()
                .filter_map(|r| key(&runtime::DRAND_PULSES, &[part(r)]).ok()),
        );
        candidates.extend(self.queue_epochs().into_iter().filter_map(|e| {
            key(
                &runtime::TIMELOCKED_WEIGHT_COMMITS,
                &[netuid.clone(), part(e)],
            )
            .ok()
        }));
        candidates.extend(self.committers().into_iter().filter_map(|account| {
            key(&runtime::COMMITMENT_OF, &[netuid.clone(), part(account)]).ok()
        }));
        candidates
    }

    /// The accounts that ever committed, each once. The map holds every
    /// commitment (ten thousand in a generated week) keyed by account
    /// first: one look-up per account, not a walk over all of them, which
    /// the node did for every block it derived a trie of.
    fn committers(&self) -> Vec<[u8; 32]> {
        use std::ops::Bound::{Excluded, Unbounded};
        let mut committers = Vec::new();
        let mut next = self.commitments.keys().next();
        while let Some(&(account, _)) = next {
            committers.push(account);
            next = self
                .commitments
                .range((Excluded((account, u32::MAX)), Unbounded))
                .next()
                .map(|(k, _)| k);
        }
        committers
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
        let mut out = vec![0u64; self.subnet_size()];
        let genesis = self.neurons.iter().map(|a| (a.uid, a.neuron.last_update));
        let set = self
            .weights_set
            .iter()
            .filter(|(at, _, _)| *at <= block)
            .map(|(at, uid, _)| (*uid, u64::from(*at)));
        let commits = self
            .commit_updates
            .iter()
            .filter(|(at, _)| *at <= block)
            .map(|(at, uid)| (*uid, u64::from(*at)));
        // LastUpdate only moves forward: the newest of genesis, weights
        // set (plain or revealed) and timelocked commits.
        for (uid, last) in genesis.chain(set).chain(commits) {
            if let Some(slot) = out.get_mut(usize::from(uid)) {
                *slot = (*slot).max(last);
            }
        }
        out
    }

    /// The next nonce of `account` (what the pool checks against).
    pub(crate) fn nonce(&self, account: &[u8; 32]) -> u32 {
        self.nonce_at(account, u32::MAX)
    }

    /// The next nonce of `account` as of `block`.
    pub(crate) fn nonce_at(&self, account: &[u8; 32], block: u32) -> u32 {
        self.nonces
            .get(account)
            .and_then(|moves| moves.range(..=block).next_back())
            .map_or(0, |(_, nonce)| *nonce)
    }

    /// `account` used its nonce in `block`.
    pub(crate) fn use_nonce(&mut self, account: [u8; 32], block: u32) {
        let next = self.nonce(&account).saturating_add(1);
        self.nonces.entry(account).or_default().insert(block, next);
    }

    /// Block `block`'s header as the chain holds it: the state root is
    /// the root of the block's state trie.
    pub(crate) fn header(&self, block: u32) -> subtensor::proof::Header {
        let extrinsics = self
            .bodies
            .get(&block)
            .map(|b| b.extrinsics.clone())
            .unwrap_or_default();
        subtensor::proof::Header {
            parent_hash: sp_core::H256(parent_hash(block)),
            number: block,
            state_root: sp_core::H256(self.state_root(block)),
            extrinsics_root: sp_core::H256(sp_core::hashing::blake2_256(&extrinsics.encode())),
            digest: Default::default(),
        }
    }

    /// The hash of block `block`: the hash of its header. Remembered, so
    /// the node knows the block a hash names.
    pub(crate) fn block_hash(&self, block: u32) -> [u8; 32] {
        if let Some(hash) = self.hashes.hash_of(block) {
            return hash;
        }
        let hash = subtensor::proof::header_hash(&self.header(block));
        self.hashes.remember(block, hash);
        hash
    }
}

/// A header shaped as Substrate serializes one.
pub(crate) fn header_json(header: &subtensor::proof::Header) -> Value {
    json!({
        "parentHash": hex0x(header.parent_hash.as_bytes()),
        "number": format!("0x{:x}", header.number),
        "stateRoot": hex0x(header.state_root.as_bytes()),
        "extrinsicsRoot": hex0x(header.extrinsics_root.as_bytes()),
        "digest": {"logs": []},
    })
}
