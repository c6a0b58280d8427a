//! How a sync runs: [`SyncOptions`].

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};

use super::batch::DURABLE_BATCH;

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
    pub(super) crash_before_catalog: bool,
    /// Self-reports made durable together ([`DURABLE_BATCH`](super::batch::DURABLE_BATCH)).
    pub(super) durable_batch: usize,
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
