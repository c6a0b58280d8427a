//! The BLS side of drand's `bls-unchained-g1-rfc9380` scheme: a round's
//! identity is a hash to G1, its signature that point times the beacon
//! secret, and the beacon key the secret times the G2 generator.

use std::fmt;

use ark_bls12_381::{g1, Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::{HashToCurve, HashToCurveError};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{PrimeField, Zero};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, SerializationError};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// The RFC 9380 domain separation tag drand quicknet signs under (G1,
/// SHA-256 expand-message, simplified SWU, random oracle).
pub const HASH_TO_G1_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// Bytes of a compressed G2 point: a beacon public key.
pub const PUBLIC_KEY_LEN: usize = 96;

/// Bytes of a compressed G1 point: a round signature.
pub const SIGNATURE_LEN: usize = 48;

/// Why bytes are not a usable curve point.
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    /// Wrong number of bytes for the point's group.
    #[error("expected {expected} bytes, got {found}")]
    Length {
        /// What the group's compressed encoding takes.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// Not a compressed point on the curve in the prime-order subgroup.
    #[error("not a valid compressed point")]
    Encoding(#[source] SerializationError),
    /// The identity element: a key or signature that opens nothing.
    #[error("the point at infinity")]
    Infinity,
    /// Hashing the round to G1 failed (an exceptional point of the
    /// isogeny map; not expected for any real round).
    #[error("hashing the round to G1 failed")]
    HashToCurve(#[source] HashToCurveError),
}

/// A beacon's public key: a checked G2 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) G2Affine);

/// A round's signature, which is also the IBE secret that opens
/// ciphertexts for that round: a checked G1 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub(crate) G1Affine);

impl PublicKey {
    /// Decodes a compressed G2 point, refusing points off the curve,
    /// outside the subgroup, and the point at infinity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PointError> {
        decode::<G2Affine>(bytes, PUBLIC_KEY_LEN).map(Self)
    }

    /// The compressed encoding (what the chain and drand publish).
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        encode(&self.0)
    }
}

impl Signature {
    /// Decodes a compressed G1 point with the same checks as
    /// [`PublicKey::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PointError> {
        decode::<G1Affine>(bytes, SIGNATURE_LEN).map(Self)
    }

    /// The compressed encoding, as stored in `Drand.Pulses`.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        encode(&self.0)
    }
}

fn decode<P: AffineRepr + CanonicalDeserialize>(bytes: &[u8], len: usize) -> Result<P, PointError> {
    if bytes.len() != len {
        return Err(PointError::Length {
            expected: len,
            found: bytes.len(),
        });
    }
    // Validation (curve and subgroup membership) is on: these come from
    // configuration or the chain.
    let point = P::deserialize_compressed(bytes).map_err(PointError::Encoding)?;
    if point.is_zero() {
        return Err(PointError::Infinity);
    }
    Ok(point)
}

fn encode<P: CanonicalSerialize, const N: usize>(point: &P) -> [u8; N] {
    let mut out = [0u8; N];
    // A compressed point of the group fills exactly N bytes; writing into
    // a slice of that size cannot fail.
    let written = point.serialize_compressed(&mut out[..]);
    debug_assert!(written.is_ok());
    out
}

type G1Hasher = MapToCurveBasedHasher<
    G1Projective,
    ark_ff::field_hashers::DefaultFieldHasher<Sha256, 128>,
    WBMap<g1::Config>,
>;

/// The identity drand signs for `round`: `hash_to_G1(sha256(round as u64
/// big-endian))` under [`HASH_TO_G1_DST`]. Encrypting to this point means
/// only the round's signature can decrypt.
pub fn round_identity(round: u64) -> Result<G1Affine, PointError> {
    let message = Sha256::digest(round.to_be_bytes());
    // Building the hasher checks the isogeny constants: a few field
    // operations, nothing next to the pairing every caller does next.
    G1Hasher::new(HASH_TO_G1_DST)
        .and_then(|hasher| hasher.hash(&message))
        .map_err(PointError::HashToCurve)
}

/// Whether `signature` is the beacon's signature of `round`:
/// `e(sig, g2) == e(identity(round), pk)`. A client checks a pulse with
/// this before trusting it to decrypt anything.
pub fn verify_round_signature(public_key: &PublicKey, round: u64, signature: &Signature) -> bool {
    let Ok(identity) = round_identity(round) else {
        return false;
    };
    let minus_g2 = -G2Affine::generator().into_group();
    let product = Bls12_381::multi_pairing(
        [signature.0, identity],
        [minus_g2.into_affine(), public_key.0],
    );
    product.is_zero()
}

/// The secret of a simulated beacon (the devnet's stand-in for drand):
/// it signs rounds exactly as drand does, so ciphertexts made for the
/// real network's construction open with its signatures.
///
/// Debug never shows the scalar; it is wiped when dropped.
#[derive(Clone)]
pub struct BeaconSecret(Fr);

impl BeaconSecret {
    /// A secret from 64 bytes of seed (reduced mod the group order, so
    /// it is uniform for a uniform seed). Refuses a seed that reduces to
    /// zero, whose "signatures" would all be the point at infinity.
    pub fn from_seed(seed: &[u8; 64]) -> Option<Self> {
        let scalar = Fr::from_le_bytes_mod_order(seed);
        (!scalar.is_zero()).then_some(Self(scalar))
    }

    /// A fresh random secret.
    pub fn random<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let mut seed = [0u8; 64];
            rng.fill_bytes(&mut seed);
            let secret = Self::from_seed(&seed);
            seed.zeroize();
            if let Some(secret) = secret {
                return secret;
            }
        }
    }

    /// The public key `s·g2` to configure clients with.
    pub fn public_key(&self) -> PublicKey {
        PublicKey((G2Projective::from(G2Affine::generator()) * self.0).into_affine())
    }

    /// The round's signature `s·identity(round)`, what the simulated
    /// `Drand.Pulses` stores.
    pub fn sign_round(&self, round: u64) -> Result<Signature, PointError> {
        let identity = round_identity(round)?;
        Ok(Signature((identity * self.0).into_affine()))
    }
}

impl fmt::Debug for BeaconSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BeaconSecret(<redacted>)")
    }
}

impl Drop for BeaconSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn secret() -> BeaconSecret {
        BeaconSecret::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7))
    }

    #[test]
    fn a_simulated_beacon_signs_verifiable_rounds() {
        let s = secret();
        let pk = s.public_key();
        let sig = s.sign_round(42).unwrap();
        assert!(verify_round_signature(&pk, 42, &sig));
        assert!(!verify_round_signature(&pk, 43, &sig));
        let other = BeaconSecret::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(8));
        assert!(!verify_round_signature(&other.public_key(), 42, &sig));
    }

    #[test]
    fn points_round_trip_through_bytes() {
        let s = secret();
        let pk = s.public_key();
        assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
        let sig = s.sign_round(1).unwrap();
        assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    }

    #[test]
    fn bad_points_are_refused_typed() {
        assert!(matches!(
            Signature::from_bytes(&[0u8; 47]),
            Err(PointError::Length {
                expected: 48,
                found: 47
            })
        ));
        // Compressed flag set, x above the field modulus.
        let mut beyond = [0xffu8; 96];
        beyond[0] = 0x9f;
        assert!(matches!(
            PublicKey::from_bytes(&beyond),
            Err(PointError::Encoding(_))
        ));
        // A real key with one bit of x changed: off the curve or outside
        // the subgroup.
        let mut bent = crate::QUICKNET.public_key;
        bent[95] ^= 1;
        assert!(matches!(
            PublicKey::from_bytes(&bent),
            Err(PointError::Encoding(_))
        ));
        // Compressed infinity: the flag byte 0xc0 then zeros.
        let mut infinity = [0u8; 48];
        infinity[0] = 0xc0;
        assert!(matches!(
            Signature::from_bytes(&infinity),
            Err(PointError::Infinity)
        ));
    }

    #[test]
    fn the_secret_does_not_print() {
        let text = format!("{:?}", secret());
        assert_eq!(text, "BeaconSecret(<redacted>)");
    }

    #[test]
    fn a_zero_seed_is_refused() {
        assert!(BeaconSecret::from_seed(&[0u8; 64]).is_none());
    }
}
