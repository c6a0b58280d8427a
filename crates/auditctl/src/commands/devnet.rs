//! `auditctl devnet generate|serve`: the simulated network for people.

use std::path::Path;

use anyhow::{bail, Context, Result};
use audit_config::Config;
use devnet::{Faults, GenerateOptions, Network, NetworkOptions, World};

use crate::cli::{DevnetCommand, GenerateArgs, Global, ServeArgs};
use crate::exit;
use audit_service::signals::Stop;
use audit_view::output;

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
    let shape = devnet::WorldShape {
        chutes: args.chutes.map(|n| n as usize),
        instances_per_miner: args.instances_per_miner.map(|n| n as usize),
    };
    let derive = !args.approximate_incentives;
    let made = devnet::make_world(options, shape, derive, args.load_into.as_deref()).await?;
    let (summary, paid) = (&made.summary, made.paid);
    let (generated_in, derived_in) = (made.generated_in, made.derived_in);
    if global.json {
        output::print(&output::json(&serde_json::json!({
            "summary": summary,
            "generate_seconds": generated_in.as_secs_f64(),
            "incentives": if paid.is_some() { "derived" } else { "approximate" },
            "miners_paid": paid,
            "derive_seconds": paid.map(|_| derived_in.as_secs_f64()),
        })))?;
    } else {
        output::println_safe!(
            "world written to {}: {} entries, {} invocation rows, {} in {:.1?}",
            args.out.display(),
            summary.entries,
            summary.invocation_rows,
            output::bytes(summary.bytes),
            generated_in
        )?;
        match paid {
            Some(n) => output::println_safe!(
                "incentives derived from the world's own traffic ({n} miners paid) in {derived_in:.1?}"
            )?,
            None => output::println_safe!("incentives: the generator's compute-share approximation")?,
        }
        if let Some(dir) = &args.load_into {
            let world = World::load(&args.out)?;
            output::println_safe!(
                "catalog and lake loaded in {}: score with `auditctl --data-dir {} weights --at {}` and a config naming validator {}",
                dir.display(),
                dir.display(),
                world.meta.now,
                world.meta.validator_hotkey
            )?;
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
    network.tell_lies(&devnet::ChainLies {
        swap_keys: args.swap_keys.as_deref().map(|uids| (uids[0], uids[1])),
        forged_commitments: args.forge_commitment.clone(),
        stale_root: args.stale_root,
    })?;
    let url = network.http_url();
    let ws = network.ws_url();
    let beacon = network.beacon();
    if let Some(path) = &args.write_config {
        write_config(&network, &args.world, path)?;
    }
    if global.json {
        output::print(&output::json(&serde_json::json!({
            "http": url, "ws": ws, "validator_hotkey": validator,
            "chute_url_template": server.chute_url_template(),
            "faults": server.faults(),
            "beacon": beacon.map(|b| serde_json::json!({
                "public_key": hex::encode(b.public_key),
                "genesis": b.genesis_time,
                "period": b.period,
            })),
        })))?;
    } else {
        output::println_safe!("devnet serving {} at {url}", args.world.display())?;
        output::println_safe!("  chain (JSON-RPC) {ws}")?;
        output::println_safe!("  validator hotkey {validator}")?;
        output::println_safe!("  LLM gateway      {url}v1/chat/completions, {url}v1/completions")?;
        output::println_safe!(
            "  chute endpoints  {}/{{generate,speak,embed}}",
            server.chute_url_template()
        )?;
        output::println_safe!("  close the hour:  POST {url}_devnet/advance")?;
        if let Some(b) = &beacon {
            output::println_safe!(
                "  commit-reveal:   on; beacon public key {}, genesis {}, period {} s",
                hex::encode(b.public_key),
                b.genesis_time,
                b.period
            )?;
        }
        output::println_safe!(
            "  fault switches:  POST {url}_devnet/faults  {}",
            serde_json::to_string(&server.faults())?
        )?;
        if let Some(path) = &args.write_config {
            output::println_safe!("  config written to {}", path.display())?;
        }
        output::println_safe!("press Ctrl-C to stop")?;
    }
    stop.requested().await;
    drop(network);
    Ok(exit::SUCCESS)
}

/// Writes the auditctl configuration that points at `network`, under a
/// comment saying what it points at and whose key it holds.
fn write_config(network: &Network, world: &Path, path: &Path) -> Result<()> {
    let base = Config {
        data_dir: "data-devnet".into(),
        ..Config::default()
    };
    let config = network.auditor_config(base);
    let mut text = format!(
        "# Points auditctl at the devnet serving {}.\n",
        world.display()
    );
    text.push_str(match config.set_weights.secret_seed {
        Some(_) => "# The devnet validator is //Alice: a public dev key, never for real funds.\n",
        None => "# No validator key: the world's validator is not //Alice, whose seed is the only one the devnet has.\n",
    });
    text.push_str(&config.to_yaml()?);
    audit_store::write_atomic(path, text.as_bytes())?;
    // It may hold a seed (a public dev key, but the habit matters, and
    // auditctl warns about a seed others can read).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
