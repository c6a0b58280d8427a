//! One entry checked against the chain, keeping nothing: the checks of
//! [`crate::sync`] for someone who wants to verify a single report and its
//! exports (another validator, a miner disputing an hour) without a store.

use std::path::Path;

use audit_model::{AuditEntry, EntrySource, ExportKind};
use serde::Serialize;

use crate::pipeline::{
    expected_entry_id, fetch_report, off_runtime, read_report, verify_commitment, Fault, Verdict,
};
use crate::report::parse_validator_report;
use crate::source::{AuditSource, ChainSource};

/// What [`verify_entry`] proved of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryProof {
    /// The entry.
    pub entry_id: String,
    /// Its publisher.
    pub hotkey: String,
    /// The block its commitment was made at.
    pub block: u32,
    /// The sha256 of the report as served, which the chain holds.
    pub report_sha256: String,
    /// The chain no longer holds the state of the entry's block, so the
    /// report could not be checked against it (an archive node can): the
    /// exports were still checked against the report.
    pub unverifiable: bool,
    /// Each export the report names, downloaded and matched to its hash.
    /// Empty for a miner's self-report, which names none.
    pub exports: Vec<VerifiedExport>,
}

/// An export whose bytes hash to what the report says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedExport {
    /// Which export.
    pub kind: ExportKind,
    /// Its path, as the report names it.
    pub path: String,
    /// Its sha256, as the report names it and the bytes gave.
    pub sha256: String,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// Checks one entry as sync does, without loading it: the entry id is the
/// one its hotkey and block derive, the report's sha256 is the commitment
/// the hotkey made at the entry's block, and (for a validator's entry)
/// each export downloaded from `exports_from` hashes to what the report
/// says. The report and the exports pass through files in `scratch`,
/// removed afterwards.
///
/// A check that fails is [`Fault::Integrity`] (or `Malformed`); a network
/// or chain failure is `Transient` and worth retrying.
pub async fn verify_entry<A: AuditSource, C: ChainSource>(
    source: &A,
    chain: &C,
    entry: &AuditEntry,
    exports_from: &str,
    scratch: &Path,
) -> Result<EntryProof, Fault> {
    let entry = entry.clone().normalised();
    if expected_entry_id(&entry.hotkey, entry.block) != entry.entry_id {
        return Err(Fault::Integrity(
            "malformed entry id: not the UUIDv5 of hotkey.block".into(),
        ));
    }
    // The report too passes through a file: its bytes are read only once
    // the chain has vouched for their hash.
    let report_file = scratch.join("report.json");
    let checked = async {
        let report_sha256 = fetch_report(source, &entry, &report_file).await?.sha256;
        let verdict = verify_commitment(chain, &entry, &report_sha256).await?;
        let report = read_report(&report_file).await?;
        Ok::<_, Fault>((report_sha256, verdict, report))
    }
    .await;
    // Nothing is kept, whatever the outcome.
    let _ = std::fs::remove_file(&report_file);
    let (report_sha256, verdict, report) = checked?;
    let exports = match EntrySource::of_report_path(&entry.path) {
        EntrySource::Miner => Vec::new(),
        EntrySource::Validator => verify_exports(source, report, exports_from, scratch).await?,
    };
    Ok(EntryProof {
        entry_id: entry.entry_id,
        hotkey: entry.hotkey,
        block: entry.block,
        report_sha256,
        unverifiable: matches!(verdict, Verdict::Unverifiable),
        exports,
    })
}

async fn verify_exports<A: AuditSource>(
    source: &A,
    report: Vec<u8>,
    exports_from: &str,
    scratch: &Path,
) -> Result<Vec<VerifiedExport>, Fault> {
    // Parsing builds polars frames, which must not run on an async worker.
    let parsed = off_runtime(move || parse_validator_report(&report))
        .await
        .map_err(|e| Fault::malformed("report", e))?;
    let mut verified = Vec::new();
    for export in parsed.exports {
        audit_model::path::check_export_path(&export.path)
            .map_err(|e| Fault::Integrity(format!("the report names an unsafe export path {e}")))?;
        let dest = scratch.join(format!("{}.csv", export.kind.as_str()));
        let fetched = source.export(exports_from, &export.path, &dest).await;
        // Nothing is kept, whatever the outcome.
        let _ = std::fs::remove_file(&dest);
        let fetched = fetched
            .map_err(|e| Fault::from_source(format!("downloading export {}", export.path), e))?;
        if fetched.sha256 != export.sha256 {
            return Err(Fault::Integrity(format!(
                "export {} has sha256 {}, the report says {}",
                export.path, fetched.sha256, export.sha256
            )));
        }
        verified.push(VerifiedExport {
            kind: export.kind,
            path: export.path,
            sha256: fetched.sha256,
            bytes: fetched.bytes,
        });
    }
    Ok(verified)
}
