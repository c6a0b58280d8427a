//! Timelocked weights as the chain handles them (docs/spec/commit-reveal.md):
//! the pool's reveal-round check, the dispatch checks of
//! `commit_timelocked_weights` in the pallet's order, the epoch queues,
//! the beacon pulses each block stores, and the per-block reveal loop
//! that decrypts with the stored pulse and applies the weights as
//! `set_weights` would. Every reveal failure drops the commit silently,
//! as on finney.

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Decode;
use sp_runtime::{AccountId32, DispatchError};
use subtensor::commit_reveal::{epoch_of, Pulse, TimelockedCommit};
use subtensor::runtime;

use crate::metadata::{frame_system, pallet_subtensor, RuntimeEvent};
use crate::pallet::module_error;
use crate::state::State;

/// Most unrevealed commits one hotkey may have in an epoch's queue.
const MAX_UNREVEALED: usize = 10;

/// Most pulses one block stores: a node left idle catches up over a few
/// blocks instead of signing thousands of rounds at once.
const MAX_PULSES_PER_BLOCK: u64 = 64;

/// The plaintext of a commit, mirroring `WeightsTlockPayload` as the
/// chain declares it (this crate does not depend on the encryptor's).
#[derive(Decode)]
struct TlockPayload {
    hotkey: Vec<u8>,
    uids: Vec<u16>,
    values: Vec<u16>,
    version_key: u64,
}

fn event(phase: frame_system::Phase, e: pallet_subtensor::Event) -> frame_system::EventRecord {
    frame_system::EventRecord {
        phase,
        event: RuntimeEvent::SubtensorModule(e),
        topics: vec![],
    }
}

impl State {
    /// The pool's check: a reveal round older than the newest stored
    /// pulse is refused as `Custom(15)`, without using the nonce.
    pub(crate) fn pool_check_reveal_round(
        &self,
        reveal_round: u64,
    ) -> Result<(), ErrorObjectOwned> {
        if reveal_round < self.last_stored_round(self.head()) {
            return Err(ErrorObjectOwned::owned(
                1010,
                "Invalid Transaction",
                Some(format!("Custom error: {}", runtime::INVALID_REVEAL_ROUND)),
            ));
        }
        Ok(())
    }

    /// Dispatches `commit_timelocked_weights` at `block`, in the pallet's
    /// order of checks; on success queues it and returns event 101.
    pub(crate) fn commit_timelocked(
        &mut self,
        who: [u8; 32],
        (netuid, commit, reveal_round, version): (u16, &[u8], u64, u16),
        block: u32,
    ) -> Result<frame_system::EventRecord, DispatchError> {
        if netuid != self.netuid || !self.commit_reveal {
            return Err(module_error(runtime::ERR_COMMIT_REVEAL_DISABLED));
        }
        if version != self.timelock_genesis.version {
            return Err(module_error(runtime::ERR_INCORRECT_COMMIT_REVEAL_VERSION));
        }
        let uid = self
            .uid_of(&who)
            .ok_or_else(|| module_error(runtime::ERR_NOT_REGISTERED))?;
        let last = self
            .last_updates(block)
            .get(usize::from(uid))
            .copied()
            .unwrap_or(0);
        if last > 0 && u64::from(block).saturating_sub(last) < self.weights_rate_limit {
            return Err(module_error(runtime::ERR_COMMITTING_TOO_FAST));
        }
        let epoch = epoch_of(u64::from(block), netuid, self.timelock_genesis.tempo);
        let queue = self.timelock.queues.entry(epoch).or_default();
        if queue.iter().filter(|c| c.who == who).count() >= MAX_UNREVEALED {
            return Err(module_error(runtime::ERR_TOO_MANY_UNREVEALED));
        }
        queue.push(TimelockedCommit {
            who,
            commit_block: u64::from(block),
            commit: commit.to_vec(),
            reveal_round,
        });
        self.commit_updates.push((block, uid));
        Ok(event(
            frame_system::Phase::ApplyExtrinsic(0),
            pallet_subtensor::Event::TimelockedWeightsCommitted(
                AccountId32::from(who),
                netuid,
                sp_core::hashing::blake2_256(commit).into(),
                reveal_round,
            ),
        ))
    }

    /// What the chain does as block `block` starts at unix time `now`:
    /// stores the pulses published by then, then runs the reveal loop.
    /// Returns the reveal events.
    pub(crate) fn on_initialize(&mut self, block: u32, now: u64) -> Vec<frame_system::EventRecord> {
        self.store_pulses(block, now);
        self.reveal(block)
    }

    /// Records the queues as they stand from `block` on, when they moved.
    pub(crate) fn snapshot_queues(&mut self, block: u32) {
        let history = &mut self.timelock.history;
        if history.values().next_back() != Some(&self.timelock.queues) {
            history.insert(block, self.timelock.queues.clone());
        }
    }

    /// Whether any commit waits: blocks then must be produced one by one.
    pub(crate) fn commits_pending(&self) -> bool {
        !self.timelock.queues.is_empty()
    }

    fn store_pulses(&mut self, block: u32, now: u64) {
        let newest = self.beacon.public().round_at(now);
        let first = self.last_stored_round(u32::MAX).saturating_add(1);
        let last = newest.min(first.saturating_add(MAX_PULSES_PER_BLOCK - 1));
        for round in first..=last {
            if let Some(sig) = self.beacon.sign(round) {
                self.timelock
                    .pulses
                    .insert(round, (block, sig.to_bytes().to_vec()));
            }
        }
    }

    /// The reveal loop (docs/spec/commit-reveal.md, "How the chain reveals").
    fn reveal(&mut self, block: u32) -> Vec<frame_system::EventRecord> {
        let tempo = self.timelock_genesis.tempo;
        let epoch = epoch_of(u64::from(block), self.netuid, tempo);
        let Some(reveal_epoch) = epoch.checked_sub(self.timelock_genesis.reveal_period_epochs)
        else {
            return Vec::new();
        };
        // Older queues expired: their commits are lost.
        self.timelock.queues = self.timelock.queues.split_off(&reveal_epoch);
        let Some(queue) = self.timelock.queues.remove(&reveal_epoch) else {
            return Vec::new();
        };
        let mut kept = Vec::new();
        let mut events = Vec::new();
        for commit in queue {
            let Some((_, signature)) = self.timelock.pulses.get(&commit.reveal_round) else {
                kept.push(commit);
                continue;
            };
            let signature = signature.clone();
            if self.apply_reveal(&commit, &signature, block).is_some() {
                events.push(event(
                    frame_system::Phase::Initialization,
                    pallet_subtensor::Event::TimelockedWeightsRevealed(
                        self.netuid,
                        AccountId32::from(commit.who),
                    ),
                ));
            }
        }
        if !kept.is_empty() {
            self.timelock.queues.insert(reveal_epoch, kept);
        }
        events
    }

    /// Decrypts, decodes, checks and applies one commit; `None` drops it.
    fn apply_reveal(
        &mut self,
        commit: &TimelockedCommit,
        signature: &[u8],
        block: u32,
    ) -> Option<()> {
        let signature = drand_tlock::Signature::from_bytes(signature).ok()?;
        let plaintext = drand_tlock::decrypt(&commit.commit, &signature).ok()?;
        let payload = TlockPayload::decode(&mut plaintext.as_slice()).ok()?;
        // The chain decodes an AccountId from the hotkey bytes.
        let hotkey = AccountId32::decode(&mut payload.hotkey.as_slice()).ok()?;
        if <[u8; 32]>::from(hotkey) != commit.who
            || payload.version_key < self.timelock_genesis.weights_version_key
            || payload.uids.len() != payload.values.len()
        {
            return None;
        }
        let uid = self.uid_of(&commit.who)?;
        let stored = self.checked_weights(&payload.uids, &payload.values).ok()?;
        self.weights_set.push((block, uid, stored));
        Some(())
    }

    /// `Drand.LastStoredRound` as of `block` (0 before any pulse).
    pub(crate) fn last_stored_round(&self, block: u32) -> u64 {
        self.timelock
            .pulses
            .iter()
            .rev()
            .find(|(_, (at, _))| *at <= block)
            .map(|(round, _)| *round)
            .unwrap_or(0)
    }

    /// `Drand.Pulses[round]` as of `block`.
    pub(crate) fn pulse(&self, round: u64, block: u32) -> Option<Pulse> {
        let (at, signature) = self.timelock.pulses.get(&round)?;
        (*at <= block).then(|| Pulse {
            round,
            randomness: sp_core::hashing::sha2_256(signature).to_vec(),
            signature: signature.clone(),
        })
    }

    /// The rounds the node holds a pulse of, for key listings.
    pub(crate) fn pulse_rounds(&self) -> impl Iterator<Item = u64> + '_ {
        self.timelock.pulses.keys().copied()
    }

    /// `TimelockedWeightCommits[(netuid, epoch)]` as of `block`.
    pub(crate) fn queue(&self, epoch: u64, block: u32) -> Option<Vec<TimelockedCommit>> {
        let (_, queues) = self.timelock.history.range(..=block).next_back()?;
        queues.get(&epoch).filter(|q| !q.is_empty()).cloned()
    }

    /// Every epoch that has had a queue, for key listings.
    pub(crate) fn queue_epochs(&self) -> Vec<u64> {
        let mut epochs: Vec<u64> = self
            .timelock
            .history
            .values()
            .flat_map(|q| q.keys().copied())
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        epochs
    }
}
