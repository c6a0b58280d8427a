//! Miners' self-reports made durable and marked loaded a batch at a time.

use std::sync::Arc;

use audit_store::{LoadedEntry, SelfReportFacts, Store};
use chrono::NaiveDateTime;

use super::blocking::off_runtime;
use super::fault::SyncError;
use crate::exports::ParseStats;

/// Self-reports made durable together: one batch of fact tables in the
/// lake, one filesystem sync and one pass over the catalog per this many
/// entries, instead of three files and their syncs each (a week holds ten
/// thousand of them).
pub(super) const DURABLE_BATCH: usize = 512;

/// A self-report whose report is written, unsynced, whose facts wait to
/// be written with its batch, and whose catalog record waits for both to
/// be durable.
pub(super) struct Written {
    pub(super) entry_id: String,
    pub(super) record: LoadedEntry,
    pub(super) report: std::path::PathBuf,
    pub(super) facts: SelfReportFacts,
    pub(super) stats: ParseStats,
    pub(super) bytes: u64,
    pub(super) unverifiable: bool,
}

/// Writes the self-reports' facts as one batch and makes it and their
/// reports durable, then marks them loaded: the catalog never claims a
/// file a crash could still take back. A crash before the catalog write
/// leaves them verified, not loaded, and the next run prunes their
/// folders, sweeps the batch and loads them again. Returns them, for the
/// summary.
pub(super) async fn commit_written(
    store: &Arc<Store>,
    mut written: Vec<Written>,
    now: NaiveDateTime,
) -> Result<Vec<Written>, SyncError> {
    if written.is_empty() {
        return Ok(written);
    }
    let reports: Vec<_> = written.iter().map(|w| w.report.clone()).collect();
    // Moved out, not copied: the summary needs only the rest.
    let facts: Vec<SelfReportFacts> = written
        .iter_mut()
        .map(|w| std::mem::take(&mut w.facts))
        .collect();
    let lake = store.clone();
    off_runtime(move || {
        lake.lake().write_self_reports(&facts)?;
        lake.lake().make_durable(&reports)
    })
    .await?;
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
pub(super) struct WrittenBatch(std::sync::Mutex<Vec<Written>>);

impl WrittenBatch {
    /// Adds one; the whole batch when it reached `size`.
    pub(super) fn add(&self, written: Written, size: usize) -> Option<Vec<Written>> {
        let mut batch = self.0.lock().unwrap_or_else(|e| e.into_inner());
        batch.push(written);
        (batch.len() >= size).then(|| std::mem::take(&mut *batch))
    }

    /// What is left at the end of the run.
    pub(super) fn rest(&self) -> Vec<Written> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
