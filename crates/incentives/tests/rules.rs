//! Every scoring rule of docs/spec/incentives.md on a tiny hand-built dataset,
//! with the expectation worked out by hand next to it.

use audit_store::facts::{self, instance_audits as ia, invocations as inv, reports as rep};
use audit_store::{FactTable, GpuCount, Neuron};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use incentives::*;
use polars::prelude::*;

/// Evaluation time: 2025-02-10 12:30. Window from 2025-02-03 12:30.
fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 30, 0)
        .unwrap()
}

fn hours(h: f64) -> NaiveDateTime {
    t0() + TimeDelta::milliseconds((h * 3_600_000.0) as i64)
}

const LEGACY: &str = "561e4875-254d-588f-a36f-57c9cdef8961";

#[derive(Clone)]
struct Inv {
    id: &'static str,
    parent: &'static str,
    chute: &'static str,
    miner: &'static str,
    started: Option<NaiveDateTime>,
    completed: Option<NaiveDateTime>,
    error: Option<&'static str>,
    multiplier: f64,
    bounty: f64,
    p: Option<bool>,
    nc: Option<f64>,
    steps: Option<f64>,
    masps: Option<f64>,
    it: Option<f64>,
    ot: Option<f64>,
    maspt: Option<f64>,
    entry: NaiveDateTime,
}

/// A successful invocation of 10 seconds with no metrics, multiplier 1.
fn ok(id: &'static str, miner: &'static str) -> Inv {
    Inv {
        id,
        parent: id,
        chute: "chute-a",
        miner,
        started: Some(hours(-2.0)),
        completed: Some(hours(-2.0) + TimeDelta::seconds(10)),
        error: None,
        multiplier: 1.0,
        bounty: 0.0,
        p: None,
        nc: None,
        steps: None,
        masps: None,
        it: None,
        ot: None,
        maspt: None,
        entry: hours(-1.0),
    }
}

fn ts(values: Vec<Option<NaiveDateTime>>) -> Vec<Option<i64>> {
    values.into_iter().map(|v| v.map(micros)).collect()
}

fn conform(frame: DataFrame, table: FactTable, extra: &[&str]) -> LazyFrame {
    facts::conform(frame, table, extra).unwrap().lazy()
}

fn invocations(rows: &[Inv]) -> LazyFrame {
    let s = |f: fn(&Inv) -> &'static str| rows.iter().map(f).collect::<Vec<_>>();
    let f = |f: fn(&Inv) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    let frame = df!(
        inv::INVOCATION_ID => s(|r| r.id),
        inv::PARENT_INVOCATION_ID => s(|r| r.parent),
        inv::CHUTE_ID => s(|r| r.chute),
        inv::MINER_HOTKEY => s(|r| r.miner),
        inv::MINER_UID => rows.iter().map(|_| 1i32).collect::<Vec<_>>(),
        inv::STARTED_AT => ts(rows.iter().map(|r| r.started).collect()),
        inv::COMPLETED_AT => ts(rows.iter().map(|r| r.completed).collect()),
        inv::ERROR_MESSAGE => rows.iter().map(|r| r.error).collect::<Vec<_>>(),
        inv::COMPUTE_MULTIPLIER => rows.iter().map(|r| r.multiplier).collect::<Vec<_>>(),
        inv::BOUNTY => rows.iter().map(|r| r.bounty).collect::<Vec<_>>(),
        inv::PRIVATE => rows.iter().map(|r| r.p).collect::<Vec<_>>(),
        inv::NC => f(|r| r.nc),
        inv::STEPS => f(|r| r.steps),
        inv::MASPS => f(|r| r.masps),
        inv::IT => f(|r| r.it),
        inv::OT => f(|r| r.ot),
        inv::MASPT => f(|r| r.maspt),
        ENTRY_CREATED => rows.iter().map(|r| micros(r.entry)).collect::<Vec<_>>(),
    )
    .unwrap();
    // Timestamps were built as i64 micros; the schema wants Datetime.
    let frame = frame
        .lazy()
        .with_columns([
            col(inv::STARTED_AT).cast(facts::timestamp()),
            col(inv::COMPLETED_AT).cast(facts::timestamp()),
        ])
        .collect()
        .unwrap();
    conform(frame, FactTable::Invocations, &[ENTRY_CREATED])
}

fn reports(rows: &[(&'static str, Option<NaiveDateTime>)]) -> LazyFrame {
    let frame = df!(
        rep::INVOCATION_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        rep::CONFIRMED_AT => ts(rows.iter().map(|r| r.1).collect()),
    )
    .unwrap();
    let frame = frame
        .lazy()
        .with_column(col(rep::CONFIRMED_AT).cast(facts::timestamp()))
        .collect()
        .unwrap();
    conform(frame, FactTable::Reports, &[])
}

#[derive(Clone)]
struct Audit {
    instance: &'static str,
    chute: &'static str,
    miner: &'static str,
    activated: Option<NaiveDateTime>,
    deleted: Option<NaiveDateTime>,
    verified: Option<NaiveDateTime>,
    stop_billing: Option<NaiveDateTime>,
    billed_to: Option<&'static str>,
    reason: Option<&'static str>,
    multiplier: f64,
}

fn audit(instance: &'static str, chute: &'static str, miner: &'static str) -> Audit {
    Audit {
        instance,
        chute,
        miner,
        activated: Some(hours(-24.0 * 10.0)),
        deleted: None,
        verified: Some(hours(-24.0 * 10.0)),
        stop_billing: None,
        billed_to: None,
        reason: None,
        multiplier: 1.0,
    }
}

fn audits(rows: &[Audit]) -> LazyFrame {
    let frame = df!(
        ia::INSTANCE_ID => rows.iter().map(|r| r.instance).collect::<Vec<_>>(),
        ia::CHUTE_ID => rows.iter().map(|r| r.chute).collect::<Vec<_>>(),
        ia::MINER_HOTKEY => rows.iter().map(|r| r.miner).collect::<Vec<_>>(),
        ia::ACTIVATED_AT => ts(rows.iter().map(|r| r.activated).collect()),
        ia::DELETED_AT => ts(rows.iter().map(|r| r.deleted).collect()),
        ia::VERIFIED_AT => ts(rows.iter().map(|r| r.verified).collect()),
        ia::STOP_BILLING_AT => ts(rows.iter().map(|r| r.stop_billing).collect()),
        ia::BILLED_TO => rows.iter().map(|r| r.billed_to).collect::<Vec<_>>(),
        ia::DELETION_REASON => rows.iter().map(|r| r.reason).collect::<Vec<_>>(),
        ia::COMPUTE_MULTIPLIER => rows.iter().map(|r| r.multiplier).collect::<Vec<_>>(),
    )
    .unwrap();
    let timestamps = [
        ia::ACTIVATED_AT,
        ia::DELETED_AT,
        ia::VERIFIED_AT,
        ia::STOP_BILLING_AT,
    ];
    let frame = frame
        .lazy()
        .with_columns(timestamps.map(|c| col(c).cast(facts::timestamp())))
        .collect()
        .unwrap();
    conform(frame, FactTable::InstanceAudits, &[])
}

fn neuron(uid: u16, hotkey: &str, coldkey: &str, incentive: u16) -> Neuron {
    Neuron {
        uid,
        hotkey: hotkey.into(),
        coldkey: coldkey.into(),
        incentive,
        stake: 0.0,
        last_update: 0,
        validator_permit: false,
    }
}

fn metagraph() -> Vec<Neuron> {
    vec![
        neuron(1, "A", "cold-a", 100),
        neuron(2, "B", "cold-b", 100),
        neuron(3, "C", "cold-c", 0),
    ]
}

struct World {
    invocations: Vec<Inv>,
    reports: Vec<(&'static str, Option<NaiveDateTime>)>,
    audits: Vec<Audit>,
    metagraph: Vec<Neuron>,
    gpus: Vec<GpuCount>,
}

impl World {
    fn new(invocations: Vec<Inv>) -> World {
        World {
            invocations,
            reports: vec![],
            audits: vec![],
            metagraph: metagraph(),
            gpus: vec![],
        }
    }

    fn inputs(&self) -> ScoringInputs {
        ScoringInputs::from_frames(
            invocations(&self.invocations),
            reports(&self.reports),
            audits(&self.audits),
            self.metagraph.clone(),
            self.gpus.clone(),
        )
    }

    fn score(&self) -> Scores {
        score(&self.inputs(), t0(), &ScoringProfile::default()).unwrap()
    }
}

fn miner<'a>(scores: &'a Scores, hotkey: &str) -> &'a MinerScore {
    scores
        .miners
        .iter()
        .chain(&scores.zeroed)
        .find(|m| m.features.hotkey == hotkey)
        .unwrap_or_else(|| panic!("{hotkey} not scored"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn each_metrics_form_gives_its_compute_units() {
    let mut nc = ok("nc", "A");
    nc.nc = Some(2.5);
    nc.steps = Some(100.0); // nc wins over steps
    nc.masps = Some(1.0);
    let mut steps = ok("steps", "A");
    steps.steps = Some(20.0);
    steps.masps = Some(0.5);
    let mut tokens = ok("tokens", "A");
    tokens.it = Some(100.0);
    tokens.ot = Some(300.0);
    tokens.maspt = Some(0.01);
    let mut elapsed = ok("elapsed", "A");
    elapsed.multiplier = 2.0;
    // Zero nc and zero tokens fall through to the elapsed 10 s.
    let mut zero_nc = ok("zero-nc", "A");
    zero_nc.nc = Some(0.0);
    zero_nc.it = Some(0.0);
    zero_nc.ot = Some(5.0);
    zero_nc.maspt = Some(1.0);
    let scores = World::new(vec![nc, steps, tokens, elapsed, zero_nc]).score();
    let a = miner(&scores, "A");
    // 2.5 + 20*0.5 + (100+300)*0.01 + 2*10 + 10
    assert!(
        close(a.features.raw.compute_units, 2.5 + 10.0 + 4.0 + 20.0 + 10.0),
        "{}",
        a.features.raw.compute_units
    );
    assert_eq!(a.features.raw.invocation_count, 5.0);
}

#[test]
fn a_bounty_is_added_to_a_zero_base() {
    let mut failed = ok("failed", "A");
    failed.error = Some("boom");
    failed.bounty = 5.0;
    failed.nc = Some(100.0);
    let mut unfinished = ok("unfinished", "A");
    unfinished.completed = None;
    let mut private = ok("private", "A");
    private.p = Some(true);
    private.bounty = 3.0;
    private.nc = Some(7.0);
    let mut empty_error = ok("empty-error", "B");
    empty_error.error = Some("");
    let scores = World::new(vec![failed, unfinished, private, empty_error]).score();
    let a = miner(&scores, "A");
    // failed: 5 + 1*0; unfinished: 0; private: 3 + 1*0.
    assert!(close(a.features.raw.compute_units, 8.0));
    assert_eq!(a.features.raw.invocation_count, 0.0);
    // The failed one's bounty counts (success not required); the private one's does not.
    assert_eq!(a.features.raw.bounty_count, 1.0);
    // An empty error message is a success.
    assert_eq!(miner(&scores, "B").features.raw.invocation_count, 1.0);
}

#[test]
fn the_legacy_chute_is_always_public() {
    let mut legacy = ok("legacy", "A");
    legacy.chute = LEGACY;
    legacy.p = Some(true);
    legacy.nc = Some(4.0);
    let mut private = ok("private", "B");
    private.p = Some(true);
    private.nc = Some(4.0);
    let mut public = ok("public", "B");
    public.p = Some(false);
    public.nc = Some(1.0);
    let scores = World::new(vec![legacy, private, public]).score();
    let a = miner(&scores, "A");
    assert!(close(a.features.raw.compute_units, 4.0));
    assert_eq!(a.features.raw.invocation_count, 1.0);
    let b = miner(&scores, "B");
    assert!(close(b.features.raw.compute_units, 1.0));
    assert_eq!(b.features.raw.invocation_count, 1.0);
}

#[test]
fn a_duplicate_across_two_exports_counts_once() {
    // Started in one hour (exported without completed_at), completed in the next.
    let mut first = ok("straddle", "A");
    first.completed = None;
    first.entry = hours(-3.0);
    let mut second = ok("straddle", "A");
    second.nc = Some(6.0);
    second.entry = hours(-2.0);
    // Both completed: the newer entry's row wins (multiplier 3).
    let mut older = ok("twice", "B");
    older.nc = Some(1.0);
    older.entry = hours(-3.0);
    let mut newer = older.clone();
    newer.multiplier = 3.0;
    newer.entry = hours(-2.0);
    let scores = World::new(vec![second, first, newer, older]).score();
    assert_eq!(scores.invocations.rows, 4);
    assert_eq!(scores.invocations.duplicates_collapsed, 2);
    let a = miner(&scores, "A");
    assert!(close(a.features.raw.compute_units, 6.0));
    assert_eq!(a.features.raw.invocation_count, 1.0);
    assert!(close(miner(&scores, "B").features.raw.compute_units, 3.0));
}

#[test]
fn a_report_confirmed_in_a_later_export_excludes_every_retry() {
    let mut attempt1 = ok("child-1", "A");
    attempt1.parent = "parent-1";
    attempt1.error = Some("timeout");
    attempt1.bounty = 1.0;
    let mut attempt2 = ok("child-2", "B");
    attempt2.parent = "parent-1";
    let unconfirmed = ok("parent-2", "B");
    let mut world = World::new(vec![attempt1, attempt2, unconfirmed]);
    world.reports = vec![
        ("parent-1", None),              // filed in one hour...
        ("parent-1", Some(hours(-1.0))), // ...confirmed in the next
        ("parent-2", None),              // never confirmed
    ];
    let scores = world.score();
    assert_eq!(scores.invocations.excluded_by_reports, 2);
    assert!(scores
        .miners
        .iter()
        .chain(&scores.zeroed)
        .all(|m| m.features.hotkey != "A"));
    let b = miner(&scores, "B");
    assert_eq!(b.features.raw.invocation_count, 1.0);
    assert!(close(b.features.raw.compute_units, 10.0));
}

#[test]
fn miners_off_the_metagraph_are_dropped() {
    let scores = World::new(vec![ok("1", "A"), ok("2", "ghost")]).score();
    assert!(scores.miners.iter().all(|m| m.features.hotkey != "ghost"));
    assert_eq!(scores.miners.len(), 1);
    assert!(close(scores.miners[0].score, 1.0));
}

#[test]
fn unique_chutes_are_gpu_weighted_and_averaged_over_active_hours() {
    let mut world = World::new(vec![ok("1", "A"), ok("2", "B"), ok("3", "C")]);
    world.gpus = vec![
        GpuCount {
            chute_id: "big".into(),
            gpu_count: 8,
        },
        GpuCount {
            chute_id: "small".into(),
            gpu_count: 1,
        },
    ];
    let mut b_half = audit("b1", "unlisted", "B");
    b_half.activated = Some(hours(-24.0 * 3.0));
    let mut short = audit("c-short", "big", "C");
    short.activated = Some(hours(-5.0));
    short.deleted = Some(hours(-4.5)); // lived 30 minutes, not billed: never active
    let mut short_billed = audit("c-billed", "small", "C");
    short_billed.activated = Some(hours(-5.0));
    short_billed.deleted = Some(hours(-4.5));
    short_billed.billed_to = Some("user");
    world.audits = vec![
        audit("a1", "big", "A"),
        audit("a2", "small", "A"),
        audit("a3", "small", "A"), // a second instance of a chute adds nothing
        audit("ghost", "big", "nobody"), // no compute row: ignored
        b_half,
        short,
        short_billed,
    ];
    let scores = world.score();
    // A: 8 + 1 at every hour. B: a chute without a count is 1 GPU, averaged
    // only over its active hours. C: only the billed instance counts (the
    // other lived 30 minutes unbilled); it is alive 07:30-08:00, so active
    // at the one whole-hour time point 08:00.
    assert_eq!(miner(&scores, "A").features.raw.unique_chute_count, 9.0);
    assert_eq!(miner(&scores, "B").features.raw.unique_chute_count, 1.0);
    assert_eq!(miner(&scores, "C").features.raw.unique_chute_count, 1.0);
    assert_eq!(scores.unique_scale.highest_unique, 9.0);
    assert_eq!(scores.unique_scale.median, 1.0);
}

#[test]
fn private_instances_add_seconds_compute_and_instances() {
    let mut world = World::new(vec![ok("1", "A"), ok("2", "B")]);
    // Billed job, 2 hours inside the window, multiplier 2.
    let mut job = audit("job", "c", "A");
    job.activated = Some(hours(-3.0));
    job.stop_billing = Some(hours(-1.0));
    job.deleted = Some(hours(-0.5));
    job.billed_to = Some("user-1");
    job.reason = Some("job has been terminated due to insufficient user balance");
    job.multiplier = 2.0;
    // Started before the window: clipped to the window start; still alive
    // (no stop, no deletion) so it ends at T... but it needs a deletion
    // reason from the list to count; an old version does.
    let mut old = audit("old", "c", "A");
    old.activated = Some(hours(-24.0 * 8.0));
    old.billed_to = Some("user-2");
    old.reason = Some("instance abc has an old version");
    old.verified = Some(hours(-24.0 * 8.0));
    // An earlier record of the same instance names another miner; the one
    // with the latest verified_at wins.
    let mut old_earlier = old.clone();
    old_earlier.miner = "B";
    old_earlier.verified = Some(hours(-24.0 * 9.0));
    // Billing stopped before the window: ignored.
    let mut stale = audit("stale", "c", "B");
    stale.stop_billing = Some(hours(-24.0 * 7.5));
    stale.billed_to = Some("user-3");
    stale.reason = Some("user has zero/negative balance (private chute)");
    // Not a private reason: ignored.
    let mut other = audit("other", "c", "B");
    other.billed_to = Some("user-4");
    other.reason = Some("miner went away");
    world.audits = vec![job, old, old_earlier, stale, other];
    let scores = world.score();
    let a = miner(&scores, "A");
    let window = 7.0 * 24.0 * 3600.0;
    assert_eq!(a.features.raw.private_instances, 2);
    assert!(close(a.features.raw.private_seconds, 7200.0 + window));
    assert!(close(
        a.features.raw.private_compute_units,
        7200.0 * 2.0 + window
    ));
    // Added to the invocation features: floor(seconds), compute, instances.
    assert_eq!(a.features.raw.invocation_count, 1.0 + (7200.0 + window));
    assert!(close(a.features.raw.compute_units, 10.0 + 14400.0 + window));
    assert_eq!(a.features.raw.bounty_count, 2.0);
    assert_eq!(miner(&scores, "B").features.raw.private_instances, 0);
}

#[test]
fn the_coldkey_penalty_keeps_the_first_hotkey_and_breaks_ties_by_hotkey() {
    let mut world = World::new(vec![ok("1", "A"), ok("2", "B"), ok("3", "C")]);
    world.metagraph = vec![
        neuron(1, "A", "shared", 10),
        neuron(2, "B", "shared", 10),
        neuron(3, "C", "alone", 10),
    ];
    let scores = world.score();
    // Equal pre-scores of 1/3 each: A comes before B, so B is zeroed.
    assert!(miner(&scores, "B").penalised);
    assert_eq!(miner(&scores, "B").score, 0.0);
    assert!(close(miner(&scores, "A").score, 0.5));
    assert!(close(miner(&scores, "C").score, 0.5));
    assert_eq!(scores.miners.len(), 2);
    let total: f64 = scores.miners.iter().map(|m| m.score).sum();
    assert!(close(total, 1.0));
}

#[test]
fn zero_everything_does_not_divide_by_zero() {
    let mut failed = ok("1", "A");
    failed.error = Some("x");
    let scores = World::new(vec![failed]).score();
    assert!(scores.miners.is_empty());
    assert_eq!(scores.zeroed.len(), 1);
    assert_eq!(scores.zeroed[0].pre_score, 0.0);
}

#[test]
fn normalisation_weights_the_features() {
    // A: 3 invocations of 10 s; B: 1 of 10 s with a bounty of 2.
    let mut b = ok("b", "B");
    b.bounty = 2.0;
    let scores = World::new(vec![ok("a1", "A"), ok("a2", "A"), ok("a3", "A"), b]).score();
    let a = miner(&scores, "A");
    // compute: A 30, B 12 -> 30/42; invocations: 3/4; bounties: 0/1; unique: 0.
    let want = 0.52 * 30.0 / 42.0 + 0.20 * 0.75;
    assert!(close(a.pre_score, want), "{} vs {want}", a.pre_score);
    let b = miner(&scores, "B");
    let want_b = 0.52 * 12.0 / 42.0 + 0.20 * 0.25 + 0.08;
    assert!(close(b.pre_score, want_b));
    assert!(close(a.score, want / (want + want_b)));
}

#[test]
fn scores_are_identical_to_the_bit_whatever_the_row_order() {
    let mut rows = Vec::new();
    let miners = ["A", "B", "C"];
    let ids: Vec<&'static str> = (0..60)
        .map(|i| &*Box::leak(format!("inv-{i}").into_boxed_str()))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let mut r = ok(id, miners[i % 3]);
        r.nc = Some(0.1 + (i as f64) * 0.0137);
        r.multiplier = 1.0 + (i % 7) as f64 * 0.3;
        rows.push(r);
    }
    let forward = World::new(rows.clone()).score();
    rows.reverse();
    rows.swap(3, 40);
    let backward = World::new(rows).score();
    assert_eq!(forward, backward);
    for (f, b) in forward.miners.iter().zip(&backward.miners) {
        assert_eq!(f.score.to_bits(), b.score.to_bits());
        assert_eq!(
            f.features.raw.compute_units.to_bits(),
            b.features.raw.compute_units.to_bits()
        );
    }
}

#[test]
fn the_comparison_flags_large_deltas_and_lists_the_unmatched() {
    let scores = World::new(vec![ok("1", "A"), ok("2", "A"), ok("3", "C")]).score();
    // Chain: A and B paid equally, C unpaid.
    let cmp = compare(&scores.miners, &metagraph(), 0.03);
    let a = &cmp.matched[0];
    assert_eq!(a.hotkey, "A");
    assert!(close(a.actual, 0.5));
    assert!(a.flagged == (a.delta > 0.03));
    assert_eq!(
        cmp.computed_unpaid
            .iter()
            .map(|m| m.hotkey.as_str())
            .collect::<Vec<_>>(),
        ["C"]
    );
    assert_eq!(
        cmp.paid_not_computed
            .iter()
            .map(|m| m.hotkey.as_str())
            .collect::<Vec<_>>(),
        ["B"]
    );
    let sum: f64 = [
        a.delta,
        cmp.computed_unpaid[0].delta,
        cmp.paid_not_computed[0].delta,
    ]
    .iter()
    .sum();
    assert!(close(cmp.sum_abs_delta, sum));
    assert!(close(cmp.paid_not_computed[0].delta, 0.5));
}

#[test]
fn hostile_numbers_in_the_lake_add_nothing_and_are_counted() {
    // Frames built here bypass the ingest, which refuses these rows: the
    // scoring must not trust that every lake was written by it.
    let honest = vec![ok("a1", "A"), ok("a2", "A"), ok("b1", "B")];
    let clean = World::new(honest.clone()).score();

    let mut negative = ok("neg", "B");
    negative.multiplier = -1_000_000.0;
    let mut nan = ok("nan", "B");
    nan.multiplier = f64::NAN;
    let mut infinite = ok("inf", "B");
    infinite.nc = Some(f64::INFINITY);
    let mut bounty = ok("bounty", "B");
    bounty.bounty = -50.0;
    let mut backwards = ok("backwards", "B");
    backwards.completed = Some(hours(-3.0));
    let mut masps = ok("masps", "B");
    masps.steps = Some(10.0);
    masps.masps = Some(-1e6);
    let mut rows = honest;
    rows.extend([negative, nan, infinite, bounty, backwards, masps]);
    let hostile = World::new(rows).score();

    assert_eq!(hostile.invocations.implausible_rows, 6);
    for m in hostile.miners.iter().chain(&hostile.zeroed) {
        assert!(
            (0.0..=1.0).contains(&m.score),
            "{}: {}",
            m.features.hotkey,
            m.score
        );
        assert!(m.features.raw.compute_units >= 0.0);
    }
    for hotkey in ["A", "B"] {
        let (was, is) = (miner(&clean, hotkey), miner(&hostile, hotkey));
        assert!(
            close(was.score, is.score),
            "{hotkey}: {} then {}",
            was.score,
            is.score
        );
        assert!(close(
            was.features.raw.compute_units,
            is.features.raw.compute_units
        ));
    }
}

#[test]
fn a_negative_private_multiplier_bills_nothing() {
    let mut world = World::new(vec![ok("1", "A"), ok("2", "B")]);
    let mut job = audit("job", "c", "A");
    job.activated = Some(hours(-3.0));
    job.stop_billing = Some(hours(-1.0));
    job.billed_to = Some("user-1");
    job.reason = Some("job has been terminated due to insufficient user balance");
    job.multiplier = -1_000_000.0;
    world.audits = vec![job];
    let scores = world.score();
    let a = miner(&scores, "A");
    assert_eq!(a.features.raw.private_instances, 0);
    assert!(close(a.features.raw.compute_units, 10.0));
    for m in scores.miners.iter().chain(&scores.zeroed) {
        assert!((0.0..=1.0).contains(&m.score));
    }
}
