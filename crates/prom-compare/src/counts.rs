//! The counts compare-prom sets against each other, computed in polars
//! from the lake: per (miner, chute, hour), the validator's successful
//! invocations and the miner's reported `total_count`.
//!
//! The hour of a row is the start of the audit entry it came from, on both
//! sides: a self-report covers its entry's hour, and the validator exports
//! an invocation with its `completed_at` in the hour it completed. The
//! miner of a reported row is the hotkey that committed the report on
//! chain, not the hotkey the report's body claims.

use std::collections::BTreeMap;

use audit_store::facts::{invocation_counts as ic, miner_metrics as mm};
use audit_store::{FactTable, Lake};
use chrono::{DateTime, NaiveDateTime};
use polars::prelude::*;
use serde::Serialize;

use crate::{facts, PromCompareError};

/// Miner hotkey column of both count tables.
pub const HOTKEY: &str = "hotkey";
/// Chute column of both count tables.
pub const CHUTE: &str = "chute_id";
/// The entry's start, microseconds since the epoch.
pub const HOUR: &str = "hour";
/// Successful invocations in the validator's exports.
pub const VALIDATOR: &str = "validator_count";
/// Exported rows of any outcome (a miner appears in the invocations).
pub const ROWS: &str = "rows";
/// The miner's reported `total_count`, negative and non-finite values out.
pub const REPORTED: &str = "reported_count";
/// Some reported count was negative: a counter went down.
pub const NEGATIVE: &str = "negative";
/// The entry column the lake tags each row with.
const ENTRY: &str = audit_store::ENTRY_ID;

/// One loaded audit entry as the counts need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    /// Its id: the lake folder.
    pub entry_id: String,
    /// The hotkey that committed it.
    pub hotkey: String,
    /// Its `start_time`: the hour its rows count in.
    pub start: NaiveDateTime,
}

/// One miner's totals over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinerTotals {
    /// The miner.
    pub hotkey: String,
    /// Its successful invocations in the validator's exports.
    pub validator_count: u64,
    /// Its reported `total_count`, when it reported any metrics.
    pub reported_count: Option<u64>,
}

/// The two count tables, one row per (hotkey, chute, hour).
#[derive(Debug, Clone)]
pub struct Counts {
    /// [`HOTKEY`], [`CHUTE`], [`HOUR`], [`VALIDATOR`], [`ROWS`].
    pub validator: DataFrame,
    /// [`HOTKEY`], [`CHUTE`], [`HOUR`], [`REPORTED`], [`NEGATIVE`].
    pub reported: DataFrame,
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// The hour back from microseconds (the epoch for anything out of range).
pub(crate) fn from_micros(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .naive_utc()
}

/// Each entry's invocations counted per miner and chute (the lake keeps
/// them beside the invocations, or counts them at the read for an entry of
/// an older lake), tagged with the entry's hour.
fn entry_counts(
    lake: &Lake,
    entries: &[EntryRef],
    only: Option<&str>,
) -> Result<Vec<LazyFrame>, PromCompareError> {
    let ids: Vec<String> = entries.iter().map(|e| e.entry_id.clone()).collect();
    let scans = lake.scan_each(&ids, FactTable::InvocationCounts)?;
    let mut out = Vec::with_capacity(entries.len());
    for (entry, counts) in entries.iter().zip(scans) {
        let Some(counts) = counts else { continue };
        let mut rows = counts.select([
            col(ic::MINER_HOTKEY).alias(HOTKEY),
            col(ic::CHUTE_ID).alias(CHUTE),
            lit(micros(entry.start)).alias(HOUR),
            col(ic::SUCCEEDED).cast(DataType::Int64).alias(VALIDATOR),
            col(ic::ROWS).cast(DataType::Int64).alias(ROWS),
        ]);
        if let Some(hotkey) = only {
            rows = rows.filter(col(HOTKEY).eq(lit(hotkey)));
        }
        out.push(rows);
    }
    Ok(out)
}

fn empty_validator() -> DataFrame {
    DataFrame::empty_with_schema(&Schema::from_iter([
        Field::new(HOTKEY.into(), DataType::String),
        Field::new(CHUTE.into(), DataType::String),
        Field::new(HOUR.into(), DataType::Int64),
        Field::new(VALIDATOR.into(), DataType::Int64),
        Field::new(ROWS.into(), DataType::Int64),
    ]))
}

fn empty_reported() -> DataFrame {
    DataFrame::empty_with_schema(&Schema::from_iter([
        Field::new(HOTKEY.into(), DataType::String),
        Field::new(CHUTE.into(), DataType::String),
        Field::new(HOUR.into(), DataType::Int64),
        Field::new(REPORTED.into(), DataType::Float64),
        Field::new(NEGATIVE.into(), DataType::Boolean),
    ]))
}

impl Counts {
    /// Reads both tables from the lake: invocations of `validator_entries`,
    /// self-reported metrics of `miner_entries`. With `only`, just that
    /// miner's rows (live mode and single-miner checks read less).
    pub fn read(
        lake: &Lake,
        validator_entries: &[EntryRef],
        miner_entries: &[EntryRef],
        only: Option<&str>,
    ) -> Result<Counts, PromCompareError> {
        Ok(Counts {
            validator: validator_counts(lake, validator_entries, only)?,
            reported: reported_counts(lake, miner_entries, only)?,
        })
    }

    /// Per miner seen in the validator's invocations (any outcome): its
    /// validator count and, when it reported metrics, its reported count;
    /// by hotkey.
    pub fn totals(&self) -> Result<Vec<MinerTotals>, PromCompareError> {
        let reported = self
            .reported
            .clone()
            .lazy()
            .group_by([col(HOTKEY)])
            .agg([col(REPORTED).sum()]);
        let frame = self
            .validator
            .clone()
            .lazy()
            .group_by([col(HOTKEY)])
            .agg([col(VALIDATOR).sum(), col(ROWS).sum()])
            .filter(col(ROWS).gt(lit(0)))
            .join(
                reported,
                [col(HOTKEY)],
                [col(HOTKEY)],
                JoinArgs::new(JoinType::Left),
            )
            .sort([HOTKEY], SortMultipleOptions::default())
            .collect()
            .map_err(facts("the totals per miner"))?;
        let hotkeys = strings(&frame, HOTKEY)?;
        let validator = ints(&frame, VALIDATOR)?;
        let reported = floats(&frame, REPORTED)?;
        Ok(hotkeys
            .into_iter()
            .zip(validator)
            .zip(reported)
            .filter_map(|((hotkey, v), r)| {
                Some(MinerTotals {
                    hotkey: hotkey?,
                    validator_count: count(v.map(|v| v as f64)),
                    reported_count: r.map(|r| count(Some(r))),
                })
            })
            .collect())
    }

    /// One miner's counts by chute: validator and reported (`None` where
    /// it reported nothing for the chute).
    pub fn by_chute(
        &self,
        hotkey: &str,
    ) -> Result<BTreeMap<String, (u64, Option<u64>)>, PromCompareError> {
        let mut out: BTreeMap<String, (u64, Option<u64>)> = BTreeMap::new();
        let (keys, values) = sums(&self.validator, hotkey, CHUTE, VALIDATOR)?;
        for (k, v) in keys.into_iter().zip(values) {
            if let Some(k) = k {
                let slot = &mut out.entry(k).or_default().0;
                *slot = slot.saturating_add(count(v));
            }
        }
        let (keys, values) = sums(&self.reported, hotkey, CHUTE, REPORTED)?;
        for (k, v) in keys.into_iter().zip(values) {
            if let Some(k) = k {
                let slot = &mut out.entry(k).or_default().1;
                *slot = Some(slot.unwrap_or(0).saturating_add(count(v)));
            }
        }
        Ok(out)
    }

    /// One miner's counts by hour: validator count, reported count, and
    /// whether a reported counter went down in that hour.
    pub fn by_hour(&self, hotkey: &str) -> Result<HourCounts, PromCompareError> {
        let mut out = HourCounts::default();
        let frame = per_hour(&self.validator, hotkey, col(VALIDATOR).sum(), lit(false))?;
        for (hour, value, _) in frame {
            let slot = out.validator.entry(hour).or_default();
            *slot = slot.saturating_add(value);
        }
        let frame = per_hour(
            &self.reported,
            hotkey,
            col(REPORTED).sum(),
            col(NEGATIVE).any(true),
        )?;
        for (hour, value, negative) in frame {
            let slot = out.reported.entry(hour).or_default();
            *slot = slot.saturating_add(value);
            if negative {
                out.negative.push(hour);
            }
        }
        Ok(out)
    }
}

/// One miner's counts by hour (see [`Counts::by_hour`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourCounts {
    /// Successful invocations per hour.
    pub validator: BTreeMap<NaiveDateTime, u64>,
    /// Reported counts per hour.
    pub reported: BTreeMap<NaiveDateTime, u64>,
    /// Hours where a reported counter went down.
    pub negative: Vec<NaiveDateTime>,
}

fn validator_counts(
    lake: &Lake,
    entries: &[EntryRef],
    only: Option<&str>,
) -> Result<DataFrame, PromCompareError> {
    let parts = entry_counts(lake, entries, only)?;
    if parts.is_empty() {
        return Ok(empty_validator());
    }
    // Two validator entries of the same hour land in one row.
    concat(parts, UnionArgs::default())
        .and_then(|all| {
            all.group_by([col(HOTKEY), col(CHUTE), col(HOUR)])
                .agg([col(VALIDATOR).sum(), col(ROWS).sum()])
                .collect()
        })
        .map_err(facts("the validator's counts"))
}

fn reported_counts(
    lake: &Lake,
    entries: &[EntryRef],
    only: Option<&str>,
) -> Result<DataFrame, PromCompareError> {
    let entries: Vec<EntryRef> = entries
        .iter()
        .filter(|e| only.is_none_or(|h| e.hotkey == h))
        .cloned()
        .collect();
    let ids: Vec<String> = entries.iter().map(|e| e.entry_id.clone()).collect();
    // Self-reports are kept a sync's batch to a table: the lake reads
    // them a batch at a time, on every core.
    let Some(rows) = lake.scan(&ids, FactTable::MinerMetrics)? else {
        return Ok(empty_reported());
    };
    let tags = df!(
        ENTRY => ids,
        HOTKEY => entries.iter().map(|e| e.hotkey.as_str()).collect::<Vec<_>>(),
        HOUR => entries.iter().map(|e| micros(e.start)).collect::<Vec<_>>(),
    )
    .map_err(facts("the miners' reported counts"))?;
    let reported = rows
        .select([
            col(ENTRY),
            col(mm::CHUTE_ID).cast(DataType::String).alias(CHUTE),
            col(mm::TOTAL_COUNT).cast(DataType::Float64).alias(REPORTED),
        ])
        .join(
            tags.lazy(),
            [col(ENTRY)],
            [col(ENTRY)],
            JoinArgs::new(JoinType::Inner),
        )
        .select([col(HOTKEY), col(CHUTE), col(HOUR), col(REPORTED)]);
    let c = || col(REPORTED);
    // NaN compares above every number in polars: `< inf` keeps finite ones.
    let usable = c().gt_eq(lit(0.0)).and(c().lt(lit(f64::INFINITY)));
    reported
        .group_by([col(HOTKEY), col(CHUTE), col(HOUR)])
        .agg([
            when(usable)
                .then(c())
                .otherwise(lit(0.0))
                .sum()
                .alias(REPORTED),
            c().lt(lit(0.0)).any(true).alias(NEGATIVE),
        ])
        .collect()
        .map_err(facts("the miners' reported counts"))
}

/// Keys and their sums, aligned.
type Sums = (Vec<Option<String>>, Vec<Option<f64>>);

/// `value` summed per `key` over one miner's rows.
fn sums(frame: &DataFrame, hotkey: &str, key: &str, value: &str) -> Result<Sums, PromCompareError> {
    let out = frame
        .clone()
        .lazy()
        .filter(col(HOTKEY).eq(lit(hotkey)))
        .group_by([col(key)])
        .agg([col(value).cast(DataType::Float64).sum()])
        .collect()
        .map_err(facts("one miner's counts"))?;
    Ok((strings(&out, key)?, floats(&out, value)?))
}

/// One miner's `value` and `flag` per hour.
fn per_hour(
    frame: &DataFrame,
    hotkey: &str,
    value: Expr,
    flag: Expr,
) -> Result<Vec<(NaiveDateTime, u64, bool)>, PromCompareError> {
    let out = frame
        .clone()
        .lazy()
        .filter(col(HOTKEY).eq(lit(hotkey)))
        .group_by([col(HOUR)])
        .agg([
            value.cast(DataType::Float64).alias("value"),
            flag.alias("flag"),
        ])
        .collect()
        .map_err(facts("one miner's counts by hour"))?;
    let hours = ints(&out, HOUR)?;
    let values = floats(&out, "value")?;
    let flags = bools(&out, "flag")?;
    Ok(hours
        .into_iter()
        .zip(values)
        .zip(flags)
        .filter_map(|((h, v), f)| Some((from_micros(h?), count(v), f.unwrap_or(false))))
        .collect())
}

/// A summed count as a whole number: rounded, never negative.
fn count(value: Option<f64>) -> u64 {
    match value {
        Some(v) if v.is_finite() && v > 0.0 => v.round() as u64,
        _ => 0,
    }
}

fn strings(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>, PromCompareError> {
    let column = frame
        .column(name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(facts("a result column"))?;
    let values = column.str().map_err(facts("a result column"))?;
    Ok(values.iter().map(|v| v.map(str::to_string)).collect())
}

fn ints(frame: &DataFrame, name: &str) -> Result<Vec<Option<i64>>, PromCompareError> {
    let column = frame
        .column(name)
        .and_then(|c| c.cast(&DataType::Int64))
        .map_err(facts("a result column"))?;
    Ok(column
        .i64()
        .map_err(facts("a result column"))?
        .iter()
        .collect())
}

fn floats(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, PromCompareError> {
    let column = frame
        .column(name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(facts("a result column"))?;
    Ok(column
        .f64()
        .map_err(facts("a result column"))?
        .iter()
        .collect())
}

fn bools(frame: &DataFrame, name: &str) -> Result<Vec<Option<bool>>, PromCompareError> {
    let column = frame
        .column(name)
        .and_then(|c| c.cast(&DataType::Boolean))
        .map_err(facts("a result column"))?;
    Ok(column
        .bool()
        .map_err(facts("a result column"))?
        .iter()
        .collect())
}
