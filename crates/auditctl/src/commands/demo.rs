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

use anyhow::{Context, Result};
use audit_store::Store;
use devnet::{DriveEvent, GenerateOptions, Network, NetworkOptions, World};
use tokio::sync::watch;

use crate::cli::{DemoArgs, Global};
use crate::exit;
use audit_view::output;

pub async fn run(global: &Global, args: &DemoArgs) -> Result<u8> {
    let started = Instant::now();
    let base = crate::configuration::load_config(global)?;
    let home = base.data_dir.join("demo");
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
        devnet::make_world(options, devnet::WorldShape::default(), true, None).await?;
    }
    let world = World::load(&world_dir)
        .with_context(|| format!("loading the demo world in {}", world_dir.display()))?;
    let network = Network::start(
        world.clone(),
        NetworkOptions {
            commit_reveal: args.commit_reveal,
            block_time: Some(devnet::DEMO_BLOCK_TIME),
            ..NetworkOptions::default()
        },
    )
    .await?;
    let url = network.http_url();
    let config = network.demo_config(base, &home, args.commit_reveal);
    let store = Arc::new(
        Store::open_for_writing(&config.data_dir, None, &args.lock.request("auditctl demo"))
            .await
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let clock = Arc::new(devnet::DevnetClock::new(&url)?);
    let auditor = audit_run::NetworkAuditor::connect(&config, store, clock)
        .await
        .map_err(crate::configuration::setup_error)?;
    // Absolute, so the printed path opens from anywhere.
    let page = std::path::absolute(home.join("report.html"))?;
    let mut plan = audit_run::RunPlan::from_config(&config, Some(page.clone()))
        .map_err(crate::configuration::setup_error)?;
    plan.backoff_base = Duration::from_millis(200);
    let service = audit_run::service(&auditor, plan)?;
    let cycles = service.cycles();
    let (stop, stopped) = watch::channel(false);
    let loop_task = tokio::spawn(service.run(stopped));

    let reveal = args.commit_reveal.then_some(auditor.store.as_ref());
    // The drive's progress on stderr, unless the output is JSON.
    let show = |event: DriveEvent<'_>| {
        if !global.json {
            eprintln!("{event}");
        }
    };
    let driven = network
        .drive(cycles, args.simulated_hours, reveal, show)
        .await;
    let _ = stop.send(true);
    let summary = loop_task.await.context("the service loop panicked")?;
    driven?;
    // With commit-reveal, the last commit must be revealed first: an
    // earlier reveal would otherwise pass for it.
    let revealed = match reveal {
        Some(store) => network.await_reveal(store, show).await,
        None => Ok(()),
    };
    let on_chain = match revealed {
        Ok(()) => match &config.set_weights.ss58 {
            Some(ss58) => network.weights_of(ss58).await,
            None => None,
        },
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
        output::print(&audit_view::service::render(&summary))?;
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
