//! The run from the configuration (`audit_config::Config`): which stages
//! run with what settings ([`RunPlan::from_config`]), the real network's
//! clients ([`NetworkAuditor::connect`]), the sending settings
//! ([`SubmitSettings::from_config`], shared with `auditctl weights`) and
//! the listener's limits. A command, or a validator embedding the loop
//! with the same configuration file, parses, calls these and renders.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_config::{Config, ConfigError, ENV_SECRET_SEED};
use audit_service::ListenerLimits;
use audit_store::Store;
use chutes_client::ChutesClient;
use synthetics::TaskChoice;
use weights::SendOptions;

use crate::page::PageSettings;
use crate::submission::SubmitSettings;
use crate::synth::SyntheticsSettings;
use crate::{Auditor, Deadlines, Intervals, NetworkAuditor, RunPlan};
use audit_model::clock::Clock;

/// Tries in all when the node cannot be reached; never after it refused.
const SEND_TRIES: u32 = 3;
/// First wait between tries; doubles.
const SEND_BACKOFF: Duration = Duration::from_secs(2);

/// Why a configuration cannot be turned into a running auditor.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A value the configuration holds cannot be used (exit code 2 in the
    /// CLI).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `set_weights.secret_seed` is not a seed.
    #[error("set_weights.secret_seed is not a usable seed")]
    Seed(#[source] subtensor::KeyError),
    /// `set_weights.beacon` is not a drand beacon.
    #[error("set_weights.beacon: {0}")]
    Beacon(String),
    /// The Chutes client could not be built.
    #[error(transparent)]
    Client(#[from] chutes_client::ClientError),
    /// The synthetics' prompts could not be loaded.
    #[error(transparent)]
    Prompts(#[from] synthetics::SynthError),
    /// The chain node could not be reached.
    #[error(transparent)]
    Chain(#[from] audit_sync::ConnectError),
}

impl RunPlan {
    /// The stages `run.stages` (and `set_weights.enabled`) turn on, with
    /// their settings, intervals and deadlines; the page goes to `page`
    /// (default `<data_dir>/report.html`). Checked ([`RunPlan::check`])
    /// before it is returned, so a plan that cannot run is a
    /// configuration error reported before any I/O.
    pub fn from_config(config: &Config, page: Option<PathBuf>) -> Result<RunPlan, SetupError> {
        let stages = &config.run.stages;
        let i = &config.intervals;
        let secs = Duration::from_secs;
        let d = &config.run.deadlines;
        let plan = RunPlan {
            intervals: Intervals {
                sync: secs(i.sync_seconds),
                synthetics: secs(i.synthetics_seconds),
                compare_prom: secs(i.compare_prom_seconds),
                weights: secs(i.weights_seconds),
            },
            deadlines: Deadlines {
                sync: secs(d.sync_seconds),
                score: secs(d.score_seconds),
                weights: secs(d.weights_seconds),
                compare_prom: secs(d.compare_prom_seconds),
                synthetics: secs(d.synthetics_seconds),
                synth_verify: secs(d.synth_verify_seconds),
                report: secs(d.report_seconds),
            },
            backoff_base: secs(i.sync_seconds.min(5)),
            // `at` is the clock's at each run.
            sync: stages
                .sync
                .then(|| config.sync_options(chrono::Utc::now().naive_utc())),
            score: stages
                .score
                .then(|| (config.netuid, config.scoring.clone())),
            weights: match config.set_weights.enabled {
                true => Some(weights_settings(config)?),
                false => None,
            },
            compare_prom: stages
                .compare_prom
                .then_some(prom_compare::DEFAULT_THRESHOLD),
            synthetics: match stages.synthetics {
                true => Some(synthetics_settings(config)?),
                false => None,
            },
            synth_verify: stages.synth_verify,
            page: stages.report.then(|| PageSettings {
                report: config.report_settings(),
                out: Some(page.unwrap_or_else(|| config.data_dir.join("report.html"))),
            }),
        };
        plan.check().map_err(|e| ConfigError::Value {
            key: "run.stages".into(),
            message: e.to_string(),
        })?;
        Ok(plan)
    }
}

impl NetworkAuditor {
    /// The real network's auditor over `store`: the Chutes client and the
    /// chain node (the archive node when configured) the configuration
    /// names, and the validators it audits.
    pub async fn connect(
        config: &Config,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<NetworkAuditor, SetupError> {
        let url = config.commitment_chain_url();
        let chain = audit_sync::SubtensorChain::connect(
            url.as_str(),
            config.chain_options(url),
            config.netuid,
        )
        .await?;
        Ok(Auditor {
            store,
            source: Arc::new(ChutesClient::new(config.client_config())?),
            chain: Arc::new(chain),
            clock,
            validators: config.validator_hotkeys(),
        })
    }
}

impl SubmitSettings {
    /// The sending settings the configuration gives: the key, the chain,
    /// the beacon, the freshness bound. `wait_reveal` waits for a
    /// commit's reveal.
    pub fn from_config(
        config: &Config,
        wait_reveal: Option<Duration>,
    ) -> Result<SubmitSettings, SetupError> {
        let hotkey = match &config.set_weights.secret_seed {
            None => None,
            Some(seed) => {
                Some(subtensor::Hotkey::from_seed_hex(seed.expose()).map_err(SetupError::Seed)?)
            }
        };
        let beacon = config
            .set_weights
            .beacon
            .beacon()
            .map_err(SetupError::Beacon)?;
        Ok(SubmitSettings {
            chain_url: config.subtensor.url.to_string(),
            chain_options: config.chain_options(&config.subtensor.url),
            netuid: config.netuid,
            hotkey,
            configured_address: config.set_weights.ss58.clone(),
            version_key: config.set_weights.version_key,
            max_entry_age: Duration::from_secs(config.set_weights.max_entry_age_seconds),
            beacon,
            block_time: Duration::from_secs(config.set_weights.block_time_seconds),
            send: SendOptions {
                tries: SEND_TRIES,
                backoff: SEND_BACKOFF,
                wait_reveal,
            },
            validators: config.validator_hotkeys(),
            window_days: config.scoring.window_days,
        })
    }
}

/// The listener's limits from `run.http`.
pub fn listener_limits(config: &Config) -> ListenerLimits {
    let http = &config.run.http;
    ListenerLimits {
        max_connections: usize::try_from(http.max_connections).unwrap_or(usize::MAX),
        idle_timeout: Duration::from_secs(http.idle_timeout_seconds),
        connection_lifetime: Duration::from_secs(http.connection_lifetime_seconds),
        max_body_bytes: usize::try_from(http.max_body_bytes).unwrap_or(usize::MAX),
    }
}

/// The signing key and the chain weights go to: what `auditctl weights`
/// sends with, a key required up front.
fn weights_settings(config: &Config) -> Result<SubmitSettings, SetupError> {
    if config.set_weights.secret_seed.is_none() {
        return Err(ConfigError::Value {
            key: "set_weights.secret_seed".into(),
            message: format!(
                "set_weights.enabled needs the hotkey: set secret_seed, hotkey_file or {ENV_SECRET_SEED}"
            ),
        }
        .into());
    }
    SubmitSettings::from_config(config, None)
}

/// One random enabled type per round, as upstream; the API key is needed.
fn synthetics_settings(config: &Config) -> Result<SyntheticsSettings, SetupError> {
    config.require_api_key(", or turn run.stages.synthetics off")?;
    let prompts = config.prompts()?;
    for note in &prompts.notes {
        tracing::warn!("{note}");
    }
    let enabled = config.require_enabled_tasks()?;
    Ok(SyntheticsSettings {
        client: Arc::new(ChutesClient::new(config.client_config())?),
        prompts,
        choice: TaskChoice::OneOf(enabled),
        seed: synthetics::clock_seed(),
    })
}
