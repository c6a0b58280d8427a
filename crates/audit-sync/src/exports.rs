//! Parsing the validator's CSV exports into fact batches.
//!
//! Exports are untrusted input. Columns are matched by header name (added
//! columns are ignored, missing ones are null), empty fields are nulls, and
//! a row that cannot be read — wrong field count, bad UTF-8, a value of the
//! wrong type, no id, a miner key that is not an SS58 address — is counted
//! as malformed and skipped, never loaded half. A `metrics` value that is not a Python literal nulls the metrics
//! of its row, which is still loaded and counted apart. Rows stream through
//! fixed-size batches, so memory does not grow with the export.
//!
//! Numbers are checked for plausibility, not only for syntax: a
//! non-finite value (`NaN`, `inf`) is malformed everywhere; a compute
//! multiplier or bounty must lie in its [`Bounds`], and an invocation
//! cannot complete before it started. Such a row is malformed (and counted
//! apart as implausible); a scoring metric outside [`MAX_METRIC`] nulls
//! its row's metrics. docs/security.md gives the reasons for the bounds.

use std::collections::HashSet;
use std::io::Read;

use audit_store::facts::{self, invocations as inv, jobs, reports};
use audit_store::{FactTable, StoreError};
use polars::prelude::*;

use crate::pyliteral::{self, PyValue};

/// Rows per batch handed to the sink.
pub const BATCH_ROWS: usize = 65_536;

/// Columns an invocations export must carry in its header: without them
/// every row would score as nothing (no miner, no compute, no time), so
/// such an export is malformed, not a source of null rows. Their values
/// may still be empty on a row.
pub const REQUIRED_INVOCATION_COLUMNS: [&str; 4] = [
    inv::MINER_HOTKEY,
    inv::COMPUTE_MULTIPLIER,
    "metrics",
    inv::COMPLETED_AT,
];

/// The largest `compute_multiplier` believed. Upstream multipliers are a
/// GPU weight times a GPU count (tens at most); this leaves two orders of
/// magnitude of headroom and still refuses a fabricated ±1,000,000.
pub const MAX_COMPUTE_MULTIPLIER: f64 = 1_000.0;

/// The largest `bounty` believed: the bounty is added to an invocation's
/// compute units, which are seconds of (normalised) compute; a million is
/// more than eleven days of it for one request.
pub const MAX_BOUNTY: f64 = 1_000_000.0;

/// The largest scoring metric believed (`nc`, `steps`, `masps`, `it`,
/// `ot`, `maspt`): a billion tokens, steps or seconds in one invocation.
pub const MAX_METRIC: f64 = 1e9;

/// The closed range a numeric column's values must lie in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Smallest plausible value.
    pub min: f64,
    /// Largest plausible value.
    pub max: f64,
}

impl Bounds {
    /// Whether `value` is finite and inside the range.
    pub fn admits(&self, value: f64) -> bool {
        value.is_finite() && (self.min..=self.max).contains(&value)
    }
}

/// Where compute multipliers must lie (never negative).
pub const MULTIPLIER_BOUNDS: Bounds = Bounds {
    min: 0.0,
    max: MAX_COMPUTE_MULTIPLIER,
};

/// Where bounties must lie (never negative).
pub const BOUNTY_BOUNDS: Bounds = Bounds {
    min: 0.0,
    max: MAX_BOUNTY,
};

/// Where the scoring metrics must lie (never negative).
pub const METRIC_BOUNDS: Bounds = Bounds {
    min: 0.0,
    max: MAX_METRIC,
};

/// What parsing one export found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ParseStats {
    /// Rows loaded.
    pub rows: u64,
    /// Rows skipped because they could not be read.
    pub malformed_rows: u64,
    /// Loaded rows whose `metrics` did not parse, or held a non-finite,
    /// negative or implausibly large scoring value (metrics nulled).
    pub malformed_metrics: u64,
    /// Of the malformed rows, those refused for a number outside its
    /// plausible range ([`Bounds`]) or a completion before the start.
    pub implausible_rows: u64,
    /// Rows dropped because `miner_uid` is negative (not miner work).
    pub not_miner_work: u64,
    /// Expected columns the header lacks (loaded as null).
    pub missing_columns: Vec<String>,
}

/// Why an export could not be parsed at all (a bad row never does this).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// An empty export: without a header no column can be found.
    #[error("the {table} export has no header row")]
    NoHeader {
        /// The export's table.
        table: &'static str,
    },
    /// The header lacks the column that identifies a row.
    #[error("the {table} export's header lacks the required column `{column}`")]
    MissingKey {
        /// The export's table.
        table: &'static str,
        /// The key column absent from its header.
        column: &'static str,
    },
    /// The header lacks columns the scores cannot do without: loading
    /// the rows as nulls would score the hour as empty work.
    #[error("the {table} export's header lacks the required column(s) {}", columns.join(", "))]
    MissingColumns {
        /// The export's table.
        table: &'static str,
        /// The required columns absent from its header.
        columns: Vec<&'static str>,
    },
    /// The bytes could not be read as CSV at all (I/O, not a bad row).
    #[error("reading the {table} export: {message}")]
    Read {
        /// The export's table.
        table: &'static str,
        /// The reader's error.
        message: String,
    },
    /// Writing the parsed batches to the lake failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The parsed columns did not make a frame of the table's schema.
    #[error("building a {table} batch: {message}")]
    Batch {
        /// The export's table.
        table: &'static str,
        /// Polars' error.
        message: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// An SS58 account (a miner's hotkey or coldkey), kept as text: scores
    /// are keyed by it and tables show it, so a value that is not an
    /// address (a typo, escape sequences) makes the row malformed.
    Account,
    Int,
    Float,
    Time,
    Bool,
}

/// A CSV column and the fact column it fills.
struct Spec {
    header: &'static str,
    column: &'static str,
    kind: Kind,
    /// A row without this value is malformed.
    required: bool,
    /// A number outside these bounds makes the row malformed.
    bounds: Option<Bounds>,
}

const fn spec(header: &'static str, kind: Kind) -> Spec {
    Spec {
        header,
        column: header,
        kind,
        required: false,
        bounds: None,
    }
}

const fn key(header: &'static str) -> Spec {
    Spec {
        header,
        column: header,
        kind: Kind::Text,
        required: true,
        bounds: None,
    }
}

/// A float column whose values must lie in `bounds`.
const fn bounded(header: &'static str, bounds: Bounds) -> Spec {
    Spec {
        header,
        column: header,
        kind: Kind::Float,
        required: false,
        bounds: Some(bounds),
    }
}

/// The most columns a table's specs have (checked by a test).
const MAX_SPECS: usize = 16;

fn specs(table: FactTable) -> Vec<Spec> {
    use Kind::*;
    match table {
        FactTable::Invocations => vec![
            spec(inv::PARENT_INVOCATION_ID, Text),
            key(inv::INVOCATION_ID),
            spec(inv::CHUTE_ID, Text),
            spec(inv::CHUTE_USER_ID, Text),
            spec(inv::FUNCTION_NAME, Text),
            spec(inv::USER_ID, Text),
            spec(inv::IMAGE_ID, Text),
            spec(inv::IMAGE_USER_ID, Text),
            spec(inv::INSTANCE_ID, Text),
            spec(inv::MINER_UID, Int),
            spec(inv::MINER_HOTKEY, Account),
            spec(inv::STARTED_AT, Time),
            spec(inv::COMPLETED_AT, Time),
            spec(inv::ERROR_MESSAGE, Text),
            bounded(inv::COMPUTE_MULTIPLIER, MULTIPLIER_BOUNDS),
            bounded(inv::BOUNTY, BOUNTY_BOUNDS),
        ],
        FactTable::Reports => vec![
            key(reports::INVOCATION_ID),
            spec(reports::USER_ID, Text),
            spec(reports::TIMESTAMP, Time),
            spec(reports::CONFIRMED_AT, Time),
            spec(reports::CONFIRMED_BY, Text),
            spec(reports::REASON, Text),
        ],
        FactTable::Jobs => vec![
            key(jobs::JOB_ID),
            spec(jobs::CHUTE_ID, Text),
            spec(jobs::VERSION, Text),
            spec(jobs::CHUTES_VERSION, Text),
            spec(jobs::METHOD, Text),
            spec(jobs::MINER_UID, Int),
            spec(jobs::MINER_HOTKEY, Account),
            spec(jobs::MINER_COLDKEY, Account),
            spec(jobs::INSTANCE_ID, Text),
            spec(jobs::CREATED_AT, Time),
            spec(jobs::UPDATED_AT, Time),
            spec(jobs::STARTED_AT, Time),
            spec(jobs::FINISHED_AT, Time),
            spec(jobs::STATUS, Text),
            bounded(jobs::COMPUTE_MULTIPLIER, MULTIPLIER_BOUNDS),
            spec(jobs::MINER_TERMINATED, Bool),
        ],
        FactTable::InstanceAudits | FactTable::MinerMetrics | FactTable::InvocationCounts => {
            unreachable!("{table:?} does not come from a CSV export")
        }
    }
}

/// One field, read and typed but not yet committed to the batch.
#[derive(Clone, Copy)]
enum Field<'r> {
    Null,
    Text(&'r str),
    Int(i32),
    Float(f64),
    Time(i64),
    Bool(bool),
}

/// Why a field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    /// Not a value of the column's type.
    Syntax,
    /// A number, but non-finite or outside the column's bounds.
    Implausible,
}

/// The SS58 addresses one export has shown valid. A week's rows name a
/// few hundred miners: a set look-up per row instead of a base58 decode
/// and a blake2b checksum. Bounded, so an export of distinct addresses
/// costs time, not memory. The hasher is foldhash's, seeded per process:
/// SipHash on each row's address was a twentieth of a cold sync.
#[derive(Default)]
struct Accounts {
    valid: HashSet<Box<str>, foldhash::fast::RandomState>,
}

impl Accounts {
    const MAX_REMEMBERED: usize = 4096;

    fn is_address(&mut self, raw: &str) -> bool {
        if self.valid.contains(raw) {
            return true;
        }
        let valid = subtensor::keys::public_key(raw).is_ok();
        if valid && self.valid.len() < Self::MAX_REMEMBERED {
            self.valid.insert(raw.into());
        }
        valid
    }
}

/// Reads a field and checks a number against the column's bounds and an
/// account against SS58.
fn read_checked<'r>(
    raw: &'r str,
    spec: &Spec,
    accounts: &mut Accounts,
) -> Result<Field<'r>, Unreadable> {
    let field = read_field(raw, spec.kind).ok_or(Unreadable::Syntax)?;
    if spec.kind == Kind::Account && !raw.is_empty() && !accounts.is_address(raw) {
        return Err(Unreadable::Syntax);
    }
    match field {
        Field::Float(v) if !v.is_finite() => Err(Unreadable::Implausible),
        Field::Float(v) if spec.bounds.is_some_and(|b| !b.admits(v)) => {
            Err(Unreadable::Implausible)
        }
        field => Ok(field),
    }
}

fn read_field(raw: &str, kind: Kind) -> Option<Field<'_>> {
    if raw.is_empty() {
        return Some(Field::Null);
    }
    Some(match kind {
        Kind::Text | Kind::Account => Field::Text(raw),
        Kind::Int => Field::Int(raw.trim().parse().ok()?),
        // Rust's parser accepts `NaN`, `inf` and `infinity`; they are
        // read here and refused by `read_checked`.
        Kind::Float => Field::Float(raw.trim().parse().ok()?),
        Kind::Time => Field::Time(
            audit_store::time::parse_utc(raw)?
                .and_utc()
                .timestamp_micros(),
        ),
        Kind::Bool => Field::Bool(match raw.trim() {
            "True" | "true" | "t" | "1" => true,
            "False" | "false" | "f" | "0" => false,
            _ => return None,
        }),
    })
}

/// The scoring keys of one `metrics` value.
#[derive(Default, Clone, Copy)]
struct Metrics {
    p: Option<bool>,
    nc: Option<f64>,
    steps: Option<f64>,
    masps: Option<f64>,
    it: Option<f64>,
    ot: Option<f64>,
    maspt: Option<f64>,
}

/// `None` when the text is not a Python dict literal, or a scoring value
/// in it lies outside [`METRIC_BOUNDS`] (a negative `masps` would make
/// compute negative; the parser already refuses `nan` and `inf`).
fn read_metrics(raw: &str) -> Option<Metrics> {
    if raw.is_empty() {
        return Some(Metrics::default());
    }
    let value = pyliteral::parse(raw).ok()?;
    if !matches!(value, PyValue::Dict(_)) {
        return None;
    }
    let mut plausible = true;
    let mut num = |k: &str| {
        let v = value.get(k).and_then(PyValue::as_f64)?;
        plausible &= METRIC_BOUNDS.admits(v);
        Some(v)
    };
    let metrics = Metrics {
        p: value.get("p").and_then(|v| match v {
            PyValue::None => None,
            other => Some(other.truthy()),
        }),
        nc: num("nc"),
        steps: num("steps"),
        masps: num("masps"),
        it: num("it"),
        ot: num("ot"),
        maspt: num("maspt"),
    };
    plausible.then_some(metrics)
}

enum Builder {
    Text(StringChunkedBuilder),
    Int(PrimitiveChunkedBuilder<Int32Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    Time(PrimitiveChunkedBuilder<Int64Type>),
    Bool(BooleanChunkedBuilder),
}

impl Builder {
    fn new(name: &str, kind: Kind, capacity: usize) -> Self {
        let name = PlSmallStr::from(name);
        match kind {
            Kind::Text | Kind::Account => Builder::Text(StringChunkedBuilder::new(name, capacity)),
            Kind::Int => Builder::Int(PrimitiveChunkedBuilder::new(name, capacity)),
            Kind::Float => Builder::Float(PrimitiveChunkedBuilder::new(name, capacity)),
            Kind::Time => Builder::Time(PrimitiveChunkedBuilder::new(name, capacity)),
            Kind::Bool => Builder::Bool(BooleanChunkedBuilder::new(name, capacity)),
        }
    }

    fn push(&mut self, field: Field<'_>) {
        match (self, field) {
            (Builder::Text(b), Field::Text(v)) => b.append_value(v),
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Int(b), Field::Int(v)) => b.append_value(v),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Float(b), Field::Float(v)) => b.append_value(v),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Time(b), Field::Time(v)) => b.append_value(v),
            (Builder::Time(b), _) => b.append_null(),
            (Builder::Bool(b), Field::Bool(v)) => b.append_value(v),
            (Builder::Bool(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> Result<Column, PolarsError> {
        Ok(match self {
            Builder::Text(b) => b.finish().into_column(),
            Builder::Int(b) => b.finish().into_column(),
            Builder::Float(b) => b.finish().into_column(),
            Builder::Time(b) => b.finish().into_column().cast(&facts::timestamp())?,
            Builder::Bool(b) => b.finish().into_column(),
        })
    }
}

/// The metrics columns of the invocations table, in schema order.
const METRIC_COLUMNS: [(&str, Kind); 8] = [
    (inv::PRIVATE, Kind::Bool),
    (inv::NC, Kind::Float),
    (inv::STEPS, Kind::Float),
    (inv::MASPS, Kind::Float),
    (inv::IT, Kind::Float),
    (inv::OT, Kind::Float),
    (inv::MASPT, Kind::Float),
    (inv::METRICS_MALFORMED, Kind::Bool),
];

/// A batch under construction, with one builder per fact column.
struct Batch {
    table: FactTable,
    builders: Vec<(String, Builder)>,
    rows: usize,
}

impl Batch {
    fn new(table: FactTable, specs: &[Spec]) -> Self {
        let mut builders: Vec<(String, Builder)> = specs
            .iter()
            .map(|s| {
                (
                    s.column.to_string(),
                    Builder::new(s.column, s.kind, BATCH_ROWS),
                )
            })
            .collect();
        if table == FactTable::Invocations {
            for (name, kind) in METRIC_COLUMNS {
                builders.push((name.to_string(), Builder::new(name, kind, BATCH_ROWS)));
            }
        }
        Batch {
            table,
            builders,
            rows: 0,
        }
    }

    /// The batch as a frame in exactly the fact schema's column order.
    fn finish(self) -> Result<DataFrame, ExportError> {
        let table = table_name(self.table);
        let err = |e: PolarsError| ExportError::Batch {
            table,
            message: e.to_string(),
        };
        let mut columns = Vec::with_capacity(self.builders.len());
        for (_, builder) in self.builders {
            columns.push(builder.finish().map_err(err)?);
        }
        let frame = DataFrame::new_infer_height(columns).map_err(err)?;
        // The keys version 2 stores beside the text ids (facts.rs).
        let frame = facts::add_keys(frame, self.table).map_err(err)?;
        let order: Vec<PlSmallStr> = facts::schema(self.table).iter_names().cloned().collect();
        frame.select(order).map_err(err)
    }
}

/// Reads one record's fields in spec order. `times` are the positions of
/// a start and an end time that must not run backwards (a negative
/// elapsed time would be negative compute).
/// On the stack, not a vector per row: ten million rows a week.
fn read_row<'r>(
    record: &'r csv::StringRecord,
    specs: &[Spec],
    index: &[Option<usize>],
    times: Option<(usize, usize)>,
    accounts: &mut Accounts,
) -> Result<[Field<'r>; MAX_SPECS], Unreadable> {
    debug_assert!(specs.len() <= MAX_SPECS);
    let mut fields = [Field::Null; MAX_SPECS];
    for ((s, at), slot) in specs.iter().zip(index).zip(&mut fields) {
        let raw = at.and_then(|i| record.get(i)).unwrap_or("");
        match read_checked(raw, s, accounts)? {
            Field::Null if s.required => return Err(Unreadable::Syntax),
            field => *slot = field,
        }
    }
    if let Some((start, end)) = times {
        if let (Some(Field::Time(s)), Some(Field::Time(e))) = (fields.get(start), fields.get(end)) {
            if e < s {
                return Err(Unreadable::Implausible);
            }
        }
    }
    Ok(fields)
}

fn table_name(table: FactTable) -> &'static str {
    table.name()
}

/// Streams one CSV export of `table` into `sink`, a batch at a time.
/// The sink receives frames with exactly `facts::schema(table)`.
pub fn parse_export<R: Read>(
    table: FactTable,
    input: R,
    mut sink: impl FnMut(DataFrame) -> Result<(), ExportError>,
) -> Result<ParseStats, ExportError> {
    let name = table_name(table);
    let specs = specs(table);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| ExportError::Read {
            table: name,
            message: e.to_string(),
        })?
        .clone();
    if header.is_empty() {
        return Err(ExportError::NoHeader { table: name });
    }
    let position = |h: &str| header.iter().position(|c| c.trim() == h);
    if table == FactTable::Invocations {
        let columns: Vec<&'static str> = REQUIRED_INVOCATION_COLUMNS
            .into_iter()
            .filter(|c| position(c).is_none())
            .collect();
        if !columns.is_empty() {
            return Err(ExportError::MissingColumns {
                table: name,
                columns,
            });
        }
    }
    let mut stats = ParseStats::default();
    let mut index = Vec::with_capacity(specs.len());
    for s in &specs {
        let at = position(s.header);
        if at.is_none() {
            if s.required {
                return Err(ExportError::MissingKey {
                    table: name,
                    column: s.header,
                });
            }
            stats.missing_columns.push(s.header.to_string());
        }
        index.push(at);
    }
    let metrics_at = (table == FactTable::Invocations)
        .then(|| position("metrics"))
        .flatten();
    if table == FactTable::Invocations && metrics_at.is_none() {
        stats.missing_columns.push("metrics".into());
    }
    let uid_spec = specs.iter().position(|s| s.column == inv::MINER_UID);
    let times = (table == FactTable::Invocations)
        .then(|| {
            let at = |c: &str| specs.iter().position(|s| s.column == c);
            Some((at(inv::STARTED_AT)?, at(inv::COMPLETED_AT)?))
        })
        .flatten();

    let mut batch = Batch::new(table, &specs);
    let mut accounts = Accounts::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) if err.is_io_error() => {
                return Err(ExportError::Read {
                    table: name,
                    message: err.to_string(),
                })
            }
            Err(_) => {
                // Bad UTF-8 or a broken quote: this row only.
                stats.malformed_rows += 1;
                continue;
            }
        }
        if record.len() != header.len() {
            stats.malformed_rows += 1;
            continue;
        }
        let fields = match read_row(&record, &specs, &index, times, &mut accounts) {
            Ok(fields) => fields,
            Err(why) => {
                stats.malformed_rows += 1;
                stats.implausible_rows += u64::from(why == Unreadable::Implausible);
                continue;
            }
        };
        if let Some(u) = uid_spec {
            if matches!(fields.get(u), Some(Field::Int(v)) if *v < 0) {
                stats.not_miner_work += 1;
                continue;
            }
        }
        for ((_, builder), field) in batch.builders.iter_mut().zip(&fields[..specs.len()]) {
            builder.push(*field);
        }
        if table == FactTable::Invocations {
            let raw = metrics_at.and_then(|i| record.get(i)).unwrap_or("");
            let (metrics, malformed) = match read_metrics(raw) {
                Some(m) => (m, false),
                None => (Metrics::default(), true),
            };
            stats.malformed_metrics += u64::from(malformed);
            let values = [
                metrics.p.map_or(Field::Null, Field::Bool),
                metrics.nc.map_or(Field::Null, Field::Float),
                metrics.steps.map_or(Field::Null, Field::Float),
                metrics.masps.map_or(Field::Null, Field::Float),
                metrics.it.map_or(Field::Null, Field::Float),
                metrics.ot.map_or(Field::Null, Field::Float),
                metrics.maspt.map_or(Field::Null, Field::Float),
                Field::Bool(malformed),
            ];
            let offset = specs.len();
            for (i, value) in values.into_iter().enumerate() {
                batch.builders[offset + i].1.push(value);
            }
        }
        batch.rows += 1;
        stats.rows += 1;
        if batch.rows == BATCH_ROWS {
            let full = std::mem::replace(&mut batch, Batch::new(table, &specs));
            sink(full.finish()?)?;
        }
    }
    if batch.rows > 0 {
        sink(batch.finish()?)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_fits_the_row_buffer() {
        for table in [FactTable::Invocations, FactTable::Reports, FactTable::Jobs] {
            assert!(specs(table).len() <= MAX_SPECS, "{table:?}");
        }
    }

    fn parse(table: FactTable, csv: &str) -> (DataFrame, ParseStats) {
        let mut frames = Vec::new();
        let stats = parse_export(table, csv.as_bytes(), |f| {
            frames.push(f);
            Ok(())
        })
        .unwrap();
        let mut all = DataFrame::empty_with_schema(&facts::schema(table));
        for f in frames {
            all.vstack_mut(&f).unwrap();
        }
        (all, stats)
    }

    /// A miner hotkey (//Alice's address).
    const HK: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    const HEADER: &str = "parent_invocation_id,invocation_id,chute_id,chute_user_id,function_name,image_id,image_user_id,instance_id,miner_uid,miner_hotkey,started_at,completed_at,error_message,compute_multiplier,bounty,metrics,added_later";

    #[test]
    fn invocations_are_typed_by_header_name() {
        let csv = format!(
            "{HEADER}\n\
             p1,i1,c1,u1,chat,img,iu,inst,7,{HK},2025-02-10 15:51:19.216856,2025-02-10 15:51:20+00:00,,1.5,0.0,\"{{'it': 512, 'ot': 128, 'nc': 1.25, 'p': False, 'maspt': 0.0123}}\",x\n\
             p2,i2,c1,u1,chat,img,iu,inst,8,{HK},2025-02-10 15:51:19,,boom,2,3,,y\n"
        );
        let (frame, stats) = parse(FactTable::Invocations, &csv);
        assert_eq!(stats.rows, 2);
        assert_eq!(stats.malformed_rows, 0);
        assert_eq!(stats.missing_columns, vec!["user_id".to_string()]);
        assert_eq!(
            frame.schema().as_ref(),
            &facts::schema(FactTable::Invocations)
        );
        let nc = frame.column(inv::NC).unwrap().f64().unwrap().get(0);
        assert_eq!(nc, Some(1.25));
        let private = frame.column(inv::PRIVATE).unwrap().bool().unwrap();
        assert_eq!((private.get(0), private.get(1)), (Some(false), None));
        let completed = frame
            .column(inv::COMPLETED_AT)
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap();
        assert_eq!(completed.i64().unwrap().get(1), None);
        assert_eq!(
            frame
                .column(inv::ERROR_MESSAGE)
                .unwrap()
                .str()
                .unwrap()
                .get(1),
            Some("boom")
        );
        assert_eq!(
            frame.column(inv::MINER_UID).unwrap().i32().unwrap().get(1),
            Some(8)
        );
    }

    #[test]
    fn bad_rows_are_counted_and_skipped_and_bad_metrics_nulled() {
        let csv = format!(
            "{HEADER}\n\
             p1,i1,c1,u1,chat,img,iu,inst,notanumber,{HK},,,,1,0,,\n\
             p1,,c1,u1,chat,img,iu,inst,1,{HK},,,,1,0,,\n\
             p1,i3,c1\n\
             p1,i4,c1,u1,chat,img,iu,inst,1,{HK},yesterday,,,1,0,,\n\
             p1,i5,c1,u1,chat,img,iu,inst,-1,{HK},,,,1,0,,\n\
             p1,i6,c1,u1,chat,img,iu,inst,1,{HK},,,,1,0,\"{{'nc': os.system('rm')}}\",\n\
             p1,i7,c1,u1,chat,img,iu,inst,1,{HK},,,,1,0,\"[1, 2]\",\n\
             p1,i8,c1,u1,chat,img,iu,inst,1,{HK},,,,1,0,\"{{'nc': 2}}\",\n"
        );
        let (frame, stats) = parse(FactTable::Invocations, &csv);
        assert_eq!(
            stats.malformed_rows, 4,
            "uid, missing id, short row, bad time"
        );
        assert_eq!(stats.not_miner_work, 1);
        assert_eq!(stats.malformed_metrics, 2);
        assert_eq!(stats.rows, 3);
        let malformed = frame
            .column(inv::METRICS_MALFORMED)
            .unwrap()
            .bool()
            .unwrap();
        assert_eq!(
            malformed.iter().collect::<Vec<_>>(),
            [Some(true), Some(true), Some(false)]
        );
        assert_eq!(
            frame.column(inv::NC).unwrap().f64().unwrap().get(2),
            Some(2.0)
        );
    }

    #[test]
    fn a_miner_key_that_is_not_an_ss58_address_makes_the_row_malformed() {
        let mut csv = format!("{HEADER}\n");
        for (id, hotkey) in [
            ("escapes", "5F\u{1b}[31m\u{0}red"),
            ("typo", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ"),
            ("short", "5Hot"),
            (
                "padded",
                " 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            ),
            ("fine", HK),
            ("fine-again", HK),
            ("no-miner", ""),
        ] {
            csv.push_str(&format!(
                "p,{id},c1,u1,chat,img,iu,inst,1,\"{hotkey}\",,,,1,0,,\n"
            ));
        }
        let (frame, stats) = parse(FactTable::Invocations, &csv);
        assert_eq!((stats.rows, stats.malformed_rows), (3, 4), "{stats:?}");
        let hotkeys = frame.column(inv::MINER_HOTKEY).unwrap().str().unwrap();
        assert_eq!(
            hotkeys.iter().collect::<Vec<_>>(),
            [Some(HK), Some(HK), None]
        );

        let (_, stats) = parse(
            FactTable::Jobs,
            &format!("job_id,miner_hotkey,miner_coldkey\nj1,{HK},{HK}\nj2,{HK},cold\u{1b}\nj3,5Hot,{HK}\n"),
        );
        assert_eq!((stats.rows, stats.malformed_rows), (1, 2), "{stats:?}");
    }

    #[test]
    fn hostile_numbers_are_malformed_and_counted() {
        let row = |id: &str, times: &str, multiplier: &str, bounty: &str| {
            format!("p,{id},c1,u1,chat,img,iu,inst,1,{HK},{times},,{multiplier},{bounty},,\n")
        };
        let t = "2025-02-10 15:00:00,2025-02-10 15:00:10";
        let mut csv = format!("{HEADER}\n");
        for (id, times, multiplier, bounty) in [
            ("nan", t, "NaN", "0"),
            ("inf", t, "inf", "0"),
            ("infinity", t, "1", "-infinity"),
            ("negative", t, "-1000000", "0"),
            ("huge", t, "1e9", "0"),
            ("negative-bounty", t, "1", "-5"),
            (
                "backwards",
                "2025-02-10 15:00:10,2025-02-10 15:00:00",
                "1",
                "0",
            ),
            ("fine", t, "8", "2"),
        ] {
            csv.push_str(&row(id, times, multiplier, bounty));
        }
        let (frame, stats) = parse(FactTable::Invocations, &csv);
        assert_eq!(stats.rows, 1, "{stats:?}");
        assert_eq!(stats.malformed_rows, 7);
        assert_eq!(stats.implausible_rows, 7);
        let ids = frame.column(inv::INVOCATION_ID).unwrap().str().unwrap();
        assert_eq!(ids.get(0), Some("fine"));

        let (_, stats) = parse(
            FactTable::Jobs,
            "job_id,compute_multiplier\nj1,-1\nj2,nan\nj3,2.5\n",
        );
        assert_eq!((stats.rows, stats.implausible_rows), (1, 2));
    }

    #[test]
    fn non_finite_or_negative_metrics_null_the_metrics() {
        let mut csv = format!("{HEADER}\n");
        for (id, metrics) in [
            ("nan", "{'nc': nan}"),
            ("inf", "{'nc': inf}"),
            ("overflow", "{'nc': 1e999}"),
            ("negative", "{'steps': 10, 'masps': -100000.0}"),
            ("huge", "{'it': 1e300, 'ot': 1, 'maspt': 1}"),
            ("fine", "{'nc': 2.5, 'p': False}"),
        ] {
            csv.push_str(&format!(
                "p,{id},c1,u1,chat,img,iu,inst,1,{HK},,,,1,0,\"{metrics}\",\n"
            ));
        }
        let (frame, stats) = parse(FactTable::Invocations, &csv);
        assert_eq!(stats.rows, 6, "the rows still count");
        assert_eq!(stats.malformed_metrics, 5);
        let nc = frame.column(inv::NC).unwrap().f64().unwrap();
        assert_eq!(nc.iter().collect::<Vec<_>>()[..5], [None; 5]);
        assert_eq!(nc.get(5), Some(2.5));
        let masps = frame.column(inv::MASPS).unwrap().f64().unwrap();
        assert_eq!(masps.get(3), None);
    }

    #[test]
    fn an_export_without_its_key_column_is_refused() {
        let err = parse_export(
            FactTable::Reports,
            "user_id,reason\nu,r\n".as_bytes(),
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("invocation_id"), "{err}");
    }

    #[test]
    fn an_invocations_export_without_a_scoring_column_is_refused() {
        for column in REQUIRED_INVOCATION_COLUMNS {
            let header: Vec<&str> = HEADER.split(',').filter(|c| *c != column).collect();
            let csv = format!("{}\n", header.join(","));
            match parse_export(FactTable::Invocations, csv.as_bytes(), |_| Ok(())) {
                Err(ExportError::MissingColumns { columns, .. }) => {
                    assert_eq!(columns, [column])
                }
                other => panic!("without `{column}`: {other:?}"),
            }
        }
    }

    #[test]
    fn reports_and_jobs_parse_with_booleans_and_times() {
        let (frame, stats) = parse(
            FactTable::Reports,
            "invocation_id,user_id,timestamp,confirmed_at,confirmed_by,reason\n\
             p1,u,2025-02-10T10:00:00Z,,,bad\n\
             p1,u,2025-02-10T10:00:00Z,2025-02-10 11:00:00,admin,bad\n",
        );
        assert_eq!(stats.rows, 2);
        assert_eq!(frame.column(reports::CONFIRMED_AT).unwrap().null_count(), 1);
        let (frame, _) = parse(
            FactTable::Jobs,
            "job_id,miner_uid,miner_terminated,status\nj1,3,True,done\nj2,4,False,\n",
        );
        let terminated = frame
            .column(jobs::MINER_TERMINATED)
            .unwrap()
            .bool()
            .unwrap();
        assert_eq!(
            (terminated.get(0), terminated.get(1)),
            (Some(true), Some(false))
        );
    }

    #[test]
    fn large_exports_come_in_bounded_batches() {
        let mut csv = String::from(
            "invocation_id,miner_uid,miner_hotkey,compute_multiplier,completed_at,metrics\n",
        );
        for i in 0..(BATCH_ROWS + 10) {
            csv.push_str(&format!("id{i},1,{HK},1.0,,\n"));
        }
        let mut sizes = Vec::new();
        let stats = parse_export(FactTable::Invocations, csv.as_bytes(), |f| {
            sizes.push(f.height());
            Ok(())
        })
        .unwrap();
        assert_eq!(sizes, vec![BATCH_ROWS, 10]);
        assert_eq!(stats.rows as usize, BATCH_ROWS + 10);
    }
}
