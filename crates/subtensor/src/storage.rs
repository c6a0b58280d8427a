//! Storage keys: `twox128(pallet) ++ twox128(item)`, then each key part
//! SCALE-encoded and hashed by its hasher (docs/spec/subtensor.md). Pure, so the
//! client and the simulated node build the same bytes.

use parity_scale_codec::Encode;
use sp_core::hashing::{blake2_128, twox_128, twox_64};

use crate::runtime::{Hasher, StorageItem};
use crate::ChainError;

/// The 32-byte prefix of every key of `item`.
pub fn prefix(item: &StorageItem) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(&known_prefix(item));
    key
}

/// The prefix of `item`, hashed once per thread. The simulated node derives
/// its whole state trie per block, a few hundred keys each naming their
/// item: hashing the names again for every key was a fifth of its time.
fn known_prefix(item: &StorageItem) -> [u8; 32] {
    use std::cell::RefCell;
    thread_local! {
        // The items are the few constants of `runtime`: a scan is enough.
        static KNOWN: RefCell<Vec<(&'static str, &'static str, [u8; 32])>> =
            const { RefCell::new(Vec::new()) };
    }
    KNOWN.with_borrow_mut(|known| {
        let same = |(pallet, name, _): &&(&str, &str, [u8; 32])| {
            *pallet == item.pallet && *name == item.name
        };
        if let Some((_, _, prefix)) = known.iter().find(same) {
            return *prefix;
        }
        let mut prefix = [0u8; 32];
        prefix[..16].copy_from_slice(&twox_128(item.pallet.as_bytes()));
        prefix[16..].copy_from_slice(&twox_128(item.name.as_bytes()));
        known.push((item.pallet, item.name, prefix));
        prefix
    })
}

/// One key part, hashed as `hasher` does.
pub fn hash_part(hasher: Hasher, encoded: &[u8]) -> Vec<u8> {
    match hasher {
        Hasher::Identity => encoded.to_vec(),
        Hasher::Twox64Concat => [&twox_64(encoded)[..], encoded].concat(),
        Hasher::Blake2_128Concat => [&blake2_128(encoded)[..], encoded].concat(),
    }
}

/// The full key of `item` at `parts` (each already SCALE-encoded, one per
/// hasher).
pub fn key(item: &StorageItem, parts: &[Vec<u8>]) -> Result<Vec<u8>, ChainError> {
    if parts.len() != item.hashers.len() {
        return Err(ChainError::Usage(format!(
            "{}.{} takes {} key parts, got {}",
            item.pallet,
            item.name,
            item.hashers.len(),
            parts.len()
        )));
    }
    let mut key = prefix(item);
    for (hasher, part) in item.hashers.iter().zip(parts) {
        key.extend(hash_part(*hasher, part));
    }
    Ok(key)
}

/// A key part: any SCALE-encodable value.
pub fn part(value: impl Encode) -> Vec<u8> {
    value.encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::*;

    #[test]
    fn well_known_keys_match_what_substrate_computes() {
        // System.Number and System.Account prefixes, as every Substrate chain has them.
        assert_eq!(
            hex::encode(key(&NUMBER, &[]).unwrap()),
            "26aa394eea5630e07c48ae0c9558cef702a5c1b19ab7a04f536c519aca4983ac"
        );
        assert_eq!(
            hex::encode(prefix(&ACCOUNT)),
            "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
        );
    }

    #[test]
    fn each_hasher_keeps_or_prefixes_the_encoded_part() {
        let netuid = part(64u16);
        assert_eq!(hash_part(Hasher::Identity, &netuid), vec![64, 0]);
        assert_eq!(hash_part(Hasher::Twox64Concat, &netuid).len(), 8 + 2);
        let account = [7u8; 32];
        let hashed = hash_part(Hasher::Blake2_128Concat, &part(account));
        assert_eq!(hashed.len(), 16 + 32);
        assert_eq!(&hashed[16..], &account);
        let full = key(&UIDS, &[netuid.clone(), part(account)]).unwrap();
        assert_eq!(full.len(), 32 + 2 + 48);
        assert!(key(&UIDS, &[netuid]).is_err(), "a missing part is refused");
    }
}
