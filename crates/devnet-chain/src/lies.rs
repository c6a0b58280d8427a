//! The fault switches that make the node lie about its state, and what
//! it then answers. A lie is told consistently: `state_getStorage`, the
//! runtime API, the keys listed and the read proofs all carry it, so a
//! client that only cross-checks the node's answers with each other is
//! fooled. Headers and block hashes stay the chain's (the blocks every
//! other node agrees on), so a proof built from the lie does not verify
//! against the header's state root, and a header made to fit the lie does
//! not hash to the block: only a client that proves its reads catches it.

use std::collections::BTreeSet;

use parity_scale_codec::{Decode, Encode};
use subtensor::codec::{NeuronInfoLite, Registration};
use subtensor::proof::{Header, StateTrie};
use subtensor::runtime;
use subtensor::storage::{key, part, prefix};

use crate::state::State;

impl State {
    /// The block whose state the node answers with for `block`.
    fn served_block(&self, block: u32) -> u32 {
        block.saturating_sub(self.lies.stale_root.unwrap_or(0))
    }

    /// The value the node answers under `key_bytes` at `block`.
    pub(crate) fn served(&self, key_bytes: &[u8], block: u32) -> Option<Vec<u8>> {
        if !self.lies.any() {
            return self.storage(key_bytes, block);
        }
        let block = self.served_block(block);
        if let Some(value) = self.swapped(key_bytes, block) {
            return value;
        }
        let value = if self.lies.forged_commitments.is_empty() {
            self.storage(key_bytes, block)
        } else {
            let mut commitments = self.commitments.clone();
            commitments.extend(&self.lies.forged_commitments);
            self.storage_with(key_bytes, block, &commitments)
        };
        value.filter(|v| !self.is_withheld(key_bytes, v))
    }

    /// Under the swap switch, `Keys` and `Uids` of the two uids: `Some`
    /// when `key_bytes` is one of them.
    fn swapped(&self, key_bytes: &[u8], block: u32) -> Option<Option<Vec<u8>>> {
        let (a, b) = self.lies.swapped_keys?;
        let netuid = part(self.netuid);
        let keys_of = |uid: u16| key(&runtime::KEYS, &[netuid.clone(), part(uid)]).ok();
        if keys_of(a).as_deref() == Some(key_bytes) {
            return Some(self.storage(&keys_of(b)?, block));
        }
        if keys_of(b).as_deref() == Some(key_bytes) {
            return Some(self.storage(&keys_of(a)?, block));
        }
        let uids = [prefix(&runtime::UIDS), netuid].concat();
        if key_bytes.starts_with(&uids) {
            let value = self.storage(key_bytes, block)?;
            let uid = u16::decode(&mut value.as_slice()).ok()?;
            let lie = if uid == a {
                b
            } else if uid == b {
                a
            } else {
                uid
            };
            return Some(Some(lie.encode()));
        }
        None
    }

    /// Whether `value` under `key_bytes` is a withheld commitment.
    fn is_withheld(&self, key_bytes: &[u8], value: &[u8]) -> bool {
        if self.lies.withheld.is_empty() || !key_bytes.starts_with(&prefix(&runtime::COMMITMENT_OF))
        {
            return false;
        }
        let Some(account) = key_bytes
            .last_chunk::<32>()
            .copied()
            .filter(|_| key_bytes.len() >= 32)
        else {
            return false;
        };
        Registration::decode(&mut &value[..])
            .is_ok_and(|r| self.lies.withheld.contains(&(account, r.block)))
    }

    /// The proof nodes the node answers for `keys` at `block`: from the
    /// trie of what it serves, which is the chain's own unless it lies.
    pub(crate) fn served_proof(&self, block: u32, keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let served_block = self.served_block(block);
        if self.tells_only_stale() {
            return self.trie(served_block).trie.prove(keys);
        }
        // The chain's keys, and those only a forged commitment fills.
        let mut candidates: BTreeSet<Vec<u8>> = self
            .keys(served_block, &[], None, usize::MAX)
            .into_iter()
            .collect();
        let netuid = part(self.netuid);
        candidates.extend(
            self.lies
                .forged_commitments
                .keys()
                .filter_map(|(account, _)| {
                    key(&runtime::COMMITMENT_OF, &[netuid.clone(), part(*account)]).ok()
                }),
        );
        let entries = candidates
            .into_iter()
            .filter_map(|k| self.served(&k, block).map(|v| (k, v)));
        StateTrie::new(entries).prove(keys)
    }

    /// Whether what the node serves is some block's true state.
    fn tells_only_stale(&self) -> bool {
        self.lies.withheld.is_empty()
            && self.lies.swapped_keys.is_none()
            && self.lies.forged_commitments.is_empty()
    }

    /// The header the node answers for `block`: under the stale switch,
    /// with the older block's state root (it no longer hashes to the
    /// block's hash).
    pub(crate) fn served_header(&self, block: u32) -> Header {
        let mut header = self.header(block);
        if self.lies.stale_root.is_some() {
            header.state_root = sp_core::H256(self.state_root(self.served_block(block)));
        }
        header
    }

    /// [`State::served_header`] as JSON; the block's hash is remembered
    /// first, so a client that hashes a header it was sent finds the block.
    pub(crate) fn served_header_json(&self, block: u32) -> serde_json::Value {
        self.block_hash(block);
        crate::state::header_json(&self.served_header(block))
    }

    /// The neurons the runtime API answers: under the swap switch, with
    /// the two uids' hotkeys swapped.
    pub(crate) fn served_neurons(&self) -> Vec<NeuronInfoLite> {
        let mut neurons = self.neurons_lite();
        if let Some((a, b)) = self.lies.swapped_keys {
            let find = |uid: u16, n: &[NeuronInfoLite]| n.iter().position(|x| x.uid.0 == uid);
            if let (Some(i), Some(j)) = (find(a, &neurons), find(b, &neurons)) {
                let hotkey = neurons[i].hotkey;
                neurons[i].hotkey = neurons[j].hotkey;
                neurons[j].hotkey = hotkey;
            }
        }
        neurons
    }
}
