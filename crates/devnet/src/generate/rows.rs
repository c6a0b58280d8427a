//! The rows of the three hourly exports, typed: one struct per export
//! whose fields are the upstream columns in order (docs/spec/chutes-api.md),
//! written through `csv`'s serde support. A column is set by its name, so
//! a row cannot put a value in its neighbour's column.

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};

use super::files::csv_time;

/// The invocations export header, as upstream writes it.
pub(crate) const INVOCATION_COLUMNS: [&str; 17] = [
    "parent_invocation_id",
    "invocation_id",
    "chute_id",
    "chute_user_id",
    "function_name",
    "user_id",
    "image_id",
    "image_user_id",
    "instance_id",
    "miner_uid",
    "miner_hotkey",
    "started_at",
    "completed_at",
    "error_message",
    "compute_multiplier",
    "bounty",
    "metrics",
];
/// The user reports export header.
pub(crate) const REPORT_COLUMNS: [&str; 6] = [
    "invocation_id",
    "user_id",
    "timestamp",
    "confirmed_at",
    "confirmed_by",
    "reason",
];
/// The jobs export header.
pub(crate) const JOB_COLUMNS: [&str; 16] = [
    "job_id",
    "chute_id",
    "version",
    "chutes_version",
    "method",
    "miner_uid",
    "miner_hotkey",
    "miner_coldkey",
    "instance_id",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "status",
    "compute_multiplier",
    "miner_terminated",
];

/// One row of `invocations/YYYY/MM/DD/HH.csv` (the upstream columns in
/// order): what the generator writes and what the served network records
/// for each traced attempt, so tests read a recorded attempt by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationRow {
    /// The invocation a user made; retries share it.
    pub parent_invocation_id: String,
    /// This attempt.
    pub invocation_id: String,
    /// The chute invoked.
    pub chute_id: String,
    /// The chute's owner.
    pub chute_user_id: String,
    /// The chute's function (`chat`, `generate`, ...).
    pub function_name: &'static str,
    /// Who invoked it.
    pub user_id: String,
    /// The chute's image.
    pub image_id: String,
    /// The image's owner.
    pub image_user_id: &'static str,
    /// The instance that served the attempt; empty for work that is not a
    /// miner's.
    pub instance_id: String,
    /// The serving miner's uid; -1 for work that is not a miner's.
    pub miner_uid: i64,
    /// The serving miner's hotkey: whose work the export says it was.
    pub miner_hotkey: String,
    /// When the attempt started.
    #[serde(serialize_with = "time")]
    pub started_at: NaiveDateTime,
    /// Empty while the invocation runs past the end of the hour.
    #[serde(serialize_with = "optional_time")]
    pub completed_at: Option<NaiveDateTime>,
    /// Why the attempt failed; empty on success.
    pub error_message: Option<String>,
    /// Half the chute's GPUs, written as Rust prints it (`4`, `0.5`), as
    /// upstream's exports show.
    #[serde(serialize_with = "shortest")]
    pub compute_multiplier: f64,
    /// Extra compute units the attempt earns.
    #[serde(serialize_with = "shortest")]
    pub bounty: f64,
    /// A Python literal (`{'nc': 1.0, 'p': False}`), or empty.
    pub metrics: String,
}

/// One row of `invocations/…/HH-reports.csv` ([`REPORT_COLUMNS`]): a user
/// report, confirmed or not yet.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UserReportRow<'a> {
    pub invocation_id: &'a str,
    pub user_id: &'static str,
    #[serde(serialize_with = "time")]
    pub timestamp: NaiveDateTime,
    #[serde(serialize_with = "optional_time")]
    pub confirmed_at: Option<NaiveDateTime>,
    pub confirmed_by: Option<&'static str>,
    pub reason: &'static str,
}

/// One row of `invocations/…/HH-jobs.csv` ([`JOB_COLUMNS`]).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JobRow {
    pub job_id: String,
    pub chute_id: String,
    pub version: &'static str,
    pub chutes_version: &'static str,
    pub method: &'static str,
    pub miner_uid: u16,
    pub miner_hotkey: String,
    pub miner_coldkey: String,
    pub instance_id: String,
    #[serde(serialize_with = "time")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "time")]
    pub updated_at: NaiveDateTime,
    #[serde(serialize_with = "time")]
    pub started_at: NaiveDateTime,
    /// Empty while the job runs.
    #[serde(serialize_with = "optional_time")]
    pub finished_at: Option<NaiveDateTime>,
    pub status: &'static str,
    pub compute_multiplier: f64,
    /// A Python boolean (`True`/`False`), as upstream writes it.
    #[serde(serialize_with = "python_bool")]
    pub miner_terminated: bool,
}

/// `True`/`False`: booleans as the Python side writes them.
pub(crate) fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn time<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&csv_time(*t))
}

fn optional_time<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.map(csv_time).unwrap_or_default())
}

fn shortest<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn python_bool<S: Serializer>(b: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(py(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structs' field order is the header's: csv derives a header from
    /// the field names, which must be the upstream columns exactly.
    fn header_of(row: &impl Serialize) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let bytes = w.into_inner().unwrap();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    }

    fn at() -> NaiveDateTime {
        crate::default_now()
    }

    #[test]
    fn every_row_type_has_its_exports_columns_in_order() {
        let invocation = InvocationRow {
            parent_invocation_id: String::new(),
            invocation_id: String::new(),
            chute_id: String::new(),
            chute_user_id: String::new(),
            function_name: "",
            user_id: String::new(),
            image_id: String::new(),
            image_user_id: "",
            instance_id: String::new(),
            miner_uid: -1,
            miner_hotkey: String::new(),
            started_at: at(),
            completed_at: None,
            error_message: None,
            compute_multiplier: 4.0,
            bounty: 0.0,
            metrics: String::new(),
        };
        assert_eq!(header_of(&invocation), INVOCATION_COLUMNS.join(","));
        let report = UserReportRow {
            invocation_id: "",
            user_id: "",
            timestamp: at(),
            confirmed_at: None,
            confirmed_by: None,
            reason: "",
        };
        assert_eq!(header_of(&report), REPORT_COLUMNS.join(","));
        let job = JobRow {
            job_id: String::new(),
            chute_id: String::new(),
            version: "",
            chutes_version: "",
            method: "",
            miner_uid: 0,
            miner_hotkey: String::new(),
            miner_coldkey: String::new(),
            instance_id: String::new(),
            created_at: at(),
            updated_at: at(),
            started_at: at(),
            finished_at: None,
            status: "",
            compute_multiplier: 1.0,
            miner_terminated: true,
        };
        assert_eq!(header_of(&job), JOB_COLUMNS.join(","));
    }

    #[test]
    fn values_are_written_as_upstream_writes_them() {
        let job = JobRow {
            job_id: "j".into(),
            chute_id: "c".into(),
            version: "1",
            chutes_version: "0.3.1",
            method: "train",
            miner_uid: 7,
            miner_hotkey: "h".into(),
            miner_coldkey: "k".into(),
            instance_id: "i".into(),
            created_at: at(),
            updated_at: at(),
            started_at: at(),
            finished_at: None,
            status: "running",
            compute_multiplier: 1.0,
            miner_terminated: false,
        };
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        w.serialize(&job).unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner().unwrap()).unwrap(),
            "j,c,1,0.3.1,train,7,h,k,i,2025-02-10 12:00:00.000000,\
             2025-02-10 12:00:00.000000,2025-02-10 12:00:00.000000,,running,1.0,False\n"
        );
    }
}
