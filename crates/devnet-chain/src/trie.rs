//! The state trie: the node's storage at a block laid out as Substrate
//! keeps it (layout V1, blake2-256), so a header carries a real state root
//! and `state_getReadProof` answers with nodes a client checks on its own
//! (`subtensor::proof`). The storage is derived per block, so a block's
//! trie is built on demand from every key it holds; the last few are kept,
//! as a sync reads hash, header and proof of one block in a row.

use std::sync::Arc;

use subtensor::proof::StateTrie;

use crate::state::State;

impl State {
    /// The trie of the chain's state at `block`.
    pub(crate) fn trie(&self, block: u32) -> Arc<StateTrie> {
        if let Some(trie) = self.hashes.trie(block) {
            return trie;
        }
        let trie = Arc::new(StateTrie::new(self.entries_at(block)));
        self.hashes.keep_trie(block, trie.clone());
        trie
    }

    /// The state root of `block`: what its header carries.
    pub(crate) fn state_root(&self, block: u32) -> [u8; 32] {
        self.trie(block).root()
    }
}
