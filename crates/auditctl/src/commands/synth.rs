//! `auditctl synth`: send synthetic traced requests and record every
//! attempt (crate `synthetics`), and `auditctl synth verify`: look each
//! recorded attempt up in the loaded exports. This module wires the config
//! to the library, logs the trace, renders, and prints the summaries.
//! Exit codes: 1 when a request was refused (401, 402, 429, 5xx) or could
//! not be sent; 3 when `verify` finds a missing or rerouted attempt.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use audit_store::Store;
use chrono::NaiveDateTime;
use chutes_client::ChutesClient;
use rand::SeedableRng;
use synthetics::render::{RenderOptions, Renderer};
use synthetics::run::TaskChoice;
use synthetics::{PromptSet, Schedule, Synthesizer, TaskType, Verification};

use crate::cli::{Global, SynthArgs, SynthCommand, SynthVerifyArgs, TaskArg};
use crate::signals::Stop;
use crate::view::synth::{render_summary, render_verification, Cli, SynthReport};
use crate::{exit, output};
use audit_config::Config;

pub async fn run(global: &Global, args: &SynthArgs, stop: Stop) -> Result<u8> {
    match &args.command {
        Some(SynthCommand::Verify(verify_args)) => verify(global, verify_args).await,
        None => send(global, args, stop).await,
    }
}

async fn send(global: &Global, args: &SynthArgs, stop: Stop) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let client = client(&config)?;
    // No data-directory write lock: synthetics only add catalog rows, each
    // request in its own transaction, and `synth --every` runs for days
    // beside the syncs the lock serialises.
    let store = Store::open(&config.data_dir, Some(&config.database_url()))
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let choice = choice(&config, &args.types)?;
    let render = if global.json || args.no_render {
        RenderOptions::none()
    } else {
        render_options(&config)
    };
    let seed = args.seed.unwrap_or_else(synthetics::clock_seed);
    let schedule = match args.every {
        Some(every) => Schedule::Every(every),
        None => Schedule::Count(args.count.unwrap_or(1)),
    };
    let prompts = prompts(&config)?;
    let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut synth = Synthesizer::new(&client, &store, &prompts, rng);
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut observer = Cli::new(Renderer::new(render, stdout, terminal));
    let mut stop = stop;
    let rounds = synth
        .rounds(&choice, &mut observer, schedule, stop.requested(), now)
        .await?;
    let report = SynthReport {
        seed,
        notes: prompts.notes.clone(),
        rounds,
    };
    if global.json {
        output::print(&output::json(&report))?;
    } else {
        output::print(&render_summary(&report))?;
    }
    Ok(if report.rounds.any_unsent() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// The Chutes client with the API key, which synthetics require.
pub fn client(config: &Config) -> Result<ChutesClient> {
    config.require_api_key("")?;
    super::sync::chutes_client(config)
}

/// The prompts the config names; fallbacks are logged and kept as notes.
pub fn prompts(config: &Config) -> Result<PromptSet> {
    let set = config.prompts()?;
    for note in &set.notes {
        tracing::warn!("{note}");
    }
    Ok(set)
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// The types each round sends: the `--type` list (`all` expands), else one
/// random enabled type.
pub fn choice(config: &Config, types: &[TaskArg]) -> Result<TaskChoice> {
    if types.is_empty() {
        return Ok(TaskChoice::OneOf(config.require_enabled_tasks()?));
    }
    let mut listed = Vec::new();
    for arg in types {
        let add: Vec<TaskType> = match arg {
            TaskArg::All => TaskType::ALL.to_vec(),
            TaskArg::One(t) => vec![*t],
        };
        for t in add {
            if !listed.contains(&t) {
                listed.push(t);
            }
        }
    }
    Ok(TaskChoice::Each(listed))
}

fn render_options(config: &Config) -> RenderOptions {
    let s = &config.synthetics;
    RenderOptions {
        text: s.chat.render || s.completion.render,
        image: s.image.render,
        audio: s.tts.render,
        embed: s.embed.render,
    }
}

async fn verify(global: &Global, args: &SynthVerifyArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    // Verdicts are single-row catalog updates and the lake's files are
    // replaced atomically: no need to wait for a running sync.
    let store = Store::open(&config.data_dir, Some(&config.database_url()))
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let at = args.at.unwrap_or_else(now);
    let result = check(&config, &store, at).await?;
    if global.json {
        output::print(&output::json(&result))?;
    } else {
        output::print(&render_verification(&result))?;
    }
    Ok(if result.is_clean() {
        exit::SUCCESS
    } else {
        exit::INTEGRITY
    })
}

/// The completeness check over the configured validators' entries.
pub async fn check(config: &Config, store: &Store, at: NaiveDateTime) -> Result<Verification> {
    Ok(synthetics::verify(store, &config.validator_hotkeys(), at).await?)
}
