//! The file-level helpers the lake's two layouts share: one Parquet
//! format for every fact file, the temporary-name marker, syncs, sizes,
//! and errors that name their path.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;

use crate::StoreError;

/// Marks a file that is still being written.
pub const TMP_MARKER: &str = ".tmp-";

/// The zstd level of fact files. Level 1 encodes about twice as fast as
/// the default 3 (zstd was the cold sync's largest cost) for files a few
/// percent larger; any level reads at the same speed.
const FACT_ZSTD_LEVEL: i32 = 1;

/// Below this many rows a fact file is stored uncompressed: a miner's
/// self-report makes files of a few rows, where setting up a zstd context
/// per column cost more than the whole file (a week holds ten thousand).
const COMPRESSED_FROM_ROWS: usize = 1024;

/// The writer of every fact file, so all of them share one format:
/// buffered (the Parquet writer issues a write per page header and
/// value run), zstd unless the table is tiny (any Parquet reader reads
/// both), single-threaded.
pub(crate) fn fact_parquet<W: Write>(file: W, rows: usize) -> ParquetWriter<BufWriter<W>> {
    let compression = if rows < COMPRESSED_FROM_ROWS {
        ParquetCompression::Uncompressed
    } else {
        let level = polars::polars_utils::compression::ZstdLevel::try_new(FACT_ZSTD_LEVEL).ok();
        ParquetCompression::Zstd(level)
    };
    // Parquet's footer write flushes the buffer and reports its errors.
    // Columns are encoded on the calling thread: sync already writes
    // several entries at once, and waking the thread pool for each of ten
    // thousand small self-report files cost more than the files.
    // A self-report's tables are a few kilobytes: a quarter-megabyte
    // buffer each, ten thousand a sync, was fresh memory faulted in.
    let buffer = if rows < COMPRESSED_FROM_ROWS {
        1 << 14
    } else {
        1 << 18
    };
    ParquetWriter::new(BufWriter::with_capacity(buffer, file))
        .with_compression(compression)
        .set_parallel(false)
}

pub(crate) fn sync_parent(path: &Path) {
    // Durability of the rename itself; best effort (not all filesystems allow it).
    if let Some(parent) = path.parent() {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

pub(crate) fn folder_size(dir: &Path) -> Result<(u64, u64), StoreError> {
    let mut files = 0;
    let mut bytes = 0;
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let meta = item.metadata().map_err(io_err(&item.path()))?;
        if meta.is_dir() {
            let (f, b) = folder_size(&item.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn polars_err(path: &Path) -> impl FnOnce(PolarsError) -> StoreError + '_ {
    move |source| StoreError::Facts {
        path: path.to_path_buf(),
        message: source.to_string(),
    }
}

/// Writes a whole fact file at `path` (a temporary name) and syncs it.
pub(crate) fn write_fact_file(path: &Path, frame: &mut DataFrame) -> Result<(), StoreError> {
    let result = File::create(path).and_then(|file| {
        fact_parquet(&file, frame.height())
            .finish(frame)
            .map_err(std::io::Error::other)?;
        file.sync_all()
    });
    result.map_err(|source| {
        let _ = fs::remove_file(path);
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// An entry id in its one canonical form, the hyphenated lower-case UUID,
/// so one entry has one folder and one line in a batch; anything else is
/// refused, as it would name a path from the network.
pub(crate) fn canonical_entry_id(entry_id: &str) -> Result<String, StoreError> {
    let id = uuid::Uuid::parse_str(entry_id).map_err(|_| {
        StoreError::UnsafePath(audit_model::path::UnsafePath {
            path: entry_id.to_owned(),
            why: "an entry id must be a UUID".into(),
        })
    })?;
    Ok(id.hyphenated().to_string())
}
