//! Writing world files: hashed CSV exports with their header first, JSON
//! documents, and the deterministic names (UUIDs, keys) and time formats
//! the generator and the live hour share.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::DevnetError;

/// A file writer that hashes and counts what it writes, so an export's
/// sha256 for its report comes without reading the file back.
struct HashingFile {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One export being written: each row goes through serde (a typed row, or
/// the live hour's recorded fields), and a failure names the file.
pub(crate) struct ExportWriter<'a> {
    csv: csv::Writer<&'a mut HashingFile>,
    path: &'a Path,
}

impl ExportWriter<'_> {
    /// Writes one row.
    pub(crate) fn row(&mut self, row: impl Serialize) -> Result<(), DevnetError> {
        self.csv.serialize(row).map_err(csv_err(self.path))
    }
}

fn create(path: &Path) -> Result<File, DevnetError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    File::create(path).map_err(io(path))
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> DevnetError + '_ {
    move |e| DevnetError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes `value` as pretty JSON; returns its size.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<u64, DevnetError> {
    let bytes = serde_json::to_vec_pretty(value).expect("world files serialise");
    let mut file = create(path)?;
    file.write_all(&bytes).map_err(io(path))?;
    Ok(bytes.len() as u64)
}

/// Writes one hourly export: `header`, then what `rows` writes. Returns
/// its entry for the report (path and sha256 of the bytes written) and
/// its size.
pub(crate) fn write_export(
    out: &Path,
    export_path: &str,
    header: &[&str],
    rows: impl FnOnce(&mut ExportWriter) -> Result<(), DevnetError>,
) -> Result<(serde_json::Value, u64), DevnetError> {
    let path = out.join("exports").join(export_path);
    let mut file = HashingFile {
        inner: BufWriter::new(create(&path)?),
        hasher: Sha256::new(),
        bytes: 0,
    };
    {
        // The header is written here, always, even for an export without
        // rows; serde must not write another.
        let csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut file);
        let mut w = ExportWriter { csv, path: &path };
        w.row(header)?;
        rows(&mut w)?;
        w.csv.flush().map_err(io(&path))?;
    }
    file.flush().map_err(io(&path))?;
    let entry = json!({"path": export_path, "sha256": hex::encode(file.hasher.finalize())});
    Ok((entry, file.bytes))
}

/// A deterministic UUID from the seed and a label.
pub(crate) fn uuid(seed: u64, label: &str) -> String {
    let digest = Sha256::digest(format!("{seed}:{label}"));
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// A deterministic SS58 account from the seed and a label (the address
/// of those 32 bytes as a public key, encoded as the chain client does).
pub(crate) fn key(seed: u64, label: &str) -> String {
    subtensor::keys::ss58(&Sha256::digest(format!("{seed}:key:{label}")).into())
}

/// A time as the exports write it (`2025-02-10 12:00:00.000000`).
pub(crate) fn csv_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// A time as the reports and the listing write it (ISO-8601, no zone).
pub(crate) fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}
