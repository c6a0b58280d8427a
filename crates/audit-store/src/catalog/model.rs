//! The catalog's records: what it stores about entries, runs and results.
//! The shared domain types (entries, neurons, GPU counts) come from
//! `audit-model` and are re-exported here.

use chrono::NaiveDateTime;
use serde::Serialize;

pub use audit_model::{
    AuditEntry, EntrySource, EntryState, ExportKind, GpuCount, Listing, MalformedListing,
    MetagraphSnapshot, Neuron, NormalisedFeatures, RawFeatures, SendResolution, SubmissionOutcome,
    SyntheticCheck, WeightsCallKind, WeightsSubmissionRecord,
};

/// An audit entry with what the catalog knows about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryRecord {
    /// The entry as listed.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Where it stands in the ingest.
    pub state: EntryState,
    /// Set when the commitment could not be checked (pruned chain state);
    /// stays set once the entry is loaded, so scores can flag it.
    pub unverifiable: bool,
    /// Why it was last rejected.
    pub reject_reason: Option<String>,
    /// The sha256 of the report bytes received.
    pub report_sha256: Option<String>,
    /// Instance audit records loaded from its report.
    pub instance_rows: u64,
    /// Load attempts so far.
    pub attempts: u32,
    /// When a sync first listed it.
    pub first_seen_at: NaiveDateTime,
    /// When its state last changed.
    pub updated_at: NaiveDateTime,
    /// When its facts reached the lake.
    pub loaded_at: Option<NaiveDateTime>,
    /// Whether its commitment read was proven against the block's state
    /// root: `Some(false)` records that proofs were off; `None` for an
    /// entry no commitment read decided yet (or recorded before proofs
    /// were recorded).
    pub commitment_proven: Option<bool>,
}

/// A verified CSV export of a loaded entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRecord {
    /// Which export.
    pub kind: ExportKind,
    /// Its path as the report names it.
    pub path: String,
    /// The sha256 the report committed to (and the bytes had).
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Rows loaded.
    pub row_count: u64,
    /// Rows skipped as malformed.
    pub malformed_rows: u64,
}

/// The chain's verdict on an entry's report, as [`Catalog::mark_verified`]
/// records it.
///
/// [`Catalog::mark_verified`]: crate::Catalog::mark_verified
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The sha256 of the report bytes received.
    pub report_sha256: &'a str,
    /// The chain state was pruned: no commitment to check against.
    pub unverifiable: bool,
    /// Whether the commitment read was proven (false: proofs turned off).
    pub commitment_proven: bool,
}

impl<'a> Verified<'a> {
    /// A report whose commitment the chain could no longer say (pruned).
    pub fn unverifiable(report_sha256: &'a str, commitment_proven: bool) -> Self {
        Verified {
            report_sha256,
            unverifiable: true,
            commitment_proven,
        }
    }
}

/// What loading an entry produced, recorded atomically with its `loaded` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedEntry {
    /// The sha256 of the report bytes.
    pub report_sha256: String,
    /// Loaded without a commitment to check against.
    pub unverifiable: bool,
    /// Whether the commitment read was proven against the block's state
    /// root (`Some(false)`: proofs were turned off); `None` when no chain
    /// read decided it.
    pub commitment_proven: Option<bool>,
    /// Instance audit records loaded.
    pub instance_rows: u64,
    /// The verified exports.
    pub exports: Vec<ExportRecord>,
}

/// One attempt of a traced synthetic invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Synthetic {
    /// The attempt's invocation id (the trace's `child_id`).
    pub invocation_id: String,
    /// The request the attempt belongs to.
    pub parent_invocation_id: String,
    /// chat | completion | image | tts | embed
    pub task: String,
    /// The chute called.
    pub chute_id: String,
    /// The instance the router chose.
    pub instance_id: String,
    /// The serving miner's uid, when the trace named it.
    pub miner_uid: Option<u16>,
    /// The serving miner.
    pub miner_hotkey: String,
    /// When the attempt was made.
    pub created_at: NaiveDateTime,
    /// The attempt failed.
    pub has_error: bool,
    /// The completeness check's verdict.
    pub check: SyntheticCheck,
    /// When it was judged.
    pub checked_at: Option<NaiveDateTime>,
}

/// One miner's line of a weights run: raw and normalised features, scores,
/// and the comparison with the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerScore {
    /// The miner.
    pub hotkey: String,
    /// Its uid on the metagraph.
    pub uid: Option<u16>,
    /// Its coldkey on the metagraph.
    pub coldkey: Option<String>,
    /// The raw features.
    #[serde(flatten)]
    pub raw: RawFeatures,
    /// The features normalised.
    #[serde(flatten)]
    pub normalised: NormalisedFeatures,
    /// The weighted sum before the penalty.
    pub pre_score: f64,
    /// Zeroed by the multi-uid (shared coldkey) penalty.
    pub penalised: bool,
    /// The final share.
    pub score: f64,
    /// Its incentive on chain, as a share.
    pub chain_share: Option<f64>,
    /// How far the score is from the chain share.
    pub delta: Option<f64>,
    /// The quantised u16 weight, when one was computed.
    pub weight: Option<u16>,
}

/// Where a weights run was sent, if it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightsSubmission {
    /// The chain endpoint.
    pub sent_to: String,
    /// The block it was included in.
    pub block: u32,
    /// The extrinsic's hash.
    pub extrinsic_hash: String,
}

/// A scoring run: the evaluation time, the profile that produced it, and
/// every miner's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsRun {
    /// Assigned by the catalog; 0 before it is recorded.
    pub run_id: i64,
    /// The evaluation time the window ends at.
    pub evaluated_at: NaiveDateTime,
    /// When the run was made.
    pub created_at: NaiveDateTime,
    /// The scoring profile used.
    pub profile_name: String,
    /// Its version.
    pub profile_version: u32,
    /// The metagraph snapshot compared with.
    pub snapshot_id: Option<i64>,
    /// Sum of |delta| over the miners.
    pub sum_abs_delta: f64,
    /// The largest |delta|.
    pub max_delta: f64,
    /// Where it was sent, if it was.
    pub submission: Option<WeightsSubmission>,
    /// Every scored miner.
    pub miners: Vec<MinerScore>,
}

/// One miner's coverage and agreement with its self-reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementResult {
    /// The miner.
    pub hotkey: String,
    /// Seconds covered by its self-report entries in the window.
    pub coverage_seconds: u64,
    /// Successful invocations in the validator's exports.
    pub validator_count: Option<u64>,
    /// The sum of its reported `total_count`, when it reported any.
    pub reported_count: Option<u64>,
    /// min / max of the two counts.
    pub ratio: Option<f64>,
    /// The ratio fell below the run's threshold.
    pub flagged: bool,
    /// Why there is no ratio, when there is none.
    pub note: Option<String>,
    /// Hour slots (their starts) of the coverage window that no loaded
    /// self-report of this miner covers, oldest first.
    pub missing_hours: Vec<NaiveDateTime>,
}

/// A compare-prom run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementRun {
    /// Assigned by the catalog; 0 before it is recorded.
    pub run_id: i64,
    /// The evaluation time the window ends at.
    pub evaluated_at: NaiveDateTime,
    /// When the run was made.
    pub created_at: NaiveDateTime,
    /// Agreement ratios below this were flagged.
    pub threshold: f64,
    /// One line per miner.
    pub results: Vec<AgreementResult>,
}

/// How many entries are in each state, by source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryCount {
    /// Who published them.
    pub source: EntrySource,
    /// Their state.
    pub state: EntryState,
    /// How many.
    pub count: u64,
}

/// What the catalog holds, for `auditctl status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogSummary {
    /// Entries by source and state.
    pub entries: Vec<EntryCount>,
    /// The oldest entry's `created_at`.
    pub oldest_entry: Option<NaiveDateTime>,
    /// The newest entry's `created_at`.
    pub newest_entry: Option<NaiveDateTime>,
    /// The newest loaded entry's `created_at`.
    pub newest_loaded: Option<NaiveDateTime>,
    /// Invocation rows loaded.
    pub invocation_rows: u64,
    /// Synthetic attempts recorded.
    pub synthetics: u64,
    /// Metagraph snapshots taken.
    pub metagraph_snapshots: u64,
    /// The block of the newest snapshot.
    pub latest_metagraph_block: Option<u32>,
    /// Chutes with a GPU count.
    pub gpu_counts: u64,
    /// Weights runs recorded.
    pub weights_runs: u64,
    /// When the newest weights run was made.
    pub latest_weights_run: Option<NaiveDateTime>,
    /// compare-prom runs recorded.
    pub agreement_runs: u64,
}
