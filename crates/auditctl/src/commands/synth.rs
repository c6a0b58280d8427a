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
use chutes_client::{ChutesClient, TraceEvent};
use comfy_table::Cell;
use rand::SeedableRng;
use serde::Serialize;
use synthetics::render::{RenderOptions, Renderer};
use synthetics::run::TaskChoice;
use synthetics::{
    Observer, Outcome, PromptSet, Round, Summary, Synthesizer, TaskType, Verification,
};

use crate::cli::{Global, SynthArgs, SynthCommand, SynthVerifyArgs, TaskArg};
use crate::signals::Stop;
use crate::{exit, output};
use audit_config::{Config, ConfigError, PromptConfig, PromptSource};

/// What `synth --json` prints.
#[derive(Debug, Serialize)]
pub struct SynthReport {
    /// The RNG seed: rerun with `--seed` to repeat the choices.
    pub seed: u64,
    /// Which prompt fallbacks were taken.
    pub notes: Vec<String>,
    pub rounds: Vec<Round>,
    pub summary: Summary,
}

impl SynthReport {
    /// Whether a request was refused or could not be sent.
    pub fn any_unsent(&self) -> bool {
        self.rounds
            .iter()
            .flat_map(|r| &r.outcomes)
            .any(|o| matches!(o, Outcome::Refused { .. } | Outcome::Error { .. }))
    }
}

pub async fn run(global: &Global, args: &SynthArgs, stop: Stop) -> Result<u8> {
    match &args.command {
        Some(SynthCommand::Verify(verify_args)) => verify(global, verify_args).await,
        None => send(global, args, stop).await,
    }
}

async fn send(global: &Global, args: &SynthArgs, stop: Stop) -> Result<u8> {
    let config = super::load_config(global)?;
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
    let seed = args.seed.unwrap_or_else(clock_seed);
    let rounds = match args.every {
        Some(every) => Rounds::Every(every, stop),
        None => Rounds::Count(args.count.unwrap_or(1)),
    };
    let report = send_rounds(&config, &client, &store, &choice, render, seed, rounds).await?;
    if global.json {
        output::print(&output::json(&report))?;
    } else {
        output::print(&render_summary(&report))?;
    }
    Ok(if report.any_unsent() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// How many rounds to send.
pub enum Rounds {
    /// This many, back to back.
    Count(u32),
    /// One every interval until SIGINT or SIGTERM.
    Every(std::time::Duration, Stop),
}

/// The Chutes client with the API key, which synthetics require.
pub fn client(config: &Config) -> Result<ChutesClient> {
    require_api_key(config, "")?;
    super::sync::chutes_client(config)
}

/// Synthetics are paid requests: without a key they cannot be sent.
/// `other_way` adds a remedy to the message (`, or …`).
pub fn require_api_key(config: &Config, other_way: &str) -> Result<(), ConfigError> {
    if config.api_key.is_some() {
        return Ok(());
    }
    Err(ConfigError::Value {
        key: "api_key".into(),
        message: format!(
            "synthetics need a Chutes API key: set api_key or {}{other_way}",
            audit_config::ENV_API_KEY
        ),
    })
}

/// The prompts the config names; fallbacks are logged and kept as notes.
pub fn prompts(config: &Config) -> Result<PromptSet> {
    let cache =
        synthetics::prompts::hf_cache_dir(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let source = |p: &PromptConfig| match &p.source {
        PromptSource::Builtin => synthetics::PromptSource::Builtin,
        PromptSource::File(path) => synthetics::PromptSource::File {
            path: path.clone(),
            field: p.field.clone(),
        },
        PromptSource::Huggingface(dataset) => synthetics::PromptSource::HuggingFace {
            dataset: dataset.clone(),
            split: p.split.clone(),
            field: p.field.clone(),
            cache: cache.clone(),
        },
    };
    let prompts = &config.synthetics.prompts;
    let set = PromptSet::load(&source(&prompts.text), &source(&prompts.image))?;
    for note in &set.notes {
        tracing::warn!("{note}");
    }
    Ok(set)
}

/// Sends `rounds` and records them; logs and renders as it goes.
pub async fn send_rounds(
    config: &Config,
    client: &ChutesClient,
    store: &Store,
    choice: &TaskChoice,
    render: RenderOptions,
    seed: u64,
    rounds: Rounds,
) -> Result<SynthReport> {
    let prompts = prompts(config)?;
    let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut synth = Synthesizer::new(client, store, &prompts, rng);
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut observer = Cli {
        renderer: Renderer::new(render, stdout, terminal),
        sent: 0,
    };
    let mut report = SynthReport {
        seed,
        notes: prompts.notes.clone(),
        rounds: Vec::new(),
        summary: Summary::default(),
    };
    let round = |report: &mut SynthReport, done: Round| {
        for outcome in &done.outcomes {
            report.summary.add(outcome);
        }
        report.rounds.push(done);
    };
    match rounds {
        Rounds::Count(n) => {
            for _ in 0..n {
                let done = synth.round(choice, &mut observer, now()).await?;
                round(&mut report, done);
            }
        }
        Rounds::Every(every, mut stop) => {
            let mut ticker = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.requested() => break,
                }
                match synth.round(choice, &mut observer, now()).await {
                    Ok(done) => round(&mut report, done),
                    // A round that cannot read the catalogue is logged;
                    // the next one may. A store failure is not transient.
                    Err(synthetics::SynthError::Client(e)) => {
                        tracing::error!("this round failed: {e}")
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(report)
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

fn clock_seed() -> u64 {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// The types each round sends: the `--type` list (`all` expands), else one
/// random enabled type.
pub fn choice(config: &Config, types: &[TaskArg]) -> Result<TaskChoice> {
    if types.is_empty() {
        let enabled: Vec<TaskType> = TaskType::ALL
            .into_iter()
            .filter(|t| config.synthetics.task(*t).enabled)
            .collect();
        if enabled.is_empty() {
            return Err(ConfigError::Value {
                key: "synthetics".into(),
                message: "every synthetic type is disabled: enable one or give --type".into(),
            }
            .into());
        }
        return Ok(TaskChoice::OneOf(enabled));
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

/// Logs the trace in the upstream style and renders outputs.
struct Cli<W: std::io::Write> {
    renderer: Renderer<W>,
    sent: usize,
}

impl<W: std::io::Write> Observer for Cli<W> {
    fn trace(&mut self, _task: TaskType, event: &TraceEvent) {
        tracing::info!("{}", synthetics::capture::trace_line(event));
    }

    fn text(&mut self, task: TaskType, piece: &str) {
        self.renderer.text_piece(task, piece);
    }

    fn outcome(&mut self, outcome: &Outcome) {
        self.sent += 1;
        let n = self.sent;
        match outcome {
            Outcome::Sent {
                task,
                chute_name,
                attempts,
                output,
                failure,
                ..
            } => {
                if let Some(output) = output {
                    self.renderer.output(*task, output);
                }
                match failure {
                    None => tracing::info!(
                        "[{n}] {task} on {chute_name}: {} attempt(s) recorded",
                        attempts.len()
                    ),
                    Some(why) => tracing::warn!(
                        "[{n}] {task} on {chute_name}: {} attempt(s) recorded, failed: {why}",
                        attempts.len()
                    ),
                }
            }
            Outcome::Refused {
                task,
                chute_id,
                meaning,
                ..
            } => {
                tracing::warn!("[{n}] {task} on chute {chute_id} refused, not recorded: {meaning}")
            }
            Outcome::NoChute { task } => {
                tracing::warn!("[{n}] {task}: no hot chute fits this type; skipped")
            }
            Outcome::Error {
                task,
                chute_id,
                error,
            } => tracing::warn!("[{n}] {task} on chute {chute_id} not sent: {error}"),
        }
    }
}

/// The per-type table: sent, attempts, retried, failed with reason.
pub fn render_summary(report: &SynthReport) -> String {
    let mut table = output::table(["type", "sent", "attempts", "retried", "failed"]);
    let mut reasons = Vec::new();
    for (task, line) in &report.summary.tasks {
        let failed: u64 = line.failed.values().sum();
        table.add_row([
            Cell::new(task),
            Cell::new(line.sent),
            Cell::new(line.attempts),
            Cell::new(line.retried),
            Cell::new(failed),
        ]);
        for (reason, count) in &line.failed {
            reasons.push(format!("  {task}: {count} × {reason}"));
        }
    }
    output::align_right(&mut table, &[1, 2, 3, 4]);
    let mut text = format!("synthetics (seed {})\n{table}\n", report.seed);
    if !reasons.is_empty() {
        text.push_str("failures:\n");
        text.push_str(&reasons.join("\n"));
        text.push('\n');
    }
    text
}

async fn verify(global: &Global, args: &SynthVerifyArgs) -> Result<u8> {
    let config = super::load_config(global)?;
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
    let validators: Vec<String> = config.validators.iter().map(|v| v.hotkey.clone()).collect();
    Ok(synthetics::verify(store, &validators, at).await?)
}

/// A clean result in one line; otherwise every finding in full.
pub fn render_verification(v: &Verification) -> String {
    let covered = v.covered_until.map_or_else(
        || "nothing yet (no validator entry loaded)".into(),
        |t| t.to_string(),
    );
    let mut text = format!(
        "{} synthetic attempt(s) checked against the exports up to {covered}; {} present, {} newer ones pending\n",
        v.checked, v.present, v.pending
    );
    if v.is_clean() {
        if let Some(newest) = v.newest_checked {
            text.push_str(&format!(
                "clean: every attempt up to {newest} is exported under its miner\n"
            ));
        }
        return text;
    }
    let mut table = output::table([
        "verdict",
        "task",
        "chute",
        "parent id",
        "child id",
        "expected miner",
        "found miner",
    ]);
    for f in &v.findings {
        let expected = match f.expected_uid {
            Some(uid) => format!("{} (uid {uid})", f.expected_hotkey),
            None => f.expected_hotkey.clone(),
        };
        let found = if f.found_hotkeys.is_empty() {
            "-".to_string()
        } else {
            f.found_hotkeys.join(", ")
        };
        table.add_row([
            f.verdict.as_str().to_string(),
            f.task.clone(),
            f.chute_id.clone(),
            f.parent_invocation_id.clone(),
            f.invocation_id.clone(),
            expected,
            found,
        ]);
    }
    text.push_str(&format!(
        "{} attempt(s) missing from the exports or exported under another miner:\n{table}\n",
        v.findings.len()
    ));
    text
}
