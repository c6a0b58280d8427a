//! The devnet's stand-in for drand (docs/spec/commit-reveal.md, "A simulated
//! node without drand"): a fixed secret signs rounds exactly as drand's
//! quicknet does, so a commit encrypted to its public key opens with the
//! pulses the node stores, through the same decryption the chain uses.

use drand_tlock::{Beacon, BeaconSecret, Signature};

/// Seconds between rounds, as on quicknet.
pub const BEACON_PERIOD: u64 = 3;

/// The label the secret is derived from (`blake2_512` of it): a public,
/// development-only secret, like the dev accounts' seeds. It is never
/// printed; its public key is what clients are configured with.
const SECRET_LABEL: &[u8] = b"chutes-audit devnet drand beacon secret v1";

/// The simulated beacon: its secret, and when round 1 was published.
#[derive(Debug, Clone)]
pub(crate) struct DevBeacon {
    secret: BeaconSecret,
    public: Beacon,
}

impl DevBeacon {
    /// The beacon whose round 1 is at `genesis_time` (unix seconds).
    pub(crate) fn new(genesis_time: u64) -> DevBeacon {
        let seed = sp_core::hashing::blake2_512(SECRET_LABEL);
        // blake2_512 of a fixed label does not reduce to zero (checked by
        // a test), so the fallback is never taken; it keeps this total.
        let secret = BeaconSecret::from_seed(&seed).unwrap_or_else(|| {
            let mut one = [0u8; 64];
            one[0] = 1;
            BeaconSecret::from_seed(&one).expect("1 is not 0 mod r")
        });
        let public = Beacon {
            public_key: secret.public_key().to_bytes(),
            genesis_time,
            period: BEACON_PERIOD,
        };
        DevBeacon { secret, public }
    }

    /// What a client is configured with: public key, genesis, period.
    pub(crate) fn public(&self) -> Beacon {
        self.public
    }

    /// The round's signature, as drand would publish it.
    pub(crate) fn sign(&self, round: u64) -> Option<Signature> {
        self.secret.sign_round(round).ok()
    }
}

/// The unix time now, in seconds: the beacon's rounds follow the clock.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beacon_signs_rounds_its_public_key_verifies() {
        let beacon = DevBeacon::new(1_700_000_000);
        let key = beacon.public().key().expect("a valid G2 point");
        let sig = beacon.sign(7).expect("round 7 signs");
        assert!(drand_tlock::verify_round_signature(&key, 7, &sig));
        assert!(!drand_tlock::verify_round_signature(&key, 8, &sig));
        let seed = sp_core::hashing::blake2_512(SECRET_LABEL);
        assert!(BeaconSecret::from_seed(&seed).is_some());
    }
}
