//! Rounds on a schedule and what they add up to: what the one-shot
//! command and the service's synthetics loop share.

use std::future::Future;
use std::time::Duration;

use chrono::NaiveDateTime;
use rand::Rng;
use serde::Serialize;

use crate::run::{Observer, Outcome, Round, Summary, Synthesizer, TaskChoice};
use crate::SynthError;

/// How many rounds to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// This many, back to back.
    Count(u32),
    /// One every interval until told to stop.
    Every(Duration),
}

/// The rounds sent so far and their counts per type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rounds {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Per-type counts over them.
    pub summary: Summary,
}

impl Rounds {
    /// Adds one round and counts its outcomes.
    pub fn add(&mut self, round: Round) {
        for outcome in &round.outcomes {
            self.summary.add(outcome);
        }
        self.rounds.push(round);
    }

    /// Whether a request was refused or could not be sent.
    pub fn any_unsent(&self) -> bool {
        self.rounds
            .iter()
            .flat_map(|r| &r.outcomes)
            .any(|o| matches!(o, Outcome::Refused { .. } | Outcome::Error { .. }))
    }
}

impl Round {
    /// Requests answered, and the attempts they recorded.
    pub fn sent(&self) -> (usize, usize) {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Sent { attempts, .. } => Some(attempts.len()),
                _ => None,
            })
            .fold((0, 0), |(sent, attempts), a| (sent + 1, attempts + a))
    }

    /// Each request that was not answered, as `task: why`.
    pub fn unsent(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Sent { .. } => None,
                Outcome::Refused { task, meaning, .. } => Some(format!("{task}: {meaning}")),
                Outcome::Error { task, error, .. } => Some(format!("{task}: {error}")),
                Outcome::NoChute { task } => Some(format!("{task}: no hot chute fits")),
            })
            .collect()
    }
}

impl SynthError {
    /// Whether the next round may succeed where this one failed: the
    /// network or the gateway may recover, the store or a prompt file
    /// will not by waiting.
    pub fn is_transient(&self) -> bool {
        matches!(self, SynthError::Client(_))
    }
}

impl<R: Rng> Synthesizer<'_, R> {
    /// Sends rounds as `schedule` says, each dated by `now`. On
    /// [`Schedule::Every`] the first round goes at once and the rounds end
    /// when `stop` resolves; a round that fails transiently is logged and
    /// the next one tried.
    pub async fn rounds(
        &mut self,
        choice: &TaskChoice,
        observer: &mut dyn Observer,
        schedule: Schedule,
        stop: impl Future<Output = ()>,
        now: impl Fn() -> NaiveDateTime,
    ) -> Result<Rounds, SynthError> {
        let mut done = Rounds::default();
        match schedule {
            Schedule::Count(n) => {
                for _ in 0..n {
                    done.add(self.round(choice, observer, now()).await?);
                }
            }
            Schedule::Every(every) => {
                let mut ticker = tokio::time::interval(every);
                let mut stop = std::pin::pin!(stop);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = &mut stop => break,
                    }
                    match self.round(choice, observer, now()).await {
                        Ok(round) => done.add(round),
                        Err(e) if e.is_transient() => tracing::error!("this round failed: {e}"),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(done)
    }
}

/// A seed that differs between runs (the clock and the process id): the
/// rounds' choices are not to be predicted from outside.
pub fn clock_seed() -> u64 {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
