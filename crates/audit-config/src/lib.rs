//! The auditor's configuration: one YAML file, overridable by environment
//! variables and command-line flags, in that order of precedence (flags win).
//!
//! Parsing is strict on purpose: a typo in a key is an error naming the key,
//! not a silently ignored setting. Secrets (`api_key`, the hotkey seed) are
//! held in [`Secret`], which never prints its value: not in `Debug`, not in
//! the effective config, not in errors.
//!
//! An upstream `config/config.yml` (the Python auditor's) is read too:
//! [`upstream`] moves its keys onto ours before the strict parse and says
//! what it moved.
//!
//! ```
//! use audit_config::{Config, Environment, Overrides, Secret};
//!
//! /// No environment variables: only the defaults and the flags count.
//! struct NoEnv;
//! impl Environment for NoEnv {
//!     fn var(&self, _: &str) -> Option<String> {
//!         None
//!     }
//! }
//!
//! let set = |value: &str| Overrides {
//!     set: vec![value.to_string()],
//!     ..Overrides::default()
//! };
//! let config = Config::load(None, &NoEnv, &set("sync.window_days=14")).unwrap();
//! assert_eq!(config.sync.window_days, 14);
//!
//! // A typo is an error naming the key, never a setting silently ignored;
//! // so is a value at odds with another (sync would prune what is scored).
//! let typo = Config::load(None, &NoEnv, &set("sync.window_dayz=14")).unwrap_err();
//! assert!(typo.to_string().contains("window_dayz"), "{typo}");
//! let short = Config::load(None, &NoEnv, &set("sync.window_days=3")).unwrap_err();
//! assert!(short.to_string().contains("scoring.window_days"), "{short}");
//!
//! // A secret does not print, not even in `Debug`.
//! assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "***");
//! ```

#![warn(missing_docs)]

mod check;
mod document;
mod settings;
mod upstream;

use std::fmt;
use std::path::{Path, PathBuf};

pub use incentives::ScoringProfile;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use url::Url;

pub use check::CheckError;
pub use document::DocumentError;
pub use upstream::{DatabaseUrlSource, Translation};

/// Env var that overrides `database_url`.
pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
/// Env var that overrides `api_key`.
pub const ENV_API_KEY: &str = "CHUTES_API_KEY";
/// Env var that overrides the hotkey secret seed (config or hotkey file).
pub const ENV_SECRET_SEED: &str = "AUDITCTL_SECRET_SEED";
/// The Chutes validator's hotkey on subnet 64.
pub const CHUTES_VALIDATOR_HOTKEY: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";

/// Keys this version parses and validates but does not act on yet; `config
/// check` says so rather than let a user believe they work.
pub const NOT_USED_YET: [&str; 0] = [];

/// The most days `sync.window_days` and `scoring.window_days` may span: a
/// year is far beyond any scoring window, and far from date overflow.
pub const MAX_WINDOW_DAYS: u64 = 366;
/// The warning of `subtensor.proofs: false`, given on every load: what the
/// node alone may then decide, and where the choice is recorded.
pub const PROOFS_OFF: &str = "subtensor.proofs is false: chain reads are not proven \
     against the state root, so the node alone decides which commitments count and \
     which uids weights go to (a lying node can swap two miners' uids or forge a \
     commitment); each entry and weights send is recorded as unproven";

/// A configuration problem, naming the key (as a dotted path) or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A key of a file (or of `--set`) has a value the schema refuses.
    #[error("{}: `{key}`: {message}", path.display())]
    Invalid {
        /// The file (or `--set`).
        path: PathBuf,
        /// The key, dotted.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("`{key}`: {message}")]
    Value {
        /// The key, dotted.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable holds an unusable value.
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// The keys whose values are secrets: an error about one never quotes
/// its value, not even a malformed one.
const SECRET_KEYS: [&str; 3] = ["database_url", "api_key", "set_weights.secret_seed"];

impl ConfigError {
    /// The error with nothing in it that could be key material: the
    /// quoted parts of a message about a secret key are masked, and so is
    /// anything that looks like a seed or a mnemonic wherever it stands (a
    /// seed pasted under `set_weights.ss58`, as the value of
    /// `set_weights`, or as a whole `--set`).
    fn without_key_material(self) -> ConfigError {
        let clean = |key: &str, message: String| {
            let secret = SECRET_KEYS.iter().any(|k| {
                key.strip_prefix(k)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            });
            let message = if secret { unquoted(&message) } else { message };
            audit_model::mask_key_material(&message)
        };
        match self {
            ConfigError::Invalid { path, key, message } => ConfigError::Invalid {
                message: clean(&key, message),
                key: audit_model::mask_key_material(&key),
                path,
            },
            ConfigError::Value { key, message } => ConfigError::Value {
                message: clean(&key, message),
                key,
            },
            ConfigError::Env { name, message } => ConfigError::Env {
                message: audit_model::mask_key_material(&message),
                name,
            },
            read @ ConfigError::Read { .. } => read,
        }
    }
}

/// `message` with whatever stands between backticks or double quotes
/// masked: how serde and this module quote a value.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(q) if c == q => {
                out.push_str(audit_model::secret::MASK);
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if matches!(c, '`' | '"') {
                    open = Some(c);
                }
            }
        }
    }
    if open.is_some() {
        out.push_str(audit_model::secret::MASK);
    }
    out
}

/// A secret string: deserialises from plain text, prints as `***`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: String) -> Self {
        Secret(SecretString::from(value))
    }

    /// The secret itself; call only where it is used, never to display.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Where a secret's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable.
    Environment,
    /// The configuration file.
    ConfigFile,
    /// The wallet hotkey file.
    HotkeyFile,
    /// Not given.
    Unset,
}

/// The whole configuration, as loaded and resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the catalog (SQLite default) and the lake live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; default: SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// Chutes API key for synthetics (`CHUTES_API_KEY` overrides).
    pub api_key: Option<Secret>,
    /// Subnet id.
    pub netuid: u16,
    /// The Chutes network's URLs and limits.
    pub endpoints: Endpoints,
    /// Validators whose audit entries are verified and scored.
    pub validators: Vec<ValidatorConfig>,
    /// The chain.
    pub subtensor: SubtensorConfig,
    /// Setting weights on chain.
    pub set_weights: SetWeightsConfig,
    /// Synthetic requests.
    pub synthetics: SyntheticsConfig,
    /// The ingest.
    pub sync: SyncConfig,
    /// How often `run` repeats each stage.
    pub intervals: Intervals,
    /// The service: listener, page, stages, deadlines.
    pub run: RunConfig,
    /// The scoring rules.
    pub scoring: ScoringProfile,
    /// Where the secrets came from (not part of the file).
    #[serde(skip)]
    pub sources: Sources,
}

/// Where the secrets came from, and which upstream keys were translated,
/// for `config check`.
#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    /// The file read, if any.
    pub config_file: Option<PathBuf>,
    /// Where `database_url` came from.
    pub database_url: DatabaseUrlSource,
    /// Where `api_key` came from.
    pub api_key: SecretSource,
    /// Where the hotkey seed came from.
    pub secret_seed: SecretSource,
    /// Upstream keys and environment variables read as ours, in order.
    pub upstream: Vec<Translation>,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            config_file: None,
            database_url: DatabaseUrlSource::Default,
            api_key: SecretSource::Unset,
            secret_seed: SecretSource::Unset,
            upstream: Vec::new(),
        }
    }
}

/// Base URLs of the Chutes network (docs/spec/chutes-api.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoints {
    /// The API: `/audit/`, `/chutes/`, GPU counts.
    pub api: Url,
    /// The LLM gateway for chat and completion synthetics.
    pub llm: Url,
    /// A chute's own endpoint; `{slug}` is replaced by the chute's slug.
    pub chute_url_template: String,
    /// Timeout of one HTTP request.
    pub timeout_seconds: u64,
    /// Largest response body accepted (exports can be large).
    pub max_body_bytes: u64,
    /// Largest report accepted (reports are parsed in memory).
    pub max_report_bytes: u64,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            api: Url::parse("https://api.chutes.ai").expect("static URL"),
            llm: Url::parse("https://llm.chutes.ai").expect("static URL"),
            chute_url_template: "https://{slug}.chutes.ai".into(),
            timeout_seconds: 120,
            max_body_bytes: 2 << 30,
            max_report_bytes: chutes_client::DEFAULT_MAX_REPORT_BYTES,
        }
    }
}

/// A validator whose hourly reports we verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorConfig {
    /// A name for people (tables, logs).
    pub name: String,
    /// Its hotkey's SS58 address.
    pub hotkey: String,
    /// Where its exports are served (`/invocations/exports/…`).
    pub url: Url,
}

/// The chain endpoints (docs/spec/subtensor.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubtensorConfig {
    /// The node (`ws://` or `wss://`).
    pub url: Url,
    /// An archive node, for commitments at old blocks.
    pub archive_url: Option<Url>,
    /// Timeout of one call, in seconds.
    pub timeout_seconds: u64,
    /// Prove every chain read against its block's state root. On by
    /// default; off, the node's word decides what is scored and where
    /// weights go: warned about on every load, and recorded with each
    /// entry and weights send it decided.
    pub proofs: bool,
    /// More endpoints (`ws://`, `wss://`), ideally run by other parties,
    /// that must name the same hash for every block read at, beside
    /// `url` and `archive_url` (each of which witnesses the other).
    pub witnesses: Vec<Url>,
}

impl Default for SubtensorConfig {
    fn default() -> Self {
        SubtensorConfig {
            url: Url::parse("wss://entrypoint-finney.opentensor.ai:443").expect("static URL"),
            archive_url: Some(
                Url::parse("wss://archive.chain.opentensor.ai:443").expect("static URL"),
            ),
            timeout_seconds: 30,
            proofs: true,
            witnesses: Vec::new(),
        }
    }
}

/// Setting weights on chain. Off by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetWeightsConfig {
    /// Send weights (`auditctl weights` without `--dry-run`, and `run`).
    pub enabled: bool,
    /// The validator hotkey's SS58 address; must match the seed.
    pub ss58: Option<String>,
    /// The hotkey's `0x` secret seed (`AUDITCTL_SECRET_SEED` overrides).
    pub secret_seed: Option<Secret>,
    /// A Bittensor wallet hotkey file (JSON with `secretSeed`, `ss58Address`).
    pub hotkey_file: Option<PathBuf>,
    /// The `version_key` the weights carry; at least the chain's
    /// `WeightsVersionKey`. Unset: that key, read at send time (upstream
    /// sends its constant 69420, which tracks it).
    pub version_key: Option<u64>,
    /// No weights from a lake whose newest loaded entry is older than this.
    pub max_entry_age_seconds: u64,
    /// Seconds per block, for the reveal round (12 on finney).
    pub block_time_seconds: u64,
    /// Seconds to wait for a sent transaction to be reported in a block;
    /// past it the send is recorded `unknown` and resolved next time.
    pub inclusion_timeout_seconds: u64,
    /// The drand beacon the chain reveals timelocked weights with
    /// (quicknet by default; the devnet hands out its own).
    pub beacon: BeaconConfig,
}

impl Default for SetWeightsConfig {
    fn default() -> Self {
        SetWeightsConfig {
            enabled: false,
            ss58: None,
            secret_seed: None,
            hotkey_file: None,
            version_key: None,
            max_entry_age_seconds: 2 * 3600,
            block_time_seconds: 12,
            inclusion_timeout_seconds: 120,
            beacon: BeaconConfig::default(),
        }
    }
}

/// A drand beacon: its G2 public key (hex, compressed), genesis and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BeaconConfig {
    /// The public key, 96 bytes as hex.
    pub public_key: String,
    /// Unix time of round 1.
    pub genesis: u64,
    /// Seconds between rounds.
    pub period: u64,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig::from(&drand_tlock::QUICKNET)
    }
}

impl From<&drand_tlock::Beacon> for BeaconConfig {
    fn from(beacon: &drand_tlock::Beacon) -> Self {
        BeaconConfig {
            public_key: hex::encode(beacon.public_key),
            genesis: beacon.genesis_time,
            period: beacon.period,
        }
    }
}

impl BeaconConfig {
    /// The beacon, or what is wrong with the key.
    pub fn beacon(&self) -> Result<drand_tlock::Beacon, String> {
        let bytes = hex::decode(self.public_key.trim().trim_start_matches("0x"))
            .map_err(|e| format!("not hex: {e}"))?;
        let public_key = <[u8; drand_tlock::PUBLIC_KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| format!("{} bytes, not {}", bytes.len(), drand_tlock::PUBLIC_KEY_LEN))?;
        if self.period == 0 {
            return Err("period 0: the beacon would have no rounds".into());
        }
        Ok(drand_tlock::Beacon {
            public_key,
            genesis_time: self.genesis,
            period: self.period,
        })
    }
}

/// Where synthetic prompts come from. Written `builtin`, `{file: PATH}`
/// or `{huggingface: OWNER/NAME}` (the YAML tags `!file PATH` work too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptSource {
    /// The built-in prompt set; works offline.
    Builtin,
    /// A local file: JSON lines, CSV with a header, or Parquet.
    File(PathBuf),
    /// A Hugging Face dataset (`OWNER/NAME`), read from the local cache
    /// only; the built-in set when it is not there.
    Huggingface(String),
}

impl<'de> Deserialize<'de> for PromptSource {
    // By hand: serde's derived enum reads only the YAML tag form, not the
    // `{variant: value}` mapping the docs (and `config check`) show.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_yaml_ng::Value;
        let expected = "`builtin`, `{file: PATH}` or `{huggingface: OWNER/NAME}`";
        let (variant, value) = match Value::deserialize(d)? {
            Value::String(name) if name == "builtin" => return Ok(PromptSource::Builtin),
            Value::Tagged(tagged) => (tagged.tag.to_string(), tagged.value),
            Value::Mapping(map) if map.len() == 1 => {
                let (key, value) = map.into_iter().next().expect("one entry");
                (key.as_str().unwrap_or_default().to_string(), value)
            }
            _ => return Err(serde::de::Error::custom(format!("expected {expected}"))),
        };
        let text = value.as_str().map(str::to_string);
        match (variant.trim_start_matches('!'), text) {
            ("file", Some(path)) => Ok(PromptSource::File(PathBuf::from(path))),
            ("huggingface", Some(name)) => Ok(PromptSource::Huggingface(name)),
            _ => Err(serde::de::Error::custom(format!(
                "expected {expected} (a text value)"
            ))),
        }
    }
}

/// One kind of prompt: where from, and which field holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptConfig {
    /// Where the prompts come from.
    pub source: PromptSource,
    /// The JSON key, CSV column or Parquet column with the prompt (a text,
    /// or a list of `{role, content}` turns).
    pub field: String,
    /// The dataset split whose files are preferred (Hugging Face).
    #[serde(default = "default_split")]
    pub split: String,
}

fn default_split() -> String {
    "train".into()
}

/// Prompts for text tasks (chat, completion, TTS, embeddings) and images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptsConfig {
    /// Conversations for chat, completion, TTS and embeddings.
    pub text: PromptConfig,
    /// Image prompts for diffusion.
    pub image: PromptConfig,
}

impl Default for PromptsConfig {
    fn default() -> Self {
        let builtin = |field: &str| PromptConfig {
            source: PromptSource::Builtin,
            field: field.into(),
            split: default_split(),
        };
        PromptsConfig {
            text: builtin("conversation"),
            image: builtin("prompt"),
        }
    }
}

/// One synthetic task type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticTask {
    /// Sent when no `--type` is given (one random enabled type per round).
    pub enabled: bool,
    /// Show the output in the terminal (text, image, audio, shapes);
    /// `--no-render` turns every one off.
    pub render: bool,
}

impl Default for SyntheticTask {
    fn default() -> Self {
        // As upstream: every type on, outputs shown.
        SyntheticTask {
            enabled: true,
            render: true,
        }
    }
}

/// Synthetic requests per task type, and their prompts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticsConfig {
    /// Chat completions through the gateway.
    pub chat: SyntheticTask,
    /// Text completions through the gateway.
    pub completion: SyntheticTask,
    /// Images from diffusion chutes.
    pub image: SyntheticTask,
    /// Speech from TTS chutes.
    pub tts: SyntheticTask,
    /// Embeddings from TEI chutes.
    pub embed: SyntheticTask,
    /// The prompts they send.
    pub prompts: PromptsConfig,
}

impl SyntheticsConfig {
    /// The settings of one task type.
    pub fn task(&self, task: synthetics::TaskType) -> &SyntheticTask {
        match task {
            synthetics::TaskType::Chat => &self.chat,
            synthetics::TaskType::Completion => &self.completion,
            synthetics::TaskType::Image => &self.image,
            synthetics::TaskType::Tts => &self.tts,
            synthetics::TaskType::Embed => &self.embed,
        }
    }
}

/// The ingest pipeline's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Parallel downloads.
    pub concurrency: usize,
    /// Load entries whose commitment cannot be checked (pruned chain
    /// state), flagged as unverifiable. Off by default: what cannot be
    /// proven is not scored; scores that use one say so.
    pub load_unverifiable: bool,
    /// Also fetch miners' self-reports.
    pub miner_reports: bool,
    /// Days of entries kept.
    pub window_days: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            concurrency: 8,
            load_unverifiable: false,
            miner_reports: true,
            window_days: 7,
        }
    }
}

/// How often `auditctl run` repeats each stage, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intervals {
    /// The cycle: sync and what follows it.
    pub sync_seconds: u64,
    /// The synthetics loop.
    pub synthetics_seconds: u64,
    /// compare-prom, when no new data came sooner.
    pub compare_prom_seconds: u64,
    /// Weights are sent at most once per this.
    pub weights_seconds: u64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            sync_seconds: 600,
            synthetics_seconds: 900,
            compare_prom_seconds: 3600,
            weights_seconds: 4320,
        }
    }
}

/// `auditctl run`: the HTTP listener, the report page, and which stages
/// run (`set_weights.enabled` switches the weights stage).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// `/healthz`, `/metrics` and the page at `/` on this address; off
    /// when unset (`--listen` overrides).
    pub listen: Option<std::net::SocketAddr>,
    /// Where the report page is written after each cycle; default
    /// `<data_dir>/report.html` (`--page` overrides).
    pub page: Option<PathBuf>,
    /// Which stages run.
    pub stages: RunStages,
    /// How long one run of each may take.
    pub deadlines: RunDeadlines,
    /// The listener's limits.
    pub http: HttpLimits,
}

/// How long one run of each stage may take, in seconds: a run past it is
/// abandoned and counted as failed, so a stalled peer holds the cycle back
/// by this much at most.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunDeadlines {
    /// One sync (a cold week's load included).
    pub sync_seconds: u64,
    /// Scoring and the comparison with the chain.
    pub score_seconds: u64,
    /// Above `set_weights.inclusion_timeout_seconds`, so a send that is
    /// not seen in a block is recorded as such before the stage is dropped.
    pub weights_seconds: u64,
    /// compare-prom.
    pub compare_prom_seconds: u64,
    /// One synthetics round.
    pub synthetics_seconds: u64,
    /// `synth verify`.
    pub synth_verify_seconds: u64,
    /// The report page.
    pub report_seconds: u64,
}

impl Default for RunDeadlines {
    fn default() -> Self {
        // Several times what the work takes on a week's data (a cold
        // sync's downloads included): only a stall reaches them.
        RunDeadlines {
            sync_seconds: 1800,
            score_seconds: 600,
            weights_seconds: 600,
            compare_prom_seconds: 600,
            synthetics_seconds: 900,
            synth_verify_seconds: 300,
            report_seconds: 300,
        }
    }
}

/// The `run` listener's limits: it is reachable by anyone who can reach
/// its port, and its connections must not take the descriptors the stages
/// need.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Open connections at most (and never more than half the open-file
    /// limit); beyond it a new connection is closed at once.
    pub max_connections: u64,
    /// A connection without a complete request head for this long (idle,
    /// kept alive, or sending slowly) is closed.
    pub idle_timeout_seconds: u64,
    /// The longest a connection lives.
    pub connection_lifetime_seconds: u64,
    /// The largest request body accepted.
    pub max_body_bytes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 64,
            idle_timeout_seconds: 10,
            connection_lifetime_seconds: 60,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl RunConfig {
    /// The deadlines and the listener's limits against their ranges.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        const WEEK: u64 = 7 * 86_400;
        let d = &self.deadlines;
        let h = &self.http;
        let ranges = [
            ("run.deadlines.sync_seconds", d.sync_seconds, 1, WEEK),
            ("run.deadlines.score_seconds", d.score_seconds, 1, WEEK),
            ("run.deadlines.weights_seconds", d.weights_seconds, 1, WEEK),
            (
                "run.deadlines.compare_prom_seconds",
                d.compare_prom_seconds,
                1,
                WEEK,
            ),
            (
                "run.deadlines.synthetics_seconds",
                d.synthetics_seconds,
                1,
                WEEK,
            ),
            (
                "run.deadlines.synth_verify_seconds",
                d.synth_verify_seconds,
                1,
                WEEK,
            ),
            ("run.deadlines.report_seconds", d.report_seconds, 1, WEEK),
            ("run.http.max_connections", h.max_connections, 1, 65_536),
            (
                "run.http.idle_timeout_seconds",
                h.idle_timeout_seconds,
                1,
                3_600,
            ),
            (
                "run.http.connection_lifetime_seconds",
                h.connection_lifetime_seconds,
                1,
                86_400,
            ),
            ("run.http.max_body_bytes", h.max_body_bytes, 0, 16 << 20),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Value {
                    key: key.into(),
                    message: format!("{value} is outside the range {min}..={max}"),
                });
            }
        }
        Ok(())
    }
}

/// Each stage of `run`, on or off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunStages {
    /// Verified ingest every `intervals.sync_seconds`.
    pub sync: bool,
    /// Scores and the chain comparison after new data.
    pub score: bool,
    /// compare-prom after new data (and every `intervals.compare_prom_seconds`).
    pub compare_prom: bool,
    /// A round of synthetics every `intervals.synthetics_seconds` (needs `api_key`).
    pub synthetics: bool,
    /// `synth verify` after each sync.
    pub synth_verify: bool,
    /// The report page after each cycle.
    pub report: bool,
}

impl Default for RunStages {
    fn default() -> Self {
        RunStages {
            sync: true,
            score: true,
            compare_prom: true,
            synthetics: true,
            synth_verify: true,
            report: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let endpoints = Endpoints::default();
        Config {
            data_dir: PathBuf::from("data"),
            database_url: None,
            api_key: None,
            netuid: 64,
            validators: vec![ValidatorConfig {
                name: "chutes".into(),
                hotkey: CHUTES_VALIDATOR_HOTKEY.into(),
                url: endpoints.api.clone(),
            }],
            endpoints,
            subtensor: SubtensorConfig::default(),
            set_weights: SetWeightsConfig::default(),
            synthetics: SyntheticsConfig::default(),
            sync: SyncConfig::default(),
            intervals: Intervals::default(),
            run: RunConfig::default(),
            scoring: ScoringProfile::default(),
            sources: Sources::default(),
        }
    }
}

/// The process environment as the config sees it; a seam for tests.
pub trait Environment {
    /// The variable's value; `None` when unset or empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// Overrides from the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`: where the catalog and the lake live.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`: the catalog.
    pub database_url: Option<String>,
    /// `--set KEY=VALUE`, in order: keys in our names, values as YAML.
    pub set: Vec<String>,
}

/// The fields of a Bittensor wallet hotkey file we read.
#[derive(Deserialize)]
struct HotkeyFile {
    #[serde(rename = "secretSeed")]
    secret_seed: Option<Secret>,
    #[serde(rename = "ss58Address")]
    ss58_address: Option<String>,
}

impl Config {
    /// Parses a YAML document, ours or upstream's; `origin` names it in
    /// errors.
    #[cfg(test)]
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        Config::parse_with(text, origin, &[])
    }

    /// Parses a YAML document with `--set KEY=VALUE` applied over it,
    /// after its upstream keys are translated.
    fn parse_with(text: &str, origin: &Path, sets: &[String]) -> Result<Config, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            key,
            message,
        };
        let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| invalid("(top level)".into(), e.to_string()))?;
        if doc.is_null() && sets.is_empty() {
            return Ok(Config::default());
        }
        if doc.is_null() {
            doc = serde_yaml_ng::Value::Mapping(Default::default());
        }
        let translations = upstream::translate(&mut doc).map_err(|r| invalid(r.key, r.message))?;
        for set in sets {
            apply_set(&mut doc, set)?;
        }
        // Our own form is parsed from the text, so errors keep their line
        // and column. A translated document is parsed from its YAML text
        // too (the YAML deserialiser, not the value's, reads `{variant:
        // value}` enums), but its positions are not the user's: dropped.
        let parsed = if translations.is_empty() && sets.is_empty() {
            strict(text)
        } else {
            let translated = serde_yaml_ng::to_string(&doc)
                .map_err(|e| invalid("(top level)".into(), e.to_string()))?;
            strict(&translated).map_err(|(key, message)| (key, without_position(&message)))
        };
        let mut config = parsed
            .map_err(|(key, message)| upstream_origin(invalid(key, message), &translations))?;
        config.sources.upstream = translations;
        Ok(config)
    }

    /// Loads the file (or the defaults when `path` is `None`), applies the
    /// environment and the overrides, and validates the result.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Environment,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        Config::load_unmasked(path, env, overrides).map_err(ConfigError::without_key_material)
    }

    fn load_unmasked(
        path: Option<&Path>,
        env: &dyn Environment,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let mut config = Config::parse_with(&text, path, &overrides.set)?;
                config.sources.config_file = Some(path.to_path_buf());
                config
            }
            None if overrides.set.is_empty() => Config::default(),
            None => Config::parse_with("", Path::new("--set"), &overrides.set)?,
        };
        config.resolve(env, overrides)?;
        config
            .validate()
            .map_err(|e| upstream_origin(e, &config.sources.upstream))?;
        Ok(config)
    }

    fn resolve(&mut self, env: &dyn Environment, overrides: &Overrides) -> Result<(), ConfigError> {
        if self.database_url.is_some() {
            self.sources.database_url = DatabaseUrlSource::ConfigFile;
        }
        let translated = &mut self.sources.upstream;
        if let Some((url, source)) = upstream::database_url(env, translated)? {
            self.database_url = Some(Secret::new(url));
            self.sources.database_url = source;
        }
        if let Some(url) = &overrides.database_url {
            self.database_url = Some(Secret::new(url.clone()));
            self.sources.database_url = DatabaseUrlSource::Flag;
        }
        if let Some(skip) = upstream::skip_miner_audits(env, &mut self.sources.upstream)? {
            self.sync.miner_reports = !skip;
        }
        upstream::calculate_miner_agreement(env, &mut self.sources.upstream);
        if let Some(dir) = &overrides.data_dir {
            self.data_dir = dir.clone();
        }

        if self.api_key.is_some() {
            self.sources.api_key = SecretSource::ConfigFile;
        }
        if let Some(key) = env.var(ENV_API_KEY) {
            self.api_key = Some(Secret::new(key));
            self.sources.api_key = SecretSource::Environment;
        }

        // The seed: environment, else the config's own value, else the
        // hotkey file. The file also supplies the address when unset.
        if self.set_weights.secret_seed.is_some() {
            self.sources.secret_seed = SecretSource::ConfigFile;
        }
        if let Some(file) = self.set_weights.hotkey_file.clone() {
            let hotkey = read_hotkey_file(&file)?;
            if self.set_weights.secret_seed.is_none() {
                if let Some(seed) = hotkey.secret_seed {
                    self.set_weights.secret_seed = Some(seed);
                    self.sources.secret_seed = SecretSource::HotkeyFile;
                }
            }
            if self.set_weights.ss58.is_none() {
                self.set_weights.ss58 = hotkey.ss58_address;
            }
        }
        if let Some(seed) = env.var(ENV_SECRET_SEED) {
            self.set_weights.secret_seed = Some(Secret::new(seed));
            self.sources.secret_seed = SecretSource::Environment;
        }
        Ok(())
    }

    /// Checks values serde cannot: URL schemes, required-when-enabled keys,
    /// ranges and shapes. Errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Value {
            key: key.to_string(),
            message,
        };
        for (key, url) in [
            ("endpoints.api", &self.endpoints.api),
            ("endpoints.llm", &self.endpoints.llm),
        ] {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad(key, format!("`{url}` must be an http(s) URL")));
            }
        }
        let template = &self.endpoints.chute_url_template;
        if !template.contains("{slug}") {
            return Err(bad(
                "endpoints.chute_url_template",
                format!("`{template}` must contain `{{slug}}`"),
            ));
        }
        Url::parse(&template.replace("{slug}", "slug")).map_err(|e| {
            bad(
                "endpoints.chute_url_template",
                format!("`{template}` is not a URL template: {e}"),
            )
        })?;
        self.check_ranges()?;
        for (i, v) in self.validators.iter().enumerate() {
            if !matches!(v.url.scheme(), "http" | "https") {
                return Err(bad(
                    &format!("validators[{i}].url"),
                    format!("`{}` must be an http(s) URL", v.url),
                ));
            }
            check_ss58(&v.hotkey).map_err(|m| bad(&format!("validators[{i}].hotkey"), m))?;
        }
        let witnesses = self.subtensor.witnesses.iter().enumerate();
        let chain_urls = [
            ("subtensor.url".to_string(), Some(&self.subtensor.url)),
            (
                "subtensor.archive_url".to_string(),
                self.subtensor.archive_url.as_ref(),
            ),
        ]
        .into_iter()
        .chain(witnesses.map(|(i, url)| (format!("subtensor.witnesses[{i}]"), Some(url))));
        for (key, url) in chain_urls {
            if let Some(url) = url {
                if !matches!(url.scheme(), "ws" | "wss") {
                    return Err(bad(&key, format!("`{url}` must be a ws:// or wss:// URL")));
                }
            }
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|p| url.starts_with(p)) {
                return Err(bad(
                    "database_url",
                    format!(
                        "`{}` is not supported: use sqlite://PATH or postgres://USER@HOST/DB",
                        audit_store::redact(url)
                    ),
                ));
            }
        }
        if self.sync.window_days < self.scoring.window_days {
            return Err(bad(
                "sync.window_days",
                format!(
                    "{} is shorter than scoring.window_days ({}): sync would prune what the scores read",
                    self.sync.window_days, self.scoring.window_days
                ),
            ));
        }
        self.check_hotkey()?;
        if self.set_weights.enabled {
            if self.set_weights.secret_seed.is_none() {
                return Err(bad(
                    "set_weights.secret_seed",
                    format!("required when set_weights.enabled is true: set it, set_weights.hotkey_file, or {ENV_SECRET_SEED}"),
                ));
            }
            if self.set_weights.ss58.is_none() {
                return Err(bad(
                    "set_weights.ss58",
                    "required when set_weights.enabled is true (or give set_weights.hotkey_file)"
                        .into(),
                ));
            }
        }
        self.scoring
            .validate()
            .map_err(|(key, message)| bad(&format!("scoring.{key}"), message))?;
        Ok(())
    }

    /// Every numeric setting against its range; the error names the key,
    /// the value and the range. (`netuid` and the profile's version
    /// numbers are bounded by their types.)
    fn check_ranges(&self) -> Result<(), ConfigError> {
        const DAY: u64 = 86_400;
        const GIB: u64 = 1 << 30;
        let ranges: [(&str, u64, u64, u64); 12] = [
            (
                "endpoints.timeout_seconds",
                self.endpoints.timeout_seconds,
                1,
                3_600,
            ),
            (
                "endpoints.max_body_bytes",
                self.endpoints.max_body_bytes,
                1 << 20,
                64 * GIB,
            ),
            (
                "endpoints.max_report_bytes",
                self.endpoints.max_report_bytes,
                1 << 20,
                GIB,
            ),
            (
                "subtensor.timeout_seconds",
                self.subtensor.timeout_seconds,
                1,
                3_600,
            ),
            (
                "set_weights.inclusion_timeout_seconds",
                self.set_weights.inclusion_timeout_seconds,
                1,
                3_600,
            ),
            ("sync.concurrency", self.sync.concurrency as u64, 1, 64),
            (
                "sync.window_days",
                u64::from(self.sync.window_days),
                1,
                MAX_WINDOW_DAYS,
            ),
            (
                "scoring.window_days",
                u64::from(self.scoring.window_days),
                1,
                MAX_WINDOW_DAYS,
            ),
            (
                "intervals.sync_seconds",
                self.intervals.sync_seconds,
                1,
                7 * DAY,
            ),
            (
                "intervals.synthetics_seconds",
                self.intervals.synthetics_seconds,
                1,
                7 * DAY,
            ),
            (
                "intervals.compare_prom_seconds",
                self.intervals.compare_prom_seconds,
                1,
                7 * DAY,
            ),
            (
                "intervals.weights_seconds",
                self.intervals.weights_seconds,
                1,
                7 * DAY,
            ),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Value {
                    key: key.into(),
                    message: format!("{value} is outside the range {min}..={max}"),
                });
            }
        }
        self.run.check_ranges()
    }

    /// The signing key: a well-formed seed, a real SS58 address (checksum
    /// included), and the seed must derive that address.
    fn check_hotkey(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Value {
            key: key.to_string(),
            message,
        };
        let seed = match &self.set_weights.secret_seed {
            Some(seed) => {
                check_seed(seed.expose()).map_err(|m| bad("set_weights.secret_seed", m))?;
                Some(
                    subtensor::Hotkey::from_seed_hex(seed.expose())
                        .map_err(|e| bad("set_weights.secret_seed", e.to_string()))?,
                )
            }
            None => None,
        };
        self.set_weights
            .beacon
            .beacon()
            .map_err(|m| bad("set_weights.beacon.public_key", m))?;
        if !(1..=600).contains(&self.set_weights.block_time_seconds) {
            return Err(bad(
                "set_weights.block_time_seconds",
                format!("{} is outside 1..=600", self.set_weights.block_time_seconds),
            ));
        }
        if let Some(ss58) = &self.set_weights.ss58 {
            // The pair first: its message names both addresses, which is
            // what a user with a mistyped address needs to see. It stops
            // sending only: with sending off it is a warning.
            if let Some(mismatch) = pair_mismatch(seed.as_ref(), ss58) {
                if self.set_weights.enabled {
                    return Err(mismatch);
                }
            }
            check_ss58(ss58).map_err(|m| bad("set_weights.ss58", m))?;
        }
        Ok(())
    }

    /// What is wrong but harmless as configured, for the user to hear:
    /// a seed that does not derive `set_weights.ss58` while sending is
    /// off (upstream ships such a pair), and a seed others can read.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let key = self
            .set_weights
            .secret_seed
            .as_ref()
            .and_then(|seed| subtensor::Hotkey::from_seed_hex(seed.expose()).ok());
        if let Some(ss58) = &self.set_weights.ss58 {
            if let Some(mismatch) = pair_mismatch(key.as_ref(), ss58) {
                let mismatch = upstream_origin(mismatch, &self.sources.upstream);
                warnings.push(format!(
                    "{mismatch}; weights cannot be sent with this pair (set_weights.enabled is false)"
                ));
            }
        }
        warnings.extend(self.seed_exposure());
        if !self.subtensor.proofs {
            warnings.push(PROOFS_OFF.to_string());
        }
        warnings
    }

    /// A warning when the hotkey seed in effect sits in a file that the
    /// group or others may read (the config file or the wallet hotkey
    /// file): anyone who reads it can sign as the validator. Names the
    /// file and its mode, never the seed.
    pub fn seed_exposure(&self) -> Option<String> {
        let file = match self.sources.secret_seed {
            SecretSource::ConfigFile => self.sources.config_file.clone()?,
            SecretSource::HotkeyFile => expand_home(self.set_weights.hotkey_file.as_deref()?),
            SecretSource::Environment | SecretSource::Unset => return None,
        };
        let mode = file_mode(&file)?;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the hotkey seed is in {} (mode {:o}), which users other than its owner can read: \
                 `chmod 600` it, or give the seed through {ENV_SECRET_SEED}",
                file.display(),
                mode & 0o777
            )
        })
    }

    /// The catalog URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
            None => audit_store::Store::default_database_url(&self.data_dir),
        }
    }

    /// The effective config as a document with every secret masked: the
    /// `Secret` values print as `***`, and every other string (URLs with
    /// credentials, wherever they are) goes through `mask_secrets`.
    pub fn masked(&self) -> serde_json::Value {
        let mut doc = serde_json::to_value(self).expect("config serialises");
        if let Some(obj) = doc.as_object_mut() {
            // The database URL is shown with its password masked, not hidden
            // whole: it says which database is in use.
            obj.insert(
                "database_url".into(),
                serde_json::Value::String(self.database_url()),
            );
            obj.insert(
                "sources".into(),
                serde_json::to_value(&self.sources).expect("sources serialise"),
            );
        }
        mask_strings(&mut doc);
        doc
    }
}

/// Deserialises strictly, naming the key (a dotted path) of a failure.
/// Sets `KEY=VALUE` (dotted key, YAML value) in `doc`, creating the
/// mappings on the way; a key that runs into a non-mapping is refused.
fn apply_set(doc: &mut serde_yaml_ng::Value, set: &str) -> Result<(), ConfigError> {
    use serde_yaml_ng::Value;
    let refuse = |key: &str, message: String| ConfigError::Invalid {
        path: PathBuf::from("--set"),
        key: key.to_string(),
        message,
    };
    let Some((key, text)) = set.split_once('=') else {
        return Err(refuse(
            set,
            "expected KEY=VALUE, e.g. endpoints.api=http://127.0.0.1:8080/".into(),
        ));
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(refuse(
            key,
            "a key is dotted names, e.g. subtensor.url".into(),
        ));
    }
    let value: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| refuse(key, format!("the value is not YAML: {e}")))?;
    let mut node = doc;
    for (i, part) in parts.iter().enumerate() {
        let Value::Mapping(map) = node else {
            let above = parts[..i].join(".");
            return Err(refuse(key, format!("`{above}` is not a section")));
        };
        let name = Value::String((*part).to_string());
        if i + 1 == parts.len() {
            map.insert(name, value);
            return Ok(());
        }
        node = map
            .entry(name)
            .or_insert_with(|| Value::Mapping(Default::default()));
    }
    Ok(())
}

fn strict(text: &str) -> Result<Config, (String, String)> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let key = match err.path().to_string() {
            key if key == "." => "(top level)".to_string(),
            key => key,
        };
        (key, err.into_inner().to_string())
    })
}

/// A YAML error message without its ` at line L column C` suffix.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Names the upstream key behind an error about one of ours, so a user of
/// an upstream file finds the line they wrote.
fn upstream_origin(err: ConfigError, translations: &[Translation]) -> ConfigError {
    let origin = |key: &str| translations.iter().find(|t| t.covers(key));
    match err {
        ConfigError::Invalid { path, key, message } => match origin(&key) {
            Some(t) => ConfigError::Invalid {
                message: format!("{message} (from upstream `{}`)", t.upstream),
                path,
                key,
            },
            None => ConfigError::Invalid { path, key, message },
        },
        ConfigError::Value { key, message } => match origin(&key) {
            Some(t) => ConfigError::Value {
                message: format!("{message} (from upstream `{}`)", t.upstream),
                key,
            },
            None => ConfigError::Value { key, message },
        },
        other => other,
    }
}

/// Masks every string in a JSON document, in place.
fn mask_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => *text = audit_store::redact(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(mask_strings),
        _ => {}
    }
}

/// `~/…` as the wallet tools write it, expanded against `$HOME`.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

/// No group/other bits to check off unix.
#[cfg(not(unix))]
fn file_mode(_: &Path) -> Option<u32> {
    None
}

fn read_hotkey_file(path: &Path) -> Result<HotkeyFile, ConfigError> {
    let path = &expand_home(path);
    // The file holds the seed: zeroed when dropped.
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?);
    // serde_json's message could quote the input, which holds the seed;
    // keep only the position.
    serde_json::from_str(&text).map_err(|e| ConfigError::Value {
        key: "set_weights.hotkey_file".into(),
        message: format!(
            "{} is not a wallet hotkey JSON file (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ),
    })
}

/// The error for a `set_weights.ss58` that `key` does not derive, naming
/// both addresses and never the seed.
fn pair_mismatch(key: Option<&subtensor::Hotkey>, ss58: &str) -> Option<ConfigError> {
    let key = key?;
    key.check_address(ss58).err().map(|_| ConfigError::Value {
        key: "set_weights.ss58".into(),
        message: format!(
            "{} is not the address of set_weights.secret_seed, which derives {}",
            shown_address(ss58, ""),
            key.ss58()
        ),
    })
}

/// A `0x` followed by 64 hex digits. The message never repeats the value.
fn check_seed(seed: &str) -> Result<(), String> {
    let hex = seed.strip_prefix("0x").ok_or("must start with 0x")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "must be 0x and 64 hex digits (a 32-byte seed); got {} characters",
            seed.len()
        ));
    }
    Ok(())
}

/// An SS58 address with the chain's prefix and a valid checksum, as
/// `subtensor` reads it: a typo is caught here, not at signing time.
fn check_ss58(address: &str) -> Result<(), String> {
    subtensor::keys::public_key(address.trim())
        .map(|_| ())
        .map_err(|_| {
            format!(
                "{} is not an SS58 address with prefix 42 (bad characters, length or checksum)",
                shown_address(address, "`")
            )
        })
}

/// What an error shows of a value given as an address: the value, between
/// `quote`s, when it is made of base58 characters (a mistyped address,
/// which the user needs to see); else only that it is not one, since it
/// may be a seed or a mnemonic pasted into the wrong key.
fn shown_address(value: &str, quote: &str) -> String {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let value = value.trim();
    if !value.is_empty() && value.len() <= 64 && value.chars().all(|c| BASE58.contains(c)) {
        format!("{quote}{value}{quote}")
    } else {
        format!(
            "the value given ({} characters, not shown)",
            value.chars().count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An environment of the given pairs (shared with `upstream`'s tests).
    pub(super) struct FakeEnv(HashMap<&'static str, String>);

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    pub(super) fn env(pairs: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    const SEED: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
    const OTHER_SEED: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";

    /// The address `SEED` derives.
    fn seed_address() -> String {
        subtensor::Hotkey::from_seed_hex(SEED).unwrap().ss58()
    }

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/config.example.yml")
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_example_config_loads_and_equals_the_defaults_where_it_should() {
        let config = Config::load(Some(&example()), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(config.scoring, ScoringProfile::default());
        assert_eq!(config.validators[0].hotkey, CHUTES_VALIDATOR_HOTKEY);
        assert_eq!(config.netuid, 64);
    }

    #[test]
    fn synthetics_with_every_type_disabled_are_refused_by_name() {
        let text = "synthetics:\n  chat: {enabled: false}\n  completion: {enabled: false}\n  image: {enabled: false}\n  tts: {enabled: false}\n  embed: {enabled: false}\n";
        let config = Config::parse(text, Path::new("c.yml")).unwrap();
        let err = config.require_enabled_tasks().unwrap_err().to_string();
        assert!(err.contains("synthetics"), "{err}");
        assert!(err.contains("every synthetic type is disabled"), "{err}");
        let config = Config::parse(
            "synthetics:\n  chat: {enabled: false}\n",
            Path::new("c.yml"),
        )
        .unwrap();
        assert_eq!(config.require_enabled_tasks().unwrap().len(), 4);
    }

    #[test]
    fn chain_proofs_are_on_and_turning_them_off_is_warned_about() {
        let config = Config::parse("", Path::new("c.yml")).unwrap();
        let node = config.subtensor.url.clone();
        assert!(config.chain_options(&node).proofs);
        assert!(!config.warnings().iter().any(|w| w.contains("proofs")));
        let config = Config::parse("subtensor:\n  proofs: false\n", Path::new("c.yml")).unwrap();
        assert!(!config.chain_options(&node).proofs);
        let warnings = config.warnings();
        assert!(warnings.iter().any(|w| w == PROOFS_OFF), "{warnings:?}");
    }

    #[test]
    fn witnesses_join_the_other_endpoint_and_must_be_websockets() {
        let text = "subtensor:\n  url: ws://a:1\n  archive_url: ws://b:2\n  witnesses: [ws://c:3, ws://a:1]\n";
        let config = Config::parse(text, Path::new("c.yml")).unwrap();
        config.validate().unwrap();
        let node = config.subtensor.url.clone();
        // Reading from the node: the archive node and the third endpoint
        // witness it, the node itself (listed again) does not.
        assert_eq!(
            config.chain_options(&node).witnesses,
            vec!["ws://b:2/".to_string(), "ws://c:3/".to_string()]
        );
        let text = "subtensor:\n  witnesses: [ws://c:3, https://d]\n";
        let config = Config::parse(text, Path::new("c.yml")).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("subtensor.witnesses[1]"), "{err}");
        assert!(err.contains("ws:// or wss://"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err =
            Config::parse("scoring:\n  feature_weigths: {}\n", Path::new("c.yml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`scoring.feature_weigths`"), "{text}");
        assert!(text.contains("feature_weigths"), "{text}");
        let err = Config::parse("endpoints:\n  api: not a url\n", Path::new("c.yml")).unwrap_err();
        assert!(err.to_string().contains("`endpoints.api`"), "{err}");
        let err = Config::parse(
            "validators:\n  - name: x\n    url: https://a.b\n",
            Path::new("c.yml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`validators[0]`"), "{err}");
        assert!(err.to_string().contains("hotkey"), "{err}");
    }

    #[test]
    fn values_are_validated_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("subtensor:\n  url: https://x\n", "subtensor.url"),
            (
                "endpoints:\n  chute_url_template: https://x.chutes.ai\n",
                "endpoints.chute_url_template",
            ),
            ("database_url: mysql://a@b/c\n", "database_url"),
            ("set_weights:\n  enabled: true\n", "set_weights.secret_seed"),
            (
                "set_weights:\n  secret_seed: \"0x12\"\n",
                "set_weights.secret_seed",
            ),
            ("sync:\n  concurrency: 0\n", "sync.concurrency"),
        ];
        for (text, key) in cases {
            let path = write(dir.path(), "c.yml", text);
            let err = Config::load(Some(&path), &env(&[]), &Overrides::default()).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{key}`")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn env_overrides_the_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let hotkey = write(
            dir.path(),
            "hotkey",
            &format!(
                r#"{{"secretSeed": "{SEED}", "ss58Address": "{}"}}"#,
                seed_address()
            ),
        );
        let path = write(
            dir.path(),
            "c.yml",
            &format!(
                "database_url: sqlite://from-file.db\napi_key: file-key\nset_weights:\n  enabled: true\n  hotkey_file: {}\n",
                hotkey.display()
            ),
        );
        let config = Config::load(Some(&path), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(
            config.set_weights.secret_seed.as_ref().unwrap().expose(),
            SEED
        );
        assert_eq!(config.sources.secret_seed, SecretSource::HotkeyFile);
        assert_eq!(
            config.set_weights.ss58.as_deref(),
            Some(seed_address().as_str())
        );
        assert_eq!(config.database_url(), "sqlite://from-file.db");

        // The environment's seed wins over the file's, and must then match
        // the file's address.
        let err = Config::load(
            Some(&path),
            &env(&[(ENV_SECRET_SEED, OTHER_SEED)]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("set_weights.ss58"), "{err}");
        let environment = env(&[
            (ENV_SECRET_SEED, SEED),
            (ENV_API_KEY, "env-key"),
            (ENV_DATABASE_URL, "postgres://u@h/env"),
        ]);
        let config = Config::load(Some(&path), &environment, &Overrides::default()).unwrap();
        assert_eq!(config.sources.secret_seed, SecretSource::Environment);
        assert_eq!(config.api_key.as_ref().unwrap().expose(), "env-key");
        assert_eq!(config.database_url(), "postgres://u@h/env");

        let flags = Overrides {
            data_dir: Some("elsewhere".into()),
            database_url: Some("sqlite://flag.db".into()),
            set: vec![],
        };
        let config = Config::load(Some(&path), &environment, &flags).unwrap();
        assert_eq!(config.database_url(), "sqlite://flag.db");
        assert_eq!(config.data_dir, PathBuf::from("elsewhere"));
    }

    #[test]
    fn set_overrides_keys_over_the_file_and_upstream_names_and_refuses_nonsense() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        // Upstream's plain-URL subtensor, overridden in our name.
        std::fs::write(&path, "subtensor: wss://far.example\nnetuid: 64\n").unwrap();
        let sets = |sets: &[&str]| Overrides {
            set: sets.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        };
        let config = Config::load(
            Some(&path),
            &env(&[]),
            &sets(&[
                "subtensor.url=ws://127.0.0.1:9944",
                "endpoints.api=http://127.0.0.1:8080/",
                "intervals.sync_seconds=30",
                "validators=[{name: dev, hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY, url: http://127.0.0.1:8080/}]",
            ]),
        )
        .unwrap();
        assert_eq!(config.subtensor.url.as_str(), "ws://127.0.0.1:9944/");
        assert_eq!(config.endpoints.api.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.intervals.sync_seconds, 30);
        assert_eq!(config.validators.len(), 1);
        assert_eq!(config.netuid, 64);
        // Without a file, on the defaults.
        let config = Config::load(None, &env(&[]), &sets(&["netuid=7"])).unwrap();
        assert_eq!(config.netuid, 7);
        let err = Config::load(Some(&path), &env(&[]), &sets(&["netuid.deeper=1"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`netuid` is not a section"), "{err}");
        for (bad, names) in [
            ("netuid", "KEY=VALUE"),
            ("endpoints..api=x", "dotted names"),
            ("netuid.deeper=1", "expected u16"),
            ("netuid=1\u{0}", "not YAML"),
            ("no_such_key=1", "no_such_key"),
            ("intervals.sync_seconds=[", "not YAML"),
        ] {
            let err = Config::load(None, &env(&[]), &sets(&[bad]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    #[test]
    fn no_secret_reaches_debug_output_or_the_effective_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "c.yml",
            &format!(
                "api_key: cpk_supersecret\ndatabase_url: postgres://me:hunter2@db/audit\nset_weights:\n  secret_seed: \"{SEED}\"\n  ss58: {}\n",
                seed_address()
            ),
        );
        let config = Config::load(Some(&path), &env(&[]), &Overrides::default()).unwrap();
        let shown = format!("{config:?}\n{}", config.masked());
        for secret in ["cpk_supersecret", "hunter2", &SEED[2..]] {
            assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
        }
        assert!(shown.contains("postgres://me:***@db/audit"), "{shown}");
    }

    #[test]
    fn a_broken_hotkey_file_is_named_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let hotkey = write(
            dir.path(),
            "hotkey",
            &format!("{{\"secretSeed\": \"{SEED}\" oops"),
        );
        let path = write(
            dir.path(),
            "c.yml",
            &format!("set_weights:\n  hotkey_file: {}\n", hotkey.display()),
        );
        let err = Config::load(Some(&path), &env(&[]), &Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("set_weights.hotkey_file"), "{text}");
        assert!(!text.contains(&SEED[2..]), "{text}");
    }

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "c.yml", text);
        Config::load(Some(&path), &env(&[]), &Overrides::default())
    }

    #[test]
    fn every_form_of_a_url_secret_is_masked_in_the_effective_config() {
        let cases = [
            "database_url: postgres://me:hun/ter2@db/audit\n",
            "database_url: \"postgres://me:hun#ter2@db/audit\"\n",
            "database_url: postgres://me@db/audit?password=hunter2\n",
            "endpoints:\n  api: https://me:hunter2@api.chutes.ai/\n",
            "endpoints:\n  llm: https://llm.chutes.ai/?api_key=hunter2\n",
            "subtensor:\n  url: wss://me:hunter2@node.example:443\n",
        ];
        for text in cases {
            let config = load_text(text).unwrap();
            let shown = format!("{config:?}\n{}", config.masked());
            // Debug output of the Url type is not shown to users; the
            // effective config is.
            let shown_masked = config.masked().to_string();
            assert!(!shown_masked.contains("ter2"), "{text}: {shown_masked}");
            assert!(shown.contains("***"), "{text}: {shown}");
        }
    }

    #[test]
    fn the_upstream_example_pair_stops_sending_only_naming_both_addresses() {
        // Upstream's shipped example: its seed derives another address
        // than the one it is paired with.
        let off = "set_weights:\n  secret_seed: \"0x971c2a6674d0861ade72297d11110ce21c93734210527c8f4c9190c00139ce20\"\n  ss58: 5GerCEPSx22bmr5Wnm2wj87SSpZiVvhVqFUrGG5795XkUbjr\n";
        // (The file is gone by now: no warning about its mode.)
        let warnings = load_text(off).unwrap().warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("5DCJTfVx3ReNyxW3SgQEKFgvXFuqnK3BNW1vMhTQK4jdZbV4")
                && warnings[0].contains("set_weights.enabled is false")
                && !warnings[0].contains("971c2a66"),
            "{warnings:?}"
        );
        let text = format!("{off}  enabled: true\n");
        let text = text.as_str();
        let err = load_text(text).unwrap_err().to_string();
        assert!(err.contains("`set_weights.ss58`"), "{err}");
        assert!(
            err.contains("5GerCEPSx22bmr5Wnm2wj87SSpZiVvhVqFUrGG5795XkUbjr"),
            "{err}"
        );
        assert!(
            err.contains("5DCJTfVx3ReNyxW3SgQEKFgvXFuqnK3BNW1vMhTQK4jdZbV4"),
            "{err}"
        );
        assert!(
            !err.contains("971c2a66"),
            "the seed is never printed: {err}"
        );
        let fixed = text.replace(
            "5GerCEPSx22bmr5Wnm2wj87SSpZiVvhVqFUrGG5795XkUbjr",
            "5DCJTfVx3ReNyxW3SgQEKFgvXFuqnK3BNW1vMhTQK4jdZbV4",
        );
        assert!(load_text(&fixed).unwrap().warnings().is_empty());
    }

    #[test]
    fn a_prompt_source_reads_as_the_docs_write_it_and_as_a_tag() {
        for (source, expected) in [
            ("builtin", PromptSource::Builtin),
            ("{file: p.jsonl}", PromptSource::File("p.jsonl".into())),
            ("!file p.jsonl", PromptSource::File("p.jsonl".into())),
            (
                "{huggingface: a/b}",
                PromptSource::Huggingface("a/b".into()),
            ),
            ("!huggingface a/b", PromptSource::Huggingface("a/b".into())),
        ] {
            let text =
                format!("synthetics:\n  prompts:\n    text: {{source: {source}, field: f}}\n");
            let config = load_text(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(config.synthetics.prompts.text.source, expected, "{source}");
        }
        for bad in [
            "web",
            "{file: [a]}",
            "{url: x}",
            "{file: a, huggingface: b}",
        ] {
            let text = format!("synthetics:\n  prompts:\n    text: {{source: {bad}, field: f}}\n");
            let err = load_text(&text).unwrap_err().to_string();
            assert!(
                err.contains("synthetics.prompts.text.source") && err.contains("builtin"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_typo_in_an_address_fails_its_checksum() {
        // One character changed: still base58, still 48 characters.
        let typo = CHUTES_VALIDATOR_HOTKEY.replace("Zpw", "Zpx");
        for text in [
            format!("validators:\n  - name: x\n    hotkey: {typo}\n    url: https://a.b\n"),
            format!("set_weights:\n  ss58: {typo}\n"),
        ] {
            let err = load_text(&text).unwrap_err().to_string();
            assert!(err.contains(&typo) && err.contains("checksum"), "{err}");
        }
    }

    #[test]
    fn numeric_settings_outside_their_range_name_key_value_and_range() {
        let cases = [
            ("sync:\n  window_days: 0\n", "sync.window_days", "0"),
            (
                "sync:\n  window_days: 4294967295\n",
                "sync.window_days",
                "4294967295",
            ),
            (
                "scoring:\n  window_days: 100000\n",
                "scoring.window_days",
                "100000",
            ),
            (
                "sync:\n  concurrency: 100000\n",
                "sync.concurrency",
                "100000",
            ),
            (
                "endpoints:\n  timeout_seconds: 0\n",
                "endpoints.timeout_seconds",
                "0",
            ),
            (
                "endpoints:\n  max_body_bytes: 10\n",
                "endpoints.max_body_bytes",
                "10",
            ),
            (
                "endpoints:\n  max_report_bytes: 4294967296\n",
                "endpoints.max_report_bytes",
                "4294967296",
            ),
            (
                "subtensor:\n  timeout_seconds: 0\n",
                "subtensor.timeout_seconds",
                "0",
            ),
            (
                "intervals:\n  sync_seconds: 0\n",
                "intervals.sync_seconds",
                "0",
            ),
            (
                "run:\n  deadlines:\n    weights_seconds: 0\n",
                "run.deadlines.weights_seconds",
                "0",
            ),
            (
                "run:\n  http:\n    max_connections: 0\n",
                "run.http.max_connections",
                "0",
            ),
        ];
        for (text, key, value) in cases {
            let err = load_text(text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{text}: {err}");
            assert!(err.contains(value) && err.contains("..="), "{text}: {err}");
        }
        // A sync window shorter than the scoring window would prune what
        // the scores read.
        let err = load_text("sync:\n  window_days: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sync.window_days`"), "{err}");
    }

    /// Key material, as a user might paste it in the wrong place.
    const PASTED: [&str; 3] = [
        "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
        "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk",
    ];

    fn sets_of(sets: &[&str]) -> Overrides {
        Overrides {
            set: sets.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        }
    }

    #[test]
    fn a_seed_under_the_wrong_key_is_never_echoed() {
        for pasted in PASTED {
            let sets = [
                format!("set_weights.ss58={pasted}"),
                format!("set_weights={pasted}"),
                format!("set_weights={{ss58: \"{pasted}\", secret_seed: \"{SEED}\"}}"),
                format!("netuid={pasted}"),
                pasted.to_string(),
            ];
            let texts = [
                format!("set_weights:\n  ss58: \"{pasted}\"\n"),
                format!("set_weights: \"{pasted}\"\n"),
                format!("set_weights:\n  secret_seed: \"{SEED}\"\n  ss58: {pasted}\n"),
                format!("api_key: [\"{pasted}\"]\n"),
            ];
            let mut errors: Vec<String> = sets
                .iter()
                .map(|set| {
                    Config::load(None, &env(&[]), &sets_of(&[set.as_str()]))
                        .unwrap_err()
                        .to_string()
                })
                .collect();
            errors.extend(texts.iter().map(|t| load_text(t).unwrap_err().to_string()));
            for err in errors {
                let words: Vec<&str> = pasted.split(' ').collect();
                for secret in [
                    &pasted[pasted.len() - 40..],
                    &words[..words.len().min(3)].join(" "),
                ] {
                    assert!(!err.contains(secret), "{pasted}: {err}");
                }
                assert!(err.contains('`'), "the error still names the key: {err}");
            }
        }
    }

    #[test]
    fn a_secret_keys_value_is_never_quoted() {
        // A password given alone where the URL belongs.
        let err = load_text("database_url: s3cr3t-passw0rd\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`database_url`"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
