//! Sending weights: the policy of this crate applied to what the chain
//! says at send time, then one signed call through `subtensor`.
//!
//! [`plan`] reads the metagraph and the chain's weight-setting facts *now*
//! (not the last sync's snapshot), maps hotkeys to uids, quantises, runs
//! the preconditions, and chooses the call: plain `set_weights`, or a
//! timelocked commit when `CommitRevealWeightsEnabled` is on. Nothing is
//! signed until [`send`], so `--dry-run` prints exactly the plan.
//!
//! [`send`] retries on transport failures only: once the chain has refused
//! or failed the call, sending again would not change its mind (and a
//! resent commit could queue twice). A send whose inclusion was not seen
//! by the deadline is not retried either: it may still land, so its fate
//! is `unknown` until a later look ([`crate::resolve`]). Afterwards it
//! checks the evidence (the sender's `LastUpdate` at the including block
//! is that block), then reads `Weights` back (plain) or reports the reveal
//! round (timelocked); [`reveal_status`] later says whether a commit was
//! revealed or silently dropped.

use std::time::Duration;

use drand_tlock::Beacon;
use rand::CryptoRng;
use subtensor::commit_reveal::WeightSettingFacts;
use subtensor::{
    BlockHash, ChainError, Hotkey, SentExtrinsic, SubtensorClient, TimelockedCall, WeightsCall,
    WeightsError,
};

use crate::payload::{commit_for, CommitError, WeightsTlockPayload};
use crate::preconditions::{check, Facts, Refusal};
use crate::quantise::{quantise, scores_by_uid, QuantiseError, Uid, WeightVector};
use crate::reveal::{reveal_round, RevealError, RevealInputs, RevealPlan};

/// What the caller knows that the chain does not.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    /// The subnet.
    pub netuid: u16,
    /// Each miner's share by hotkey, as scored.
    pub scores: &'a [(String, f64)],
    /// The validator's key; `None` when none is configured.
    pub hotkey: Option<&'a Hotkey>,
    /// The address the configuration names for that key, if any.
    pub configured_address: Option<&'a str>,
    /// The version key the weights carry; `None`: the chain's
    /// `WeightsVersionKey` as read when planning.
    pub version_key: Option<u64>,
    /// Age of the newest validator entry the scores came from.
    pub newest_entry_age: Option<Duration>,
    /// The oldest the newest entry may be.
    pub max_entry_age: Duration,
    /// Unverifiable entries the scores used (never sent from).
    pub unverifiable_entries: usize,
    /// The drand beacon the chain reveals with (quicknet on finney).
    pub beacon: Beacon,
    /// Time per block, for the reveal round (12 s on finney).
    pub block_time: Duration,
    /// Wall-clock time since the Unix epoch.
    pub now: Duration,
}

/// The call a plan sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedCall {
    /// `set_weights`.
    Plain,
    /// `commit_timelocked_weights`, encrypted to `reveal.round`.
    Timelocked {
        /// How the round was chosen.
        reveal: RevealPlan,
        /// Unix time at which the round's pulse is expected.
        reveal_at_unix: u64,
        /// The chain's `CommitRevealWeightsVersion`.
        commit_reveal_version: u16,
    },
}

/// What would be sent, and why it may be.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The subnet.
    pub netuid: u16,
    /// Plain or timelocked.
    pub call: PlannedCall,
    /// The quantised weights, uids ascending.
    pub vector: WeightVector,
    /// The sender's uid.
    pub uid: Uid,
    /// Scored hotkeys not on the metagraph now (deregistered): skipped.
    pub skipped: Vec<String>,
    /// The chain facts the plan was made from.
    pub facts: WeightSettingFacts,
    /// The version key the weights carry.
    pub version_key: u64,
    /// Where that version key came from.
    pub version_key_source: VersionKeySource,
}

/// Where a plan's version key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKeySource {
    /// The caller's configuration (it must still be at least the chain's).
    Configured,
    /// The chain's `WeightsVersionKey`, read when planning: the least the
    /// chain applies, and what upstream's constant tracks.
    Chain,
}

/// Why nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A precondition failed (in plain words).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The scores quantise to nothing.
    #[error(transparent)]
    Quantise(#[from] QuantiseError),
    /// No reveal round could be chosen.
    #[error(transparent)]
    Reveal(#[from] RevealError),
    /// Reading the chain failed.
    #[error("reading the chain before sending weights: {0}")]
    Chain(#[from] ChainError),
}

/// Reads the chain now and decides what to send; sends nothing.
pub async fn plan(chain: &SubtensorClient, request: &SendRequest<'_>) -> Result<Plan, PlanError> {
    let facts = chain.weight_setting_facts(request.netuid).await?;
    let neurons = chain.metagraph(request.netuid, None).await?;
    let derived = request.hotkey.map(Hotkey::ss58);
    let uid = derived
        .as_deref()
        .and_then(|address| neurons.iter().find(|n| n.hotkey == address).map(|n| n.uid));
    let last_update = match uid {
        Some(uid) => chain.last_update(request.netuid, uid).await?.unwrap_or(0),
        None => 0,
    };
    let mapped = scores_by_uid(
        request
            .scores
            .iter()
            .map(|(hotkey, score)| (hotkey.as_str(), *score)),
        neurons.iter().map(|n| (n.hotkey.as_str(), n.uid)),
    );
    let (by_uid, skipped) = (mapped.scores, mapped.skipped);
    let (version_key, version_key_source) = match request.version_key {
        Some(key) => (key, VersionKeySource::Configured),
        None => (facts.weights_version_key, VersionKeySource::Chain),
    };
    let cleared = check(&Facts {
        derived_address: derived,
        configured_address: request.configured_address.map(str::to_owned),
        netuid: request.netuid,
        uid,
        current_block: u64::from(facts.block),
        last_update,
        rate_limit: facts.rate_limit,
        version_key,
        chain_version_key: facts.weights_version_key,
        newest_entry_age: request.newest_entry_age,
        max_entry_age: request.max_entry_age,
        scored_miners: by_uid.iter().filter(|(_, s)| *s > 0.0).count(),
        unverifiable_entries: request.unverifiable_entries,
    })?;
    let vector = quantise(&by_uid)?;
    let call = if facts.commit_reveal {
        timelocked(request, &facts)?
    } else {
        PlannedCall::Plain
    };
    Ok(Plan {
        netuid: request.netuid,
        call,
        vector,
        uid: cleared.uid,
        skipped,
        facts,
        version_key,
        version_key_source,
    })
}

fn timelocked(
    request: &SendRequest<'_>,
    facts: &WeightSettingFacts,
) -> Result<PlannedCall, RevealError> {
    let reveal = reveal_round(&RevealInputs {
        block: u64::from(facts.block),
        netuid: request.netuid,
        tempo: facts.tempo,
        reveal_period_epochs: facts.reveal_period_epochs,
        block_time: request.block_time,
        now: request.now,
        beacon_genesis: request.beacon.genesis_time,
        beacon_period: request.beacon.period,
    })?;
    let reveal_at_unix = request
        .beacon
        .genesis_time
        .saturating_add(reveal.round.saturating_mul(request.beacon.period));
    Ok(PlannedCall::Timelocked {
        reveal,
        reveal_at_unix,
        commit_reveal_version: facts.commit_reveal_version,
    })
}

/// One try at sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    /// What happened.
    pub outcome: AttemptOutcome,
}

/// How one try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// In a block whose body holds it.
    Included {
        /// The extrinsic: hash, nonce, era.
        extrinsic: SentExtrinsic,
        /// The block it is in.
        block_hash: [u8; 32],
        /// That block's number.
        block: u32,
    },
    /// Sent, but no inclusion seen by the deadline, or one the named
    /// block does not bear out: it may still land. Never retried.
    Unknown {
        /// The extrinsic: hash, nonce, era.
        extrinsic: SentExtrinsic,
        /// What was (not) seen.
        reason: String,
    },
    /// The node or the runtime said no: never retried.
    Refused(String),
    /// The node answered bytes that do not decode: never retried.
    Malformed(String),
    /// The transport failed: retried.
    Transport(String),
}

/// What happened to the weights after inclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// Not included.
    NotSent,
    /// `Weights` read back equals the vector.
    Landed,
    /// `Weights` read back differs: the chain applied something else.
    Differs {
        /// What the chain holds for the sender.
        on_chain: Vec<(u16, u16)>,
    },
    /// A commit waits for its round.
    AwaitingReveal,
    /// The chain revealed it and `Weights` equals the vector.
    Revealed,
    /// The commit left the queue but `Weights` does not hold the vector:
    /// it was dropped at reveal (wrong key, round or payload).
    Dropped,
    /// Included, but reading `Weights` back failed, or the sender's
    /// `LastUpdate` at the including block is not that block.
    Unconfirmed {
        /// Why the read failed.
        reason: String,
    },
    /// Reading the result back did not prove against its block: the
    /// node lies, so nothing it says about the landing counts.
    Integrity {
        /// The violation, named.
        reason: String,
    },
}

impl Landing {
    /// A failed read-back: an integrity violation stays one.
    fn unread(err: &ChainError, reason: String) -> Landing {
        match err {
            ChainError::Integrity { .. } => Landing::Integrity { reason },
            _ => Landing::Unconfirmed { reason },
        }
    }
}

/// The whole story of one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Every try, in order.
    pub attempts: Vec<Attempt>,
    /// The including block's number, when included.
    pub block: Option<u64>,
    /// The end state.
    pub landing: Landing,
}

impl Submission {
    /// The try that was included, if any: the extrinsic, its block's
    /// hash and number.
    pub fn included(&self) -> Option<(SentExtrinsic, [u8; 32], u32)> {
        self.attempts.iter().find_map(|a| match a.outcome {
            AttemptOutcome::Included {
                extrinsic,
                block_hash,
                block,
            } => Some((extrinsic, block_hash, block)),
            _ => None,
        })
    }
}

/// How `send` behaves.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// Tries in all on transport failures (before the node took the
    /// transaction; once it did, no try is repeated).
    pub tries: u32,
    /// Wait before the second try; doubles.
    pub backoff: Duration,
    /// Wait this long for a commit's reveal (`None`: do not wait).
    pub wait_reveal: Option<Duration>,
}

/// Why a commit could not be built (before any try).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The payload could not be encrypted or is over the chain's cap.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Signs and sends `plan` with `hotkey`, retrying transport failures only,
/// then checks where the weights landed.
pub async fn send<R: CryptoRng + ?Sized>(
    chain: &SubtensorClient,
    hotkey: &Hotkey,
    plan: &Plan,
    beacon: &Beacon,
    options: SendOptions,
    rng: &mut R,
) -> Result<Submission, SendError> {
    // Encrypt once: every retry sends the same commit.
    let commit = match &plan.call {
        PlannedCall::Plain => None,
        PlannedCall::Timelocked { reveal, .. } => {
            let payload = WeightsTlockPayload::signed_by(hotkey, &plan.vector, plan.version_key);
            Some(commit_for(&payload, beacon, reveal.round, rng)?)
        }
    };
    let mut attempts = Vec::new();
    for number in 1..=options.tries.max(1) {
        let outcome = one_try(chain, hotkey, plan, commit.as_deref()).await;
        let retry = matches!(outcome, AttemptOutcome::Transport(_));
        attempts.push(Attempt { number, outcome });
        if !retry || number == options.tries.max(1) {
            break;
        }
        backoff(options.backoff, number).await;
    }
    let mut submission = Submission {
        attempts,
        block: None,
        landing: Landing::NotSent,
    };
    if let Some((_, block_hash, block)) = submission.included() {
        submission.block = Some(u64::from(block));
        submission.landing = match evidence(chain, plan, block_hash, block).await {
            Ok(()) => landing(chain, plan, submission.block, options.wait_reveal).await,
            Err(unconfirmed) => unconfirmed,
        };
    }
    Ok(submission)
}

/// The chain's evidence that the included transaction is the sender's
/// latest weights: its `LastUpdate` as of the including block is that
/// block. The block's body was checked by the client already.
async fn evidence(
    chain: &SubtensorClient,
    plan: &Plan,
    block_hash: [u8; 32],
    block: u32,
) -> Result<(), Landing> {
    match chain
        .last_update_at(plan.netuid, plan.uid, Some(block_hash))
        .await
    {
        Ok(Some(at)) if at == u64::from(block) => Ok(()),
        Ok(at) => Err(Landing::Unconfirmed {
            reason: format!(
            "the node reported it in block {block}, but LastUpdate of uid {} at that block is {}",
            plan.uid,
            at.map_or_else(|| "absent".to_string(), |b| b.to_string())
        ),
        }),
        Err(err) => Err(Landing::unread(
            &err,
            format!("reading LastUpdate at block {block}: {err}"),
        )),
    }
}

/// Waits before try `number + 1`: `base`, doubling per try (capped).
pub(crate) async fn backoff(base: Duration, number: u32) {
    tokio::time::sleep(base.saturating_mul(1 << number.saturating_sub(1).min(6))).await;
}

async fn one_try(
    chain: &SubtensorClient,
    hotkey: &Hotkey,
    plan: &Plan,
    commit: Option<&[u8]>,
) -> AttemptOutcome {
    let result = match (&plan.call, commit) {
        (
            PlannedCall::Timelocked {
                reveal,
                commit_reveal_version,
                ..
            },
            Some(commit),
        ) => {
            let call = TimelockedCall {
                netuid: plan.netuid,
                commit: commit.to_vec(),
                reveal_round: reveal.round,
                commit_reveal_version: *commit_reveal_version,
            };
            chain.commit_timelocked_weights(hotkey, &call).await
        }
        _ => {
            let call = WeightsCall {
                netuid: plan.netuid,
                uids: plan.vector.uids().to_vec(),
                weights: plan.vector.values().to_vec(),
                version_key: plan.version_key,
            };
            chain.set_weights(hotkey, &call).await
        }
    };
    match result {
        Ok(set) => AttemptOutcome::Included {
            extrinsic: set.extrinsic,
            block_hash: set.block_hash,
            block: set.block,
        },
        Err(err) => match err.unsettled() {
            Some(extrinsic) => AttemptOutcome::Unknown {
                extrinsic,
                reason: err.to_string(),
            },
            None if matches!(err, WeightsError::Chain(ChainError::Decode { .. })) => {
                AttemptOutcome::Malformed(err.to_string())
            }
            None if is_transport(&err) => AttemptOutcome::Transport(err.to_string()),
            None => AttemptOutcome::Refused(err.to_string()),
        },
    }
}

/// Only a failure to reach the node is worth another try; anything the
/// node or runtime said stands.
fn is_transport(err: &WeightsError) -> bool {
    matches!(
        err,
        WeightsError::Chain(ChainError::Connect { .. } | ChainError::Timeout { .. })
    )
}

async fn landing(
    chain: &SubtensorClient,
    plan: &Plan,
    commit_block: Option<u64>,
    wait_reveal: Option<Duration>,
) -> Landing {
    match &plan.call {
        PlannedCall::Plain => match chain.weights(plan.netuid, plan.uid).await {
            Ok(on_chain) if on_chain == pairs(&plan.vector) => Landing::Landed,
            Ok(on_chain) => Landing::Differs { on_chain },
            Err(err) => Landing::unread(&err, err.to_string()),
        },
        PlannedCall::Timelocked { reveal, .. } => {
            let Some(limit) = wait_reveal else {
                return Landing::AwaitingReveal;
            };
            let record = CommitRecord {
                netuid: plan.netuid,
                uid: plan.uid,
                commit_epoch: reveal.epoch,
                commit_block,
                vector: pairs(&plan.vector),
            };
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                match reveal_status(chain, &record).await {
                    Ok(Landing::AwaitingReveal) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Ok(status) => return status,
                    Err(err @ ChainError::Integrity { .. }) => {
                        return Landing::unread(&err, err.to_string())
                    }
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(err) => return Landing::unread(&err, err.to_string()),
                }
            }
        }
    }
}

fn pairs(vector: &WeightVector) -> Vec<(u16, u16)> {
    vector.pairs().collect()
}

/// What is remembered of a commit to judge its reveal later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// The subnet.
    pub netuid: u16,
    /// The committer's uid.
    pub uid: Uid,
    /// The epoch the commit was queued in (its queue's key).
    pub commit_epoch: u64,
    /// The block the commit was included in, when known: a reveal is
    /// applied as `set_weights` is, so it moves `LastUpdate` past it.
    pub commit_block: Option<u64>,
    /// The weights committed, `(uid, value)` ascending.
    pub vector: Vec<(u16, u16)>,
}

/// Whether a commit is still queued, was revealed, or was dropped: a
/// commit no longer queued whose weights are not on chain was dropped at
/// reveal, which the chain never announces. With the commit's block
/// known, revealed also means `LastUpdate` moved past it: weights equal
/// to the vector from an earlier setting do not pass for this reveal.
///
/// Every read is of one block, the head when the call starts: read at
/// the head each, a reveal landing between the `Weights` read and the
/// queue reads would show neither the weights nor the commit, a drop.
pub async fn reveal_status(
    chain: &SubtensorClient,
    commit: &CommitRecord,
) -> Result<Landing, ChainError> {
    let at = Some(chain.head_hash().await?);
    let on_chain = chain.weights_at(commit.netuid, commit.uid, at).await?;
    let applied_since = match commit.commit_block {
        Some(block) => {
            chain
                .last_update_at(commit.netuid, commit.uid, at)
                .await?
                .unwrap_or(0)
                > block
        }
        None => true,
    };
    if on_chain == commit.vector && applied_since {
        return Ok(Landing::Revealed);
    }
    let ours = chain_account_of_uid(chain, commit, at).await?;
    // Inclusion can fall one block into the next epoch: look in both.
    for epoch in [commit.commit_epoch, commit.commit_epoch + 1] {
        let queued = chain
            .timelocked_commits_at(commit.netuid, epoch, at)
            .await?;
        if queued.iter().any(|c| Some(c.who) == ours) {
            return Ok(Landing::AwaitingReveal);
        }
    }
    Ok(Landing::Dropped)
}

async fn chain_account_of_uid(
    chain: &SubtensorClient,
    commit: &CommitRecord,
    at: Option<BlockHash>,
) -> Result<Option<[u8; 32]>, ChainError> {
    let neurons = chain.metagraph(commit.netuid, at).await?;
    Ok(neurons
        .iter()
        .find(|n| n.uid == commit.uid)
        .and_then(|n| subtensor::keys::public_key(&n.hotkey).ok()))
}
