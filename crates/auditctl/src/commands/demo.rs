//! `auditctl demo`: the main job end to end on the embedded default, with
//! no setup: a generated world (made once, under `<data_dir>/demo/world`)
//! served over HTTP on loopback as the Chutes network, synced through the
//! typed client into a SQLite catalog and Parquet lake under
//! `<data_dir>/demo`, then scored and compared with the world's incentives,
//! and the miners' self-reports set against the exports (compare-prom).
//!
//! Every report is checked against its commitment on the devnet's
//! simulated chain node, through the same subtensor client as on finney.

use std::sync::Arc;

use anyhow::{Context, Result};
use audit_store::Store;
use devnet::{GenerateOptions, Network, NetworkOptions, World};

use super::{compare_prom, sync, synth, weights};
use crate::cli::{DemoArgs, Global};
use crate::config::ValidatorConfig;
use crate::{exit, output};

pub async fn run(global: &Global, args: &DemoArgs) -> Result<u8> {
    let mut config = super::load_config(global)?;
    let home = config.data_dir.join("demo");
    let world_dir = home.join("world");
    if !world_dir.join("entries.json").is_file() {
        let options = GenerateOptions {
            out: world_dir.clone(),
            seed: args.size.seed,
            miners: args.size.miners,
            hours: args.size.hours,
            invocations_per_hour: args.size.invocations_per_hour,
            now: devnet::default_now(),
        };
        if !global.json {
            eprintln!(
                "generating a world of {} miners × {} hours × {} invocations in {}",
                args.size.miners,
                args.size.hours,
                args.size.invocations_per_hour,
                world_dir.display()
            );
        }
        let _ = std::fs::remove_dir_all(&world_dir);
        tokio::task::spawn_blocking(move || devnet::generate(&options)).await??;
        devnet::derive_incentives(&world_dir, None)
            .await
            .with_context(|| {
                format!(
                    "deriving the incentives of the world in {}",
                    world_dir.display()
                )
            })?;
    }
    let world = World::load(&world_dir)
        .with_context(|| format!("loading the demo world in {}", world_dir.display()))?;
    let network = Network::start(world.clone(), NetworkOptions::default()).await?;
    let server = network.server();
    let url = network.http_url();

    // The demo's own config: every URL at the devnet, its own data dir.
    config.data_dir = home.join("data");
    config.database_url = None;
    config.endpoints.api = url.clone();
    config.endpoints.llm = url.clone();
    config.endpoints.chute_url_template = server.chute_url_template();
    config.validators = vec![ValidatorConfig {
        name: "devnet".into(),
        hotkey: world.meta.validator_hotkey.clone(),
        url: url.clone(),
    }];
    config.netuid = world.meta.netuid;
    config.subtensor.url = url::Url::parse(&network.ws_url())?;
    config.subtensor.archive_url = None;
    let store = Arc::new(
        Store::open_for_writing(&config.data_dir, None, &args.lock.request("auditctl demo"))
            .await
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let at = world.now();
    let mut options = sync::options(
        &config,
        &crate::cli::SyncArgs {
            at: Some(at),
            hotkey: None,
            no_miner_reports: false,
            lock: crate::cli::LockArgs {
                wait: args.lock.wait,
            },
        },
    );
    options.validators = [(world.meta.validator_hotkey.clone(), url.to_string())].into();
    let client = Arc::new(sync::chutes_client(&config)?);
    let chain = Arc::new(sync::chain(&config).await?);
    let synced = sync::ingest(
        store.clone(),
        client.clone(),
        chain.clone(),
        options.clone(),
        global.json,
    )
    .await?;
    let scored = weights::score(&store, &config, at).await?;
    // Synthetics: one of each type through the devnet's router, the hour
    // published and synced, every attempt looked up in the exports.
    config.api_key = Some(crate::config::Secret::new("devnet".into()));
    let resync = |at| {
        let (store, client, chain, mut options) = (
            store.clone(),
            client.clone(),
            chain.clone(),
            options.clone(),
        );
        options.at = at;
        async move {
            sync::ingest(store, client, chain, options, true)
                .await
                .map(|_| ())
        }
    };
    let synthetics = synth::demo(&config, &store, server, args.size.seed, resync).await?;
    let compared =
        compare_prom::compare(&store, &config, at, prom_compare::DEFAULT_THRESHOLD, None).await?;
    if global.json {
        print!(
            "{}",
            output::json(&serde_json::json!({
                "world": world_dir, "devnet": url, "chain": network.ws_url(), "sync": synced, "weights": scored,
                "synthetics": synthetics, "compare_prom": compared,
            }))
        );
    } else {
        println!(
            "devnet serving {} at {url}, chain at {}\n",
            world_dir.display(),
            network.ws_url()
        );
        print!("{}", sync::render(&synced));
        println!();
        print!("{}", weights::render(&scored, config.scoring.delta_flag));
        println!();
        print!("{}", synth::render_summary(&synthetics.sent));
        print!("{}", synth::render_verification(&synthetics.verification));
        print!("\ncompare-prom: {}", compare_prom::summary_line(&compared));
    }
    drop(network);
    Ok(
        if synced.integrity_violation || !synthetics.verification.is_clean() {
            exit::INTEGRITY
        } else {
            exit::SUCCESS
        },
    )
}
