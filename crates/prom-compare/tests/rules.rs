//! The compare-prom rules on hand-built inputs, with the expectation worked
//! out by hand next to each.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use prom_compare::rules::{expected_hours, EXPECTED_HOURS};
use prom_compare::*;

/// Evaluation time: 2025-02-10 12:30. The window holds entries that
/// started from 2025-02-03 11:30; the expected slots run from 2025-02-03
/// 12:00 to the one starting 2025-02-10 10:00 (11:00–12:00 may still be
/// being published).
fn at() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 30, 0)
        .unwrap()
}

fn hour(h: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        + TimeDelta::hours(h)
}

/// One hourly entry starting `h` hours from 2025-02-10 12:00.
fn entry(h: i64) -> EntrySpan {
    EntrySpan {
        start: hour(h),
        end: hour(h + 1),
    }
}

/// Hourly entries for every hour from 168 before 12:00 to the one ending
/// at 12:00: the whole window a faithful miner publishes by 12:30.
fn week() -> Vec<EntrySpan> {
    (-169..0).map(entry).collect()
}

#[test]
fn the_expected_slots_are_167_whole_hours_before_the_last_one() {
    let slots = expected_hours(at());
    assert_eq!(slots.len() as i64, EXPECTED_HOURS);
    assert_eq!(slots[0], hour(-168)); // 2025-02-03 12:00
    assert_eq!(*slots.last().unwrap(), hour(-2)); // 2025-02-10 10:00
}

#[test]
fn a_full_week_is_full_coverage_with_nothing_missing() {
    let c = coverage(&week(), at());
    // 169 entries, but the one starting at 11:00 on 02-03 is before the
    // window (11:30): 168 hours.
    assert_eq!(c.seconds, 168 * 3600);
    assert!(c.full);
    assert!(c.missing_hours.is_empty());
}

#[test]
fn removed_hours_are_named_and_the_total_drops() {
    let entries: Vec<EntrySpan> = week()
        .into_iter()
        .filter(|e| e.start != hour(-100) && e.start != hour(-5))
        .collect();
    let c = coverage(&entries, at());
    assert_eq!(c.seconds, 166 * 3600); // 597,600 < 601,200
    assert!(!c.full);
    assert_eq!(c.missing_hours, vec![hour(-100), hour(-5)]);

    // One hour missing is still full (601,200 s: upstream's tolerance),
    // but the hour is still named.
    let one: Vec<EntrySpan> = week().into_iter().filter(|e| e.start != hour(-5)).collect();
    let c = coverage(&one, at());
    assert_eq!(c.seconds, FULL_COVERAGE_SECONDS);
    assert!(c.full);
    assert_eq!(c.missing_hours, vec![hour(-5)]);
}

#[test]
fn a_duplicated_entry_adds_seconds_but_cannot_hide_a_missing_hour() {
    let mut entries: Vec<EntrySpan> = week().into_iter().filter(|e| e.start != hour(-7)).collect();
    entries.push(entry(-8));
    let c = coverage(&entries, at());
    // The spec's sum counts the duplicate: 168 hours again.
    assert_eq!(c.seconds, 168 * 3600);
    assert_eq!(c.missing_hours, vec![hour(-7)]);
}

#[test]
fn a_slot_covered_by_two_half_hours_is_covered_and_a_backwards_entry_counts_zero() {
    let mut entries: Vec<EntrySpan> = week().into_iter().filter(|e| e.start != hour(-3)).collect();
    entries.push(EntrySpan {
        start: hour(-3),
        end: hour(-3) + TimeDelta::minutes(30),
    });
    entries.push(EntrySpan {
        start: hour(-3) + TimeDelta::minutes(30),
        end: hour(-2),
    });
    entries.push(EntrySpan {
        start: hour(-4),
        end: hour(-6),
    });
    let c = coverage(&entries, at());
    assert_eq!(c.seconds, 168 * 3600);
    assert!(c.missing_hours.is_empty());
}

#[test]
fn no_entries_miss_every_slot() {
    let c = coverage(&[], at());
    assert_eq!(c.seconds, 0);
    assert!(!c.full);
    assert_eq!(c.missing_hours.len() as i64, rules::EXPECTED_HOURS);
}

#[test]
fn agreement_is_min_over_max_flagged_below_the_threshold() {
    // 900 / 1000 = 0.9: not below 0.9.
    let a = agreement(Some(1000), Some(900), 0.9);
    assert_eq!(a.ratio, Some(0.9));
    assert_eq!(a.verdict, Verdict::Agrees);
    // 899 / 1000 = 0.899 < 0.9.
    assert_eq!(
        agreement(Some(1000), Some(899), 0.9).verdict,
        Verdict::Flagged
    );
    // Over-reporting is as bad as under-reporting: 1000 / 1200 = 0.833.
    let a = agreement(Some(1000), Some(1200), 0.9);
    assert!((a.ratio.unwrap() - 1000.0 / 1200.0).abs() < 1e-12);
    assert_eq!(a.verdict, Verdict::Flagged);
    // A stricter threshold flags what 0.9 let through.
    assert_eq!(
        agreement(Some(1000), Some(930), 0.95).verdict,
        Verdict::Flagged
    );
}

#[test]
fn either_side_missing_is_no_reported_metrics() {
    for (v, r) in [(Some(10), None), (None, Some(10)), (None, None)] {
        let a = agreement(v, r, 0.9);
        assert_eq!(a.verdict, Verdict::NoMetrics, "{v:?} {r:?}");
        assert_eq!(a.ratio, None);
    }
    // Reporting zero is reporting: 0 / 10 is flagged, 0 / 0 agrees.
    assert_eq!(agreement(Some(10), Some(0), 0.9).verdict, Verdict::Flagged);
    assert_eq!(agreement(Some(0), Some(0), 0.9).ratio, Some(1.0));
}

#[test]
fn a_restart_turns_a_differing_hour_into_an_expected_gap() {
    assert_eq!(
        hour_status(Some(100), Some(95), false, 0.9),
        HourStatus::Agrees
    );
    assert_eq!(
        hour_status(Some(100), Some(50), false, 0.9),
        HourStatus::Differs
    );
    assert_eq!(
        hour_status(Some(100), Some(50), true, 0.9),
        HourStatus::ExpectedGap
    );
    // A restart does not hide an hour that agrees anyway.
    assert_eq!(
        hour_status(Some(100), Some(95), true, 0.9),
        HourStatus::Agrees
    );
    assert_eq!(
        hour_status(Some(100), None, false, 0.9),
        HourStatus::NoReport
    );
    assert_eq!(
        hour_status(None, Some(5), false, 0.9),
        HourStatus::NotExported
    );
}

#[test]
fn miners_are_listed_worst_first_with_no_metrics_last() {
    let totals = [
        MinerTotals {
            hotkey: "5Good".into(),
            validator_count: 100,
            reported_count: Some(97),
        },
        MinerTotals {
            hotkey: "5Silent".into(),
            validator_count: 100,
            reported_count: None,
        },
        MinerTotals {
            hotkey: "5Low".into(),
            validator_count: 100,
            reported_count: Some(60),
        },
        MinerTotals {
            hotkey: "5Mid".into(),
            validator_count: 100,
            reported_count: Some(85),
        },
    ];
    let spans = BTreeMap::from([("5Good".to_string(), week())]);
    let miners = assess(&totals, &spans, at(), 0.9);
    let order: Vec<&str> = miners.iter().map(|m| m.hotkey.as_str()).collect();
    assert_eq!(order, ["5Low", "5Mid", "5Good", "5Silent"]);
    assert!(miners[2].coverage.full);
    assert_eq!(miners[0].coverage.seconds, 0);
    let s = summarise(&miners);
    assert_eq!(
        (s.miners, s.full_coverage, s.flagged, s.no_metrics),
        (4, 1, 2, 1)
    );
}

#[test]
fn counters_that_go_down_are_restarts_and_count_from_zero() {
    let h = 1_739_188_800; // 2025-02-10 12:00 UTC, an hour boundary
    let series = vec![
        Series {
            labels: BTreeMap::new(),
            // +10, +5, then a restart to 3 (+3), then +4 into the next hour.
            samples: vec![
                (h, 100.0),
                (h + 60, 110.0),
                (h + 120, 115.0),
                (h + 180, 3.0),
            ],
        },
        Series {
            labels: BTreeMap::new(),
            samples: vec![(h + 3540, 7.0), (h + 3600, 11.0), (h + 3660, 12.0)],
        },
    ];
    let inc = hourly_increases(&series);
    assert_eq!(
        inc[&h],
        HourIncrease {
            count: 18.0 + 4.0,
            restarted: true
        }
    );
    assert_eq!(
        inc[&(h + 3600)],
        HourIncrease {
            count: 1.0,
            restarted: false
        }
    );
}

#[test]
fn a_threshold_must_be_a_ratio() {
    for bad in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        assert!(rules::check_threshold(bad).is_err(), "{bad}");
    }
    assert_eq!(rules::check_threshold(1.0).unwrap(), 1.0);
}
