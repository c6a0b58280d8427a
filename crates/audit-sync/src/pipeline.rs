//! The ingest pipeline: list → download → verify → parse → load.
//!
//! The network and the chain come in through two traits, [`AuditSource`]
//! and [`ChainSource`], so the same pipeline runs against the public
//! network, the devnet, or an in-memory fake in a unit test.
//!
//! One entry goes through [`load_entry`]'s steps: fetch the report, verify
//! it against the chain commitment made at the entry's own block, verify
//! each export against the report while it streams to a staging file in
//! the lake, parse, write the facts, mark the catalog. A step that fails
//! says how, as a [`Fault`]: *integrity* (the data is not what was
//! committed: rejected, exit code 3 for validator data), *malformed*
//! (committed but unusable: rejected with the reason), *transient* (the
//! network or the chain failed: retried next run), or *store* (the local
//! store failed: the run stops).
//!
//! Order of writes, for crash safety: raw evidence and Parquet facts go to
//! the lake first (each file atomically), and the catalog marks the entry
//! loaded last, in one transaction. A crash anywhere leaves the entry not
//! loaded; the next run redoes it, overwriting its files, so there are no
//! duplicates, and [`audit_store::Lake::clean_leftovers_except`] removes
//! any half-written temporary file. Miners' self-reports are written
//! unsynced and made durable a batch at a time, before the catalog marks
//! the batch loaded. Every run also checks, with one directory
//! listing, that each loaded entry still has its lake folder, and sends
//! the ones that lost it back to `pending`.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit_model::{Listing, MalformedListing};
use audit_store::{
    AuditEntry, EntrySource, EntryState, ExportKind, ExportRecord, FactTable, GpuCount,
    LoadedEntry, MetagraphSnapshot, Store, StoreError,
};
use chrono::{Duration, NaiveDateTime};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::exports::{parse_export, ExportError, ParseStats};
use crate::report::{parse_miner_report, parse_validator_report, ExportRef, ReportError};

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

/// What the chain says about a commitment at a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commitment {
    /// The committed sha256, and the block the commitment was made at
    /// (the chain's `Registration` keeps it): it must be the entry's own
    /// block, or an old report is being re-listed under a new one.
    Sha256 {
        /// The committed hash.
        sha256: [u8; 32],
        /// The block the commitment was made at.
        block: u32,
    },
    /// The account committed nothing (or not a Sha256 field).
    None,
    /// The node no longer holds that block's state.
    Pruned,
}

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
}

/// How a sync runs. Build it with [`SyncOptions::new`] and the `with_`
/// setters; the defaults are the safe ones.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Evaluation time: the window is the `window_days` before it.
    pub at: NaiveDateTime,
    /// Days of entries kept and loaded (default 7).
    pub window_days: u32,
    /// Validator hotkey → base URL of its exports.
    pub validators: BTreeMap<String, String>,
    /// Load only this hotkey's entries.
    pub hotkey: Option<String>,
    /// Load miners' self-reports too (default on).
    pub miner_reports: bool,
    /// Load entries whose commitment cannot be checked (pruned chain
    /// state), flagged, so scores that use them say so. Off by default:
    /// what cannot be proven is not scored.
    pub load_unverifiable: bool,
    /// Parallel entries (default 8).
    pub concurrency: usize,
    /// Test hook: fail after the lake is written, before the catalog is.
    crash_before_catalog: bool,
    /// Self-reports made durable together ([`DURABLE_BATCH`]).
    durable_batch: usize,
}

impl SyncOptions {
    /// A sync at `at` of the given validators (hotkey → exports base URL),
    /// with the defaults: 7 days, miner reports on, unverifiable entries
    /// not loaded, 8 entries at a time.
    pub fn new(at: NaiveDateTime, validators: BTreeMap<String, String>) -> Self {
        SyncOptions {
            at,
            window_days: 7,
            validators,
            hotkey: None,
            miner_reports: true,
            load_unverifiable: false,
            concurrency: 8,
            crash_before_catalog: false,
            durable_batch: DURABLE_BATCH,
        }
    }

    /// Sets the window length in days.
    pub fn with_window_days(mut self, days: u32) -> Self {
        self.window_days = days;
        self
    }

    /// Loads only `hotkey`'s entries (all when `None`).
    pub fn with_hotkey(mut self, hotkey: Option<String>) -> Self {
        self.hotkey = hotkey;
        self
    }

    /// Loads miners' self-reports or not.
    pub fn with_miner_reports(mut self, on: bool) -> Self {
        self.miner_reports = on;
        self
    }

    /// Opts in to loading unverifiable entries, flagged.
    pub fn with_load_unverifiable(mut self, on: bool) -> Self {
        self.load_unverifiable = on;
        self
    }

    /// Sets how many entries load at once (at least one).
    pub fn with_concurrency(mut self, entries: usize) -> Self {
        self.concurrency = entries.max(1);
        self
    }

    /// Test hook: every entry fails after its lake files are written and
    /// before the catalog marks it loaded, as a crash there would.
    #[cfg(feature = "testing")]
    pub fn with_crash_before_catalog(mut self, on: bool) -> Self {
        self.crash_before_catalog = on;
        self
    }

    /// Test hook: makes self-reports durable `entries` at a time, so a
    /// small world crosses several batches.
    #[cfg(feature = "testing")]
    pub fn with_durable_batch(mut self, entries: usize) -> Self {
        self.durable_batch = entries.max(1);
        self
    }

    /// The start of the window (`at` minus the window), saturating at the
    /// earliest time rather than overflowing.
    pub fn window_start(&self) -> NaiveDateTime {
        Duration::try_days(i64::from(self.window_days))
            .and_then(|d| self.at.checked_sub_signed(d))
            .unwrap_or(NaiveDateTime::MIN)
    }
}

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

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    /// Elements the listing held, readable or not.
    pub listed: usize,
    /// Listing elements that could not be read: skipped, the rest went on.
    pub malformed_listing: Vec<MalformedListing>,
    /// Entries loaded by this run.
    pub loaded: usize,
    /// Wanted entries the catalog already holds as loaded.
    pub already_loaded: usize,
    /// Entries whose commitment could not be checked (pruned chain state)
    /// and that are not loaded.
    pub unverifiable: usize,
    /// Loaded entries flagged unverifiable (only with `load_unverifiable`).
    pub loaded_unverifiable: usize,
    /// Flagged entries whose commitment could now be checked and matched.
    pub reverified: usize,
    /// Entries not ours, filtered out, or of a validator no longer
    /// configured.
    pub skipped: usize,
    /// Rejected entries, with the reason.
    pub rejected: Vec<Rejection>,
    /// Transient failures: retried next run.
    pub failed: Vec<Rejection>,
    /// Entries that left the window.
    pub pruned: usize,
    /// Loaded entries whose lake folder was gone: sent back to pending and
    /// re-fetched.
    pub missing_from_lake: Vec<String>,
    /// Temporary files a crash had left, removed.
    pub leftovers_cleaned: u64,
    /// Fact rows loaded.
    pub rows: u64,
    /// Invocation ids of newly loaded entries that the neighbouring hour's
    /// export also holds (they straddle the hour; scoring counts them once).
    pub duplicates_collapsed: u64,
    /// Rows that could not be read, skipped.
    pub malformed_rows: u64,
    /// Rows whose metrics did not parse (loaded, metrics null).
    pub malformed_metrics: u64,
    /// Rows with a negative miner uid (not miner work), dropped.
    pub not_miner_work: u64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// The metagraph's block, when it was refreshed.
    pub metagraph_block: Option<u32>,
    /// GPU counts recorded.
    pub gpu_counts: usize,
    /// Hours in the window with no verified validator entry (each hour's
    /// end): hours the scores cannot see.
    pub gaps: Vec<NaiveDateTime>,
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

    fn kind(&self) -> Option<FaultKind> {
        match self {
            Fault::Integrity(_) => Some(FaultKind::Integrity),
            Fault::Malformed { .. } => Some(FaultKind::Malformed),
            Fault::Transient { .. } => Some(FaultKind::Transient),
            Fault::Store(_) => None,
        }
    }
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

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn rejection(entry: &AuditEntry, fault: &Fault, kind: FaultKind) -> Rejection {
    Rejection {
        entry_id: entry.entry_id.clone(),
        hotkey: entry.hotkey.clone(),
        block: entry.block,
        reason: fault.to_string(),
        kind,
        integrity: kind == FaultKind::Integrity && entry.source == EntrySource::Validator,
    }
}

enum Outcome {
    Loaded {
        stats: ParseStats,
        bytes: u64,
        unverifiable: bool,
    },
    /// In the lake but not yet durable nor in the catalog: a self-report
    /// for its batch ([`commit_written`]).
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

/// Self-reports made durable together: one filesystem sync and one pass
/// over the catalog per this many entries, instead of three file syncs
/// each (a week holds ten thousand of them).
const DURABLE_BATCH: usize = 512;

/// A self-report whose files are written, unsynced, and whose catalog
/// record waits for them to be durable.
struct Written {
    entry_id: String,
    record: LoadedEntry,
    files: Vec<std::path::PathBuf>,
    stats: ParseStats,
    bytes: u64,
    unverifiable: bool,
}

/// Makes the written self-reports durable, then marks them loaded: the
/// catalog never claims a file a crash could still take back. A crash
/// before the catalog write leaves them verified, not loaded, and the
/// next run prunes their folders and loads them again. Returns them, for
/// the summary.
async fn commit_written(
    store: &Arc<Store>,
    written: Vec<Written>,
    now: NaiveDateTime,
) -> Result<Vec<Written>, SyncError> {
    if written.is_empty() {
        return Ok(written);
    }
    let files: Vec<_> = written.iter().flat_map(|w| w.files.clone()).collect();
    let lake = store.clone();
    off_runtime(move || lake.lake().make_durable(&files)).await?;
    let loaded: Vec<(&str, &LoadedEntry)> = written
        .iter()
        .map(|w| (w.entry_id.as_str(), &w.record))
        .collect();
    store.catalog().mark_all_loaded(&loaded, now).await?;
    Ok(written)
}

/// Self-reports written and waiting for their batch. The entry that fills
/// the batch commits it, inside its own future: the run's other entries
/// keep going meanwhile, and none of them can hold the catalog while the
/// commit waits for it.
#[derive(Default)]
struct WrittenBatch(std::sync::Mutex<Vec<Written>>);

impl WrittenBatch {
    /// Adds one; the whole batch when it reached `size`.
    fn add(&self, written: Written, size: usize) -> Option<Vec<Written>> {
        let mut batch = self.0.lock().unwrap_or_else(|e| e.into_inner());
        batch.push(written);
        (batch.len() >= size).then(|| std::mem::take(&mut *batch))
    }

    /// What is left at the end of the run.
    fn rest(&self) -> Vec<Written> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl SyncSummary {
    fn count_loaded(&mut self, stats: &ParseStats, bytes: u64, unverifiable: bool) {
        self.loaded += 1;
        self.loaded_unverifiable += usize::from(unverifiable);
        self.rows += stats.rows;
        self.malformed_rows += stats.malformed_rows;
        self.malformed_metrics += stats.malformed_metrics;
        self.not_miner_work += stats.not_miner_work;
        self.bytes += bytes;
    }
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
    let window_start = options.window_start();
    // Only folders of entries not loaded can hold a crash's leftovers.
    let settled: HashSet<String> = loaded_ids(&store, window_start)
        .await?
        .into_iter()
        .map(|id| id.to_ascii_lowercase())
        .collect();
    let mut summary = SyncSummary {
        leftovers_cleaned: store.lake().clean_leftovers_except(&settled)?,
        ..SyncSummary::default()
    };
    let now = options.at;

    let mut phase = Phases::start();
    let listing = source.list_entries().await.map_err(SyncError::List)?;
    phase.done("listing fetched");
    summary.listed = listing.entries.len() + listing.malformed.len();
    summary.malformed_listing = listing.malformed;
    let wanted = select(listing.entries, options, window_start, &mut summary);
    store.catalog().record_listed(&wanted, now).await?;

    prune_window(&store, window_start, &mut summary).await?;
    requeue_missing(&store, window_start, now, &mut summary).await?;
    let settled = reverify_flagged(&store, &*chain, options, window_start, &mut summary).await?;
    phase.done("catalog brought up to the listing");

    let wanted_ids: HashSet<String> = wanted.into_iter().map(|e| e.entry_id).collect();
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
        .filter(|e| wanted_ids.contains(&e.entry.entry_id))
        .filter(|e| !settled.contains(&e.entry.entry_id))
        .map(|e| e.entry)
        .collect();
    summary.already_loaded = wanted_ids
        .iter()
        .filter(|id| !settled.contains(*id))
        .count()
        .saturating_sub(todo.len());

    let total = todo.len();
    let mut done = 0;
    let mut newly_loaded = Vec::new();
    let batch = Arc::new(WrittenBatch::default());
    let mut results = stream::iter(todo)
        .map(|entry| {
            let (store, source, chain) = (store.clone(), source.clone(), chain.clone());
            let batch = batch.clone();
            async move {
                let outcome = match load_entry(&store, &*source, &*chain, &entry, options).await {
                    Ok(Outcome::Written(w)) => match batch.add(*w, options.durable_batch) {
                        Some(full) => commit_written(&store, full, now)
                            .await
                            .map(Outcome::Committed),
                        None => Ok(Outcome::Waiting),
                    },
                    other => other,
                };
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
                if entry.source == EntrySource::Validator {
                    newly_loaded.push(entry.entry_id.clone());
                }
                summary.count_loaded(&stats, bytes, unverifiable);
            }
            Outcome::Committed(batch) => {
                for w in &batch {
                    summary.count_loaded(&w.stats, w.bytes, w.unverifiable);
                }
            }
            // Counted when its batch is committed.
            Outcome::Waiting => {}
            Outcome::Written(_) => unreachable!("a written self-report joins its batch"),
            Outcome::Unverifiable => summary.unverifiable += 1,
            Outcome::Unconfigured => summary.skipped += 1,
            Outcome::Rejected(r) => summary.rejected.push(r),
            Outcome::Failed(r) => summary.failed.push(r),
        }
        tracing::debug!(entry = %entry.entry_id, done, total, "entry processed");
        progress(done, total, summary.bytes);
    }
    drop(results);
    for w in commit_written(&store, batch.rest(), now).await? {
        summary.count_loaded(&w.stats, w.bytes, w.unverifiable);
    }
    phase.done("entries loaded");
    summary.duplicates_collapsed =
        straddling_duplicates(&store, &newly_loaded, window_start, options.at).await?;
    phase.done("straddling invocations counted");

    refresh_chain_facts(&store, &*source, &*chain, now, &mut summary).await?;
    phase.done("metagraph and GPU counts refreshed");
    summary.gaps = store
        .catalog()
        .coverage_gaps(window_start, options.at)
        .await?;
    phase.done("coverage gaps found");
    summary
        .rejected
        .sort_by(|a, b| (a.block, &a.hotkey).cmp(&(b.block, &b.hotkey)));
    summary
        .failed
        .sort_by(|a, b| (a.block, &a.hotkey).cmp(&(b.block, &b.hotkey)));
    Ok(summary)
}

/// Logs how long each phase of a sync took (`-v`), for operators and
/// for finding where a slow sync spends its time.
struct Phases(std::time::Instant);

impl Phases {
    fn start() -> Self {
        Phases(std::time::Instant::now())
    }

    fn done(&mut self, phase: &str) {
        let ms = self.0.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(phase, ms, "sync phase done");
        self.0 = std::time::Instant::now();
    }
}

/// Keeps the listed entries that are ours and in the window, with their
/// source decided by the configured validators, and rejects those whose id
/// is not derived from their hotkey and block. Pure but for the summary.
fn select(
    listed: Vec<AuditEntry>,
    options: &SyncOptions,
    window_start: NaiveDateTime,
    summary: &mut SyncSummary,
) -> Vec<AuditEntry> {
    let mut wanted = Vec::new();
    for entry in listed {
        // The one canonical id form, whatever the source listed.
        let mut entry = entry.normalised();
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
        if expected_entry_id(&entry.hotkey, entry.block) != entry.entry_id {
            let fault =
                Fault::Integrity("malformed entry id: not the UUIDv5 of hotkey.block".into());
            summary
                .rejected
                .push(rejection(&entry, &fault, FaultKind::Integrity));
            continue;
        }
        wanted.push(entry);
    }
    wanted
}

/// Prunes what left the window, in the catalog and the lake, and any lake
/// folder the catalog does not hold as loaded (a crashed load).
async fn prune_window(
    store: &Store,
    window_start: NaiveDateTime,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    let pruned = store.catalog().prune_entries_before(window_start).await?;
    for id in &pruned {
        store.lake().prune(id)?;
    }
    summary.pruned = pruned.len();
    let loaded: HashSet<String> = loaded_ids(store, window_start).await?.into_iter().collect();
    for orphan in store.lake().entry_ids()? {
        if !loaded.contains(&orphan) {
            store.lake().prune(&orphan)?;
        }
    }
    Ok(())
}

async fn loaded_ids(store: &Store, since: NaiveDateTime) -> Result<Vec<String>, SyncError> {
    Ok(store.catalog().loaded_entry_ids(since).await?)
}

/// Sends every loaded entry whose lake folder is gone back to pending, so
/// this run fetches it again: the catalog must not claim facts the lake
/// lost. One directory listing, not a stat per file.
async fn requeue_missing(
    store: &Store,
    window_start: NaiveDateTime,
    now: NaiveDateTime,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    let loaded = loaded_ids(store, window_start).await?;
    let missing = store.lake().missing(&loaded)?;
    if !missing.is_empty() {
        tracing::warn!(
            entries = missing.len(),
            "loaded entries lost their lake files; fetching them again"
        );
        store.catalog().requeue(&missing, now).await?;
    }
    summary.missing_from_lake = missing;
    Ok(())
}

/// Checks again every loaded entry that was flagged unverifiable (the
/// archive node may answer now): a match clears the flag, a mismatch
/// rejects it, and without `load_unverifiable` one still unverifiable
/// leaves the lake, since what cannot be proven is not scored. Returns the
/// entries it settled, which this run does not load again.
async fn reverify_flagged<C: ChainSource>(
    store: &Store,
    chain: &C,
    options: &SyncOptions,
    window_start: NaiveDateTime,
    summary: &mut SyncSummary,
) -> Result<HashSet<String>, SyncError> {
    let mut settled = HashSet::new();
    let now = options.at;
    let flagged = store
        .catalog()
        .entries_in_states(&[EntryState::Loaded], window_start)
        .await?
        .into_iter()
        .filter(|e| e.unverifiable);
    for record in flagged {
        let entry = &record.entry;
        let id = entry.entry_id.as_str();
        let Some(sha) = record.report_sha256.as_deref() else {
            store
                .catalog()
                .requeue(std::slice::from_ref(&entry.entry_id), now)
                .await?;
            continue;
        };
        match verify_commitment(chain, entry, sha).await {
            Ok(Verdict::Verified) => {
                store.catalog().confirm_verified(id, now).await?;
                summary.reverified += 1;
            }
            Ok(Verdict::Unverifiable) if options.load_unverifiable => {
                summary.loaded_unverifiable += 1;
            }
            Ok(Verdict::Unverifiable) => {
                store.lake().prune(id)?;
                store.catalog().mark_verified(id, sha, true, now).await?;
                summary.unverifiable += 1;
                settled.insert(entry.entry_id.clone());
            }
            Err(fault) => {
                match settle(store, entry, Some(sha), fault, now).await? {
                    Outcome::Rejected(r) => summary.rejected.push(r),
                    Outcome::Failed(r) => summary.failed.push(r),
                    _ => {}
                }
                settled.insert(entry.entry_id.clone());
            }
        }
    }
    Ok(settled)
}

/// The chain and catalogue facts scoring needs next to the lake; a failure
/// to refresh them is logged, the previous ones stay.
async fn refresh_chain_facts<A: AuditSource, C: ChainSource>(
    store: &Store,
    source: &A,
    chain: &C,
    now: NaiveDateTime,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
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
    Ok(())
}

/// Verifies and loads one entry. Store failures abort the run; every
/// other fault is an outcome for this entry alone.
async fn load_entry<A: AuditSource, C: ChainSource>(
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
async fn settle(
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
    let unverifiable = match verify_commitment(chain, entry, &sha).await? {
        Verdict::Verified => false,
        Verdict::Unverifiable if options.load_unverifiable => true,
        Verdict::Unverifiable => {
            store.catalog().mark_verified(id, &sha, true, now).await?;
            return Ok(Outcome::Unverifiable);
        }
    };
    // A self-report's verdict is recorded with its load, in its batch's
    // one transaction (ten thousand round trips a week fewer); a crash
    // before it leaves the entry pending, loaded again next run.
    if validator_url.is_some() {
        store
            .catalog()
            .mark_verified(id, &sha, unverifiable, now)
            .await?;
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
    if !loaded.unsynced.is_empty() {
        return Ok(Outcome::Written(Box::new(Written {
            entry_id: id.to_string(),
            record: loaded.record,
            files: loaded.unsynced,
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

/// What loading an entry's files produced, before the catalog records it.
struct Loaded {
    record: LoadedEntry,
    stats: ParseStats,
    bytes: u64,
    /// Files written without a sync: the entry is marked loaded only
    /// once they are durable.
    unsynced: Vec<std::path::PathBuf>,
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
            instance_rows,
            exports,
        },
        stats,
        bytes,
        unsynced: Vec::new(),
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
    // Unsynced: the sync's self-reports are made durable together.
    let parsed = off_runtime(move || -> Result<_, Fault> {
        let lake = store.lake();
        let report_file = lake.commit_report(&staged.path, &entry_id, false)?;
        let parsed =
            parse_miner_report(&report).map_err(|e: ReportError| Fault::malformed("report", e))?;
        let (mut metrics, mut audits) = (parsed.metrics, parsed.instance_audits);
        let (metrics_file, _) =
            lake.write_facts_unsynced(&entry_id, FactTable::MinerMetrics, &mut metrics)?;
        let (audits_file, instance_rows) =
            lake.write_facts_unsynced(&entry_id, FactTable::InstanceAudits, &mut audits)?;
        let files = vec![report_file, metrics_file, audits_file];
        Ok((instance_rows, parsed.malformed_records, files))
    })
    .await?;
    let (instance_rows, malformed, unsynced) = parsed;
    Ok(Loaded {
        record: LoadedEntry {
            report_sha256: String::new(),
            unverifiable: false,
            instance_rows,
            exports: Vec::new(),
        },
        stats: ParseStats {
            malformed_rows: malformed,
            ..ParseStats::default()
        },
        bytes,
        unsynced,
    })
}

/// Runs blocking lake work (parsing, file writes and their syncs) on the
/// blocking pool: many entries' disk syncs overlap, and the async workers
/// keep downloading meanwhile.
pub(crate) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Counts invocation ids shared by each newly loaded validator entry and
/// its neighbours in time: an invocation that straddles an hour appears
/// in both exports. Each adjacent pair is counted once.
async fn straddling_duplicates(
    store: &Arc<Store>,
    newly_loaded: &[String],
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<u64, SyncError> {
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
    let newly: HashSet<&str> = newly_loaded.iter().map(String::as_str).collect();
    // Pairs (i - 1, i) of neighbours with a newly loaded side, in order,
    // split in runs, one per core (a week holds 167 of them).
    let pairs: Vec<usize> = (1..loaded.len())
        .filter(|&i| newly.contains(loaded[i - 1].as_str()) || newly.contains(loaded[i].as_str()))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = pairs.len().div_ceil(cores).max(1);
    let store = store.clone();
    off_runtime(move || {
        std::thread::scope(|scope| {
            let counts: Vec<_> = pairs
                .chunks(run)
                .map(|run| scope.spawn(|| shared_ids(&store, &loaded, run)))
                .collect();
            let mut shared = 0;
            for count in counts {
                shared += match count.join() {
                    Ok(n) => n?,
                    Err(panic) => std::panic::resume_unwind(panic),
                };
            }
            Ok(shared)
        })
    })
    .await
}

/// Invocation ids shared by each pair `(loaded[i - 1], loaded[i])` for `i`
/// in `pairs` (ascending): each entry's ids are read once (one column,
/// eagerly: a lazy query per entry cost more to plan than to run) and
/// kept only for the next pair.
fn shared_ids(store: &Store, loaded: &[String], pairs: &[usize]) -> Result<u64, SyncError> {
    use audit_store::facts::invocations::INVOCATION_ID;
    use polars::prelude::*;
    // The distinct ids of an entry, `None` when it has no invocations.
    let ids = |entry: &str| -> Result<Option<HashSet<String>>, StoreError> {
        let path = store.lake().fact_path(entry, FactTable::Invocations)?;
        let Ok(file) = std::fs::File::open(&path) else {
            return Ok(None);
        };
        let facts_err = |e: PolarsError| StoreError::Facts {
            path: path.clone(),
            message: e.to_string(),
        };
        let frame = ParquetReader::new(file)
            .with_columns(Some(vec![INVOCATION_ID.to_string()]))
            .finish()
            .map_err(facts_err)?;
        let column = frame
            .column(INVOCATION_ID)
            .and_then(|c| c.str().cloned())
            .map_err(facts_err)?;
        Ok(Some(column.iter().flatten().map(str::to_owned).collect()))
    };
    let mut shared = 0u64;
    let mut previous: Option<(usize, Option<HashSet<String>>)> = None;
    for &i in pairs {
        let before = match previous.take() {
            Some((at, set)) if at == i - 1 => set,
            _ => ids(&loaded[i - 1])?,
        };
        let after = ids(&loaded[i])?;
        if let (Some(a), Some(b)) = (&before, &after) {
            shared += b.iter().filter(|id| a.contains(*id)).count() as u64;
        }
        previous = Some((i, after));
    }
    Ok(shared)
}
