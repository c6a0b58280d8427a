//! One sync run: brings the catalog up to the listing, loads what is
//! wanted, then counts straddling invocations and refreshes the chain facts.

use std::collections::HashSet;
use std::sync::Arc;

use audit_model::phases::Phases;
use audit_store::{AuditEntry, EntrySource, EntryState, Store, Verified};
use chrono::NaiveDateTime;
use futures::stream::{self, StreamExt};

use super::batch::{commit_written, WrittenBatch};
use super::checks::{expected_entry_id, verify_commitment, Verdict};
use super::entry::{load_entry, settle, Outcome};
use super::fault::{rejection, Fault, FaultKind, SyncError};
use super::options::SyncOptions;
use super::straddling::straddling_duplicates;
use super::summary::SyncSummary;
use crate::source::{AuditSource, ChainSource, SourceErrorKind};

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
    // Read once for the run: pruning removes only entries created before
    // the window and the listing adds pending ones, so the loaded entries
    // of the window stay these until loading starts.
    let loaded = store.catalog().loaded_entry_ids(window_start).await?;
    // In the lake's folder form: only folders of entries not loaded can
    // hold a crash's leftovers, and only those are orphans.
    let loaded_folders: HashSet<String> = loaded.iter().map(|id| id.to_ascii_lowercase()).collect();
    let mut summary = SyncSummary {
        leftovers_cleaned: store.lake().clean_leftovers_except(&loaded_folders)?,
        ..SyncSummary::default()
    };
    let now = options.at;

    let mut phase = Phases::start("sync");
    let listing = source.list_entries().await.map_err(SyncError::List)?;
    phase.done("listing fetched");
    summary.listed = listing.entries.len() + listing.malformed.len();
    summary.malformed_listing = listing.malformed;
    let wanted = select(listing.entries, options, window_start, &mut summary);
    store.catalog().record_listed(&wanted, now).await?;

    prune_window(&store, window_start, &loaded_folders, &mut summary).await?;
    requeue_missing(&store, &loaded, now, &mut summary).await?;
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
/// folder the catalog does not hold as loaded (`loaded_folders`, ids in
/// the lake's lower case: a crashed load).
async fn prune_window(
    store: &Store,
    window_start: NaiveDateTime,
    loaded_folders: &HashSet<String>,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    let pruned = store.catalog().prune_entries_before(window_start).await?;
    for id in &pruned {
        store.lake().prune(id)?;
    }
    summary.pruned = pruned.len();
    for orphan in store.lake().entry_ids()? {
        if !loaded_folders.contains(&orphan) {
            store.lake().prune(&orphan)?;
        }
    }
    // Before this run writes batches of its own: a batch of entries a
    // crash kept from the catalog must go before they are loaded again.
    store.lake().sweep_self_reports(loaded_folders)?;
    Ok(())
}

/// Sends every `loaded` entry whose lake folder is gone back to pending,
/// so this run fetches it again: the catalog must not claim facts the
/// lake lost. One directory listing, not a stat per file.
async fn requeue_missing(
    store: &Store,
    loaded: &[String],
    now: NaiveDateTime,
    summary: &mut SyncSummary,
) -> Result<(), SyncError> {
    let missing = store.lake().missing(loaded)?;
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
    let flagged = store.catalog().flagged_unverifiable(window_start).await?;
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
                store
                    .catalog()
                    .confirm_verified(id, chain.proves_reads(), now)
                    .await?;
                summary.reverified += 1;
            }
            Ok(Verdict::Unverifiable) if options.load_unverifiable => {
                summary.loaded_unverifiable += 1;
            }
            Ok(Verdict::Unverifiable) => {
                store.lake().prune(id)?;
                let verdict = Verified::unverifiable(sha, chain.proves_reads());
                store.catalog().mark_verified(id, &verdict, now).await?;
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
/// to refresh them is logged, the previous ones stay. A metagraph that
/// fails its proof is more than a failure: the node lied about who holds
/// which uid, and the summary names it as an integrity violation.
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
        Err(e) if e.kind == SourceErrorKind::Integrity => {
            tracing::error!("metagraph not refreshed, it failed its proof: {e}");
            // The kind is said by the list this goes in; the source names
            // the read, the block and the endpoint.
            summary
                .chain_integrity
                .push(format!("the metagraph: {}", e.source));
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
