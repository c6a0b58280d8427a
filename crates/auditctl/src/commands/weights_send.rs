//! The sending half of `auditctl weights`: the configuration turned into a
//! `weights::SendRequest`, the plan or the submission rendered.

use std::time::Duration;

use anyhow::{Context, Result};
use audit_store::{Store, WeightsSubmission};
use serde::Serialize;
use weights::{
    AttemptOutcome, Landing, Plan, PlanError, PlannedCall, SendOptions, SendRequest, Submission,
};

use crate::config::Config;

/// What the weights stage did about sending.
#[derive(Debug, Serialize)]
#[serde(tag = "sending", rename_all = "snake_case")]
pub enum Sending {
    /// `set_weights.enabled` is false and no dry run was asked.
    NotEnabled,
    /// A precondition (or the scores) refused: nothing sent.
    Refused { reason: String },
    /// `--dry-run`: what would be sent.
    DryRun { plan: PlanView },
    /// Sent.
    Sent {
        plan: PlanView,
        attempts: Vec<String>,
        extrinsic_hash: Option<String>,
        landing: String,
    },
}

/// A plan as people and scripts read it.
#[derive(Debug, Serialize)]
pub struct PlanView {
    pub call: &'static str,
    pub netuid: u16,
    pub sender_uid: u16,
    pub version_key: u64,
    pub block: u32,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub reveal_round: Option<u64>,
    pub reveal_expected_at_unix: Option<u64>,
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
            uids: plan.vector.uids().to_vec(),
            values: plan.vector.values().to_vec(),
            reveal_round: round,
            reveal_expected_at_unix: at,
            skipped_hotkeys: plan.skipped.clone(),
        }
    }
}

/// Plans (and, unless `dry_run`, sends) the weights of a scored run.
pub async fn decide(
    store: &Store,
    config: &Config,
    run: &incentives::EvaluatedRun,
    dry_run: bool,
    wait_reveal: Option<u64>,
) -> Result<Sending> {
    if !dry_run && !config.set_weights.enabled {
        return Ok(Sending::NotEnabled);
    }
    let hotkey = match &config.set_weights.secret_seed {
        Some(seed) => Some(
            subtensor::Hotkey::from_seed_hex(seed.expose()).context("set_weights.secret_seed")?,
        ),
        None => None,
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
    // What the scores stand on: the window's loaded validator entries.
    let at = run.scores.evaluated_at;
    let from = at - chrono::TimeDelta::days(i64::from(config.scoring.window_days));
    let entries = store
        .catalog()
        .loaded_entries(
            audit_store::EntrySource::Validator,
            from,
            at + chrono::TimeDelta::microseconds(1),
        )
        .await?;
    let newest = entries.iter().map(|e| e.entry.created_at).max();
    let unverifiable = entries.iter().filter(|e| e.unverifiable).count();
    let now = chrono::Utc::now();
    let request = SendRequest {
        netuid: config.netuid,
        scores: &scores,
        hotkey: hotkey.as_ref(),
        configured_address: config.set_weights.ss58.as_deref(),
        version_key: config.set_weights.version_key,
        newest_entry_age: newest.map(|t| (now.naive_utc() - t).to_std().unwrap_or(Duration::ZERO)),
        max_entry_age: Duration::from_secs(config.set_weights.max_entry_age_seconds),
        unverifiable_entries: unverifiable,
        beacon: beacon.clone(),
        block_time: Duration::from_secs(config.set_weights.block_time_seconds),
        now: Duration::from_micros(u64::try_from(now.timestamp_micros()).unwrap_or(0)),
    };
    let chain = connect(config).await?;
    let plan = match weights::plan(&chain, &request).await {
        Ok(plan) => plan,
        Err(PlanError::Chain(err)) => return Err(err).context("reading the chain"),
        Err(refusal) => {
            return Ok(Sending::Refused {
                reason: refusal.to_string(),
            })
        }
    };
    if dry_run {
        return Ok(Sending::DryRun {
            plan: PlanView::from(&plan),
        });
    }
    let Some(hotkey) = hotkey else {
        unreachable!("plan refuses without a key");
    };
    let options = SendOptions {
        tries: 3,
        backoff: Duration::from_secs(2),
        wait_reveal: wait_reveal.map(Duration::from_secs),
    };
    // The commit's randomness must be unpredictable: seeded from the OS.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| anyhow::anyhow!("no OS randomness for the commit: {e}"))?;
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(seed);
    let submission = weights::send(&chain, &hotkey, &plan, &beacon, options, &mut rng).await?;
    record(store, run.run_id, config, &plan, &submission).await?;
    Ok(sent(&plan, &submission))
}

async fn connect(config: &Config) -> Result<subtensor::SubtensorClient> {
    let url = config.subtensor.url.as_str();
    let options = subtensor::ClientOptions {
        call_timeout: Duration::from_secs(config.subtensor.timeout_seconds),
        ..subtensor::ClientOptions::default()
    };
    subtensor::SubtensorClient::connect(url, options)
        .await
        .with_context(|| format!("connecting to the chain at {url}"))
}

async fn record(
    store: &Store,
    run_id: i64,
    config: &Config,
    plan: &Plan,
    submission: &Submission,
) -> Result<()> {
    let Some((extrinsic, _block)) = submission.included() else {
        return Ok(());
    };
    let sent_to = audit_model::secret::mask_secrets(config.subtensor.url.as_str());
    store
        .catalog()
        .mark_weights_sent(
            run_id,
            &WeightsSubmission {
                sent_to,
                block: plan.facts.block,
                extrinsic_hash: format!("0x{}", hex::encode(extrinsic)),
            },
        )
        .await?;
    Ok(())
}

fn sent(plan: &Plan, submission: &Submission) -> Sending {
    let attempts = submission
        .attempts
        .iter()
        .map(|a| match &a.outcome {
            AttemptOutcome::Included { .. } => format!("try {}: included", a.number),
            AttemptOutcome::Refused(why) => {
                format!("try {}: refused by the chain: {why}", a.number)
            }
            AttemptOutcome::Transport(why) => format!("try {}: transport failure: {why}", a.number),
        })
        .collect();
    let landing = match &submission.landing {
        Landing::NotSent => "not sent".to_string(),
        Landing::Landed => "landed: Weights on chain equals what was sent".to_string(),
        Landing::Differs { on_chain } => format!("DIFFERS: the chain holds {on_chain:?}"),
        Landing::AwaitingReveal => "committed: awaiting reveal".to_string(),
        Landing::Revealed => "revealed: Weights on chain equals what was committed".to_string(),
        Landing::Dropped => {
            "DROPPED at reveal: the commit left the queue and Weights does not hold it".to_string()
        }
        Landing::Unconfirmed { reason } => format!("included, not confirmed: {reason}"),
    };
    Sending::Sent {
        plan: PlanView::from(plan),
        attempts,
        extrinsic_hash: submission
            .included()
            .map(|(h, _)| format!("0x{}", hex::encode(h))),
        landing,
    }
}

/// The sending part of the weights output.
pub fn render(sending: &Sending) -> String {
    match sending {
        Sending::NotEnabled => {
            "not sent: set_weights.enabled is false (use --dry-run to see what would be sent)\n"
                .into()
        }
        Sending::Refused { reason } => format!("not sent: {reason}\n"),
        Sending::DryRun { plan } => {
            format!("dry run, nothing sent. Would send:\n{}", render_plan(plan))
        }
        Sending::Sent {
            plan,
            attempts,
            extrinsic_hash,
            landing,
        } => format!(
            "sent:\n{}{}\nextrinsic {}\n{landing}\n",
            render_plan(plan),
            attempts.join("\n"),
            extrinsic_hash.as_deref().unwrap_or("-"),
        ),
    }
}

fn render_plan(plan: &PlanView) -> String {
    let mut out = format!(
        "  {} on subnet {} from uid {} (version key {}, chain block {})\n",
        plan.call, plan.netuid, plan.sender_uid, plan.version_key, plan.block
    );
    if let (Some(round), Some(at)) = (plan.reveal_round, plan.reveal_expected_at_unix) {
        let when = chrono::DateTime::from_timestamp(i64::try_from(at).unwrap_or(i64::MAX), 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| at.to_string());
        out.push_str(&format!("  reveal round {round}, expected at {when}\n"));
    }
    let mut table = crate::output::table(["uid", "weight (u16)"]);
    for (uid, value) in plan.uids.iter().zip(&plan.values) {
        table.add_row([uid.to_string(), value.to_string()]);
    }
    out.push_str(&format!("{table}\n"));
    if !plan.skipped_hotkeys.is_empty() {
        out.push_str(&format!(
            "  skipped (not on the metagraph now): {}\n",
            plan.skipped_hotkeys.join(", ")
        ));
    }
    out
}
