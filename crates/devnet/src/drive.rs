//! An auditor's loop driven through simulated hours: the devnet publishes
//! one hour at a time and waits for the loop to take it in (and, with
//! commit-reveal, for the chain to reveal the loop's last commit), as the
//! demo does. The loop is the caller's; it reports finished cycles on a
//! `watch` channel and records its weights submissions in the store.

use std::time::{Duration, Instant};

use audit_store::{Store, SubmissionOutcome};
use subtensor::SubtensorClient;
use tokio::sync::watch;

use crate::live::Published;
use crate::network::Network;

/// The longest a driven loop may take to take in one published hour.
pub const HOUR_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest the chain may take to reveal a commit (two epochs of 11
/// blocks at the demo's one-second blocks, with room to spare).
pub const REVEAL_TIMEOUT: Duration = Duration::from_secs(90);

/// What the drive is doing, for the caller to show.
#[derive(Debug)]
pub enum DriveEvent<'a> {
    /// An hour was published.
    Published {
        /// Its number, from 1.
        hour: u32,
        /// Of how many.
        hours: u32,
        /// The hour's entry and rows.
        published: &'a Published,
    },
    /// The chain is awaited to reveal a recorded commit.
    AwaitingReveal {
        /// The submission.
        submission_id: i64,
        /// The drand round it reveals at.
        round: u64,
    },
}

/// The event as one progress line (`auditctl demo` writes it to stderr).
impl std::fmt::Display for DriveEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveEvent::Published {
                hour,
                hours,
                published,
            } => write!(
                f,
                "devnet: hour {hour}/{hours} published (entry at block {}, {} invocation rows)",
                published.entry.block, published.invocation_rows
            ),
            DriveEvent::AwaitingReveal {
                submission_id,
                round,
            } => write!(
                f,
                "devnet: waiting for the chain to reveal submission {submission_id} (round {round})"
            ),
        }
    }
}

/// Why a drive stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The loop's channel closed before the cycle.
    #[error("the service loop ended before cycle {0}")]
    LoopEnded(u64),
    /// The loop did not finish the cycle in time.
    #[error("the loop did not finish cycle {cycle} within {} s", HOUR_TIMEOUT.as_secs())]
    CycleTimeout {
        /// The cycle waited for.
        cycle: u64,
    },
    /// The chain did not reveal a commit in time.
    #[error("the devnet chain did not reveal submission {submission_id} within {} s", REVEAL_TIMEOUT.as_secs())]
    NotRevealed {
        /// The submission.
        submission_id: i64,
    },
    /// The devnet could not publish.
    #[error(transparent)]
    Devnet(#[from] crate::DevnetError),
    /// The catalog could not be read.
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    /// The chain could not be reached.
    #[error("connecting to the devnet chain: {0}")]
    Chain(#[from] subtensor::ChainError),
}

impl Network {
    /// Waits for the first cycle, then publishes `hours` hours one at a
    /// time, each time waiting for a cycle that started after the hour was
    /// out. With `reveal` (the store the loop records submissions in), the
    /// chain's reveal of the newest commit is awaited before each hour: the
    /// next hour moves the chain 300 blocks at once, past the reveal epoch
    /// of a commit made just now, as an hour of real blocks would not.
    pub async fn drive(
        &self,
        mut cycles: watch::Receiver<u64>,
        hours: u32,
        reveal: Option<&Store>,
        mut show: impl FnMut(DriveEvent<'_>),
    ) -> Result<(), DriveError> {
        wait_for(&mut cycles, 1).await?;
        for hour in 1..=hours {
            if let Some(store) = reveal {
                self.await_reveal(store, &mut show).await?;
            }
            let published = self.advance()?;
            show(DriveEvent::Published {
                hour,
                hours,
                published: &published,
            });
            // The cycle in flight may have listed before the hour was out.
            let seen = *cycles.borrow();
            wait_for(&mut cycles, seen + 2).await?;
        }
        Ok(())
    }

    /// Waits until the chain applied the newest commit recorded in
    /// `store` (its sender's `LastUpdate` moves past the commit's block).
    pub async fn await_reveal(
        &self,
        store: &Store,
        mut show: impl FnMut(DriveEvent<'_>),
    ) -> Result<(), DriveError> {
        let Some(s) = store.catalog().latest_weights_submission().await? else {
            return Ok(());
        };
        let (SubmissionOutcome::Committed, Some(block), Some(uid)) =
            (s.outcome, s.block, s.sender_uid)
        else {
            return Ok(());
        };
        show(DriveEvent::AwaitingReveal {
            submission_id: s.submission_id,
            round: s.reveal_round.unwrap_or_default(),
        });
        let chain = self.chain_client().await?;
        let deadline = Instant::now() + REVEAL_TIMEOUT;
        while Instant::now() < deadline {
            let applied = chain.last_update(self.netuid(), uid).await.ok().flatten();
            if applied.is_some_and(|b| b > block) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(DriveError::NotRevealed {
            submission_id: s.submission_id,
        })
    }

    /// How many miners the weights of `hotkey` on the chain name; `None`
    /// when it has none (or the chain cannot say).
    pub async fn weights_of(&self, hotkey: &str) -> Option<usize> {
        let chain = self.chain_client().await.ok()?;
        let uid = chain.uid_of(self.netuid(), hotkey).await.ok()??;
        let weights = chain.weights(self.netuid(), uid).await.ok()?;
        (!weights.is_empty()).then_some(weights.len())
    }

    async fn chain_client(&self) -> Result<SubtensorClient, subtensor::ChainError> {
        SubtensorClient::connect(&self.ws_url(), Default::default()).await
    }
}

async fn wait_for(cycles: &mut watch::Receiver<u64>, n: u64) -> Result<(), DriveError> {
    match tokio::time::timeout(HOUR_TIMEOUT, cycles.wait_for(|c| *c >= n)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(DriveError::LoopEnded(n)),
        Err(_) => Err(DriveError::CycleTimeout { cycle: n }),
    }
}
