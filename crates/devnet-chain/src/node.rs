//! The node's lifecycle: serving on a port, the switches tests turn, and
//! restarting under connected clients.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use drand_tlock::Beacon;

use jsonrpsee::server::{Server, ServerHandle};

use crate::beacon::unix_now;
use crate::error::{account_of, NodeError};
use crate::genesis::{ChainGenesis, CommitRevealGenesis};
use crate::rpc::rpc_module;
use crate::state::{lock, Shared, State};

/// A running simulated node.
pub struct ChainNode {
    addr: SocketAddr,
    state: Shared,
    handle: Option<ServerHandle>,
    producer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ChainNode {
    /// Serves `genesis` on `addr` (port 0 for an ephemeral one).
    pub async fn start(genesis: &ChainGenesis, addr: SocketAddr) -> Result<ChainNode, NodeError> {
        let state = Arc::new(Mutex::new(State::new(genesis)?));
        let mut node = ChainNode {
            addr,
            state,
            handle: None,
            producer: Mutex::new(None),
        };
        node.serve().await?;
        Ok(node)
    }

    async fn serve(&mut self) -> Result<(), NodeError> {
        let server =
            Server::builder()
                .build(self.addr)
                .await
                .map_err(|source| NodeError::Listen {
                    addr: self.addr,
                    source,
                })?;
        self.addr = server.local_addr().map_err(|source| NodeError::Listen {
            addr: self.addr,
            source,
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
        lock(&self.state).head()
    }

    /// Commits `sha256` for `hotkey` at `block` (the head moves up to it;
    /// a block at or below the head rewrites history, as a test's setup).
    pub fn commit(&self, hotkey: &str, block: u32, sha256: [u8; 32]) -> Result<(), NodeError> {
        let account = account_of(hotkey)?;
        lock(&self.state).commit(account, block, sha256);
        Ok(())
    }

    /// The hash of block `number` (the hash of its header), if the node
    /// has the block.
    pub fn block_hash(&self, number: u32) -> Option<[u8; 32]> {
        let state = lock(&self.state);
        (number <= state.head()).then(|| state.block_hash(number))
    }

    /// Produces `blocks` empty blocks now: each stores the beacon pulses
    /// published by now and runs the reveal loop while commits wait.
    pub fn advance(&self, blocks: u32) {
        lock(&self.state).advance(blocks, unix_now());
    }

    /// Produces a block every `every` until the node is dropped, so
    /// chain time moves by itself (beacon rounds follow the clock).
    pub fn produce_blocks(&self, every: Duration) {
        let state = Arc::downgrade(&self.state);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            // After a stall (a loaded machine), go on from now instead of
            // catching up in a burst: a chain's blocks never come faster
            // than its block time, and a burst would outrun the beacon a
            // commit's reveal round was aimed at.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(state) = state.upgrade() else { return };
                lock(&state).advance(1, unix_now());
            }
        });
        let mut producer = self.producer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = producer.replace(task) {
            old.abort();
        }
    }

    /// The simulated drand beacon's public key, genesis (unix seconds of
    /// round 1) and period: what a client encrypts timelocked weights to.
    /// Its secret never leaves the node.
    pub fn beacon(&self) -> Beacon {
        lock(&self.state).beacon.public()
    }

    /// Answers as a pruned node for state older than `block`.
    pub fn prune_before(&self, block: u32) {
        lock(&self.state).pruned_before = block;
    }

    /// Turns commit-reveal weights on or off for the subnet, in a new
    /// block: with it on, `set_weights` fails with `CommitRevealEnabled`.
    pub fn set_commit_reveal(&self, enabled: bool) {
        let mut state = lock(&self.state);
        state.commit_reveal = enabled;
        state.settings_changed();
    }

    /// Sets tempo, reveal period and versions for timelocked weights, as
    /// the subnet owner and the runtime would; commits already queued stay
    /// under the epochs they were queued in. Lands in a new block.
    pub fn set_timelock(&self, timelock: CommitRevealGenesis) {
        let mut state = lock(&self.state);
        state.timelock_genesis = timelock;
        state.settings_changed();
    }

    /// Fault switch: the commitment of `hotkey` at `block` reads as absent
    /// (its read proofs too, so they no longer verify).
    pub fn withhold(&self, hotkey: &str, block: u32) -> Result<(), NodeError> {
        let account = account_of(hotkey)?;
        lock(&self.state).lies.withheld.insert((account, block));
        Ok(())
    }

    /// Fault switch (a lie told consistently): the hotkeys of uids `a` and
    /// `b` are answered swapped in `Keys`, `Uids`, the runtime API's
    /// neurons and the read proofs, so weights meant for one go to the
    /// other; headers stay the chain's. `None` tells the truth again.
    pub fn swap_keys(&self, uids: Option<(u16, u16)>) {
        lock(&self.state).lies.swapped_keys = uids;
    }

    /// Fault switch (a lie told consistently): `hotkey` reads as having
    /// committed `sha256` at `block`, a commitment the chain never saw, in
    /// storage and in read proofs; headers stay the chain's.
    pub fn forge_commitment(
        &self,
        hotkey: &str,
        block: u32,
        sha256: [u8; 32],
    ) -> Result<(), NodeError> {
        let account = account_of(hotkey)?;
        lock(&self.state)
            .lies
            .forged_commitments
            .insert((account, block), sha256);
        Ok(())
    }

    /// Fault switch (a lie told consistently): every read at block N
    /// answers the state of block N − `behind` (storage, proofs), and the
    /// header of N carries that block's state root, hiding what changed
    /// since; the header then no longer hashes to N's hash. `None` undoes.
    pub fn serve_stale_root(&self, behind: Option<u32>) {
        lock(&self.state).lies.stale_root = behind.filter(|b| *b > 0);
    }

    /// Fault switch (no lie): a block is produced before each request is
    /// answered, as by a chain fast beside a slow client, so two reads of
    /// the head never see one block.
    pub fn block_per_request(&self, on: bool) {
        lock(&self.state).block_per_request = on;
    }

    /// Starts (`true`) or stops recording the block each state query is
    /// answered at; returns what was recorded since the last call and
    /// empties it. A test's eye on the client, not a fault.
    pub fn record_reads(&self, on: bool) -> Vec<u32> {
        let mut state = lock(&self.state);
        let recorded = state.reads.take().unwrap_or_default();
        state.reads = on.then(Vec::new);
        recorded
    }

    /// Fault switch: every transaction submitted from now on has one bit
    /// of its signature flipped before the pool checks it, as by a
    /// tampering proxy; the pool refuses it as a bad signature.
    pub fn tamper_signatures(&self, on: bool) {
        lock(&self.state).tamper_signatures = on;
    }

    /// Fault switch: transactions submitted from now on are admitted to
    /// the pool and answered `ready`, then never included (a stalled
    /// node); [`Self::release_stalled`] includes them later.
    pub fn stall_inclusion(&self, on: bool) {
        lock(&self.state).stall_inclusion = on;
    }

    /// Includes what the stall switch held, each in a new block (those no
    /// longer valid are dropped); returns how many were included.
    pub fn release_stalled(&self) -> usize {
        lock(&self.state).release_stalled()
    }

    /// Fault switch: a submitted transaction is answered `inBlock` with a
    /// new block that does not hold it, and is dropped (a lying node).
    pub fn fake_inclusion(&self, on: bool) {
        lock(&self.state).fake_inclusion = on;
    }

    /// Fault switch: as [`Self::fake_inclusion`], and the named block's
    /// body and events claim the transaction succeeded; nothing of it is
    /// applied (`Weights`, `LastUpdate` and the nonce stay).
    pub fn forge_inclusion(&self, on: bool) {
        lock(&self.state).forge_inclusion = on;
    }

    /// Fault switch: every key of `item` holds one byte that decodes as no
    /// type (malformed SCALE), in the chain's state itself, so reads and
    /// their proofs agree on it; `false` undoes. Rewrites history: block
    /// hashes given out before no longer match their headers.
    pub fn garble_storage(&self, item: &subtensor::runtime::StorageItem, on: bool) {
        lock(&self.state).garble(subtensor::storage::prefix(item), on);
    }

    /// Transactions submitted so far, accepted or refused: how a test
    /// tells a retry from a single try.
    pub fn submissions(&self) -> u64 {
        lock(&self.state).submissions
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
        let producer = self
            .producer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(producer) = producer.take() {
            producer.abort();
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.stop();
        }
    }
}
