//! The ingest pipeline: list → download → verify → parse → load.
//!
//! The network and the chain come in through two traits, [`AuditSource`]
//! and [`ChainSource`], so the same pipeline runs against the public
//! network, the devnet, or an in-memory fake in a unit test.
//!
//! Order of writes, for crash safety: raw evidence and Parquet facts go to
//! the lake first (each file atomically), and the catalog marks the entry
//! loaded last, in one transaction. A crash anywhere leaves the entry not
//! loaded; the next run redoes it, overwriting its files, so there are no
//! duplicates, and [`audit_store::Lake::clean_leftovers`] removes any
//! half-written temporary file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use audit_store::{
    AuditEntry, EntrySource, EntryState, ExportKind, ExportRecord, FactTable, GpuCount,
    LoadedEntry, MetagraphSnapshot, Store,
};
use chrono::{Duration, NaiveDateTime};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::exports::{parse_export, ParseStats};
use crate::report::{parse_miner_report, parse_validator_report};

/// A transient or permanent failure of a source, with what was asked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// What the chain says about a commitment at a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commitment {
    /// The committed sha256.
    Sha256([u8; 32]),
    /// The account committed nothing (or not a Sha256 field).
    None,
    /// The node no longer holds that block's state.
    Pruned,
}

/// The audit data side of the network.
pub trait AuditSource: Send + Sync {
    /// Every entry the network lists now.
    fn list_entries(&self) -> impl Future<Output = Result<Vec<AuditEntry>, SourceError>> + Send;
    /// A report's bytes, exactly as served.
    fn report(&self, path: &str) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
    /// An export's bytes from a validator's base URL, by its report path.
    fn export(
        &self,
        validator_url: &str,
        path: &str,
    ) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
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
}

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Evaluation time: the window is the `window_days` before it.
    pub at: NaiveDateTime,
    pub window_days: u32,
    /// Validator hotkey → base URL of its exports.
    pub validators: BTreeMap<String, String>,
    /// Load only this hotkey's entries.
    pub hotkey: Option<String>,
    pub miner_reports: bool,
    /// Load entries whose commitment is pruned, flagged.
    pub load_unverifiable: bool,
    /// Parallel entries.
    pub concurrency: usize,
    /// Test hook: fail after the lake is written, before the catalog is.
    pub crash_before_catalog: bool,
}

/// Why an entry was rejected, for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub entry_id: String,
    pub hotkey: String,
    pub block: u32,
    pub reason: String,
    /// A tampered or uncommitted report or export: pages someone.
    pub integrity: bool,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    pub listed: usize,
    pub loaded: usize,
    pub already_loaded: usize,
    pub unverifiable: usize,
    pub skipped: usize,
    pub rejected: Vec<Rejection>,
    /// Transient failures: retried next run.
    pub failed: Vec<Rejection>,
    pub pruned: usize,
    pub leftovers_cleaned: u64,
    pub rows: u64,
    /// Invocation ids of newly loaded entries that the neighbouring hour's
    /// export also holds (they straddle the hour; scoring counts them once).
    pub duplicates_collapsed: u64,
    pub malformed_rows: u64,
    pub malformed_metrics: u64,
    pub not_miner_work: u64,
    pub bytes: u64,
    pub metagraph_block: Option<u32>,
    pub gpu_counts: usize,
}

impl SyncSummary {
    /// Whether anything failed an integrity check.
    pub fn integrity_violation(&self) -> bool {
        self.rejected.iter().any(|r| r.integrity)
    }
}

/// Failures that stop the whole run (the store), as opposed to one entry.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    #[error("listing audit entries failed: {0}")]
    List(SourceError),
}

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

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

enum Outcome {
    Loaded {
        stats: ParseStats,
        bytes: u64,
        unverifiable: bool,
    },
    Unverifiable,
    Rejected(Rejection),
    Failed(Rejection),
}

/// One sync run. `progress` is called after each entry with (done, total,
/// bytes so far).
pub async fn sync<A: AuditSource, C: ChainSource>(
    store: Arc<Store>,
    source: Arc<A>,
    chain: Arc<C>,
    options: &SyncOptions,
    progress: impl Fn(usize, usize, u64) + Send + Sync,
) -> Result<SyncSummary, SyncError> {
    let mut summary = SyncSummary {
        leftovers_cleaned: store.lake().clean_leftovers()?,
        ..SyncSummary::default()
    };
    let window_start = options.at - Duration::days(i64::from(options.window_days));
    let now = options.at;

    // List, keep what is ours and in the window, and check ids.
    let listed = source.list_entries().await.map_err(SyncError::List)?;
    summary.listed = listed.len();
    let mut wanted = Vec::new();
    for mut entry in listed {
        if entry.created_at < window_start || entry.created_at > options.at {
            continue;
        }
        entry.source = if options.validators.contains_key(&entry.hotkey) {
            EntrySource::Validator
        } else if EntrySource::of_report_path(&entry.path) == EntrySource::Miner {
            if !options.miner_reports {
                summary.skipped += 1;
                continue;
            }
            EntrySource::Miner
        } else {
            summary.skipped += 1;
            continue;
        };
        if options.hotkey.as_ref().is_some_and(|h| *h != entry.hotkey) {
            summary.skipped += 1;
            continue;
        }
        if expected_entry_id(&entry.hotkey, entry.block) != entry.entry_id.to_ascii_lowercase() {
            summary.rejected.push(Rejection {
                entry_id: entry.entry_id.clone(),
                hotkey: entry.hotkey.clone(),
                block: entry.block,
                reason: "malformed entry: entry_id is not the UUIDv5 of hotkey.block".into(),
                integrity: true,
            });
            continue;
        }
        wanted.push(entry);
    }
    store.catalog().record_listed(&wanted, now).await?;

    // Prune what left the window, in the catalog and the lake, and any lake
    // folder the catalog does not hold as loaded (a crashed load).
    let pruned = store.catalog().prune_entries_before(window_start).await?;
    for id in &pruned {
        store.lake().prune(id)?;
    }
    summary.pruned = pruned.len();
    let loaded: HashSet<String> = store
        .catalog()
        .entries_in_states(&[EntryState::Loaded], window_start)
        .await?
        .into_iter()
        .map(|e| e.entry.entry_id)
        .collect();
    for orphan in store.lake().entry_ids()? {
        if !loaded.contains(&orphan) {
            store.lake().prune(&orphan)?;
        }
    }

    let wanted_ids: HashMap<String, AuditEntry> = wanted
        .into_iter()
        .map(|e| (e.entry_id.to_ascii_lowercase(), e))
        .collect();
    let todo: Vec<AuditEntry> = store
        .catalog()
        .entries_in_states(
            &[
                EntryState::Pending,
                EntryState::Verified,
                EntryState::Unverifiable,
                EntryState::Rejected,
            ],
            window_start,
        )
        .await?
        .into_iter()
        .filter(|e| wanted_ids.contains_key(&e.entry.entry_id))
        .map(|e| e.entry)
        .collect();
    summary.already_loaded = wanted_ids.len().saturating_sub(todo.len());

    let total = todo.len();
    let mut done = 0;
    let mut newly_loaded = Vec::new();
    let mut results = stream::iter(todo)
        .map(|entry| {
            let store = store.clone();
            let source = source.clone();
            let chain = chain.clone();
            async move {
                let outcome = load_entry(&store, &*source, &*chain, &entry, options).await;
                (entry, outcome)
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    while let Some((entry, outcome)) = results.next().await {
        done += 1;
        match outcome? {
            Outcome::Loaded {
                stats,
                bytes,
                unverifiable,
            } => {
                summary.loaded += 1;
                if entry.source == EntrySource::Validator {
                    newly_loaded.push(entry.entry_id.clone());
                }
                summary.unverifiable += usize::from(unverifiable);
                summary.rows += stats.rows;
                summary.malformed_rows += stats.malformed_rows;
                summary.malformed_metrics += stats.malformed_metrics;
                summary.not_miner_work += stats.not_miner_work;
                summary.bytes += bytes;
            }
            Outcome::Unverifiable => summary.unverifiable += 1,
            Outcome::Rejected(r) => summary.rejected.push(r),
            Outcome::Failed(r) => summary.failed.push(r),
        }
        tracing::debug!(entry = %entry.entry_id, done, total, "entry processed");
        progress(done, total, summary.bytes);
    }
    drop(results);
    summary.duplicates_collapsed =
        straddling_duplicates(&store, &newly_loaded, window_start, options.at).await?;

    // The chain and catalogue facts scoring needs next to the lake.
    match chain.metagraph().await {
        Ok(mut snapshot) => {
            snapshot.taken_at = now;
            summary.metagraph_block = Some(snapshot.block);
            store.catalog().record_metagraph(&snapshot).await?;
        }
        Err(e) => tracing::warn!("metagraph not refreshed: {e}"),
    }
    match source.gpu_counts().await {
        Ok(counts) => {
            summary.gpu_counts = counts.len();
            store.catalog().replace_gpu_counts(&counts, now).await?;
        }
        Err(e) => tracing::warn!("GPU counts not refreshed: {e}"),
    }
    summary
        .rejected
        .sort_by(|a, b| (a.block, &a.hotkey).cmp(&(b.block, &b.hotkey)));
    summary
        .failed
        .sort_by(|a, b| (a.block, &a.hotkey).cmp(&(b.block, &b.hotkey)));
    Ok(summary)
}

/// Verifies and loads one entry. Store failures abort the run; everything
/// else is an outcome for this entry alone.
async fn load_entry<A: AuditSource, C: ChainSource>(
    store: &Arc<Store>,
    source: &A,
    chain: &C,
    entry: &AuditEntry,
    options: &SyncOptions,
) -> Result<Outcome, SyncError> {
    let now = options.at;
    let id = entry.entry_id.as_str();
    let rejection = |reason: String, integrity: bool| Rejection {
        entry_id: id.to_string(),
        hotkey: entry.hotkey.clone(),
        block: entry.block,
        reason,
        integrity,
    };
    let reject = |reason: String, sha: Option<String>| async move {
        // Nothing of a rejected entry stays in the lake.
        store.lake().prune(id)?;
        store
            .catalog()
            .reject(id, &reason, sha.as_deref(), now)
            .await?;
        Ok::<_, SyncError>(Outcome::Rejected(rejection(reason, true)))
    };

    let report = match source.report(&entry.path).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Ok(Outcome::Failed(rejection(
                format!("downloading the report: {e}"),
                false,
            )))
        }
    };
    let report_sha = sha256_hex(&report);
    let validator = entry.source == EntrySource::Validator;

    let commitment = match chain.commitment(&entry.hotkey, entry.block).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(Outcome::Failed(rejection(
                format!("reading the commitment: {e}"),
                false,
            )))
        }
    };
    let mut unverifiable = false;
    match commitment {
        Commitment::Sha256(hash) if hex::encode(hash) == report_sha => {}
        Commitment::Sha256(hash) if validator => {
            return reject(
                format!("integrity: report sha256 {report_sha} differs from the commitment {} at block {}", hex::encode(hash), entry.block),
                Some(report_sha),
            )
            .await;
        }
        Commitment::None if validator => {
            return reject(
                format!(
                    "integrity: no commitment by {} at block {}",
                    entry.hotkey, entry.block
                ),
                Some(report_sha),
            )
            .await;
        }
        Commitment::Sha256(_) | Commitment::None => {
            // Miner self-reports only warn.
            tracing::warn!(entry = id, hotkey = %entry.hotkey, "miner self-report does not match its commitment");
        }
        Commitment::Pruned => {
            unverifiable = true;
            if !options.load_unverifiable {
                store
                    .catalog()
                    .mark_verified(id, &report_sha, true, now)
                    .await?;
                return Ok(Outcome::Unverifiable);
            }
        }
    }
    store
        .catalog()
        .mark_verified(id, &report_sha, unverifiable, now)
        .await?;
    let lake = store.lake();
    {
        let (store, id, report) = (store.clone(), id.to_string(), report.clone());
        off_runtime(move || store.lake().write_report(&id, &report)).await?;
    }

    let mut stats = ParseStats::default();
    let mut bytes = report.len() as u64;
    let mut exports = Vec::new();
    let instance_rows;
    if validator {
        let parsed = match parse_validator_report(&report) {
            Ok(p) => p,
            Err(e) => return reject(format!("malformed report: {e}"), Some(report_sha)).await,
        };
        let base = &options.validators[&entry.hotkey];
        for export in &parsed.exports {
            let body = match source.export(base, &export.path).await {
                Ok(b) => b,
                Err(e) => {
                    return Ok(Outcome::Failed(rejection(
                        format!("downloading export {}: {e}", export.path),
                        false,
                    )))
                }
            };
            let got = sha256_hex(&body);
            if got != export.sha256 {
                return reject(
                    format!(
                        "integrity: export {} has sha256 {got}, the report says {}",
                        export.path, export.sha256
                    ),
                    Some(report_sha),
                )
                .await;
            }
            bytes += body.len() as u64;
            // Parse and write off the async workers.
            let table = match export.kind {
                ExportKind::Invocations => FactTable::Invocations,
                ExportKind::Reports => FactTable::Reports,
                ExportKind::Jobs => FactTable::Jobs,
            };
            let store = store.clone();
            let entry_id = id.to_string();
            let kind = export.kind;
            let parsed_export = off_runtime(
                move || -> Result<Result<ParseStats, String>, audit_store::StoreError> {
                    store.lake().write_export(&entry_id, kind, &body)?;
                    Ok((|| {
                        let schema = audit_store::facts::schema(table);
                        let mut writer = store
                            .lake()
                            .fact_writer(&entry_id, table, &schema)
                            .map_err(|e| e.to_string())?;
                        let stats = parse_export(table, body.as_slice(), |batch| {
                            writer.write(&batch).map_err(Into::into)
                        })
                        .map_err(|e| e.to_string())?;
                        writer.finish().map_err(|e| e.to_string())?;
                        Ok(stats)
                    })())
                },
            )
            .await?;
            let export_stats = match parsed_export {
                Ok(s) => s,
                Err(message) => {
                    return reject(
                        format!("export {}: {message}", export.path),
                        Some(report_sha),
                    )
                    .await
                }
            };
            exports.push(ExportRecord {
                kind: export.kind,
                path: export.path.clone(),
                sha256: export.sha256.clone(),
                bytes: 0,
                row_count: export_stats.rows,
                malformed_rows: export_stats.malformed_rows,
            });
            if let Some(last) = exports.last_mut() {
                last.bytes = lake
                    .export_path(id, export.kind)?
                    .metadata()
                    .map(|m| m.len())
                    .unwrap_or(0);
            }
            stats.rows += export_stats.rows;
            stats.malformed_rows += export_stats.malformed_rows;
            stats.malformed_metrics += export_stats.malformed_metrics;
            stats.not_miner_work += export_stats.not_miner_work;
        }
        let mut audits = parsed.instance_audits;
        instance_rows = audits.height() as u64;
        let (store, entry_id) = (store.clone(), id.to_string());
        off_runtime(move || {
            store
                .lake()
                .write_facts(&entry_id, FactTable::InstanceAudits, &mut audits)
        })
        .await?;
        stats.malformed_rows += parsed.malformed_records;
    } else {
        let (store_for_task, entry_id) = (store.clone(), id.to_string());
        let parsed = off_runtime(move || {
            let parsed = match parse_miner_report(&report) {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            let (mut metrics, mut audits) = (parsed.metrics, parsed.instance_audits);
            let lake = store_for_task.lake();
            lake.write_facts(&entry_id, FactTable::MinerMetrics, &mut metrics)?;
            lake.write_facts(&entry_id, FactTable::InstanceAudits, &mut audits)?;
            Ok::<_, audit_store::StoreError>(Ok((audits.height() as u64, parsed.malformed_records)))
        })
        .await?;
        let (rows, malformed) = match parsed {
            Ok(p) => p,
            Err(e) => return reject(format!("malformed report: {e}"), Some(report_sha)).await,
        };
        instance_rows = rows;
        stats.malformed_rows += malformed;
    }

    if options.crash_before_catalog {
        return Err(SyncError::Store(audit_store::StoreError::Corrupt(
            "injected crash between the lake write and the catalog update".into(),
        )));
    }
    let record = LoadedEntry {
        report_sha256: report_sha,
        unverifiable,
        instance_rows,
        exports,
    };
    store.catalog().mark_loaded(id, &record, now).await?;
    Ok(Outcome::Loaded {
        stats,
        bytes,
        unverifiable,
    })
}

/// Runs blocking lake work (parsing, file writes and their syncs) on the
/// blocking pool: many entries' disk syncs overlap, and the async workers
/// keep downloading meanwhile.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Counts invocation ids shared by each newly loaded validator entry and
/// its neighbours in time: an invocation that straddles an hour appears
/// in both exports. Each adjacent pair is counted once.
async fn straddling_duplicates(
    store: &Store,
    newly_loaded: &[String],
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<u64, SyncError> {
    use audit_store::facts::invocations::INVOCATION_ID;
    use polars::prelude::*;
    if newly_loaded.is_empty() {
        return Ok(0);
    }
    let loaded: Vec<String> = store
        .catalog()
        .loaded_entries(
            EntrySource::Validator,
            from,
            until + Duration::microseconds(1),
        )
        .await?
        .into_iter()
        .map(|e| e.entry.entry_id)
        .collect();
    let mut pairs = std::collections::BTreeSet::new();
    for (i, id) in loaded.iter().enumerate() {
        if newly_loaded.contains(id) {
            if i > 0 {
                pairs.insert((loaded[i - 1].clone(), id.clone()));
            }
            if let Some(next) = loaded.get(i + 1) {
                pairs.insert((id.clone(), next.clone()));
            }
        }
    }
    let ids = |entry: &str| -> Option<LazyFrame> {
        store
            .lake()
            .scan(&[entry.to_string()], FactTable::Invocations)
            .ok()
            .flatten()
            .map(|f| {
                f.select([col(INVOCATION_ID)])
                    .unique_generic(None, UniqueKeepStrategy::Any)
            })
    };
    let mut shared = 0u64;
    for (a, b) in pairs {
        let (Some(a), Some(b)) = (ids(&a), ids(&b)) else {
            continue;
        };
        let joined = a
            .join(
                b,
                [col(INVOCATION_ID)],
                [col(INVOCATION_ID)],
                JoinArgs::new(JoinType::Inner),
            )
            .collect()
            .map_err(|e| audit_store::StoreError::Facts {
                path: store.lake().root().to_path_buf(),
                message: e.to_string(),
            })?;
        shared += joined.height() as u64;
    }
    Ok(shared)
}
