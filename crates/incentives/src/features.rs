//! Steps 1 and 2 of the rules: from the window's facts to one row of raw
//! features per miner hotkey. Polars reads the facts and sums; what one
//! invocation row adds is valued in `invocation`. The result is a few
//! hundred rows.
//!
//! Determinism: float sums depend on order, so each sum adds its rows in
//! `(uid, invocation id hash)` order, whatever order the files were read in.

use audit_model::phases::Phases;
use audit_store::facts::{
    instance_audits as ia, invocations as inv, one_row_per_invocation, reports as rep,
};
use audit_store::RawFeatures;
use chrono::{DurationRound, NaiveDateTime, TimeDelta};
use polars::prelude::*;

use crate::inputs::{micros, ScoringInputs, ENTRY_CREATED};
use crate::invocation::{RepeatedIds, RowRules, ValueColumns, COMPLETED, ID_HASH, STARTED};
use crate::profile::ScoringProfile;
use crate::IncentivesError;

const HOUR_US: i64 = 3_600_000_000;
const MINER: &str = "miner_hotkey";

/// Raw features of one miner, before normalisation (spec §2).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MinerFeatures {
    /// The miner's hotkey: the key the features are grouped by.
    pub hotkey: String,
    /// Its uid in the metagraph, where the weight goes.
    pub uid: u16,
    /// Its coldkey, for the multi-uid penalty.
    pub coldkey: String,
    /// The features themselves.
    #[serde(flatten)]
    pub raw: RawFeatures,
}

/// Counts about the invocation rows, for the report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct InvocationStats {
    /// Rows read from the exports.
    pub rows: u64,
    /// Rows dropped as repeats of an invocation id.
    pub duplicates_collapsed: u64,
    /// Invocations excluded by a confirmed report of their parent.
    pub excluded_by_reports: u64,
    /// Rows refused because a number was non-finite or negative (the
    /// multiplier, the bounty, or the compute units they give): they add
    /// nothing. The ingest refuses such rows; this guards a lake it did
    /// not write.
    pub implausible_rows: u64,
}

/// The raw features of every metagraph miner with work in the window.
pub fn raw_features(
    inputs: &ScoringInputs,
    at: NaiveDateTime,
    profile: &ScoringProfile,
) -> Result<(Vec<MinerFeatures>, InvocationStats), IncentivesError> {
    let t_us = micros(at);
    let window_start = audit_store::time::window_start(at, profile.window_days);
    let w_us = micros(window_start);

    let mut phases = Phases::start("scoring");
    let (compute, stats) = invocation_features(inputs, profile, &mut phases)?;
    let unique = unique_chutes(inputs, at, window_start)?;
    let private = private_instances(inputs, profile, t_us, w_us)?;

    // Only metagraph hotkeys are kept; only miners with a compute row get
    // the other features.
    let metagraph = metagraph_frame(inputs)?;
    let joined = compute
        .join(
            metagraph,
            [col("uid")],
            [col("uid")],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            unique,
            [col(MINER)],
            [col(MINER)],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            private,
            [col(MINER)],
            [col(MINER)],
            JoinArgs::new(JoinType::Left),
        )
        .sort([MINER], SortMultipleOptions::default())
        .collect();
    let joined =
        joined.map_err(|e| IncentivesError::Facts(format!("joining miner features: {e}")))?;
    phases.done("chutes, private instances and the metagraph joined");

    let text = |name: &str| -> Result<Vec<String>, IncentivesError> {
        Ok(joined
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let float = |name: &str| -> Result<Vec<f64>, IncentivesError> {
        let column = joined.column(name)?.cast(&DataType::Float64)?;
        Ok(column.f64()?.iter().map(|v| v.unwrap_or(0.0)).collect())
    };
    let hotkeys = text(MINER)?;
    let coldkeys = text("coldkey")?;
    let uids = float("uid")?;
    let invocation_count = float("invocation_count")?;
    let compute_units = float("compute_units")?;
    let bounty_count = float("bounty_count")?;
    let unique_chute_count = float("unique_chute_count")?;
    let private_instances = float("private_instances")?;
    let private_seconds = float("private_seconds")?;
    let private_compute = float("private_compute_units")?;

    let miners = (0..joined.height())
        .map(|i| MinerFeatures {
            hotkey: hotkeys[i].clone(),
            uid: uids[i] as u16,
            coldkey: coldkeys[i].clone(),
            raw: RawFeatures {
                invocation_count: invocation_count[i] + private_seconds[i].floor(),
                compute_units: compute_units[i] + private_compute[i],
                bounty_count: bounty_count[i] + private_instances[i],
                unique_chute_count: unique_chute_count[i],
                private_instances: private_instances[i] as u64,
                private_seconds: private_seconds[i],
                private_compute_units: private_compute[i],
            },
        })
        .collect();
    Ok((miners, stats))
}

fn metagraph_frame(inputs: &ScoringInputs) -> Result<LazyFrame, IncentivesError> {
    let hotkeys: Vec<&str> = inputs.metagraph.iter().map(|n| n.hotkey.as_str()).collect();
    let coldkeys: Vec<&str> = inputs
        .metagraph
        .iter()
        .map(|n| n.coldkey.as_str())
        .collect();
    let uids: Vec<u32> = inputs.metagraph.iter().map(|n| u32::from(n.uid)).collect();
    let frame = df!(MINER => hotkeys, "coldkey" => coldkeys, "uid" => uids)?;
    // A hotkey registered twice would double its row; keep the lowest uid.
    Ok(frame
        .lazy()
        .sort(["uid"], SortMultipleOptions::default())
        .unique_stable_generic(Some(vec![col(MINER)]), UniqueKeepStrategy::First))
}

fn us(name: &str) -> Expr {
    col(name).cast(DataType::Int64)
}

/// One invocation row with the columns the rules read.
fn invocation_rows(frame: &LazyFrame) -> LazyFrame {
    frame
        .clone()
        .filter(
            col(inv::MINER_UID)
                .gt_eq(lit(0))
                .or(col(inv::MINER_UID).is_null()),
        )
        .select([
            col(inv::PARENT_KEY_HI),
            col(inv::PARENT_KEY_LO),
            col(inv::INVOCATION_KEY_HI),
            col(inv::INVOCATION_KEY_LO),
            col(inv::CHUTE_ID),
            col(inv::MINER_HOTKEY),
            us(inv::STARTED_AT).alias(STARTED),
            us(inv::COMPLETED_AT).alias(COMPLETED),
            col(inv::ERROR_MESSAGE),
            col(inv::COMPUTE_MULTIPLIER),
            col(inv::BOUNTY),
            col(inv::PRIVATE),
            col(inv::NC),
            col(inv::STEPS),
            col(inv::MASPS),
            col(inv::IT),
            col(inv::OT),
            col(inv::MASPT),
            col(ENTRY_CREATED),
            id_hash(),
        ])
}

/// The 64-bit hash of the invocation id, stored at ingest
/// ([`audit_store::facts::invocation_hash`]): finds repeats and orders
/// sums without decoding the 36-character id.
fn id_hash() -> Expr {
    col(inv::INVOCATION_HASH).alias(ID_HASH)
}

/// The window's invocation id hashes, spread over 256 buckets by their
/// top byte as they are read: each bucket then sorts within the cache
/// (the hashes are uniform): on the week this pass took half the time of
/// one polars sort of its ten million hashes (1.1 s to 0.5 s).
struct HashBuckets {
    buckets: Vec<Vec<u64>>,
    /// Hashes read, nulls included.
    read: u64,
}

impl Default for HashBuckets {
    fn default() -> Self {
        HashBuckets {
            buckets: vec![Vec::new(); 256],
            read: 0,
        }
    }
}

impl HashBuckets {
    /// Adds a column of hashes (a null is counted, and never a repeat).
    fn extend(&mut self, hashes: &UInt64Chunked) {
        self.read += hashes.len() as u64;
        for hash in hashes.iter().flatten() {
            self.buckets[(hash >> 56) as usize].push(hash);
        }
    }

    /// Each hash seen more than once, once, ascending.
    fn repeated(self) -> Vec<u64> {
        let mut repeated = Vec::new();
        for mut bucket in self.buckets {
            bucket.sort_unstable();
            let twins = bucket.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]);
            for hash in twins {
                if repeated.last() != Some(&hash) {
                    repeated.push(hash);
                }
            }
        }
        repeated
    }
}

/// Reads each group on a thread of its own, one group ahead of `each`,
/// which gets them in order: the next group's Parquet is decoded while
/// this one's rows are valued and summed (alone, each waited for the
/// other, and one of the two cores idled). Stops at the first error, of
/// either side.
fn read_ahead(
    groups: &[LazyFrame],
    read: impl Fn(&LazyFrame) -> Result<DataFrame, IncentivesError> + Sync,
    mut each: impl FnMut(DataFrame) -> Result<(), IncentivesError>,
) -> Result<(), IncentivesError> {
    std::thread::scope(|scope| {
        // A hand-over, not a queue: the reader holds the next group until
        // `each` is done with this one, so two groups are in memory at
        // most.
        let (send, receive) = std::sync::mpsc::sync_channel(0);
        let read = &read;
        scope.spawn(move || {
            for group in groups {
                let frame = read(group);
                let failed = frame.is_err();
                // A closed channel means `each` failed and stopped.
                if send.send(frame).is_err() || failed {
                    return;
                }
            }
        });
        for frame in receive {
            each(frame?)?;
        }
        Ok(())
    })
}

/// Per-miner sums of one group of invocation rows.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    counted: f64,
    compute_units: f64,
    bountied: f64,
    rows: u64,
    excluded: u64,
    implausible: u64,
}

/// Step 1 and the invocation part of step 2.
///
/// The window is read one group of entries at a time ([`ScoringInputs`]
/// keeps them in a fixed order), so memory holds one group's rows, never
/// the week. Repeated invocation ids (straddling an hour) are found first
/// from the id hashes alone; their rows are set aside and resolved
/// together at the end, every other row is summed in its group. Each
/// group's rows are summed in `(uid, id hash)` order and the groups'
/// sums are added in the inputs' order, so the result does not depend on
/// the order rows or files are read in.
fn invocation_features(
    inputs: &ScoringInputs,
    profile: &ScoringProfile,
    phases: &mut Phases,
) -> Result<(LazyFrame, InvocationStats), IncentivesError> {
    let facts = |what: &str| {
        let what = what.to_string();
        move |e: PolarsError| IncentivesError::Facts(format!("{what}: {e}"))
    };

    // Pass 1: the id hashes seen more than once in the window.
    let mut hashes = HashBuckets::default();
    let read_ids = |group: &LazyFrame| {
        let frame = group.clone().select([id_hash()]).collect();
        frame.map_err(facts("reading invocation ids"))
    };
    read_ahead(&inputs.invocations, read_ids, |frame| {
        let column = frame.column(ID_HASH)?.cast(&DataType::UInt64)?;
        hashes.extend(column.u64()?);
        Ok(())
    })?;
    let read = hashes.read;
    let repeated = hashes.repeated();
    phases.done("repeated invocation ids found");

    let rules = RowRules::new(
        profile,
        inputs
            .metagraph
            .iter()
            .map(|n| (n.hotkey.as_str(), u32::from(n.uid))),
        confirmed_parents(inputs)?,
    );
    let repeated = RepeatedIds::from_hashes(repeated);

    // Pass 2: sum each group's rows with unique ids; keep the repeated ones.
    let mut sums: std::collections::BTreeMap<Option<u32>, Sums> = Default::default();
    let mut repeats = Vec::new();
    let read_rows = |group: &LazyFrame| {
        let rows = invocation_rows(group).collect();
        rows.map_err(facts("reading invocations"))
    };
    read_ahead(&inputs.invocations, read_rows, |rows| {
        let values = rules.group(&rows, &repeated)?;
        if !values.repeated.is_empty() {
            let repeated_rows = IdxCa::from_vec("repeated".into(), values.repeated);
            repeats.push(rows.take(&repeated_rows)?.lazy());
        }
        add_sums(&mut sums, values.values)
    })?;
    phases.done("invocations summed");
    // One row per repeated id, by the rule the SQL tables share.
    if !repeats.is_empty() {
        let resolved = one_row_per_invocation(
            concat(repeats, UnionArgs::default())?,
            &[inv::INVOCATION_KEY_HI, inv::INVOCATION_KEY_LO],
            COMPLETED,
        )
        .collect()
        .map_err(facts("resolving repeated invocations"))?;
        add_sums(&mut sums, rules.all(&resolved)?)?;
    }
    phases.done("repeated invocations resolved");

    let unique_rows: u64 = sums.values().map(|s| s.rows).sum();
    let stats = InvocationStats {
        rows: read,
        duplicates_collapsed: read.saturating_sub(unique_rows),
        excluded_by_reports: sums.values().map(|s| s.excluded).sum(),
        implausible_rows: sums.values().map(|s| s.implausible).sum(),
    };
    // A miner whose every row was excluded by reports has no work to score.
    let miners: Vec<(u32, Sums)> = sums
        .into_iter()
        .filter(|(_, s)| s.rows > s.excluded + s.implausible)
        .filter_map(|(uid, s)| Some((uid?, s)))
        .collect();
    let features = df!(
        "uid" => miners.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        "invocation_count" => miners.iter().map(|(_, s)| s.counted).collect::<Vec<_>>(),
        "compute_units" => miners.iter().map(|(_, s)| s.compute_units).collect::<Vec<_>>(),
        "bounty_count" => miners.iter().map(|(_, s)| s.bountied).collect::<Vec<_>>(),
    )?;
    Ok((features.lazy(), stats))
}

/// The parent request keys of the window's confirmed reports: one
/// confirmed report excludes every attempt of its request.
fn confirmed_parents(inputs: &ScoringInputs) -> Result<Vec<(u64, u64)>, IncentivesError> {
    let confirmed = inputs
        .reports
        .clone()
        .filter(col(rep::CONFIRMED_AT).is_not_null())
        .select([col(rep::INVOCATION_KEY_HI), col(rep::INVOCATION_KEY_LO)])
        .collect()
        .map_err(|e| IncentivesError::Facts(format!("reading confirmed reports: {e}")))?;
    let hi = confirmed.column(rep::INVOCATION_KEY_HI)?.u64()?;
    let lo = confirmed.column(rep::INVOCATION_KEY_LO)?.u64()?;
    Ok(hi
        .iter()
        .zip(lo.iter())
        .filter_map(|(hi, lo)| Some((hi?, lo?)))
        .collect())
}

/// A group's compute units, with their uids, in the order the sums add
/// them: by `(uid, id hash)`, nulls first, ties (two ids of one hash
/// among resolved repeats) in the order they came in: the order two
/// stable sorts, by id hash and then by uid, gave. The permutation is
/// computed here rather than by polars: rows are put in per-uid buckets
/// (a metagraph has a few hundred uids) and each bucket is sorted on its
/// own, where polars' stable sorts of the whole frame were a fifth of the
/// week's scoring time. The uid column comes out flagged as sorted, as a
/// polars sort leaves it, so the grouping that follows sums the same way
/// (float addition is not associative; the scores stay bit-identical).
fn compute_units_in_sum_order(values: &ValueColumns) -> Result<DataFrame, PolarsError> {
    let order = sum_order(values.uid.iter().copied(), values.id_hash.iter().copied());
    let taken = |i: &IdxSize| (values.uid[*i as usize], values.compute_units[*i as usize]);
    let (uids, units): (Vec<_>, Vec<_>) = order.iter().map(taken).unzip();
    let mut uid = UInt32Chunked::from_iter_options("uid".into(), uids.into_iter());
    uid.set_sorted_flag(polars::series::IsSorted::Ascending);
    let units = Float64Chunked::from_iter_options("cu".into(), units.into_iter());
    DataFrame::new(order.len(), vec![uid.into_column(), units.into_column()])
}

/// The row indices in `(uid, id hash, index)` order, nulls first: a
/// counting sort by uid, then each uid's rows sorted on one 128-bit key
/// (hash present, hash, index), unique, so an unstable sort is stable.
fn sum_order(
    uids: impl ExactSizeIterator<Item = Option<u32>>,
    hashes: impl Iterator<Item = Option<u64>>,
) -> Vec<IdxSize> {
    // Bucket 0 holds the null uids, bucket u + 1 uid u.
    let buckets: Vec<usize> = uids.map(|uid| uid.map_or(0, |u| u as usize + 1)).collect();
    let mut starts = vec![0usize; buckets.iter().max().map_or(0, |b| b + 2)];
    for &bucket in &buckets {
        starts[bucket + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut keys = vec![0u128; buckets.len()];
    let mut next = starts.clone();
    for ((index, &bucket), hash) in (0u32..).zip(&buckets).zip(hashes) {
        let hash = hash.map_or(0, |h| 1 << 96 | u128::from(h) << 32);
        keys[next[bucket]] = hash | u128::from(index);
        next[bucket] += 1;
    }
    for bucket in starts.windows(2) {
        keys[bucket[0]..bucket[1]].sort_unstable();
    }
    keys.into_iter().map(|key| key as u32 as IdxSize).collect()
}

/// True where a number is NaN, infinite or negative; a null is no claim.
pub(crate) fn not_plausible(value: Expr) -> Expr {
    value
        .clone()
        .is_finite()
        .not()
        .or(value.lt(lit(0.0)))
        .fill_null(lit(false))
}

/// Adds one group's per-miner sums (rows with a null uid are off the
/// metagraph: counted in the stats only). Counts and 0-or-1 flags sum to
/// whole numbers, exact in any order, and are tallied here; compute
/// units are put in the order of [`compute_units_in_sum_order`] before
/// polars sums them, eagerly on purpose: float addition is not
/// associative, and the optimiser may drop a sort that feeds an
/// aggregation.
fn add_sums(
    sums: &mut std::collections::BTreeMap<Option<u32>, Sums>,
    values: ValueColumns,
) -> Result<(), IncentivesError> {
    for (uid, tally) in tallies(&values) {
        let s = sums.entry(uid).or_default();
        s.counted += tally.counted;
        s.bountied += tally.bountied;
        s.excluded += tally.excluded;
        s.implausible += tally.implausible;
        s.rows += tally.rows;
    }
    let per_uid = compute_units_in_sum_order(&values)
        .map_err(|e| IncentivesError::Facts(format!("ordering the sums: {e}")))?
        .lazy()
        .group_by_stable([col("uid")])
        .agg([col("cu").sum()])
        .collect()
        .map_err(|e| IncentivesError::Facts(format!("per-miner sums: {e}")))?;
    let uid = per_uid.column("uid")?.u32()?;
    let cu = per_uid.column("cu")?.f64()?;
    for (uid, cu) in uid.iter().zip(cu.iter()) {
        sums.entry(uid).or_default().compute_units += cu.unwrap_or(0.0);
    }
    Ok(())
}

/// Each uid's whole-number sums of a group (no compute units), the null
/// uid first: a dense table, as uids are small.
fn tallies(values: &ValueColumns) -> Vec<(Option<u32>, Sums)> {
    let slot = |uid: Option<u32>| uid.map_or(0, |u| u as usize + 1);
    let slots = values
        .uid
        .iter()
        .map(|u| slot(*u))
        .max()
        .map_or(0, |s| s + 1);
    let mut tallies = vec![None::<Sums>; slots];
    for (i, uid) in values.uid.iter().enumerate() {
        let tally = tallies[slot(*uid)].get_or_insert_with(Sums::default);
        tally.counted += values.counted[i];
        tally.bountied += values.bountied[i];
        tally.excluded += u64::from(values.excluded[i]);
        tally.implausible += u64::from(values.implausible[i]);
        tally.rows += u64::from(values.id_hash[i].is_some());
    }
    let uid_of = |slot: usize| slot.checked_sub(1).map(|u| u as u32);
    (0..slots)
        .filter_map(|slot| Some((uid_of(slot), tallies[slot]?)))
        .collect()
}

/// unique_chute_count (spec §2): GPU-weighted distinct chutes per hour,
/// averaged over the hours a miner had any.
fn unique_chutes(
    inputs: &ScoringInputs,
    at: NaiveDateTime,
    window_start: NaiveDateTime,
) -> Result<LazyFrame, IncentivesError> {
    let hour = TimeDelta::hours(1);
    let first = window_start
        .duration_trunc(hour)
        .map_err(|e| IncentivesError::Time(e.to_string()))?;
    let last = at
        .duration_trunc(hour)
        .map_err(|e| IncentivesError::Time(e.to_string()))?;
    let mut points = Vec::new();
    let mut t = first;
    while t <= last {
        points.push(micros(t));
        t += hour;
    }
    let points = df!("t" => points)?.lazy();

    let collapsed = inputs
        .instance_audits
        .clone()
        .select([
            col(ia::INSTANCE_ID),
            col(ia::CHUTE_ID),
            col(ia::MINER_HOTKEY),
            us(ia::ACTIVATED_AT).alias("activated"),
            us(ia::DELETED_AT).alias("deleted"),
            col(ia::BILLED_TO),
        ])
        .group_by([
            col(ia::INSTANCE_ID),
            col(ia::CHUTE_ID),
            col(ia::MINER_HOTKEY),
        ])
        .agg([
            col("activated").min().alias("first_activation"),
            col("deleted").max().alias("last_deletion"),
            col(ia::BILLED_TO).is_not_null().any(true).alias("billed"),
        ])
        .filter(col("first_activation").is_not_null());

    let lived_an_hour =
        (col("last_deletion").fill_null(col("t")) - col("first_activation")).gt_eq(lit(HOUR_US));
    let active = col("first_activation")
        .lt_eq(col("t"))
        .and(
            col("last_deletion")
                .is_null()
                .or(col("last_deletion").gt_eq(col("t"))),
        )
        .and(col("billed").or(lived_an_hour));

    let gpus: Vec<&str> = inputs
        .gpu_counts
        .iter()
        .map(|g| g.chute_id.as_str())
        .collect();
    let counts: Vec<u32> = inputs.gpu_counts.iter().map(|g| g.gpu_count).collect();
    let gpu_frame = df!(ia::CHUTE_ID => gpus, "gpu_count" => counts)?.lazy();

    Ok(collapsed
        .cross_join(points, None)
        .filter(active)
        .select([col(ia::MINER_HOTKEY), col("t"), col(ia::CHUTE_ID)])
        .unique_generic(None, UniqueKeepStrategy::Any)
        .join(
            gpu_frame,
            [col(ia::CHUTE_ID)],
            [col(ia::CHUTE_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("gpu_count").cast(DataType::Float64).fill_null(lit(1.0)))
        .group_by([col(ia::MINER_HOTKEY), col("t")])
        .agg([col("gpu_count").sum().alias("gpus")])
        // Integer GPU sums: the mean is exact whatever the order.
        .group_by([col(ia::MINER_HOTKEY)])
        .agg([col("gpus").mean().alias("mean_gpus")])
        .select([
            col(ia::MINER_HOTKEY),
            col("mean_gpus")
                .cast(DataType::Int64)
                .cast(DataType::Float64)
                .alias("unique_chute_count"),
        ]))
}

/// Private instances (spec §2): billed jobs and private chutes.
fn private_instances(
    inputs: &ScoringInputs,
    profile: &ScoringProfile,
    t_us: i64,
    w_us: i64,
) -> Result<LazyFrame, IncentivesError> {
    let mut reason = col(ia::DELETION_REASON)
        .str()
        .contains_literal(lit(profile.private_deletion_reason_contains.as_str()));
    for listed in &profile.private_deletion_reasons {
        reason = reason.or(col(ia::DELETION_REASON).eq(lit(listed.as_str())));
    }
    let min2 = |a: Expr, b: Expr| when(a.clone().lt(b.clone())).then(a).otherwise(b);

    Ok(inputs
        .instance_audits
        .clone()
        .filter(
            col(ia::BILLED_TO)
                .is_not_null()
                .and(col(ia::ACTIVATED_AT).is_not_null())
                .and(reason.fill_null(lit(false))),
        )
        .select([
            col(ia::INSTANCE_ID),
            col(ia::MINER_HOTKEY),
            col(ia::COMPUTE_MULTIPLIER),
            us(ia::VERIFIED_AT).alias("verified"),
            us(ia::ACTIVATED_AT).alias("activated"),
            us(ia::STOP_BILLING_AT).alias("stop_billing"),
            us(ia::DELETED_AT).alias("deleted"),
        ])
        // The record with the latest verified_at (nulls last) names the
        // miner and multiplier; ties fall to the hotkey, for determinism.
        .sort_by_exprs(
            [
                col(ia::INSTANCE_ID),
                col("verified"),
                col(ia::MINER_HOTKEY),
                col(ia::COMPUTE_MULTIPLIER),
            ],
            SortMultipleOptions::default()
                .with_order_descending_multi([false, true, false, false])
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
        .group_by_stable([col(ia::INSTANCE_ID)])
        .agg([
            col(ia::MINER_HOTKEY).first(),
            col(ia::COMPUTE_MULTIPLIER).first(),
            col("activated").min(),
            col("stop_billing").max(),
            col("deleted").max(),
        ])
        .filter(
            col("stop_billing")
                .is_null()
                .or(col("stop_billing").gt_eq(lit(w_us))),
        )
        // A non-finite or negative multiplier bills nothing.
        .filter(not_plausible(col(ia::COMPUTE_MULTIPLIER)).not())
        .with_columns([
            when(col("activated").gt(lit(w_us)))
                .then(col("activated"))
                .otherwise(lit(w_us))
                .alias("start"),
            min2(
                min2(
                    col("stop_billing").fill_null(lit(t_us)),
                    col("deleted").fill_null(lit(t_us)),
                ),
                lit(t_us),
            )
            .alias("end"),
        ])
        .filter(col("end").gt(col("start")))
        .with_column(
            ((col("end") - col("start")).cast(DataType::Float64) / lit(1_000_000.0))
                .alias("seconds"),
        )
        .sort(
            [ia::MINER_HOTKEY, ia::INSTANCE_ID],
            SortMultipleOptions::default(),
        )
        .group_by_stable([col(ia::MINER_HOTKEY)])
        .agg([
            len().cast(DataType::Float64).alias("private_instances"),
            col("seconds").sum().alias("private_seconds"),
            (col("seconds") * col(ia::COMPUTE_MULTIPLIER))
                .sum()
                .alias("private_compute_units"),
        ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What two stable sorts give, by hash and then by uid, nulls first.
    fn by_two_stable_sorts(uids: &[Option<u32>], hashes: &[Option<u64>]) -> Vec<IdxSize> {
        let mut order: Vec<IdxSize> = (0..uids.len() as IdxSize).collect();
        order.sort_by_key(|&i| hashes[i as usize]);
        order.sort_by_key(|&i| uids[i as usize]);
        order
    }

    #[test]
    fn a_repeated_hash_is_found_once_whatever_its_bucket_or_count() {
        let mut hashes = HashBuckets::default();
        let first = [Some(7), None, Some(u64::MAX), Some(3 << 56), Some(7)];
        hashes.extend(&UInt64Chunked::from_iter_options(
            "h".into(),
            first.into_iter(),
        ));
        let second = [Some(7), Some(u64::MAX), None, Some(3 << 56 | 1), Some(8)];
        hashes.extend(&UInt64Chunked::from_iter_options(
            "h".into(),
            second.into_iter(),
        ));
        assert_eq!(hashes.read, 10);
        // 7 three times, the largest twice; nulls are no repeat, and two
        // hashes sharing a top byte are two hashes.
        assert_eq!(hashes.repeated(), [7, u64::MAX]);
    }

    #[test]
    fn the_sum_order_is_uid_then_hash_with_ties_in_arrival_order() {
        // Null uids first, null hashes first within a uid, and the two
        // rows of uid 3 with hash 5 (two ids, one hash) as they came.
        let uids = [
            Some(3),
            None,
            Some(1),
            Some(3),
            Some(3),
            None,
            Some(1),
            Some(3),
        ];
        let hashes = [
            Some(5),
            Some(9),
            Some(u64::MAX),
            None,
            Some(5),
            Some(2),
            Some(0),
            Some(1),
        ];
        let order = sum_order(uids.iter().copied(), hashes.iter().copied());
        assert_eq!(order, [5, 1, 6, 2, 3, 7, 0, 4]);
        assert_eq!(order, by_two_stable_sorts(&uids, &hashes));
    }

    #[test]
    fn the_sum_order_matches_two_stable_sorts_on_scrambled_rows() {
        let mut next = crate::scrambler(0x2545_f491_4f6c_dd1d);
        let uids: Vec<Option<u32>> = (0..5_000)
            .map(|_| match next() % 40 {
                0 => None,
                n => Some((n % 7) as u32 * 1_000),
            })
            .collect();
        let hashes: Vec<Option<u64>> = (0..5_000)
            .map(|_| match next() % 50 {
                0 => None,
                // Few distinct values, so hashes repeat within a uid.
                n if n < 10 => Some(n),
                _ => Some(next()),
            })
            .collect();
        assert_eq!(
            sum_order(uids.iter().copied(), hashes.iter().copied()),
            by_two_stable_sorts(&uids, &hashes)
        );
        assert!(sum_order(std::iter::empty(), std::iter::empty()).is_empty());
    }
}
