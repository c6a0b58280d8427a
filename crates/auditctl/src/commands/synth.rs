//! `auditctl synth`: send synthetic traced requests and record every
//! attempt (crate `synthetics`), and `auditctl synth verify`: look each
//! recorded attempt up in the loaded exports. This module wires the config
//! to the library, logs the trace, renders, and prints the summaries.
//! Exit codes: 1 when a request was refused (401, 402, 429, 5xx) or could
//! not be sent; 3 when `verify` finds a missing or rerouted attempt.

use std::io::IsTerminal;

use anyhow::Result;
use audit_view::output;
use audit_view::synth::{render_summary, render_verification, SynthReport, TraceLog};
use rand::SeedableRng;
use synthetics::render::{RenderOptions, Renderer};
use synthetics::{Schedule, Synthesizer, TaskType};

use crate::cli::{Global, SynthArgs, SynthCommand, SynthVerifyArgs, TaskArg};
use crate::exit;
use audit_service::signals::Stop;

pub async fn run(global: &Global, args: &SynthArgs, stop: Stop) -> Result<u8> {
    match &args.command {
        Some(SynthCommand::Verify(verify_args)) => verify(global, verify_args).await,
        None => send(global, args, stop).await,
    }
}

async fn send(global: &Global, args: &SynthArgs, stop: Stop) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    config.require_api_key("")?;
    let client = audit_run::chutes_client(&config)?;
    // No data-directory write lock: synthetics only add catalog rows, each
    // request in its own transaction, and `synth --every` runs for days
    // beside the syncs the lock serialises.
    let store = audit_run::open_store(&config, None).await?;
    let listed: Vec<TaskType> = (args.types.iter())
        .flat_map(|arg| match arg {
            TaskArg::All => TaskType::ALL.to_vec(),
            TaskArg::One(t) => vec![*t],
        })
        .collect();
    let choice = config.task_choice(&listed)?;
    let render = if global.json || args.no_render {
        RenderOptions::none()
    } else {
        config.render_options()
    };
    let seed = args.seed.unwrap_or_else(synthetics::clock_seed);
    let schedule = match args.every {
        Some(every) => Schedule::Every(every),
        None => Schedule::Count(args.count.unwrap_or(1)),
    };
    let prompts = audit_run::prompts(&config)?;
    let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut synth = Synthesizer::new(&client, &store, &prompts, rng);
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut observer = TraceLog::new(Renderer::new(render, stdout, terminal));
    let mut stop = stop;
    let rounds = synth
        .rounds(&choice, &mut observer, schedule, stop.requested(), || {
            chrono::Utc::now().naive_utc()
        })
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

async fn verify(global: &Global, args: &SynthVerifyArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    // Verdicts are single-row catalog updates and the lake's files are
    // replaced atomically: no need to wait for a running sync.
    let store = audit_run::open_store(&config, None).await?;
    let at = audit_run::evaluation_time(args.at, false)?;
    let result = synthetics::verify(&store, &config.validator_hotkeys(), at).await?;
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
