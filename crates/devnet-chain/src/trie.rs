//! The state trie: the node's storage at a block laid out as Substrate
//! keeps it (layout V1, blake2-256), so a header carries a real state root
//! and `state_getReadProof` answers with nodes a client checks on its own
//! (`subtensor::proof`). The storage is derived per block, so the trie is
//! built on demand from every key the block holds.

use crate::state::State;

impl State {
    /// Every `(key, value)` the state holds at `block`.
    fn entries_at(&self, block: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.keys(block, &[], None, usize::MAX)
            .into_iter()
            .filter_map(|key| self.storage(&key, block).map(|value| (key, value)))
            .collect()
    }

    /// The state root of `block`: what its header carries.
    pub(crate) fn state_root(&self, block: u32) -> [u8; 32] {
        subtensor::proof::prove(self.entries_at(block), &[]).0
    }

    /// The trie nodes that prove `keys` (present or absent) at `block`.
    pub(crate) fn read_proof(&self, block: u32, keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
        subtensor::proof::prove(self.entries_at(block), keys).1
    }
}
