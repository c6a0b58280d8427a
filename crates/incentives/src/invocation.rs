//! What one invocation row adds to its miner's sums (spec §1 and §2): its
//! compute units, whether it counts, whether it is bountied, and whether a
//! confirmed report excludes it or an implausible number voids it.
//!
//! Why a loop over the columns and not polars expressions: the rules read
//! sixteen columns of each of the week's ten million rows and look three
//! keys up per row (the miner's uid by hotkey, the parent request among the
//! confirmed reports, the id among the repeated ones). As polars joins,
//! each look-up gathered every column of the group into a new chunk, and
//! the `when` chain built a column per branch; one pass over the arrays
//! does the same work without the copies (docs/performance.md, "scoring
//! without joins").
//!
//! The values are those of the polars expressions this replaced, bit for
//! bit, and a test keeps those expressions as the reference:
//! - float comparisons are polars' total order: NaN is above every number
//!   (so `NaN > 0` holds) and `-0.0` equals `0.0`;
//! - a null in an arithmetic gives null, and a null condition is false;
//! - a division by a number is a multiplication by its reciprocal;
//! - the sums that follow see the same columns, nulls included, so their
//!   order and rounding are unchanged (see `features::add_sums`).

use polars::prelude::*;
use polars_arrow::array::{Array, BooleanArray, PrimitiveArray, StaticArray, Utf8ViewArray};

use audit_store::facts::invocations as inv;

use crate::profile::ScoringProfile;

/// Column names of `features::invocation_rows` that are not the lake's.
pub(crate) const STARTED: &str = "started";
pub(crate) const COMPLETED: &str = "completed";
pub(crate) const ID_HASH: &str = "id_hash";

/// What the rules look up for every row, built once a scoring.
pub(crate) struct RowRules<'a> {
    /// The one chute whose invocations are public whatever their flag.
    legacy_public_chute: &'a str,
    /// Metagraph hotkeys to uids (the lowest uid of a hotkey listed twice).
    uids: PlHashMap<&'a str, u32>,
    /// Parent request keys that a confirmed report names, sieved by the
    /// key's high half.
    confirmed: Sieved<(u64, u64)>,
}

/// A set of keys behind a bitmap of their hashes: nearly every row's key
/// is not in the set, and the bitmap (128 KiB, in the cache) says so
/// without a hash-table probe. Correct for any keys; fast when they are
/// spread, as ids and their hashes are.
pub(crate) struct Sieved<K> {
    bits: Vec<u64>,
    keys: PlHashSet<K>,
}

const SIEVE_BITS: u32 = 20;

/// The sieve slot of a 64-bit value: a multiplicative hash's top bits.
fn slot(value: u64) -> usize {
    (value.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SIEVE_BITS)) as usize
}

impl<K: std::hash::Hash + Eq> Sieved<K> {
    /// The set of `keys`; `sieve` names the 64 bits each is sieved by.
    pub fn new(keys: impl IntoIterator<Item = K>, sieve: impl Fn(&K) -> u64) -> Self {
        let mut bits = vec![0u64; 1 << (SIEVE_BITS - 6)];
        let keys: PlHashSet<K> = keys.into_iter().collect();
        for key in &keys {
            let slot = slot(sieve(key));
            bits[slot / 64] |= 1 << (slot % 64);
        }
        Sieved { bits, keys }
    }

    /// Whether `key` is in the set; `sieved` is its 64 bits as in `new`.
    pub fn contains(&self, key: &K, sieved: u64) -> bool {
        let slot = slot(sieved);
        self.bits[slot / 64] & (1 << (slot % 64)) != 0 && self.keys.contains(key)
    }
}

/// The window's repeated invocation id hashes.
pub(crate) type RepeatedIds = Sieved<u64>;

impl RepeatedIds {
    pub fn from_hashes(hashes: Vec<u64>) -> Self {
        Sieved::new(hashes, |h| *h)
    }
}

/// The fields of one row the rules read, borrowed from a collected frame
/// (the miner's hotkey aside: [`RowRules::uid`] reads it).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Row<'a> {
    pub chute: Option<&'a str>,
    pub started: Option<i64>,
    pub completed: Option<i64>,
    pub error: Option<&'a str>,
    pub multiplier: Option<f64>,
    pub bounty: Option<f64>,
    pub private: Option<bool>,
    pub nc: Option<f64>,
    pub steps: Option<f64>,
    pub masps: Option<f64>,
    pub it: Option<f64>,
    pub ot: Option<f64>,
    pub maspt: Option<f64>,
    pub parent: (Option<u64>, Option<u64>),
}

/// What one row adds to its miner's sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowValue {
    /// Compute units; none when a number they need is missing.
    pub compute_units: Option<f64>,
    /// 1 when the invocation counts (succeeded, public), else 0.
    pub counted: f64,
    /// 1 when it carried a bounty and is public, else 0.
    pub bountied: f64,
    /// A confirmed report of its parent request excludes it.
    pub excluded: bool,
    /// A number in it is NaN, infinite or negative: it adds nothing.
    pub implausible: bool,
}

/// A group's per-row values, and the indices of the rows set aside as
/// repeated ids.
pub(crate) struct GroupValues {
    pub values: ValueColumns,
    pub repeated: Vec<IdxSize>,
}

/// Polars' `a > b` on floats: NaN above every number.
fn gt_total(a: f64, b: f64) -> bool {
    !(b.is_nan() || b >= a)
}

/// Polars' `a < b` on floats: NaN above every number.
fn lt_total(a: f64, b: f64) -> bool {
    !(a.is_nan() || a >= b)
}

/// Seconds between two microsecond times as polars divides a column by a
/// number: a multiplication by the reciprocal, which can differ from a
/// division in the last bit (13,223,449 µs is 13.223448999999999 s).
fn elapsed_seconds(end: i64, start: i64) -> f64 {
    end.wrapping_sub(start) as f64 * (1.0 / 1_000_000.0)
}

/// True where a number is NaN, infinite or negative; a null is no claim.
fn implausible(value: Option<f64>) -> bool {
    value.is_some_and(|v| !v.is_finite() || lt_total(v, 0.0))
}

/// Set when the value is there and above zero.
fn positive(value: Option<f64>) -> bool {
    value.is_some_and(|v| gt_total(v, 0.0))
}

impl<'a> RowRules<'a> {
    /// The look-ups for one scoring: `metagraph` as (hotkey, uid) pairs and
    /// the confirmed reports' parent keys.
    pub fn new(
        profile: &'a ScoringProfile,
        metagraph: impl IntoIterator<Item = (&'a str, u32)>,
        confirmed: impl IntoIterator<Item = (u64, u64)>,
    ) -> Self {
        let mut uids = PlHashMap::default();
        for (hotkey, uid) in metagraph {
            uids.entry(hotkey)
                .and_modify(|kept: &mut u32| *kept = (*kept).min(uid))
                .or_insert(uid);
        }
        RowRules {
            legacy_public_chute: &profile.legacy_public_chute_id,
            uids,
            confirmed: Sieved::new(confirmed, |(hi, _)| *hi),
        }
    }

    /// The metagraph uid of a hotkey; none off the metagraph.
    pub fn uid(&self, hotkey: &str) -> Option<u32> {
        self.uids.get(hotkey).copied()
    }

    /// The rules applied to one row.
    pub fn value(&self, row: &Row) -> RowValue {
        let private =
            row.private.unwrap_or(false) && row.chute.is_none_or(|c| c != self.legacy_public_chute);
        let success = row.completed.is_some() && row.error.is_none_or(str::is_empty);
        let base = if !success || private {
            Some(0.0)
        } else if positive(row.nc) {
            row.nc
        } else if positive(row.steps) && row.masps.is_some() {
            Some(row.steps.unwrap_or_default() * row.masps.unwrap_or_default())
        } else if positive(row.it) && positive(row.ot) && row.maspt.is_some() {
            let tokens = row.it.unwrap_or_default() + row.ot.unwrap_or_default();
            Some(tokens * row.maspt.unwrap_or_default())
        } else {
            match (row.completed, row.started) {
                (Some(end), Some(start)) => Some(elapsed_seconds(end, start)),
                _ => None,
            }
        };
        let bounty = row.bounty.unwrap_or(0.0);
        let compute_units = match (row.multiplier, base) {
            (Some(multiplier), Some(base)) => Some(bounty + multiplier * base),
            _ => None,
        };
        let excluded = match row.parent {
            (Some(hi), Some(lo)) => self.confirmed.contains(&(hi, lo), hi),
            _ => false,
        };
        let implausible = !excluded
            && (implausible(row.multiplier)
                || implausible(row.bounty)
                || implausible(compute_units));
        let void = excluded || implausible;
        let flag = |set: bool| if set && !void { 1.0 } else { 0.0 };
        RowValue {
            compute_units: if void { Some(0.0) } else { compute_units },
            counted: flag(success && !private),
            bountied: flag(gt_total(bounty, 0.0) && !private),
            excluded,
            implausible,
        }
    }

    /// The values of every row of `rows` (the columns of
    /// `features::invocation_rows`), except those whose id hash is in
    /// `repeated`: their indices are returned instead, to be resolved
    /// with the window's other copies.
    pub fn group(
        &self,
        rows: &DataFrame,
        repeated: &RepeatedIds,
    ) -> Result<GroupValues, PolarsError> {
        let mut values = ValueColumns::with_capacity(rows.height());
        let mut set_aside = Vec::new();
        let mut index: IdxSize = 0;
        self.for_each_row(rows, |uid, row, hash| {
            match hash {
                Some(h) if repeated.contains(&h, h) => set_aside.push(index),
                _ => values.push(uid, self.value(&row), hash),
            }
            index += 1;
        })?;
        Ok(GroupValues {
            values,
            repeated: set_aside,
        })
    }

    /// The values of every row of `rows`, none set aside.
    pub fn all(&self, rows: &DataFrame) -> Result<ValueColumns, PolarsError> {
        let mut values = ValueColumns::with_capacity(rows.height());
        self.for_each_row(rows, |uid, row, hash| {
            values.push(uid, self.value(&row), hash)
        })?;
        Ok(values)
    }

    /// Calls `each` with every row of `rows`, its miner's uid and its id
    /// hash, in order.
    fn for_each_row(
        &self,
        rows: &DataFrame,
        mut each: impl FnMut(Option<u32>, Row, Option<u64>),
    ) -> Result<(), PolarsError> {
        let mut columns = rows.select(RowColumns::names())?;
        // Each entry's file is a chunk of every column; a frame whose
        // chunks do not line up is copied once so that they do.
        columns.align_chunks_par();
        let columns = RowColumns::new(&columns)?;
        for chunk in 0..columns.hashes.chunks().len() {
            let chunk = columns.chunk(chunk)?;
            // A chunk holds a few dozen hotkeys, each in many rows: the
            // uid is looked up once per distinct string view (two equal
            // views of one array are one string).
            let mut uid_of_view: PlHashMap<u128, Option<u32>> = PlHashMap::default();
            let views = chunk.hotkeys.views();
            for i in 0..chunk.hashes.len() {
                let uid = if chunk.hotkeys.is_valid(i) {
                    *uid_of_view
                        .entry(views[i].as_u128())
                        .or_insert_with(|| self.uid(chunk.hotkeys.value(i)))
                } else {
                    None
                };
                each(uid, chunk.row(i), chunk.hashes.get(i));
            }
        }
        Ok(())
    }
}

/// The columns of `features::invocation_rows` the rules read.
struct RowColumns {
    hotkeys: StringChunked,
    chutes: StringChunked,
    errors: StringChunked,
    started: Int64Chunked,
    completed: Int64Chunked,
    private: BooleanChunked,
    /// In the order of [`RowColumns::NUMBERS`].
    numbers: [Float64Chunked; 8],
    parent_hi: UInt64Chunked,
    parent_lo: UInt64Chunked,
    hashes: UInt64Chunked,
}

/// One chunk of each of [`RowColumns`], as arrays.
struct RowChunk<'a> {
    hotkeys: &'a Utf8ViewArray,
    chutes: &'a Utf8ViewArray,
    errors: &'a Utf8ViewArray,
    started: &'a PrimitiveArray<i64>,
    completed: &'a PrimitiveArray<i64>,
    private: &'a BooleanArray,
    numbers: [&'a PrimitiveArray<f64>; 8],
    parent_hi: &'a PrimitiveArray<u64>,
    parent_lo: &'a PrimitiveArray<u64>,
    hashes: &'a PrimitiveArray<u64>,
}

impl RowColumns {
    const NUMBERS: [&'static str; 8] = [
        inv::COMPUTE_MULTIPLIER,
        inv::BOUNTY,
        inv::NC,
        inv::STEPS,
        inv::MASPS,
        inv::IT,
        inv::OT,
        inv::MASPT,
    ];
    /// Every column read, to select them from a wider frame.
    fn names() -> impl Iterator<Item = &'static str> {
        let text = [inv::MINER_HOTKEY, inv::CHUTE_ID, inv::ERROR_MESSAGE];
        let times_and_flag = [STARTED, COMPLETED, inv::PRIVATE];
        let keys = [inv::PARENT_KEY_HI, inv::PARENT_KEY_LO, ID_HASH];
        text.into_iter()
            .chain(times_and_flag)
            .chain(Self::NUMBERS)
            .chain(keys)
    }

    fn new(rows: &DataFrame) -> Result<Self, PolarsError> {
        let text = |name: &str| rows.column(name).and_then(|c| c.str().cloned());
        let int = |name: &str| rows.column(name).and_then(|c| c.i64().cloned());
        let key = |name: &str| rows.column(name).and_then(|c| c.u64().cloned());
        let float = |name: &str| rows.column(name).and_then(|c| c.f64().cloned());
        let [m, b, nc, s, ms, it, ot, mt] = Self::NUMBERS.map(float);
        Ok(RowColumns {
            hotkeys: text(inv::MINER_HOTKEY)?,
            chutes: text(inv::CHUTE_ID)?,
            errors: text(inv::ERROR_MESSAGE)?,
            started: int(STARTED)?,
            completed: int(COMPLETED)?,
            private: rows.column(inv::PRIVATE)?.bool()?.clone(),
            numbers: [m?, b?, nc?, s?, ms?, it?, ot?, mt?],
            parent_hi: key(inv::PARENT_KEY_HI)?,
            parent_lo: key(inv::PARENT_KEY_LO)?,
            hashes: key(ID_HASH)?,
        })
    }

    /// The arrays of chunk `k` (the caller aligned the chunks).
    fn chunk(&self, k: usize) -> Result<RowChunk<'_>, PolarsError> {
        let n = &self.numbers;
        Ok(RowChunk {
            hotkeys: array(&self.hotkeys, k)?,
            chutes: array(&self.chutes, k)?,
            errors: array(&self.errors, k)?,
            started: array(&self.started, k)?,
            completed: array(&self.completed, k)?,
            private: array(&self.private, k)?,
            numbers: [
                array(&n[0], k)?,
                array(&n[1], k)?,
                array(&n[2], k)?,
                array(&n[3], k)?,
                array(&n[4], k)?,
                array(&n[5], k)?,
                array(&n[6], k)?,
                array(&n[7], k)?,
            ],
            parent_hi: array(&self.parent_hi, k)?,
            parent_lo: array(&self.parent_lo, k)?,
            hashes: array(&self.hashes, k)?,
        })
    }
}

/// Chunk `k` of a column as its array type.
fn array<T: PolarsDataType>(column: &ChunkedArray<T>, k: usize) -> Result<&T::Array, PolarsError> {
    let chunk = column
        .chunks()
        .get(k)
        .and_then(|c| c.as_any().downcast_ref());
    chunk.ok_or_else(
        || polars_err!(ComputeError: "column {} has no chunk {k} of its type", column.name()),
    )
}

impl<'a> RowChunk<'a> {
    fn row(&self, i: usize) -> Row<'a> {
        let n = &self.numbers;
        Row {
            chute: self.chutes.get(i),
            started: self.started.get(i),
            completed: self.completed.get(i),
            error: self.errors.get(i),
            multiplier: n[0].get(i),
            bounty: n[1].get(i),
            private: self.private.get(i),
            nc: n[2].get(i),
            steps: n[3].get(i),
            masps: n[4].get(i),
            it: n[5].get(i),
            ot: n[6].get(i),
            maspt: n[7].get(i),
            parent: (self.parent_hi.get(i), self.parent_lo.get(i)),
        }
    }
}

/// The per-row values `features::add_sums` reads, built row by row.
pub(crate) struct ValueColumns {
    pub uid: Vec<Option<u32>>,
    pub id_hash: Vec<Option<u64>>,
    pub compute_units: Vec<Option<f64>>,
    pub counted: Vec<f64>,
    pub bountied: Vec<f64>,
    pub excluded: Vec<bool>,
    pub implausible: Vec<bool>,
}

impl ValueColumns {
    fn with_capacity(rows: usize) -> Self {
        ValueColumns {
            uid: Vec::with_capacity(rows),
            id_hash: Vec::with_capacity(rows),
            compute_units: Vec::with_capacity(rows),
            counted: Vec::with_capacity(rows),
            bountied: Vec::with_capacity(rows),
            excluded: Vec::with_capacity(rows),
            implausible: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, uid: Option<u32>, value: RowValue, hash: Option<u64>) {
        self.uid.push(uid);
        self.id_hash.push(hash);
        self.compute_units.push(value.compute_units);
        self.counted.push(value.counted);
        self.bountied.push(value.bountied);
        self.excluded.push(value.excluded);
        self.implausible.push(value.implausible);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::not_plausible;
    use audit_store::facts::ENTRY_CREATED;

    const MINER: &str = "miner_hotkey";

    /// The polars expressions the loop replaced, verbatim: the reference.
    fn per_row(
        rows: LazyFrame,
        confirmed: &DataFrame,
        uids: &DataFrame,
        profile: &ScoringProfile,
    ) -> LazyFrame {
        let private = col(inv::PRIVATE).fill_null(lit(false)).and(
            col(inv::CHUTE_ID)
                .neq(lit(profile.legacy_public_chute_id.as_str()))
                .fill_null(lit(true)),
        );
        let success = col("completed").is_not_null().and(
            col(inv::ERROR_MESSAGE)
                .is_null()
                .or(col(inv::ERROR_MESSAGE).eq(lit(""))),
        );
        let elapsed =
            (col("completed") - col("started")).cast(DataType::Float64) / lit(1_000_000.0);
        let base = when(success.clone().not().or(private.clone()))
            .then(lit(0.0))
            .when(col(inv::NC).gt(lit(0.0)))
            .then(col(inv::NC))
            .when(
                col(inv::STEPS)
                    .gt(lit(0.0))
                    .and(col(inv::MASPS).is_not_null()),
            )
            .then(col(inv::STEPS) * col(inv::MASPS))
            .when(
                col(inv::IT)
                    .gt(lit(0.0))
                    .and(col(inv::OT).gt(lit(0.0)))
                    .and(col(inv::MASPT).is_not_null()),
            )
            .then((col(inv::IT) + col(inv::OT)) * col(inv::MASPT))
            .otherwise(elapsed);
        let compute_units =
            col(inv::BOUNTY).fill_null(lit(0.0)) + col(inv::COMPUTE_MULTIPLIER) * base;
        // A NaN, an infinity or a negative number here would move every
        // miner's share: such a row adds nothing and is counted.
        let implausible = not_plausible(col(inv::COMPUTE_MULTIPLIER))
            .or(not_plausible(col(inv::BOUNTY)))
            .or(not_plausible(compute_units.clone()))
            .and(col("excluded").not());
        let counted_only = |value: Expr| {
            when(col("excluded").or(col("implausible")))
                .then(lit(0.0))
                .otherwise(value)
        };

        rows.join(
            confirmed.clone().lazy(),
            [col(inv::PARENT_KEY_HI), col(inv::PARENT_KEY_LO)],
            [col("reported_hi"), col("reported_lo")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            uids.clone().lazy(),
            [col(inv::MINER_HOTKEY)],
            [col(MINER)],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("excluded").fill_null(lit(false)))
        .with_column(implausible.alias("implausible"))
        .select([
            col("uid"),
            col("id_hash"),
            counted_only(compute_units).alias("cu"),
            counted_only(
                success
                    .clone()
                    .and(private.clone().not())
                    .cast(DataType::Float64),
            )
            .alias("counted"),
            counted_only(
                col(inv::BOUNTY)
                    .fill_null(lit(0.0))
                    .gt(lit(0.0))
                    .and(private.not())
                    .cast(DataType::Float64),
            )
            .alias("bountied"),
            col("excluded").cast(DataType::UInt32),
            col("implausible").cast(DataType::UInt32),
        ])
    }

    /// A metagraph with one hotkey registered twice (uids 7 and 3).
    fn metagraph() -> Vec<(&'static str, u32)> {
        vec![("5A", 5), ("5dup", 7), ("5B", 9), ("5dup", 3)]
    }

    /// The same look-ups as the frames the expressions joined with.
    fn reference_lookups() -> (DataFrame, DataFrame) {
        let confirmed = df!(
            "reported_hi" => [Some(1u64), Some(3)],
            "reported_lo" => [Some(1u64), None],
            "excluded" => [true, true],
        )
        .unwrap();
        let uids = df!(MINER => ["5dup", "5A", "5B"], "uid" => [3u32, 5, 9]).unwrap();
        (confirmed, uids)
    }

    fn rules(profile: &ScoringProfile) -> RowRules<'_> {
        RowRules::new(profile, metagraph(), [(1, 1)])
    }

    /// Rows of every kind the rules tell apart: nulls, NaN, infinities,
    /// negative zero, negative numbers, the legacy chute, empty errors,
    /// reported parents, unknown hotkeys, times that run backwards.
    fn scrambled_rows(count: usize, legacy: &str) -> DataFrame {
        let mut next = crate::scrambler(0x9e37_79b9_7f4a_7c15);
        let numbers = [
            None,
            Some(0.0),
            Some(-0.0),
            Some(1.5),
            Some(3.0),
            Some(-2.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(1e300),
            Some(0.1),
        ];
        let mut pick = |options: usize| (next() % options as u64) as usize;
        let mut number = || numbers[pick(numbers.len())];
        let mut floats = |_: &str| (0..count).map(|_| number()).collect::<Vec<_>>();
        let [multiplier, bounty, nc, steps, masps, it, ot, maspt] =
            ["m", "b", "nc", "s", "ms", "it", "ot", "mt"].map(&mut floats);
        let mut pick = |options: usize| (next() % options as u64) as usize;
        let hotkeys: Vec<Option<&str>> = (0..count)
            .map(|_| [None, Some("5A"), Some("5B"), Some("5dup"), Some("5off")][pick(5)])
            .collect();
        let chutes: Vec<Option<&str>> = (0..count)
            .map(|_| [None, Some(legacy), Some("chute")][pick(3)])
            .collect();
        let errors: Vec<Option<&str>> = (0..count)
            .map(|_| [None, Some(""), Some("boom")][pick(3)])
            .collect();
        let private: Vec<Option<bool>> = (0..count)
            .map(|_| [None, Some(true), Some(false)][pick(3)])
            .collect();
        // Times to the microsecond, some running backwards, so that the
        // elapsed seconds' last bits are tested.
        let mut time = |_| (pick(8) != 0).then(|| pick(40_000_000) as i64);
        let started: Vec<Option<i64>> = (0..count).map(&mut time).collect();
        let completed: Vec<Option<i64>> = (0..count).map(&mut time).collect();
        let parents = [
            (Some(1u64), Some(1u64)),
            (Some(2), Some(2)),
            (None, Some(1)),
            (Some(1), None),
            (Some(3), None),
        ];
        let parents: Vec<_> = (0..count).map(|_| parents[pick(parents.len())]).collect();
        let hashes: Vec<Option<u64>> = (0..count)
            .map(|i| (pick(10) != 0).then_some(i as u64 * 7))
            .collect();
        df!(
            inv::PARENT_KEY_HI => parents.iter().map(|p| p.0).collect::<Vec<_>>(),
            inv::PARENT_KEY_LO => parents.iter().map(|p| p.1).collect::<Vec<_>>(),
            inv::CHUTE_ID => chutes,
            inv::MINER_HOTKEY => hotkeys,
            STARTED => started,
            COMPLETED => completed,
            inv::ERROR_MESSAGE => errors,
            inv::COMPUTE_MULTIPLIER => multiplier,
            inv::BOUNTY => bounty,
            inv::PRIVATE => private,
            inv::NC => nc,
            inv::STEPS => steps,
            inv::MASPS => masps,
            inv::IT => it,
            inv::OT => ot,
            inv::MASPT => maspt,
            ENTRY_CREATED => vec![0i64; count],
            ID_HASH => hashes,
        )
        .unwrap()
    }

    /// A column's values as bits, nulls kept, whatever its type.
    fn bits(frame: &DataFrame, name: &str) -> Vec<Option<u64>> {
        let column = frame.column(name).unwrap();
        match column.dtype() {
            DataType::Float64 => column
                .f64()
                .unwrap()
                .iter()
                .map(|v| v.map(f64::to_bits))
                .collect(),
            _ => {
                let column = column.cast(&DataType::UInt64).unwrap();
                column.u64().unwrap().iter().collect()
            }
        }
    }

    /// The same for the loop's values.
    fn value_bits(values: &ValueColumns, name: &str) -> Vec<Option<u64>> {
        let float = |v: &[f64]| v.iter().map(|v| Some(v.to_bits())).collect();
        let flag = |v: &[bool]| v.iter().map(|v| Some(u64::from(*v))).collect();
        match name {
            "uid" => values.uid.iter().map(|u| u.map(u64::from)).collect(),
            ID_HASH => values.id_hash.clone(),
            "cu" => values
                .compute_units
                .iter()
                .map(|v| v.map(f64::to_bits))
                .collect(),
            "counted" => float(&values.counted),
            "bountied" => float(&values.bountied),
            "excluded" => flag(&values.excluded),
            "implausible" => flag(&values.implausible),
            _ => unreachable!("no column {name}"),
        }
    }

    const VALUE_COLUMNS: [&str; 7] = [
        "uid",
        ID_HASH,
        "cu",
        "counted",
        "bountied",
        "excluded",
        "implausible",
    ];

    #[test]
    fn the_loop_gives_the_expressions_values_bit_for_bit() {
        let profile = ScoringProfile::default();
        let rows = scrambled_rows(20_000, &profile.legacy_public_chute_id);
        let (confirmed, uids) = reference_lookups();
        let expected = per_row(rows.clone().lazy(), &confirmed, &uids, &profile)
            .collect()
            .unwrap();
        let got = rules(&profile).all(&rows).unwrap();
        assert_eq!(got.uid.len(), expected.height());
        assert_columns(&got, |name| bits(&expected, name));
    }

    /// Every value column of `got` against `expected`'s bits, naming the
    /// first row that differs.
    fn assert_columns(got: &ValueColumns, expected: impl Fn(&str) -> Vec<Option<u64>>) {
        for name in VALUE_COLUMNS {
            let (got, expected) = (value_bits(got, name), expected(name));
            assert_eq!(got.len(), expected.len(), "column {name}: row counts");
            if let Some(row) = (0..got.len()).find(|&i| got[i] != expected[i]) {
                panic!(
                    "column {name}, row {row}: bits {:?} where the expressions give {:?}",
                    got[row], expected[row]
                );
            }
        }
    }

    #[test]
    fn a_frame_of_many_chunks_reads_as_one() {
        // An entry's file per chunk, and a frame whose chunks do not line
        // up (a column rechunked on its own): the same values.
        let profile = ScoringProfile::default();
        let rows = scrambled_rows(3_000, &profile.legacy_public_chute_id);
        let whole = rules(&profile).all(&rows).unwrap();
        let mut chunked = rows.slice(0, 1_000);
        chunked.vstack_mut(&rows.slice(1_000, 1_500)).unwrap();
        chunked.vstack_mut(&rows.slice(2_500, 500)).unwrap();
        let mut misaligned = chunked.clone();
        misaligned
            .apply(inv::NC, |c| {
                c.as_materialized_series().rechunk().into_column()
            })
            .unwrap();
        for frame in [chunked, misaligned] {
            let got = rules(&profile).all(&frame).unwrap();
            assert_columns(&got, |name| value_bits(&whole, name));
        }
    }

    #[test]
    fn rows_of_repeated_ids_are_set_aside_and_the_rest_valued_in_order() {
        let profile = ScoringProfile::default();
        let rows = scrambled_rows(50, &profile.legacy_public_chute_id);
        let repeated = RepeatedIds::from_hashes(vec![0, 14, 70, 343]);
        let values = rules(&profile).group(&rows, &repeated).unwrap();
        let hashes = rows.column(ID_HASH).unwrap().u64().unwrap();
        let in_set = |h: Option<u64>| h.is_some_and(|h| [0, 14, 70, 343].contains(&h));
        let expected_aside: Vec<IdxSize> = (0..50)
            .filter(|&i| in_set(hashes.get(i)))
            .map(|i| i as IdxSize)
            .collect();
        assert!(!expected_aside.is_empty());
        assert_eq!(values.repeated, expected_aside);
        let kept: Vec<Option<u64>> = (0..50)
            .map(|i| hashes.get(i))
            .filter(|h| !in_set(*h))
            .collect();
        assert_eq!(values.values.id_hash, kept);
    }

    #[test]
    fn the_sieve_never_loses_a_key_and_rejects_others() {
        // Keys crowded into one sieve slot and keys spread out: every key
        // is found, no other value is.
        let keys: Vec<u64> = (0..5_000u64)
            .map(|i| i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .chain(0..64)
            .collect();
        let set = RepeatedIds::from_hashes(keys.clone());
        assert!(keys.iter().all(|k| set.contains(k, *k)));
        let others = (5_000..200_000u64).map(|i| i.wrapping_mul(0x2545_f491_4f6c_dd1d));
        assert!(others.filter(|k| set.contains(k, *k)).count() == 0);
        let empty = RepeatedIds::from_hashes(vec![]);
        assert!(!empty.contains(&0, 0));
    }

    fn row() -> Row<'static> {
        Row {
            chute: Some("chute"),
            started: Some(0),
            completed: Some(4_000_000),
            multiplier: Some(2.0),
            bounty: Some(0.0),
            private: Some(false),
            ..Row::default()
        }
    }

    #[test]
    fn hand_worked_rows() {
        let profile = ScoringProfile::default();
        let rules = rules(&profile);
        // Four seconds at multiplier 2, nothing else reported: 8 units.
        let plain = rules.value(&row());
        assert_eq!((plain.compute_units, plain.counted), (Some(8.0), 1.0));
        // A NaN compute count is above zero in polars' order, so it is the
        // base, and the row is voided as implausible.
        let nan = rules.value(&Row {
            nc: Some(f64::NAN),
            ..row()
        });
        assert!(nan.implausible);
        assert_eq!((nan.compute_units, nan.counted), (Some(0.0), 0.0));
        // A confirmed report of the parent excludes it; not implausible.
        let reported = rules.value(&Row {
            parent: (Some(1), Some(1)),
            bounty: Some(-1.0),
            ..row()
        });
        assert!(reported.excluded && !reported.implausible);
        // No multiplier: no compute units, but the invocation still counts.
        let unpriced = rules.value(&Row {
            multiplier: None,
            ..row()
        });
        assert_eq!((unpriced.compute_units, unpriced.counted), (None, 1.0));
        // 13,223,449 µs at multiplier 1 is 13.223448999999999 units, as
        // polars divides, not 13.223449.
        let odd = rules.value(&Row {
            completed: Some(13_223_449),
            multiplier: Some(1.0),
            ..row()
        });
        assert_eq!(odd.compute_units, Some(13.223448999999999));
        // A hotkey listed twice takes its lowest uid; an unknown one none.
        assert_eq!(
            (rules.uid("5dup"), rules.uid("5A"), rules.uid("5off")),
            (Some(3), Some(5), None)
        );
    }
}
