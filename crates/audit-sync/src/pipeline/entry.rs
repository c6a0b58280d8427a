//! One entry's steps: fetch the report, verify it, load its exports or
//! self-report into the lake, and settle a fault.

use std::path::PathBuf;
use std::sync::Arc;

use audit_store::{
    AuditEntry, EntrySource, ExportKind, ExportRecord, FactTable, LoadedEntry, SelfReportFacts,
    Store, StoreError, Verified,
};
use chrono::NaiveDateTime;

use super::batch::Written;
use super::blocking::off_runtime;
use super::checks::{fetch_report, read_report, verify_commitment, Verdict};
use super::fault::{rejection, Fault, FaultKind, Rejection, SyncError};
use super::options::SyncOptions;
use crate::exports::{parse_export, ExportError, ParseStats};
use crate::report::{parse_miner_report, parse_validator_report, ExportRef, ReportError};
use crate::source::{AuditSource, ChainSource, Fetched};

pub(super) enum Outcome {
    Loaded {
        stats: ParseStats,
        bytes: u64,
        unverifiable: bool,
    },
    /// In the lake but not yet durable nor in the catalog: a self-report
    /// for its batch ([`commit_written`](super::batch::commit_written)).
    Written(Box<Written>),
    /// A self-report in a batch not yet committed.
    Waiting,
    /// A batch of self-reports made durable and marked loaded.
    Committed(Vec<Written>),
    Unverifiable,
    Unconfigured,
    Rejected(Rejection),
    Failed(Rejection),
}

/// Verifies and loads one entry. Store failures abort the run; every
/// other fault is an outcome for this entry alone.
pub(super) async fn load_entry<A: AuditSource, C: ChainSource>(
    store: &Arc<Store>,
    source: &A,
    chain: &C,
    entry: &AuditEntry,
    options: &SyncOptions,
) -> Result<Outcome, SyncError> {
    let mut report_sha = None;
    match steps(store, source, chain, entry, options, &mut report_sha).await {
        Ok(outcome) => Ok(outcome),
        Err(fault) => settle(store, entry, report_sha.as_deref(), fault, options.at).await,
    }
}

/// Records a fault: integrity and malformed faults reject the entry (its
/// lake folder removed), transient ones leave it for the next run.
pub(super) async fn settle(
    store: &Store,
    entry: &AuditEntry,
    report_sha: Option<&str>,
    fault: Fault,
    now: NaiveDateTime,
) -> Result<Outcome, SyncError> {
    let Some(kind) = fault.kind() else {
        return match fault {
            Fault::Store(e) => Err(e.into()),
            _ => unreachable!("only a store fault has no kind"),
        };
    };
    let rejected = rejection(entry, &fault, kind);
    if kind == FaultKind::Transient {
        return Ok(Outcome::Failed(rejected));
    }
    // Nothing of a rejected entry stays in the lake.
    store.lake().prune(&entry.entry_id)?;
    store
        .catalog()
        .reject(&entry.entry_id, &rejected.reason, report_sha, now)
        .await?;
    Ok(Outcome::Rejected(rejected))
}

/// The steps of one entry, in order.
async fn steps<A: AuditSource, C: ChainSource>(
    store: &Arc<Store>,
    source: &A,
    chain: &C,
    entry: &AuditEntry,
    options: &SyncOptions,
    report_sha: &mut Option<String>,
) -> Result<Outcome, Fault> {
    let now = options.at;
    let id = entry.entry_id.as_str();
    let validator_url = match entry.source {
        EntrySource::Validator => match options.validators.get(&entry.hotkey) {
            Some(url) => Some(url.as_str()),
            // The catalog's source of an entry outlives the configuration
            // that decided it: a validator removed since is skipped.
            None => {
                tracing::warn!(entry = id, hotkey = %entry.hotkey, "validator no longer configured; skipped");
                return Ok(Outcome::Unconfigured);
            }
        },
        EntrySource::Miner => None,
    };
    let staged = StagedReport::new(store.lake().report_staging_path(id)?);
    let fetched = fetch_report(source, entry, &staged.path).await?;
    let sha = fetched.sha256;
    *report_sha = Some(sha.clone());
    let proven = chain.proves_reads();
    let unverifiable = match verify_commitment(chain, entry, &sha).await? {
        Verdict::Verified => false,
        Verdict::Unverifiable if options.load_unverifiable => true,
        Verdict::Unverifiable => {
            let verdict = Verified::unverifiable(&sha, proven);
            store.catalog().mark_verified(id, &verdict, now).await?;
            return Ok(Outcome::Unverifiable);
        }
    };
    // A self-report's verdict is recorded with its load, in its batch's
    // one transaction (ten thousand round trips a week fewer); a crash
    // before it leaves the entry pending, loaded again next run.
    if validator_url.is_some() {
        let verdict = Verified {
            report_sha256: &sha,
            unverifiable,
            commitment_proven: proven,
        };
        store.catalog().mark_verified(id, &verdict, now).await?;
    }
    let mut loaded = match validator_url {
        Some(url) => load_validator_report(store, source, entry, url, staged).await?,
        None => load_miner_report(store, entry, staged).await?,
    };
    if options.crash_before_catalog {
        return Err(Fault::Store(StoreError::Corrupt(
            "injected crash between the lake write and the catalog update".into(),
        )));
    }
    loaded.record.report_sha256 = sha;
    loaded.record.unverifiable = unverifiable;
    loaded.record.commitment_proven = Some(proven);
    if let Some(unsynced) = loaded.unsynced {
        return Ok(Outcome::Written(Box::new(Written {
            entry_id: id.to_string(),
            record: loaded.record,
            report: unsynced.report,
            facts: unsynced.facts,
            stats: loaded.stats,
            bytes: loaded.bytes,
            unverifiable,
        })));
    }
    store.catalog().mark_loaded(id, &loaded.record, now).await?;
    Ok(Outcome::Loaded {
        stats: loaded.stats,
        bytes: loaded.bytes,
        unverifiable,
    })
}

/// A report's staging file in the lake: removed when dropped, whatever
/// the entry's fate, unless it was moved into place first.
struct StagedReport {
    path: PathBuf,
}

impl StagedReport {
    fn new(path: PathBuf) -> Self {
        StagedReport { path }
    }
}

impl Drop for StagedReport {
    fn drop(&mut self) {
        // Gone already once committed (renamed into place).
        let _ = std::fs::remove_file(&self.path);
        // The entry's folder, made for the staging file, goes too when
        // nothing else is in it: a folder in the lake means loaded files.
        if let Some(folder) = self.path.parent() {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

/// What loading an entry's files produced, before the catalog records it.
struct Loaded {
    record: LoadedEntry,
    stats: ParseStats,
    bytes: u64,
    /// A self-report's report, written without a sync, and its facts,
    /// not yet written: the entry is marked loaded only once its batch
    /// is durable.
    unsynced: Option<Unsynced>,
}

/// What a self-report leaves for its batch.
struct Unsynced {
    report: PathBuf,
    facts: SelfReportFacts,
}

async fn load_validator_report<A: AuditSource>(
    store: &Arc<Store>,
    source: &A,
    entry: &AuditEntry,
    validator_url: &str,
    staged: StagedReport,
) -> Result<Loaded, Fault> {
    let id = entry.entry_id.as_str();
    let report = read_report(&staged.path).await?;
    let parsed = parse_validator_report(&report).map_err(|e| Fault::malformed("report", e))?;
    let mut bytes = report.len() as u64;
    drop(report);
    commit_report(store, id, staged).await?;
    let mut stats = ParseStats::default();
    let mut exports = Vec::new();
    for export in &parsed.exports {
        let staged = verify_export(store, source, id, validator_url, export).await?;
        bytes += staged.bytes;
        let export_stats = parse_export_file(store, id, export).await?;
        exports.push(ExportRecord {
            kind: export.kind,
            path: export.path.clone(),
            sha256: export.sha256.clone(),
            bytes: staged.bytes,
            row_count: export_stats.rows,
            malformed_rows: export_stats.malformed_rows,
        });
        stats.rows += export_stats.rows;
        stats.malformed_rows += export_stats.malformed_rows;
        stats.malformed_metrics += export_stats.malformed_metrics;
        stats.not_miner_work += export_stats.not_miner_work;
    }
    let mut audits = parsed.instance_audits;
    let instance_rows = audits.height() as u64;
    let (store, entry_id) = (store.clone(), id.to_string());
    off_runtime(move || {
        store
            .lake()
            .write_facts(&entry_id, FactTable::InstanceAudits, &mut audits)
    })
    .await?;
    stats.malformed_rows += parsed.malformed_records;
    Ok(Loaded {
        record: LoadedEntry {
            report_sha256: String::new(),
            unverifiable: false,
            commitment_proven: None,
            instance_rows,
            exports,
        },
        stats,
        bytes,
        unsynced: None,
    })
}

/// Moves a validator's verified report into place, durably.
async fn commit_report(store: &Arc<Store>, id: &str, staged: StagedReport) -> Result<(), Fault> {
    let (store, id) = (store.clone(), id.to_string());
    off_runtime(move || store.lake().commit_report(&staged.path, &id, true)).await?;
    Ok(())
}

/// Downloads one export into a staging file of the lake while hashing it,
/// checks the hash against the report, and only then moves it into place.
/// The path is checked first, decoded, as any server would read it: an
/// unsafe path in a committed report is an integrity violation.
async fn verify_export<A: AuditSource>(
    store: &Store,
    source: &A,
    id: &str,
    validator_url: &str,
    export: &ExportRef,
) -> Result<Fetched, Fault> {
    audit_model::path::check_export_path(&export.path)
        .map_err(|e| Fault::Integrity(format!("the report names an unsafe export path {e}")))?;
    let staging = store.lake().staging_path(id, export.kind)?;
    let fetched = source.export(validator_url, &export.path, &staging).await;
    let checked = match fetched {
        Err(e) => Err(Fault::from_source(
            format!("downloading export {}", export.path),
            e,
        )),
        Ok(f) if f.sha256 != export.sha256 => Err(Fault::Integrity(format!(
            "export {} has sha256 {}, the report says {}",
            export.path, f.sha256, export.sha256
        ))),
        Ok(f) => Ok(f),
    };
    match checked {
        Ok(fetched) => {
            store.lake().commit_export(&staging, id, export.kind)?;
            Ok(fetched)
        }
        Err(fault) => {
            // A refused body leaves nothing behind.
            let _ = std::fs::remove_file(&staging);
            Err(fault)
        }
    }
}

/// Parses a verified export from its lake file into its fact table, off
/// the async workers, streaming: memory is one batch, not the file.
async fn parse_export_file(
    store: &Arc<Store>,
    id: &str,
    export: &ExportRef,
) -> Result<ParseStats, Fault> {
    let table = match export.kind {
        ExportKind::Invocations => FactTable::Invocations,
        ExportKind::Reports => FactTable::Reports,
        ExportKind::Jobs => FactTable::Jobs,
    };
    let (store, entry_id, kind) = (store.clone(), id.to_string(), export.kind);
    let parsed = off_runtime(move || -> Result<ParseStats, ExportError> {
        let path = store.lake().export_path(&entry_id, kind)?;
        let file = std::fs::File::open(&path).map_err(|source| StoreError::Io { path, source })?;
        let schema = audit_store::facts::schema(table);
        let mut writer = store.lake().fact_writer(&entry_id, table, &schema)?;
        let stats = parse_export(table, std::io::BufReader::new(file), |batch| {
            writer.write(&batch).map_err(Into::into)
        })?;
        writer.finish()?;
        Ok(stats)
    })
    .await;
    parsed.map_err(|e| match e {
        ExportError::Store(e) => Fault::Store(e),
        other => Fault::malformed(format!("export {}", export.path), other),
    })
}

async fn load_miner_report(
    store: &Arc<Store>,
    entry: &AuditEntry,
    staged: StagedReport,
) -> Result<Loaded, Fault> {
    let report = read_report(&staged.path).await?;
    let bytes = report.len() as u64;
    let (store, entry_id) = (store.clone(), entry.entry_id.clone());
    // Unsynced, and the facts kept in memory: the sync's self-reports are
    // written as one batch and made durable together.
    let parsed = off_runtime(move || -> Result<_, Fault> {
        let report_file = store.lake().commit_report(&staged.path, &entry_id, false)?;
        let parsed =
            parse_miner_report(&report).map_err(|e: ReportError| Fault::malformed("report", e))?;
        let instance_rows = parsed.instance_audits.height() as u64;
        let facts = SelfReportFacts {
            entry_id,
            tables: vec![
                (FactTable::MinerMetrics, parsed.metrics),
                (FactTable::InstanceAudits, parsed.instance_audits),
            ],
        };
        Ok((instance_rows, parsed.malformed_records, report_file, facts))
    })
    .await?;
    let (instance_rows, malformed, report_file, facts) = parsed;
    Ok(Loaded {
        record: LoadedEntry {
            report_sha256: String::new(),
            unverifiable: false,
            commitment_proven: None,
            instance_rows,
            exports: Vec::new(),
        },
        stats: ParseStats {
            malformed_rows: malformed,
            ..ParseStats::default()
        },
        bytes,
        unsynced: Some(Unsynced {
            report: report_file,
            facts,
        }),
    })
}
