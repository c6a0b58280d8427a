//! What the scoring reads, gathered from the store for one evaluation time:
//! lazy scans of the window's validator entries, the metagraph and the GPU
//! counts. Nothing here computes; [`crate::score`] does.

use audit_store::{facts, EntrySource, FactTable, GpuCount, Neuron, Store};
use chrono::{Duration, NaiveDateTime};
use polars::prelude::*;

use crate::profile::ScoringProfile;
use crate::IncentivesError;

/// Column added to every scanned fact row: the microsecond `created_at` of
/// the entry it came from (the newest entry wins among duplicates).
pub use audit_store::facts::ENTRY_CREATED;

/// Entries whose invocations scoring reads in one query: large enough to
/// keep polars busy, small enough that memory holds a few hours, not the
/// week.
pub const ENTRIES_PER_GROUP: usize = 8;

/// The inputs of one scoring run.
pub struct ScoringInputs {
    /// Invocation facts of the window's entries, with [`ENTRY_CREATED`],
    /// in groups of up to [`ENTRIES_PER_GROUP`] entries in a fixed order
    /// (oldest first): scoring reads one group at a time.
    pub invocations: Vec<LazyFrame>,
    /// User reports of the same entries.
    pub reports: LazyFrame,
    /// Instance audit records of the same entries.
    pub instance_audits: LazyFrame,
    /// The subnet's neurons as of the evaluation time.
    pub metagraph: Vec<Neuron>,
    /// Latest GPU count per chute.
    pub gpu_counts: Vec<GpuCount>,
    /// How many entries feed the score.
    pub entries: usize,
    /// How many of them were loaded unverifiable (their commitment could
    /// not be checked): every score that used one is marked by it.
    pub unverifiable_entries_used: usize,
    /// How many of them had their commitment read with proofs turned off
    /// (`subtensor.proofs: false`): the node's word, not the chain's.
    pub unproven_entries_used: usize,
    /// The catalog's metagraph snapshot used, when read from a store.
    pub snapshot_id: Option<i64>,
}

/// A (possibly empty) frame with the schema of a fact table plus
/// [`ENTRY_CREATED`], for windows where no entry has that table.
fn empty(table: FactTable) -> LazyFrame {
    let mut schema = facts::schema(table);
    schema.with_column(ENTRY_CREATED.into(), DataType::Int64);
    DataFrame::empty_with_schema(&schema).lazy()
}

/// Microseconds since the epoch of a naive UTC time.
pub fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

impl ScoringInputs {
    /// Builds the inputs from in-memory frames (tests, replays). Each frame
    /// must carry the fact table's columns; invocations also [`ENTRY_CREATED`].
    pub fn from_frames(
        invocations: LazyFrame,
        reports: LazyFrame,
        instance_audits: LazyFrame,
        metagraph: Vec<Neuron>,
        gpu_counts: Vec<GpuCount>,
    ) -> Self {
        ScoringInputs {
            invocations: vec![invocations],
            reports,
            instance_audits,
            metagraph,
            gpu_counts,
            entries: 0,
            unverifiable_entries_used: 0,
            unproven_entries_used: 0,
            snapshot_id: None,
        }
    }

    /// Gathers the inputs from the store: loaded entries of the given
    /// validator hotkeys whose `created_at` lies in `[at - window, at]`.
    /// Refuses ([`IncentivesError::LakeDisagrees`]) when a loaded entry's
    /// files are gone from the lake: the catalog would claim rows the
    /// scores do not see.
    pub async fn from_store(
        store: &Store,
        at: NaiveDateTime,
        validator_hotkeys: &[String],
        netuid: u16,
        profile: &ScoringProfile,
    ) -> Result<Self, IncentivesError> {
        let from = audit_store::time::window_start(at, profile.window_days);
        let until = at + Duration::microseconds(1);
        let mut entries: Vec<_> = store
            .catalog()
            .loaded_entries(EntrySource::Validator, from, until)
            .await?
            .into_iter()
            .filter(|e| validator_hotkeys.contains(&e.entry.hotkey))
            .collect();
        // A fixed order, whatever order the catalog lists them in.
        entries.sort_by(|a, b| {
            (a.entry.created_at, &a.entry.entry_id).cmp(&(b.entry.created_at, &b.entry.entry_id))
        });
        let ids: Vec<String> = entries.iter().map(|e| e.entry.entry_id.clone()).collect();
        let missing = store.lake().missing(&ids)?;
        if !missing.is_empty() {
            return Err(IncentivesError::LakeDisagrees { entries: missing });
        }
        let unverifiable_entries_used = entries.iter().filter(|e| e.unverifiable).count();
        let unproven_entries_used = entries
            .iter()
            .filter(|e| e.commitment_proven == Some(false))
            .count();
        let metagraph = store
            .catalog()
            .metagraph_at(netuid, at)
            .await?
            .ok_or(IncentivesError::NoMetagraph { netuid, at })?;
        let gpu_counts = store.catalog().gpu_counts().await?;

        // Each entry's facts in the current schema (an unmigrated file
        // gets its keys on the way), tagged with the entry's time.
        let scan = |table: FactTable,
                    entries: &[audit_store::EntryRecord]|
         -> Result<LazyFrame, IncentivesError> {
            let ids: Vec<String> = entries.iter().map(|e| e.entry.entry_id.clone()).collect();
            let frames: Vec<LazyFrame> = store
                .lake()
                .scan_each(&ids, table)?
                .into_iter()
                .zip(entries)
                .filter_map(|(frame, e)| {
                    Some(frame?.with_column(lit(micros(e.entry.created_at)).alias(ENTRY_CREATED)))
                })
                .collect();
            if frames.is_empty() {
                return Ok(empty(table));
            }
            concat(frames, UnionArgs::default()).map_err(IncentivesError::from)
        };

        let invocations = if entries.is_empty() {
            vec![empty(FactTable::Invocations)]
        } else {
            entries
                .chunks(ENTRIES_PER_GROUP)
                .map(|group| scan(FactTable::Invocations, group))
                .collect::<Result<_, _>>()?
        };
        Ok(ScoringInputs {
            invocations,
            reports: scan(FactTable::Reports, &entries)?,
            instance_audits: scan(FactTable::InstanceAudits, &entries)?,
            snapshot_id: Some(metagraph.snapshot_id),
            metagraph: metagraph.neurons,
            gpu_counts,
            entries: entries.len(),
            unverifiable_entries_used,
            unproven_entries_used,
        })
    }
}
