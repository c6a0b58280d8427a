//! `auditctl devnet generate|serve`: the simulated network for people.

use anyhow::{bail, Context, Result};
use devnet::{Faults, GenerateOptions, Network, NetworkOptions, World};

use crate::cli::{DevnetCommand, GenerateArgs, Global, ServeArgs};
use crate::signals::Stop;
use crate::{exit, output};

pub async fn run(global: &Global, command: &DevnetCommand, stop: Stop) -> Result<u8> {
    match command {
        DevnetCommand::Generate(args) => generate(global, args).await,
        DevnetCommand::Serve(args) => serve(global, args, stop).await,
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
        seed: args.size.seed,
        miners: args.size.miners,
        hours: args.size.hours,
        invocations_per_hour: args.size.invocations_per_hour,
        now: args.now.unwrap_or_else(devnet::default_now),
    };
    let started = std::time::Instant::now();
    let summary = tokio::task::spawn_blocking(move || devnet::generate(&options)).await??;
    let generated_in = started.elapsed();
    let started = std::time::Instant::now();
    let paid = if args.approximate_incentives {
        None
    } else {
        let paid = devnet::derive_incentives(&args.out, args.load_into.as_deref())
            .await
            .with_context(|| {
                format!(
                    "deriving the incentives of the world in {}",
                    args.out.display()
                )
            })?;
        Some(paid)
    };
    let derived_in = started.elapsed();
    if global.json {
        print!(
            "{}",
            output::json(&serde_json::json!({
                "summary": summary,
                "generate_seconds": generated_in.as_secs_f64(),
                "incentives": if paid.is_some() { "derived" } else { "approximate" },
                "miners_paid": paid,
                "derive_seconds": paid.map(|_| derived_in.as_secs_f64()),
            }))
        );
    } else {
        println!(
            "world written to {}: {} entries, {} invocation rows, {} in {:.1?}",
            args.out.display(),
            summary.entries,
            summary.invocation_rows,
            output::bytes(summary.bytes),
            generated_in
        );
        match paid {
            Some(n) => println!(
                "incentives derived from the world's own traffic ({n} miners paid) in {derived_in:.1?}"
            ),
            None => println!("incentives: the generator's compute-share approximation"),
        }
        if let Some(dir) = &args.load_into {
            let world = World::load(&args.out)?;
            println!(
                "catalog and lake loaded in {}: score with `auditctl --data-dir {} weights --at {}` and a config naming validator {}",
                dir.display(),
                dir.display(),
                world.meta.now,
                world.meta.validator_hotkey
            );
        }
    }
    Ok(exit::SUCCESS)
}

async fn serve(global: &Global, args: &ServeArgs, mut stop: Stop) -> Result<u8> {
    let world = World::load(&args.world)
        .with_context(|| format!("loading the world in {}", args.world.display()))?;
    let validator = world.meta.validator_hotkey.clone();
    if !(0.0..=1.0).contains(&args.error_rate) {
        bail!(
            "--error-rate {} is not a share: give a number from 0 to 1",
            args.error_rate
        );
    }
    let network = Network::start(
        world,
        NetworkOptions {
            http_port: args.port,
            chain_port: args.chain_port,
            commit_reveal: args.commit_reveal,
            block_time: None,
        },
    )
    .await?;
    let server = network.server();
    server.set_faults(Faults {
        tamper_exports: args.tamper_export.clone(),
        tamper_reports: args.tamper_report.clone(),
        error_rate: args.error_rate,
        delay_ms: args.delay_ms,
        drop_attempts: args.drop_attempts,
        reroute_attempts: args.reroute_attempts,
        fail_attempts: args.fail_attempts,
        ..Faults::default()
    });
    let url = network.http_url();
    let ws = network.ws_url();
    let beacon = network.beacon();
    if let Some(path) = &args.write_config {
        let mut config = format!(
            "# Points auditctl at the devnet serving {world}.\n\
             data_dir: data-devnet\n\
             api_key: devnet\n\
             endpoints:\n  api: {url}\n  llm: {url}\n  chute_url_template: \"{url}chute/{{slug}}\"\n\
             validators:\n  - name: devnet\n    hotkey: {validator}\n    url: {url}\n\
             subtensor:\n  url: {ws}\n  archive_url: {ws}\n\
             # The devnet validator is //Alice: a public dev key, never for real funds.\n\
             set_weights:\n  enabled: false\n  ss58: {validator}\n  secret_seed: \"{seed}\"\n",
            world = args.world.display(),
            seed = devnet::validator_seed_hex(),
        );
        if let Some(b) = &beacon {
            config.push_str(&format!(
                "  # The devnet chain's own drand-like beacon (its secret stays in the node).\n\
                 \x20 beacon:\n    public_key: \"{}\"\n    genesis: {}\n    period: {}\n",
                hex::encode(b.public_key),
                b.genesis_time,
                b.period
            ));
        }
        audit_store::write_atomic(path, config.as_bytes())?;
        // It holds a seed (a public dev key, but the habit matters, and
        // auditctl warns about a seed others can read).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    if global.json {
        print!(
            "{}",
            output::json(&serde_json::json!({
                "http": url, "ws": ws, "validator_hotkey": validator,
                "chute_url_template": server.chute_url_template(),
                "faults": server.faults(),
                "beacon": beacon.map(|b| serde_json::json!({
                    "public_key": hex::encode(b.public_key),
                    "genesis": b.genesis_time,
                    "period": b.period,
                })),
            }))
        );
    } else {
        println!("devnet serving {} at {url}", args.world.display());
        println!("  chain (JSON-RPC) {ws}");
        println!("  validator hotkey {validator}");
        println!("  LLM gateway      {url}v1/chat/completions, {url}v1/completions");
        println!(
            "  chute endpoints  {}/{{generate,speak,embed}}",
            server.chute_url_template()
        );
        println!("  close the hour:  POST {url}_devnet/advance");
        if let Some(b) = &beacon {
            println!(
                "  commit-reveal:   on; beacon public key {}, genesis {}, period {} s",
                hex::encode(b.public_key),
                b.genesis_time,
                b.period
            );
        }
        println!(
            "  fault switches:  POST {url}_devnet/faults  {}",
            serde_json::to_string(&server.faults())?
        );
        if let Some(path) = &args.write_config {
            println!("  config written to {}", path.display());
        }
        println!("press Ctrl-C to stop");
    }
    stop.requested().await;
    drop(network);
    Ok(exit::SUCCESS)
}
