//! The weights stage: the newest scored run sent to the chain as weights,
//! at most once per interval, through the same [`crate::submission::submit`] as
//! `auditctl weights`, so every attempt is recorded in the catalog.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_service::{StageContext, StageError, StageOutcome};
use audit_store::SubmissionOutcome;
use incentives::EvaluatedRun;
use weights::Mode;

use crate::score::LatestScores;
use crate::submission::{Sending, SendingAction, SubmitSettings};
use crate::Shared;

/// Sends each new score as weights.
pub(crate) struct WeightsStage {
    sender: Arc<Sender>,
    latest: LatestScores,
    every: Duration,
    last_sent: Mutex<Option<Instant>>,
}

/// What a submission needs, shared with the thread that sends it.
struct Sender {
    shared: Shared,
    settings: SubmitSettings,
}

impl WeightsStage {
    /// Sends what `latest` holds, at most once per `every`.
    pub(crate) fn new(
        shared: Shared,
        settings: SubmitSettings,
        latest: LatestScores,
        every: Duration,
    ) -> Self {
        WeightsStage {
            sender: Arc::new(Sender { shared, settings }),
            latest,
            every,
            last_sent: Mutex::new(None),
        }
    }

    fn since_last(&self) -> Option<Duration> {
        let last = *self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
        last.map(|t| t.elapsed())
    }

    async fn send(&self, _: &StageContext) -> Result<StageOutcome, StageError> {
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
        let sending = match self.submit(run.clone()).await {
            Ok(sending) => sending,
            Err(err) => {
                self.latest.restore(run);
                return Err(err);
            }
        };
        if let Some(previous) = &sending.previous_commit {
            if previous.outcome == Some(SubmissionOutcome::Dropped) {
                tracing::warn!(
                    "the commit of submission {} was NOT revealed: the chain dropped it",
                    previous.submission_id
                );
            }
        }
        let SendingAction::Attempted { submission, .. } = &sending.action else {
            self.latest.restore(run);
            return Err("weights not sent: sending is not enabled".into());
        };
        if submission.outcome.included() {
            // Included either way: the chain's rate limit now counts from
            // this block, so the interval starts again too.
            *self.last_sent.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        let line = describe(run.run_id, submission);
        match submission.outcome {
            SubmissionOutcome::Landed
            | SubmissionOutcome::Committed
            | SubmissionOutcome::Revealed
            | SubmissionOutcome::Unconfirmed => {
                self.sender.shared.metrics.count_weights("sent");
                Ok(outcome(line))
            }
            SubmissionOutcome::PreconditionRefused | SubmissionOutcome::ChainRefused => {
                self.sender.shared.metrics.count_weights("refused");
                self.latest.restore(run);
                Err(line.into())
            }
            SubmissionOutcome::Differs
            | SubmissionOutcome::Dropped
            | SubmissionOutcome::TransportError
            | SubmissionOutcome::MalformedAnswer
            | SubmissionOutcome::IntegrityViolation
            | SubmissionOutcome::Expired
            | SubmissionOutcome::Unknown => {
                self.sender.shared.metrics.count_weights("failed");
                // An unknown send may still land: its scores are not sent
                // again; the next cycle resolves it first.
                if !submission.outcome.included()
                    && submission.outcome != SubmissionOutcome::Unknown
                {
                    self.latest.restore(run);
                }
                Err(line.into())
            }
        }
    }

    /// Sends on a blocking thread of its own: the chain client's signing
    /// and submitting futures (substrate-api-client) are not `Send`. An
    /// abandoned stage drops the submission there too.
    async fn submit(&self, run: EvaluatedRun) -> Result<Sending, StageError> {
        let sender = self.sender.clone();
        let handle = tokio::runtime::Handle::current();
        crate::on_own_thread(move |abandoned| {
            handle.block_on(crate::unless_abandoned(abandoned, sender.submit(&run)))
        })
        .await?
    }
}

impl Sender {
    /// Sends and records one run, the evaluation time from the auditor's
    /// clock (the devnet's under `--clock devnet`).
    async fn submit(&self, run: &EvaluatedRun) -> Result<Sending, StageError> {
        let present = crate::now(self.shared.clock.as_ref()).await?;
        let store = &self.shared.store;
        let now = chrono::Utc::now();
        Ok(crate::submission::submit(store, &self.settings, Mode::Send, run, present, now).await?)
    }
}

/// One log line for a recorded attempt.
fn describe(run_id: i64, s: &audit_store::WeightsSubmissionRecord) -> String {
    let reason = s.reason.as_deref().unwrap_or("");
    let at = match (&s.extrinsic_hash, s.block) {
        (Some(hash), Some(block)) => format!(" (extrinsic {hash} in block {block})"),
        (Some(hash), None) => format!(" (extrinsic {hash})"),
        _ => String::new(),
    };
    format!(
        "weights run {run_id}, submission {}: {}{at}{}{reason}",
        s.submission_id,
        s.outcome.as_str(),
        if reason.is_empty() { "" } else { ": " }
    )
}

fn outcome(summary: String) -> StageOutcome {
    StageOutcome {
        new_data: false,
        summary,
    }
}

crate::stage!(WeightsStage, "weights", send);
