//! Invocations that straddle an hour appear in two neighbouring exports:
//! counted, so scoring can count them once.

use std::collections::HashSet;
use std::sync::Arc;

use audit_store::{EntrySource, FactTable, Store, StoreError};
use chrono::{Duration, NaiveDateTime};

use super::blocking::off_runtime;
use super::fault::SyncError;

/// Counts invocation ids shared by each newly loaded validator entry and
/// its neighbours in time: an invocation that straddles an hour appears
/// in both exports. Each adjacent pair is counted once.
pub(super) async fn straddling_duplicates(
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
