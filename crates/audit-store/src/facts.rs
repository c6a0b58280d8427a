//! The schemas of the lake's fact tables: the contract between the ingest
//! (which writes them) and scoring and comparison (which scan them).
//!
//! Columns mirror the CSV exports and reports of docs/spec/chutes-api.md, typed:
//! timestamps are naive UTC microseconds, empty strings are nulls, and the
//! Python-literal `metrics` of an invocation is flattened into one nullable
//! column per key the scoring reads (null = absent or null in the dict).
//! `metrics_malformed` marks rows whose metrics did not parse; such rows are
//! kept, with every metric null.
//!
//! Schema version 2 ([`SCHEMA_VERSION`]) adds key columns computed at
//! ingest from the text ids, so that scoring never decodes or hashes a
//! string id: each invocation id (and each report's id) as a 128-bit key
//! ([`id_key`]: the UUID's value for an id in UUID form, a name-based
//! UUID of the text otherwise), and [`invocations::INVOCATION_HASH`], the
//! 64-bit hash the scores order their sums by (the same hash version 1
//! computed at every read, so the sums add in the same order and the
//! scores keep their bits). The text ids stay, byte for byte: they are
//! upstream's form, which `auditctl query` shows. [`add_keys`] derives the
//! keys from the text: the ingest, the migration of a version-1 lake and
//! the reading of a not yet migrated file all call it.
//!
//! Schema version 3 adds a derived table per validator entry,
//! [`FactTable::InvocationCounts`]: its invocations counted per miner and
//! chute ([`count_invocations`]), written beside them at ingest, so that
//! `compare-prom` reads a few hundred rows an entry instead of decoding
//! and grouping sixty thousand. An entry of an earlier lake reads its
//! counts derived from its invocations until the migration writes them.

use polars::prelude::*;

use serde::Serialize;

/// The fact tables kept per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FactTable {
    /// Every invocation attempt of a validator's hour: what compute scores.
    Invocations,
    /// Instance audit records, of validators and of miners' self-reports.
    InstanceAudits,
    /// User reports of invocations: a confirmed one excludes its request.
    Reports,
    /// Jobs run on miners in the hour.
    Jobs,
    /// Miners' own Prometheus counters, for compare-prom.
    MinerMetrics,
    /// Version 3: a validator entry's invocations counted per miner and
    /// chute, derived from its `invocations` ([`count_invocations`]).
    InvocationCounts,
}

impl FactTable {
    /// Every table.
    pub const ALL: [FactTable; 6] = [
        FactTable::Invocations,
        FactTable::InstanceAudits,
        FactTable::Reports,
        FactTable::Jobs,
        FactTable::MinerMetrics,
        FactTable::InvocationCounts,
    ];

    /// The table's name, also its file stem.
    pub fn name(self) -> &'static str {
        match self {
            FactTable::Invocations => "invocations",
            FactTable::InstanceAudits => "instance_audits",
            FactTable::Reports => "reports",
            FactTable::Jobs => "jobs",
            FactTable::MinerMetrics => "miner_metrics",
            FactTable::InvocationCounts => "invocation_counts",
        }
    }

    pub(crate) fn file_name(self) -> String {
        format!("{}.parquet", self.name())
    }
}

/// The schema version this build writes (see the module doc). A lake
/// written by an earlier version is migrated on first use
/// ([`crate::Lake::migrate`]).
pub const SCHEMA_VERSION: u32 = 3;

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
    /// v2: the high 64 bits of [`INVOCATION_ID`]'s 128-bit key ([`super::id_key`]).
    pub const INVOCATION_KEY_HI: &str = "invocation_key_hi";
    /// v2: the low 64 bits of [`INVOCATION_ID`]'s 128-bit key.
    pub const INVOCATION_KEY_LO: &str = "invocation_key_lo";
    /// v2: the high 64 bits of [`PARENT_INVOCATION_ID`]'s 128-bit key.
    pub const PARENT_KEY_HI: &str = "parent_key_hi";
    /// v2: the low 64 bits of [`PARENT_INVOCATION_ID`]'s 128-bit key.
    pub const PARENT_KEY_LO: &str = "parent_key_lo";
    /// v2: [`super::invocation_hash`] of [`INVOCATION_ID`]: finds repeats
    /// and orders the scores' sums.
    pub const INVOCATION_HASH: &str = "invocation_hash";
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
    /// v2: the high 64 bits of [`INVOCATION_ID`]'s 128-bit key ([`super::id_key`]).
    pub const INVOCATION_KEY_HI: &str = "invocation_key_hi";
    /// v2: the low 64 bits of [`INVOCATION_ID`]'s 128-bit key.
    pub const INVOCATION_KEY_LO: &str = "invocation_key_lo";
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

/// Column names of the `invocation_counts` table (version 3): one row per
/// miner and chute among an entry's invocations.
pub mod invocation_counts {
    /// The serving miner's hotkey (rows without one are not counted).
    pub const MINER_HOTKEY: &str = "miner_hotkey";
    /// The chute invoked; null where the export named none.
    pub const CHUTE_ID: &str = "chute_id";
    /// Invocations that succeeded: completed, with no error message.
    pub const SUCCEEDED: &str = "succeeded";
    /// Invocations of any outcome.
    pub const ROWS: &str = "rows";
}

/// The schema a fact table is written with.
pub fn schema(table: FactTable) -> Schema {
    use DataType::{Boolean, Float64, Int32, Int64, String as Text, UInt64};
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
                (INVOCATION_KEY_HI, UInt64),
                (INVOCATION_KEY_LO, UInt64),
                (PARENT_KEY_HI, UInt64),
                (PARENT_KEY_LO, UInt64),
                (INVOCATION_HASH, UInt64),
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
                (INVOCATION_KEY_HI, UInt64),
                (INVOCATION_KEY_LO, UInt64),
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
        FactTable::InvocationCounts => {
            use invocation_counts::*;
            vec![
                (MINER_HOTKEY, Text),
                (CHUTE_ID, Text),
                (SUCCEEDED, Int64),
                (ROWS, Int64),
            ]
        }
    };
    fields
        .into_iter()
        .map(|(name, dtype)| Field::new(name.into(), dtype))
        .collect()
}

/// `frame` with exactly the columns of `table`'s schema, in schema order:
/// present columns cast to their type, absent ones all null, the keys
/// derived from the text ids ([`add_keys`]). Columns named in `keep`
/// follow, unchanged.
pub fn conform(frame: DataFrame, table: FactTable, keep: &[&str]) -> PolarsResult<DataFrame> {
    let derived = key_columns(table);
    let mut exprs: Vec<Expr> = schema(table)
        .iter()
        .filter(|(name, _)| !derived.contains(&name.as_str()))
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
    let typed = frame.lazy().select(exprs).collect()?;
    let keyed = add_keys(typed, table)?;
    let mut order: Vec<PlSmallStr> = schema(table).iter_names().cloned().collect();
    order.extend(keep.iter().map(|k| PlSmallStr::from(*k)));
    keyed.select(order)
}

/// The columns version 2 derives from the text ids of `table` (none for
/// tables without ids).
pub fn key_columns(table: FactTable) -> &'static [&'static str] {
    match table {
        FactTable::Invocations => &[
            invocations::INVOCATION_KEY_HI,
            invocations::INVOCATION_KEY_LO,
            invocations::PARENT_KEY_HI,
            invocations::PARENT_KEY_LO,
            invocations::INVOCATION_HASH,
        ],
        FactTable::Reports => &[reports::INVOCATION_KEY_HI, reports::INVOCATION_KEY_LO],
        _ => &[],
    }
}

/// Whether a fact file with these column names has every version-2
/// column of `table`: false for a file written by version 1.
pub fn has_keys<S: AsRef<str>>(columns: &[S], table: FactTable) -> bool {
    key_columns(table)
        .iter()
        .all(|name| columns.iter().any(|c| c.as_ref() == *name))
}

/// The namespace of the name-based keys of ids not in UUID form.
const NON_UUID_ID: uuid::Uuid = uuid::uuid!("5d0c7e36-9a4b-4f57-8a43-6a0c2f1b9e21");

/// The 128-bit key of an id: its value when the id is a UUID written as
/// upstream writes them (lower-case, hyphenated), else a name-based UUID
/// (v5) of the text, so two ids have one key exactly when their texts
/// are equal (up to a collision of SHA-1 in 122 bits).
pub fn id_key(id: &str) -> u128 {
    let mut buffer = uuid::Uuid::encode_buffer();
    match uuid::Uuid::try_parse(id) {
        Ok(u) if *u.hyphenated().encode_lower(&mut buffer) == *id => u.as_u128(),
        _ => uuid::Uuid::new_v5(&NON_UUID_ID, id.as_bytes()).as_u128(),
    }
}

/// The 64-bit hash of an invocation id (a text column) that the scores
/// order their sums by and find repeats with: the expression version 1
/// evaluated at every read, kept so that version 2's stored hash orders
/// the sums exactly as version 1 did.
pub fn invocation_hash(id: Expr) -> Expr {
    id.hash(17, 29, 31, 37)
}

/// The two halves of the keys of a text column, nulls staying null.
fn split_keys(ids: &Column, hi: &str, lo: &str) -> PolarsResult<[Column; 2]> {
    let ids = ids.str()?;
    let keys: Vec<Option<u128>> = ids.iter().map(|id| id.map(id_key)).collect();
    let half = |name: &str, shift: u32| {
        let values: Vec<Option<u64>> = keys
            .iter()
            .map(|k| k.map(|k| (k >> shift) as u64))
            .collect();
        Column::new(name.into(), values)
    };
    Ok([half(hi, 64), half(lo, 0)])
}

/// `frame` (a fact table's text columns) with the version-2 key columns of
/// `table` computed from its ids, appended (a column already there is
/// replaced in place).
pub fn add_keys(frame: DataFrame, table: FactTable) -> PolarsResult<DataFrame> {
    let pairs: &[(&str, &str, &str)] = match table {
        FactTable::Invocations => &[
            (
                invocations::INVOCATION_ID,
                invocations::INVOCATION_KEY_HI,
                invocations::INVOCATION_KEY_LO,
            ),
            (
                invocations::PARENT_INVOCATION_ID,
                invocations::PARENT_KEY_HI,
                invocations::PARENT_KEY_LO,
            ),
        ],
        FactTable::Reports => &[(
            reports::INVOCATION_ID,
            reports::INVOCATION_KEY_HI,
            reports::INVOCATION_KEY_LO,
        )],
        _ => return Ok(frame),
    };
    let mut frame = frame;
    for (id, hi, lo) in pairs {
        let [high, low] = split_keys(frame.column(id)?, hi, lo)?;
        frame.with_column(high)?;
        frame.with_column(low)?;
    }
    if table != FactTable::Invocations {
        return Ok(frame);
    }
    frame
        .lazy()
        .with_column(
            invocation_hash(col(invocations::INVOCATION_ID)).alias(invocations::INVOCATION_HASH),
        )
        .collect()
}

/// The invocations among `rows` (columns of the `invocations` table)
/// counted per miner and chute: the [`FactTable::InvocationCounts`] rows.
/// Succeeded means completed with no error message
/// (docs/spec/incentives.md). Rows without a hotkey are no miner's.
/// Counts are whole numbers, so counting a file in parts and adding the
/// parts ([`add_counts`]) gives the same table.
pub fn count_invocations(rows: LazyFrame) -> LazyFrame {
    use invocation_counts as ic;
    let succeeded = col(invocations::ERROR_MESSAGE)
        .is_null()
        .and(col(invocations::COMPLETED_AT).is_not_null());
    rows.filter(col(invocations::MINER_HOTKEY).is_not_null())
        .group_by([
            col(invocations::MINER_HOTKEY).alias(ic::MINER_HOTKEY),
            col(invocations::CHUTE_ID).alias(ic::CHUTE_ID),
        ])
        .agg([
            succeeded.sum().cast(DataType::Int64).alias(ic::SUCCEEDED),
            len().cast(DataType::Int64).alias(ic::ROWS),
        ])
}

/// Counts of the same entry's parts added up, one row per miner and chute,
/// sorted by them so the file written does not depend on the parts' order.
pub fn add_counts(parts: LazyFrame) -> LazyFrame {
    use invocation_counts as ic;
    parts
        .group_by([col(ic::MINER_HOTKEY), col(ic::CHUTE_ID)])
        .agg([col(ic::SUCCEEDED).sum(), col(ic::ROWS).sum()])
        .sort(
            [ic::MINER_HOTKEY, ic::CHUTE_ID],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .select(
            schema(FactTable::InvocationCounts)
                .iter()
                .map(|(name, dtype)| col(name.clone()).cast(dtype.clone()))
                .collect::<Vec<_>>(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_schema_with_unique_columns() {
        for table in FactTable::ALL {
            let schema = schema(table);
            assert!(schema.len() >= 4, "{table:?}");
            let mut names: Vec<_> = schema.iter_names().collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), schema.len(), "{table:?}");
        }
    }

    #[test]
    fn an_id_key_is_the_uuid_or_a_key_of_the_exact_text() {
        let id = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
        assert_eq!(id_key(id), 0x0a1b2c3d_4e5f_4a6b_8c7d_8e9fa0b1c2d3);
        // Another spelling of the same UUID is another id, as the text was.
        let upper = id.to_uppercase();
        assert_ne!(id_key(&upper), id_key(id));
        assert_eq!(id_key(&upper), id_key(&upper));
        assert_ne!(id_key("a"), id_key("b"));
    }

    #[test]
    fn the_stored_hash_is_the_one_version_1_ordered_sums_by() {
        // Version 1 hashed the text id at every read with this expression;
        // the sums add in its order, so a change here changes the scores'
        // last bits. Pinned to the value polars gives today.
        let frame = df!("invocation_id" => ["0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"]).unwrap();
        let keyed = conform(frame.clone(), FactTable::Invocations, &[]).unwrap();
        let read = frame
            .lazy()
            .select([col("invocation_id").hash(17, 29, 31, 37)])
            .collect()
            .unwrap();
        let stored = keyed.column(invocations::INVOCATION_HASH).unwrap();
        let v1 = read.column("invocation_id").unwrap();
        assert_eq!(stored.u64().unwrap().get(0), v1.u64().unwrap().get(0));
        assert_eq!(stored.u64().unwrap().get(0), Some(PINNED_HASH));
    }

    /// `invocation_hash` of the id above under polars 0.55.
    const PINNED_HASH: u64 = 9_617_742_367_726_654_225;

    #[test]
    fn invocations_are_counted_per_miner_and_chute_in_parts_or_whole() {
        let t = Some(1_000_000i64);
        let rows = df!(
            "miner_hotkey" => [Some("5A"), Some("5A"), Some("5A"), Some("5A"), Some("5B"), None],
            "chute_id" => [Some("c1"), Some("c1"), Some("c1"), None, Some("c1"), Some("c1")],
            // Succeeded, failed, not completed, succeeded without a chute,
            // succeeded, no miner's.
            "error_message" => [None, Some("boom"), None, None, None, None],
            "completed_at" => [t, t, None, t, t, t],
        )
        .unwrap();
        let whole = add_counts(count_invocations(rows.clone().lazy()))
            .collect()
            .unwrap();
        let want = df!(
            "miner_hotkey" => ["5A", "5A", "5B"],
            "chute_id" => [Some("c1"), None, Some("c1")],
            "succeeded" => [1i64, 1, 1],
            "rows" => [3i64, 1, 1],
        )
        .unwrap();
        assert!(whole.equals_missing(&want), "{whole}");
        assert_eq!(
            whole.schema().as_ref(),
            &schema(FactTable::InvocationCounts)
        );
        // Counted a part at a time and added: the same table.
        let parts = [rows.slice(0, 2), rows.slice(2, 4)]
            .map(|part| count_invocations(part.lazy()).collect().unwrap().lazy());
        let added = concat(parts, UnionArgs::default()).unwrap();
        let added = add_counts(added).collect().unwrap();
        assert!(added.equals_missing(&want), "{added}");
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

/// One row per invocation among `rows` (which carry [`ENTRY_CREATED`]),
/// the invocation named by the columns `id` (the text id, or its two key
/// halves): the completed row, then the newest entry's; the remaining
/// columns break ties, so the pick never depends on file order.
/// An invocation straddling two hours appears in both hours' exports; the
/// scores and the SQL tables count it once, by this one rule. `completed`
/// names the completion-time column (a reader may have renamed it).
pub fn one_row_per_invocation(rows: LazyFrame, id: &[&str], completed: &str) -> LazyFrame {
    let mut by: Vec<Expr> = id.iter().map(|c| col(*c)).collect();
    let mut descending = vec![false; id.len()];
    by.extend([
        col(completed).is_not_null(),
        col(ENTRY_CREATED),
        col(completed),
        col(invocations::MINER_HOTKEY),
    ]);
    descending.extend([true, true, true, false]);
    rows.sort_by_exprs(
        by,
        SortMultipleOptions::default()
            .with_order_descending_multi(descending)
            .with_nulls_last(true)
            .with_maintain_order(true),
    )
    .unique_stable_generic(
        Some(id.iter().map(|c| col(*c)).collect()),
        UniqueKeepStrategy::First,
    )
}
