//! A result as text cells, CSV, JSON or Parquet.

use std::io::Write;

use polars::prelude::*;

use crate::QueryError;

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, a header line, nulls as empty fields.
    Csv,
    /// A JSON array of objects, one per row; nulls as `null`.
    Json,
    /// One Parquet file, the columns' types kept.
    Parquet,
}

fn out_err(e: impl std::fmt::Display) -> QueryError {
    QueryError::Output(e.to_string())
}

pub(crate) fn write(
    frame: &DataFrame,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), QueryError> {
    match format {
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(frame.get_column_names().iter().map(|n| n.as_str()))
                .map_err(out_err)?;
            for row in text_rows(frame) {
                csv.write_record(&row).map_err(out_err)?;
            }
            csv.flush().map_err(out_err)
        }
        Format::Json => {
            let names = frame.get_column_names();
            let columns = frame.columns();
            let rows: Vec<serde_json::Map<String, serde_json::Value>> = (0..frame.height())
                .map(|i| {
                    names
                        .iter()
                        .zip(columns)
                        .map(|(name, column)| {
                            let value = column.get(i).map(json).unwrap_or(serde_json::Value::Null);
                            (name.to_string(), value)
                        })
                        .collect()
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows).map_err(out_err)?;
            out.write_all(b"\n").map_err(out_err)
        }
        Format::Parquet => {
            let mut frame = frame.clone();
            ParquetWriter::new(out)
                .finish(&mut frame)
                .map(|_| ())
                .map_err(out_err)
        }
    }
}

/// Every row as text; a null is an empty cell.
pub(crate) fn text_rows(frame: &DataFrame) -> Vec<Vec<String>> {
    let columns = frame.columns();
    (0..frame.height())
        .map(|i| {
            columns
                .iter()
                .map(|c| c.get(i).map(|v| text(&v)).unwrap_or_default())
                .collect()
        })
        .collect()
}

/// Microseconds (or another unit) since the epoch as upstream's exports
/// write a time: `2025-02-10 15:51:19.216856`.
fn datetime(value: i64, unit: TimeUnit) -> String {
    let t = match unit {
        TimeUnit::Nanoseconds => chrono::DateTime::from_timestamp_nanos(value),
        TimeUnit::Microseconds => match chrono::DateTime::from_timestamp_micros(value) {
            Some(t) => t,
            None => return value.to_string(),
        },
        TimeUnit::Milliseconds => match chrono::DateTime::from_timestamp_millis(value) {
            Some(t) => t,
            None => return value.to_string(),
        },
    };
    t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()
}

fn text(value: &AnyValue) -> String {
    match value {
        AnyValue::Null => String::new(),
        AnyValue::Boolean(b) => b.to_string(),
        // Shortest text that reads back to the same float: sums compare
        // exactly with other tools.
        AnyValue::Float64(f) => f.to_string(),
        AnyValue::Float32(f) => f.to_string(),
        AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => datetime(*v, *unit),
        other => match other.get_str() {
            Some(s) => s.to_string(),
            None => other.to_string(),
        },
    }
}

fn json(value: AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::Int8(v) => v.into(),
        AnyValue::Int16(v) => v.into(),
        AnyValue::Int32(v) => v.into(),
        AnyValue::Int64(v) => v.into(),
        AnyValue::UInt8(v) => v.into(),
        AnyValue::UInt16(v) => v.into(),
        AnyValue::UInt32(v) => v.into(),
        AnyValue::UInt64(v) => v.into(),
        // JSON has no NaN or infinity.
        AnyValue::Float64(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        AnyValue::Float32(f) => {
            serde_json::Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number)
        }
        other => Value::String(text(&other)),
    }
}
