//! What `synth` shows: the trace logged and the outputs rendered as the
//! requests go, the per-type summary, and `synth verify`'s findings.

use chutes_client::TraceEvent;
use comfy_table::Cell;
use serde::Serialize;
use synthetics::render::Renderer;
use synthetics::{Observer, Outcome, Rounds, TaskType, Verification};

use crate::output;

/// What `synth --json` prints.
#[derive(Debug, Serialize)]
pub struct SynthReport {
    /// The RNG seed: rerun with `--seed` to repeat the choices.
    pub seed: u64,
    /// Which prompt fallbacks were taken.
    pub notes: Vec<String>,
    /// What the rounds sent and how it went.
    #[serde(flatten)]
    pub rounds: Rounds,
}

/// A synthetics observer: logs the trace in the upstream style and
/// renders the outputs as they arrive.
pub struct TraceLog<W: std::io::Write> {
    renderer: Renderer<W>,
    sent: usize,
}

impl<W: std::io::Write> TraceLog<W> {
    /// An observer rendering through `renderer`.
    pub fn new(renderer: Renderer<W>) -> Self {
        TraceLog { renderer, sent: 0 }
    }
}

impl<W: std::io::Write> Observer for TraceLog<W> {
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
    for (task, line) in &report.rounds.summary.tasks {
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
