//! [`ReportData`]: everything the page shows, as plain serialisable data.
//!
//! Gathered once from the catalog, rendered by a pure function, and
//! printed as is by `auditctl report --json`: the page and the JSON can
//! never disagree, and tests can build a page without a database.

use audit_store::{NormalisedFeatures, RawFeatures};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// The page's content, miner by miner, as of one evaluation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// The time the page describes: the window ends here.
    pub evaluated_at: NaiveDateTime,
    /// The scoring window, `(at - window_days, at]`.
    pub window_from: NaiveDateTime,
    /// The subnet the chain side was read for.
    pub netuid: u16,
    /// The numbers a reader looks at first.
    pub headline: Headline,
    /// The newest weights run at or before the evaluation time; `None`
    /// when no run was recorded (the page says so).
    pub run: Option<RunInfo>,
    /// sum |Δ| and max Δ of every recorded run, oldest first.
    pub history: Vec<HistoryPoint>,
    /// The hours the coverage grid spans, oldest first (hour starts).
    pub coverage_hours: Vec<NaiveDateTime>,
    /// The newest compare-prom run at or before the evaluation time.
    pub agreement: Option<AgreementInfo>,
    /// Synthetic attempts of the window, per task type.
    pub synthetics: Vec<TaskTally>,
    /// Synthetic attempts the exports lack or credit to another miner.
    pub synthetic_findings: Vec<SyntheticFinding>,
    /// Weights runs that were sent to the chain, oldest first.
    pub submissions: Vec<Submission>,
    /// Every miner seen anywhere (scores, chain, self-reports,
    /// synthetics): highest score first, then highest chain share.
    pub miners: Vec<MinerReport>,
}

/// Entries of the window by state, hour gaps and integrity violations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// Entries whose report matched its on-chain commitment.
    pub verified: u64,
    /// Entries accepted although the chain no longer holds the state to
    /// check them.
    pub unverifiable: u64,
    /// Entries that failed a check.
    pub rejected: u64,
    /// Entries listed but not checked yet.
    pub pending: u64,
    /// Hours of the window covered by a loaded validator entry.
    pub validator_hours: u64,
    /// Hours without a loaded validator entry between the first and the
    /// last covered one: holes in what the scores are computed from.
    pub hour_gaps: Vec<NaiveDateTime>,
    /// Rejections for failed integrity checks (tampered or uncommitted
    /// data), newest last.
    pub integrity_violations: Vec<Violation>,
}

/// One entry that failed an integrity check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The audit entry's id.
    pub entry_id: String,
    /// The publisher's hotkey.
    pub hotkey: String,
    /// When the entry was published.
    pub created_at: NaiveDateTime,
    /// The pipeline's reason, as recorded.
    pub reason: String,
}

/// The weights run the scores come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The catalog's id of the run (as `weights --json` prints it).
    pub run_id: i64,
    /// The run's evaluation time.
    pub evaluated_at: NaiveDateTime,
    /// The scoring profile's name.
    pub profile_name: String,
    /// The scoring profile's version.
    pub profile_version: u32,
    /// Sum of |computed − chain| over every compared miner.
    pub sum_abs_delta: f64,
    /// The largest single |computed − chain|.
    pub max_delta: f64,
    /// Deltas above this are flagged.
    pub delta_flag: f64,
}

/// One recorded weights run in the history chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// The catalog's id of the run.
    pub run_id: i64,
    /// The run's evaluation time.
    pub evaluated_at: NaiveDateTime,
    /// Sum of |Δ| of the run.
    pub sum_abs_delta: f64,
    /// Largest Δ of the run.
    pub max_delta: f64,
}

/// The compare-prom run the agreement ratios come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementInfo {
    /// The catalog's id of the run.
    pub run_id: i64,
    /// The run's evaluation time.
    pub evaluated_at: NaiveDateTime,
    /// Ratios below this are flagged (drawn on the chart).
    pub threshold: f64,
}

/// Synthetic attempts of one task type by completeness verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTally {
    /// chat, completion, image, tts, embed.
    pub task: String,
    /// Found in the exports under the miner that served it.
    pub present: u64,
    /// Not in the exports at all.
    pub missing: u64,
    /// In the exports under another miner's hotkey.
    pub rerouted: u64,
    /// Not judged yet (too recent to be exported).
    pub pending: u64,
    /// Attempts the router saw fail (retried elsewhere).
    pub errors: u64,
}

impl TaskTally {
    /// Attempts with a verdict.
    pub fn checked(&self) -> u64 {
        self.present + self.missing + self.rerouted
    }
}

/// A synthetic attempt the exports do not account for correctly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticFinding {
    /// The task type.
    pub task: String,
    /// The chute invoked.
    pub chute_id: String,
    /// The request's invocation id.
    pub parent_invocation_id: String,
    /// The attempt's invocation id.
    pub invocation_id: String,
    /// The miner the router sent the attempt to.
    pub expected_hotkey: String,
    /// `missing` or `rerouted`.
    pub check: String,
    /// When the attempt was made.
    pub created_at: NaiveDateTime,
}

/// A weights run that went to the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The run sent.
    pub run_id: i64,
    /// The run's evaluation time.
    pub evaluated_at: NaiveDateTime,
    /// When the attempt was made (wall clock).
    pub attempted_at: NaiveDateTime,
    /// `set_weights` (plain) or `commit_timelocked_weights`; `None` when
    /// nothing was planned (a precondition refused).
    pub call: Option<String>,
    /// How the attempt ended: landed, committed, revealed, dropped,
    /// chain_refused, ... (the catalog's words).
    pub outcome: String,
    /// Why it ended so, when not plainly.
    pub reason: Option<String>,
    /// The block it was included in.
    pub block: Option<u64>,
    /// The extrinsic's hash.
    pub extrinsic_hash: Option<String>,
    /// The drand round a commit opens at.
    pub reveal_round: Option<u64>,
    /// For a commit: whether the chain revealed it (`None` while it
    /// awaits its round, and for plain calls).
    pub revealed: Option<bool>,
    /// How many miners the vector named.
    pub miners: usize,
}

/// Everything the page says about one miner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinerReport {
    /// The miner's hotkey.
    pub hotkey: String,
    /// Its uid on the metagraph, when known.
    pub uid: Option<u16>,
    /// Its coldkey, when known.
    pub coldkey: Option<String>,
    /// Its computed share in the run; `None` when the run did not score it.
    pub score: Option<f64>,
    /// Its share of the chain's incentive; `None` without a metagraph.
    pub chain_share: Option<f64>,
    /// |score − chain share| when both are known.
    pub delta: Option<f64>,
    /// The delta is above the run's flag threshold.
    pub flagged: bool,
    /// How the score came about; `None` when the run did not score it.
    pub explain: Option<Explain>,
    /// Seconds of each coverage hour covered by its own self-reports
    /// (aligned with [`ReportData::coverage_hours`]).
    pub coverage: Vec<u32>,
    /// Its compare-prom result, when the run has one.
    pub agreement: Option<AgreementLine>,
    /// Its synthetic attempts by verdict (task = "all").
    pub synthetics: TaskTally,
}

/// A miner's features and how they became its score (`weights --explain`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explain {
    /// The raw features.
    #[serde(flatten)]
    pub raw: RawFeatures,
    /// The features normalised.
    #[serde(flatten)]
    pub normalised: NormalisedFeatures,
    /// The weighted sum before the multi-uid penalty.
    pub pre_score: f64,
    /// Zeroed because its coldkey is already scored through another hotkey.
    pub penalised: bool,
    /// The hotkey that keeps the coldkey's score, when penalised.
    pub penalised_by: Option<String>,
}

/// One miner's coverage and agreement with its self-reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementLine {
    /// Seconds covered by its own audit entries.
    pub coverage_seconds: u64,
    /// Successful invocations in the validator's exports.
    pub validator_count: Option<u64>,
    /// What the miner reported.
    pub reported_count: Option<u64>,
    /// min/max of the two counts.
    pub ratio: Option<f64>,
    /// Below the threshold, or a side missing.
    pub flagged: bool,
    /// compare-prom's note (e.g. "no reported metrics").
    pub note: Option<String>,
}
