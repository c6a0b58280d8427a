//! The node's initial state as plain data: whoever starts a node (the
//! devnet's `World::chain_genesis`, a test) builds it, so the node needs
//! no knowledge of worlds.

use sp_core::crypto::Pair as _;
use sp_core::sr25519;
use sp_keyring::Sr25519Keyring;

/// The commit-reveal settings of the subnet at genesis; the defaults are
/// finney's runtime defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRevealGenesis {
    /// `Tempo`: blocks per epoch, less one. A small tempo makes reveals
    /// come within a few blocks, for tests.
    pub tempo: u16,
    /// `RevealPeriodEpochs`: epochs between a commit and its reveal.
    pub reveal_period_epochs: u64,
    /// `CommitRevealWeightsVersion`: what a commit must carry.
    pub version: u16,
    /// `WeightsVersionKey`: the least `version_key` a reveal applies.
    pub weights_version_key: u64,
}

impl Default for CommitRevealGenesis {
    fn default() -> Self {
        use subtensor::commit_reveal::*;
        CommitRevealGenesis {
            tempo: DEFAULT_TEMPO,
            reveal_period_epochs: DEFAULT_REVEAL_PERIOD_EPOCHS,
            version: DEFAULT_COMMIT_REVEAL_VERSION,
            weights_version_key: 0,
        }
    }
}

/// Free balance of every dev account at genesis: a million TAO, in rao.
pub const DEV_ENDOWMENT_RAO: u64 = 1_000_000 * 1_000_000_000;

/// The dev accounts (`//Alice`, `//Bob`, ...) as `sp-keyring` derives
/// them: endowed at genesis, as on a Substrate dev chain, so tools that
/// sign as them find funded accounts.
pub fn dev_accounts() -> Vec<[u8; 32]> {
    Sr25519Keyring::iter().map(|k| k.public().0).collect()
}

/// The mini-secret behind a dev account (`//Alice`'s is the seed the
/// generated worlds' validator signs with), derived from `sp-keyring`'s
/// URI rather than written out: a public development key, never for
/// funds. `None` when the derivation leaves no seed that reproduces the
/// key (the `//stash` accounts).
pub fn dev_seed(who: Sr25519Keyring) -> Option<[u8; 32]> {
    let (_, seed) = sr25519::Pair::from_string_with_seed(&who.to_seed(), None).ok()?;
    seed.filter(|s| sr25519::Pair::from_seed(s).public() == who.public())
}

/// A neuron as the node starts with it: the same fields the client reads
/// back as a metagraph neuron.
pub type GenesisNeuron = subtensor::Neuron;

/// The node's initial state, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainGenesis {
    /// The subnet the node simulates; every other netuid reads as absent.
    pub netuid: u16,
    /// The registered neurons, by uid.
    pub neurons: Vec<GenesisNeuron>,
    /// `(hotkey SS58, block, sha256)`: committed at that block.
    pub commitments: Vec<(String, u32, [u8; 32])>,
    /// `WeightsSetRateLimit` of the subnet, in blocks.
    pub weights_rate_limit: u64,
    /// `CommitRevealWeightsEnabled` of the subnet.
    pub commit_reveal: bool,
    /// The best block at start; raised to the newest commitment's block.
    pub head: u32,
    /// Tempo, reveal period and versions for timelocked weights.
    pub timelock: CommitRevealGenesis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_seed_signs_as_its_keyring_account() {
        use Sr25519Keyring::*;
        for who in [Alice, Bob, Charlie, Dave, Eve, Ferdie] {
            let seed = dev_seed(who).unwrap_or_else(|| panic!("{who} has a seed"));
            let key =
                subtensor::Hotkey::from_seed_hex(&format!("0x{}", hex::encode(seed))).unwrap();
            assert_eq!(key.public(), who.public().0, "{who}");
        }
        assert_eq!(dev_seed(AliceStash), None, "no seed that reproduces it");
        assert_eq!(dev_accounts().len(), Sr25519Keyring::iter().count());
    }
}
