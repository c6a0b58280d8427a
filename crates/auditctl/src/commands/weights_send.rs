//! Sending a scored run's weights: the configuration and the catalog
//! turned into one call of `weights::set_weights`, and its records kept.
//! `auditctl weights` calls [`submit`]; so does `auditctl run`, so both
//! send, check and record the same way.

use std::time::Duration;

use anyhow::{Context, Result};
use audit_store::{
    EntrySource, Store, SubmissionOutcome, WeightsSubmission, WeightsSubmissionRecord,
};
use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use weights::{Action, Mode, Plan, PlannedCall, RevealCheck, ScoredRun, SendOptions, Settings};

use crate::config::Config;

/// Tries in all when the node cannot be reached; never after it refused.
const TRIES: u32 = 3;
/// First wait between tries; doubles.
const BACKOFF: Duration = Duration::from_secs(2);

/// What a run did about sending, as printed (`--json` too).
#[derive(Debug, Serialize)]
pub struct Sending {
    /// The newest commit that awaited its reveal, as this run found it.
    pub previous_commit: Option<PreviousCommit>,
    /// This run's part.
    #[serde(flatten)]
    pub action: SendingAction,
}

/// A commit from an earlier run, looked at again.
#[derive(Debug, Serialize)]
pub struct PreviousCommit {
    /// Its submission id in the catalog.
    pub submission_id: i64,
    /// revealed, dropped, or still committed; `None` when the chain could
    /// not say (then `error`).
    pub outcome: Option<SubmissionOutcome>,
    /// Why the chain could not say.
    pub error: Option<String>,
}

/// This run's part in sending.
#[derive(Debug, Serialize)]
#[serde(tag = "sending", rename_all = "snake_case")]
pub enum SendingAction {
    /// `set_weights.enabled` is false and no dry run was asked.
    NotEnabled,
    /// `--dry-run`: what would be sent, or why nothing would be.
    DryRun {
        /// The call and the vector.
        plan: Option<PlanView>,
        /// Why nothing would be sent.
        refused: Option<String>,
    },
    /// An attempt, as recorded in the catalog.
    Attempted {
        /// The call and the vector, when planned.
        plan: Option<PlanView>,
        /// The recorded attempt.
        submission: WeightsSubmissionRecord,
    },
}

impl Sending {
    /// Whether the run did what it was asked: a dry run found something
    /// to send, an attempt was included and not lost, or sending is off.
    pub fn succeeded(&self) -> bool {
        match &self.action {
            SendingAction::NotEnabled => true,
            SendingAction::DryRun { plan, .. } => plan.is_some(),
            SendingAction::Attempted { submission, .. } => matches!(
                submission.outcome,
                SubmissionOutcome::Landed
                    | SubmissionOutcome::Committed
                    | SubmissionOutcome::Revealed
            ),
        }
    }
}

/// A plan as people and scripts read it.
#[derive(Debug, Serialize)]
pub struct PlanView {
    /// `set_weights` or `commit_timelocked_weights`.
    pub call: &'static str,
    pub netuid: u16,
    pub sender_uid: u16,
    pub version_key: u64,
    /// The best block the plan was made at.
    pub block: u32,
    /// `(uid, u16 weight)`, uids ascending.
    pub weights: Vec<(u16, u16)>,
    pub reveal_round: Option<u64>,
    pub reveal_expected_at_unix: Option<u64>,
    /// Scored hotkeys not on the metagraph now.
    pub skipped_hotkeys: Vec<String>,
}

impl From<&Plan> for PlanView {
    fn from(plan: &Plan) -> Self {
        let (call, round, at) = match &plan.call {
            PlannedCall::Plain => ("set_weights", None, None),
            PlannedCall::Timelocked {
                reveal,
                reveal_at_unix,
                ..
            } => (
                "commit_timelocked_weights",
                Some(reveal.round),
                Some(*reveal_at_unix),
            ),
        };
        PlanView {
            call,
            netuid: plan.netuid,
            sender_uid: plan.uid,
            version_key: plan.version_key,
            block: plan.facts.block,
            weights: plan.vector.pairs().collect(),
            reveal_round: round,
            reveal_expected_at_unix: at,
            skipped_hotkeys: plan.skipped.clone(),
        }
    }
}

/// Whether this invocation sends, plans, or neither.
pub fn mode(config: &Config, dry_run: bool) -> Mode {
    match (dry_run, config.set_weights.enabled) {
        (true, _) => Mode::DryRun,
        (false, true) => Mode::Send,
        (false, false) => Mode::Disabled,
    }
}

/// Sends (or plans) the weights of the recorded run `run`, first looking
/// at the last commit's reveal, and records what happened.
pub async fn submit(
    store: &Store,
    config: &Config,
    run: &incentives::EvaluatedRun,
    mode: Mode,
    wait_reveal: Option<Duration>,
) -> Result<Sending> {
    let hotkey = match (&config.set_weights.secret_seed, mode) {
        (_, Mode::Disabled) | (None, _) => None,
        (Some(seed), _) => Some(
            subtensor::Hotkey::from_seed_hex(seed.expose())
                .context("set_weights.secret_seed is not a usable seed")?,
        ),
    };
    let beacon = config
        .set_weights
        .beacon
        .beacon()
        .map_err(|m| anyhow::anyhow!("set_weights.beacon: {m}"))?;
    let scores: Vec<(String, f64)> = run
        .scores
        .miners
        .iter()
        .map(|m| (m.features.hotkey.clone(), m.score))
        .collect();
    let now = Utc::now();
    let newest = newest_entry(store, config, run.scores.evaluated_at).await?;
    let settings = Settings {
        chain_url: config.subtensor.url.as_str(),
        chain_options: subtensor::ClientOptions {
            call_timeout: Duration::from_secs(config.subtensor.timeout_seconds),
            ..subtensor::ClientOptions::default()
        },
        netuid: config.netuid,
        mode,
        hotkey: hotkey.as_ref(),
        configured_address: config.set_weights.ss58.as_deref(),
        version_key: config.set_weights.version_key,
        max_entry_age: Duration::from_secs(config.set_weights.max_entry_age_seconds),
        beacon,
        block_time: Duration::from_secs(config.set_weights.block_time_seconds),
        send: SendOptions {
            tries: TRIES,
            backoff: BACKOFF,
            wait_reveal,
        },
    };
    let scored = ScoredRun {
        run_id: run.run_id,
        scores: &scores,
        newest_entry_age: newest.map(|t| (now.naive_utc() - t).to_std().unwrap_or(Duration::ZERO)),
        unverifiable_entries: run.scores.unverifiable_entries_used,
    };
    let pending = match mode {
        Mode::Disabled => None,
        _ => store.catalog().commit_awaiting_reveal().await?,
    };
    // The commit's randomness must be unpredictable: seeded from the OS.
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(*seed);
    let outcome = weights::set_weights(&settings, &scored, pending.as_ref(), now, &mut rng).await;
    let previous = match outcome.previous {
        Some(check) => Some(record_reveal_check(store, check, now.naive_utc()).await?),
        None => None,
    };
    let action = match outcome.action {
        Action::Disabled => SendingAction::NotEnabled,
        Action::DryRun(Ok(plan)) => SendingAction::DryRun {
            plan: Some(PlanView::from(&plan)),
            refused: None,
        },
        Action::DryRun(Err(why)) => SendingAction::DryRun {
            plan: None,
            refused: Some(audit_model::mask_secrets(&why)),
        },
        Action::Attempted { plan, mut record } => {
            // A transport error quotes the node's URL, which may carry
            // credentials: masked before it is stored or printed.
            record.reason = record.reason.map(|r| audit_model::mask_secrets(&r));
            record.submission_id = store.catalog().record_weights_submission(&record).await?;
            mark_run_sent(store, config, &record).await?;
            SendingAction::Attempted {
                plan: plan.as_deref().map(PlanView::from),
                submission: record,
            }
        }
    };
    Ok(Sending {
        previous_commit: previous,
        action,
    })
}

/// The newest loaded entry of the configured validators that the run's
/// window holds: how fresh the scores are.
async fn newest_entry(
    store: &Store,
    config: &Config,
    at: NaiveDateTime,
) -> Result<Option<NaiveDateTime>> {
    let from = at - chrono::TimeDelta::days(i64::from(config.scoring.window_days));
    let until = at + chrono::TimeDelta::microseconds(1);
    let entries = store
        .catalog()
        .loaded_entries(EntrySource::Validator, from, until)
        .await?;
    Ok(entries
        .iter()
        .filter(|e| config.validators.iter().any(|v| v.hotkey == e.entry.hotkey))
        .map(|e| e.entry.created_at)
        .max())
}

async fn record_reveal_check(
    store: &Store,
    check: RevealCheck,
    now: NaiveDateTime,
) -> Result<PreviousCommit> {
    if let Some(outcome) = check.outcome {
        store
            .catalog()
            .record_reveal_check(check.submission_id, outcome, now)
            .await?;
    }
    Ok(PreviousCommit {
        submission_id: check.submission_id,
        outcome: check.outcome,
        error: check.error.map(|e| audit_model::mask_secrets(&e)),
    })
}

/// The run's own "sent" columns, which the report reads: set once a
/// transaction is in a block.
async fn mark_run_sent(
    store: &Store,
    config: &Config,
    record: &WeightsSubmissionRecord,
) -> Result<()> {
    let (true, Some(extrinsic_hash)) = (record.outcome.included(), &record.extrinsic_hash) else {
        return Ok(());
    };
    let submission = WeightsSubmission {
        sent_to: audit_model::mask_secrets(config.subtensor.url.as_str()),
        block: record
            .block
            .and_then(|b| u32::try_from(b).ok())
            .unwrap_or(0),
        extrinsic_hash: extrinsic_hash.clone(),
    };
    store
        .catalog()
        .mark_weights_sent(record.run_id, &submission)
        .await?;
    Ok(())
}

/// The sending part of the text output.
pub fn render(sending: &Sending) -> String {
    let mut out = String::new();
    if let Some(previous) = &sending.previous_commit {
        out.push_str(&render_previous(previous));
    }
    match &sending.action {
        SendingAction::NotEnabled => out.push_str(
            "not sent: set_weights.enabled is false (`--dry-run` shows what would be sent)\n",
        ),
        SendingAction::DryRun {
            plan: Some(plan), ..
        } => {
            out.push_str("dry run, nothing sent; would send:\n");
            out.push_str(&render_plan(plan));
        }
        SendingAction::DryRun { refused, .. } => out.push_str(&format!(
            "dry run, nothing sent; would not send: {}\n",
            refused.as_deref().unwrap_or("no plan")
        )),
        SendingAction::Attempted { plan, submission } => {
            if let Some(plan) = plan {
                out.push_str(&render_plan(plan));
            }
            out.push_str(&render_submission(submission));
        }
    }
    out
}

fn render_previous(previous: &PreviousCommit) -> String {
    let id = previous.submission_id;
    match (previous.outcome, &previous.error) {
        (Some(SubmissionOutcome::Revealed), _) => {
            format!("previous commit (submission {id}): revealed, Weights on chain equals it\n")
        }
        (Some(SubmissionOutcome::Dropped), _) => format!(
            "previous commit (submission {id}): NOT REVEALED: it left the queue and Weights does \
             not hold it; the chain dropped it at reveal (wrong beacon key, round or payload)\n"
        ),
        (Some(_), _) => format!("previous commit (submission {id}): still awaiting its reveal\n"),
        (None, error) => format!(
            "previous commit (submission {id}): reveal not checked: {}\n",
            error.as_deref().unwrap_or("unknown")
        ),
    }
}

fn render_submission(s: &WeightsSubmissionRecord) -> String {
    let reason = s.reason.as_deref().unwrap_or("");
    let head = match s.outcome {
        SubmissionOutcome::Landed => "sent: landed, Weights on chain equals what was sent".into(),
        SubmissionOutcome::Committed => {
            "committed: the chain will reveal it at its round (the next run checks)".into()
        }
        SubmissionOutcome::Revealed => "committed and revealed: Weights on chain equals it".into(),
        SubmissionOutcome::Dropped => {
            "committed, then NOT REVEALED: the chain dropped it at reveal".into()
        }
        SubmissionOutcome::Differs => format!("sent, but Weights on chain DIFFERS: {reason}"),
        SubmissionOutcome::Unconfirmed => format!("sent, not confirmed: {reason}"),
        SubmissionOutcome::ChainRefused => {
            format!("not sent: the chain refused the call (not retried): {reason}")
        }
        SubmissionOutcome::TransportError => {
            format!("not sent: the node could not be reached: {reason}")
        }
        SubmissionOutcome::PreconditionRefused => format!("not sent: {reason}"),
    };
    let mut out = format!(
        "{head}\n  submission {} of run {}, {} tr{}\n",
        s.submission_id,
        s.run_id,
        s.tries,
        if s.tries == 1 { "y" } else { "ies" }
    );
    if let Some(hash) = &s.extrinsic_hash {
        out.push_str(&format!(
            "  extrinsic {hash} in block {}\n",
            s.block.map(|b| b.to_string()).unwrap_or_else(|| "?".into())
        ));
    }
    out
}

fn render_plan(plan: &PlanView) -> String {
    let mut out = format!(
        "  {} on subnet {} from uid {} (version key {}, chain block {})\n",
        plan.call, plan.netuid, plan.sender_uid, plan.version_key, plan.block
    );
    if let (Some(round), Some(at)) = (plan.reveal_round, plan.reveal_expected_at_unix) {
        let when = i64::try_from(at)
            .ok()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| at.to_string());
        out.push_str(&format!("  reveal round {round}, expected at {when}\n"));
    }
    let mut table = crate::output::table(["uid", "weight (u16)"]);
    for (uid, value) in &plan.weights {
        table.add_row([uid.to_string(), value.to_string()]);
    }
    crate::output::align_right(&mut table, &[0, 1]);
    out.push_str(&format!("{table}\n"));
    if !plan.skipped_hotkeys.is_empty() {
        out.push_str(&format!(
            "  skipped (not on the metagraph now): {}\n",
            plan.skipped_hotkeys.join(", ")
        ));
    }
    out
}
