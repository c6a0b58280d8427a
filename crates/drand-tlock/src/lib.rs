//! Timelock encryption to a drand round, producing exactly the bytes that
//! subtensor decrypts when it reveals timelocked weights
//! (docs/spec/commit-reveal.md).
//!
//! The construction is ideal-lab5/timelock's `tle` at the revision
//! subtensor pins: Boneh–Franklin FullIdent IBE on BLS12-381 (round
//! signatures in G1, beacon keys in G2) wraps a random 32-byte key, and
//! AES-256-GCM encrypts the payload under it. The published crates cannot
//! be used here: `timelock` 0.0.1 pins a `w3f-bls` that conflicts with
//! `sp-core`, and `timelock` 0.3 changed the wire layout. This crate is an
//! independent implementation on arkworks 0.4, checked against drand's
//! published round-1000 signature and a ciphertext made by the reference
//! encryptor.
//!
//! - [`Beacon`] names a drand chain (key, genesis, period) and converts
//!   between rounds and time; [`QUICKNET`] is the one subtensor follows.
//! - [`round_identity`], [`verify_round_signature`]: the BLS side.
//! - [`encrypt`] / [`decrypt`]: the commit bytes, see [`wire`] for their
//!   layout.
//! - [`BeaconSecret`]: a simulated beacon for the devnet, signing rounds
//!   the way drand does.
//!
//! # Example
//!
//! A commit encrypted to a round opens with that round's signature, and with
//! no other. Here a simulated beacon signs; on the real network drand's
//! quicknet does.
//!
//! ```
//! use drand_tlock::{decrypt, encrypt, BeaconSecret};
//! use rand::SeedableRng;
//!
//! let beacon = BeaconSecret::from_seed(&[7; 64]).expect("a non-zero seed");
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let commit = encrypt(&beacon.public_key(), 1000, b"the weights", &mut rng)?;
//!
//! assert_eq!(decrypt(&commit, &beacon.sign_round(1000)?)?, b"the weights");
//! assert!(decrypt(&commit, &beacon.sign_round(1001)?).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod bls;
mod tle;
pub mod wire;

pub use bls::{
    round_identity, verify_round_signature, BeaconSecret, PointError, PublicKey, Signature,
    HASH_TO_G1_DST, PUBLIC_KEY_LEN, SIGNATURE_LEN,
};
pub use tle::{decrypt, encrypt, DecryptError, EncryptError, HEADER_OVERHEAD};

/// A drand chain as an encryptor needs it: whose signatures open the
/// ciphertexts, and when each round is published.
///
/// The key is kept as its compressed bytes so the constant can be written
/// down; [`Beacon::key`] checks and decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beacon {
    /// The beacon's public key: a G2 point, ark-serialize compressed.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// Unix time (seconds) of round 1.
    pub genesis_time: u64,
    /// Seconds between rounds; a beacon with period 0 publishes nothing
    /// after round 1.
    pub period: u64,
}

/// drand's quicknet (`bls-unchained-g1-rfc9380`), the beacon subtensor's
/// `Drand` pallet stores and reveals with.
pub const QUICKNET: Beacon = Beacon {
    public_key: QUICKNET_PUBLIC_KEY,
    genesis_time: 1_692_803_367,
    period: 3,
};

const QUICKNET_PUBLIC_KEY: [u8; PUBLIC_KEY_LEN] = [
    0x83, 0xcf, 0x0f, 0x28, 0x96, 0xad, 0xee, 0x7e, 0xb8, 0xb5, 0xf0, 0x1f, 0xca, 0xd3, 0x91, 0x22,
    0x12, 0xc4, 0x37, 0xe0, 0x07, 0x3e, 0x91, 0x1f, 0xb9, 0x00, 0x22, 0xd3, 0xe7, 0x60, 0x18, 0x3c,
    0x8c, 0x4b, 0x45, 0x0b, 0x6a, 0x0a, 0x6c, 0x3a, 0xc6, 0xa5, 0x77, 0x6a, 0x2d, 0x10, 0x64, 0x51,
    0x0d, 0x1f, 0xec, 0x75, 0x8c, 0x92, 0x1c, 0xc2, 0x2b, 0x0e, 0x17, 0xe6, 0x3a, 0xaf, 0x4b, 0xcb,
    0x5e, 0xd6, 0x63, 0x04, 0xde, 0x9c, 0xf8, 0x09, 0xbd, 0x27, 0x4c, 0xa7, 0x3b, 0xab, 0x4a, 0xf5,
    0xa6, 0xe9, 0xc7, 0x6a, 0x4b, 0xc0, 0x9e, 0x76, 0xea, 0xe8, 0x99, 0x1e, 0xf5, 0xec, 0xe4, 0x5a,
];

impl Beacon {
    /// The public key as a checked G2 point (on the curve, in the
    /// subgroup): a beacon from configuration may carry any bytes.
    pub fn key(&self) -> Result<PublicKey, PointError> {
        PublicKey::from_bytes(&self.public_key)
    }

    /// The newest round published at `unix_time` (seconds), as drand
    /// numbers them: round 1 at genesis, one more every `period`. Before
    /// genesis nothing is published and the answer is 0.
    pub fn round_at(&self, unix_time: u64) -> u64 {
        let Some(since) = unix_time.checked_sub(self.genesis_time) else {
            return 0;
        };
        match since.checked_div(self.period) {
            Some(steps) => steps.saturating_add(1),
            None => 1,
        }
    }

    /// The unix time (seconds) at which `round` is published; round 0
    /// (which drand never signs) maps to genesis. Saturates far in the
    /// future rather than wrapping.
    pub fn time_of(&self, round: u64) -> u64 {
        let steps = round.saturating_sub(1);
        self.genesis_time
            .saturating_add(steps.saturating_mul(self.period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_and_times_agree_with_drand_numbering() {
        let q = QUICKNET;
        assert_eq!(q.round_at(q.genesis_time - 1), 0);
        assert_eq!(q.round_at(q.genesis_time), 1);
        assert_eq!(q.round_at(q.genesis_time + 2), 1);
        assert_eq!(q.round_at(q.genesis_time + 3), 2);
        assert_eq!(q.time_of(1), q.genesis_time);
        assert_eq!(q.time_of(1000), q.genesis_time + 999 * 3);
        for round in [1, 2, 1000, 17_200_000] {
            assert_eq!(q.round_at(q.time_of(round)), round);
            assert_eq!(q.round_at(q.time_of(round) + 2), round);
        }
    }

    #[test]
    fn extreme_beacons_do_not_panic() {
        let stuck = Beacon {
            period: 0,
            ..QUICKNET
        };
        assert_eq!(stuck.round_at(u64::MAX), 1);
        assert_eq!(QUICKNET.time_of(u64::MAX), u64::MAX);
        assert_eq!(QUICKNET.time_of(0), QUICKNET.genesis_time);
    }

    #[test]
    fn quicknet_key_decodes() {
        assert!(QUICKNET.key().is_ok());
    }
}
