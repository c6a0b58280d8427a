//! SS58 addresses (prefix 42), as Substrate writes them: base58 of
//! `prefix ++ public key ++ blake2b-512("SS58PRE" ++ prefix ++ key)[..2]`.

use blake2::{Blake2b512, Digest};

/// The generic Substrate prefix, used by Bittensor.
pub const PREFIX: u8 = 42;

/// The SS58 address of a 32-byte public key.
pub fn encode(public: &[u8; 32]) -> String {
    let mut body = Vec::with_capacity(35);
    body.push(PREFIX);
    body.extend_from_slice(public);
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(&body);
    let checksum = hasher.finalize();
    body.extend_from_slice(&checksum[..2]);
    bs58::encode(body).into_string()
}

/// The public key of an address, if its checksum and prefix hold.
pub fn decode(address: &str) -> Option<[u8; 32]> {
    let bytes = bs58::decode(address).into_vec().ok()?;
    if bytes.len() != 35 || bytes[0] != PREFIX {
        return None;
    }
    let key: [u8; 32] = bytes[1..33].try_into().ok()?;
    (encode(&key) == address).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_well_known_dev_addresses() {
        // //Alice's sr25519 public key and its address on prefix 42.
        let alice = hex::decode("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
            .unwrap();
        let address = encode(&alice.try_into().unwrap());
        assert_eq!(address, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert!(decode(&address).is_some());
        assert!(decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").is_none());
    }
}
