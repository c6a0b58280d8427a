//! Hours the validator should have published and did not: the hour
//! arithmetic behind the coverage gaps that sync, status and the weights
//! output report. Pure: the caller queries which hours are covered.

use chrono::{DurationRound, NaiveDateTime, TimeDelta};

/// How long after an hour ends its report may take to be published before
/// the hour counts as missing (upstream publishes within seconds).
pub const PUBLISH_GRACE: TimeDelta = TimeDelta::minutes(15);

/// The hour-aligned ends of the hours in `[from, until]` whose report is
/// due (`end + PUBLISH_GRACE <= until`) and whose end is not among
/// `covered` (the `end_time`s of verified entries). Oldest first.
///
/// An hour belongs to the window when its report would be created in it:
/// `from <= end`, the same rule the sync window applies to `created_at`.
pub fn missing_hours(
    covered: impl IntoIterator<Item = NaiveDateTime>,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Vec<NaiveDateTime> {
    let hour = TimeDelta::hours(1);
    let covered: std::collections::BTreeSet<NaiveDateTime> = covered
        .into_iter()
        .filter_map(|t| t.duration_trunc(hour).ok())
        .collect();
    let Ok(mut end) = from.duration_trunc(hour) else {
        return Vec::new();
    };
    if end < from {
        end += hour;
    }
    let mut missing = Vec::new();
    while end
        .checked_add_signed(PUBLISH_GRACE)
        .is_some_and(|due| due <= until)
    {
        if !covered.contains(&end) {
            missing.push(end);
        }
        match end.checked_add_signed(hour) {
            Some(next) => end = next,
            None => break,
        }
    }
    missing
}

/// Hours (each an hour's start or end, ascending) as runs of consecutive
/// hours: `(first, last)` of each run. The one grouping behind every
/// gap span shown (the CLI's summaries, the report page).
pub fn hour_runs(hours: &[NaiveDateTime]) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    let mut runs: Vec<(NaiveDateTime, NaiveDateTime)> = Vec::new();
    for &h in hours {
        match runs.last_mut() {
            Some((_, last)) if h - *last == TimeDelta::hours(1) => *last = h,
            _ => runs.push((h, h)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2025, 2, 10)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    #[test]
    fn due_hours_without_a_verified_entry_are_missing() {
        // Window 02:30 .. 07:10: hours ending 03..=06 are due (07:00 is
        // within the grace), 04:00 and 06:00 are covered.
        let missing = missing_hours([t(4, 0), t(6, 0), t(1, 0)], t(2, 30), t(7, 10));
        assert_eq!(missing, vec![t(3, 0), t(5, 0)]);
        // Once the grace has passed, the last hour is due too.
        let missing = missing_hours([t(3, 0), t(4, 0), t(5, 0), t(6, 0)], t(2, 30), t(7, 15));
        assert_eq!(missing, vec![t(7, 0)]);
    }

    #[test]
    fn an_empty_or_inverted_window_has_no_gaps() {
        assert!(missing_hours([], t(5, 0), t(5, 10)).is_empty());
        assert!(missing_hours([], t(7, 0), t(5, 0)).is_empty());
        assert_eq!(missing_hours([], t(5, 0), t(6, 15)), vec![t(5, 0), t(6, 0)]);
    }
}
