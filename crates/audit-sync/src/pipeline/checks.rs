//! The checks an entry must pass, shared with [`crate::verify_entry`]: its
//! id, its report's download, and the report's commitment on chain.

use std::path::Path;

use audit_store::{AuditEntry, StoreError};

use super::blocking::off_runtime;
use super::fault::Fault;
use crate::source::{AuditSource, ChainSource, Commitment, Fetched};

/// The UUIDv5 upstream derives an entry id from: `"{hotkey}.{block}"` in
/// the OID namespace.
pub fn expected_entry_id(hotkey: &str, block: u32) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{hotkey}.{block}").as_bytes(),
    )
    .hyphenated()
    .to_string()
}

/// Downloads an entry's report into `dest` while hashing it.
pub(crate) async fn fetch_report<A: AuditSource>(
    source: &A,
    entry: &AuditEntry,
    dest: &Path,
) -> Result<Fetched, Fault> {
    source
        .report(&entry.path, dest)
        .await
        .map_err(|e| Fault::from_source("downloading the report", e))
}

/// Reads back a downloaded report whose hash has been checked: only then
/// do its bytes enter memory (at most the source's report cap).
pub(crate) async fn read_report(path: &Path) -> Result<Vec<u8>, Fault> {
    let path = path.to_path_buf();
    off_runtime(move || {
        std::fs::read(&path).map_err(|source| Fault::Store(StoreError::Io { path, source }))
    })
    .await
}

/// What the chain proves of a report.
pub(crate) enum Verdict {
    /// Committed by the entry's hotkey at the entry's block.
    Verified,
    /// The chain no longer holds the state to tell.
    Unverifiable,
}

/// Checks a report's sha256 against the commitment the entry's hotkey
/// made at the entry's block.
pub(crate) async fn verify_commitment<C: ChainSource>(
    chain: &C,
    entry: &AuditEntry,
    report_sha: &str,
) -> Result<Verdict, Fault> {
    let commitment = chain
        .commitment(&entry.hotkey, entry.block)
        .await
        .map_err(|e| Fault::from_source("reading the commitment", e))?;
    match commitment {
        Commitment::Sha256 { sha256, block } if hex::encode(sha256) == report_sha => {
            if block == entry.block {
                Ok(Verdict::Verified)
            } else {
                Err(Fault::Integrity(format!(
                    "the report was committed at block {block}, not at the entry's block {}: an old report re-listed",
                    entry.block
                )))
            }
        }
        Commitment::Sha256 { sha256, .. } => Err(Fault::Integrity(format!(
            "report sha256 {report_sha} differs from the commitment {} at block {}",
            hex::encode(sha256),
            entry.block
        ))),
        Commitment::None => Err(Fault::Integrity(format!(
            "no commitment by {} at block {}",
            entry.hotkey, entry.block
        ))),
        Commitment::Pruned => Ok(Verdict::Unverifiable),
    }
}
