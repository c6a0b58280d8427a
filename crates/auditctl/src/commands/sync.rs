//! `auditctl sync`: the verified ingest of the last week of audit data.
//! The pipeline is `audit_sync::sync`; this module wires it to the
//! network (the Chutes client) and a chain, shows progress, and renders
//! the summary. Exit code 3 when anything failed an integrity check, so
//! monitoring can page on it.

use std::sync::Arc;

use anyhow::Result;
use audit_store::Store;
use audit_sync::{ChainSource, SyncOptions};
use chutes_client::ChutesClient;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use crate::cli::{Global, SyncArgs};
use crate::exit;
use audit_view::output;
use audit_view::sync::{render, SyncReport};

pub async fn run(global: &Global, args: &SyncArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    // Pruning by a future time would empty the lake.
    let at = audit_run::evaluation_time(args.at, true)?;
    let options = (config.sync_options(at))
        .with_hotkey(args.hotkey.clone())
        .with_miner_reports(config.sync.miner_reports && !args.no_miner_reports);
    let lock = args.lock.request("auditctl sync");
    let store = Arc::new(audit_run::open_store(&config, Some(&lock)).await?);
    let client = Arc::new(audit_run::chutes_client(&config)?);
    let chain = Arc::new(audit_run::connect_chain(&config).await?);
    let report = ingest(store, client, chain, options, global.json).await?;
    if global.json {
        output::print(&output::json(&report))?;
    } else {
        output::print(&render(&report))?;
    }
    Ok(if report.integrity_violation {
        exit::INTEGRITY
    } else {
        exit::SUCCESS
    })
}

/// Runs the pipeline with a progress bar on stderr (hidden for `--json`
/// and when stderr is not a terminal).
pub async fn ingest<C: ChainSource + 'static>(
    store: Arc<Store>,
    client: Arc<ChutesClient>,
    chain: Arc<C>,
    options: SyncOptions,
    quiet: bool,
) -> Result<SyncReport> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} entries, {msg}",
            )
            .expect("static progress template")
            .progress_chars("=> "),
        );
        bar
    };
    let progress_bar = bar.clone();
    let chain_proofs = chain.proves_reads();
    let summary = audit_sync::sync(store, client, chain, &options, move |done, total, bytes| {
        progress_bar.set_length(total as u64);
        progress_bar.set_position(done as u64);
        progress_bar.set_message(format!("{} downloaded", HumanBytes(bytes)));
    })
    .await?;
    bar.finish_and_clear();
    Ok(SyncReport {
        at: options.at,
        window_days: options.window_days,
        integrity_violation: summary.integrity_violation(),
        chain_proofs,
        summary,
    })
}
