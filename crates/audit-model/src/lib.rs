//! The shared domain model of chutes-audit: audit entries, export kinds,
//! neurons and metagraphs, GPU counts, and the network's time forms and
//! clock.
//!
//! A leaf crate on purpose: the fetchers (`chutes-client`, `subtensor`),
//! the store, the stages and the simulator all speak these types, and
//! embedding the HTTP client must not compile a database or polars. Each
//! crate maps its own wire or storage shapes to these at its edge.
//!
//! # Example
//!
//! The network's time forms, and the hours a validator owed and did not
//! publish:
//!
//! ```
//! use audit_model::coverage::missing_hours;
//! use audit_model::time::parse_utc;
//!
//! let t = |text: &str| parse_utc(text).expect("one of the network's forms");
//! let (from, until) = (t("2025-02-10T09:00:00Z"), t("2025-02-10 12:30:00"));
//! // Verified entries ended at 10:00 and 12:00.
//! let covered = [t("2025-02-10T10:00:00"), t("2025-02-10T12:00:00+00:00")];
//! let missing = missing_hours(covered, from, until);
//! assert_eq!(missing, [t("2025-02-10 09:00:00"), t("2025-02-10 11:00:00")]);
//!
//! // Text from the network is shown with its control characters escaped.
//! let shown = audit_model::escape_control("ok\u{1b}[2J");
//! assert!(!shown.contains('\u{1b}'));
//! ```

#![warn(missing_docs)]

pub mod clock;
pub mod coverage;
mod features;
mod listing;
pub mod path;
pub mod phases;
pub mod secret;
pub mod terminal;
pub mod time;

pub use clock::{Clock, SystemClock};
pub use features::{NormalisedFeatures, RawFeatures};
pub use listing::{Listing, MalformedListing};
pub use secret::{mask_key_material, mask_secrets};
pub use terminal::{escape_control, escape_control_multiline};

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
    /// Every invocation of the hour: what the compute scores come from.
    Invocations,
    /// User reports of invocations: a confirmed one excludes its request.
    Reports,
    /// Jobs run on miners in the hour.
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

// After the macro: it is in scope from its definition on.
pub mod submission;
pub use submission::{SendResolution, SubmissionOutcome, WeightsCallKind, WeightsSubmissionRecord};

/// An audit entry as listed by `GET /audit/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The UUIDv5 of `hotkey.block`: the catalog's key for the entry.
    pub entry_id: String,
    /// The publisher's hotkey, whose commitment the report must match.
    pub hotkey: String,
    /// The block of the commitment.
    pub block: u32,
    /// Where the report is downloaded from (`audit/...`).
    pub path: String,
    /// Validator report or miner self-report.
    pub source: EntrySource,
    /// When the API says it was published; decides the window (unproven).
    pub created_at: NaiveDateTime,
    /// Start of the hour the entry covers.
    pub start_time: NaiveDateTime,
    /// End of the hour the entry covers.
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
    /// Its slot on the subnet: where a weight goes.
    pub uid: u16,
    /// The key scores are grouped by.
    pub hotkey: String,
    /// The owner, for the multi-uid penalty.
    pub coldkey: String,
    /// Fraction of 65535.
    pub incentive: u16,
    /// Its stake as the chain reports it.
    pub stake: f64,
    /// The block of its last weights update.
    pub last_update: u64,
    /// Whether it may set weights.
    pub validator_permit: bool,
}

/// The subnet's neurons as read at one block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetagraphSnapshot {
    /// Assigned by the catalog; 0 before it is recorded.
    pub snapshot_id: i64,
    /// The subnet read.
    pub netuid: u16,
    /// The block it was read at.
    pub block: u32,
    /// When it was read.
    pub taken_at: NaiveDateTime,
    /// Every registered neuron.
    pub neurons: Vec<Neuron>,
}

/// The latest GPU count of a chute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuCount {
    /// The chute.
    pub chute_id: String,
    /// GPUs per instance: the weight of the chute in unique_chute_count.
    pub gpu_count: u32,
}
