//! `auditctl devnet generate|serve`: the simulated network for people.

use std::path::Path;

use anyhow::{bail, Context, Result};
use devnet::{Faults, GenerateOptions, Network, NetworkOptions, World};

use serde::Serialize;
use url::Url;

use crate::cli::{DevnetCommand, GenerateArgs, Global, ServeArgs};
use crate::config::{BeaconConfig, ValidatorConfig};
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
    let shape = devnet::WorldShape {
        chutes: args.chutes.map(|n| n as usize),
        instances_per_miner: args.instances_per_miner.map(|n| n as usize),
    };
    let started = std::time::Instant::now();
    let summary =
        tokio::task::spawn_blocking(move || devnet::generate_shaped(&options, shape)).await??;
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
    let url = network.http_url();
    let ws = network.ws_url();
    let beacon = network.beacon();
    if let Some(path) = &args.write_config {
        let config = DevnetConfig::new(&url, &ws, &validator, beacon.as_ref())?;
        let text = config.to_yaml(&args.world)?;
        audit_store::write_atomic(path, text.as_bytes())?;
        // It may hold a seed (a public dev key, but the habit matters, and
        // auditctl warns about a seed others can read).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
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

/// The auditctl configuration `devnet serve --write-config` writes: every
/// URL at the devnet, and the validator's key only when the dev seed
/// derives the world's validator address (a world made elsewhere has
/// another validator, whose seed we do not have).
#[derive(Debug, Serialize)]
struct DevnetConfig {
    data_dir: &'static str,
    api_key: &'static str,
    endpoints: DevnetEndpoints,
    validators: Vec<ValidatorConfig>,
    subtensor: DevnetSubtensor,
    set_weights: DevnetSetWeights,
}

#[derive(Debug, Serialize)]
struct DevnetEndpoints {
    api: Url,
    llm: Url,
    chute_url_template: String,
}

#[derive(Debug, Serialize)]
struct DevnetSubtensor {
    url: Url,
    archive_url: Url,
}

#[derive(Debug, Serialize)]
struct DevnetSetWeights {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ss58: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_seed: Option<String>,
    /// The devnet chain's own drand-like beacon (its secret stays in the
    /// node), with commit-reveal on.
    #[serde(skip_serializing_if = "Option::is_none")]
    beacon: Option<BeaconConfig>,
}

impl DevnetConfig {
    fn new(
        url: &Url,
        ws: &str,
        validator: &str,
        beacon: Option<&drand_tlock::Beacon>,
    ) -> Result<Self> {
        let ws = Url::parse(ws).with_context(|| format!("the devnet chain's URL {ws}"))?;
        let seed = devnet::validator_seed_hex();
        let ours = subtensor::Hotkey::from_seed_hex(&seed)
            .is_ok_and(|key| key.check_address(validator).is_ok());
        Ok(DevnetConfig {
            data_dir: "data-devnet",
            api_key: "devnet",
            endpoints: DevnetEndpoints {
                api: url.clone(),
                llm: url.clone(),
                chute_url_template: format!("{url}chute/{{slug}}"),
            },
            validators: vec![ValidatorConfig {
                name: "devnet".into(),
                hotkey: validator.to_string(),
                url: url.clone(),
            }],
            subtensor: DevnetSubtensor {
                url: ws.clone(),
                archive_url: ws,
            },
            set_weights: DevnetSetWeights {
                enabled: false,
                ss58: ours.then(|| validator.to_string()),
                secret_seed: ours.then_some(seed),
                beacon: beacon.map(|b| BeaconConfig {
                    public_key: hex::encode(b.public_key),
                    genesis: b.genesis_time,
                    period: b.period,
                }),
            },
        })
    }

    /// The YAML text, under a comment saying what it points at and whose
    /// key it holds.
    fn to_yaml(&self, world: &Path) -> Result<String> {
        let mut text = format!(
            "# Points auditctl at the devnet serving {}.\n",
            world.display()
        );
        if self.set_weights.secret_seed.is_some() {
            text.push_str(
                "# The devnet validator is //Alice: a public dev key, never for real funds.\n",
            );
        } else {
            text.push_str(
                "# No validator key: the world's validator is not //Alice, whose seed is the only one the devnet has.\n",
            );
        }
        text.push_str(&serde_yaml_ng::to_string(self)?);
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Environment, Overrides};

    /// No variables: the caller's environment cannot leak in.
    struct NoEnv;

    impl Environment for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn written(validator: &str) -> Config {
        let url = Url::parse("http://127.0.0.1:8080/").unwrap();
        let config = DevnetConfig::new(&url, "ws://127.0.0.1:9944", validator, None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devnet.yml");
        let yaml = config.to_yaml(Path::new("world")).unwrap();
        std::fs::write(&path, yaml).unwrap();
        Config::load(Some(&path), &NoEnv, &Overrides::default()).unwrap()
    }

    #[test]
    fn the_dev_seed_is_written_only_beside_the_address_it_derives() {
        let alice = subtensor::Hotkey::from_seed_hex(&devnet::validator_seed_hex())
            .unwrap()
            .ss58();
        let config = written(&alice);
        assert_eq!(config.set_weights.ss58.as_deref(), Some(alice.as_str()));
        assert!(config.set_weights.secret_seed.is_some());
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        assert_eq!(config.endpoints.api.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            config.endpoints.chute_url_template,
            "http://127.0.0.1:8080/chute/{slug}"
        );
        assert_eq!(config.subtensor.url.as_str(), "ws://127.0.0.1:9944/");

        let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
        let config = written(bob);
        assert_eq!(config.validators[0].hotkey, bob);
        assert!(config.set_weights.secret_seed.is_none());
        assert!(config.set_weights.ss58.is_none());
    }
}
