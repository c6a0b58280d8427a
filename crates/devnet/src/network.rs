//! A world served as a whole network on loopback: the HTTP API (the read
//! endpoints and the traced invocations) and the simulated chain node,
//! wired so that every hour the HTTP side publishes is committed on the
//! chain. The one way `auditctl devnet serve`, the demo, the tests and the
//! benchmarks start the devnet, so they cannot drift apart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use audit_config::{BeaconConfig, Config, Secret, ValidatorConfig};
use audit_sync::{SubtensorChain, SyncOptions};
use chrono::NaiveDateTime;
use chutes_client::{ChutesClient, ClientConfig, ClientError, Endpoints};
use devnet_chain::{Beacon, ChainNode, CommitRevealGenesis, NodeError};
use subtensor::{ChainError, SubtensorClient};

use crate::live::Published;
use crate::server::DevnetServer;
use crate::world::World;
use crate::DevnetError;

/// Blocks per epoch less one on a devnet with commit-reveal on: a commit
/// reveals within two epochs, minutes rather than hours.
pub const COMMIT_REVEAL_TEMPO: u16 = 10;

/// How often a commit-reveal devnet produces a block: finney's pace, so a
/// client's reveal-round arithmetic (12 s blocks) holds.
pub const BLOCK_TIME: Duration = Duration::from_secs(12);

/// Where and how to serve a world. The default serves both sides on
/// ephemeral loopback ports with commit-reveal off, as tests want.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkOptions {
    /// The HTTP API's port on 127.0.0.1; 0 picks a free one.
    pub http_port: u16,
    /// The chain node's JSON-RPC port on 127.0.0.1; 0 picks a free one.
    pub chain_port: u16,
    /// Turns commit-reveal weights on (tempo [`COMMIT_REVEAL_TEMPO`]) and
    /// produces a block every [`BLOCK_TIME`], so timelocked weights reveal
    /// while the network runs.
    pub commit_reveal: bool,
    /// With commit-reveal on: the block time, when not [`BLOCK_TIME`]
    /// (a demo that wants its commit revealed within a minute).
    pub block_time: Option<Duration>,
}

/// Why the devnet could not start or hand out a client.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The world's reports could not be read into the chain's genesis.
    #[error("the world's chain genesis: {0}")]
    Genesis(#[source] DevnetError),
    /// The chain node did not start.
    #[error("the devnet chain node: {0}")]
    Chain(#[source] NodeError),
    /// The HTTP API did not start.
    #[error("the devnet HTTP API: {0}")]
    Http(#[source] DevnetError),
    /// A Chutes client for the devnet could not be built.
    #[error("a Chutes client for the devnet: {0}")]
    Client(#[source] ClientError),
    /// The subtensor client could not connect to the devnet's node.
    #[error("connecting to the devnet chain: {0}")]
    Connect(#[source] ChainError),
}

/// Lies the devnet's chain node tells, consistently in every answer
/// (storage, keys, the runtime API and read proofs; headers and block
/// hashes stay the chain's), so that only an auditor proving its reads
/// against the state root catches them: `devnet serve --swap-keys`,
/// `--forge-commitment`, `--stale-root`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainLies {
    /// Two uids whose hotkeys are answered swapped.
    pub swap_keys: Option<(u16, u16)>,
    /// Commitments the chain never saw.
    pub forged_commitments: Vec<ForgedCommitment>,
    /// Answer block N with the state of block N − this.
    pub stale_root: Option<u32>,
}

/// A commitment the chain never saw: `hotkey` answered as having
/// committed `sha256` at `block`. Written `HOTKEY@BLOCK=SHA256` (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgedCommitment {
    /// The committing hotkey's SS58 address.
    pub hotkey: String,
    /// The block it is claimed at.
    pub block: u32,
    /// The report hash claimed.
    pub sha256: [u8; 32],
}

impl std::str::FromStr for ForgedCommitment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let form = "give HOTKEY@BLOCK=SHA256, the hash as 64 hex digits";
        let (hotkey, rest) = text
            .split_once('@')
            .ok_or_else(|| format!("`{text}` has no `@`: {form}"))?;
        let (block, sha256) = rest
            .split_once('=')
            .ok_or_else(|| format!("`{text}` has no `=`: {form}"))?;
        let block = block
            .parse()
            .map_err(|_| format!("block `{block}` is not a block number: {form}"))?;
        let sha256 = hex::decode(sha256.trim_start_matches("0x"))
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| format!("`{sha256}` is not a sha256: {form}"))?;
        Ok(ForgedCommitment {
            hotkey: hotkey.to_string(),
            block,
            sha256,
        })
    }
}

/// A running devnet: the HTTP API and the chain node of one world.
/// Dropping it stops both.
pub struct Network {
    server: DevnetServer,
    chain: Arc<ChainNode>,
    netuid: u16,
    validator_hotkey: String,
    beacon: Option<Beacon>,
}

impl Network {
    /// Starts the chain node from the world's genesis, then the HTTP API,
    /// and commits every published hour's report on the chain.
    pub async fn start(world: World, options: NetworkOptions) -> Result<Network, NetworkError> {
        let genesis = world.chain_genesis().map_err(NetworkError::Genesis)?;
        let chain = Arc::new(
            ChainNode::start(&genesis, loopback(options.chain_port))
                .await
                .map_err(NetworkError::Chain)?,
        );
        let (netuid, validator_hotkey) = (world.meta.netuid, world.meta.validator_hotkey.clone());
        let server = DevnetServer::start(world, loopback(options.http_port))
            .await
            .map_err(NetworkError::Http)?;
        // Weak: the network owns the node, so dropping the network stops
        // it even while the HTTP side drains its connections.
        let committer = Arc::downgrade(&chain);
        server.on_publish(Arc::new(move |p: &Published| {
            let Some(chain) = committer.upgrade() else {
                return;
            };
            // A generated world's hotkeys are SS58; a hand-made world's
            // typo must not take the server down, only be told.
            if let Err(e) = chain.commit(&p.entry.hotkey, p.entry.block, p.report_sha256) {
                tracing::error!("the chain could not commit entry {}: {e}", p.entry.entry_id);
            }
        }));
        let block_time = options.block_time.unwrap_or(BLOCK_TIME);
        let beacon = options
            .commit_reveal
            .then(|| start_commit_reveal(&chain, block_time));
        Ok(Network {
            server,
            chain,
            netuid,
            validator_hotkey,
            beacon,
        })
    }

    /// The HTTP API: fault switches, the open hour, the world as served.
    pub fn server(&self) -> &DevnetServer {
        &self.server
    }

    /// The chain node: its head, and the switches tests turn (pruning,
    /// withholding a commitment).
    pub fn chain(&self) -> &ChainNode {
        &self.chain
    }

    /// Makes the chain node tell `lies` from now on (on top of any it
    /// tells already). A forged commitment's hotkey must be an SS58
    /// address.
    pub fn tell_lies(&self, lies: &ChainLies) -> Result<(), NetworkError> {
        if let Some(pair) = lies.swap_keys {
            self.chain.swap_keys(Some(pair));
        }
        for forged in &lies.forged_commitments {
            self.chain
                .forge_commitment(&forged.hotkey, forged.block, forged.sha256)
                .map_err(NetworkError::Chain)?;
        }
        if lies.stale_root.is_some() {
            self.chain.serve_stale_root(lies.stale_root);
        }
        Ok(())
    }

    /// The HTTP API's base URL, with a trailing slash.
    pub fn http_url(&self) -> url::Url {
        url::Url::parse(&self.server.url()).expect("a loopback socket address is a URL")
    }

    /// The chain node's `ws://` URL.
    pub fn ws_url(&self) -> String {
        self.chain.ws_url()
    }

    /// The per-chute URL template clients invoke chutes through.
    pub fn chute_url_template(&self) -> String {
        self.server.chute_url_template()
    }

    /// The subnet the chain simulates.
    pub fn netuid(&self) -> u16 {
        self.netuid
    }

    /// The hotkey of the world's validator, whose entries are scored.
    pub fn validator_hotkey(&self) -> &str {
        &self.validator_hotkey
    }

    /// The beacon timelocked weights are encrypted to, when commit-reveal
    /// is on (its secret stays in the node).
    pub fn beacon(&self) -> Option<Beacon> {
        self.beacon
    }

    /// Closes the open hour: its exports, report and entry are published
    /// and the report's hash committed on the chain.
    pub fn advance(&self) -> Result<Published, DevnetError> {
        self.server.advance()
    }

    /// A client configuration with every endpoint at this devnet and
    /// retries that do not wait long (loopback answers at once).
    pub fn client_config(&self) -> ClientConfig {
        let url = self.http_url();
        let mut config = ClientConfig::new(Endpoints {
            api: url.clone(),
            llm: url,
            chute_url_template: self.chute_url_template(),
        });
        config.backoff = Duration::from_millis(1);
        config
    }

    /// A Chutes client for this devnet ([`Network::client_config`]).
    pub fn chutes_client(&self) -> Result<ChutesClient, NetworkError> {
        ChutesClient::new(self.client_config()).map_err(NetworkError::Client)
    }

    /// The chain as the sync pipeline reads it: a subtensor client
    /// connected to this node, on the world's subnet.
    pub async fn chain_source(&self) -> Result<SubtensorChain, NetworkError> {
        let client = SubtensorClient::connect(&self.ws_url(), Default::default())
            .await
            .map_err(NetworkError::Connect)?;
        Ok(SubtensorChain {
            client,
            netuid: self.netuid,
        })
    }

    /// Sync options at `at` that read the world's validator from this
    /// devnet; tune them further with the `with_*` setters.
    pub fn sync_options(&self, at: NaiveDateTime) -> SyncOptions {
        SyncOptions::new(
            at,
            BTreeMap::from([(self.validator_hotkey.clone(), self.http_url().to_string())]),
        )
    }
}

impl Network {
    /// `base` pointed at this devnet: every URL, the subnet, the world's
    /// validator, the beacon when commit-reveal is on, and the dev key
    /// only when it derives the validator's address (a world made
    /// elsewhere has another validator, whose seed the devnet lacks).
    pub fn auditor_config(&self, mut config: Config) -> Config {
        let url = self.http_url();
        let chain = url::Url::parse(&self.ws_url()).expect("the node's ws:// URL is a URL");
        config.api_key = Some(Secret::new("devnet".into()));
        config.endpoints.api = url.clone();
        config.endpoints.llm = url.clone();
        config.endpoints.chute_url_template = self.chute_url_template();
        config.validators = vec![ValidatorConfig {
            name: "devnet".into(),
            hotkey: self.validator_hotkey.clone(),
            url,
        }];
        config.netuid = self.netuid;
        config.subtensor.url = chain.clone();
        config.subtensor.archive_url = Some(chain);
        let seed = validator_seed_hex();
        let ours = subtensor::Hotkey::from_seed_hex(&seed)
            .is_ok_and(|key| key.check_address(&self.validator_hotkey).is_ok());
        let w = &mut config.set_weights;
        w.ss58 = ours.then(|| self.validator_hotkey.clone());
        w.secret_seed = ours.then(|| Secret::new(seed));
        w.hotkey_file = None;
        if let Some(beacon) = &self.beacon {
            w.beacon = BeaconConfig::from(beacon);
        }
        config
    }
}

/// Blocks a second on a commit-reveal demo: a commit reveals within two
/// epochs of 11 blocks, well inside the demo's two minutes.
pub const DEMO_BLOCK_TIME: Duration = Duration::from_secs(1);

impl Network {
    /// `auditctl demo`'s configuration over [`Network::auditor_config`]:
    /// its own data dir (`home/data`, SQLite), every stage and synthetic
    /// type on, weights sent as the devnet's validator (at
    /// [`DEMO_BLOCK_TIME`] with commit-reveal), and intervals short enough
    /// for simulated hours.
    pub fn demo_config(&self, base: Config, home: &std::path::Path, commit_reveal: bool) -> Config {
        let mut config = self.auditor_config(base);
        config.data_dir = home.join("data");
        config.database_url = None;
        config.set_weights.enabled = true;
        if commit_reveal {
            config.set_weights.block_time_seconds = DEMO_BLOCK_TIME.as_secs();
        }
        let i = &mut config.intervals;
        (i.sync_seconds, i.synthetics_seconds) = (1, 1);
        (i.compare_prom_seconds, i.weights_seconds) = (1, 1);
        config.run.stages = Default::default();
        for task in [
            &mut config.synthetics.chat,
            &mut config.synthetics.completion,
            &mut config.synthetics.image,
            &mut config.synthetics.tts,
            &mut config.synthetics.embed,
        ] {
            task.enabled = true;
        }
        config
    }
}

/// The mini-secret of `//Alice`, the generated worlds' validator
/// ([`crate::VALIDATOR_HOTKEY`]), as `0x` hex: a public development key,
/// so tests and demos can sign weights as the validator. Never for funds.
pub fn validator_seed_hex() -> String {
    let seed = devnet_chain::dev_seed(devnet_chain::Sr25519Keyring::Alice)
        .expect("//Alice is derived from a seed (devnet-chain tests it)");
    format!("0x{}", hex::encode(seed))
}

fn loopback(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// Turns commit-reveal on with a short tempo and lets the node produce
/// blocks by itself (beacon rounds follow the clock); returns the beacon.
fn start_commit_reveal(chain: &ChainNode, block_time: Duration) -> Beacon {
    chain.set_timelock(CommitRevealGenesis {
        tempo: COMMIT_REVEAL_TEMPO,
        ..Default::default()
    });
    chain.set_commit_reveal(true);
    chain.produce_blocks(block_time);
    chain.beacon()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_seed_signs_as_the_generated_validator() {
        let key = subtensor::Hotkey::from_seed_hex(&validator_seed_hex()).unwrap();
        assert_eq!(key.ss58(), crate::VALIDATOR_HOTKEY);
    }
}
