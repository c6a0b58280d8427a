//! Sending a scored run's weights and keeping the record: the catalog
//! around one call of `weights::set_weights`. `auditctl weights` and the
//! weights stage of `auditctl run` both call [`submit`], so both look at
//! the last commit's reveal, resolve earlier sends of unknown fate, send,
//! check and record the same way.

use std::time::Duration;

use audit_model::mask_secrets;
use audit_store::{
    EntrySource, SendResolution, Store, StoreError, SubmissionOutcome, WeightsSubmission,
    WeightsSubmissionRecord,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use drand_tlock::Beacon;
use serde::Serialize;
use subtensor::{ClientOptions, Hotkey};
use weights::{
    Action, Mode, Plan, PlannedCall, RevealCheck, ScoredRun, SendOptions, Settings,
    VersionKeySource,
};

/// Sending as the caller resolved it from its configuration.
#[derive(Clone)]
pub struct SubmitSettings {
    /// The chain node weights go to (not the archive node).
    pub chain_url: String,
    /// Timeouts and reconnection of the chain client.
    pub chain_options: ClientOptions,
    /// The subnet.
    pub netuid: u16,
    /// The validator's key; `None` when none is configured (sending is
    /// then refused by the first precondition).
    pub hotkey: Option<Hotkey>,
    /// The SS58 address the configuration names for it, if any.
    pub configured_address: Option<String>,
    /// The `version_key` the weights carry; `None`: the chain's
    /// `WeightsVersionKey` at send time.
    pub version_key: Option<u64>,
    /// No weights from a lake whose newest entry is older than this.
    pub max_entry_age: Duration,
    /// The drand beacon the chain reveals timelocked commits with.
    pub beacon: Beacon,
    /// Time per block, for the reveal round.
    pub block_time: Duration,
    /// Retries on transport failures, and the reveal wait.
    pub send: SendOptions,
    /// The validator hotkeys whose entries the scores rest on.
    pub validators: Vec<String>,
    /// The scoring window, in days: where the newest entry is looked for.
    pub window_days: u32,
}

/// Why a submission could not even be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The catalog could not be read or written.
    #[error("the catalog: {0}")]
    Store(#[from] StoreError),
    /// The commit's randomness could not be drawn from the OS.
    #[error("no OS randomness for the commit: {0}")]
    Randomness(String),
}

/// What a run did about sending, as printed (`--json` too).
#[derive(Debug, Serialize)]
pub struct Sending {
    /// The newest commit that awaited its reveal, as this run found it.
    pub previous_commit: Option<PreviousCommit>,
    /// Earlier sends of unknown fate, as this run found them on chain
    /// (left out when there were none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_sends: Vec<SendResolution>,
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
        /// The recorded attempt (boxed: the record is the largest
        /// variant by far).
        submission: Box<WeightsSubmissionRecord>,
    },
}

impl Sending {
    /// Whether a chain read while sending did not prove: the node lied.
    pub fn integrity_violation(&self) -> bool {
        matches!(
            &self.action,
            SendingAction::Attempted { submission, .. }
                if submission.outcome == SubmissionOutcome::IntegrityViolation
        )
    }

    /// Whether the run did what it was asked: a dry run said what it
    /// would send or why it would not (an observer has no key to send
    /// with), an attempt was included and not lost, or sending is off.
    pub fn succeeded(&self) -> bool {
        match &self.action {
            SendingAction::NotEnabled | SendingAction::DryRun { .. } => true,
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
    /// The subnet.
    pub netuid: u16,
    /// The sending validator's uid.
    pub sender_uid: u16,
    /// The `version_key` the call carries.
    pub version_key: u64,
    /// `configured`, or `chain` (its `WeightsVersionKey` at send time).
    pub version_key_source: &'static str,
    /// The best block the plan was made at.
    pub block: u32,
    /// `(uid, u16 weight)`, uids ascending.
    pub weights: Vec<(u16, u16)>,
    /// The drand round a timelocked commit opens at.
    pub reveal_round: Option<u64>,
    /// When that round is expected, in Unix seconds.
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
            version_key_source: match plan.version_key_source {
                VersionKeySource::Configured => "configured",
                VersionKeySource::Chain => "chain",
            },
            block: plan.facts.block,
            weights: plan.vector.pairs().collect(),
            reveal_round: round,
            reveal_expected_at_unix: at,
            skipped_hotkeys: plan.skipped.clone(),
        }
    }
}

/// Sends (or plans) the weights of the recorded run `run`, first looking
/// at the last commit's reveal, and records what happened. `present` is
/// the evaluation time the newest entry's age is measured at (the
/// devnet's clock under `--clock devnet`); `now` is the wall clock the
/// reveal round is computed from.
pub async fn submit(
    store: &Store,
    settings: &SubmitSettings,
    mode: Mode,
    run: &incentives::EvaluatedRun,
    present: NaiveDateTime,
    now: DateTime<Utc>,
) -> Result<Sending, SubmitError> {
    let scores: Vec<(String, f64)> = run
        .scores
        .miners
        .iter()
        .map(|m| (m.features.hotkey.clone(), m.score))
        .collect();
    let newest = newest_entry(store, settings, run.scores.evaluated_at).await?;
    let hotkey = match mode {
        Mode::Disabled => None,
        _ => settings.hotkey.as_ref(),
    };
    let chain = Settings {
        chain_url: &settings.chain_url,
        chain_options: settings.chain_options.clone(),
        netuid: settings.netuid,
        mode,
        hotkey,
        configured_address: settings.configured_address.as_deref(),
        version_key: settings.version_key,
        max_entry_age: settings.max_entry_age,
        beacon: settings.beacon,
        block_time: settings.block_time,
        send: settings.send,
    };
    let scored = ScoredRun {
        run_id: run.run_id,
        scores: &scores,
        newest_entry_age: newest.map(|t| (present - t).to_std().unwrap_or(Duration::ZERO)),
        unverifiable_entries: run.scores.unverifiable_entries_used,
    };
    let (pending, unknown) = match mode {
        Mode::Disabled => (None, Vec::new()),
        _ => (
            store.catalog().commit_awaiting_reveal().await?,
            store.catalog().unresolved_sends().await?,
        ),
    };
    // The commit's randomness must be unpredictable: seeded from the OS.
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| SubmitError::Randomness(e.to_string()))?;
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(*seed);
    let outcome =
        weights::set_weights(&chain, &scored, pending.as_ref(), &unknown, now, &mut rng).await;
    let previous = match outcome.previous {
        Some(check) => Some(record_reveal_check(store, check, now.naive_utc()).await?),
        None => None,
    };
    let mut earlier_sends = Vec::with_capacity(outcome.resolved.len());
    for mut resolution in outcome.resolved {
        resolution.reason = mask_secrets(&resolution.reason);
        store
            .catalog()
            .record_send_resolution(&resolution, now.naive_utc())
            .await?;
        let proven = matches!(
            resolution.outcome,
            SubmissionOutcome::Landed | SubmissionOutcome::Committed
        );
        let send = unknown
            .iter()
            .find(|s| s.submission_id == resolution.submission_id);
        if let (true, Some(send)) = (proven, send) {
            let found = WeightsSubmissionRecord {
                outcome: resolution.outcome,
                block: resolution.block,
                ..send.clone()
            };
            mark_run_sent(store, settings, &found).await?;
        }
        earlier_sends.push(resolution);
    }
    let action = match outcome.action {
        Action::Disabled => SendingAction::NotEnabled,
        Action::DryRun(Ok(plan)) => SendingAction::DryRun {
            plan: Some(PlanView::from(&plan)),
            refused: None,
        },
        Action::DryRun(Err(why)) => SendingAction::DryRun {
            plan: None,
            refused: Some(mask_secrets(&why)),
        },
        Action::Attempted { plan, mut record } => {
            // A transport error quotes the node's URL, which may carry
            // credentials: masked before it is stored or printed.
            record.reason = record.reason.map(|r| mask_secrets(&r));
            record.submission_id = store.catalog().record_weights_submission(&record).await?;
            mark_run_sent(store, settings, &record).await?;
            SendingAction::Attempted {
                plan: plan.as_deref().map(PlanView::from),
                submission: Box::new(record),
            }
        }
    };
    Ok(Sending {
        previous_commit: previous,
        earlier_sends,
        action,
    })
}

/// The newest loaded entry of the configured validators that the run's
/// window holds: how fresh the scores are.
async fn newest_entry(
    store: &Store,
    settings: &SubmitSettings,
    at: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, StoreError> {
    let from = audit_model::time::window_start(at, settings.window_days);
    let until = at + chrono::TimeDelta::microseconds(1);
    let entries = store
        .catalog()
        .loaded_entries(EntrySource::Validator, from, until)
        .await?;
    Ok(entries
        .iter()
        .filter(|e| settings.validators.contains(&e.entry.hotkey))
        .map(|e| e.entry.created_at)
        .max())
}

async fn record_reveal_check(
    store: &Store,
    check: RevealCheck,
    now: NaiveDateTime,
) -> Result<PreviousCommit, StoreError> {
    if let Some(outcome) = check.outcome {
        store
            .catalog()
            .record_reveal_check(check.submission_id, outcome, now)
            .await?;
    }
    Ok(PreviousCommit {
        submission_id: check.submission_id,
        outcome: check.outcome,
        error: check.error.map(|e| mask_secrets(&e)),
    })
}

/// The run's own "sent" columns, which the report reads: set once a
/// transaction is in a block.
async fn mark_run_sent(
    store: &Store,
    settings: &SubmitSettings,
    record: &WeightsSubmissionRecord,
) -> Result<(), StoreError> {
    let (true, Some(extrinsic_hash)) = (record.outcome.included(), &record.extrinsic_hash) else {
        return Ok(());
    };
    let submission = WeightsSubmission {
        sent_to: mask_secrets(&settings.chain_url),
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
