//! The two sources the ingest reads: the network's audit data
//! ([`AuditSource`]) and the chain ([`ChainSource`]), the errors they report,
//! and what they answer. The pipeline, [`crate::verify_entry`] and the
//! concrete sources all speak through these traits.

use std::future::Future;
use std::path::Path;

use audit_model::Listing;
use audit_store::{GpuCount, MetagraphSnapshot};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What kind of failure a source reports; it decides what becomes of the
/// entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceErrorKind {
    /// Transport, timeout, a 5xx, a chain node's error: retried next run.
    Transient,
    /// The source refused or does not have it (4xx, not found, an answer
    /// it could not decode): retried next run.
    Refused,
    /// What was asked or answered cannot be authentic (an unsafe path):
    /// an integrity violation, never retried into acceptance.
    Integrity,
}

impl std::fmt::Display for SourceErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceErrorKind::Transient => "transient failure",
            SourceErrorKind::Refused => "refused",
            SourceErrorKind::Integrity => "integrity",
        })
    }
}

/// A source's failure: its kind, and the error it came from.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {source}")]
pub struct SourceError {
    /// What the pipeline does about it.
    pub kind: SourceErrorKind,
    /// The underlying error, as the source reported it.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl SourceError {
    /// A failure of `kind` caused by `source`.
    pub fn new(
        kind: SourceErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        SourceError {
            kind,
            source: source.into(),
        }
    }

    /// A failure worth retrying next run.
    pub fn transient(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(SourceErrorKind::Transient, source)
    }

    /// The source refused or lacks what was asked.
    pub fn refused(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(SourceErrorKind::Refused, source)
    }
}

/// What the chain says about a commitment at a block: the chain client's
/// own answer, so a [`ChainSource`] passes it on unchanged.
pub use subtensor::CommitmentAt as Commitment;

/// An export a source wrote to the file it was given: its size and the
/// sha256 of exactly those bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes written.
    pub bytes: u64,
    /// Lower-case hex sha256 of the bytes written.
    pub sha256: String,
}

impl Fetched {
    /// Writes bytes already in memory to `dest` and hashes them: for
    /// sources that hold whole files (a world on disk, test fakes).
    pub fn write(dest: &Path, bytes: &[u8]) -> Result<Fetched, SourceError> {
        std::fs::write(dest, bytes).map_err(SourceError::transient)?;
        Ok(Fetched {
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        })
    }
}

/// The audit data side of the network.
pub trait AuditSource: Send + Sync {
    /// Every entry the network lists now, and the elements it could not
    /// read (skipped and reported, never fatal).
    fn list_entries(&self) -> impl Future<Output = Result<Listing, SourceError>> + Send;
    /// A report, exactly as served, written to `dest` (a staging file in
    /// the lake) while it is hashed: its bytes are read back only once the
    /// hash matches the chain, so a lying server's body never has to fit
    /// in memory.
    fn report(
        &self,
        path: &str,
        dest: &Path,
    ) -> impl Future<Output = Result<Fetched, SourceError>> + Send;
    /// An export from a validator's base URL, by its report path, written
    /// to `dest` (a staging file in the lake) while it is hashed, so the
    /// body never has to fit in memory.
    fn export(
        &self,
        validator_url: &str,
        path: &str,
        dest: &Path,
    ) -> impl Future<Output = Result<Fetched, SourceError>> + Send;
    /// The latest GPU count per chute.
    fn gpu_counts(&self) -> impl Future<Output = Result<Vec<GpuCount>, SourceError>> + Send;
}

/// The chain side.
pub trait ChainSource: Send + Sync {
    /// What `hotkey` had committed as of `block`.
    fn commitment(
        &self,
        hotkey: &str,
        block: u32,
    ) -> impl Future<Output = Result<Commitment, SourceError>> + Send;
    /// The subnet's neurons now.
    fn metagraph(&self) -> impl Future<Output = Result<MetagraphSnapshot, SourceError>> + Send;
    /// Whether this source proves what it answers (each read against its
    /// block's state root) or passes on a node's word. Required, not
    /// defaulted: a source must say which, and the catalog records it with
    /// every entry whose commitment it read.
    fn proves_reads(&self) -> bool;
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
