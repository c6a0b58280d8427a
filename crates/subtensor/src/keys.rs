//! A validator's hotkey: an sr25519 pair from a `0x` secret seed (the
//! 32-byte mini-secret of a wallet's `secretSeed`), from a wallet hotkey
//! file, or from a dev URI such as `//Alice` for tests. Its address is
//! SS58 with prefix 42. The secret never leaves this module in text: not
//! in `Debug`, not in errors.

use std::path::Path;

use sp_core::crypto::{Ss58AddressFormat, Ss58Codec};
use sp_core::{sr25519, Pair};
use zeroize::Zeroizing;

use crate::runtime::SS58_PREFIX;

/// Why a key could not be had; never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The seed is not `0x` and 32 bytes of hex (its value is not repeated).
    #[error("the secret seed must be 0x followed by 64 hex digits (32 bytes)")]
    BadSeed,
    /// A wallet hotkey file that cannot be read or lacks its seed.
    #[error("{}: {message}", path.display())]
    WalletFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it (never its content).
        message: String,
    },
    /// Not a development key URI (devnet only).
    #[error("{0:?} is not a dev URI such as //Alice")]
    BadUri(String),
    /// Not an SS58 address of the Bittensor prefix, or a bad checksum.
    #[error("{0:?} is not an SS58 address with prefix 42")]
    BadAddress(String),
    /// The configured address is not the seed's: signing would set weights
    /// for another hotkey than the one the operator believes.
    #[error(
        "the configured hotkey {configured} is not the seed's address {derived}: refusing to sign"
    )]
    Mismatch {
        /// The address the configuration names.
        configured: String,
        /// The address the seed derives.
        derived: String,
    },
}

/// An sr25519 key pair.
#[derive(Clone)]
pub struct Hotkey {
    pair: sr25519::Pair,
}

impl std::fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hotkey({})", self.ss58())
    }
}

/// The SS58 (prefix 42) address of a public key.
pub fn ss58(public: &[u8; 32]) -> String {
    sr25519::Public::from_raw(*public)
        .to_ss58check_with_version(Ss58AddressFormat::custom(SS58_PREFIX))
}

/// The public key of an SS58 address with prefix 42.
pub fn public_key(address: &str) -> Result<[u8; 32], KeyError> {
    let (public, format) = sr25519::Public::from_ss58check_with_version(address)
        .map_err(|_| KeyError::BadAddress(address.to_string()))?;
    if u16::from(format) != SS58_PREFIX {
        return Err(KeyError::BadAddress(address.to_string()));
    }
    Ok(public.0)
}

impl Hotkey {
    /// From a `0x`-prefixed 32-byte mini-secret.
    pub fn from_seed_hex(seed: &str) -> Result<Hotkey, KeyError> {
        let hex_digits = seed.trim().strip_prefix("0x").ok_or(KeyError::BadSeed)?;
        // The copies of the secret made here are zeroed when dropped; the
        // pair's own secret key zeroes itself (schnorrkel).
        let bytes = Zeroizing::new(hex::decode(hex_digits).map_err(|_| KeyError::BadSeed)?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| KeyError::BadSeed)?);
        Ok(Hotkey {
            pair: sr25519::Pair::from_seed(&seed),
        })
    }

    /// From an unencrypted wallet hotkey file (`secretSeed`; its
    /// `ss58Address`, when present, must agree).
    pub fn from_wallet_file(path: &Path) -> Result<Hotkey, KeyError> {
        let fail = |message: &str| KeyError::WalletFile {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(&e.to_string()))?);
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| fail("not JSON: an encrypted wallet file must be decrypted first"))?;
        let seed = doc
            .get("secretSeed")
            .and_then(|v| v.as_str())
            .ok_or_else(|| fail("no `secretSeed` field"))?;
        let key = Hotkey::from_seed_hex(seed)
            .map_err(|_| fail("`secretSeed` is not 0x + 64 hex digits"))?;
        if let Some(address) = doc.get("ss58Address").and_then(|v| v.as_str()) {
            key.check_address(address)?;
        }
        Ok(key)
    }

    /// From a dev URI (`//Alice`, `//Bob`, …): test and demo keys only.
    pub fn from_dev_uri(uri: &str) -> Result<Hotkey, KeyError> {
        if !uri.starts_with("//") {
            return Err(KeyError::BadUri(uri.to_string()));
        }
        let pair =
            sr25519::Pair::from_string(uri, None).map_err(|_| KeyError::BadUri(uri.to_string()))?;
        Ok(Hotkey { pair })
    }

    /// The pair, for the signer inside this crate only.
    pub(crate) fn pair(&self) -> &sr25519::Pair {
        &self.pair
    }

    /// The sr25519 public key: what storage keys and the metagraph hold.
    pub fn public(&self) -> [u8; 32] {
        self.pair.public().0
    }

    /// The SS58 address (prefix 42).
    pub fn ss58(&self) -> String {
        ss58(&self.public())
    }

    /// Signs `message` (sr25519, Substrate signing context).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).0
    }

    /// Refuses a configured address that is not this key's.
    pub fn check_address(&self, configured: &str) -> Result<(), KeyError> {
        let derived = self.ss58();
        if configured.trim() != derived {
            return Err(KeyError::Mismatch {
                configured: configured.trim().to_string(),
                derived,
            });
        }
        Ok(())
    }
}

/// Checks an sr25519 signature by a public key.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    sr25519::Pair::verify(
        &sr25519::Signature::from_raw(*signature),
        message,
        &sr25519::Public::from_raw(*public),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    // The well-known mini-secret behind //Alice.
    const ALICE_SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";

    #[test]
    fn dev_uri_and_seed_give_the_well_known_address() {
        assert_eq!(Hotkey::from_dev_uri("//Alice").unwrap().ss58(), ALICE);
        assert_eq!(Hotkey::from_seed_hex(ALICE_SEED).unwrap().ss58(), ALICE);
        assert_eq!(
            public_key(ALICE).unwrap(),
            Hotkey::from_dev_uri("//Alice").unwrap().public()
        );
    }

    #[test]
    fn a_wallet_file_is_read_and_its_address_checked() {
        let dir = std::env::temp_dir().join(format!("subtensor-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hotkey");
        std::fs::write(
            &file,
            format!(r#"{{"accountId":"0x","publicKey":"0x","secretPhrase":"x","secretSeed":"{ALICE_SEED}","ss58Address":"{ALICE}"}}"#),
        )
        .unwrap();
        assert_eq!(Hotkey::from_wallet_file(&file).unwrap().ss58(), ALICE);
        let bob = Hotkey::from_dev_uri("//Bob").unwrap().ss58();
        std::fs::write(
            &file,
            format!(r#"{{"secretSeed":"{ALICE_SEED}","ss58Address":"{bob}"}}"#),
        )
        .unwrap();
        assert!(matches!(
            Hotkey::from_wallet_file(&file),
            Err(KeyError::Mismatch { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_secret_never_prints() {
        let key = Hotkey::from_seed_hex(ALICE_SEED).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&ALICE_SEED[2..]), "{shown}");
        assert!(shown.contains(ALICE));
        let err = Hotkey::from_seed_hex("0xnothex").unwrap_err().to_string();
        assert!(!err.contains("nothex"), "{err}");
        let err = key
            .check_address("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")
            .unwrap_err();
        assert!(!err.to_string().contains(&ALICE_SEED[2..]));
    }

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let key = Hotkey::from_dev_uri("//Alice").unwrap();
        let sig = key.sign(b"payload");
        assert!(verify(&key.public(), b"payload", &sig));
        assert!(!verify(&key.public(), b"payloaD", &sig));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(matches!(
            Hotkey::from_seed_hex("abcd"),
            Err(KeyError::BadSeed)
        ));
        assert!(matches!(
            Hotkey::from_seed_hex("0x1234"),
            Err(KeyError::BadSeed)
        ));
        assert!(matches!(
            Hotkey::from_dev_uri("Alice"),
            Err(KeyError::BadUri(_))
        ));
        assert!(matches!(
            public_key("not-an-address"),
            Err(KeyError::BadAddress(_))
        ));
    }
}
