//! The catalog's domain types, as the pipeline stages see them.

use chrono::NaiveDateTime;
use serde::Serialize;

/// Who published an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EntrySource {
    /// The validator's hourly report with its CSV exports; feeds the scores.
    Validator,
    /// A miner's self-report from its own Prometheus; feeds compare-prom.
    Miner,
}

impl EntrySource {
    /// What a report path says of its publisher: miners' self-reports live
    /// under `audit/miner/`. Only a guess: sync decides validators by its
    /// configured hotkeys.
    pub fn of_report_path(path: &str) -> EntrySource {
        if path.starts_with("audit/miner/") {
            EntrySource::Miner
        } else {
            EntrySource::Validator
        }
    }
}

/// Where an entry stands in the ingest pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    /// Listed, not yet checked.
    Pending,
    /// The report matched its on-chain commitment; not loaded yet.
    Verified,
    /// The chain no longer holds the state to check the commitment.
    Unverifiable,
    /// Verified (or accepted as unverifiable) and its facts are in the lake.
    Loaded,
    /// Failed a check; see the reason. Retried on the next sync.
    Rejected,
}

/// One of the CSV exports a validator report points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    Invocations,
    Reports,
    Jobs,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The text stored in the catalog.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$(Self::$variant),+];
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "unknown {} `{other}`", stringify!($ty)
                    )),
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(EntrySource { Validator => "validator", Miner => "miner" });
text_enum!(EntryState {
    Pending => "pending",
    Verified => "verified",
    Unverifiable => "unverifiable",
    Loaded => "loaded",
    Rejected => "rejected",
});
text_enum!(ExportKind { Invocations => "invocations", Reports => "reports", Jobs => "jobs" });
text_enum!(SyntheticCheck {
    Pending => "pending",
    Present => "present",
    Missing => "missing",
    Rerouted => "rerouted",
});

/// An audit entry as listed by `GET /audit/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub entry_id: String,
    pub hotkey: String,
    pub block: u32,
    pub path: String,
    pub source: EntrySource,
    pub created_at: NaiveDateTime,
    pub start_time: NaiveDateTime,
    pub end_time: NaiveDateTime,
}

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

/// The completeness check of a synthetic against the exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum SyntheticCheck {
    /// Not judged yet (not old enough to be exported).
    Pending,
    /// The export has the attempt, under the same miner.
    Present,
    /// No exported invocation has the attempt's id.
    Missing,
    /// The export has the attempt under another miner's hotkey.
    Rerouted,
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

/// One neuron of a metagraph snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: String,
    pub coldkey: String,
    /// Fraction of 65535.
    pub incentive: u16,
    pub stake: f64,
    pub last_update: u64,
    pub validator_permit: bool,
}

/// The subnet's neurons as read at one block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetagraphSnapshot {
    /// Assigned by the catalog; 0 before it is recorded.
    pub snapshot_id: i64,
    pub netuid: u16,
    pub block: u32,
    pub taken_at: NaiveDateTime,
    pub neurons: Vec<Neuron>,
}

/// The latest GPU count of a chute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuCount {
    pub chute_id: String,
    pub gpu_count: u32,
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
