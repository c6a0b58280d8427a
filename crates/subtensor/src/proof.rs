//! Chain reads proven against a block's state root, instead of taken on a
//! node's word.
//!
//! `state_getStorage` is an answer a node can make up. `state_getReadProof`
//! answers with the trie nodes on the path from the block's state root to
//! each key asked for; the client rebuilds the path itself. The state root
//! is a field of the block's header, and the header hashes (blake2-256 of
//! its SCALE encoding) to the block hash, so a value checked here is tied
//! to a block hash that a second endpoint can confirm: a node that lies
//! about a value must also forge a header whose hash no other node agrees
//! with.
//!
//! Pure: bytes in, verdicts out. Substrate's state trie (`sp-trie`'s
//! layout V1, blake2-256) does the path checks; this module decides what
//! counts as proven. A key the proof shows absent is proven absent (`None`);
//! a key the proof does not reach is not proven at all.

use std::collections::{BTreeMap, HashMap};

use parity_scale_codec::{Decode, Encode};
use sp_runtime::traits::{BlakeTwo256, Hash as _};
use sp_trie::{LayoutV1, MemoryDB, StorageProof};

/// A block hash.
pub type BlockHash = [u8; 32];

/// How many checked blocks are remembered.
const CHECKED_KEPT: usize = 4096;

/// A block whose header hashed to it and which every witness confirmed:
/// what a proven read at it is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProvenBlock {
    pub(crate) number: u32,
    pub(crate) state_root: [u8; 32],
}

/// Blocks already checked, by hash (at most [`CHECKED_KEPT`]; past it the
/// memory starts over, and a block is checked again when read again).
#[derive(Debug, Default)]
pub(crate) struct Checked(HashMap<BlockHash, ProvenBlock>);

impl Checked {
    /// The block `hash` names, if it was checked.
    pub(crate) fn get(&self, hash: &BlockHash) -> Option<ProvenBlock> {
        self.0.get(hash).copied()
    }

    /// Remembers a checked block.
    pub(crate) fn insert(&mut self, hash: BlockHash, block: ProvenBlock) {
        if self.0.len() >= CHECKED_KEPT {
            self.0.clear();
        }
        self.0.insert(hash, block);
    }
}

/// A block header as finney encodes it: `u32` block numbers, blake2-256.
pub type Header = sp_runtime::generic::Header<u32, BlakeTwo256>;

/// Why a read could not be proven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The header served for a block hash does not hash to it.
    #[error("the header served for block {claimed} hashes to {computed}: the node answered for another block")]
    HeaderHash {
        /// The block hash the header was asked for, `0x…`.
        claimed: String,
        /// The hash of the header served, `0x…`.
        computed: String,
    },
    /// The proof lacks a node on the path to a key, or a node does not
    /// decode: the value it was sent with is unproven.
    #[error("the read proof does not reach storage key {key} from state root {root}: {reason}")]
    Unproven {
        /// The storage key, `0x…`.
        key: String,
        /// The state root the proof was checked against, `0x…`.
        root: String,
        /// The trie's words.
        reason: String,
    },
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The hash of `header`: what `chain_getBlockHash` names it by.
pub fn header_hash(header: &Header) -> BlockHash {
    BlakeTwo256::hash(&header.encode()).0
}

/// Checks that `header` is the header of block `claimed`.
pub fn check_header(claimed: &BlockHash, header: &Header) -> Result<(), ProofError> {
    let computed = header_hash(header);
    if computed == *claimed {
        Ok(())
    } else {
        Err(ProofError::HeaderHash {
            claimed: hex0x(claimed),
            computed: hex0x(&computed),
        })
    }
}

/// A header from its SCALE bytes (what `chain_getHeader`'s JSON fields
/// re-encode to), refusing trailing bytes.
pub fn decode_header(bytes: &[u8]) -> Result<Header, parity_scale_codec::Error> {
    let mut input = bytes;
    let header = Header::decode(&mut input)?;
    if input.is_empty() {
        Ok(header)
    } else {
        Err("trailing bytes after the header".into())
    }
}

/// The values of `keys` under `state_root`, each proven by `nodes` (the
/// `proof` of a `state_getReadProof` answer): `Some(value)`, or `None` when
/// the proof shows the key absent. Fails on the first key the proof does
/// not reach.
pub fn read_proven(
    state_root: &[u8; 32],
    nodes: &[Vec<u8>],
    keys: &[Vec<u8>],
) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, ProofError> {
    let db: MemoryDB<BlakeTwo256> = StorageProof::new(nodes.iter().cloned()).into_memory_db();
    let root = sp_core::H256(*state_root);
    let mut values = BTreeMap::new();
    for key in keys {
        let value =
            sp_trie::read_trie_value::<LayoutV1<BlakeTwo256>, _>(&db, &root, key, None, None)
                .map_err(|e| ProofError::Unproven {
                    key: hex0x(key),
                    root: hex0x(state_root),
                    reason: e.to_string(),
                })?;
        values.insert(key.clone(), value);
    }
    Ok(values)
}

/// A state trie built the way Substrate builds its state (layout V1,
/// blake2-256): what a node proves reads from. The devnet's node and the
/// tests use it; a client never needs it.
pub struct StateTrie {
    db: MemoryDB<BlakeTwo256>,
    root: sp_core::H256,
}

impl StateTrie {
    /// The trie holding `entries`.
    pub fn new(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> StateTrie {
        use sp_trie::{TrieDBMutBuilder, TrieMut as _};

        let mut db = MemoryDB::<BlakeTwo256>::default();
        let mut root = sp_core::H256::default();
        {
            let mut trie =
                TrieDBMutBuilder::<LayoutV1<BlakeTwo256>>::new(&mut db, &mut root).build();
            for (key, value) in entries {
                // An in-memory trie over a memory database cannot fail to insert.
                let _ = trie.insert(&key, &value);
            }
        }
        StateTrie { db, root }
    }

    /// This trie with `changes` applied (`None` removes a key): only the
    /// nodes on the changed keys' paths are hashed again, where
    /// [`StateTrie::new`] hashes every node. The same entries give the same
    /// root either way.
    pub fn updated<'a>(
        &self,
        changes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> StateTrie {
        use sp_trie::{TrieDBMutBuilder, TrieMut as _};

        let mut db = self.db.clone();
        let mut root = self.root;
        {
            let mut trie =
                TrieDBMutBuilder::<LayoutV1<BlakeTwo256>>::from_existing(&mut db, &mut root)
                    .build();
            for (key, value) in changes {
                // In memory, over nodes this trie holds: cannot fail.
                let _ = match value {
                    Some(value) => trie.insert(key, value),
                    None => trie.remove(key),
                };
            }
        }
        // The replaced nodes, no longer referenced by this root.
        db.purge();
        StateTrie { db, root }
    }

    /// The state root: what a header carries.
    pub fn root(&self) -> [u8; 32] {
        self.root.0
    }

    /// The nodes that prove `keys`, present or absent: the `proof` of a
    /// `state_getReadProof` answer.
    pub fn prove(&self, keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
        use sp_trie::{Trie as _, TrieDBBuilder};

        let mut recorder = sp_trie::Recorder::<LayoutV1<BlakeTwo256>>::new();
        {
            let trie = TrieDBBuilder::<LayoutV1<BlakeTwo256>>::new(&self.db, &self.root)
                .with_recorder(&mut recorder)
                .build();
            for key in keys {
                let _ = trie.get(key);
            }
        }
        let mut nodes: Vec<Vec<u8>> = recorder.drain().into_iter().map(|r| r.data).collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }
}

/// The state root and the proof nodes of a trie holding `entries`, for
/// `keys` ([`StateTrie`] in one call).
pub fn prove(
    entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    keys: &[Vec<u8>],
) -> ([u8; 32], Vec<Vec<u8>>) {
    let trie = StateTrie::new(entries);
    (trie.root(), trie.prove(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Vec<(Vec<u8>, Vec<u8>)> {
        (0u16..300)
            .map(|i| {
                let key = [b"chutes".as_slice(), &i.to_le_bytes()].concat();
                // Short values inline in their node, long ones hashed (V1).
                let value = vec![i as u8; usize::from(i % 70)];
                (key, value)
            })
            .collect()
    }

    fn key(i: u16) -> Vec<u8> {
        [b"chutes".as_slice(), &i.to_le_bytes()].concat()
    }

    #[test]
    fn an_updated_trie_has_the_root_and_proofs_of_one_built_whole() {
        let before = state();
        let trie = StateTrie::new(before.clone());
        // Values changed (short and long), keys removed, keys added.
        let mut after: BTreeMap<Vec<u8>, Vec<u8>> = before.into_iter().collect();
        after.insert(key(3), vec![9; 100]);
        after.insert(key(150), vec![1]);
        after.remove(&key(7));
        after.remove(&key(299));
        after.insert(b"new".to_vec(), vec![5; 40]);
        let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
            (key(3), Some(vec![9; 100])),
            (key(150), Some(vec![1])),
            (key(7), None),
            (key(299), None),
            (b"new".to_vec(), Some(vec![5; 40])),
        ];
        let updated = trie.updated(changes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())));
        let whole = StateTrie::new(after.clone());
        assert_eq!(updated.root(), whole.root());
        assert_ne!(updated.root(), trie.root());
        let keys = vec![key(3), key(7), b"new".to_vec(), key(200)];
        let values = read_proven(&updated.root(), &updated.prove(&keys), &keys).unwrap();
        assert_eq!(values[&key(3)], Some(vec![9; 100]));
        assert_eq!(values[&key(7)], None);
        assert_eq!(values[&b"new".to_vec()], Some(vec![5; 40]));
        assert_eq!(
            values[&key(200)].as_deref(),
            after.get(&key(200)).map(|v| &v[..])
        );
        // The trie it came from still proves its own state.
        let old = read_proven(&trie.root(), &trie.prove(&[key(7)]), &[key(7)]).unwrap();
        assert_eq!(old[&key(7)], Some(vec![7; 7]));
    }

    #[test]
    fn a_proof_yields_the_values_and_the_absences_it_covers() {
        let keys = vec![key(7), key(69), key(299), b"absent".to_vec()];
        let (root, nodes) = prove(state(), &keys);
        let values = read_proven(&root, &nodes, &keys).unwrap();
        assert_eq!(values[&key(7)], Some(vec![7; 7]));
        assert_eq!(values[&key(69)], Some(vec![69; 69]));
        assert_eq!(values[&key(299)], Some(vec![43; 19]));
        assert_eq!(values[&b"absent".to_vec()], None);
    }

    #[test]
    fn a_key_outside_the_proof_is_unproven_not_absent() {
        let (root, nodes) = prove(state(), &[key(7)]);
        let err = read_proven(&root, &nodes, &[key(200)]).unwrap_err();
        assert!(matches!(err, ProofError::Unproven { .. }), "{err}");
    }

    #[test]
    fn a_proof_against_another_root_is_refused() {
        let (_, nodes) = prove(state(), &[key(7)]);
        let mut other = state();
        other[7].1 = b"forged".to_vec();
        let (forged_root, _) = prove(other, &[key(7)]);
        assert!(read_proven(&forged_root, &nodes, &[key(7)]).is_err());
    }

    #[test]
    fn a_forged_node_does_not_verify() {
        let (root, mut nodes) = prove(state(), &[key(69)]);
        for node in &mut nodes {
            if let Some(at) = node.windows(4).position(|w| w == [69; 4]) {
                node[at] = 70;
            }
        }
        assert!(read_proven(&root, &nodes, &[key(69)]).is_err());
    }

    #[test]
    fn junk_nodes_never_panic() {
        let (root, _) = prove(state(), &[key(1)]);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..200usize {
            let junk: Vec<Vec<u8>> = (0..len % 7)
                .map(|_| {
                    (0..len)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            seed as u8
                        })
                        .collect()
                })
                .collect();
            let _ = read_proven(&root, &junk, &[key(1)]);
        }
    }

    #[test]
    fn a_header_is_checked_against_the_hash_it_was_asked_for() {
        let header = Header {
            parent_hash: sp_core::H256([3; 32]),
            number: 4_800_601,
            state_root: sp_core::H256([2; 32]),
            extrinsics_root: sp_core::H256([1; 32]),
            digest: Default::default(),
        };
        let hash = header_hash(&header);
        check_header(&hash, &header).unwrap();
        assert_eq!(decode_header(&header.encode()).unwrap(), header);
        let mut other = header.clone();
        other.state_root = sp_core::H256([9; 32]);
        let err = check_header(&hash, &other).unwrap_err();
        assert!(err.to_string().contains("hashes to"), "{err}");
        assert!(decode_header(&[header.encode(), vec![0]].concat()).is_err());
    }
}
