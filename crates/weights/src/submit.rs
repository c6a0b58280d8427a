//! The one call a caller makes to set weights from a scored run: look at
//! the last commit's reveal, resolve earlier sends whose fate is unknown
//! (none is sent while one may still land), connect, plan from the chain
//! as it is now, check, send or commit, confirm, and hand back the record
//! to keep.
//!
//! `auditctl weights` and the service's cycle both call [`set_weights`];
//! they read the catalog before (the run, the commit awaiting its reveal)
//! and write the returned records after. Nothing here touches the store,
//! so the policy stays free of a database.

use std::time::Duration;

use audit_model::{SendResolution, SubmissionOutcome, WeightsCallKind, WeightsSubmissionRecord};
use chrono::{DateTime, Utc};
use drand_tlock::Beacon;
use rand::CryptoRng;
use subtensor::{ChainError, ClientOptions, Hotkey, SentExtrinsic, SubtensorClient};

use crate::send::{
    backoff, plan, reveal_status, send, AttemptOutcome, CommitRecord, Landing, Plan, PlanError,
    PlannedCall, SendOptions, SendRequest, Submission,
};

/// Whether this run may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sending is off (`set_weights.enabled: false`): the chain is not
    /// asked anything.
    Disabled,
    /// Plan against the chain and say what would be sent; send nothing.
    DryRun,
    /// Plan, check, and send.
    Send,
}

/// The configuration of sending, as the caller resolved it.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The chain node's WebSocket URL.
    pub chain_url: &'a str,
    /// Timeouts and reconnection of the chain client.
    pub chain_options: ClientOptions,
    /// The subnet.
    pub netuid: u16,
    /// Send, plan only, or neither.
    pub mode: Mode,
    /// The validator's key; `None` when none is configured.
    pub hotkey: Option<&'a Hotkey>,
    /// The address the configuration names for that key, if any.
    pub configured_address: Option<&'a str>,
    /// The version key the weights carry; `None`: the chain's
    /// `WeightsVersionKey` at send time.
    pub version_key: Option<u64>,
    /// The oldest the newest validator entry may be.
    pub max_entry_age: Duration,
    /// The drand beacon the chain reveals with.
    pub beacon: Beacon,
    /// Time per block, for the reveal round.
    pub block_time: Duration,
    /// Retries on transport failures, and the reveal wait.
    pub send: SendOptions,
}

/// What the scores rest on: the run and its evidence.
#[derive(Debug, Clone)]
pub struct ScoredRun<'a> {
    /// The catalog's id of the weights run.
    pub run_id: i64,
    /// Each miner's share by hotkey.
    pub scores: &'a [(String, f64)],
    /// Age of the newest validator entry the scores came from.
    pub newest_entry_age: Option<Duration>,
    /// Unverifiable entries the scores used.
    pub unverifiable_entries: usize,
}

/// What a later look found about a commit that awaited its reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealCheck {
    /// The commit's submission id.
    pub submission_id: i64,
    /// `Revealed`, `Dropped`, or still `Committed`; `None` when the chain
    /// could not be read (then `error` says why).
    pub outcome: Option<SubmissionOutcome>,
    /// Why the chain could not say.
    pub error: Option<String>,
}

/// What this run did about sending.
#[derive(Debug, Clone)]
pub enum Action {
    /// Sending is off; nothing was asked of the chain.
    Disabled,
    /// The plan, or why nothing would be sent; nothing was sent.
    DryRun(Result<Plan, String>),
    /// An attempt was made (a refusal before sending is one too): the
    /// plan when there was one, and the record to keep.
    Attempted {
        /// What was planned.
        plan: Option<Box<Plan>>,
        /// What happened.
        record: WeightsSubmissionRecord,
    },
}

/// Everything one call did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The previous commit's reveal, when one was awaited.
    pub previous: Option<RevealCheck>,
    /// What the chain showed about each earlier `unknown` send, oldest
    /// first: the records to update.
    pub resolved: Vec<SendResolution>,
    /// This run's action.
    pub action: Action,
}

/// Sets weights from `run` as `settings` say: in [`Mode::Send`], the
/// returned record is to be stored whatever happened; `pending` is the
/// newest commit the caller's records still show as awaiting its reveal,
/// `unknown` the sends recorded with an unknown fate, oldest first.
pub async fn set_weights<R: CryptoRng + ?Sized>(
    settings: &Settings<'_>,
    run: &ScoredRun<'_>,
    pending: Option<&WeightsSubmissionRecord>,
    unknown: &[WeightsSubmissionRecord],
    now: DateTime<Utc>,
    rng: &mut R,
) -> Outcome {
    if settings.mode == Mode::Disabled {
        return Outcome {
            previous: None,
            resolved: Vec::new(),
            action: Action::Disabled,
        };
    }
    let mut record = blank_record(settings, run, now);
    let chain = match connect(settings).await {
        Ok(chain) => chain,
        Err((tries, err)) => {
            let reason = err.to_string();
            record.outcome = SubmissionOutcome::TransportError;
            record.tries = tries;
            record.reason = Some(reason.clone());
            return Outcome {
                previous: None,
                resolved: Vec::new(),
                action: match settings.mode {
                    Mode::DryRun => Action::DryRun(Err(reason)),
                    _ => Action::Attempted { plan: None, record },
                },
            };
        }
    };
    let previous = match pending {
        Some(commit) => check_reveal(&chain, commit).await,
        None => None,
    };
    let mut resolved = Vec::with_capacity(unknown.len());
    for send in unknown {
        resolved.push(crate::resolve(&chain, send).await);
    }
    if let Some(open) = resolved
        .iter()
        .find(|r| r.outcome == SubmissionOutcome::Unknown)
    {
        // Another send now could land beside it: nothing is sent until
        // the chain settles the earlier one.
        let reason = format!(
            "an earlier send (submission {}) may still land: {}; nothing is sent until it resolves",
            open.submission_id, open.reason
        );
        let action = match settings.mode {
            Mode::DryRun => Action::DryRun(Err(reason)),
            _ => {
                record.reason = Some(reason);
                Action::Attempted { plan: None, record }
            }
        };
        return Outcome {
            previous,
            resolved,
            action,
        };
    }
    let request = request(settings, run, now);
    let planned = plan(&chain, &request).await;
    let action = match (settings.mode, planned) {
        (Mode::DryRun, planned) => Action::DryRun(planned.map_err(|e| e.to_string())),
        (_, Err(err)) => {
            record.outcome = match err {
                PlanError::Chain(ChainError::Decode { .. }) => SubmissionOutcome::MalformedAnswer,
                PlanError::Chain(ChainError::Integrity { .. }) => {
                    SubmissionOutcome::IntegrityViolation
                }
                PlanError::Chain(_) => SubmissionOutcome::TransportError,
                _ => SubmissionOutcome::PreconditionRefused,
            };
            record.reason = Some(err.to_string());
            Action::Attempted { plan: None, record }
        }
        (_, Ok(plan)) => {
            // `plan` refuses without a key, so one is there.
            let Some(hotkey) = settings.hotkey else {
                record.outcome = SubmissionOutcome::PreconditionRefused;
                record.reason = Some(crate::preconditions::Refusal::NoKey.to_string());
                return Outcome {
                    previous,
                    resolved,
                    action: Action::Attempted { plan: None, record },
                };
            };
            describe_plan(&mut record, &plan);
            match send(&chain, hotkey, &plan, &settings.beacon, settings.send, rng).await {
                Ok(submission) => describe_submission(&mut record, &submission),
                Err(err) => {
                    record.outcome = SubmissionOutcome::PreconditionRefused;
                    record.reason = Some(err.to_string());
                }
            }
            Action::Attempted {
                plan: Some(Box::new(plan)),
                record,
            }
        }
    };
    Outcome {
        previous,
        resolved,
        action,
    }
}

fn blank_record(
    settings: &Settings<'_>,
    run: &ScoredRun<'_>,
    now: DateTime<Utc>,
) -> WeightsSubmissionRecord {
    WeightsSubmissionRecord {
        submission_id: 0,
        run_id: run.run_id,
        attempted_at: now.naive_utc(),
        netuid: settings.netuid,
        call: None,
        outcome: SubmissionOutcome::PreconditionRefused,
        reason: None,
        tries: 0,
        sender_uid: None,
        extrinsic_hash: None,
        block_hash: None,
        block: None,
        reveal_round: None,
        commit_epoch: None,
        checked_at: None,
        nonce: None,
        era_birth: None,
        era_period: None,
        chain_proven: Some(settings.chain_options.proofs),
        vector: Vec::new(),
    }
}

fn request<'a>(
    settings: &'a Settings<'_>,
    run: &'a ScoredRun<'_>,
    now: DateTime<Utc>,
) -> SendRequest<'a> {
    let since_epoch = now
        .signed_duration_since(DateTime::<Utc>::UNIX_EPOCH)
        .to_std()
        .unwrap_or(Duration::ZERO);
    SendRequest {
        netuid: settings.netuid,
        scores: run.scores,
        hotkey: settings.hotkey,
        configured_address: settings.configured_address,
        version_key: settings.version_key,
        newest_entry_age: run.newest_entry_age,
        max_entry_age: settings.max_entry_age,
        unverifiable_entries: run.unverifiable_entries,
        beacon: settings.beacon,
        block_time: settings.block_time,
        now: since_epoch,
    }
}

/// Connects, retrying as `send` does: reaching the node is transport.
async fn connect(settings: &Settings<'_>) -> Result<SubtensorClient, (u32, ChainError)> {
    let tries = settings.send.tries.max(1);
    let mut number = 1;
    loop {
        match SubtensorClient::connect(settings.chain_url, settings.chain_options.clone()).await {
            Ok(chain) => return Ok(chain),
            Err(_) if number < tries => {
                backoff(settings.send.backoff, number).await;
                number += 1;
            }
            Err(err) => return Err((number, err)),
        }
    }
}

async fn check_reveal(
    chain: &SubtensorClient,
    commit: &WeightsSubmissionRecord,
) -> Option<RevealCheck> {
    let record = CommitRecord {
        netuid: commit.netuid,
        uid: commit.sender_uid?,
        commit_epoch: commit.commit_epoch?,
        commit_block: commit.block,
        vector: commit.vector.clone(),
    };
    let (outcome, error) = match reveal_status(chain, &record).await {
        Ok(landing) => (Some(outcome_of_reveal(&landing)), None),
        Err(err) => (None, Some(err.to_string())),
    };
    Some(RevealCheck {
        submission_id: commit.submission_id,
        outcome,
        error,
    })
}

fn outcome_of_reveal(landing: &Landing) -> SubmissionOutcome {
    match landing {
        Landing::Revealed | Landing::Landed => SubmissionOutcome::Revealed,
        Landing::Dropped => SubmissionOutcome::Dropped,
        _ => SubmissionOutcome::Committed,
    }
}

fn describe_plan(record: &mut WeightsSubmissionRecord, plan: &Plan) {
    record.sender_uid = Some(plan.uid);
    record.vector = plan.vector.pairs().collect();
    match &plan.call {
        PlannedCall::Plain => record.call = Some(WeightsCallKind::Plain),
        PlannedCall::Timelocked { reveal, .. } => {
            record.call = Some(WeightsCallKind::Timelocked);
            record.reveal_round = Some(reveal.round);
            record.commit_epoch = Some(reveal.epoch);
        }
    }
}

fn describe_submission(record: &mut WeightsSubmissionRecord, submission: &Submission) {
    record.tries = u32::try_from(submission.attempts.len()).unwrap_or(u32::MAX);
    if let Some((extrinsic, block, _)) = submission.included() {
        describe_extrinsic(record, &extrinsic);
        record.block_hash = Some(hex0x(&block));
        record.block = submission.block;
        let (outcome, reason) = match &submission.landing {
            Landing::Landed => (SubmissionOutcome::Landed, None),
            Landing::Differs { on_chain } => (
                SubmissionOutcome::Differs,
                Some(format!("the chain holds {on_chain:?} for the sender")),
            ),
            Landing::AwaitingReveal | Landing::NotSent => (SubmissionOutcome::Committed, None),
            Landing::Revealed => (SubmissionOutcome::Revealed, None),
            Landing::Dropped => (SubmissionOutcome::Dropped, None),
            Landing::Unconfirmed { reason } => {
                (SubmissionOutcome::Unconfirmed, Some(reason.clone()))
            }
            Landing::Integrity { reason } => {
                (SubmissionOutcome::IntegrityViolation, Some(reason.clone()))
            }
        };
        record.outcome = outcome;
        record.reason = reason;
        return;
    }
    let last = submission.attempts.last().map(|a| &a.outcome);
    let (outcome, reason) = match last {
        Some(AttemptOutcome::Unknown { extrinsic, reason }) => {
            describe_extrinsic(record, extrinsic);
            (SubmissionOutcome::Unknown, reason.clone())
        }
        Some(AttemptOutcome::Refused(why)) => (SubmissionOutcome::ChainRefused, why.clone()),
        Some(AttemptOutcome::Malformed(why)) => (SubmissionOutcome::MalformedAnswer, why.clone()),
        Some(AttemptOutcome::Transport(why)) => (SubmissionOutcome::TransportError, why.clone()),
        _ => (
            SubmissionOutcome::TransportError,
            "no try was made".to_string(),
        ),
    };
    record.outcome = outcome;
    record.reason = Some(reason);
}

/// What finds the transaction on chain later: hash, nonce, era.
fn describe_extrinsic(record: &mut WeightsSubmissionRecord, extrinsic: &SentExtrinsic) {
    record.extrinsic_hash = Some(hex0x(&extrinsic.hash));
    record.nonce = Some(extrinsic.nonce);
    record.era_birth = Some(u64::from(extrinsic.era_birth));
    record.era_period = Some(extrinsic.era_period);
}

fn hex0x(bytes: &[u8; 32]) -> String {
    let mut out = String::with_capacity(66);
    out.push_str("0x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::Attempt;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(1)
    }

    /// Sending to a node nobody listens on, quickly given up on.
    fn unreachable() -> Settings<'static> {
        Settings {
            chain_url: "ws://127.0.0.1:1",
            chain_options: ClientOptions {
                call_timeout: Duration::from_secs(2),
                reconnect_attempts: 0,
                backoff: Duration::from_millis(1),
                inclusion_timeout: Duration::from_secs(2),
                ..ClientOptions::default()
            },
            netuid: 64,
            mode: Mode::Send,
            hotkey: None,
            configured_address: None,
            version_key: None,
            max_entry_age: Duration::from_secs(60),
            beacon: drand_tlock::QUICKNET,
            block_time: Duration::from_secs(12),
            send: SendOptions {
                tries: 3,
                backoff: Duration::from_millis(1),
                wait_reveal: None,
            },
        }
    }

    /// Run 7 with no scores.
    fn empty_run() -> ScoredRun<'static> {
        ScoredRun {
            run_id: 7,
            scores: &[],
            newest_entry_age: None,
            unverifiable_entries: 0,
        }
    }

    fn record() -> WeightsSubmissionRecord {
        blank_record(&unreachable(), &empty_run(), DateTime::<Utc>::UNIX_EPOCH)
    }

    #[test]
    fn a_refusal_after_transport_failures_is_a_chain_refusal() {
        let mut r = record();
        let submission = Submission {
            attempts: vec![
                Attempt {
                    number: 1,
                    outcome: AttemptOutcome::Transport("connection reset".into()),
                },
                Attempt {
                    number: 2,
                    outcome: AttemptOutcome::Refused("bad signature".into()),
                },
            ],
            block: None,
            landing: Landing::NotSent,
        };
        describe_submission(&mut r, &submission);
        assert_eq!(
            (r.outcome, r.tries, r.reason.as_deref()),
            (SubmissionOutcome::ChainRefused, 2, Some("bad signature"))
        );
        assert_eq!(r.extrinsic_hash, None);
    }

    #[test]
    fn an_included_commit_awaits_its_reveal_with_its_hashes() {
        let mut r = record();
        let submission = Submission {
            attempts: vec![Attempt {
                number: 1,
                outcome: AttemptOutcome::Included {
                    extrinsic: SentExtrinsic {
                        hash: [0xab; 32],
                        nonce: 4,
                        era_birth: 1_232,
                        era_period: 8,
                    },
                    block_hash: [1; 32],
                    block: 1_234,
                },
            }],
            block: Some(1234),
            landing: Landing::AwaitingReveal,
        };
        describe_submission(&mut r, &submission);
        assert_eq!(r.outcome, SubmissionOutcome::Committed);
        assert_eq!(r.tries, 1);
        assert_eq!(
            r.extrinsic_hash.as_deref(),
            Some(format!("0x{}", "ab".repeat(32)).as_str())
        );
        assert_eq!(r.reason, None);
        assert_eq!(r.block, Some(1234));
        assert_eq!(
            (r.nonce, r.era_birth, r.era_period),
            (Some(4), Some(1_232), Some(8))
        );
    }

    #[test]
    fn a_send_not_seen_in_a_block_is_unknown_with_what_finds_it_later() {
        let mut r = record();
        let extrinsic = SentExtrinsic {
            hash: [0xcd; 32],
            nonce: 7,
            era_birth: 1_000,
            era_period: 8,
        };
        let submission = Submission {
            attempts: vec![Attempt {
                number: 1,
                outcome: AttemptOutcome::Unknown {
                    extrinsic,
                    reason: "no inclusion within 2s".into(),
                },
            }],
            block: None,
            landing: Landing::NotSent,
        };
        describe_submission(&mut r, &submission);
        assert_eq!(r.outcome, SubmissionOutcome::Unknown);
        assert_eq!(
            r.extrinsic_hash.as_deref(),
            Some(format!("0x{}", "cd".repeat(32)).as_str())
        );
        assert_eq!(
            (r.nonce, r.era_birth, r.era_period),
            (Some(7), Some(1_000), Some(8))
        );
        assert_eq!((r.block, r.block_hash.as_deref()), (None, None));
        assert_eq!(r.reason.as_deref(), Some("no inclusion within 2s"));
    }

    #[test]
    fn a_malformed_answer_is_not_a_transport_error() {
        let mut r = record();
        let submission = Submission {
            attempts: vec![Attempt {
                number: 1,
                outcome: AttemptOutcome::Malformed("decoding System.Events".into()),
            }],
            block: None,
            landing: Landing::NotSent,
        };
        describe_submission(&mut r, &submission);
        assert_eq!(r.outcome, SubmissionOutcome::MalformedAnswer);
        assert_eq!(r.tries, 1);
    }

    #[tokio::test]
    async fn an_unreachable_node_is_a_transport_error_after_every_try() {
        let settings = unreachable();
        let run = empty_run();
        let outcome = set_weights(&settings, &run, None, &[], Utc::now(), &mut rng()).await;
        let Action::Attempted { plan: None, record } = outcome.action else {
            panic!("an attempt without a plan: {:?}", outcome.action);
        };
        assert_eq!(record.outcome, SubmissionOutcome::TransportError);
        assert_eq!(record.tries, 3);
        assert_eq!(record.run_id, 7);
        let dry = Settings {
            mode: Mode::DryRun,
            ..settings
        };
        let outcome = set_weights(&dry, &run, None, &[], Utc::now(), &mut rng()).await;
        assert!(matches!(outcome.action, Action::DryRun(Err(_))));
        let off = Settings {
            mode: Mode::Disabled,
            ..dry
        };
        let outcome = set_weights(&off, &run, None, &[], Utc::now(), &mut rng()).await;
        assert!(matches!(outcome.action, Action::Disabled));
    }
}
