//! The catalog's records: what it stores about entries, runs and results.
//! The shared domain types (entries, neurons, GPU counts) come from
//! `audit-model` and are re-exported here.

use chrono::NaiveDateTime;
use serde::Serialize;

pub use audit_model::{
    AuditEntry, EntrySource, EntryState, ExportKind, GpuCount, Listing, MalformedListing,
    MetagraphSnapshot, Neuron, SyntheticCheck,
};

/// An audit entry with what the catalog knows about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryRecord {
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub state: EntryState,
    /// Set when the commitment could not be checked (pruned chain state);
    /// stays set once the entry is loaded, so scores can flag it.
    pub unverifiable: bool,
    pub reject_reason: Option<String>,
    pub report_sha256: Option<String>,
    pub instance_rows: u64,
    pub attempts: u32,
    pub first_seen_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub loaded_at: Option<NaiveDateTime>,
}

/// A verified CSV export of a loaded entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRecord {
    pub kind: ExportKind,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub row_count: u64,
    pub malformed_rows: u64,
}

/// What loading an entry produced, recorded atomically with its `loaded` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedEntry {
    pub report_sha256: String,
    pub unverifiable: bool,
    pub instance_rows: u64,
    pub exports: Vec<ExportRecord>,
}

/// One attempt of a traced synthetic invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Synthetic {
    /// The attempt's invocation id (the trace's `child_id`).
    pub invocation_id: String,
    pub parent_invocation_id: String,
    /// chat | completion | image | tts | embed
    pub task: String,
    pub chute_id: String,
    pub instance_id: String,
    pub miner_uid: Option<u16>,
    pub miner_hotkey: String,
    pub created_at: NaiveDateTime,
    pub has_error: bool,
    pub check: SyntheticCheck,
    pub checked_at: Option<NaiveDateTime>,
}

/// One miner's line of a weights run: raw and normalised features, scores,
/// and the comparison with the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerScore {
    pub hotkey: String,
    pub uid: Option<u16>,
    pub coldkey: Option<String>,
    pub invocation_count: f64,
    pub compute_units: f64,
    pub bounty_count: f64,
    pub unique_chute_count: f64,
    pub private_instances: u64,
    pub private_seconds: f64,
    pub private_compute_units: f64,
    pub norm_invocation_count: f64,
    pub norm_compute_units: f64,
    pub norm_bounty_count: f64,
    pub norm_unique_chute_count: f64,
    pub pre_score: f64,
    /// Zeroed by the multi-uid (shared coldkey) penalty.
    pub penalised: bool,
    pub score: f64,
    pub chain_share: Option<f64>,
    pub delta: Option<f64>,
    /// The quantised u16 weight, when one was computed.
    pub weight: Option<u16>,
}

/// Where a weights run was sent, if it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightsSubmission {
    pub sent_to: String,
    pub block: u32,
    pub extrinsic_hash: String,
}

/// A scoring run: the evaluation time, the profile that produced it, and
/// every miner's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsRun {
    /// Assigned by the catalog; 0 before it is recorded.
    pub run_id: i64,
    pub evaluated_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub profile_name: String,
    pub profile_version: u32,
    pub snapshot_id: Option<i64>,
    pub sum_abs_delta: f64,
    pub max_delta: f64,
    pub submission: Option<WeightsSubmission>,
    pub miners: Vec<MinerScore>,
}

/// One miner's coverage and agreement with its self-reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementResult {
    pub hotkey: String,
    pub coverage_seconds: u64,
    pub validator_count: Option<u64>,
    pub reported_count: Option<u64>,
    pub ratio: Option<f64>,
    pub flagged: bool,
    pub note: Option<String>,
}

/// A compare-prom run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementRun {
    /// Assigned by the catalog; 0 before it is recorded.
    pub run_id: i64,
    pub evaluated_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub results: Vec<AgreementResult>,
}

/// How many entries are in each state, by source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryCount {
    pub source: EntrySource,
    pub state: EntryState,
    pub count: u64,
}

/// What the catalog holds, for `auditctl status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogSummary {
    pub entries: Vec<EntryCount>,
    pub oldest_entry: Option<NaiveDateTime>,
    pub newest_entry: Option<NaiveDateTime>,
    pub newest_loaded: Option<NaiveDateTime>,
    pub invocation_rows: u64,
    pub synthetics: u64,
    pub metagraph_snapshots: u64,
    pub latest_metagraph_block: Option<u32>,
    pub gpu_counts: u64,
    pub weights_runs: u64,
    pub latest_weights_run: Option<NaiveDateTime>,
    pub agreement_runs: u64,
}
