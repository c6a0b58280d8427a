//! The shared domain model of chutes-audit: audit entries, export kinds,
//! neurons and metagraphs, GPU counts, and the network's time forms.
//!
//! A leaf crate on purpose: the fetchers (`chutes-client`, `subtensor`),
//! the store, the stages and the simulator all speak these types, and
//! embedding the HTTP client must not compile a database or polars. Each
//! crate maps its own wire or storage shapes to these at its edge.

#![warn(missing_docs)]

pub mod coverage;
mod listing;
pub mod path;
pub mod time;

pub use listing::{Listing, MalformedListing};

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
