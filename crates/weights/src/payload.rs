//! What a timelocked commit hides: the SCALE-encoded
//! `WeightsTlockPayload` the chain decodes at reveal
//! (docs/spec/commit-reveal.md, "The plaintext"), and the commit made of it.

use drand_tlock::{Beacon, EncryptError, PointError};
use parity_scale_codec::{Decode, Encode};

use crate::quantise::WeightVector;

/// The chain's cap on the `commit` argument (`BoundedVec<u8, 5000>`),
/// stated once in `subtensor::runtime`.
pub const MAX_COMMIT_LEN: usize = subtensor::runtime::MAX_TIMELOCKED_COMMIT_BYTES;

/// The plaintext of a timelocked weights commit, field for field as
/// subtensor declares it, so SCALE gives the bytes the chain decodes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct WeightsTlockPayload {
    /// The committing hotkey's 32-byte public key; at reveal the chain
    /// drops the commit unless it is the committer.
    pub hotkey: Vec<u8>,
    /// Destination uids, ascending.
    pub uids: Vec<u16>,
    /// Weights, paired with `uids` by position.
    pub values: Vec<u16>,
    /// Must be at least the subnet's `WeightsVersionKey` at reveal.
    pub version_key: u64,
}

impl WeightsTlockPayload {
    /// The payload for quantised weights committed by `hotkey` (its
    /// public key).
    pub fn new(hotkey: [u8; 32], weights: &WeightVector, version_key: u64) -> Self {
        Self {
            hotkey: hotkey.to_vec(),
            uids: weights.uids().to_vec(),
            values: weights.values().to_vec(),
            version_key,
        }
    }

    /// The payload for weights the `hotkey` will sign: the chain drops a
    /// commit whose payload names another key than its signer's.
    pub fn signed_by(hotkey: &subtensor::Hotkey, weights: &WeightVector, version_key: u64) -> Self {
        Self::new(hotkey.public(), weights, version_key)
    }
}

/// Why a commit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The configured beacon key is not a valid G2 point.
    #[error("the beacon public key is unusable: {0}")]
    BeaconKey(#[source] PointError),
    /// Encryption failed.
    #[error("timelock encryption failed: {0}")]
    Encrypt(#[from] EncryptError),
    /// The commit exceeds what the chain accepts (about 1,177 uids).
    #[error(
        "the commit for {uids} uids is {len} bytes; the chain accepts at most {max}: \
         weight fewer miners"
    )]
    TooLarge {
        /// uids in the payload.
        uids: usize,
        /// Bytes of the commit.
        len: usize,
        /// The chain's cap, [`MAX_COMMIT_LEN`].
        max: usize,
    },
}

/// The `commit` argument of `commit_timelocked_weights`: the payload
/// encrypted to `round` of `beacon`. Refuses a commit the chain's cap
/// would reject.
pub fn commit_for<R: rand::CryptoRng + ?Sized>(
    payload: &WeightsTlockPayload,
    beacon: &Beacon,
    round: u64,
    rng: &mut R,
) -> Result<Vec<u8>, CommitError> {
    let plaintext = payload.encode();
    let len = plaintext.len() + drand_tlock::HEADER_OVERHEAD;
    if len > MAX_COMMIT_LEN {
        return Err(CommitError::TooLarge {
            uids: payload.uids.len(),
            len,
            max: MAX_COMMIT_LEN,
        });
    }
    let key = beacon.key().map_err(CommitError::BeaconKey)?;
    Ok(drand_tlock::encrypt(&key, round, &plaintext, rng)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantise::quantise;
    use drand_tlock::BeaconSecret;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn payload(miners: u16) -> WeightsTlockPayload {
        let scores: Vec<(u16, f64)> = (0..miners).map(|u| (u, 1.0)).collect();
        WeightsTlockPayload::new([7; 32], &quantise(&scores).unwrap(), 69420)
    }

    fn simulated() -> (BeaconSecret, Beacon) {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let secret = BeaconSecret::random(&mut rng);
        let beacon = Beacon {
            public_key: secret.public_key().to_bytes(),
            ..drand_tlock::QUICKNET
        };
        (secret, beacon)
    }

    #[test]
    fn a_commit_opens_to_the_payload_at_its_round() {
        let (secret, beacon) = simulated();
        let p = payload(300);
        let commit = commit_for(&p, &beacon, 1234, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        let opened = drand_tlock::decrypt(&commit, &secret.sign_round(1234).unwrap()).unwrap();
        assert_eq!(WeightsTlockPayload::decode(&mut &opened[..]).unwrap(), p);
    }

    #[test]
    fn the_chains_cap_is_enforced_before_encrypting() {
        let (_, beacon) = simulated();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let fits = commit_for(&payload(1177), &beacon, 1, &mut rng).unwrap();
        assert!(fits.len() <= MAX_COMMIT_LEN, "{}", fits.len());
        let err = commit_for(&payload(1178), &beacon, 1, &mut rng).unwrap_err();
        assert!(
            matches!(
                err,
                CommitError::TooLarge {
                    uids: 1178,
                    len: 5001,
                    max: 5000
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_broken_beacon_key_is_refused_typed() {
        let beacon = Beacon {
            public_key: [0x9f; 96],
            ..drand_tlock::QUICKNET
        };
        let err = commit_for(&payload(1), &beacon, 1, &mut ChaCha20Rng::seed_from_u64(1));
        assert!(matches!(err, Err(CommitError::BeaconKey(_))));
    }
}
