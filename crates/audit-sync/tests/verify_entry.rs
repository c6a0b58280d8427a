//! `verify_entry`: one entry checked against the chain and its report,
//! nothing kept, over an in-memory network and chain.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use audit_model::{AuditEntry, EntrySource, ExportKind, Listing};
use audit_store::{GpuCount, MetagraphSnapshot};
use audit_sync::*;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};

const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const URL: &str = "http://validator.test";
const BLOCK: u32 = 4200;
const INVOCATIONS: &str = "invocation_id,miner_uid\nabc,1\n";
const REPORTS: &str = "invocation_id,reason\n";
const JOBS: &str = "job_id,miner_uid\n";

#[derive(Default)]
struct Net {
    files: Mutex<HashMap<String, Vec<u8>>>,
}

impl AuditSource for Net {
    async fn list_entries(&self) -> Result<Listing, SourceError> {
        Ok(Listing::default())
    }
    async fn report(&self, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let body = self.files.lock().unwrap().get(path).cloned();
        let body = body.ok_or_else(|| SourceError::refused(format!("404 {path}")))?;
        Fetched::write(dest, &body)
    }
    async fn export(&self, base: &str, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let body = self
            .files
            .lock()
            .unwrap()
            .get(&format!("{base}|{path}"))
            .cloned();
        let body = body.ok_or_else(|| SourceError::refused(format!("404 {path}")))?;
        Fetched::write(dest, &body)
    }
    async fn gpu_counts(&self) -> Result<Vec<GpuCount>, SourceError> {
        Ok(Vec::new())
    }
}

struct Chain(Commitment);

impl ChainSource for Chain {
    // A test double: its answers are the test's own, taken as proven.
    fn proves_reads(&self) -> bool {
        true
    }

    async fn commitment(&self, _hotkey: &str, _block: u32) -> Result<Commitment, SourceError> {
        Ok(self.0.clone())
    }
    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        Err(SourceError::refused("not needed"))
    }
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A validator entry whose report names three exports, the network serving
/// them, and the report's bytes.
fn world() -> (AuditEntry, Net, Vec<u8>) {
    let stem = "invocations/2025/02/10/01";
    let report = format!(
        r#"{{"instance_audit": [], "csv_exports": {{
            "invocations": {{"path": "{stem}.csv", "sha256": "{}"}},
            "reports": {{"path": "{stem}-reports.csv", "sha256": "{}"}},
            "jobs": {{"path": "{stem}-jobs.csv", "sha256": "{}"}}}}}}"#,
        hex::encode(sha(INVOCATIONS.as_bytes())),
        hex::encode(sha(REPORTS.as_bytes())),
        hex::encode(sha(JOBS.as_bytes())),
    );
    let path = format!("audit/validator/{VALIDATOR}/{BLOCK}.json");
    let net = Net::default();
    {
        let mut files = net.files.lock().unwrap();
        files.insert(path.clone(), report.clone().into_bytes());
        files.insert(format!("{URL}|{stem}.csv"), INVOCATIONS.into());
        files.insert(format!("{URL}|{stem}-reports.csv"), REPORTS.into());
        files.insert(format!("{URL}|{stem}-jobs.csv"), JOBS.into());
    }
    let end = NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(1, 0, 0)
        .unwrap();
    let entry = AuditEntry {
        entry_id: expected_entry_id(VALIDATOR, BLOCK),
        hotkey: VALIDATOR.into(),
        block: BLOCK,
        path,
        source: EntrySource::Validator,
        created_at: end,
        start_time: end - chrono::Duration::hours(1),
        end_time: end,
    };
    (entry, net, report.into_bytes())
}

fn committed(report: &[u8]) -> Chain {
    Chain(Commitment::Sha256 {
        sha256: sha(report),
        block: BLOCK,
    })
}

#[tokio::test]
async fn a_committed_entry_is_proven_with_each_export_and_nothing_is_kept() {
    let (entry, net, report) = world();
    let scratch = tempfile::tempdir().unwrap();
    let proof = verify_entry(&net, &committed(&report), &entry, URL, scratch.path())
        .await
        .unwrap();
    assert_eq!(proof.report_sha256, hex::encode(sha(&report)));
    assert!(!proof.unverifiable);
    let kinds: Vec<ExportKind> = proof.exports.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 3);
    assert!(kinds.contains(&ExportKind::Invocations));
    let invocations = proof
        .exports
        .iter()
        .find(|e| e.kind == ExportKind::Invocations)
        .unwrap();
    assert_eq!(invocations.bytes, INVOCATIONS.len() as u64);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);

    // A pruned node cannot tell: said, and the exports are still checked.
    let proof = verify_entry(
        &net,
        &Chain(Commitment::Pruned),
        &entry,
        URL,
        scratch.path(),
    )
    .await
    .unwrap();
    assert!(proof.unverifiable);
    assert_eq!(proof.exports.len(), 3);
}

#[tokio::test]
async fn each_way_an_entry_can_be_false_is_an_integrity_fault() {
    let (entry, net, report) = world();
    let scratch = tempfile::tempdir().unwrap();
    let integrity = |result: Result<EntryProof, Fault>| match result {
        Err(Fault::Integrity(reason)) => reason,
        other => panic!("expected an integrity fault, got {other:?}"),
    };

    // Another report than the one committed.
    let other = Chain(Commitment::Sha256 {
        sha256: [7; 32],
        block: BLOCK,
    });
    let reason = integrity(verify_entry(&net, &other, &entry, URL, scratch.path()).await);
    assert!(reason.contains("differs from the commitment"), "{reason}");

    // The right report, committed at another block: an old one re-listed.
    let moved = Chain(Commitment::Sha256 {
        sha256: sha(&report),
        block: BLOCK - 1,
    });
    let reason = integrity(verify_entry(&net, &moved, &entry, URL, scratch.path()).await);
    assert!(reason.contains("re-listed"), "{reason}");

    // An export that is not what the report says.
    net.files.lock().unwrap().insert(
        format!("{URL}|invocations/2025/02/10/01.csv"),
        b"invocation_id,miner_uid\nforged,1\n".to_vec(),
    );
    let reason =
        integrity(verify_entry(&net, &committed(&report), &entry, URL, scratch.path()).await);
    assert!(reason.contains("invocations/2025/02/10/01.csv"), "{reason}");
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);

    // An id that its hotkey and block do not derive.
    let mut renamed = entry.clone();
    renamed.entry_id = expected_entry_id(VALIDATOR, BLOCK + 1);
    let reason =
        integrity(verify_entry(&net, &committed(&report), &renamed, URL, scratch.path()).await);
    assert!(reason.contains("entry id"), "{reason}");
}
