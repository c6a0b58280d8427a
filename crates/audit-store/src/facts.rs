//! The schemas of the lake's fact tables: the contract between the ingest
//! (which writes them) and scoring and comparison (which scan them).
//!
//! Columns mirror the CSV exports and reports of docs/spec/chutes-api.md, typed:
//! timestamps are naive UTC microseconds, empty strings are nulls, and the
//! Python-literal `metrics` of an invocation is flattened into one nullable
//! column per key the scoring reads (null = absent or null in the dict).
//! `metrics_malformed` marks rows whose metrics did not parse; such rows are
//! kept, with every metric null.

use polars::prelude::*;

use crate::lake::FactTable;

/// Microsecond naive-UTC timestamps everywhere.
pub fn timestamp() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, None)
}

/// Column names of the `invocations` table.
pub mod invocations {
    /// The request a retry belongs to: the same id for every attempt of one request.
    pub const PARENT_INVOCATION_ID: &str = "parent_invocation_id";
    /// The attempt's id; the key duplicates across two hours' exports share.
    pub const INVOCATION_ID: &str = "invocation_id";
    /// The chute invoked: unique-chute counts and GPU counts key on it.
    pub const CHUTE_ID: &str = "chute_id";
    /// The chute's owner.
    pub const CHUTE_USER_ID: &str = "chute_user_id";
    /// The chute function called (chat, completion, …).
    pub const FUNCTION_NAME: &str = "function_name";
    /// The user who sent the request; synthetics are found by it.
    pub const USER_ID: &str = "user_id";
    /// The chute image the instance ran.
    pub const IMAGE_ID: &str = "image_id";
    /// The image's owner.
    pub const IMAGE_USER_ID: &str = "image_user_id";
    /// The miner's instance that served the attempt.
    pub const INSTANCE_ID: &str = "instance_id";
    /// The serving miner's uid; negative for work that is not a miner's.
    pub const MINER_UID: &str = "miner_uid";
    /// The serving miner's hotkey: what scores are keyed by.
    pub const MINER_HOTKEY: &str = "miner_hotkey";
    /// When the attempt started.
    pub const STARTED_AT: &str = "started_at";
    /// When it completed; null when it did not.
    pub const COMPLETED_AT: &str = "completed_at";
    /// Why the attempt failed, when it did: failed work does not count.
    pub const ERROR_MESSAGE: &str = "error_message";
    /// The instance's compute multiplier, weighting compute units.
    pub const COMPUTE_MULTIPLIER: &str = "compute_multiplier";
    /// The bounty paid for cold-starting the chute, if any.
    pub const BOUNTY: &str = "bounty";
    /// `p`: the invocation ran on a private instance.
    pub const PRIVATE: &str = "metric_p";
    /// `nc`: normalized compute.
    pub const NC: &str = "metric_nc";
    /// `steps`: diffusion steps of an image request.
    pub const STEPS: &str = "metric_steps";
    /// `masps`: mean seconds per step.
    pub const MASPS: &str = "metric_masps";
    /// `it`: input tokens.
    pub const IT: &str = "metric_it";
    /// `ot`: output tokens.
    pub const OT: &str = "metric_ot";
    /// `maspt`: mean seconds per token.
    pub const MASPT: &str = "metric_maspt";
    /// The row's `metrics` did not parse: kept, every metric null.
    pub const METRICS_MALFORMED: &str = "metrics_malformed";
}

/// Column names of the `instance_audits` table (validator `instance_audit`
/// and miner `deployment_audit` records alike).
pub mod instance_audits {
    /// The audited instance.
    pub const INSTANCE_ID: &str = "instance_id";
    /// The chute it runs.
    pub const CHUTE_ID: &str = "chute_id";
    /// The chute version it runs.
    pub const VERSION: &str = "version";
    /// The deployment (a miner self-report's name for the instance).
    pub const DEPLOYMENT_ID: &str = "deployment_id";
    /// The validator that audited it.
    pub const VALIDATOR: &str = "validator";
    /// The miner's uid.
    pub const MINER_UID: &str = "miner_uid";
    /// The miner's hotkey.
    pub const MINER_HOTKEY: &str = "miner_hotkey";
    /// Where the instance runs.
    pub const REGION: &str = "region";
    /// When the instance was created.
    pub const CREATED_AT: &str = "created_at";
    /// When the validator verified it.
    pub const VERIFIED_AT: &str = "verified_at";
    /// When it was deleted, if it was.
    pub const DELETED_AT: &str = "deleted_at";
    /// Why it was deleted: some reasons mark a private instance.
    pub const DELETION_REASON: &str = "deletion_reason";
    /// When it started serving.
    pub const ACTIVATED_AT: &str = "activated_at";
    /// When billing stopped, if it did.
    pub const STOP_BILLING_AT: &str = "stop_billing_at";
    /// Who pays for it: set for a private instance.
    pub const BILLED_TO: &str = "billed_to";
    /// The instance's compute multiplier.
    pub const COMPUTE_MULTIPLIER: &str = "compute_multiplier";
}

/// Column names of the `reports` table.
pub mod reports {
    /// The reported invocation: a confirmed report excludes it from the scores.
    pub const INVOCATION_ID: &str = "invocation_id";
    /// The reporting user.
    pub const USER_ID: &str = "user_id";
    /// When it was reported.
    pub const TIMESTAMP: &str = "timestamp";
    /// When it was confirmed; null while it is not.
    pub const CONFIRMED_AT: &str = "confirmed_at";
    /// Who confirmed it.
    pub const CONFIRMED_BY: &str = "confirmed_by";
    /// The user's reason.
    pub const REASON: &str = "reason";
}

/// Column names of the `jobs` table.
pub mod jobs {
    /// The job.
    pub const JOB_ID: &str = "job_id";
    /// The chute it ran.
    pub const CHUTE_ID: &str = "chute_id";
    /// The chute version.
    pub const VERSION: &str = "version";
    /// The chutes library version.
    pub const CHUTES_VERSION: &str = "chutes_version";
    /// The job method called.
    pub const METHOD: &str = "method";
    /// The miner's uid.
    pub const MINER_UID: &str = "miner_uid";
    /// The miner's hotkey.
    pub const MINER_HOTKEY: &str = "miner_hotkey";
    /// The miner's coldkey.
    pub const MINER_COLDKEY: &str = "miner_coldkey";
    /// The instance that ran it.
    pub const INSTANCE_ID: &str = "instance_id";
    /// When the job was created.
    pub const CREATED_AT: &str = "created_at";
    /// When it last changed.
    pub const UPDATED_AT: &str = "updated_at";
    /// When it started.
    pub const STARTED_AT: &str = "started_at";
    /// When it finished; null while running.
    pub const FINISHED_AT: &str = "finished_at";
    /// Its status as the validator recorded it.
    pub const STATUS: &str = "status";
    /// The instance's compute multiplier.
    pub const COMPUTE_MULTIPLIER: &str = "compute_multiplier";
    /// Whether the miner ended the job early.
    pub const MINER_TERMINATED: &str = "miner_terminated";
}

/// Column names of the `miner_metrics` table (a miner self-report's
/// `prometheus_metrics`).
pub mod miner_metrics {
    /// The reporting miner.
    pub const MINER_HOTKEY: &str = "miner_hotkey";
    /// The chute the counters are for.
    pub const CHUTE_ID: &str = "chute_id";
    /// The miner's deployment of the chute.
    pub const DEPLOYMENT_ID: &str = "deployment_id";
    /// The chute function counted.
    pub const FUNCTION: &str = "function";
    /// The miner's own counter of seconds spent serving.
    pub const TOTAL_SECONDS: &str = "total_seconds";
    /// The miner's own counter of requests served: compared with the exports.
    pub const TOTAL_COUNT: &str = "total_count";
}

/// The schema a fact table is written with.
pub fn schema(table: FactTable) -> Schema {
    use DataType::{Boolean, Float64, Int32, String as Text};
    let ts = timestamp;
    let fields: Vec<(&str, DataType)> = match table {
        FactTable::Invocations => {
            use invocations::*;
            vec![
                (PARENT_INVOCATION_ID, Text),
                (INVOCATION_ID, Text),
                (CHUTE_ID, Text),
                (CHUTE_USER_ID, Text),
                (FUNCTION_NAME, Text),
                (USER_ID, Text),
                (IMAGE_ID, Text),
                (IMAGE_USER_ID, Text),
                (INSTANCE_ID, Text),
                (MINER_UID, Int32),
                (MINER_HOTKEY, Text),
                (STARTED_AT, ts()),
                (COMPLETED_AT, ts()),
                (ERROR_MESSAGE, Text),
                (COMPUTE_MULTIPLIER, Float64),
                (BOUNTY, Float64),
                (PRIVATE, Boolean),
                (NC, Float64),
                (STEPS, Float64),
                (MASPS, Float64),
                (IT, Float64),
                (OT, Float64),
                (MASPT, Float64),
                (METRICS_MALFORMED, Boolean),
            ]
        }
        FactTable::InstanceAudits => {
            use instance_audits::*;
            vec![
                (INSTANCE_ID, Text),
                (CHUTE_ID, Text),
                (VERSION, Text),
                (DEPLOYMENT_ID, Text),
                (VALIDATOR, Text),
                (MINER_UID, Int32),
                (MINER_HOTKEY, Text),
                (REGION, Text),
                (CREATED_AT, ts()),
                (VERIFIED_AT, ts()),
                (DELETED_AT, ts()),
                (DELETION_REASON, Text),
                (ACTIVATED_AT, ts()),
                (STOP_BILLING_AT, ts()),
                (BILLED_TO, Text),
                (COMPUTE_MULTIPLIER, Float64),
            ]
        }
        FactTable::Reports => {
            use reports::*;
            vec![
                (INVOCATION_ID, Text),
                (USER_ID, Text),
                (TIMESTAMP, ts()),
                (CONFIRMED_AT, ts()),
                (CONFIRMED_BY, Text),
                (REASON, Text),
            ]
        }
        FactTable::Jobs => {
            use jobs::*;
            vec![
                (JOB_ID, Text),
                (CHUTE_ID, Text),
                (VERSION, Text),
                (CHUTES_VERSION, Text),
                (METHOD, Text),
                (MINER_UID, Int32),
                (MINER_HOTKEY, Text),
                (MINER_COLDKEY, Text),
                (INSTANCE_ID, Text),
                (CREATED_AT, ts()),
                (UPDATED_AT, ts()),
                (STARTED_AT, ts()),
                (FINISHED_AT, ts()),
                (STATUS, Text),
                (COMPUTE_MULTIPLIER, Float64),
                (MINER_TERMINATED, Boolean),
            ]
        }
        FactTable::MinerMetrics => {
            use miner_metrics::*;
            vec![
                (MINER_HOTKEY, Text),
                (CHUTE_ID, Text),
                (DEPLOYMENT_ID, Text),
                (FUNCTION, Text),
                (TOTAL_SECONDS, Float64),
                (TOTAL_COUNT, Float64),
            ]
        }
    };
    fields
        .into_iter()
        .map(|(name, dtype)| Field::new(name.into(), dtype))
        .collect()
}

/// `frame` with exactly the columns of `table`'s schema, in schema order:
/// present columns cast to their type, absent ones all null. Columns named
/// in `keep` follow, unchanged.
pub fn conform(frame: DataFrame, table: FactTable, keep: &[&str]) -> PolarsResult<DataFrame> {
    let mut exprs: Vec<Expr> = schema(table)
        .iter()
        .map(|(name, dtype)| {
            let source = if frame.column(name.as_str()).is_ok() {
                col(name.clone())
            } else {
                lit(NULL)
            };
            source.cast(dtype.clone()).alias(name.clone())
        })
        .collect();
    exprs.extend(keep.iter().map(|name| col(*name)));
    frame.lazy().select(exprs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_schema_with_unique_columns() {
        for table in FactTable::ALL {
            let schema = schema(table);
            assert!(schema.len() >= 6, "{table:?}");
            let mut names: Vec<_> = schema.iter_names().collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), schema.len(), "{table:?}");
        }
    }

    #[test]
    fn conform_orders_casts_and_fills() {
        let frame = df!("extra" => [1i64], "bounty" => [2i64], "invocation_id" => ["a"]).unwrap();
        let out = conform(frame, FactTable::Invocations, &["extra"]).unwrap();
        let mut want = schema(FactTable::Invocations);
        want.with_column("extra".into(), DataType::Int64);
        assert_eq!(out.schema().as_ref(), &want);
        assert_eq!(
            out.column("bounty").unwrap().f64().unwrap().get(0),
            Some(2.0)
        );
        assert_eq!(out.column("chute_id").unwrap().null_count(), 1);
    }
}

/// When an invocation fact's entry was published, in µs since the epoch:
/// the column readers join onto invocations to resolve repeated ids.
pub const ENTRY_CREATED: &str = "entry_created_us";

/// One row per `invocation_id` among `rows` (which carry
/// [`ENTRY_CREATED`]): the completed row, then the newest entry's; the
/// remaining columns break ties, so the pick never depends on file order.
/// An invocation straddling two hours appears in both hours' exports; the
/// scores and the SQL tables count it once, by this one rule. `completed`
/// names the completion-time column (a reader may have renamed it).
pub fn one_row_per_invocation(rows: LazyFrame, completed: &str) -> LazyFrame {
    rows.sort_by_exprs(
        [
            col(invocations::INVOCATION_ID),
            col(completed).is_not_null(),
            col(ENTRY_CREATED),
            col(completed),
            col(invocations::MINER_HOTKEY),
        ],
        SortMultipleOptions::default()
            .with_order_descending_multi([false, true, true, true, false])
            .with_nulls_last(true)
            .with_maintain_order(true),
    )
    .unique_stable_generic(
        Some(vec![col(invocations::INVOCATION_ID)]),
        UniqueKeepStrategy::First,
    )
}
