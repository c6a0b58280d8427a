//! Miners' self-reports, a batch in one table each: a week holds ten
//! thousand self-reports of a few rows, and a Parquet file apiece made the
//! sync spend most of its time setting files up (an inode, a dictionary
//! estimate per column, a footer) rather than writing rows.
//!
//! ```text
//! {data_dir}/lake/self-reports/{batch}/ENTRIES            the batch's entry ids, one a line
//!                                     /{table}.parquet    its rows, `entry_id` last
//! ```
//!
//! The raw report of each self-report stays in its entry's folder
//! (`entries/{entry_id}/report.json`): the evidence is kept per entry,
//! as downloaded. A self-report loaded before batches has its facts in
//! its folder; readers read both layouts, and the old one leaves with the
//! window within a week, so nothing is migrated.
//!
//! # Invariants (each pinned by a test below)
//!
//! 1. A batch folder under its final name is whole: it is written under
//!    a [`TMP_MARKER`] name, its files synced, and renamed into place
//!    (`an_unfinished_batch_is_never_read_and_is_cleaned`).
//! 2. Batches are numbered upwards, a number never given twice
//!    (`a_batch_number_is_above_every_batch_there_is_and_was`); an entry
//!    in more than one batch (it was loaded again) is read from the
//!    highest-numbered one only
//!    (`an_entry_loaded_again_is_read_from_its_newest_batch`).
//! 3. A batch none of whose entries is loaded is removed by
//!    `Lake::sweep_self_reports`; readers are handed loaded entries by
//!    the catalog, so rows of an entry that left the catalog are never read
//!    meanwhile (`a_batch_goes_when_none_of_its_entries_is_loaded`).
//! 4. An entry with no rows still belongs to its batch: `ENTRIES` names
//!    it, so the lake does not report it missing
//!    (`every_entry_of_a_batch_is_present_rows_or_not`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::facts::{self, FactTable};
use crate::files::{
    canonical_entry_id, folder_size, io_err, polars_err, sync_parent, write_fact_file, TMP_MARKER,
};
use crate::StoreError;

/// The folder of the batches, under the lake's root.
pub(crate) const FOLDER: &str = "self-reports";
/// The file naming a batch's entries.
const ENTRIES: &str = "ENTRIES";
/// The column of a batch's tables that names each row's entry.
pub const ENTRY_ID: &str = "entry_id";
/// The tables a batch holds: a self-report's two.
pub(crate) const BATCHED: [FactTable; 2] = [FactTable::MinerMetrics, FactTable::InstanceAudits];

/// One self-report's fact tables, for `Lake::write_self_reports`.
#[derive(Debug, Clone, Default)]
pub struct SelfReportFacts {
    /// The entry, by its (UUID) id.
    pub entry_id: String,
    /// Its tables, each in the table's schema.
    pub tables: Vec<(FactTable, DataFrame)>,
}

/// Which batch holds each entry's facts: the highest-numbered batch that
/// names it.
#[derive(Debug, Default)]
pub(crate) struct BatchIndex {
    by_entry: HashMap<String, u64>,
    folders: BTreeMap<u64, PathBuf>,
}

impl BatchIndex {
    /// The batch folder holding `entry_id`'s facts, if any.
    pub(crate) fn folder_of(&self, entry_id: &str) -> Option<&Path> {
        let number = self.by_entry.get(&entry_id.to_ascii_lowercase())?;
        self.folders.get(number).map(PathBuf::as_path)
    }
}

/// The batches of a lake: its `self-reports` folder.
#[derive(Debug, Clone)]
pub(crate) struct SelfReportBatches {
    dir: PathBuf,
    /// Held while a batch is numbered and renamed into place.
    numbering: std::sync::Arc<std::sync::Mutex<()>>,
}

impl SelfReportBatches {
    /// The batches under the lake's `root`.
    pub(crate) fn new(root: &Path) -> Self {
        SelfReportBatches {
            dir: root.join(FOLDER),
            numbering: Default::default(),
        }
    }

    /// Writes a batch of self-reports' fact tables as one batch folder,
    /// durably, and returns it. Every entry is named in `ENTRIES`, rows or
    /// not; each table holds the batch's rows with an `entry_id` column.
    pub(crate) fn write(&self, batch: &[SelfReportFacts]) -> Result<PathBuf, StoreError> {
        let dir = self.dir.clone();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let first = batch.first().map_or("empty", |f| f.entry_id.as_str());
        let tmp = dir.join(format!("{first}{TMP_MARKER}write"));
        let written = write_batch_folder(&tmp, batch);
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // Numbering and renaming under one lock: a sync commits batches
        // from several entries' tasks at once.
        let _numbering = self.numbering.lock().unwrap_or_else(|e| e.into_inner());
        let number = next_number(self.batch_numbers()?.last().copied(), unix_micros());
        let path = dir.join(format!("{number:016}"));
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_parent(&path);
        Ok(path)
    }

    /// The numbers of the batch folders, ascending.
    fn batch_numbers(&self) -> Result<Vec<u64>, StoreError> {
        Ok(self.batch_folders()?.into_keys().collect())
    }

    /// The batch folders by number; other names (leftovers) are not batches.
    fn batch_folders(&self) -> Result<BTreeMap<u64, PathBuf>, StoreError> {
        let dir = self.dir.clone();
        let mut out = BTreeMap::new();
        let items = match fs::read_dir(&dir) {
            Ok(items) => items,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => return Err(StoreError::Io { path: dir, source }),
        };
        for item in items {
            let item = item.map_err(io_err(&dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let is_dir = item.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if let (true, Ok(number)) = (is_dir && !name.contains(TMP_MARKER), name.parse()) {
                out.insert(number, item.path());
            }
        }
        Ok(out)
    }

    /// Which batch holds each entry (invariant 2). A batch whose `ENTRIES`
    /// cannot be read as entry ids is not a batch of ours: skipped, and
    /// swept.
    pub(crate) fn index(&self) -> Result<BatchIndex, StoreError> {
        let mut index = BatchIndex::default();
        for (number, folder) in self.batch_folders()? {
            let Some(ids) = batch_entries(&folder)? else {
                continue;
            };
            for id in ids {
                index.by_entry.insert(id, number);
            }
            index.folders.insert(number, folder);
        }
        Ok(index)
    }

    /// A lazy scan of `table` for the given entries held in batches, with
    /// their `entry_id`, one scan per batch: `None` when none is.
    pub(crate) fn scan(
        &self,
        index: &BatchIndex,
        entry_ids: &[&str],
        table: FactTable,
    ) -> Result<Option<LazyFrame>, StoreError> {
        let mut by_folder: BTreeMap<&Path, Vec<String>> = BTreeMap::new();
        for id in entry_ids {
            if let Some(folder) = index.folder_of(id) {
                by_folder
                    .entry(folder)
                    .or_default()
                    .push(id.to_ascii_lowercase());
            }
        }
        let mut frames = Vec::new();
        for (folder, ids) in by_folder {
            let path = folder.join(table.file_name());
            if !path.is_file() {
                continue;
            }
            let wanted = DataFrame::new(ids.len(), vec![Column::new(ENTRY_ID.into(), ids)])
                .map_err(polars_err(&path))?;
            let rows = LazyFrame::scan_parquet(
                PlRefPath::try_from_path(&path).map_err(polars_err(&path))?,
                ScanArgsParquet::default(),
            )
            .map_err(polars_err(&path))?;
            // Only the wanted entries' rows, and only from this batch.
            frames.push(rows.join(
                wanted.lazy(),
                [col(ENTRY_ID)],
                [col(ENTRY_ID)],
                JoinArgs::new(JoinType::Inner),
            ));
        }
        if frames.is_empty() {
            return Ok(None);
        }
        let joined = concat(frames, UnionArgs::default()).map_err(polars_err(&self.dir))?;
        Ok(Some(joined))
    }

    /// Removes every batch none of whose entries is in `loaded`
    /// (invariant 3), renamed aside first so a crash never leaves half a
    /// batch under its name. Returns how many went.
    pub(crate) fn sweep(&self, loaded: &HashSet<String>) -> Result<u64, StoreError> {
        let mut removed = 0;
        for (number, folder) in self.batch_folders()? {
            let keep =
                batch_entries(&folder)?.is_some_and(|ids| ids.iter().any(|id| loaded.contains(id)));
            if keep {
                continue;
            }
            let aside = self.dir.join(format!("{number:016}{TMP_MARKER}sweep"));
            fs::rename(&folder, &aside).map_err(io_err(&folder))?;
            fs::remove_dir_all(&aside).map_err(io_err(&aside))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The files and bytes of every batch, for `status`.
    pub(crate) fn size(&self) -> Result<(u64, u64), StoreError> {
        let mut total = (0, 0);
        for folder in self.batch_folders()?.into_values() {
            let (files, bytes) = folder_size(&folder)?;
            total.0 += files;
            total.1 += bytes;
        }
        Ok(total)
    }
}

/// A new batch's number: above every batch there is, and, as long as the
/// clock does not go back, above every batch there was (a number is not
/// given twice, even after its batch was swept).
fn next_number(highest: Option<u64>, now_micros: u64) -> u64 {
    highest.map_or(1, |n| n.saturating_add(1)).max(now_micros)
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The ids a batch names, lower-case; `None` when its `ENTRIES` is not a
/// list of UUIDs.
fn batch_entries(folder: &Path) -> Result<Option<Vec<String>>, StoreError> {
    let path = folder.join(ENTRIES);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(None),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let ids: Option<Vec<String>> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| canonical_entry_id(line).ok())
        .collect();
    Ok(ids)
}

/// Writes a batch's `ENTRIES` and tables into `folder` (a temporary
/// name), each file synced, then the folder.
fn write_batch_folder(folder: &Path, batch: &[SelfReportFacts]) -> Result<(), StoreError> {
    fs::create_dir_all(folder).map_err(io_err(folder))?;
    let ids: Vec<String> = batch
        .iter()
        .map(|facts| canonical_entry_id(&facts.entry_id))
        .collect::<Result<_, _>>()?;
    let entries = folder.join(ENTRIES);
    File::create(&entries)
        .and_then(|mut file| {
            file.write_all(
                ids.iter()
                    .map(|id| format!("{id}\n"))
                    .collect::<String>()
                    .as_bytes(),
            )?;
            file.sync_all()
        })
        .map_err(io_err(&entries))?;
    for table in BATCHED {
        let mut rows = table_rows(batch, &ids, table).map_err(polars_err(folder))?;
        write_fact_file(&folder.join(table.file_name()), &mut rows)?;
    }
    sync_parent(&entries);
    Ok(())
}

/// The batch's rows of `table`, in the table's schema and then `entry_id`
/// (`ids`: each self-report's canonical id, in the batch's order).
fn table_rows(
    batch: &[SelfReportFacts],
    ids: &[String],
    table: FactTable,
) -> Result<DataFrame, PolarsError> {
    let mut schema = facts::schema(table);
    schema.with_column(ENTRY_ID.into(), DataType::String);
    let mut out = DataFrame::empty_with_schema(&schema);
    for (facts, id) in batch.iter().zip(ids) {
        for (_, frame) in facts.tables.iter().filter(|(t, _)| *t == table) {
            let mut tagged = frame.clone();
            tagged.with_column(Column::new(
                ENTRY_ID.into(),
                vec![id.as_str(); frame.height()],
            ))?;
            out.vstack_mut_owned(tagged.select(schema.iter_names().cloned())?)?;
        }
    }
    out.rechunk_mut();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lake;

    const A: &str = "6f1c8c1e-7d8e-5b6a-9f0e-1a2b3c4d5e6f";
    const B: &str = "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2";
    const C: &str = "1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5";

    fn lake() -> (tempfile::TempDir, Lake) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        (dir, lake)
    }

    /// A self-report whose metrics say `counts` for chutes c0, c1, ...,
    /// its folder holding its report as the sync leaves it.
    fn report(lake: &Lake, id: &str, counts: &[f64]) -> SelfReportFacts {
        lake.write_report(id, b"{}").unwrap();
        let chutes: Vec<String> = (0..counts.len()).map(|i| format!("c{i}")).collect();
        let metrics = df!("chute_id" => chutes, "total_count" => counts).unwrap();
        let metrics = facts::conform(metrics, FactTable::MinerMetrics, &[]).unwrap();
        SelfReportFacts {
            entry_id: id.to_string(),
            tables: vec![(FactTable::MinerMetrics, metrics)],
        }
    }

    /// `(entry, total_count)` of every metrics row `scan` reads for `ids`.
    fn counts(lake: &Lake, ids: &[&str]) -> Vec<(String, f64)> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let Some(rows) = lake.scan(&ids, FactTable::MinerMetrics).unwrap() else {
            return Vec::new();
        };
        let rows = rows.collect().unwrap();
        let entries = rows.column(ENTRY_ID).unwrap().str().unwrap().clone();
        let totals = rows.column("total_count").unwrap().f64().unwrap().clone();
        let mut out: Vec<(String, f64)> = entries
            .iter()
            .zip(totals.iter())
            .map(|(e, t)| (e.unwrap().to_string(), t.unwrap()))
            .collect();
        out.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out
    }

    #[test]
    fn a_batch_reads_back_per_entry_and_across_entries() {
        let (_dir, lake) = lake();
        let batch = [report(&lake, A, &[1.0, 2.0]), report(&lake, B, &[5.0])];
        lake.write_self_reports(&batch).unwrap();
        assert_eq!(
            counts(&lake, &[A, B]),
            [(B.into(), 5.0), (A.into(), 1.0), (A.into(), 2.0)]
                .into_iter()
                .map(|(e, t): (&str, f64)| (e.to_string(), t))
                .collect::<Vec<_>>()
                .tap_sorted()
        );
        // Only the entries asked for.
        assert_eq!(counts(&lake, &[B]), vec![(B.to_string(), 5.0)]);
        let each = lake
            .scan_each(&[A.to_string(), C.to_string()], FactTable::MinerMetrics)
            .unwrap();
        let a = each[0].clone().unwrap().collect().unwrap();
        assert_eq!(a.height(), 2);
        assert_eq!(
            a.get_column_names(),
            facts::schema(FactTable::MinerMetrics)
                .iter_names()
                .collect::<Vec<_>>(),
            "one entry's rows in the table's own columns"
        );
        assert!(each[1].is_none(), "an entry in no batch has no table");
        // The lake lists the batched facts with their entries.
        let listed = lake.entries().unwrap();
        let a = listed.iter().find(|e| e.entry_id == A).unwrap();
        assert!(a.facts.contains(&FactTable::MinerMetrics));
    }

    #[test]
    fn every_entry_of_a_batch_is_present_rows_or_not() {
        let (_dir, lake) = lake();
        let empty = report(&lake, B, &[]);
        lake.write_self_reports(&[report(&lake, A, &[1.0]), empty])
            .unwrap();
        let ids = [A.to_string(), B.to_string()];
        assert_eq!(lake.missing(&ids).unwrap(), Vec::<String>::new());
        // A folder with its report but no batch naming it lacks its facts.
        lake.write_report(C, b"{}").unwrap();
        assert_eq!(lake.missing(&[C.to_string()]).unwrap(), vec![C.to_string()]);
        // And a lost batch is noticed.
        fs::remove_dir_all(lake.root().join(FOLDER)).unwrap();
        assert_eq!(lake.missing(&ids).unwrap(), ids.to_vec());
    }

    #[test]
    fn an_entry_loaded_again_is_read_from_its_newest_batch() {
        let (_dir, lake) = lake();
        lake.write_self_reports(&[report(&lake, A, &[1.0]), report(&lake, B, &[2.0])])
            .unwrap();
        lake.write_self_reports(&[report(&lake, A, &[7.0])])
            .unwrap();
        assert_eq!(
            counts(&lake, &[A, B]),
            vec![(B.to_string(), 2.0), (A.to_string(), 7.0)].tap_sorted()
        );
    }

    #[test]
    fn a_batch_goes_when_none_of_its_entries_is_loaded() {
        let (_dir, lake) = lake();
        let first = lake
            .write_self_reports(&[report(&lake, A, &[1.0]), report(&lake, B, &[2.0])])
            .unwrap();
        let second = lake
            .write_self_reports(&[report(&lake, C, &[3.0])])
            .unwrap();
        let loaded: HashSet<String> = [B.to_string()].into();
        assert_eq!(lake.sweep_self_reports(&loaded).unwrap(), 1);
        assert!(
            first.is_dir(),
            "B is loaded: its batch stays, A's rows with it"
        );
        assert!(!second.is_dir(), "nothing of C's batch is loaded");
        assert_eq!(lake.sweep_self_reports(&HashSet::new()).unwrap(), 1);
        assert!(!first.is_dir());
        assert_eq!(counts(&lake, &[A, B, C]), Vec::new());
    }

    #[test]
    fn an_unfinished_batch_is_never_read_and_is_cleaned() {
        let (_dir, lake) = lake();
        let written = lake
            .write_self_reports(&[report(&lake, A, &[1.0])])
            .unwrap();
        // A crash between the files and the rename: the folder is still
        // under its temporary name.
        let crashed = lake
            .root()
            .join(FOLDER)
            .join(format!("{B}{TMP_MARKER}write"));
        fs::rename(&written, &crashed).unwrap();
        assert_eq!(counts(&lake, &[A]), Vec::new());
        assert_eq!(lake.missing(&[A.to_string()]).unwrap(), vec![A.to_string()]);
        assert_eq!(lake.clean_leftovers().unwrap(), 1);
        assert!(!crashed.exists());
        // A batch whose list of entries is not ours is not read either.
        let odd = lake.root().join(FOLDER).join("0000000000000009");
        fs::create_dir_all(&odd).unwrap();
        fs::write(odd.join(ENTRIES), "../../etc\n").unwrap();
        assert_eq!(counts(&lake, &[A]), Vec::new());
        assert_eq!(lake.sweep_self_reports(&HashSet::new()).unwrap(), 1);
    }

    #[test]
    fn a_batch_refuses_an_entry_id_that_is_not_a_uuid_and_leaves_nothing() {
        let (_dir, lake) = lake();
        let mut bad = report(&lake, A, &[1.0]);
        bad.entry_id = "../escape".into();
        assert!(matches!(
            lake.write_self_reports(&[bad]),
            Err(StoreError::UnsafePath(_))
        ));
        assert_eq!(fs::read_dir(lake.root().join(FOLDER)).unwrap().count(), 0);
        assert_eq!(lake.clean_leftovers().unwrap(), 0);
    }

    #[test]
    fn a_batch_number_is_above_every_batch_there_is_and_was() {
        // The clock, then the highest batch, whichever is higher.
        assert_eq!(next_number(None, 1_000), 1_000);
        assert_eq!(next_number(Some(5_000), 1_000), 5_001);
        assert_eq!(next_number(Some(u64::MAX), 1), u64::MAX);
        let (_dir, lake) = lake();
        let first = lake
            .write_self_reports(&[report(&lake, A, &[1.0])])
            .unwrap();
        lake.sweep_self_reports(&HashSet::new()).unwrap();
        let second = lake
            .write_self_reports(&[report(&lake, A, &[2.0])])
            .unwrap();
        assert_ne!(first, second, "a swept batch's number is not given again");
    }

    trait TapSorted {
        fn tap_sorted(self) -> Self;
    }

    impl TapSorted for Vec<(String, f64)> {
        fn tap_sorted(mut self) -> Self {
            self.sort_by(|a, b| a.partial_cmp(b).unwrap());
            self
        }
    }
}
