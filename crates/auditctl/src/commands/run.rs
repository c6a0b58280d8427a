//! `auditctl run`: the auditor as a service. This module turns the
//! configuration into an `audit_run::RunPlan`, takes the data directory's
//! write lock, starts the listener, and stops the service at SIGINT or
//! SIGTERM (the stage in flight gets a grace, then is dropped); the
//! stages are `audit_run`'s, the loop `audit_service`'s.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use audit_run::{Auditor, Clock, Deadlines, Intervals, PageSettings, RunPlan, SyntheticsSettings};
use audit_service::{ListenerLimits, ServiceSummary, StageTally};
use audit_store::Store;
use tokio::sync::watch;

use super::{report, sync, synth};
use crate::cli::{ClockArg, Global, RunArgs};
use crate::signals::Stop;
use crate::{exit, output};
use audit_config::{Config, ConfigError};

pub async fn run(global: &Global, args: &RunArgs, mut stop: Stop) -> Result<u8> {
    let config = super::load_config(global)?;
    // The plan first: a stage that cannot run is a configuration error,
    // reported before the data directory is touched.
    let page = args.page.clone().or_else(|| config.run.page.clone());
    let plan = plan(&config, page).await?;
    plan.check().map_err(plan_error)?;
    let store = open_store(&config).await?;
    let clock: Arc<dyn Clock> = match args.clock {
        ClockArg::System => Arc::new(audit_run::SystemClock),
        ClockArg::Devnet => Arc::new(audit_run::DevnetClock::new(&config.endpoints.api)?),
    };
    let auditor = auditor(&config, store, clock).await?;
    let service = service(&auditor, plan)?;

    let (stopping, stopped) = watch::channel(false);
    if let Some(addr) = args.listen.or(config.run.listen) {
        let limits = listener_limits(&config);
        let (bound, _) = audit_run::listen(addr, service.observed(), limits, stopped.clone())
            .await
            .with_context(|| format!("listening on {addr}"))?;
        tracing::info!("listening on http://{bound} (/healthz, /metrics, /)");
    }
    tokio::spawn(async move {
        stop.requested().await;
        tracing::info!(
            "stopping: the step in flight gets {} s to finish",
            audit_service::DEFAULT_SHUTDOWN_GRACE.as_secs()
        );
        let _ = stopping.send(true);
    });
    let summary = service.run(stopped).await;
    if global.json {
        output::print(&output::json(&summary))?;
    } else {
        output::print(&render(&summary))?;
    }
    Ok(exit::SUCCESS)
}

/// The listener's limits from `run.http`.
fn listener_limits(config: &Config) -> ListenerLimits {
    let http = &config.run.http;
    ListenerLimits {
        max_connections: usize::try_from(http.max_connections).unwrap_or(usize::MAX),
        idle_timeout: Duration::from_secs(http.idle_timeout_seconds),
        connection_lifetime: Duration::from_secs(http.connection_lifetime_seconds),
        max_body_bytes: usize::try_from(http.max_body_bytes).unwrap_or(usize::MAX),
    }
}

/// The service over `auditor`; a plan that cannot run is the
/// configuration's fault (exit code 2).
pub fn service(auditor: &Auditor, plan: RunPlan) -> Result<audit_service::Service> {
    audit_run::service(auditor, plan).map_err(plan_error)
}

fn plan_error(e: audit_run::PlanError) -> anyhow::Error {
    ConfigError::Value {
        key: "run.stages".into(),
        message: e.to_string(),
    }
    .into()
}

/// The store, opened for writing: a second `run` (or a `sync`) on the same
/// data directory is refused while this one holds the lock.
pub async fn open_store(config: &Config) -> Result<Arc<Store>> {
    let request = audit_store::LockRequest {
        command: "auditctl run".into(),
        wait: audit_store::LockWait::Refuse,
    };
    let store = Store::open_for_writing(&config.data_dir, Some(&config.database_url()), &request)
        .await
        .with_context(|| {
            format!(
                "opening the store in {} for `auditctl run` (one service per data directory; it does not queue)",
                config.data_dir.display()
            )
        })?;
    Ok(Arc::new(store))
}

/// What every stage shares, from the configuration.
pub async fn auditor(config: &Config, store: Arc<Store>, clock: Arc<dyn Clock>) -> Result<Auditor> {
    Ok(Auditor {
        store,
        client: Arc::new(sync::chutes_client(config)?),
        chain: Arc::new(sync::chain(config).await?),
        clock,
        validators: config.validators.iter().map(|v| v.hotkey.clone()).collect(),
    })
}

/// The stages the configuration turns on, with their settings; the page
/// goes to `page` (default `<data_dir>/report.html`).
pub async fn plan(config: &Config, page: Option<PathBuf>) -> Result<RunPlan> {
    let stages = &config.run.stages;
    let i = &config.intervals;
    let sync_args = crate::cli::SyncArgs {
        at: None,
        hotkey: None,
        no_miner_reports: false,
        lock: crate::cli::LockArgs { wait: false },
    };
    Ok(RunPlan {
        intervals: Intervals {
            sync: Duration::from_secs(i.sync_seconds),
            synthetics: Duration::from_secs(i.synthetics_seconds),
            compare_prom: Duration::from_secs(i.compare_prom_seconds),
            weights: Duration::from_secs(i.weights_seconds),
        },
        deadlines: deadlines(config),
        backoff_base: Duration::from_secs(i.sync_seconds.min(5)),
        sync: stages.sync.then(|| sync::options(config, &sync_args)),
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
            report: report::settings(config),
            out: Some(page.unwrap_or_else(|| config.data_dir.join("report.html"))),
        }),
    })
}

/// Each stage's deadline from `run.deadlines`.
fn deadlines(config: &Config) -> Deadlines {
    let d = &config.run.deadlines;
    let secs = Duration::from_secs;
    Deadlines {
        sync: secs(d.sync_seconds),
        score: secs(d.score_seconds),
        weights: secs(d.weights_seconds),
        compare_prom: secs(d.compare_prom_seconds),
        synthetics: secs(d.synthetics_seconds),
        synth_verify: secs(d.synth_verify_seconds),
        report: secs(d.report_seconds),
    }
}

/// The signing key and the chain weights go to: what `auditctl weights`
/// sends with, a key required up front.
fn weights_settings(config: &Config) -> Result<audit_run::SubmitSettings> {
    if config.set_weights.secret_seed.is_none() {
        return Err(ConfigError::Value {
            key: "set_weights.secret_seed".into(),
            message: format!(
                "set_weights.enabled needs the hotkey: set secret_seed, hotkey_file or {}",
                audit_config::ENV_SECRET_SEED
            ),
        }
        .into());
    }
    super::weights_send::settings(config, None)
}

/// One random enabled type per round, as upstream; the API key is needed.
fn synthetics_settings(config: &Config) -> Result<SyntheticsSettings> {
    synth::require_api_key(config, ", or turn run.stages.synthetics off")?;
    Ok(SyntheticsSettings {
        prompts: synth::prompts(config)?,
        choice: synth::choice(config, &[])?,
        seed: clock_seed(),
    })
}

fn clock_seed() -> u64 {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// Each stage's runs and its last line.
pub fn render(summary: &ServiceSummary) -> String {
    let mut table = output::table(["stage", "succeeded", "failed", "last"]);
    for (name, tally) in &summary.stages {
        table.add_row([
            name.clone(),
            tally.succeeded.to_string(),
            tally.failed.to_string(),
            last_line(tally),
        ]);
    }
    output::align_right(&mut table, &[1, 2]);
    format!(
        "{} cycle(s): {} stage run(s) succeeded, {} failed\n{table}\n",
        summary.cycles, summary.succeeded, summary.failed
    )
}

fn last_line(tally: &StageTally) -> String {
    match (&tally.last_summary, &tally.last_error) {
        (Some(line), _) => line.clone(),
        (None, Some(error)) => format!("failed: {error}"),
        (None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closing_table_names_each_stage_and_its_last_line() {
        let mut summary = ServiceSummary {
            cycles: 3,
            succeeded: 5,
            failed: 1,
            ..ServiceSummary::default()
        };
        summary.stages.insert(
            "sync".into(),
            StageTally {
                succeeded: 2,
                failed: 1,
                last_summary: Some("synced: 2 loaded".into()),
                last_error: Some("GET /audit/: 503".into()),
            },
        );
        summary.stages.insert(
            "weights".into(),
            StageTally {
                succeeded: 0,
                failed: 1,
                last_summary: None,
                last_error: Some("refused: rate limit".into()),
            },
        );
        insta::assert_snapshot!(render(&summary));
    }
}
