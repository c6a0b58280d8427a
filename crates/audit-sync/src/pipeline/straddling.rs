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
/// in `pairs` (ascending): each entry's ids are read once, as their 128-bit
/// keys (two integer columns, eagerly: a lazy query per entry cost more to
/// plan than to run), and kept only for the next pair.
fn shared_ids(store: &Store, loaded: &[String], pairs: &[usize]) -> Result<u64, SyncError> {
    let mut shared = 0u64;
    let mut previous: Option<(usize, Option<Vec<u128>>)> = None;
    for &i in pairs {
        let before = match previous.take() {
            Some((at, keys)) if at == i - 1 => keys,
            _ => distinct_keys(store, &loaded[i - 1])?,
        };
        let after = distinct_keys(store, &loaded[i])?;
        if let (Some(a), Some(b)) = (&before, &after) {
            shared += common(a, b);
        }
        previous = Some((i, after));
    }
    Ok(shared)
}

/// The distinct invocation keys of an entry, sorted; `None` when it has
/// no invocations. Two ids share a key exactly when their texts are equal
/// (`facts::id_key`), so counting keys counts ids, without decoding and
/// hashing ten million strings a sync. A sync's store migrated the lake
/// when it opened it, so every file has the key columns.
fn distinct_keys(store: &Store, entry: &str) -> Result<Option<Vec<u128>>, StoreError> {
    use audit_store::facts::invocations::{INVOCATION_KEY_HI, INVOCATION_KEY_LO};
    use polars::prelude::*;
    let path = store.lake().fact_path(entry, FactTable::Invocations)?;
    let Ok(file) = std::fs::File::open(&path) else {
        return Ok(None);
    };
    let facts_err = |e: PolarsError| StoreError::Facts {
        path: path.clone(),
        message: e.to_string(),
    };
    let frame = ParquetReader::new(file)
        .with_columns(Some(vec![
            INVOCATION_KEY_HI.into(),
            INVOCATION_KEY_LO.into(),
        ]))
        .finish()
        .map_err(facts_err)?;
    let hi = frame
        .column(INVOCATION_KEY_HI)
        .and_then(|c| c.u64().cloned());
    let lo = frame
        .column(INVOCATION_KEY_LO)
        .and_then(|c| c.u64().cloned());
    let (hi, lo) = (hi.map_err(facts_err)?, lo.map_err(facts_err)?);
    let mut keys: Vec<u128> = hi
        .iter()
        .zip(lo.iter())
        .filter_map(|(hi, lo)| Some((u128::from(hi?) << 64) | u128::from(lo?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    Ok(Some(keys))
}

/// How many values two sorted, distinct lists share.
fn common(a: &[u128], b: &[u128]) -> u64 {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::common;

    #[test]
    fn common_counts_the_values_both_lists_hold() {
        assert_eq!(common(&[1, 3, 5, 7], &[2, 3, 4, 7, 9]), 2);
        assert_eq!(common(&[], &[1]), 0);
        assert_eq!(common(&[u128::MAX], &[0, u128::MAX]), 1);
    }
}
