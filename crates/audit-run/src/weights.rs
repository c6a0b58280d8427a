//! The weights stage: the newest scored run sent to the chain as weights,
//! at most once per interval, and the submission recorded on the run.
//!
//! The sending itself is [`submit`], one small adapter over
//! `weights::plan` and `weights::send`: the library entry point that sends
//! and records a submission (issue 12) replaces it when it lands.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_model::EntrySource;
use audit_service::{StageContext, StageError, StageOutcome};
use audit_store::WeightsSubmission;
use chrono::NaiveDateTime;
use drand_tlock::Beacon;
use incentives::EvaluatedRun;
use rand::SeedableRng;
use subtensor::{Hotkey, SubtensorClient};
use weights::{AttemptOutcome, Landing, PlanError, SendOptions, SendRequest};

use crate::score::LatestScores;
use crate::Auditor;

/// What sending needs beside the scores.
pub struct WeightsSettings {
    /// The node weights are sent to (not the archive node).
    pub chain: SubtensorClient,
    /// The node's URL, recorded with each submission.
    pub chain_url: String,
    /// The validator's signing key.
    pub hotkey: Hotkey,
    /// The SS58 address the configuration names for it, if any.
    pub configured_address: Option<String>,
    /// The subnet.
    pub netuid: u16,
    /// The `version_key` the weights carry.
    pub version_key: u64,
    /// No weights from a lake whose newest entry is older than this.
    pub max_entry_age: Duration,
    /// The drand beacon the chain reveals timelocked commits with.
    pub beacon: Beacon,
    /// Time per block, for the reveal round.
    pub block_time: Duration,
}

/// Sends each new score as weights.
pub struct WeightsStage {
    sender: Arc<Sender>,
    latest: LatestScores,
    every: Duration,
    last_sent: Mutex<Option<Instant>>,
}

/// What a submission needs, shared with the thread that sends it.
struct Sender {
    auditor: Auditor,
    settings: WeightsSettings,
}

/// How one submission ended, for the metrics and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// In a block; where the weights landed.
    Sent {
        /// The block at sending.
        block: u32,
        /// The extrinsic's hash, hex.
        extrinsic: String,
        /// Read back after inclusion.
        landing: String,
        /// The chain holds what was sent (or a commit awaits its reveal).
        landed: bool,
    },
    /// A precondition or the chain said no.
    Refused(String),
    /// The node could not be reached after every try.
    Failed(String),
}

impl WeightsStage {
    /// Sends what `latest` holds, at most once per `every`.
    pub fn new(
        auditor: Auditor,
        settings: WeightsSettings,
        latest: LatestScores,
        every: Duration,
    ) -> Self {
        WeightsStage {
            sender: Arc::new(Sender { auditor, settings }),
            latest,
            every,
            last_sent: Mutex::new(None),
        }
    }

    fn since_last(&self) -> Option<Duration> {
        let last = *self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
        last.map(|t| t.elapsed())
    }

    async fn send(&self, context: &StageContext) -> Result<StageOutcome, StageError> {
        if let Some(since) = self.since_last().filter(|s| *s < self.every) {
            return Ok(outcome(format!(
                "not sent: weights went out {}s ago, the interval is {}s",
                since.as_secs(),
                self.every.as_secs()
            )));
        }
        let Some(run) = self.latest.take() else {
            return Ok(outcome("no new scores to send".into()));
        };
        let result = self.submit(run.clone()).await;
        let submitted = match result {
            Ok(s) => s,
            Err(err) => {
                self.latest.restore(run);
                return Err(err);
            }
        };
        match &submitted {
            Submitted::Sent {
                block,
                extrinsic,
                landing,
                landed,
            } => {
                // Included either way: the chain's rate limit now counts
                // from this block, so the interval starts again too.
                *self.last_sent.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                let line = format!(
                    "weights run {} sent at block {block} (extrinsic {extrinsic}): {landing}",
                    run.run_id
                );
                if *landed {
                    context.metrics.count_weights("sent");
                    Ok(outcome(line))
                } else {
                    context.metrics.count_weights("failed");
                    Err(line.into())
                }
            }
            Submitted::Refused(why) => {
                context.metrics.count_weights("refused");
                self.latest.restore(run);
                Err(format!("weights not sent, refused: {why}").into())
            }
            Submitted::Failed(why) => {
                context.metrics.count_weights("failed");
                self.latest.restore(run);
                Err(format!("weights not sent: {why}").into())
            }
        }
    }

    /// Sends on a blocking thread of its own: the chain client's signing
    /// and submitting futures (substrate-api-client) are not `Send`.
    async fn submit(&self, run: EvaluatedRun) -> Result<Submitted, StageError> {
        let sender = self.sender.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || handle.block_on(sender.submit(&run))).await?
    }
}

impl Sender {
    /// The newest loaded validator entry's age at the clock's present.
    async fn newest_entry_age(&self, at: NaiveDateTime) -> Result<Option<Duration>, StageError> {
        let a = &self.auditor;
        let entries = a
            .store
            .catalog()
            .loaded_entries(
                EntrySource::Validator,
                at - chrono::Duration::days(8),
                at + chrono::Duration::hours(1),
            )
            .await?;
        let newest = entries
            .iter()
            .filter(|e| a.validators.contains(&e.entry.hotkey))
            .map(|e| e.entry.created_at)
            .max();
        Ok(newest.map(|t| (at - t).to_std().unwrap_or(Duration::ZERO)))
    }

    /// Plans, signs, sends and records one run. Adapter over
    /// `weights::plan`/`weights::send` until the library's own
    /// send-and-record entry point replaces it.
    async fn submit(&self, run: &EvaluatedRun) -> Result<Submitted, StageError> {
        let s = &self.settings;
        let at = crate::now(self.auditor.clock.as_ref()).await?;
        let scores: Vec<(String, f64)> = run
            .scores
            .miners
            .iter()
            .map(|m| (m.features.hotkey.clone(), m.score))
            .collect();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let request = SendRequest {
            netuid: s.netuid,
            scores: &scores,
            hotkey: Some(&s.hotkey),
            configured_address: s.configured_address.as_deref(),
            version_key: s.version_key,
            newest_entry_age: self.newest_entry_age(at).await?,
            max_entry_age: s.max_entry_age,
            unverifiable_entries: run.scores.unverifiable_entries_used,
            beacon: s.beacon,
            block_time: s.block_time,
            now: wall,
        };
        let plan = match weights::plan(&s.chain, &request).await {
            Ok(plan) => plan,
            Err(PlanError::Chain(err)) => return Err(err.into()),
            Err(refused) => return Ok(Submitted::Refused(refused.to_string())),
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no OS entropy for the commit: {e}"))?;
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
        let options = SendOptions {
            tries: 3,
            backoff: Duration::from_secs(1),
            wait_reveal: None,
        };
        let submission =
            weights::send(&s.chain, &s.hotkey, &plan, &s.beacon, options, &mut rng).await?;
        let Some((extrinsic_hash, _)) = submission.included() else {
            let last = submission.attempts.last().map(|a| &a.outcome);
            return Ok(match last {
                Some(AttemptOutcome::Refused(why)) => Submitted::Refused(why.clone()),
                Some(AttemptOutcome::Transport(why)) => Submitted::Failed(why.clone()),
                _ => Submitted::Failed("no attempt was made".into()),
            });
        };
        let extrinsic = format!("0x{}", hex_of(&extrinsic_hash));
        let block = s.chain.current_block().await.unwrap_or(plan.facts.block);
        self.auditor
            .store
            .catalog()
            .mark_weights_sent(
                run.run_id,
                &WeightsSubmission {
                    sent_to: s.chain_url.clone(),
                    block,
                    extrinsic_hash: extrinsic.clone(),
                },
            )
            .await?;
        Ok(Submitted::Sent {
            block,
            extrinsic,
            landing: landing_text(&submission.landing),
            landed: landed(&submission.landing),
        })
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the chain holds what was sent, or will once it reveals; a
/// read-back that failed is not a failure of the weights.
fn landed(landing: &Landing) -> bool {
    matches!(
        landing,
        Landing::Landed | Landing::AwaitingReveal | Landing::Revealed | Landing::Unconfirmed { .. }
    )
}

fn landing_text(landing: &Landing) -> String {
    match landing {
        Landing::Landed => "the chain holds exactly these weights".into(),
        Landing::Differs { .. } => "the chain holds other weights than sent".into(),
        Landing::AwaitingReveal => "committed, awaiting its reveal round".into(),
        Landing::Revealed => "revealed".into(),
        Landing::Dropped => "the commit was dropped at reveal".into(),
        Landing::NotSent => "not included".into(),
        Landing::Unconfirmed { reason } => format!("included, not read back: {reason}"),
    }
}

fn outcome(summary: String) -> StageOutcome {
    StageOutcome {
        new_data: false,
        summary,
    }
}

crate::stage!(WeightsStage, "weights", send);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_the_chain_holds_otherwise_are_not_counted_as_sent() {
        assert!(landed(&Landing::Landed));
        assert!(landed(&Landing::AwaitingReveal));
        assert!(!landed(&Landing::Differs {
            on_chain: vec![(1, 65535)]
        }));
        assert!(!landed(&Landing::Dropped));
        assert!(landing_text(&Landing::Differs { on_chain: vec![] }).contains("other weights"));
    }
}
