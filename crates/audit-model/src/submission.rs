//! What became of one attempt to set weights on chain: the record the
//! `weights` crate produces and the catalog keeps with the weights run.
//! Here, in the leaf crate, so the store can keep it without depending on
//! the weight policy, and the policy can produce it without a database.

use chrono::NaiveDateTime;
use serde::Serialize;

/// Which extrinsic carried the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsCallKind {
    /// `set_weights`: the weights in the clear, applied at inclusion.
    Plain,
    /// `commit_timelocked_weights`: encrypted to a drand round, revealed
    /// by the chain when that round's pulse is on chain.
    Timelocked,
}

text_enum!(WeightsCallKind { Plain => "plain", Timelocked => "timelocked" });

/// How an attempt ended (or, for a commit, where it stands now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionOutcome {
    /// Plain: with evidence from the chain: the extrinsic is in the body
    /// of the block the node named, `LastUpdate` of the sender at that
    /// block is that block, and `Weights` read back equals what was sent.
    Landed,
    /// Plain: included, but `Weights` holds something else.
    Differs,
    /// Included, but reading the result back failed, or the chain does
    /// not bear the inclusion out (`LastUpdate` disagrees).
    Unconfirmed,
    /// Sent, but no inclusion was seen by the deadline (or the node named
    /// a block that does not hold it): it may still land until its era
    /// ends. The next run resolves it before sending again.
    Unknown,
    /// An `unknown` send that a later run found in no block of its era,
    /// with the era over: it never landed.
    Expired,
    /// The node answered bytes that do not decode as what was asked.
    MalformedAnswer,
    /// Timelocked: included, waiting for its reveal round.
    Committed,
    /// Timelocked: the chain revealed it and `Weights` equals the vector.
    Revealed,
    /// Timelocked: left the queue without reaching `Weights`: the chain
    /// dropped it at reveal, which it never announces.
    Dropped,
    /// The node or the runtime refused the call (never retried).
    ChainRefused,
    /// The node could not be reached, after every retry.
    TransportError,
    /// A check before sending failed: nothing was sent.
    PreconditionRefused,
    /// A chain read did not prove against its block (a lying node, or
    /// endpoints that disagree): nothing was sent after it, and nothing
    /// it said is taken as landed.
    IntegrityViolation,
}

text_enum!(SubmissionOutcome {
    Landed => "landed",
    Differs => "differs",
    Unconfirmed => "unconfirmed",
    Committed => "committed",
    Revealed => "revealed",
    Dropped => "dropped",
    Unknown => "unknown",
    Expired => "expired",
    MalformedAnswer => "malformed_answer",
    ChainRefused => "chain_refused",
    TransportError => "transport_error",
    PreconditionRefused => "precondition_refused",
    IntegrityViolation => "integrity_violation",
});

impl SubmissionOutcome {
    /// Whether a transaction made it into a block.
    pub fn included(self) -> bool {
        matches!(
            self,
            Self::Landed
                | Self::Differs
                | Self::Unconfirmed
                | Self::Committed
                | Self::Revealed
                | Self::Dropped
        )
    }
}

/// One attempt to set weights, as recorded with its weights run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightsSubmissionRecord {
    /// Assigned by the catalog; 0 before it is recorded.
    pub submission_id: i64,
    /// The weights run whose scores were sent.
    pub run_id: i64,
    /// When the attempt was made.
    pub attempted_at: NaiveDateTime,
    /// The subnet.
    pub netuid: u16,
    /// The call chosen; `None` when a check refused before one was.
    pub call: Option<WeightsCallKind>,
    /// How it ended.
    pub outcome: SubmissionOutcome,
    /// The chain's, the transport's or the check's words, when it failed.
    pub reason: Option<String>,
    /// Tries made (transport failures are retried; 0 when nothing was sent).
    pub tries: u32,
    /// The sender's uid, when it is registered.
    pub sender_uid: Option<u16>,
    /// The extrinsic's hash (`0x…`), when included.
    pub extrinsic_hash: Option<String>,
    /// The including block's hash (`0x…`).
    pub block_hash: Option<String>,
    /// The including block's number (the sender's `LastUpdate` after it).
    pub block: Option<u64>,
    /// Timelocked: the drand round the commit is encrypted to.
    pub reveal_round: Option<u64>,
    /// Timelocked: the epoch the commit was queued in.
    pub commit_epoch: Option<u64>,
    /// The nonce the transaction carried, once signed.
    pub nonce: Option<u32>,
    /// The first block its mortal era allows it in.
    pub era_birth: Option<u64>,
    /// Its era's length in blocks: it cannot be included from
    /// `era_birth + era_period` on.
    pub era_period: Option<u64>,
    /// Whether the chain reads that decided it (the metagraph, the
    /// version key, the read back) were proven against their block's
    /// state root: `Some(false)` records that proofs were turned off;
    /// `None` for a send recorded before this was.
    pub chain_proven: Option<bool>,
    /// When a later run last looked at the commit's reveal.
    pub checked_at: Option<NaiveDateTime>,
    /// What was (or would have been) sent: `(uid, u16 weight)`, uids
    /// ascending; empty when refused before quantising.
    pub vector: Vec<(u16, u16)>,
}

/// What a later run found about a send recorded as
/// [`SubmissionOutcome::Unknown`]: the catalog updates that record with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendResolution {
    /// The send's submission id.
    pub submission_id: i64,
    /// Where it stands now: `landed`/`committed` (found, with evidence),
    /// `unconfirmed` (found or applied, evidence short), `expired`, or
    /// still `unknown` (its era is not over yet).
    pub outcome: SubmissionOutcome,
    /// The block it was found in.
    pub block: Option<u64>,
    /// That block's hash (`0x…`).
    pub block_hash: Option<String>,
    /// What the chain showed, in words.
    pub reason: String,
}
