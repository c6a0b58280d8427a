//! The weight policy: from the auditor's scores to what the chain
//! receives (docs/spec/incentives.md §6, docs/spec/commit-reveal.md). Pure: the
//! rules take what the chain and the lake said, so each is tested without
//! a node; [`send`] is the one place that reads the chain and signs.
//!
//! - [`quantise`]: hotkeys to uids through the metagraph, then the one
//!   quantisation of the workspace (largest 65535, halves to even, zeros
//!   dropped, uids ascending).
//! - [`payload`]: the `WeightsTlockPayload` a timelocked commit hides,
//!   and the commit itself ([`commit_for`], through `drand-tlock`).
//! - [`reveal`]: which drand round to encrypt to.
//! - [`preconditions`]: the checks before sending, each refusal in plain
//!   words.
//! - [`send`]: the policy applied to the chain as it is at send time: plan
//!   (read, quantise, check, choose plain or timelocked), send (retry on
//!   transport only), confirm (read `Weights` back, or judge the reveal).
//! - [`resolve`]: what became of a send whose inclusion was not seen:
//!   found in a block of its era, or expired, or still pending.
//! - [`submit`]: the one entry point for callers: [`set_weights`] runs the
//!   above from a scored run and returns the record to keep.
//!
//! # Example
//!
//! Scores by hotkey become the weight vector the chain receives: mapped to
//! uids through the metagraph read at send time, then quantised.
//!
//! ```
//! // The scored miners, and the metagraph's hotkeys and uids (one miner
//! // deregistered since scoring).
//! let scores = [("5Alice", 0.75), ("5Bob", 0.25), ("5Gone", 0.1)];
//! let metagraph = [("5Alice", 3), ("5Bob", 1)];
//! let by_uid = weights::scores_by_uid(scores, metagraph);
//! assert_eq!(by_uid.skipped, ["5Gone"]);
//!
//! let vector = weights::quantise(&by_uid.scores)?;
//! // Uids ascending, the largest score at 65535, the rest in proportion.
//! assert_eq!(vector.pairs().collect::<Vec<_>>(), [(1, 21845), (3, 65535)]);
//! # Ok::<(), weights::QuantiseError>(())
//! ```

#![warn(missing_docs)]

pub mod payload;
pub mod preconditions;
pub mod quantise;
pub mod resolve;
pub mod reveal;
pub mod send;
pub mod submit;

pub use payload::{commit_for, CommitError, WeightsTlockPayload, MAX_COMMIT_LEN};
pub use preconditions::{check, Cleared, Facts, Refusal};
pub use quantise::{quantise, scores_by_uid, Dropped, QuantiseError, Uid, UidScores, WeightVector};
pub use resolve::resolve;
pub use reveal::{reveal_round, RevealError, RevealInputs, RevealPlan};
pub use send::{
    plan, reveal_status, send, Attempt, AttemptOutcome, CommitRecord, Landing, Plan, PlanError,
    PlannedCall, SendError, SendOptions, SendRequest, Submission, VersionKeySource,
};
pub use submit::{set_weights, Action, Mode, Outcome, RevealCheck, ScoredRun, Settings};
