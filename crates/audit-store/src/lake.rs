//! The lake: one folder per audit entry holding the evidence (raw report and
//! export bytes, exactly as downloaded) and the entry's facts as Parquet.
//!
//! ```text
//! {data_dir}/lake/VERSION                    the facts' schema version ("3")
//! {data_dir}/lake/entries/{entry_id}/report.json
//!                                   /exports/{invocations,reports,jobs}.csv
//!                                   /facts/{table}.parquet
//! {data_dir}/lake/self-reports/{batch}/...     miners' self-reports' facts,
//!                                              a batch to a table (`self_reports.rs`)
//! ```
//!
//! Files are immutable once written. Every write goes to a temporary name in
//! the same folder and is renamed into place, so a reader or a crash never
//! sees half a file; leftovers of a crash carry [`TMP_MARKER`] in their name
//! and [`Lake::clean_leftovers`] removes them. Folder names come from entry
//! ids, which arrive from the network: they must parse as UUIDs, and any
//! other network-derived path goes through [`confine`].
//!
//! # Invariants (each pinned by a test below)
//!
//! 1. A file under its final name is whole: writes are renamed into place
//!    (`an_unfinished_fact_write_leaves_no_file`), and whatever a crash
//!    leaves carries [`TMP_MARKER`] and is removed
//!    (`leftovers_are_cleaned_and_pruning_removes_the_entry`).
//! 2. One entry, one folder, named by its UUID; nothing else names a folder
//!    (`entry_ids_must_be_uuids`).
//! 3. `VERSION` is written last: when it says [`SCHEMA_VERSION`], every fact
//!    file has that version's columns; when it is absent the lake is of
//!    version 1, and its files may be of either version (a migration was
//!    interrupted). A new lake starts at the current version
//!    (`a_new_lake_is_current_and_needs_no_migration`).
//! 4. Every reader sees the current columns whatever the layout: a
//!    version-1 file is read with its keys derived as the ingest derives
//!    them ([`Lake::scan_each`]; `an_old_lake_reads_as_the_new_one`).
//! 5. [`Lake::migrate`] is idempotent and crash-safe: each file is replaced
//!    whole (data synced before the rename), so a crash at any point leaves
//!    a readable lake, and the next migration finishes it with every row
//!    once (`a_migration_killed_anywhere_is_finished_by_the_next`).
//! 6. An entry whose invocations are in place has their counts (version
//!    3's `invocation_counts`): [`FactWriter::finish`] renames the counts
//!    into place before the invocations, and an entry of an older lake
//!    reads them counted from its invocations
//!    (`invocations_are_written_with_their_counts`, and the two tests
//!    above).
//!
//! [`SCHEMA_VERSION`]: crate::facts::SCHEMA_VERSION

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use audit_model::path::{confine, UnsafePath};

use polars::prelude::*;
use serde::Serialize;

use crate::catalog::ExportKind;
use crate::facts::{self, FactTable, SCHEMA_VERSION};
use crate::files::{
    canonical_entry_id, fact_parquet, folder_size, io_err, polars_err, sync_parent,
    write_fact_file, TMP_MARKER,
};
use crate::self_reports::{SelfReportBatches, SelfReportFacts, BATCHED, ENTRY_ID};
use crate::StoreError;

/// The file in the lake's root naming the schema version of its facts.
const VERSION_FILE: &str = "VERSION";

/// What [`Lake::migrate`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// The version the lake was at.
    pub from_version: u32,
    /// Fact files rewritten with version 2's keys.
    pub files_rewritten: u64,
    /// Entries given their version-3 invocation counts.
    pub counts_written: u64,
}

/// What the lake holds for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeEntry {
    /// The entry, by its (UUID) id.
    pub entry_id: String,
    /// Files in its folder: raw evidence and fact tables.
    pub files: u64,
    /// Their total size, for `status` and disk planning.
    pub bytes: u64,
    /// The fact tables written for it: a validator entry has its exports', a miner self-report its metrics.
    pub facts: Vec<FactTable>,
}

/// The per-entry file store under `{data_dir}/lake`.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    /// Miners' self-reports' facts, a batch to a table.
    batches: SelfReportBatches,
}

impl Lake {
    /// Opens (creating if needed) the lake under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let root = data_dir.join("lake");
        let entries = root.join("entries");
        fs::create_dir_all(&entries).map_err(io_err(&entries))?;
        let root = root.canonicalize().map_err(io_err(&root))?;
        let lake = Lake {
            batches: SelfReportBatches::new(&root),
            root,
        };
        let marker = lake.root.join(VERSION_FILE);
        if !marker.exists() && lake.entry_ids()?.is_empty() {
            // Nothing to migrate: a new lake is written in the current version.
            lake.write_version()?;
        }
        Ok(lake)
    }

    /// The schema version of the lake's facts: its `VERSION` file, 1 when
    /// there is none (lakes from before versions).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let path = self.root.join(VERSION_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| StoreError::Facts {
                path,
                message: format!("`{}` is not a schema version", text.trim()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(1),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn write_version(&self) -> Result<(), StoreError> {
        write_atomic(
            &self.root.join(VERSION_FILE),
            format!("{SCHEMA_VERSION}\n").as_bytes(),
        )
    }

    /// Brings the lake's facts to the current schema version, in place:
    /// each fact file without the current columns is read, given them
    /// ([`facts::conform`]) and replaced whole; `VERSION` is written last.
    /// Safe to repeat and to interrupt (see the module's invariants); the
    /// caller holds the data directory's write lock, so nothing else
    /// writes meanwhile. Readers may read beside it.
    pub fn migrate(&self) -> Result<Migration, StoreError> {
        self.migrate_with(&mut |_| Ok(()))
    }

    /// [`Lake::migrate`], failing as a crash would at its `step`-th step
    /// (each rewritten file is two steps, its temporary file written and
    /// then renamed; the last step is writing `VERSION`), so a test can
    /// show the next migration finishes the job.
    #[cfg(feature = "testing")]
    pub fn migrate_crashing_at(&self, step: usize) -> Result<Migration, StoreError> {
        let mut at = 0;
        self.migrate_with(&mut |what: &Path| {
            at += 1;
            if at > step {
                return Err(StoreError::Io {
                    path: what.to_path_buf(),
                    source: std::io::Error::other("injected crash during the migration"),
                });
            }
            Ok(())
        })
    }

    /// The migration, calling `step` before each step that changes the
    /// disk (a test hook: an error there stops the migration as a crash
    /// would).
    fn migrate_with(
        &self,
        step: &mut dyn FnMut(&Path) -> Result<(), StoreError>,
    ) -> Result<Migration, StoreError> {
        let from_version = self.schema_version()?;
        let mut done = Migration {
            from_version,
            ..Migration::default()
        };
        if from_version >= SCHEMA_VERSION {
            return Ok(done);
        }
        // An interrupted run may have left a half-written file in any
        // folder, loaded or not: this one walk, once, finds them all.
        self.clean_leftovers()?;
        let ids = self.entry_ids()?;
        // Version 2: the keys.
        for id in &ids {
            for table in FactTable::ALL {
                if facts::key_columns(table).is_empty() {
                    continue;
                }
                let path = self.fact_path(id, table)?;
                if !path.is_file() || facts::has_keys(&read_schema(&path)?, table) {
                    continue;
                }
                let mut frame = read_current(&path, table)?;
                replace_whole(&path, &mut frame, step)?;
                done.files_rewritten += 1;
            }
        }
        // Version 3: the invocation counts, from the invocations.
        for id in &ids {
            let path = self.fact_path(id, FactTable::InvocationCounts)?;
            if path.is_file() {
                continue;
            }
            let Some(counts) = self.scan_file(id, FactTable::InvocationCounts, true)? else {
                continue;
            };
            let mut counts = counts.collect().map_err(polars_err(&path))?;
            replace_whole(&path, &mut counts, step)?;
            done.counts_written += 1;
        }
        step(&self.root.join(VERSION_FILE))?;
        self.write_version()?;
        Ok(done)
    }

    /// Writes a batch of miners' self-reports' fact tables as one batch,
    /// durably, and returns its folder (see `self_reports.rs`).
    pub fn write_self_reports(&self, batch: &[SelfReportFacts]) -> Result<PathBuf, StoreError> {
        self.batches.write(batch)
    }

    /// Removes the self-report batches none of whose entries is in
    /// `loaded`; returns how many went.
    pub fn sweep_self_reports(
        &self,
        loaded: &std::collections::HashSet<String>,
    ) -> Result<u64, StoreError> {
        self.batches.sweep(loaded)
    }

    /// The files and bytes of the self-report batches, for `status`.
    pub fn self_report_batches_size(&self) -> Result<(u64, u64), StoreError> {
        self.batches.size()
    }

    /// The lake's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of one entry; the id must be a UUID.
    pub fn entry_dir(&self, entry_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self
            .root
            .join("entries")
            .join(canonical_entry_id(entry_id)?))
    }

    /// Keeps the report bytes exactly as received.
    pub fn write_report(&self, entry_id: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let path = self.entry_dir(entry_id)?.join("report.json");
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Keeps the report bytes exactly as received, atomically but not yet
    /// durably: the caller makes the write durable with
    /// [`Lake::make_durable`] before the catalog may claim it (the
    /// self-reports of a sync share one sync instead of paying three each).
    pub fn write_report_unsynced(
        &self,
        entry_id: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, StoreError> {
        let path = self.entry_dir(entry_id)?.join("report.json");
        write_renamed(&path, |file| file.write_all(bytes))?;
        Ok(path)
    }

    /// Makes earlier unsynced writes durable: their data, and the
    /// renames and new folders that name them. On Linux one `syncfs` of
    /// the lake's filesystem covers every one of them; elsewhere each
    /// file and each distinct folder is synced.
    pub fn make_durable(&self, files: &[PathBuf]) -> Result<(), StoreError> {
        if files.is_empty() {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        {
            let root = File::open(&self.root).map_err(io_err(&self.root))?;
            rustix::fs::syncfs(&root).map_err(|e| StoreError::Io {
                path: self.root.clone(),
                source: e.into(),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut folders = std::collections::BTreeSet::new();
            for file in files {
                File::open(file)
                    .and_then(|f| f.sync_all())
                    .map_err(io_err(file))?;
                let mut dir = file.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(&self.root)) {
                    folders.insert(d.to_path_buf());
                    dir = d.parent();
                }
            }
            for folder in folders {
                // Best effort, as for a single file's rename.
                if let Ok(dir) = File::open(&folder) {
                    let _ = dir.sync_all();
                }
            }
            Ok(())
        }
    }

    /// The path of an entry's raw report.
    pub fn report_path(&self, entry_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.entry_dir(entry_id)?.join("report.json"))
    }

    /// Keeps a verified export's bytes exactly as received.
    pub fn write_export(
        &self,
        entry_id: &str,
        kind: ExportKind,
        bytes: &[u8],
    ) -> Result<PathBuf, StoreError> {
        let path = self.export_path(entry_id, kind)?;
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// A fresh temporary file name beside an entry's export of `kind`, for
    /// a download to stream into while it is hashed. It carries
    /// [`TMP_MARKER`], so a crash leaves nothing [`Lake::clean_leftovers`]
    /// would not remove; [`Lake::commit_export`] moves it into place once
    /// its hash is verified.
    pub fn staging_path(&self, entry_id: &str, kind: ExportKind) -> Result<PathBuf, StoreError> {
        tmp_sibling(&self.export_path(entry_id, kind)?)
    }

    /// Makes a verified staged download durable and moves it to the
    /// entry's export of `kind`. Returns the final path.
    pub fn commit_export(
        &self,
        staged: &Path,
        entry_id: &str,
        kind: ExportKind,
    ) -> Result<PathBuf, StoreError> {
        let path = self.export_path(entry_id, kind)?;
        commit_staged(staged, &path, true)?;
        Ok(path)
    }

    /// A fresh temporary file name beside an entry's report, for the
    /// report's download to stream into while it is hashed (see
    /// [`Lake::staging_path`]); [`Lake::commit_report`] moves it into
    /// place once the chain has confirmed the hash.
    pub fn report_staging_path(&self, entry_id: &str) -> Result<PathBuf, StoreError> {
        tmp_sibling(&self.report_path(entry_id)?)
    }

    /// Moves a verified staged report to the entry's `report.json`, made
    /// durable first when `durable`; otherwise the caller makes it durable
    /// with [`Lake::make_durable`] (see [`Lake::write_report_unsynced`]).
    /// Returns the final path.
    pub fn commit_report(
        &self,
        staged: &Path,
        entry_id: &str,
        durable: bool,
    ) -> Result<PathBuf, StoreError> {
        let path = self.report_path(entry_id)?;
        commit_staged(staged, &path, durable)?;
        Ok(path)
    }

    /// The path of an entry's raw export of `kind`.
    pub fn export_path(&self, entry_id: &str, kind: ExportKind) -> Result<PathBuf, StoreError> {
        Ok(self
            .entry_dir(entry_id)?
            .join("exports")
            .join(format!("{}.csv", kind.as_str())))
    }

    /// The Parquet file of `table` for an entry (it may not exist).
    pub fn fact_path(&self, entry_id: &str, table: FactTable) -> Result<PathBuf, StoreError> {
        Ok(self
            .entry_dir(entry_id)?
            .join("facts")
            .join(table.file_name()))
    }

    /// Writes a whole fact table for an entry.
    pub fn write_facts(
        &self,
        entry_id: &str,
        table: FactTable,
        frame: &mut DataFrame,
    ) -> Result<u64, StoreError> {
        let mut writer = self.fact_writer(entry_id, table, frame.schema())?;
        writer.write(frame)?;
        writer.finish()
    }

    /// Starts a streaming write of a fact table: batches go in one by one,
    /// and the file appears under its final name only on [`FactWriter::finish`].
    pub fn fact_writer(
        &self,
        entry_id: &str,
        table: FactTable,
        schema: &Schema,
    ) -> Result<FactWriter, StoreError> {
        let path = self.fact_path(entry_id, table)?;
        let tmp = tmp_sibling(&path)?;
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let writer = fact_parquet(file, usize::MAX)
            .batched(schema)
            .map_err(polars_err(&tmp))?;
        let counts = match table {
            FactTable::Invocations => Some(DerivedCounts {
                path: self.fact_path(entry_id, FactTable::InvocationCounts)?,
                parts: Vec::new(),
            }),
            _ => None,
        };
        Ok(FactWriter {
            tmp,
            path,
            writer: Some(writer),
            rows: 0,
            counts,
        })
    }

    /// A lazy scan of `table` for each of the given entries, in the order
    /// given (`None` where an entry has no such table), always in the
    /// current schema: a file of an unmigrated lake that lacks the
    /// current columns is read whole and given them as the ingest would.
    /// An entry whose facts are in a self-report batch is read from it
    /// (one scan each: [`Lake::scan`] reads many of them at once).
    pub fn scan_each(
        &self,
        entry_ids: &[String],
        table: FactTable,
    ) -> Result<Vec<Option<LazyFrame>>, StoreError> {
        let current = self.schema_version()? >= SCHEMA_VERSION;
        let columns: Vec<Expr> = facts::schema(table)
            .iter_names()
            .map(|n| col(n.clone()))
            .collect();
        let mut batches = None;
        let mut out = Vec::with_capacity(entry_ids.len());
        for id in entry_ids {
            if let Some(frame) = self.scan_file(id, table, current)? {
                out.push(Some(frame));
                continue;
            }
            if !BATCHED.contains(&table) {
                out.push(None);
                continue;
            }
            let index = match &batches {
                Some(index) => index,
                None => batches.insert(self.batches.index()?),
            };
            let rows = self.batches.scan(index, &[id.as_str()], table)?;
            out.push(rows.map(|rows| rows.select(columns.clone())));
        }
        Ok(out)
    }

    /// A lazy scan of an entry's own fact file of `table`, if it has one.
    fn scan_file(
        &self,
        entry_id: &str,
        table: FactTable,
        current: bool,
    ) -> Result<Option<LazyFrame>, StoreError> {
        let path = self.fact_path(entry_id, table)?;
        if !path.is_file() {
            if table == FactTable::InvocationCounts {
                // Not yet migrated to version 3: counted at the read.
                let rows = self.scan_file(entry_id, FactTable::Invocations, current)?;
                return Ok(rows.map(|rows| facts::add_counts(facts::count_invocations(rows))));
            }
            return Ok(None);
        }
        let frame = if current || facts::has_keys(&read_schema(&path)?, table) {
            LazyFrame::scan_parquet(
                PlRefPath::try_from_path(&path).map_err(polars_err(&path))?,
                ScanArgsParquet::default(),
            )
            .map_err(polars_err(&path))?
        } else {
            read_current(&path, table)?.lazy()
        };
        Ok(Some(frame))
    }

    /// A lazy scan over `table` across the given entries, with an
    /// `entry_id` column added, or `None` when no entry has that table.
    /// Entries whose facts are in self-report batches are read a batch at
    /// a time, after those with files of their own.
    pub fn scan(
        &self,
        entry_ids: &[String],
        table: FactTable,
    ) -> Result<Option<LazyFrame>, StoreError> {
        let current = self.schema_version()? >= SCHEMA_VERSION;
        let mut frames = Vec::new();
        let mut batched = Vec::new();
        for id in entry_ids {
            match self.scan_file(id, table, current)? {
                Some(frame) => frames.push(frame.with_column(lit(id.as_str()).alias(ENTRY_ID))),
                None => batched.push(id.as_str()),
            }
        }
        if !batched.is_empty() && BATCHED.contains(&table) {
            let index = self.batches.index()?;
            frames.extend(self.batches.scan(&index, &batched, table)?);
        }
        if frames.is_empty() {
            return Ok(None);
        }
        let joined = concat(frames, UnionArgs::default()).map_err(polars_err(&self.root))?;
        Ok(Some(joined))
    }

    /// Every entry folder in the lake, by entry id, with its size (a
    /// self-report's batched facts are counted with their batch, not here).
    pub fn entries(&self) -> Result<Vec<LakeEntry>, StoreError> {
        let index = self.batches.index()?;
        let mut out = Vec::new();
        for name in self.entry_ids()? {
            let path = self.root.join("entries").join(&name);
            let (files, bytes) = folder_size(&path)?;
            let facts_dir = match index.folder_of(&name) {
                Some(batch) if !path.join("facts").is_dir() => batch.to_path_buf(),
                _ => path.join("facts"),
            };
            let facts = FactTable::ALL
                .into_iter()
                .filter(|t| facts_dir.join(t.file_name()).is_file())
                .collect();
            out.push(LakeEntry {
                entry_id: name,
                files,
                bytes,
                facts,
            });
        }
        Ok(out)
    }

    /// The ids of the entry folders in the lake, sorted: a directory
    /// listing only, cheap enough for every sync.
    pub fn entry_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("entries");
        let mut out = Vec::new();
        for item in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let item = item.map_err(io_err(&dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let is_dir = item.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if uuid::Uuid::parse_str(&name).is_ok() && is_dir {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Which of `entry_ids` the lake lacks: no folder, or a folder with
    /// neither facts of its own nor a self-report batch naming it. One
    /// directory listing and the batches' `ENTRIES`, and a look into the
    /// folders of entries no batch names (a validator's few), so every
    /// sync can afford to check that each loaded entry is still there.
    pub fn missing(&self, entry_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let present: std::collections::HashSet<String> = self.entry_ids()?.into_iter().collect();
        let index = self.batches.index()?;
        let entries = self.root.join("entries");
        Ok(entry_ids
            .iter()
            .filter(|id| {
                let id = id.to_ascii_lowercase();
                !present.contains(&id)
                    || (index.folder_of(&id).is_none() && !entries.join(&id).join("facts").is_dir())
            })
            .cloned()
            .collect())
    }

    /// Removes an entry's folder. The folder is first renamed aside so that
    /// a crash mid-delete never leaves a partial entry under its real name.
    /// Returns whether anything was there.
    pub fn prune(&self, entry_id: &str) -> Result<bool, StoreError> {
        let dir = self.entry_dir(entry_id)?;
        if !dir.exists() {
            return Ok(false);
        }
        let aside = self
            .root
            .join("entries")
            .join(format!("{entry_id}{TMP_MARKER}prune"));
        fs::rename(&dir, &aside).map_err(io_err(&dir))?;
        fs::remove_dir_all(&aside).map_err(io_err(&aside))?;
        Ok(true)
    }

    /// Deletes what a crashed write left behind: temporary files and
    /// half-pruned folders. Returns how many were removed.
    pub fn clean_leftovers(&self) -> Result<u64, StoreError> {
        self.clean_leftovers_except(&std::collections::HashSet::new())
    }

    /// [`Lake::clean_leftovers`] without walking into the folders of
    /// `settled` entries (the ones the catalog holds as loaded): nothing
    /// writes into a loaded entry's folder, since an entry leaves
    /// `loaded` before it is written again, so a crash leaves its
    /// temporary files only in folders that are walked. Half-pruned
    /// folders sit beside the entries and are always found. A week's lake
    /// is tens of thousands of folders; each sync walks only the few that
    /// were being written.
    pub fn clean_leftovers_except(
        &self,
        settled: &std::collections::HashSet<String>,
    ) -> Result<u64, StoreError> {
        let entries = self.root.join("entries");
        let mut removed = 0;
        walk_leftovers(&self.root, &mut removed, &|path| {
            path.parent() == Some(entries.as_path())
                && path
                    .file_name()
                    .is_some_and(|n| settled.contains(n.to_string_lossy().as_ref()))
        })?;
        Ok(removed)
    }
}

/// Removes every temporary file or folder under `dir`, not descending
/// into folders `skip` names.
fn walk_leftovers(
    dir: &Path,
    removed: &mut u64,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<(), StoreError> {
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let path = item.path();
        let is_tmp = item.file_name().to_string_lossy().contains(TMP_MARKER);
        let file_type = item.file_type().map_err(io_err(&path))?;
        if is_tmp {
            if file_type.is_dir() {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
            } else {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
            *removed += 1;
        } else if file_type.is_dir() && !skip(&path) {
            walk_leftovers(&path, removed, skip)?;
        }
    }
    Ok(())
}

/// A fact table being written; see [`Lake::fact_writer`]. Dropping it
/// without `finish` removes the temporary file.
pub struct FactWriter {
    tmp: PathBuf,
    path: PathBuf,
    writer: Option<polars::io::parquet::write::BatchedWriter<BufWriter<File>>>,
    rows: u64,
    /// For invocations: their counts, written beside them (version 3).
    counts: Option<DerivedCounts>,
}

/// An entry's invocation counts, counted a batch at a time as the
/// invocations are written.
struct DerivedCounts {
    path: PathBuf,
    parts: Vec<LazyFrame>,
}

impl DerivedCounts {
    fn add(&mut self, batch: &DataFrame) -> Result<(), StoreError> {
        let counted = with_counted_columns(batch)
            .and_then(|rows| facts::count_invocations(rows.lazy()).collect())
            .map_err(polars_err(&self.path))?;
        self.parts.push(counted.lazy());
        Ok(())
    }

    /// Writes the counts under their final name, durably.
    fn finish(self) -> Result<(), StoreError> {
        let mut counts = if self.parts.is_empty() {
            DataFrame::empty_with_schema(&facts::schema(FactTable::InvocationCounts))
        } else {
            concat(self.parts, UnionArgs::default())
                .and_then(|parts| facts::add_counts(parts).collect())
                .map_err(polars_err(&self.path))?
        };
        replace_whole(&self.path, &mut counts, &mut |_| Ok(()))
    }
}

/// The columns [`facts::count_invocations`] reads, from a batch that may
/// lack some (a test's frame): absent ones read as null, as
/// [`facts::conform`] would give them.
fn with_counted_columns(batch: &DataFrame) -> PolarsResult<DataFrame> {
    use facts::invocations as inv;
    let schema = facts::schema(FactTable::Invocations);
    let mut columns = Vec::with_capacity(4);
    for name in [
        inv::MINER_HOTKEY,
        inv::CHUTE_ID,
        inv::ERROR_MESSAGE,
        inv::COMPLETED_AT,
    ] {
        let dtype = schema.try_get(name)?;
        columns.push(match batch.column(name) {
            Ok(column) => column.cast(dtype)?,
            Err(_) => Column::full_null(name.into(), batch.height(), dtype),
        });
    }
    DataFrame::new(batch.height(), columns)
}

impl FactWriter {
    /// Appends a batch; its schema must be the one the writer was opened with.
    pub fn write(&mut self, batch: &DataFrame) -> Result<(), StoreError> {
        if batch.height() == 0 {
            return Ok(());
        }
        let writer = self.writer.as_mut().expect("writer present until finish");
        writer.write_batch(batch).map_err(polars_err(&self.tmp))?;
        if let Some(counts) = &mut self.counts {
            counts.add(batch)?;
        }
        self.rows += batch.height() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file, makes it durable and moves it to its final name.
    /// Returns the number of rows.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        let writer = self.writer.take().expect("writer present until finish");
        writer.finish().map_err(polars_err(&self.tmp))?;
        drop(writer);
        File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&self.tmp))?;
        // The counts land first: a crash between the two renames leaves
        // counts beside the entry's previous invocations or none, and an
        // entry is read only once the catalog has it loaded, after this.
        if let Some(counts) = self.counts.take() {
            if let Err(e) = counts.finish() {
                let _ = fs::remove_file(&self.tmp);
                return Err(e);
            }
        }
        fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        sync_parent(&self.path);
        Ok(self.rows)
    }
}

impl Drop for FactWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `frame` durably under a temporary name and renames it to
/// `path`, the rename synced too, calling `step` after each of the two
/// (the migration's crash hook; a no-op for the ingest's counts).
fn replace_whole(
    path: &Path,
    frame: &mut DataFrame,
    step: &mut dyn FnMut(&Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let tmp = tmp_sibling(path)?;
    write_fact_file(&tmp, frame)?;
    step(&tmp)?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_parent(path);
    step(path)
}

/// The column names of a fact file, from its footer.
fn read_schema(path: &Path) -> Result<Vec<String>, StoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    let schema = ParquetReader::new(file)
        .schema()
        .map_err(polars_err(path))?;
    Ok(schema.iter_names().map(|n| n.to_string()).collect())
}

/// A fact file read whole and brought to the current schema of `table`.
fn read_current(path: &Path, table: FactTable) -> Result<DataFrame, StoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    let frame = ParquetReader::new(file)
        .finish()
        .map_err(polars_err(path))?;
    facts::conform(frame, table, &[]).map_err(polars_err(path))
}

/// Writes `bytes` to `path` through a temporary sibling and a rename, with
/// the data synced before the rename so a crash leaves old or new, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = tmp_sibling(path)?;
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::Io { path: tmp, source });
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_parent(path);
    Ok(())
}

/// Writes `path` through a temporary sibling and a rename, without
/// syncing: see [`Lake::make_durable`].
fn write_renamed(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = tmp_sibling(path)?;
    let result = File::create(&tmp).and_then(|mut file| write(&mut file));
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::Io { path: tmp, source });
    }
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn tmp_sibling(path: &Path) -> Result<PathBuf, StoreError> {
    let parent = path.parent().ok_or_else(|| {
        StoreError::UnsafePath(UnsafePath {
            path: path.display().to_string(),
            why: "has no parent".into(),
        })
    })?;
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    Ok(parent.join(format!("{name}{TMP_MARKER}{}", &unique[..12])))
}

/// Moves a staging file (a [`TMP_MARKER`] sibling of `path`) onto `path`,
/// its data synced first when `durable`. Anything else is refused: the
/// staged path comes from the caller, the final one from the entry.
fn commit_staged(staged: &Path, path: &Path, durable: bool) -> Result<(), StoreError> {
    let is_ours = staged.parent() == path.parent()
        && staged
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(TMP_MARKER));
    if !is_ours {
        return Err(StoreError::UnsafePath(UnsafePath {
            path: staged.display().to_string(),
            why: "not a staging file of this entry".into(),
        }));
    }
    if durable {
        File::open(staged)
            .and_then(|f| f.sync_all())
            .map_err(io_err(staged))?;
    }
    fs::rename(staged, path).map_err(io_err(path))?;
    if durable {
        sync_parent(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "6f1c8c1e-7d8e-5b6a-9f0e-1a2b3c4d5e6f";

    fn lake() -> (tempfile::TempDir, Lake) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        (dir, lake)
    }

    /// An invocations and a reports frame as version 1 wrote them: text
    /// ids, no keys.
    fn v1_facts(seed: usize) -> (DataFrame, DataFrame) {
        let id = |i: usize| format!("00000000-0000-4000-8000-{:012x}", seed * 100 + i);
        let ids: Vec<String> = (0..3).map(id).collect();
        let invocations = df!(
            "parent_invocation_id" => [ids[0].clone(), ids[0].clone(), "not-a-uuid".to_string()],
            "invocation_id" => ids.clone(),
            "miner_hotkey" => ["m1", "m2", "m1"],
            "compute_multiplier" => [1.0, 2.0, 0.5],
        )
        .unwrap();
        let invocations = facts::conform(invocations, FactTable::Invocations, &[])
            .unwrap()
            .drop_many(facts::key_columns(FactTable::Invocations).iter().copied());
        let reports = df!("invocation_id" => [ids[0].clone()], "reason" => ["bad"]).unwrap();
        let reports = facts::conform(reports, FactTable::Reports, &[])
            .unwrap()
            .drop_many(facts::key_columns(FactTable::Reports).iter().copied());
        (invocations, reports)
    }

    const ENTRIES: [&str; 3] = [
        "6f1c8c1e-7d8e-5b6a-9f0e-1a2b3c4d5e6f",
        "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2",
        "1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
    ];

    /// A lake of version 1 (no `VERSION`): three entries with invocations
    /// and reports, and one folder with only a report. Returns the frames
    /// each entry's tables must read as, in the current schema.
    fn v1_lake(lake: &Lake) -> Vec<(String, FactTable, DataFrame)> {
        fs::remove_file(lake.root().join(VERSION_FILE)).unwrap();
        lake.write_report("2e3f4051-6b7c-4d8e-9fa0-b1c2d3e4f506", b"{}")
            .unwrap();
        let mut want = Vec::new();
        for (n, id) in ENTRIES.iter().enumerate() {
            let (mut inv, mut rep) = v1_facts(n);
            lake.write_facts(id, FactTable::Invocations, &mut inv)
                .unwrap();
            lake.write_facts(id, FactTable::Reports, &mut rep).unwrap();
            // Version 1 wrote no counts.
            fs::remove_file(lake.fact_path(id, FactTable::InvocationCounts).unwrap()).unwrap();
            for (table, frame) in [(FactTable::Invocations, inv), (FactTable::Reports, rep)] {
                let current = facts::conform(frame, table, &[]).unwrap();
                want.push((id.to_string(), table, current));
            }
            // m1 served two rows, m2 one; none completed.
            let counts = df!(
                "miner_hotkey" => ["m1", "m2"],
                "chute_id" => [None::<&str>, None],
                "succeeded" => [0i64, 0],
                "rows" => [2i64, 1],
            )
            .unwrap();
            want.push((id.to_string(), FactTable::InvocationCounts, counts));
        }
        assert_eq!(lake.schema_version().unwrap(), 1);
        want
    }

    /// Every table reads as `want`, through the readers' path.
    fn reads_as(lake: &Lake, want: &[(String, FactTable, DataFrame)]) {
        for (id, table, frame) in want {
            let read = lake.scan_each(std::slice::from_ref(id), *table).unwrap();
            let read = read[0].clone().unwrap().collect().unwrap();
            assert_eq!(read.schema(), frame.schema(), "{id} {table:?}");
            assert!(
                read.equals_missing(frame),
                "{id} {table:?}: {read} != {frame}"
            );
        }
    }

    fn tmp_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for item in fs::read_dir(dir).unwrap() {
            let path = item.unwrap().path();
            if path.to_string_lossy().contains(TMP_MARKER) {
                out.push(path);
            } else if path.is_dir() {
                out.extend(tmp_files(&path));
            }
        }
        out
    }

    #[test]
    fn a_new_lake_is_current_and_needs_no_migration() {
        let (_dir, lake) = lake();
        assert_eq!(lake.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(
            lake.migrate().unwrap(),
            Migration {
                from_version: SCHEMA_VERSION,
                ..Migration::default()
            }
        );
    }

    #[test]
    fn an_old_lake_reads_as_the_new_one() {
        let (_dir, lake) = lake();
        let want = v1_lake(&lake);
        reads_as(&lake, &want);
        // The keys are the ingest's: a UUID's value, a text's name key.
        let (id, _, frame) = &want[0];
        let read = lake
            .scan_each(std::slice::from_ref(id), FactTable::Invocations)
            .unwrap()[0]
            .clone()
            .unwrap()
            .collect()
            .unwrap();
        let lo = read.column(facts::invocations::INVOCATION_KEY_LO).unwrap();
        assert_eq!(lo.u64().unwrap().get(1), Some(0x8000_0000_0000_0001));
        assert_eq!(frame.height(), 3);
        // Reading migrates nothing.
        assert_eq!(lake.schema_version().unwrap(), 1);
    }

    #[test]
    fn a_migration_killed_anywhere_is_finished_by_the_next() {
        // Six files rewritten and three counts written, two steps each,
        // then VERSION: 19 steps. A file is in place once its second step
        // is done.
        let in_place = |steps: usize, from: usize, files: usize| {
            (steps.saturating_sub(from).div_ceil(2)).min(files) as u64
        };
        for crash_at in [0, 1, 2, 5, 8, 11, 12, 13, 14, 17, 18] {
            let (_dir, lake) = lake();
            let want = v1_lake(&lake);
            let err = lake.migrate_crashing_at(crash_at).unwrap_err();
            assert!(
                err.to_string().contains("injected crash"),
                "{crash_at}: {err}"
            );
            assert_eq!(lake.schema_version().unwrap(), 1, "{crash_at}");
            // The old layout, half migrated, still reads whole.
            reads_as(&lake, &want);
            let done = lake.migrate().unwrap();
            assert_eq!(done.from_version, 1);
            assert_eq!(
                done.files_rewritten,
                6 - in_place(crash_at, 0, 6),
                "{crash_at}"
            );
            assert_eq!(
                done.counts_written,
                3 - in_place(crash_at, 12, 3),
                "{crash_at}"
            );
            assert_eq!(lake.schema_version().unwrap(), SCHEMA_VERSION);
            assert!(tmp_files(lake.root()).is_empty(), "{crash_at}");
            // Every file is in the new schema, with every row once.
            for (id, table, frame) in &want {
                let path = lake.fact_path(id, *table).unwrap();
                assert!(facts::has_keys(&read_schema(&path).unwrap(), *table));
                let on_disk = ParquetReader::new(File::open(&path).unwrap())
                    .finish()
                    .unwrap();
                assert!(on_disk.equals_missing(frame), "{crash_at} {id} {table:?}");
            }
            reads_as(&lake, &want);
            // Again: nothing to do.
            let again = lake.migrate().unwrap();
            assert_eq!(again.files_rewritten + again.counts_written, 0);
        }
    }

    #[test]
    fn invocations_are_written_with_their_counts() {
        let (_dir, lake) = lake();
        let rows = |hotkeys: &[&str]| {
            let frame =
                df!("miner_hotkey" => hotkeys, "chute_id" => vec!["c1"; hotkeys.len()]).unwrap();
            facts::conform(frame, FactTable::Invocations, &[]).unwrap()
        };
        let schema = facts::schema(FactTable::Invocations);
        let mut writer = lake
            .fact_writer(ENTRY, FactTable::Invocations, &schema)
            .unwrap();
        writer.write(&rows(&["m1", "m2"])).unwrap();
        writer.write(&rows(&["m1"])).unwrap();
        let counts_path = lake.fact_path(ENTRY, FactTable::InvocationCounts).unwrap();
        assert!(!counts_path.exists(), "nothing in place before finish");
        writer.finish().unwrap();
        let counts = ParquetReader::new(File::open(&counts_path).unwrap())
            .finish()
            .unwrap();
        let want = df!(
            "miner_hotkey" => ["m1", "m2"],
            "chute_id" => ["c1", "c1"],
            "succeeded" => [0i64, 0],
            "rows" => [2i64, 1],
        )
        .unwrap();
        assert!(counts.equals_missing(&want), "{counts}");
        // A writer dropped unfinished leaves neither.
        let other = "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2";
        let mut writer = lake
            .fact_writer(other, FactTable::Invocations, &schema)
            .unwrap();
        writer.write(&rows(&["m1"])).unwrap();
        drop(writer);
        for table in [FactTable::Invocations, FactTable::InvocationCounts] {
            assert!(!lake.fact_path(other, table).unwrap().exists(), "{table:?}");
        }
        assert!(tmp_files(lake.root()).is_empty());
    }

    #[test]
    fn raw_bytes_are_kept_exactly() {
        let (_dir, lake) = lake();
        let bytes = b"{\"a\": 1,  \"b\": [1,2]}\r\n\xff";
        let path = lake.write_report(ENTRY, bytes).unwrap();
        assert_eq!(fs::read(path).unwrap(), bytes);
        let path = lake
            .write_export(ENTRY, ExportKind::Jobs, b"job_id\n1\n")
            .unwrap();
        assert_eq!(fs::read(path).unwrap(), b"job_id\n1\n");
    }

    #[test]
    fn entry_ids_must_be_uuids() {
        let (_dir, lake) = lake();
        for bad in ["../../etc", "/etc/passwd", "x", ""] {
            let err = lake.write_report(bad, b"x").unwrap_err();
            assert!(matches!(err, StoreError::UnsafePath(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn facts_round_trip_and_scan_across_entries() {
        let (_dir, lake) = lake();
        let other = "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2";
        let mut a = df!("invocation_id" => ["a1", "a2"], "compute" => [1.5, 2.0]).unwrap();
        let mut b = df!("invocation_id" => ["b1"], "compute" => [4.0]).unwrap();
        assert_eq!(
            lake.write_facts(ENTRY, FactTable::Invocations, &mut a)
                .unwrap(),
            2
        );
        assert_eq!(
            lake.write_facts(other, FactTable::Invocations, &mut b)
                .unwrap(),
            1
        );
        let ids = vec![ENTRY.to_string(), other.to_string()];
        let total = lake
            .scan(&ids, FactTable::Invocations)
            .unwrap()
            .unwrap()
            .select([col("compute").sum()])
            .collect()
            .unwrap();
        let sum = total.column("compute").unwrap().f64().unwrap().get(0);
        assert_eq!(sum, Some(7.5));
        assert!(lake.scan(&ids, FactTable::Jobs).unwrap().is_none());
        let listed = lake.entries().unwrap();
        assert_eq!(listed.len(), 2);
        // The invocations come with their counts (version 3).
        assert_eq!(
            listed[0].facts,
            vec![FactTable::Invocations, FactTable::InvocationCounts]
        );
    }

    #[test]
    fn an_unsynced_report_and_its_batch_land_whole_and_are_made_durable_together() {
        let (_dir, lake) = lake();
        let report = lake.write_report_unsynced(ENTRY, b"{\"x\": 1}").unwrap();
        let frame = df!("chute_id" => ["c1", "c2"], "total_count" => [3.0, 4.0]).unwrap();
        let frame = facts::conform(frame, FactTable::MinerMetrics, &[]).unwrap();
        lake.write_self_reports(&[SelfReportFacts {
            entry_id: ENTRY.to_string(),
            tables: vec![(FactTable::MinerMetrics, frame)],
        }])
        .unwrap();
        lake.make_durable(std::slice::from_ref(&report)).unwrap();
        assert_eq!(fs::read(&report).unwrap(), b"{\"x\": 1}");
        let read = lake
            .scan(&[ENTRY.to_string()], FactTable::MinerMetrics)
            .unwrap()
            .unwrap()
            .collect()
            .unwrap();
        assert_eq!(read.height(), 2);
        assert_eq!(
            lake.missing(&[ENTRY.to_string()]).unwrap(),
            Vec::<String>::new()
        );
        // Nothing half-written is left beside them.
        assert_eq!(lake.clean_leftovers().unwrap(), 0);
    }

    #[test]
    fn an_unfinished_fact_write_leaves_no_file() {
        let (_dir, lake) = lake();
        let batch = df!("x" => [1i64, 2, 3]).unwrap();
        let mut writer = lake
            .fact_writer(ENTRY, FactTable::Jobs, batch.schema())
            .unwrap();
        writer.write(&batch).unwrap();
        drop(writer);
        assert!(!lake.fact_path(ENTRY, FactTable::Jobs).unwrap().exists());
        let facts = lake.entry_dir(ENTRY).unwrap().join("facts");
        assert_eq!(fs::read_dir(facts).unwrap().count(), 0);
    }

    #[test]
    fn leftovers_are_cleaned_and_pruning_removes_the_entry() {
        let (_dir, lake) = lake();
        lake.write_report(ENTRY, b"{}").unwrap();
        let stray = lake
            .entry_dir(ENTRY)
            .unwrap()
            .join(format!("report.json{TMP_MARKER}abc"));
        fs::write(&stray, b"half").unwrap();
        let settled = std::collections::HashSet::from([ENTRY.to_string()]);
        assert_eq!(lake.clean_leftovers_except(&settled).unwrap(), 0);
        assert!(stray.exists(), "a settled entry's folder is not walked");
        assert_eq!(lake.clean_leftovers().unwrap(), 1);
        assert!(!stray.exists());
        assert!(lake.report_path(ENTRY).unwrap().exists());
        assert!(lake.prune(ENTRY).unwrap());
        assert!(!lake.prune(ENTRY).unwrap());
        assert!(lake.entries().unwrap().is_empty());
    }
}
