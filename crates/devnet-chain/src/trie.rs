//! The state trie: the node's storage at a block laid out as Substrate
//! keeps it (layout V1, blake2-256), so a header carries a real state root
//! and `state_getReadProof` answers with nodes a client checks on its own
//! (`subtensor::proof`). The storage is derived per block; a block's trie
//! is built from the kept trie of the nearest block by the keys whose
//! values differ (a few: the block number, the events, a commitment), or
//! whole when none is kept. The last few are kept, as a sync reads hash,
//! header and proof of one block in a row.

use std::sync::Arc;

use subtensor::proof::StateTrie;

use crate::hashes::BlockTrie;
use crate::state::State;

impl State {
    /// The trie of the chain's state at `block`.
    pub(crate) fn trie(&self, block: u32) -> Arc<BlockTrie> {
        if let Some(trie) = self.hashes.trie(block) {
            return trie;
        }
        let entries = self.entries_at(block);
        let trie = match self.hashes.nearest_trie(block) {
            Some(near) => near.trie.updated(changes(&near.entries, &entries)),
            None => StateTrie::new(entries.iter().cloned()),
        };
        let trie = Arc::new(BlockTrie { trie, entries });
        self.hashes.keep_trie(block, trie.clone());
        trie
    }

    /// The state root of `block`: what its header carries.
    pub(crate) fn state_root(&self, block: u32) -> [u8; 32] {
        self.trie(block).trie.root()
    }
}

/// What turns the entries `from` into `to` (both in key order): each key
/// whose value differs with its new value, each key gone with `None`.
fn changes<'a>(
    from: &'a [(Vec<u8>, Vec<u8>)],
    to: &'a [(Vec<u8>, Vec<u8>)],
) -> Vec<(&'a [u8], Option<&'a [u8]>)> {
    use std::cmp::Ordering;

    let (mut a, mut b) = (from.iter().peekable(), to.iter().peekable());
    let mut out = Vec::new();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return out,
            (Some((k, _)), None) => {
                out.push((k.as_slice(), None));
                a.next();
            }
            (None, Some((k, v))) => {
                out.push((k.as_slice(), Some(v.as_slice())));
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                Ordering::Less => {
                    out.push((ka.as_slice(), None));
                    a.next();
                }
                Ordering::Greater => {
                    out.push((kb.as_slice(), Some(vb.as_slice())));
                    b.next();
                }
                Ordering::Equal => {
                    if va != vb {
                        out.push((kb.as_slice(), Some(vb.as_slice())));
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn the_changes_between_two_states_are_the_keys_that_differ() {
        let from = entries(&[("a", "1"), ("b", "2"), ("d", "4"), ("f", "6")]);
        let to = entries(&[("b", "2"), ("c", "3"), ("d", "5"), ("g", "7")]);
        let got: Vec<(String, Option<String>)> = changes(&from, &to)
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    v.map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        let want = [
            ("a", None),
            ("c", Some("3")),
            ("d", Some("5")),
            ("f", None),
            ("g", Some("7")),
        ]
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)));
        assert_eq!(got, want);
        // Applied to the first state's trie, they give the second's root.
        let updated = StateTrie::new(from.clone()).updated(changes(&from, &to));
        assert_eq!(updated.root(), StateTrie::new(to).root());
    }
}
