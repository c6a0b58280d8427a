//! Printing results to stdout as tables or JSON. Rendering functions
//! return strings so tests can snapshot them.
//!
//! Everything shown passes through here with its terminal controls
//! escaped (`audit_model::terminal`): table cells, printed text, JSON
//! strings (and, through [`json_controls`], the CLI's JSON log lines).

use std::fmt;
use std::io::Write;
use std::ops::{Deref, DerefMut};

use audit_model::terminal::{escape_control, escape_control_multiline, is_terminal_control};
use comfy_table::{presets, Cell, CellAlignment};
use serde::Serialize;

/// Writes `text` to stdout with its terminal controls escaped (newlines
/// and tabs kept). Every command prints through here: a value from the
/// network is shown, never obeyed. A closed pipe is an error, not a panic.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(escape_control_multiline(text).as_bytes())?;
    out.flush()
}

/// [`print`] with `format!` arguments and a newline.
#[macro_export]
macro_rules! println_safe {
    ($($arg:tt)*) => {
        $crate::output::print(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub use crate::println_safe;

/// Serialised JSON with every control serde_json leaves raw (DEL, C1,
/// bidi) written as a `\uXXXX` escape: the same string to a JSON reader,
/// inert on a terminal. Only valid on JSON text, where such characters
/// can only stand inside strings.
pub fn json_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_terminal_control(c) && !matches!(c, '\n' | '\t') {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Pretty JSON of any result, with a trailing newline.
pub fn json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).expect("results serialise to JSON");
    let mut text = json_controls(&text);
    text.push('\n');
    text
}

/// A table in the house style whose cells are escaped as they are added
/// ([`escape_control`]), so the columns are laid out on what is shown.
pub struct Table(comfy_table::Table);

impl Table {
    /// Adds a row, each cell's text escaped (a cell's own styling is not
    /// kept: the house tables set none).
    pub fn add_row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cell>,
    {
        self.0.add_row(escaped(cells));
        self
    }
}

fn escaped<I, S>(cells: I) -> Vec<Cell>
where
    I: IntoIterator<Item = S>,
    S: Into<Cell>,
{
    cells
        .into_iter()
        .map(|cell| Cell::new(escape_control(&cell.into().content())))
        .collect()
}

impl Deref for Table {
    type Target = comfy_table::Table;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Table {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A table in the house style.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<Cell>,
{
    let mut table = key_values();
    table.0.set_header(escaped(header));
    table
}

/// A two-column table of labelled values, without a header.
pub fn key_values() -> Table {
    let mut table = comfy_table::Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    Table(table)
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
    use audit_model::terminal::is_terminal_control;

    /// A recolour, a title write, a line rewrite, a NUL, an 8-bit CSI, a
    /// bidi override and a line break.
    const HOSTILE: &str = "\u{1b}[31m\u{1b}]0;x\u{7}\r\u{0}\u{9b}2J\u{202e}\nforged";

    fn raw_controls(text: &str) -> Vec<char> {
        text.chars()
            .filter(|&c| is_terminal_control(c) && c != '\n')
            .collect()
    }

    #[test]
    fn table_cells_are_escaped_before_the_columns_are_laid_out() {
        let mut table = super::table(["hotkey", "count"]);
        table.add_row([format!("5F{HOSTILE}"), "1".to_string()]);
        table.add_row(["5Grw".to_string(), "22".to_string()]);
        let shown = table.to_string();
        assert!(raw_controls(&shown).is_empty(), "{shown}");
        assert_eq!(shown.lines().count(), 6, "one line per row: {shown}");
        let widths: Vec<usize> = shown.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{shown}");
    }

    #[test]
    fn json_keeps_every_string_and_carries_no_raw_control() {
        let value = serde_json::json!({ "hotkey": HOSTILE, "n": 1 });
        let text = super::json(&value);
        assert!(raw_controls(&text).is_empty(), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(3 << 30), "3.0 GiB");
    }
}
