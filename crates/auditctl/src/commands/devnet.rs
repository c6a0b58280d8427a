//! `auditctl devnet generate|serve`: the simulated network for people.

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use devnet::{DevnetServer, GenerateOptions, World};

use crate::cli::{DevnetCommand, GenerateArgs, Global, ServeArgs};
use crate::{exit, output};

pub async fn run(global: &Global, command: &DevnetCommand) -> Result<u8> {
    match command {
        DevnetCommand::Generate(args) => generate(global, args).await,
        DevnetCommand::Serve(args) => serve(global, args).await,
    }
}

async fn generate(global: &Global, args: &GenerateArgs) -> Result<u8> {
    if args.out.exists()
        && args
            .out
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} is not empty: generate into a new directory",
            args.out.display()
        );
    }
    let options = GenerateOptions {
        out: args.out.clone(),
        seed: args.seed,
        miners: args.miners,
        hours: args.hours,
        invocations_per_hour: args.invocations_per_hour,
        now: args.now.unwrap_or_else(|| {
            NaiveDate::from_ymd_opt(2025, 2, 10)
                .expect("date")
                .and_hms_opt(12, 0, 0)
                .expect("time")
        }),
    };
    let started = std::time::Instant::now();
    let summary = tokio::task::spawn_blocking(move || devnet::generate(&options)).await??;
    if global.json {
        print!("{}", output::json(&summary));
    } else {
        println!(
            "world written to {}: {} entries, {} invocation rows, {} in {:.1?}",
            args.out.display(),
            summary.entries,
            summary.invocation_rows,
            output::bytes(summary.bytes),
            started.elapsed()
        );
    }
    Ok(exit::SUCCESS)
}

async fn serve(global: &Global, args: &ServeArgs) -> Result<u8> {
    let world = World::load(&args.world)
        .with_context(|| format!("loading the world in {}", args.world.display()))?;
    let validator = world.meta.validator_hotkey.clone();
    let server = DevnetServer::start(world, ([127, 0, 0, 1], args.port).into()).await?;
    let url = server.url();
    if let Some(path) = &args.write_config {
        let config = format!(
            "# Points auditctl at the devnet serving {world}.\n\
             data_dir: data-devnet\n\
             endpoints:\n  api: {url}\n  llm: {url}\n  chute_url_template: \"{url}chute/{{slug}}/\"\n\
             validators:\n  - name: devnet\n    hotkey: {validator}\n    url: {url}\n",
            world = args.world.display()
        );
        audit_store::write_atomic(path, config.as_bytes())?;
    }
    if global.json {
        print!(
            "{}",
            output::json(&serde_json::json!({"http": url, "validator_hotkey": validator}))
        );
    } else {
        println!("devnet serving {} at {url}", args.world.display());
        println!("  validator hotkey {validator}");
        println!("  fault switches: POST {url}_devnet/faults");
        if let Some(path) = &args.write_config {
            println!("  config written to {}", path.display());
        }
        println!("press Ctrl-C to stop");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(server);
    Ok(exit::SUCCESS)
}
