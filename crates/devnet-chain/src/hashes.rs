//! The block hashes and state tries the node has computed and given
//! out: a cache behind the state's lock, filled by `trie.rs` and the
//! header code as blocks are read.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use subtensor::proof::StateTrie;

/// A block's trie with the entries it holds, to build a neighbour's
/// from (`trie.rs`).
pub(crate) struct BlockTrie {
    pub(crate) trie: StateTrie,
    pub(crate) entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// How many built tries are kept: a sync reads hash, header and proof of
/// one block in a row, eight entries at once, so fewer than a few dozen
/// made the node build a block's trie again for each of those reads.
const TRIES_KEPT: usize = 32;

/// Block hashes and tries computed so far. Behind the state's lock; a
/// cell, so reads (which take the state shared) can fill it.
#[derive(Default)]
pub(crate) struct Hashes(RefCell<Computed>);

#[derive(Default)]
struct Computed {
    by_block: HashMap<u32, [u8; 32]>,
    /// Every hash ever given out: a hash from before a test rewrote
    /// history still names its block (and its header no longer matches).
    blocks: HashMap<[u8; 32], u32>,
    tries: VecDeque<(u32, Arc<BlockTrie>)>,
}

impl Hashes {
    /// The hash of `block`, if computed.
    pub(crate) fn hash_of(&self, block: u32) -> Option<[u8; 32]> {
        self.0.borrow().by_block.get(&block).copied()
    }

    /// The block `hash` names, if the node gave it out.
    pub(crate) fn block_of(&self, hash: &[u8; 32]) -> Option<u32> {
        self.0.borrow().blocks.get(hash).copied()
    }

    /// Remembers `hash` as block `block`'s.
    pub(crate) fn remember(&self, block: u32, hash: [u8; 32]) {
        let mut computed = self.0.borrow_mut();
        computed.by_block.insert(block, hash);
        computed.blocks.insert(hash, block);
    }

    /// Forgets what was computed for `block` and later (their state
    /// changed).
    pub(crate) fn forget_from(&self, block: u32) {
        let mut computed = self.0.borrow_mut();
        computed.by_block.retain(|b, _| *b < block);
        computed.tries.retain(|(b, _)| *b < block);
    }

    pub(crate) fn trie(&self, block: u32) -> Option<Arc<BlockTrie>> {
        let computed = self.0.borrow();
        let (_, trie) = computed.tries.iter().find(|(b, _)| *b == block)?;
        Some(trie.clone())
    }

    /// The kept trie of the block nearest `block`: the one whose state
    /// differs least from it, to build `block`'s from.
    pub(crate) fn nearest_trie(&self, block: u32) -> Option<Arc<BlockTrie>> {
        let computed = self.0.borrow();
        let (_, trie) = computed
            .tries
            .iter()
            .min_by_key(|(b, _)| b.abs_diff(block))?;
        Some(trie.clone())
    }

    pub(crate) fn keep_trie(&self, block: u32, trie: Arc<BlockTrie>) {
        let mut computed = self.0.borrow_mut();
        if computed.tries.len() >= TRIES_KEPT {
            computed.tries.pop_front();
        }
        computed.tries.push_back((block, trie));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_names_its_block_until_forgotten_and_then_still_resolves() {
        let hashes = Hashes::default();
        hashes.remember(7, [7; 32]);
        assert_eq!(hashes.hash_of(7), Some([7; 32]));
        assert_eq!(hashes.block_of(&[7; 32]), Some(7));
        assert_eq!(hashes.block_of(&[8; 32]), None);
        hashes.forget_from(7);
        assert_eq!(hashes.hash_of(7), None);
        assert_eq!(hashes.block_of(&[7; 32]), Some(7));
    }
}
