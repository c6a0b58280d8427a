//! The run from the configuration (`audit_config::Config`): which stages
//! run with what settings ([`RunPlan::from_config`]), the real network's
//! clients ([`NetworkAuditor::connect`]), the sending settings
//! ([`SubmitSettings::from_config`], shared with `auditctl weights`) and
//! the listener's limits; and the small steps the one-shot commands share
//! with the run: the store ([`open_store`]), the Chutes client
//! ([`chutes_client`]), the prompts ([`prompts`]), the chain ([`connect_chain`]), the evaluation
//! time ([`evaluation_time`]), the sending mode ([`send_mode`]), a scored
//! run ([`evaluate`]) and a comparison ([`compare_prom`]) as configured.
//! A command, or a validator embedding the loop with the same
//! configuration file, parses, calls these and renders.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_config::{Config, ConfigError, ENV_SECRET_SEED};
use audit_model::time::FutureTime;
use audit_service::ListenerLimits;
use audit_store::{LockRequest, Store, StoreError};
use chrono::NaiveDateTime;
use chutes_client::ChutesClient;
use weights::{Mode, SendOptions};

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
    /// The data directory or the catalog could not be opened (or its
    /// writer's lock is held).
    #[error("opening the store in {}", dir.display())]
    Store {
        /// The configured data directory.
        dir: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: StoreError,
    },
}

/// The store the configuration names (its data directory and catalog):
/// a reader without `lock`; with it, a writer holding the data
/// directory's lock (`Store::open_for_writing`).
pub async fn open_store(config: &Config, lock: Option<&LockRequest>) -> Result<Store, SetupError> {
    let (dir, url) = (&config.data_dir, config.database_url());
    let opened = match lock {
        None => Store::open(dir, Some(&url)).await,
        Some(request) => Store::open_for_writing(dir, Some(&url), request).await,
    };
    opened.map_err(|source| SetupError::Store {
        dir: dir.clone(),
        source,
    })
}

/// The Chutes client the configuration describes (API, key, timeouts).
pub fn chutes_client(config: &Config) -> Result<ChutesClient, SetupError> {
    Ok(ChutesClient::new(config.client_config())?)
}

/// The chain the configuration names for commitments and the metagraph
/// (the archive node when there is one), on its subnet.
pub async fn connect_chain(config: &Config) -> Result<audit_sync::SubtensorChain, SetupError> {
    let url = config.commitment_chain_url();
    let options = config.chain_options(url);
    Ok(audit_sync::SubtensorChain::connect(url.as_str(), options, config.netuid).await?)
}

/// The prompts the configuration names; the fallbacks taken are logged
/// (and kept in the set's `notes`).
pub fn prompts(config: &Config) -> Result<synthetics::PromptSet, SetupError> {
    let set = config.prompts()?;
    for note in &set.notes {
        tracing::warn!("{note}");
    }
    Ok(set)
}

/// A one-shot command's evaluation time: `at` when given, else now.
/// With `refuse_future` (a command that prunes by it or sends weights
/// scored as of it) a time ahead of this machine's clock is refused:
/// hours that have not happened would empty the lake or be sent.
pub fn evaluation_time(
    at: Option<NaiveDateTime>,
    refuse_future: bool,
) -> Result<NaiveDateTime, FutureTime> {
    let now = chrono::Utc::now().naive_utc();
    let at = at.unwrap_or(now);
    if refuse_future {
        audit_model::time::check_not_future(at, now)?;
    }
    Ok(at)
}

/// Whether a one-shot `weights` sends, plans, or neither: a dry run
/// plans; otherwise `set_weights.enabled` decides.
pub fn send_mode(config: &Config, dry_run: bool) -> Mode {
    match (dry_run, config.set_weights.enabled) {
        (true, _) => Mode::DryRun,
        (false, true) => Mode::Send,
        (false, false) => Mode::Disabled,
    }
}

/// Scores the lake as of `at` with the configured validators, subnet
/// and profile, compares with the chain and records the run
/// (`incentives::evaluate`, as the score stage does).
pub async fn evaluate(
    store: &Store,
    config: &Config,
    at: NaiveDateTime,
) -> Result<incentives::EvaluatedRun, incentives::IncentivesError> {
    let validators = config.validator_hotkeys();
    let run = incentives::Evaluation {
        at,
        validators: &validators,
        netuid: config.netuid,
        profile: &config.scoring,
        now: chrono::Utc::now().naive_utc(),
    };
    incentives::evaluate(store, run).await
}

/// Runs and records a comparison of the miners' self-reports as of `at`
/// with the configured validators (`prom_compare::compare`); `explain`
/// adds one miner's breakdown.
pub async fn compare_prom(
    store: &Store,
    config: &Config,
    at: NaiveDateTime,
    threshold: f64,
    explain: Option<&str>,
) -> Result<prom_compare::Comparison, prom_compare::PromCompareError> {
    let validators = config.validator_hotkeys();
    let options = prom_compare::CompareOptions {
        at,
        threshold,
        validators: &validators,
        explain,
        now: chrono::Utc::now().naive_utc(),
    };
    prom_compare::compare(store, &options).await
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
        let chain = connect_chain(config).await?;
        Ok(Auditor {
            store,
            source: Arc::new(chutes_client(config)?),
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
    let prompts = prompts(config)?;
    let choice = config.task_choice(&[])?;
    Ok(SyntheticsSettings {
        client: Arc::new(chutes_client(config)?),
        prompts,
        choice,
        seed: synthetics::clock_seed(),
    })
}
