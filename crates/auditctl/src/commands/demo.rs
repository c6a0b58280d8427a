//! `auditctl demo`: the whole audit loop on a simulated network with no
//! setup. A generated world (made once, under `<data_dir>/demo/world`) is
//! served over HTTP on loopback as the Chutes network, beside its
//! simulated chain node; `run`'s stages (the same plan `auditctl run`
//! builds) work on a SQLite catalog and Parquet lake under
//! `<data_dir>/demo/data`, with every stage on: sync, score, weights set on
//! the devnet chain as its validator (the public dev key `//Alice`),
//! compare-prom, synthetics, synth verify and the report page. The devnet
//! publishes one simulated hour at a time and the loop catches up before
//! the next; the summary ends with the page's path.
//!
//! Every report is checked against its commitment on the devnet's
//! simulated chain node, through the same subtensor client as on finney.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use audit_store::{Store, SubmissionOutcome};
use devnet::{GenerateOptions, Network, NetworkOptions, World};
use tokio::sync::watch;

use super::run as service;
use crate::cli::{DemoArgs, Global};
use crate::{exit, output};
use audit_config::{Config, Secret, ValidatorConfig};

/// The longest the demo waits for the loop to take in one published hour.
const HOUR_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(global: &Global, args: &DemoArgs) -> Result<u8> {
    let started = Instant::now();
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
    let network = Network::start(
        world.clone(),
        NetworkOptions {
            commit_reveal: args.commit_reveal,
            block_time: Some(REVEAL_BLOCK_TIME),
            ..NetworkOptions::default()
        },
    )
    .await?;
    let server = network.server();
    let url = network.http_url();
    point_at_devnet(&mut config, &home, &world, server, &network.ws_url())?;
    if let Some(beacon) = network.beacon() {
        let w = &mut config.set_weights;
        w.beacon = audit_config::BeaconConfig {
            public_key: hex::encode(beacon.public_key),
            genesis: beacon.genesis_time,
            period: beacon.period,
        };
        w.block_time_seconds = REVEAL_BLOCK_TIME.as_secs();
    }
    let store = Arc::new(
        Store::open_for_writing(&config.data_dir, None, &args.lock.request("auditctl demo"))
            .await
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let clock = Arc::new(audit_run::DevnetClock::new(&url)?);
    let auditor = service::auditor(&config, store, clock).await?;
    // Absolute, so the printed path opens from anywhere.
    let page = std::path::absolute(home.join("report.html"))?;
    let mut plan = service::plan(&config, Some(page.clone())).await?;
    plan.backoff_base = Duration::from_millis(200);
    let service = service::service(&auditor, plan)?;
    let cycles = service.cycles();
    let (stop, stopped) = watch::channel(false);
    let loop_task = tokio::spawn(service.run(stopped));

    let reveal = args.commit_reveal.then_some((&auditor, &config));
    let driven = drive(server, cycles, args.simulated_hours, reveal, global.json).await;
    let _ = stop.send(true);
    let summary = loop_task.await.context("the service loop panicked")?;
    driven?;
    // With commit-reveal, the last commit must be revealed first: an
    // earlier reveal would otherwise pass for it.
    let revealed = match args.commit_reveal {
        true => await_reveal(&auditor, &config, global.json).await,
        false => Ok(()),
    };
    let on_chain = match revealed {
        Ok(()) => weights_on_chain(&auditor, &config).await,
        Err(e) => {
            tracing::error!("{e:#}");
            None
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if global.json {
        output::print(&output::json(&serde_json::json!({
            "world": world_dir, "devnet": url, "chain": network.ws_url(),
            "simulated_hours": args.simulated_hours, "service": summary,
            "commit_reveal": args.commit_reveal,
            "weights_on_chain": on_chain, "page": page, "seconds": seconds,
        })))?;
    } else {
        output::println_safe!(
            "devnet serving {} at {url}, chain at {}; {} simulated hour(s) in {seconds:.1} s\n",
            world_dir.display(),
            network.ws_url(),
            args.simulated_hours
        )?;
        output::print(&service::render(&summary))?;
        match &on_chain {
            Some(n) if args.commit_reveal => output::println_safe!(
                "weights on the devnet chain for the validator: {n} miner(s), committed timelocked and revealed by the chain"
            )?,
            Some(n) => output::println_safe!("weights on the devnet chain for the validator: {n} miner(s)")?,
            None => output::println_safe!("weights on the devnet chain for the validator: none")?,
        }
        output::println_safe!("report page: {}", page.display())?;
    }
    drop(network);
    let idle = summary.stages.iter().find(|(_, t)| t.succeeded == 0);
    Ok(match (idle, on_chain) {
        (Some((name, _)), _) => {
            tracing::error!("stage {name} never succeeded in the demo");
            exit::FAILURE
        }
        (None, None) => {
            tracing::error!("the demo's weights are not on the devnet chain");
            exit::FAILURE
        }
        (None, Some(_)) => exit::SUCCESS,
    })
}

/// The demo's own config: every URL at the devnet, its own data dir,
/// every stage on, weights sent as the devnet's validator, and intervals
/// short enough for simulated hours.
fn point_at_devnet(
    config: &mut Config,
    home: &std::path::Path,
    world: &World,
    server: &devnet::DevnetServer,
    chain_url: &str,
) -> Result<()> {
    let url = url::Url::parse(&server.url())?;
    config.data_dir = home.join("data");
    config.database_url = None;
    config.api_key = Some(Secret::new("devnet".into()));
    config.endpoints.api = url.clone();
    config.endpoints.llm = url.clone();
    config.endpoints.chute_url_template = server.chute_url_template();
    config.validators = vec![ValidatorConfig {
        name: "devnet".into(),
        hotkey: world.meta.validator_hotkey.clone(),
        url,
    }];
    config.netuid = world.meta.netuid;
    config.subtensor.url = url::Url::parse(chain_url)?;
    config.subtensor.archive_url = None;
    let w = &mut config.set_weights;
    w.enabled = true;
    w.ss58 = Some(world.meta.validator_hotkey.clone());
    w.secret_seed = Some(Secret::new(devnet::validator_seed_hex()));
    w.hotkey_file = None;
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
    Ok(())
}

/// Waits for the first cycle, then publishes `hours` hours one at a time,
/// each time waiting for a cycle that started after the hour was out.
async fn drive(
    server: &devnet::DevnetServer,
    mut cycles: watch::Receiver<u64>,
    hours: u32,
    reveal: Option<(&audit_run::Auditor, &Config)>,
    quiet: bool,
) -> Result<()> {
    wait_for(&mut cycles, 1).await?;
    for hour in 1..=hours {
        if let Some((auditor, config)) = reveal {
            // The next hour moves the chain 300 blocks at once, past the
            // reveal epoch of a commit made just now: wait for it first,
            // as an hour of real blocks would have.
            await_reveal(auditor, config, quiet).await?;
        }
        let published = server.advance()?;
        if !quiet {
            eprintln!(
                "devnet: hour {hour}/{hours} published (entry at block {}, {} invocation rows)",
                published.entry.block, published.invocation_rows
            );
        }
        // The cycle in flight may have listed before the hour was out.
        let seen = *cycles.borrow();
        wait_for(&mut cycles, seen + 2).await?;
    }
    Ok(())
}

/// Waits until the chain applied the newest recorded commit (the
/// validator's `LastUpdate` moves past the commit's block).
async fn await_reveal(auditor: &audit_run::Auditor, config: &Config, quiet: bool) -> Result<()> {
    let Some(s) = auditor.store.catalog().latest_weights_submission().await? else {
        return Ok(());
    };
    let (SubmissionOutcome::Committed, Some(block), Some(uid)) = (s.outcome, s.block, s.sender_uid)
    else {
        return Ok(());
    };
    if !quiet {
        eprintln!(
            "devnet: waiting for the chain to reveal submission {} (round {})",
            s.submission_id,
            s.reveal_round.unwrap_or_default()
        );
    }
    let deadline = Instant::now() + REVEAL_TIMEOUT;
    let chain = &auditor.chain.client;
    while Instant::now() < deadline {
        let applied = chain.last_update(config.netuid, uid).await.ok().flatten();
        if applied.is_some_and(|b| b > block) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "the devnet chain did not reveal submission {} within {} s",
        s.submission_id,
        REVEAL_TIMEOUT.as_secs()
    )
}

async fn wait_for(cycles: &mut watch::Receiver<u64>, n: u64) -> Result<()> {
    match tokio::time::timeout(HOUR_TIMEOUT, cycles.wait_for(|c| *c >= n)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => bail!("the service loop ended before cycle {n}"),
        Err(_) => bail!(
            "the loop did not finish cycle {n} within {} s",
            HOUR_TIMEOUT.as_secs()
        ),
    }
}

/// Blocks a second on a commit-reveal demo: a commit reveals within two
/// epochs of 11 blocks, well inside the demo's two minutes.
const REVEAL_BLOCK_TIME: Duration = Duration::from_secs(1);

/// The longest the demo waits for the chain to reveal its last commit.
const REVEAL_TIMEOUT: Duration = Duration::from_secs(90);

/// How many miners the validator's weights on the devnet chain name.
async fn weights_on_chain(auditor: &audit_run::Auditor, config: &Config) -> Option<usize> {
    let ss58 = config.set_weights.ss58.as_deref()?;
    let chain = &auditor.chain.client;
    let uid = chain.uid_of(config.netuid, ss58).await.ok()??;
    let weights = chain.weights(config.netuid, uid).await.ok()?;
    (!weights.is_empty()).then_some(weights.len())
}
