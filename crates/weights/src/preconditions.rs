//! The checks before weights are sent, over facts already read from the
//! configuration, the chain and the lake. Pure: the caller reads, this
//! judges, so every refusal is tested without a node.
//!
//! Checked in a fixed order, the first failure wins: a missing key makes
//! every later fact meaningless, and a user fixes problems one at a time
//! in that order.

use std::fmt;
use std::time::Duration;

use crate::quantise::Uid;

/// What the checks look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The SS58 address of the configured hotkey secret; `None` when no
    /// key is configured.
    pub derived_address: Option<String>,
    /// The hotkey address the configuration names as the validator's, if
    /// it names one: a guard against signing with the wrong seed.
    pub configured_address: Option<String>,
    /// The subnet.
    pub netuid: u16,
    /// The hotkey's uid on the subnet (`Uids(netuid, hotkey)`), `None`
    /// when it is not registered. Uid 0 is a valid uid.
    pub uid: Option<Uid>,
    /// The chain's current block.
    pub current_block: u64,
    /// `LastUpdate[uid]`: the block of the hotkey's last weights, 0 for
    /// never.
    pub last_update: u64,
    /// `WeightsSetRateLimit(netuid)`, in blocks.
    pub rate_limit: u64,
    /// The version key the weights will carry.
    pub version_key: u64,
    /// `WeightsVersionKey(netuid)`: the chain drops weights below it.
    pub chain_version_key: u64,
    /// Age of the newest validator entry in the lake (what the scores
    /// are computed from); `None` when the lake has none.
    pub newest_entry_age: Option<Duration>,
    /// The oldest the newest entry may be: older scores are stale.
    pub max_entry_age: Duration,
    /// Miners with a weight to send.
    pub scored_miners: usize,
    /// Entries the scores used whose commitment could not be checked
    /// (loaded only when the user opted in): such scores are never sent.
    pub unverifiable_entries: usize,
}

/// Why weights are not sent, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No hotkey secret is configured.
    #[error("no hotkey is configured: set the validator's hotkey seed or wallet to send weights")]
    NoKey,
    /// The configured address is not the key's.
    #[error(
        "the configured hotkey {configured} is not the address of the configured key \
         ({derived}): refusing to sign with the wrong key"
    )]
    AddressMismatch {
        /// The address the configuration names.
        configured: String,
        /// The address the key gives.
        derived: String,
    },
    /// The hotkey has no uid on the subnet.
    #[error("{hotkey} is not registered on subnet {netuid}: register it before sending weights")]
    NotRegistered {
        /// The hotkey's address.
        hotkey: String,
        /// The subnet.
        netuid: u16,
    },
    /// Too few blocks since the last weights.
    #[error(
        "rate limit: {remaining} blocks remaining (limit {limit}, last update at block {last_update})"
    )]
    RateLimited {
        /// Blocks to wait.
        remaining: u64,
        /// `WeightsSetRateLimit`.
        limit: u64,
        /// `LastUpdate[uid]`.
        last_update: u64,
    },
    /// The version key is below the chain's.
    #[error(
        "version key {ours} is below subnet {netuid}'s WeightsVersionKey {chain}: \
         the chain would drop these weights; update the validator"
    )]
    VersionKeyTooLow {
        /// Ours.
        ours: u64,
        /// The chain's.
        chain: u64,
        /// The subnet.
        netuid: u16,
    },
    /// The lake has no validator entry to score from.
    #[error("the lake has no validator entry: sync before sending weights")]
    NoEntries,
    /// The newest entry is too old: the scores would be stale.
    #[error("the newest validator entry is {} old (max {}): sync before sending weights", Age(*.age), Age(*.max))]
    Stale {
        /// Its age.
        age: Duration,
        /// The limit.
        max: Duration,
    },
    /// The scores used entries that were never proven against the chain.
    #[error(
        "the scores used {count} unverifiable entries (their commitment could not be checked): \
         weights are only sent from proven data; sync against an archive node or turn \
         sync.load_unverifiable off"
    )]
    Unverifiable {
        /// Unverifiable entries in the window.
        count: usize,
    },
    /// Nothing to weight.
    #[error("no miner has a score: nothing to send")]
    NoScores,
}

/// What the checks established, for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleared {
    /// The hotkey's uid.
    pub uid: Uid,
}

/// Runs the checks in order: key configured, configured address matches
/// the key, registered, rate limit passed, version key high enough,
/// scores fresh, scores present.
pub fn check(facts: &Facts) -> Result<Cleared, Refusal> {
    let derived = facts.derived_address.as_ref().ok_or(Refusal::NoKey)?;
    if let Some(configured) = &facts.configured_address {
        if configured != derived {
            return Err(Refusal::AddressMismatch {
                configured: configured.clone(),
                derived: derived.clone(),
            });
        }
    }
    let uid = facts.uid.ok_or_else(|| Refusal::NotRegistered {
        hotkey: derived.clone(),
        netuid: facts.netuid,
    })?;
    if let Some(remaining) = blocks_remaining(facts) {
        return Err(Refusal::RateLimited {
            remaining,
            limit: facts.rate_limit,
            last_update: facts.last_update,
        });
    }
    if facts.version_key < facts.chain_version_key {
        return Err(Refusal::VersionKeyTooLow {
            ours: facts.version_key,
            chain: facts.chain_version_key,
            netuid: facts.netuid,
        });
    }
    let age = facts.newest_entry_age.ok_or(Refusal::NoEntries)?;
    if age > facts.max_entry_age {
        return Err(Refusal::Stale {
            age,
            max: facts.max_entry_age,
        });
    }
    if facts.unverifiable_entries > 0 {
        return Err(Refusal::Unverifiable {
            count: facts.unverifiable_entries,
        });
    }
    if facts.scored_miners == 0 {
        return Err(Refusal::NoScores);
    }
    Ok(Cleared { uid })
}

/// The chain's rule: `block - LastUpdate >= WeightsSetRateLimit`, and a
/// hotkey that never set weights (LastUpdate 0) may.
fn blocks_remaining(facts: &Facts) -> Option<u64> {
    if facts.last_update == 0 {
        return None;
    }
    let since = facts.current_block.saturating_sub(facts.last_update);
    let remaining = facts.rate_limit.saturating_sub(since);
    (remaining > 0).then_some(remaining)
}

/// A duration in the largest two units that matter to a person.
struct Age(Duration);

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
        match (d, h, m) {
            (0, 0, 0) => write!(f, "{s}s"),
            (0, 0, m) => write!(f, "{m}m {}s", s % 60),
            (0, h, m) => write!(f, "{h}h {m}m"),
            (d, h, _) => write!(f, "{d}d {h}h"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    fn ready() -> Facts {
        Facts {
            derived_address: Some(ALICE.to_string()),
            configured_address: Some(ALICE.to_string()),
            netuid: 64,
            uid: Some(0),
            current_block: 1300,
            last_update: 1200,
            rate_limit: 100,
            version_key: 69420,
            chain_version_key: 69420,
            newest_entry_age: Some(Duration::from_secs(600)),
            max_entry_age: Duration::from_secs(7200),
            scored_miners: 3,
            unverifiable_entries: 0,
        }
    }

    fn refusal(change: impl FnOnce(&mut Facts)) -> String {
        let mut facts = ready();
        change(&mut facts);
        check(&facts).unwrap_err().to_string()
    }

    #[test]
    fn all_clear_with_uid_0() {
        assert_eq!(check(&ready()), Ok(Cleared { uid: 0 }));
    }

    #[test]
    fn no_key() {
        assert_eq!(
            refusal(|f| f.derived_address = None),
            "no hotkey is configured: set the validator's hotkey seed or wallet to send weights"
        );
    }

    #[test]
    fn wrong_key() {
        assert_eq!(
            refusal(|f| f.derived_address = Some(BOB.to_string())),
            format!(
                "the configured hotkey {ALICE} is not the address of the configured key ({BOB}): \
                 refusing to sign with the wrong key"
            )
        );
        let mut unnamed = ready();
        unnamed.configured_address = None;
        assert!(check(&unnamed).is_ok());
    }

    #[test]
    fn not_registered() {
        assert_eq!(
            refusal(|f| f.uid = None),
            format!("{ALICE} is not registered on subnet 64: register it before sending weights")
        );
    }

    #[test]
    fn rate_limited() {
        assert_eq!(
            refusal(|f| f.current_block = 1263),
            "rate limit: 37 blocks remaining (limit 100, last update at block 1200)"
        );
        assert!(refusal(|f| f.current_block = 1299).starts_with("rate limit: 1 blocks remaining"));
        // Exactly the limit passes, as on chain; so does never having set weights.
        let mut at_limit = ready();
        at_limit.current_block = 1300;
        assert!(check(&at_limit).is_ok());
        let mut never = ready();
        never.last_update = 0;
        never.current_block = 5;
        assert!(check(&never).is_ok());
    }

    #[test]
    fn version_key_too_low() {
        assert_eq!(
            refusal(|f| f.chain_version_key = 70000),
            "version key 69420 is below subnet 64's WeightsVersionKey 70000: \
             the chain would drop these weights; update the validator"
        );
        let mut higher = ready();
        higher.version_key = 80000;
        assert!(check(&higher).is_ok());
    }

    #[test]
    fn stale_or_missing_entries() {
        assert_eq!(
            refusal(|f| f.newest_entry_age = Some(Duration::from_secs(3 * 3600 + 20 * 60))),
            "the newest validator entry is 3h 20m old (max 2h 0m): sync before sending weights"
        );
        assert_eq!(
            refusal(|f| f.newest_entry_age = None),
            "the lake has no validator entry: sync before sending weights"
        );
    }

    #[test]
    fn no_scores() {
        assert_eq!(
            refusal(|f| f.scored_miners = 0),
            "no miner has a score: nothing to send"
        );
    }

    #[test]
    fn the_first_failure_in_order_wins() {
        // Everything wrong at once; fix one at a time and the next appears.
        let mut facts = Facts {
            derived_address: None,
            configured_address: Some(BOB.to_string()),
            uid: None,
            current_block: 1201,
            chain_version_key: u64::MAX,
            newest_entry_age: None,
            scored_miners: 0,
            unverifiable_entries: 2,
            ..ready()
        };
        let mut seen = Vec::new();
        while let Err(refusal) = check(&facts) {
            seen.push(std::mem::discriminant(&refusal));
            match refusal {
                Refusal::NoKey => facts.derived_address = Some(ALICE.to_string()),
                Refusal::AddressMismatch { .. } => facts.configured_address = None,
                Refusal::NotRegistered { .. } => facts.uid = Some(7),
                Refusal::RateLimited { .. } => facts.current_block = 1300,
                Refusal::VersionKeyTooLow { .. } => facts.chain_version_key = 0,
                Refusal::NoEntries => facts.newest_entry_age = Some(Duration::MAX),
                Refusal::Stale { .. } => facts.newest_entry_age = Some(Duration::ZERO),
                Refusal::Unverifiable { .. } => facts.unverifiable_entries = 0,
                Refusal::NoScores => facts.scored_miners = 1,
            }
        }
        let expected = [
            Refusal::NoKey,
            Refusal::AddressMismatch {
                configured: String::new(),
                derived: String::new(),
            },
            Refusal::NotRegistered {
                hotkey: String::new(),
                netuid: 0,
            },
            Refusal::RateLimited {
                remaining: 0,
                limit: 0,
                last_update: 0,
            },
            Refusal::VersionKeyTooLow {
                ours: 0,
                chain: 0,
                netuid: 0,
            },
            Refusal::NoEntries,
            Refusal::Stale {
                age: Duration::ZERO,
                max: Duration::ZERO,
            },
            Refusal::Unverifiable { count: 0 },
            Refusal::NoScores,
        ]
        .iter()
        .map(std::mem::discriminant)
        .collect::<Vec<_>>();
        assert_eq!(seen, expected);
        assert_eq!(check(&facts), Ok(Cleared { uid: 7 }));
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(Age(Duration::from_secs(45)).to_string(), "45s");
        assert_eq!(Age(Duration::from_secs(125)).to_string(), "2m 5s");
        assert_eq!(
            Age(Duration::from_secs(2 * 86_400 + 5 * 3600)).to_string(),
            "2d 5h"
        );
    }
}
