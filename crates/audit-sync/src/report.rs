//! The JSON documents behind an audit entry: the validator's hourly report
//! (instance audits and the sha256 of each CSV export) and a miner's
//! self-report (Prometheus counters and deployment audits).
//!
//! Reports are untrusted: unknown keys are ignored, absent ones are null,
//! and a record with a wrong type is counted as malformed, not loaded.

use audit_store::facts::{self, instance_audits as ia, miner_metrics as mm};
use audit_store::{ExportKind, FactTable};
use polars::prelude::*;
use serde_json::Value;

/// An export a validator report points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRef {
    /// Which of the hour's exports this is.
    pub kind: ExportKind,
    /// As in the report: `invocations/2025/02/10/16.csv`.
    pub path: String,
    /// Lower-case hex.
    pub sha256: String,
}

/// A parsed validator report.
#[derive(Debug)]
pub struct ValidatorReport {
    /// The CSV exports it names, each with the sha256 it must hash to.
    pub exports: Vec<ExportRef>,
    /// Its `instance_audit` records as an `instance_audits` fact batch.
    pub instance_audits: DataFrame,
    /// Records that could not be read: skipped and counted, not fatal.
    pub malformed_records: u64,
}

/// A parsed miner self-report.
#[derive(Debug)]
pub struct MinerReport {
    /// The report's `prometheus_message`: how the miner's Prometheus read
    /// went, in its own words (kept as evidence, not interpreted).
    pub prometheus_message: Option<String>,
    /// Its `prometheus_metrics` as a `miner_metrics` fact batch.
    pub metrics: DataFrame,
    /// Its `deployment_audit` records as an `instance_audits` fact batch.
    pub instance_audits: DataFrame,
    /// Records that could not be read: skipped and counted, not fatal.
    pub malformed_records: u64,
}

/// Why a report could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or not an object; says where or what was found instead.
    #[error("the report is not a JSON object: {0}")]
    NotAnObject(String),
    /// An export reference without a usable path or sha256: nothing it
    /// names could be verified.
    #[error("export `{kind}` of the report: {message}")]
    Export {
        /// Which export (`invocations`, `reports`, `jobs`).
        kind: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The records did not make a frame of the fact table's schema
    /// (which table, polars' error).
    #[error("building the {0} facts: {1}")]
    Facts(&'static str, String),
    /// A validator report that names no export: it would load as an
    /// empty hour, indistinguishable from an hour without traffic.
    #[error("the report names no CSV export (`csv_exports` absent or empty)")]
    NoExports,
}

fn object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ReportError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ReportError::NotAnObject(format!(
            "found {}",
            kind_of(&other)
        ))),
        // Position only: the message could echo report content.
        Err(e) => Err(ReportError::NotAnObject(format!(
            "line {}, column {}",
            e.line(),
            e.column()
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a validator report.
pub fn parse_validator_report(bytes: &[u8]) -> Result<ValidatorReport, ReportError> {
    let map = object(bytes)?;
    let mut exports = Vec::new();
    let refs = map.get("csv_exports").ok_or(ReportError::NoExports)?;
    {
        let refs = refs.as_object().ok_or(ReportError::Export {
            kind: "csv_exports",
            message: "is not an object".into(),
        })?;
        for kind in ExportKind::ALL {
            let Some(entry) = refs.get(kind.as_str()) else {
                continue;
            };
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or(ReportError::Export {
                        kind: kind.as_str(),
                        message: format!("has no string `{name}`"),
                    })
            };
            let sha256 = field("sha256")?.to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ReportError::Export {
                    kind: kind.as_str(),
                    message: "sha256 is not 64 hex digits".into(),
                });
            }
            exports.push(ExportRef {
                kind: *kind,
                path: field("path")?,
                sha256,
            });
        }
    }
    if exports.is_empty() {
        return Err(ReportError::NoExports);
    }
    let records = map
        .get("instance_audit")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let (instance_audits, malformed_records) = instance_audit_frame(records)?;
    Ok(ValidatorReport {
        exports,
        instance_audits,
        malformed_records,
    })
}

/// Parses a miner self-report.
pub fn parse_miner_report(bytes: &[u8]) -> Result<MinerReport, ReportError> {
    let map = object(bytes)?;
    let hotkey = map
        .get("miner_hotkey")
        .and_then(Value::as_str)
        .map(str::to_string);
    let records = map
        .get("deployment_audit")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let (instance_audits, mut malformed) = instance_audit_frame(records)?;
    let metrics = map
        .get("prometheus_metrics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut rows: Vec<[Option<String>; 4]> = Vec::new();
    let mut numbers: Vec<[Option<f64>; 2]> = Vec::new();
    for m in metrics {
        let Some(obj) = m.as_object() else {
            malformed += 1;
            continue;
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        rows.push([
            hotkey.clone(),
            text(mm::CHUTE_ID),
            text(mm::DEPLOYMENT_ID),
            text(mm::FUNCTION),
        ]);
        numbers.push([num(mm::TOTAL_SECONDS), num(mm::TOTAL_COUNT)]);
    }
    let column = |i: usize| rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>();
    let frame = df!(
        mm::MINER_HOTKEY => column(0),
        mm::CHUTE_ID => column(1),
        mm::DEPLOYMENT_ID => column(2),
        mm::FUNCTION => column(3),
        mm::TOTAL_SECONDS => numbers.iter().map(|n| n[0]).collect::<Vec<_>>(),
        mm::TOTAL_COUNT => numbers.iter().map(|n| n[1]).collect::<Vec<_>>(),
    )
    .map_err(|e| ReportError::Facts("miner metrics", e.to_string()))?;
    Ok(MinerReport {
        prometheus_message: map
            .get("prometheus_message")
            .and_then(Value::as_str)
            .map(str::to_string),
        metrics: conform(frame, FactTable::MinerMetrics)?,
        instance_audits,
        malformed_records: malformed,
    })
}

const TEXT: [&str; 9] = [
    ia::INSTANCE_ID,
    ia::CHUTE_ID,
    ia::VERSION,
    ia::DEPLOYMENT_ID,
    ia::VALIDATOR,
    ia::MINER_HOTKEY,
    ia::REGION,
    ia::DELETION_REASON,
    ia::BILLED_TO,
];
const TIMES: [&str; 5] = [
    ia::CREATED_AT,
    ia::VERIFIED_AT,
    ia::DELETED_AT,
    ia::ACTIVATED_AT,
    ia::STOP_BILLING_AT,
];

/// Instance audit records to a frame with the fact schema. A record that
/// is not an object, or has a value of the wrong type, is skipped and
/// counted.
fn instance_audit_frame(records: &[Value]) -> Result<(DataFrame, u64), ReportError> {
    let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); TEXT.len()];
    let mut times: Vec<Vec<Option<i64>>> = vec![Vec::new(); TIMES.len()];
    let mut uids = Vec::new();
    let mut multipliers = Vec::new();
    let mut malformed = 0;
    'records: for record in records {
        let Some(obj) = record.as_object() else {
            malformed += 1;
            continue;
        };
        let mut row_text = Vec::with_capacity(TEXT.len());
        for name in TEXT {
            match obj.get(name) {
                None | Some(Value::Null) => row_text.push(None),
                Some(Value::String(s)) if s.is_empty() => row_text.push(None),
                Some(Value::String(s)) => row_text.push(Some(s.clone())),
                Some(Value::Number(n)) => row_text.push(Some(n.to_string())),
                Some(_) => {
                    malformed += 1;
                    continue 'records;
                }
            }
        }
        if row_text[0].is_none() {
            malformed += 1;
            continue;
        }
        let mut row_times = Vec::with_capacity(TIMES.len());
        for name in TIMES {
            match obj.get(name) {
                None | Some(Value::Null) => row_times.push(None),
                Some(Value::String(s)) if s.is_empty() => row_times.push(None),
                Some(Value::String(s)) => match audit_store::time::parse_utc(s) {
                    Some(t) => row_times.push(Some(t.and_utc().timestamp_micros())),
                    None => {
                        malformed += 1;
                        continue 'records;
                    }
                },
                Some(_) => {
                    malformed += 1;
                    continue 'records;
                }
            }
        }
        let uid = match obj.get(ia::MINER_UID) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64().and_then(|u| i32::try_from(u).ok()) {
                Some(u) => Some(u),
                None => {
                    malformed += 1;
                    continue;
                }
            },
        };
        let multiplier = match obj.get(ia::COMPUTE_MULTIPLIER) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(m) => Some(m),
                None => {
                    malformed += 1;
                    continue;
                }
            },
        };
        for (column, value) in text.iter_mut().zip(row_text) {
            column.push(value);
        }
        for (column, value) in times.iter_mut().zip(row_times) {
            column.push(value);
        }
        uids.push(uid);
        multipliers.push(multiplier);
    }
    let mut columns: Vec<Column> = TEXT
        .iter()
        .zip(text)
        .map(|(name, values)| Column::new((*name).into(), values))
        .collect();
    for (name, values) in TIMES.iter().zip(times) {
        let column = Column::new((*name).into(), values)
            .cast(&facts::timestamp())
            .map_err(|e| ReportError::Facts("instance audits", e.to_string()))?;
        columns.push(column);
    }
    columns.push(Column::new(ia::MINER_UID.into(), uids));
    columns.push(Column::new(ia::COMPUTE_MULTIPLIER.into(), multipliers));
    let frame = DataFrame::new_infer_height(columns)
        .map_err(|e| ReportError::Facts("instance audits", e.to_string()))?;
    Ok((conform(frame, FactTable::InstanceAudits)?, malformed))
}

/// Casts and orders columns to the fact schema.
fn conform(frame: DataFrame, table: FactTable) -> Result<DataFrame, ReportError> {
    facts::conform(frame, table, &[]).map_err(|e| ReportError::Facts(table.name(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validator_report_gives_exports_and_instance_audits() {
        let report = br#"{"instance_audit": [
            {"instance_id": "i1", "chute_id": "c1", "miner_uid": 5, "miner_hotkey": "5H", "billed_to": "",
             "activated_at": "2025-02-10T15:00:00", "deleted_at": null, "compute_multiplier": 1.5, "new_field": 1},
            {"instance_id": "i2", "chute_id": "c1", "miner_uid": "five"},
            "junk"
          ],
          "csv_exports": {
            "invocations": {"path": "invocations/2025/02/10/16.csv", "sha256": "AB00000000000000000000000000000000000000000000000000000000000000"},
            "jobs": {"path": "invocations/2025/02/10/16-jobs.csv", "sha256": "cd00000000000000000000000000000000000000000000000000000000000000"}}}"#;
        let parsed = parse_validator_report(report).unwrap();
        assert_eq!(parsed.exports.len(), 2);
        assert_eq!(parsed.exports[0].kind, ExportKind::Invocations);
        assert!(parsed.exports[0].sha256.starts_with("ab"));
        assert_eq!(parsed.instance_audits.height(), 1);
        assert_eq!(parsed.malformed_records, 2);
        assert_eq!(
            parsed.instance_audits.schema().as_ref(),
            &facts::schema(FactTable::InstanceAudits)
        );
        let billed = parsed.instance_audits.column(ia::BILLED_TO).unwrap();
        assert_eq!(billed.null_count(), 1, "empty billed_to is null");
    }

    #[test]
    fn reports_without_exports_and_broken_ones_are_refused() {
        for no_exports in [
            &br#"{"instance_audit": []}"#[..],
            br#"{"instance_audit": [], "csv_exports": {}}"#,
        ] {
            assert!(matches!(
                parse_validator_report(no_exports),
                Err(ReportError::NoExports)
            ));
        }
        assert!(parse_validator_report(b"[1,2]").is_err());
        assert!(parse_validator_report(
            b"{\"csv_exports\": {\"jobs\": {\"path\": \"x\", \"sha256\": \"zz\"}}}"
        )
        .is_err());
    }

    #[test]
    fn a_miner_report_gives_prometheus_metrics() {
        let parsed = parse_miner_report(br#"{"miner_hotkey": "5M", "prometheus_message": "ok",
            "prometheus_metrics": [{"chute_id": "c", "deployment_id": "d", "function": "chat", "total_seconds": 12.5, "total_count": 3}],
            "deployment_audit": [{"instance_id": "i"}]}"#).unwrap();
        assert_eq!(parsed.metrics.height(), 1);
        assert_eq!(
            parsed
                .metrics
                .column(mm::TOTAL_COUNT)
                .unwrap()
                .f64()
                .unwrap()
                .get(0),
            Some(3.0)
        );
        assert_eq!(
            parsed
                .metrics
                .column(mm::MINER_HOTKEY)
                .unwrap()
                .str()
                .unwrap()
                .get(0),
            Some("5M")
        );
        assert_eq!(parsed.instance_audits.height(), 1);
        assert_eq!(parsed.prometheus_message.as_deref(), Some("ok"));
    }
}
