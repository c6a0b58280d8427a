//! `auditctl sync`: the verified ingest of the last week of audit data.
//! The pipeline is `audit_sync::sync`; this module wires it to the
//! network (the Chutes client) and a chain, shows progress, and renders
//! the summary. Exit code 3 when anything failed an integrity check, so
//! monitoring can page on it.

use std::sync::Arc;

use anyhow::{Context, Result};
use audit_store::Store;
use audit_sync::{ChainSource, SyncOptions};
use chutes_client::ChutesClient;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use crate::cli::{Global, SyncArgs};
use crate::view::sync::{render, SyncReport};
use crate::{exit, output};
use audit_config::Config;

pub async fn run(global: &Global, args: &SyncArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let options = options(&config, args);
    // Pruning by a future time would empty the lake.
    audit_model::time::check_not_future(options.at, chrono::Utc::now().naive_utc())?;
    let store = Arc::new(
        Store::open_for_writing(
            &config.data_dir,
            Some(&config.database_url()),
            &args.lock.request("auditctl sync"),
        )
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let client = Arc::new(chutes_client(&config)?);
    let chain = Arc::new(chain(&config).await?);
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

/// The chain the config names, for commitments (the archive node when
/// there is one).
pub async fn chain(config: &Config) -> Result<audit_sync::SubtensorChain> {
    let url = config.commitment_chain_url();
    let options = config.chain_options(url);
    Ok(audit_sync::SubtensorChain::connect(url.as_str(), options, config.netuid).await?)
}

/// The sync options from the config and the flags.
pub fn options(config: &Config, args: &SyncArgs) -> SyncOptions {
    let at = args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc());
    config
        .sync_options(at)
        .with_hotkey(args.hotkey.clone())
        .with_miner_reports(config.sync.miner_reports && !args.no_miner_reports)
}

/// The Chutes client the config describes.
pub fn chutes_client(config: &Config) -> Result<ChutesClient> {
    Ok(ChutesClient::new(config.client_config())?)
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
