//! `auditctl run`: the auditor as a service. The plan and the auditor
//! come from the configuration through `audit_run` (`RunPlan::from_config`,
//! `NetworkAuditor::connect`); this module takes the data directory's
//! write lock, starts the listener, stops the service at SIGINT or
//! SIGTERM (the stage in flight gets a grace, then is dropped) and
//! renders the closing table.

use std::sync::Arc;

use anyhow::{Context, Result};
use audit_run::{Clock, NetworkAuditor, RunPlan};
use audit_store::Store;
use tokio::sync::watch;

use crate::cli::{ClockArg, Global, RunArgs};
use crate::configuration::setup_error;
use crate::exit;
use audit_config::Config;
use audit_service::signals::Stop;
use audit_view::output;

pub async fn run(global: &Global, args: &RunArgs, mut stop: Stop) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    // The plan first: a stage that cannot run is a configuration error,
    // reported before the data directory is touched.
    let page = args.page.clone().or_else(|| config.run.page.clone());
    let plan = RunPlan::from_config(&config, page).map_err(setup_error)?;
    let store = open_store(&config).await?;
    let clock: Arc<dyn Clock> = match args.clock {
        ClockArg::System => Arc::new(audit_run::SystemClock),
        ClockArg::Devnet => Arc::new(devnet::DevnetClock::new(&config.endpoints.api)?),
    };
    let auditor = NetworkAuditor::connect(&config, store, clock)
        .await
        .map_err(setup_error)?;
    let service = audit_run::service(&auditor, plan)?;

    let (stopping, stopped) = watch::channel(false);
    if let Some(addr) = args.listen.or(config.run.listen) {
        let limits = audit_run::listener_limits(&config);
        let (bound, _) = audit_service::listen(addr, service.observed(), limits, stopped.clone())
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
        output::print(&audit_view::service::render(&summary))?;
    }
    Ok(exit::SUCCESS)
}

/// The store, opened for writing: a second `run` (or a `sync`) on the same
/// data directory is refused while this one holds the lock.
async fn open_store(config: &Config) -> Result<Arc<Store>> {
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
