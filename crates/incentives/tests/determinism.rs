//! The scores of a fixed lake, to the bit: pinned, so any change to the
//! rules, the sum order or the lake's schema that moves a score's last
//! bit fails here; and the same whether the lake was written by the
//! current version, is a version-1 lake read as it is, or was migrated.

use std::path::Path;

use audit_store::facts::{self, invocations as inv, reports as rep};
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use incentives::{micros, score, Scores, ScoringInputs, ScoringProfile};
use polars::prelude::*;

const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const MINERS: [&str; 5] = ["5MinerA", "5MinerB", "5MinerC", "5MinerD", "5MinerE"];
const ENTRIES: usize = 6;
const ROWS: usize = 400;

fn at() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
}

fn hour(h: usize) -> NaiveDateTime {
    at() - TimeDelta::hours((ENTRIES - h) as i64)
}

fn entry_id(h: usize) -> String {
    format!("0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c{h:03x}")
}

/// A small deterministic generator: the data must not change between runs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    fn float(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 53) as f64
    }
}

/// One hour's invocations and reports as version 1 wrote them (text ids,
/// no keys). Every tenth id repeats the previous hour's (an invocation
/// straddling the hour), a few ids are not UUIDs, and a few parents are
/// reported.
fn hour_facts(h: usize) -> (DataFrame, DataFrame) {
    let mut rng = Lcg(h as u64 + 1);
    let id = |h: usize, i: usize| {
        if i % 37 == 5 {
            format!("legacy-{h}-{i}")
        } else {
            format!("{:08x}-0000-4000-8000-{:012x}", h, i * 7919)
        }
    };
    let mut ids = Vec::with_capacity(ROWS);
    let (mut miners, mut nc, mut multiplier, mut started, mut completed) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut steps, mut masps, mut errors) = (vec![], vec![], vec![]);
    for i in 0..ROWS {
        let repeat = h > 0 && i % 10 == 0;
        ids.push(if repeat { id(h - 1, i + 1) } else { id(h, i) });
        miners.push(MINERS[(rng.next() % 5) as usize]);
        let image = rng.next() % 4 == 0;
        nc.push((!image).then(|| rng.float() * 40.0));
        steps.push(image.then(|| (rng.next() % 50) as f64));
        masps.push(image.then(|| rng.float()));
        multiplier.push(0.5 + rng.float() * 3.0);
        let start = micros(hour(h)) + (rng.next() % 3_000_000_000) as i64;
        started.push(start);
        // Some attempts never completed, some failed.
        completed.push((rng.next() % 13 != 0).then(|| start + (rng.next() % 90_000_000) as i64));
        errors.push((rng.next() % 17 == 0).then_some("boom"));
    }
    let frame = df!(
        inv::INVOCATION_ID => ids.clone(),
        inv::PARENT_INVOCATION_ID => ids.clone(),
        inv::MINER_HOTKEY => miners,
        inv::MINER_UID => vec![1i32; ROWS],
        inv::CHUTE_ID => (0..ROWS).map(|i| format!("chute-{}", i % 3)).collect::<Vec<_>>(),
        inv::NC => nc,
        inv::STEPS => steps,
        inv::MASPS => masps,
        inv::COMPUTE_MULTIPLIER => multiplier,
        inv::BOUNTY => (0..ROWS).map(|i| if i % 29 == 0 { 1.5 } else { 0.0 }).collect::<Vec<_>>(),
        inv::STARTED_AT => started,
        inv::COMPLETED_AT => completed,
        inv::ERROR_MESSAGE => errors,
    )
    .unwrap()
    .lazy()
    .with_columns([
        col(inv::STARTED_AT).cast(facts::timestamp()),
        col(inv::COMPLETED_AT).cast(facts::timestamp()),
    ])
    .collect()
    .unwrap();
    let reported: Vec<String> = (0..3).map(|k| ids[k * 50 + 3].clone()).collect();
    let reports = df!(
        rep::INVOCATION_ID => reported,
        rep::CONFIRMED_AT => [Some(micros(hour(h))), None, Some(micros(hour(h)))],
    )
    .unwrap()
    .lazy()
    .with_column(col(rep::CONFIRMED_AT).cast(facts::timestamp()))
    .collect()
    .unwrap();
    (
        facts::conform(frame, FactTable::Invocations, &[]).unwrap(),
        facts::conform(reports, FactTable::Reports, &[]).unwrap(),
    )
}

fn without_keys(frame: DataFrame, table: FactTable) -> DataFrame {
    frame.drop_many(facts::key_columns(table).iter().copied())
}

/// A store holding the hours' facts, as version 1 wrote them when `v1`.
async fn build(data_dir: &Path, v1: bool) -> Store {
    let store = Store::open(data_dir, None).await.unwrap();
    if v1 {
        std::fs::remove_file(store.lake().root().join("VERSION")).unwrap();
    }
    let catalog = store.catalog();
    for h in 0..ENTRIES {
        let entry = AuditEntry {
            entry_id: entry_id(h),
            hotkey: VALIDATOR.into(),
            block: 100 + h as u32,
            path: format!("audit/validator/{VALIDATOR}/{h}.json"),
            source: EntrySource::Validator,
            created_at: hour(h) + TimeDelta::minutes(50),
            start_time: hour(h),
            end_time: hour(h) + TimeDelta::hours(1),
        };
        catalog
            .record_listed(std::slice::from_ref(&entry), at())
            .await
            .unwrap();
        let (mut invocations, mut reports) = hour_facts(h);
        if v1 {
            invocations = without_keys(invocations, FactTable::Invocations);
            reports = without_keys(reports, FactTable::Reports);
        }
        let lake = store.lake();
        lake.write_facts(&entry.entry_id, FactTable::Invocations, &mut invocations)
            .unwrap();
        lake.write_facts(&entry.entry_id, FactTable::Reports, &mut reports)
            .unwrap();
        let loaded = LoadedEntry {
            report_sha256: "00".into(),
            unverifiable: false,
            instance_rows: 0,
            commitment_proven: None,
            exports: vec![],
        };
        catalog
            .mark_loaded(&entry.entry_id, &loaded, at())
            .await
            .unwrap();
    }
    let neurons = MINERS
        .iter()
        .enumerate()
        .map(|(uid, hotkey)| Neuron {
            uid: uid as u16 + 1,
            hotkey: (*hotkey).into(),
            coldkey: format!("5Cold{uid}"),
            incentive: 1000,
            stake: 0.0,
            last_update: 0,
            validator_permit: false,
        })
        .collect();
    let snapshot = MetagraphSnapshot {
        snapshot_id: 0,
        netuid: 64,
        block: 120,
        taken_at: at(),
        neurons,
    };
    catalog.record_metagraph(&snapshot).await.unwrap();
    store
}

async fn scores(store: &Store) -> Scores {
    let profile = ScoringProfile::default();
    let inputs = ScoringInputs::from_store(store, at(), &[VALIDATOR.into()], 64, &profile)
        .await
        .unwrap();
    score(&inputs, at(), &profile).unwrap()
}

/// Every figure of the scores as bits, one line per miner.
fn bits(scores: &Scores) -> String {
    let mut out = format!(
        "rows {} repeats {} excluded {}\n",
        scores.invocations.rows,
        scores.invocations.duplicates_collapsed,
        scores.invocations.excluded_by_reports
    );
    for m in scores.miners.iter().chain(&scores.zeroed) {
        let f = &m.features;
        out += &format!(
            "{} {:016x} {:016x} {:016x} {:016x}\n",
            f.hotkey,
            f.raw.invocation_count.to_bits(),
            f.raw.compute_units.to_bits(),
            f.raw.bounty_count.to_bits(),
            m.score.to_bits()
        );
    }
    out
}

/// The bits of the scores of this lake. Version 1 (text ids hashed at
/// every read) gave these same bits: its `auditctl weights --json` on the
/// version-1 lake this test builds printed exactly these figures. A change
/// here is a change of scores.
const PINNED: &str = "\
rows 2400 repeats 200 excluded 12
5MinerE 4077800000000000 40cda9460acf82a3 4033000000000000 3fcafc2e1397e954
5MinerB 4078a00000000000 40cbdd8187c002af 4033000000000000 3fca35945bfa8677
5MinerD 4079a00000000000 40cbedcfed4504f9 402a000000000000 3fc989f04282670c
5MinerC 4077700000000000 40cc7db9199e2976 4026000000000000 3fc8f945253c6b2d
5MinerA 4078300000000000 40c964595bc8db23 4031000000000000 3fc84b0828aebdff
";

#[tokio::test(flavor = "multi_thread")]
async fn the_scores_keep_their_bits_through_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let current = build(&dir.path().join("v2"), false).await;
    let want = bits(&scores(&current).await);
    assert_eq!(want, PINNED, "the scores changed:\n{want}");

    let old = build(&dir.path().join("v1"), true).await;
    assert_eq!(old.lake().schema_version().unwrap(), 1);
    assert_eq!(bits(&scores(&old).await), want, "an unmigrated lake");
    let migration = old.lake().migrate().unwrap();
    assert_eq!(migration.files_rewritten, 2 * ENTRIES as u64);
    assert_eq!(bits(&scores(&old).await), want, "a migrated lake");
}
