//! Printing: logs to stderr through `tracing`, results to stdout as tables
//! or JSON. Rendering functions return strings so tests can snapshot them.

use comfy_table::{presets, Cell, CellAlignment, Table};

use serde::Serialize;

/// Logs go to stderr so stdout stays clean for tables and JSON.
/// `RUST_LOG` wins over -v/-q. `json` writes one object per line for log
/// collectors (`run` under docker or systemd).
pub fn init_logging(verbose: u8, quiet: u8, format: crate::cli::LogFormat) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "error",
        _ => "off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedStderr)
        .with_target(false);
    let _ = match format {
        crate::cli::LogFormat::Human => builder.try_init(),
        crate::cli::LogFormat::Json => builder.json().try_init(),
    };
}

/// Stderr with every secret masked on the way out: a library that logs a
/// URL with credentials, or an error quoting one, is masked here once.
struct MaskedStderr;

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(audit_store::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Pretty JSON of any result, with a trailing newline.
pub fn json<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("results serialise to JSON");
    text.push('\n');
    text
}

/// A table in the house style.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<Cell>,
{
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_header(header);
    table
}

/// A two-column table of labelled values, without a header.
pub fn key_values() -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table
}

/// Right-aligns the given columns (numbers).
pub fn align_right(table: &mut Table, columns: &[usize]) {
    for &i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Bytes as a human size.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_naturally() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(3 << 30), "3.0 GiB");
    }
}
