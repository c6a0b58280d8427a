//! The tables under upstream's names: lake facts of the window's loaded
//! entries, collapsed as upstream's primary keys collapse them, and
//! catalog records as frames.

use audit_store::facts::{
    self, instance_audits as ia, invocations as inv, jobs, miner_metrics as mm,
    one_row_per_invocation, reports as rep, ENTRY_CREATED,
};
use audit_store::{EntryRecord, EntrySource, EntryState, FactTable, Store};
use chrono::NaiveDateTime;
use polars::prelude::*;

use crate::{QueryError, Scope};

/// The tables a query may name.
pub const TABLES: [&str; 9] = [
    "invocations",
    "reports",
    "jobs",
    "instance_audits",
    "miner_metrics",
    "metagraph_nodes",
    "gpu_counts",
    "synthetics",
    "audit_entries",
];

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn timestamps(values: impl IntoIterator<Item = Option<NaiveDateTime>>) -> Vec<Option<i64>> {
    values.into_iter().map(|t| t.map(micros)).collect()
}

/// A column of microsecond timestamps as a Datetime series.
fn datetime_column(name: &str, values: Vec<Option<i64>>) -> Result<Column, QueryError> {
    Ok(Column::new(name.into(), values).cast(&facts::timestamp())?)
}

/// Every table, lazily.
pub(crate) async fn gather(
    store: &Store,
    scope: &Scope,
) -> Result<Vec<(&'static str, LazyFrame)>, QueryError> {
    // A window longer than the calendar reaches back to its start.
    let from = scope
        .at
        .checked_sub_signed(scope.window)
        .unwrap_or(NaiveDateTime::MIN);
    let until = scope
        .at
        .checked_add_signed(chrono::Duration::microseconds(1))
        .unwrap_or(NaiveDateTime::MAX);
    let catalog = store.catalog();
    let validator: Vec<EntryRecord> = catalog
        .loaded_entries(EntrySource::Validator, from, until)
        .await?
        .into_iter()
        .filter(|e| scope.validators.is_empty() || scope.validators.contains(&e.entry.hotkey))
        .collect();
    let miner = catalog
        .loaded_entries(EntrySource::Miner, from, until)
        .await?;
    let lake = Lake {
        store,
        validator: &validator,
        miner: &miner,
    };
    let mut tables = vec![
        ("invocations", lake.invocations()?),
        ("reports", lake.reports()?),
        ("jobs", lake.jobs()?),
        ("instance_audits", lake.instance_audits()?),
        ("miner_metrics", lake.miner_metrics()?),
    ];
    tables.push(("metagraph_nodes", metagraph_nodes(store, scope).await?));
    tables.push(("gpu_counts", gpu_counts(store).await?));
    tables.push(("synthetics", synthetics(store, from, until).await?));
    tables.push(("audit_entries", audit_entries(store, from, scope.at).await?));
    Ok(tables)
}

struct Lake<'a> {
    store: &'a Store,
    validator: &'a [EntryRecord],
    miner: &'a [EntryRecord],
}

impl Lake<'_> {
    /// The facts of `table` across `entries`, with `entry_id` and
    /// [`ENTRY_CREATED`]; the table's empty schema when none has it.
    fn scan(&self, entries: &[EntryRecord], table: FactTable) -> Result<LazyFrame, QueryError> {
        let ids: Vec<String> = entries.iter().map(|e| e.entry.entry_id.clone()).collect();
        let created: Vec<i64> = entries.iter().map(|e| micros(e.entry.created_at)).collect();
        let Some(rows) = self.store.lake().scan(&ids, table)? else {
            let mut schema = facts::schema(table);
            schema.with_column("entry_id".into(), DataType::String);
            schema.with_column(ENTRY_CREATED.into(), DataType::Int64);
            return Ok(DataFrame::empty_with_schema(&schema).lazy());
        };
        let entries = df!("entry_id" => ids, ENTRY_CREATED => created)?;
        Ok(rows.join(
            entries.lazy(),
            [col("entry_id")],
            [col("entry_id")],
            JoinArgs::new(JoinType::Inner),
        ))
    }

    /// One row per `invocation_id` (upstream's primary key): the completed
    /// row, then the newest entry's, as the scores count it (an
    /// invocation straddling two hours appears in both exports).
    fn invocations(&self) -> Result<LazyFrame, QueryError> {
        let rows = self
            .scan(self.validator, FactTable::Invocations)
            .map(|rows| one_row_per_invocation(rows, &[inv::INVOCATION_ID], inv::COMPLETED_AT))?;
        // upstream's `metrics` JSON, as a struct of the keys the scores read.
        let metrics = as_struct(vec![
            col(inv::PRIVATE).alias("p"),
            col(inv::NC).alias("nc"),
            col(inv::STEPS).alias("steps"),
            col(inv::MASPS).alias("masps"),
            col(inv::IT).alias("it"),
            col(inv::OT).alias("ot"),
            col(inv::MASPT).alias("maspt"),
        ])
        .alias("metrics");
        let mut columns: Vec<Expr> = [
            inv::PARENT_INVOCATION_ID,
            inv::INVOCATION_ID,
            inv::CHUTE_ID,
            inv::CHUTE_USER_ID,
            inv::FUNCTION_NAME,
            inv::USER_ID,
            inv::IMAGE_ID,
            inv::IMAGE_USER_ID,
            inv::INSTANCE_ID,
            inv::MINER_UID,
            inv::MINER_HOTKEY,
            inv::ERROR_MESSAGE,
            inv::COMPUTE_MULTIPLIER,
            inv::BOUNTY,
        ]
        .into_iter()
        .map(col)
        .collect();
        columns.push(metrics);
        columns.extend(
            [
                inv::STARTED_AT,
                inv::COMPLETED_AT,
                inv::PRIVATE,
                inv::NC,
                inv::STEPS,
                inv::MASPS,
                inv::IT,
                inv::OT,
                inv::MASPT,
                inv::METRICS_MALFORMED,
                "entry_id",
            ]
            .into_iter()
            .map(col),
        );
        Ok(rows.select(columns))
    }

    /// One row per `invocation_id`: a confirmation in any export wins,
    /// then the newest entry's row.
    fn reports(&self) -> Result<LazyFrame, QueryError> {
        let rows = self
            .scan(self.validator, FactTable::Reports)?
            .sort_by_exprs(
                [
                    col(rep::INVOCATION_ID),
                    col(rep::CONFIRMED_AT).is_not_null(),
                    col(ENTRY_CREATED),
                ],
                SortMultipleOptions::default()
                    .with_order_descending_multi([false, true, true])
                    .with_maintain_order(true),
            )
            .unique_stable_generic(
                Some(vec![col(rep::INVOCATION_ID)]),
                UniqueKeepStrategy::First,
            );
        Ok(rows.select(
            [
                rep::INVOCATION_ID,
                rep::USER_ID,
                rep::TIMESTAMP,
                rep::CONFIRMED_AT,
                rep::CONFIRMED_BY,
                rep::REASON,
                "entry_id",
            ]
            .map(col),
        ))
    }

    /// One row per `job_id`: the newest entry's.
    fn jobs(&self) -> Result<LazyFrame, QueryError> {
        let rows = self
            .scan(self.validator, FactTable::Jobs)?
            .sort_by_exprs(
                [col(jobs::JOB_ID), col(ENTRY_CREATED)],
                SortMultipleOptions::default()
                    .with_order_descending_multi([false, true])
                    .with_maintain_order(true),
            )
            .unique_stable_generic(Some(vec![col(jobs::JOB_ID)]), UniqueKeepStrategy::First);
        let mut columns: Vec<Expr> = facts::schema(FactTable::Jobs)
            .iter_names()
            .map(|n| col(n.clone()))
            .collect();
        columns.push(col("entry_id"));
        Ok(rows.select(columns))
    }

    /// Every record of every entry (validator reports and miners' own),
    /// `source` saying which, as upstream keeps them.
    fn instance_audits(&self) -> Result<LazyFrame, QueryError> {
        let of = |entries: &[EntryRecord], source: &str| -> Result<LazyFrame, QueryError> {
            Ok(self
                .scan(entries, FactTable::InstanceAudits)?
                .with_column(lit(source).alias("source")))
        };
        let rows = concat(
            [of(self.validator, "validator")?, of(self.miner, "miner")?],
            UnionArgs::default(),
        )?;
        Ok(rows.select(
            [
                "entry_id",
                ia::INSTANCE_ID,
                "source",
                ia::DEPLOYMENT_ID,
                ia::VALIDATOR,
                ia::CHUTE_ID,
                ia::VERSION,
                ia::DELETION_REASON,
                ia::MINER_UID,
                ia::MINER_HOTKEY,
                ia::REGION,
                ia::CREATED_AT,
                ia::VERIFIED_AT,
                ia::DELETED_AT,
                ia::ACTIVATED_AT,
                ia::STOP_BILLING_AT,
                ia::BILLED_TO,
                ia::COMPUTE_MULTIPLIER,
            ]
            .map(col),
        ))
    }

    /// Miners' self-reported counters; upstream calls the miner `hotkey`.
    fn miner_metrics(&self) -> Result<LazyFrame, QueryError> {
        Ok(self.scan(self.miner, FactTable::MinerMetrics)?.select([
            col("entry_id"),
            col(mm::DEPLOYMENT_ID),
            col(mm::FUNCTION),
            col(mm::MINER_HOTKEY).alias("hotkey"),
            col(mm::CHUTE_ID),
            col(mm::TOTAL_SECONDS),
            col(mm::TOTAL_COUNT),
        ]))
    }
}

/// The subnet's neurons as of `at` (the snapshot `weights --at` scores
/// with); no snapshot gives an empty table.
async fn metagraph_nodes(store: &Store, scope: &Scope) -> Result<LazyFrame, QueryError> {
    let snapshot = store.catalog().metagraph_at(scope.netuid, scope.at).await?;
    let (neurons, block, taken_at) = match &snapshot {
        Some(s) => (s.neurons.as_slice(), Some(s.block), Some(s.taken_at)),
        None => (&[][..], None, None),
    };
    let n = neurons.len();
    let frame = DataFrame::new(
        n,
        vec![
            Column::new(
                "hotkey".into(),
                neurons
                    .iter()
                    .map(|m| m.hotkey.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "coldkey".into(),
                neurons
                    .iter()
                    .map(|m| m.coldkey.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "node_id".into(),
                neurons.iter().map(|m| i32::from(m.uid)).collect::<Vec<_>>(),
            ),
            // upstream stores the chain's u16 as the fraction it stands for.
            Column::new(
                "incentive".into(),
                neurons
                    .iter()
                    .map(|m| f64::from(m.incentive) / f64::from(u16::MAX))
                    .collect::<Vec<_>>(),
            ),
            Column::new("netuid".into(), vec![i32::from(scope.netuid); n]),
            Column::new(
                "stake".into(),
                neurons.iter().map(|m| m.stake).collect::<Vec<_>>(),
            ),
            Column::new(
                "last_updated".into(),
                neurons
                    .iter()
                    .map(|m| m.last_update as i64)
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "validator_permit".into(),
                neurons
                    .iter()
                    .map(|m| m.validator_permit)
                    .collect::<Vec<_>>(),
            ),
            Column::new("block".into(), vec![block.map(i64::from); n]),
            datetime_column("synced_at", vec![taken_at.map(micros); n])?,
        ],
    )?;
    Ok(frame.lazy())
}

async fn gpu_counts(store: &Store) -> Result<LazyFrame, QueryError> {
    let counts = store.catalog().gpu_counts().await?;
    let frame = df!(
        "chute_id" => counts.iter().map(|g| g.chute_id.as_str()).collect::<Vec<_>>(),
        "gpu_count" => counts.iter().map(|g| i64::from(g.gpu_count)).collect::<Vec<_>>(),
    )?;
    Ok(frame.lazy())
}

async fn synthetics(
    store: &Store,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<LazyFrame, QueryError> {
    let rows = store.catalog().synthetics_between(from, until).await?;
    let n = rows.len();
    let text = |name: &str, f: &dyn Fn(&audit_store::Synthetic) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let frame = DataFrame::new(
        n,
        vec![
            text("parent_invocation_id", &|s| s.parent_invocation_id.clone()),
            text("invocation_id", &|s| s.invocation_id.clone()),
            text("instance_id", &|s| s.instance_id.clone()),
            text("chute_id", &|s| s.chute_id.clone()),
            Column::new(
                "miner_uid".into(),
                rows.iter()
                    .map(|s| s.miner_uid.map(i32::from))
                    .collect::<Vec<_>>(),
            ),
            text("miner_hotkey", &|s| s.miner_hotkey.clone()),
            datetime_column(
                "created_at",
                timestamps(rows.iter().map(|s| Some(s.created_at))),
            )?,
            Column::new(
                "has_error".into(),
                rows.iter().map(|s| s.has_error).collect::<Vec<_>>(),
            ),
            text("task", &|s| s.task.clone()),
            text("check", &|s| s.check.as_str().to_string()),
            datetime_column("checked_at", timestamps(rows.iter().map(|s| s.checked_at)))?,
        ],
    )?;
    Ok(frame.lazy())
}

/// Every entry listed in the window, whatever its state.
async fn audit_entries(
    store: &Store,
    from: NaiveDateTime,
    at: NaiveDateTime,
) -> Result<LazyFrame, QueryError> {
    let states = [
        EntryState::Pending,
        EntryState::Verified,
        EntryState::Unverifiable,
        EntryState::Loaded,
        EntryState::Rejected,
    ];
    let mut rows: Vec<EntryRecord> = store
        .catalog()
        .entries_in_states(&states, from)
        .await?
        .into_iter()
        .filter(|e| e.entry.created_at <= at)
        .collect();
    rows.sort_by(|a, b| {
        (a.entry.created_at, &a.entry.entry_id).cmp(&(b.entry.created_at, &b.entry.entry_id))
    });
    let n = rows.len();
    let text = |name: &str, f: &dyn Fn(&EntryRecord) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let frame = DataFrame::new(
        n,
        vec![
            text("entry_id", &|e| e.entry.entry_id.clone()),
            text("hotkey", &|e| e.entry.hotkey.clone()),
            Column::new(
                "block".into(),
                rows.iter()
                    .map(|e| i64::from(e.entry.block))
                    .collect::<Vec<_>>(),
            ),
            text("path", &|e| e.entry.path.clone()),
            datetime_column(
                "created_at",
                timestamps(rows.iter().map(|e| Some(e.entry.created_at))),
            )?,
            datetime_column(
                "start_time",
                timestamps(rows.iter().map(|e| Some(e.entry.start_time))),
            )?,
            datetime_column(
                "end_time",
                timestamps(rows.iter().map(|e| Some(e.entry.end_time))),
            )?,
            text("source", &|e| e.entry.source.as_str().to_string()),
            text("state", &|e| e.state.as_str().to_string()),
            Column::new(
                "unverifiable".into(),
                rows.iter().map(|e| e.unverifiable).collect::<Vec<_>>(),
            ),
        ],
    )?;
    Ok(frame.lazy())
}
