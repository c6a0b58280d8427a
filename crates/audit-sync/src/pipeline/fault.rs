//! What goes wrong: per entry ([`Fault`], reported as a [`Rejection`]) or
//! for the whole run ([`SyncError`]).

use audit_store::{AuditEntry, EntrySource, StoreError};
use serde::Serialize;

use crate::source::{SourceError, SourceErrorKind};

/// What failed for one entry, as the summary reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Not what was committed (report, export, commitment block, entry id,
    /// an unsafe path).
    Integrity,
    /// Committed but unusable (a report with no exports, an export without
    /// the columns scoring needs, JSON that does not parse).
    Malformed,
    /// The network or the chain failed; retried next run.
    Transient,
}

/// Why an entry was rejected or failed, for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The entry.
    pub entry_id: String,
    /// Its publisher.
    pub hotkey: String,
    /// Its block.
    pub block: u32,
    /// What failed, in words.
    pub reason: String,
    /// What kind of failure.
    pub kind: FaultKind,
    /// An integrity failure of data that feeds the scores (a validator's):
    /// pages someone (exit code 3). A miner's self-report that fails its
    /// commitment is rejected without paging.
    pub integrity: bool,
}

/// Failures that stop the whole run (the store), as opposed to one entry.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The catalog or the lake failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listing itself could not be had.
    #[error("listing audit entries failed: {0}")]
    List(#[source] SourceError),
}

/// Why one entry did not load.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The data is not what was committed.
    #[error("integrity: {0}")]
    Integrity(String),
    /// The data was committed but cannot be used.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// What was malformed (the report, an export).
        what: String,
        /// The parser's finding.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The network or the chain failed; the next run retries.
    #[error("{what}: {source}")]
    Transient {
        /// What was being fetched.
        what: String,
        /// The source's error.
        #[source]
        source: SourceError,
    },
    /// The local store failed: the run stops.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Fault {
    /// A source's failure while fetching `what`: an integrity kind stays
    /// an integrity fault, anything else is retried.
    pub(crate) fn from_source(what: impl Into<String>, source: SourceError) -> Fault {
        let what = what.into();
        match source.kind {
            SourceErrorKind::Integrity => Fault::Integrity(format!("{what}: {source}")),
            SourceErrorKind::Transient | SourceErrorKind::Refused => {
                Fault::Transient { what, source }
            }
        }
    }

    pub(crate) fn malformed(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Fault {
        Fault::Malformed {
            what: what.into(),
            source: source.into(),
        }
    }

    pub(super) fn kind(&self) -> Option<FaultKind> {
        match self {
            Fault::Integrity(_) => Some(FaultKind::Integrity),
            Fault::Malformed { .. } => Some(FaultKind::Malformed),
            Fault::Transient { .. } => Some(FaultKind::Transient),
            Fault::Store(_) => None,
        }
    }
}

pub(super) fn rejection(entry: &AuditEntry, fault: &Fault, kind: FaultKind) -> Rejection {
    Rejection {
        entry_id: entry.entry_id.clone(),
        hotkey: entry.hotkey.clone(),
        block: entry.block,
        reason: fault.to_string(),
        kind,
        integrity: kind == FaultKind::Integrity && entry.source == EntrySource::Validator,
    }
}
