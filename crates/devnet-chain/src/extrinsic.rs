//! Signed transactions as the node's pool checks them: decode the format-4
//! signed extrinsic, rebuild the real signed payload (call, the extension
//! bytes, then spec and transaction versions, genesis hash, the era's
//! checkpoint hash and `Option<metadata hash>`), verify the sr25519
//! signature over it, then check the nonce. Pure: the chain's state comes
//! in as arguments.
//!
//! Refusals carry the error a Substrate node gives for them, so a client
//! meets the same words here and on finney.

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Compact, Decode, Encode};
use sp_runtime::generic::Era;
use sp_runtime::{AccountId32, MultiSignature};

use crate::metadata::{Address, RuntimeCall};

/// The spec version the node reports and transactions must sign.
pub const SPEC_VERSION: u32 = 1;
/// The transaction version the node reports and transactions must sign.
pub const TRANSACTION_VERSION: u32 = 1;

/// Signed, format version 4.
const SIGNED_V4: u8 = 0b1000_0000 | 4;

/// A transaction whose signature and nonce checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The account that signed.
    pub signer: [u8; 32],
    /// The nonce it signed with (the account's next one).
    pub nonce: u32,
    /// The decoded call, to dispatch.
    pub call: RuntimeCall,
    /// `blake2_256` of the encoded extrinsic: its hash everywhere.
    pub hash: [u8; 32],
}

/// Why the pool refuses a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not a signed format-4 extrinsic this runtime can decode.
    BadFormat(String),
    /// The signature does not verify over the payload the node rebuilds.
    BadProof,
    /// The nonce was used already.
    Stale,
    /// The nonce is ahead of the account's.
    Future,
    /// The era's birth block is not a block the node has.
    AncientBirthBlock,
}

impl Invalid {
    /// The JSON-RPC error a Substrate node answers `author_submit*` with.
    pub fn rpc_error(&self) -> ErrorObjectOwned {
        let invalid = |data: &str| {
            ErrorObjectOwned::owned(1010, "Invalid Transaction", Some(data.to_string()))
        };
        match self {
            Invalid::BadFormat(why) => ErrorObjectOwned::owned(
                1001,
                format!("Extrinsic has invalid format: {why}"),
                None::<()>,
            ),
            Invalid::BadProof => invalid("Transaction has a bad signature"),
            Invalid::Stale => invalid("Transaction is outdated"),
            Invalid::Future => invalid("Transaction will be valid in the future"),
            Invalid::AncientBirthBlock => invalid("Transaction has an ancient birth block"),
        }
    }
}

/// The chain as the check needs it.
pub struct Chain<'a> {
    /// The best block, from which a mortal era's birth is found.
    pub head: u32,
    /// Block 0's hash, signed by every transaction.
    pub genesis_hash: [u8; 32],
    /// The hash of a block the node has, `None` for one it has not.
    pub block_hash: &'a dyn Fn(u32) -> Option<[u8; 32]>,
    /// The next nonce of an account.
    pub nonce: &'a dyn Fn(&[u8; 32]) -> u32,
}

/// Decodes and checks `bytes`, the encoded extrinsic as submitted
/// (length prefix included).
pub fn check(bytes: &[u8], chain: &Chain<'_>) -> Result<Checked, Invalid> {
    let bad = |what: &str| Invalid::BadFormat(what.to_string());
    let mut outer = bytes;
    let body: Vec<u8> = Decode::decode(&mut outer).map_err(|_| bad("no length-prefixed body"))?;
    if !outer.is_empty() {
        return Err(bad("bytes after the body"));
    }
    let mut input = &body[..];
    let version = u8::decode(&mut input).map_err(|_| bad("empty body"))?;
    if version != SIGNED_V4 {
        return Err(bad(
            "only signed transactions of format version 4 are accepted",
        ));
    }
    let signer = match Address::decode(&mut input).map_err(|_| bad("signer address"))? {
        Address::Id(account) => <[u8; 32]>::from(account),
        _ => return Err(bad("the signer must be an account id")),
    };
    let signature = match MultiSignature::decode(&mut input).map_err(|_| bad("signature"))? {
        MultiSignature::Sr25519(sig) => sig.0,
        _ => return Err(Invalid::BadProof),
    };
    let extensions_start = input;
    let era = Era::decode(&mut input).map_err(|_| bad("era"))?;
    let Compact(nonce) = Compact::<u32>::decode(&mut input).map_err(|_| bad("nonce"))?;
    let Compact(_tip) = Compact::<u128>::decode(&mut input).map_err(|_| bad("tip"))?;
    let metadata_hash_mode = u8::decode(&mut input).map_err(|_| bad("metadata hash mode"))?;
    let extension_bytes = &extensions_start[..extensions_start.len() - input.len()];
    let call_bytes = input;
    let call = RuntimeCall::decode(&mut input).map_err(|_| bad("unknown or malformed call"))?;
    if !input.is_empty() {
        return Err(bad("bytes after the call"));
    }

    let checkpoint = match era {
        Era::Immortal => chain.genesis_hash,
        Era::Mortal(..) => {
            let birth = era.birth(u64::from(chain.head));
            let birth = u32::try_from(birth).map_err(|_| Invalid::AncientBirthBlock)?;
            (chain.block_hash)(birth).ok_or(Invalid::AncientBirthBlock)?
        }
    };
    // The runtime keeps no metadata hash: with the check enabled the
    // payload cannot match, as on a runtime built without one.
    if metadata_hash_mode != 0 {
        return Err(Invalid::BadProof);
    }
    let mut payload = Vec::with_capacity(call_bytes.len() + extension_bytes.len() + 73);
    payload.extend_from_slice(call_bytes);
    payload.extend_from_slice(extension_bytes);
    SPEC_VERSION.encode_to(&mut payload);
    TRANSACTION_VERSION.encode_to(&mut payload);
    payload.extend_from_slice(&chain.genesis_hash);
    payload.extend_from_slice(&checkpoint);
    None::<[u8; 32]>.encode_to(&mut payload);
    // Payloads over 256 bytes are signed by their hash.
    if payload.len() > 256 {
        payload = sp_core::hashing::blake2_256(&payload).to_vec();
    }
    if !subtensor::keys::verify(&signer, &payload, &signature) {
        return Err(Invalid::BadProof);
    }

    let expected = (chain.nonce)(&signer);
    if nonce < expected {
        return Err(Invalid::Stale);
    }
    if nonce > expected {
        return Err(Invalid::Future);
    }
    Ok(Checked {
        signer,
        nonce,
        call,
        hash: sp_core::hashing::blake2_256(bytes),
    })
}

/// Flips one bit of a signed extrinsic's signature in place, as a
/// man-in-the-middle would; the fault switch behind
/// `ChainNode::tamper_signatures`. `false` when `bytes` is too short to
/// hold a signature (the pool then refuses it as malformed anyway).
pub fn tamper_signature(bytes: &mut [u8]) -> bool {
    let mut input = &bytes[..];
    if Compact::<u32>::decode(&mut input).is_err() {
        return false;
    }
    // length prefix, version byte, address (variant + 32), signature variant
    let at = (bytes.len() - input.len()) + 1 + 33 + 1;
    match bytes.get_mut(at) {
        Some(byte) => {
            *byte ^= 1;
            true
        }
        None => false,
    }
}

/// An account id as the runtime's types hold it.
pub fn account(bytes: [u8; 32]) -> AccountId32 {
    AccountId32::new(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::pallet_subtensor;
    use sp_runtime::MultiAddress;
    use subtensor::Hotkey;

    /// Any hash per block number serves: the check only compares.
    fn block_hash(n: u32) -> [u8; 32] {
        sp_core::hashing::blake2_256(&n.to_le_bytes())
    }

    fn hash_of(n: u32) -> Option<[u8; 32]> {
        (n <= 1_000).then(|| block_hash(n))
    }

    fn chain(nonce: u32) -> (u32, impl Fn(&[u8; 32]) -> u32) {
        (1_000, move |_: &[u8; 32]| nonce)
    }

    /// Builds a signed extrinsic by hand, the way the payload is specified.
    fn sign(key: &Hotkey, nonce: u32, era: Era, head: u32) -> Vec<u8> {
        let call = RuntimeCall::SubtensorModule(pallet_subtensor::Call::set_weights {
            netuid: 64,
            dests: vec![1, 2],
            weights: vec![40_000, 25_535],
            version_key: 0,
        })
        .encode();
        let mut extensions = era.encode();
        Compact(nonce).encode_to(&mut extensions);
        Compact(0u128).encode_to(&mut extensions);
        0u8.encode_to(&mut extensions);
        let checkpoint = match era {
            Era::Immortal => block_hash(0),
            Era::Mortal(..) => block_hash(era.birth(u64::from(head)) as u32),
        };
        let mut payload = [call.clone(), extensions.clone()].concat();
        (SPEC_VERSION, TRANSACTION_VERSION).encode_to(&mut payload);
        payload.extend_from_slice(&block_hash(0));
        payload.extend_from_slice(&checkpoint);
        payload.push(0);
        let signature = key.sign(&payload);
        let mut body = vec![SIGNED_V4];
        MultiAddress::<AccountId32, ()>::Id(account(key.public())).encode_to(&mut body);
        MultiSignature::Sr25519(sp_core::sr25519::Signature::from_raw(signature))
            .encode_to(&mut body);
        body.extend_from_slice(&extensions);
        body.extend_from_slice(&call);
        body.encode()
    }

    fn run(bytes: &[u8], nonce: u32) -> Result<Checked, Invalid> {
        let (head, nonce_of) = chain(nonce);
        check(
            bytes,
            &Chain {
                head,
                genesis_hash: block_hash(0),
                block_hash: &hash_of,
                nonce: &nonce_of,
            },
        )
    }

    #[test]
    fn a_correctly_signed_mortal_transaction_checks_out() {
        let alice = Hotkey::from_dev_uri("//Alice").unwrap();
        let bytes = sign(&alice, 3, Era::mortal(32, 1_000), 1_000);
        let checked = run(&bytes, 3).unwrap();
        assert_eq!(checked.signer, alice.public());
        assert_eq!(checked.nonce, 3);
        assert!(matches!(
            checked.call,
            RuntimeCall::SubtensorModule(pallet_subtensor::Call::set_weights { netuid: 64, .. })
        ));
    }

    #[test]
    fn any_flipped_byte_of_call_or_extensions_breaks_the_signature() {
        let alice = Hotkey::from_dev_uri("//Alice").unwrap();
        let bytes = sign(&alice, 0, Era::Immortal, 1_000);
        // Flip the last weight's low byte: still a valid call, wrong signature.
        let mut tampered = bytes.clone();
        let at = tampered.len() - 9;
        tampered[at] ^= 1;
        assert_eq!(run(&tampered, 0), Err(Invalid::BadProof));
        assert!(run(&bytes, 0).is_ok());
    }

    #[test]
    fn a_tampered_signature_is_a_bad_proof() {
        let alice = Hotkey::from_dev_uri("//Alice").unwrap();
        let mut bytes = sign(&alice, 0, Era::Immortal, 1_000);
        assert!(run(&bytes, 0).is_ok());
        assert!(tamper_signature(&mut bytes));
        assert_eq!(run(&bytes, 0), Err(Invalid::BadProof));
        assert!(!tamper_signature(&mut [0x04]));
        assert!(!tamper_signature(&mut []));
    }

    #[test]
    fn a_signature_for_another_era_checkpoint_fails() {
        let alice = Hotkey::from_dev_uri("//Alice").unwrap();
        // Signed when the head was far behind: the birth is another block.
        let bytes = sign(&alice, 0, Era::mortal(32, 500), 500);
        assert_eq!(run(&bytes, 0), Err(Invalid::BadProof));
    }

    #[test]
    fn used_and_future_nonces_are_refused_in_substrates_words() {
        let alice = Hotkey::from_dev_uri("//Alice").unwrap();
        let bytes = sign(&alice, 2, Era::Immortal, 1_000);
        assert_eq!(run(&bytes, 3), Err(Invalid::Stale));
        assert_eq!(run(&bytes, 1), Err(Invalid::Future));
        let e = Invalid::Stale.rpc_error();
        assert_eq!(e.code(), 1010);
        assert!(e.data().unwrap().get().contains("outdated"));
    }

    #[test]
    fn garbage_is_a_format_error_not_a_panic() {
        assert!(matches!(run(&[], 0), Err(Invalid::BadFormat(_))));
        assert!(matches!(run(&[8, 4, 1, 2], 0), Err(Invalid::BadFormat(_))));
    }
}
