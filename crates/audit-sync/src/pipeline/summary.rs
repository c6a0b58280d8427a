//! What a sync did: [`SyncSummary`].

use audit_model::MalformedListing;
use chrono::NaiveDateTime;
use serde::Serialize;

use super::fault::Rejection;
use crate::exports::ParseStats;

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
    /// Chain reads outside an entry that failed their proof (the
    /// metagraph's `Keys` against the runtime API, its header, a
    /// witness): each an integrity violation, the catalog's earlier
    /// metagraph kept.
    pub chain_integrity: Vec<String>,
    /// GPU counts recorded.
    pub gpu_counts: usize,
    /// Hours in the window with no verified validator entry (each hour's
    /// end): hours the scores cannot see.
    pub gaps: Vec<NaiveDateTime>,
}

impl SyncSummary {
    /// Whether anything failed an integrity check.
    pub fn integrity_violation(&self) -> bool {
        self.rejected.iter().any(|r| r.integrity) || !self.chain_integrity.is_empty()
    }
}

impl SyncSummary {
    pub(super) fn count_loaded(&mut self, stats: &ParseStats, bytes: u64, unverifiable: bool) {
        self.loaded += 1;
        self.loaded_unverifiable += usize::from(unverifiable);
        self.rows += stats.rows;
        self.malformed_rows += stats.malformed_rows;
        self.malformed_metrics += stats.malformed_metrics;
        self.not_miner_work += stats.not_miner_work;
        self.bytes += bytes;
    }
}
