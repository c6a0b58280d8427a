//! Timelock encryption proper: Boneh–Franklin FullIdent wrapping an
//! AES-256-GCM key, as ideal-lab5/timelock's `tle`/`tld` do it.
//!
//! With `Q` the round's identity, `pk` the beacon key and `sig = s·Q` the
//! round's signature:
//!
//! ```text
//! encrypt: sigma, key random; r = H3(sigma ‖ key)
//!          U = r·g2,  v = sigma ⊕ H2(e(Q, r·pk)),  w = key ⊕ H4(sigma)
//!          body = AES-256-GCM(key, nonce, plaintext)
//! decrypt: sigma = v ⊕ H2(e(sig, U));  key = w ⊕ H4(sigma)
//!          refuse unless U == H3(sigma ‖ key)·g2;  open the body
//! ```
//!
//! `e(Q, r·pk) = e(s·Q, r·g2)`, so only the round's signature recovers
//! sigma. H2 is SHA-256 of the pairing value's ark encoding, H3 SHA-256
//! read big-endian mod the group order, H4 SHA-256.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ark_bls12_381::{Bls12_381, Fq12, Fr, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::PrimeField;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, SerializationError};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::bls::{round_identity, PointError, PublicKey, Signature};
use crate::wire::{Commit, WireError, CIPHER_SUITE};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A commit is this many bytes longer than its plaintext (244: the
/// header, length prefixes, AES tag, nonce and cipher suite).
pub const HEADER_OVERHEAD: usize =
    crate::wire::U_LEN + 8 * 6 + 2 * KEY_LEN + TAG_LEN + NONCE_LEN + CIPHER_SUITE.len();

/// Why a plaintext could not be encrypted.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    /// The round has no identity point (see [`PointError::HashToCurve`]).
    #[error("round {round}: {source}")]
    Identity {
        /// The round encrypted to.
        round: u64,
        /// Why hashing it failed.
        #[source]
        source: PointError,
    },
    /// Beyond AES-GCM's limit (64 GiB); a commit is capped at 5000 bytes
    /// long before that.
    #[error("plaintext of {0} bytes is too long for AES-GCM")]
    TooLong(usize),
}

/// Why commit bytes did not decrypt. Each is a reason the chain would
/// drop the commit at reveal.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The bytes do not have the commit layout (truncated, or a length
    /// prefix beyond the end).
    #[error("malformed commit: {0}")]
    Wire(#[from] WireError),
    /// A field of fixed size has another size.
    #[error("malformed commit: {field} is {found} bytes, expected {expected}")]
    FieldLength {
        /// `v`, `w` or `body.nonce`.
        field: &'static str,
        /// The size the construction uses.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// The header's `U` is not a valid compressed G2 point.
    #[error("malformed commit: U is not a G2 point")]
    Point(#[source] SerializationError),
    /// The signature does not open this commit: it belongs to another
    /// round or another beacon, or the header was altered.
    #[error("the signature does not open this commit (wrong round or beacon, or altered header)")]
    WrongKey,
    /// The key opened but the body's authentication tag failed: the body
    /// was altered.
    #[error("the body fails its AES-GCM authentication tag")]
    Tag,
}

/// The randomness of one encryption. Kept apart so the construction is a
/// pure function and the secrets can be wiped afterwards.
struct Entropy {
    sigma: [u8; KEY_LEN],
    key: [u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
}

impl Drop for Entropy {
    fn drop(&mut self) {
        self.sigma.zeroize();
        self.key.zeroize();
    }
}

/// Encrypts `plaintext` so that only the beacon's signature of `round`
/// opens it; the result is the `commit` argument of
/// `commit_timelocked_weights` ([`HEADER_OVERHEAD`] + plaintext bytes).
///
/// `rng` must be a cryptographic generator: anyone who can predict the
/// key or sigma reads the weights before the round.
pub fn encrypt<R: rand::CryptoRng + ?Sized>(
    public_key: &PublicKey,
    round: u64,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, EncryptError> {
    let mut entropy = Entropy {
        sigma: [0; KEY_LEN],
        key: [0; KEY_LEN],
        nonce: [0; NONCE_LEN],
    };
    rng.fill_bytes(&mut entropy.sigma);
    rng.fill_bytes(&mut entropy.key);
    rng.fill_bytes(&mut entropy.nonce);
    seal(public_key, round, plaintext, &entropy)
}

fn seal(
    public_key: &PublicKey,
    round: u64,
    plaintext: &[u8],
    entropy: &Entropy,
) -> Result<Vec<u8>, EncryptError> {
    let identity =
        round_identity(round).map_err(|source| EncryptError::Identity { round, source })?;
    let r = h3(&entropy.sigma, &entropy.key);
    let u = (G2Projective::from(G2Affine::generator()) * r).into_affine();
    let shared = Bls12_381::pairing(identity, (public_key.0 * r).into_affine()).0;
    let v = xor(&entropy.sigma, &h2(&shared));
    let w = xor(&entropy.key, &h4(&entropy.sigma));
    let ciphertext = Aes256Gcm::new(&entropy.key.into())
        .encrypt(&Nonce::from(entropy.nonce), plaintext)
        .map_err(|_| EncryptError::TooLong(plaintext.len()))?;
    let mut u_bytes = [0u8; crate::wire::U_LEN];
    // A compressed G2 point is exactly U_LEN bytes.
    let written = u.serialize_compressed(&mut u_bytes[..]);
    debug_assert!(written.is_ok());
    Ok(Commit {
        u: &u_bytes,
        v: &v,
        w: &w,
        ciphertext: &ciphertext,
        nonce: &entropy.nonce,
        cipher_suite: CIPHER_SUITE,
    }
    .to_bytes())
}

/// Opens a commit with its round's signature, accepting exactly what the
/// chain's reveal accepts. Any bytes give a value or a typed error,
/// never a panic.
pub fn decrypt(commit: &[u8], signature: &Signature) -> Result<Vec<u8>, DecryptError> {
    let parts = Commit::parse(commit)?;
    let v: [u8; KEY_LEN] = fixed("v", parts.v)?;
    let w: [u8; KEY_LEN] = fixed("w", parts.w)?;
    let nonce: [u8; NONCE_LEN] = fixed("body.nonce", parts.nonce)?;
    let u = G2Affine::deserialize_compressed(parts.u).map_err(DecryptError::Point)?;

    let shared = Bls12_381::pairing(signature.0, u).0;
    let mut sigma = xor(&v, &h2(&shared));
    let mut key = xor(&w, &h4(&sigma));
    let r = h3(&sigma, &key);
    sigma.zeroize();
    // The FullIdent check: only the right signature reproduces r.
    if (G2Projective::from(G2Affine::generator()) * r).into_affine() != u {
        key.zeroize();
        return Err(DecryptError::WrongKey);
    }
    let opened = Aes256Gcm::new(&key.into()).decrypt(&Nonce::from(nonce), parts.ciphertext);
    key.zeroize();
    opened.map_err(|_| DecryptError::Tag)
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], DecryptError> {
    bytes.try_into().map_err(|_| DecryptError::FieldLength {
        field,
        expected: N,
        found: bytes.len(),
    })
}

fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// H2: the pairing value to 32 bytes (SHA-256 of its 576-byte encoding).
fn h2(value: &Fq12) -> [u8; KEY_LEN] {
    let mut bytes = Vec::with_capacity(576);
    // Serialising a field element into a Vec cannot fail.
    let written = value.serialize_compressed(&mut bytes);
    debug_assert!(written.is_ok());
    Sha256::digest(&bytes).into()
}

/// H3: sigma and the key to the scalar r.
fn h3(sigma: &[u8; KEY_LEN], key: &[u8; KEY_LEN]) -> Fr {
    let digest = Sha256::new()
        .chain_update(sigma)
        .chain_update(key)
        .finalize();
    Fr::from_be_bytes_mod_order(&digest)
}

/// H4: sigma to the mask of the key.
fn h4(sigma: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    Sha256::digest(sigma).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BeaconSecret;
    use rand::SeedableRng;

    fn entropy() -> Entropy {
        Entropy {
            sigma: [7; KEY_LEN],
            key: [9; KEY_LEN],
            nonce: [1; NONCE_LEN],
        }
    }

    fn beacon() -> BeaconSecret {
        BeaconSecret::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1))
    }

    #[test]
    fn overhead_is_the_specs() {
        assert_eq!(HEADER_OVERHEAD, 244);
    }

    #[test]
    fn sealing_is_a_function_of_its_randomness() {
        let pk = beacon().public_key();
        let a = seal(&pk, 5, b"weights", &entropy()).unwrap();
        let b = seal(&pk, 5, b"weights", &entropy()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), HEADER_OVERHEAD + 7);
        let c = seal(&pk, 6, b"weights", &entropy()).unwrap();
        // Same randomness, other round: same U and w, another v.
        assert_eq!(a[..96], c[..96]);
        assert_ne!(a[104..136], c[104..136]);
    }

    #[test]
    fn an_altered_body_fails_its_tag() {
        let secret = beacon();
        let mut commit = seal(&secret.public_key(), 5, b"weights", &entropy()).unwrap();
        commit[192] ^= 1; // first ciphertext byte
        let err = decrypt(&commit, &secret.sign_round(5).unwrap()).unwrap_err();
        assert!(matches!(err, DecryptError::Tag), "{err}");
    }

    #[test]
    fn an_altered_mask_is_caught_by_the_header_check() {
        let secret = beacon();
        let mut commit = seal(&secret.public_key(), 5, b"weights", &entropy()).unwrap();
        commit[150] ^= 1; // inside w
        let err = decrypt(&commit, &secret.sign_round(5).unwrap()).unwrap_err();
        assert!(matches!(err, DecryptError::WrongKey), "{err}");
    }

    #[test]
    fn wrong_field_sizes_are_typed() {
        let secret = beacon();
        let sig = secret.sign_round(5).unwrap();
        let commit = |v: &[u8], nonce: &[u8]| {
            Commit {
                u: &[0; 96],
                v,
                w: &[0; 32],
                ciphertext: &[0; 16],
                nonce,
                cipher_suite: CIPHER_SUITE,
            }
            .to_bytes()
        };
        let err = decrypt(&commit(&[0; 31], &[0; 12]), &sig).unwrap_err();
        assert!(
            matches!(
                err,
                DecryptError::FieldLength {
                    field: "v",
                    expected: 32,
                    found: 31
                }
            ),
            "{err}"
        );
        // A long v makes the reference's H4 slice past its digest (a
        // panic); here it is a typed refusal.
        let err = decrypt(&commit(&[0; 33], &[0; 12]), &sig).unwrap_err();
        assert!(
            matches!(
                err,
                DecryptError::FieldLength {
                    field: "v",
                    expected: 32,
                    found: 33
                }
            ),
            "{err}"
        );
        let err = decrypt(&commit(&[0; 32], &[0; 11]), &sig).unwrap_err();
        assert!(
            matches!(
                err,
                DecryptError::FieldLength {
                    field: "body.nonce",
                    expected: 12,
                    found: 11
                }
            ),
            "{err}"
        );
    }
}
