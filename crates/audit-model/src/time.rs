//! Timestamps as the Chutes network writes them: ISO-8601 UTC with `T` or
//! a space, with or without a fraction, with no offset, `Z` or `+00:00`.
//! Everything is stored as naive UTC.

use chrono::{DateTime, NaiveDateTime, TimeDelta};

/// How far past this machine's clock an evaluation time may lie: clocks
/// that disagree by more than minutes are wrong, not skewed.
pub const CLOCK_SKEW_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// An evaluation time in the future: a window ending there holds no data
/// yet, so pruning would empty the lake and a weight vector would score
/// hours that have not happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the evaluation time {at} UTC lies in the future (now is {now} UTC; \
     at most {} minutes ahead are taken for clock skew)",
    CLOCK_SKEW_TOLERANCE.num_minutes()
)]
pub struct FutureTime {
    /// The time asked for.
    pub at: NaiveDateTime,
    /// This machine's time when it was checked.
    pub now: NaiveDateTime,
}

/// Refuses an evaluation time more than [`CLOCK_SKEW_TOLERANCE`] after
/// `now`, for every step that prunes or sends by it.
pub fn check_not_future(at: NaiveDateTime, now: NaiveDateTime) -> Result<(), FutureTime> {
    match now.checked_add_signed(CLOCK_SKEW_TOLERANCE) {
        Some(latest) if at > latest => Err(FutureTime { at, now }),
        _ => Ok(()),
    }
}

/// The start of the window of `days` days that ends at `at`, saturating
/// at the earliest time rather than overflowing on a hostile `--at`. The
/// one rule every window uses: the sync's, the scores', the coverage's,
/// the report's.
pub fn window_start(at: NaiveDateTime, days: u32) -> NaiveDateTime {
    TimeDelta::try_days(i64::from(days))
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(NaiveDateTime::MIN)
}

/// Parses any of the network's timestamp forms into naive UTC. An explicit
/// non-zero offset is converted to UTC. `None` for anything else.
pub fn parse_utc(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // Exports hold two of these per row, ten million rows a week: the
    // exact layout they use, bare or marked UTC, is read by hand,
    // anything else by chrono.
    if let Some(naive) = parse_plain(text.as_bytes()) {
        return Some(naive);
    }
    // The same layout marked UTC, as a timezone-aware column is written
    // (`+00:00`, or `Z`): read by hand too, not by three chrono attempts
    // and two allocations.
    if let Some(plain) = text
        .strip_suffix("+00:00")
        .or_else(|| text.strip_suffix('Z'))
    {
        if let Some(naive) = parse_plain(plain.as_bytes()) {
            return Some(naive);
        }
    }
    let normalised = text.replacen(' ', "T", 1);
    if let Ok(naive) = NaiveDateTime::parse_from_str(&normalised, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(naive);
    }
    let with_offset = if let Some(stripped) = normalised.strip_suffix('Z') {
        format!("{stripped}+00:00")
    } else {
        normalised
    };
    DateTime::parse_from_str(&with_offset, "%Y-%m-%dT%H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_str(&with_offset, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.naive_utc())
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f]` with exactly these widths, no offset,
/// and 1 to 9 fraction digits: the form exports use. `None` for anything
/// else (including a leap second), which [`parse_utc`] then leaves to
/// chrono, so both paths agree wherever this one answers.
fn parse_plain(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20..b.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    if second > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    date.and_hms_nano_opt(hour, minute, second, nanos)
}

#[cfg(test)]
mod future_tests {
    use super::*;

    #[test]
    fn a_time_past_the_skew_tolerance_is_refused_and_one_within_it_is_not() {
        let now = parse_utc("2026-12-06T03:00:00").unwrap();
        assert!(check_not_future(now, now).is_ok());
        assert!(check_not_future(parse_utc("2026-12-06T03:04:59").unwrap(), now).is_ok());
        assert!(check_not_future(parse_utc("2020-01-01T00:00:00").unwrap(), now).is_ok());
        let year_on = parse_utc("2027-12-06T03:00:00").unwrap();
        let refused = check_not_future(year_on, now).unwrap_err();
        assert!(
            refused.to_string().contains("lies in the future"),
            "{refused}"
        );
        assert!(check_not_future(NaiveDateTime::MAX, NaiveDateTime::MAX).is_ok());
        assert!(check_not_future(NaiveDateTime::MAX, now).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn every_form_of_the_network_parses_to_the_same_instant() {
        let want = NaiveDate::from_ymd_opt(2025, 2, 10)
            .unwrap()
            .and_hms_micro_opt(15, 51, 19, 216_856)
            .unwrap();
        for text in [
            "2025-02-10T15:51:19.216856",
            "2025-02-10 15:51:19.216856",
            "2025-02-10T15:51:19.216856Z",
            "2025-02-10T15:51:19.216856+00:00",
            "2025-02-10 15:51:19.216856+00:00",
            "2025-02-10T17:51:19.216856+02:00",
            " 2025-02-10T15:51:19.216856 ",
        ] {
            assert_eq!(parse_utc(text), Some(want), "{text}");
        }
        let whole = want.with_nanosecond(0).unwrap();
        assert_eq!(parse_utc("2025-02-10T15:51:19"), Some(whole));
        assert_eq!(parse_utc("2025-02-10 15:51:19+00:00"), Some(whole));
        for bad in ["", "yesterday", "2025-02-30T00:00:00", "2025-02-10"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    /// The hand-read layout gives what chrono gives, on the forms it
    /// takes and on near misses it must leave to chrono.
    #[test]
    fn the_fast_path_agrees_with_chrono() {
        let chrono_only = |text: &str| {
            NaiveDateTime::parse_from_str(&text.replacen(' ', "T", 1), "%Y-%m-%dT%H:%M:%S%.f").ok()
        };
        for text in [
            "2025-02-10 15:51:19.216856",
            "2025-02-10T15:51:19.216856",
            "2025-02-10 15:51:19",
            "2025-02-10 15:51:19.2",
            "2025-02-10 15:51:19.123456789",
            "2024-02-29 23:59:59.999999",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.000001",
        ] {
            let fast = parse_plain(text.as_bytes());
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, chrono_only(text), "{text}");
        }
        for text in [
            "2025-02-30 00:00:00",
            "2025-13-01 00:00:00",
            "2025-02-10 24:00:00",
            "2025-02-10 23:60:00",
            "2025-02-10 23:59:60",
            "2025-02-10 15:51:19.",
            "2025-02-10 15:51:19.1234567890",
            "2025-02-10 15:51:19Z",
            "2025-02-10 15:51:19+00:00",
            "2025-2-10 15:51:19",
            "2025-02-10 15:51:1x",
            "+2025-02-10 15:51:19",
            "2025-02-10_15:51:19",
            "2025-02-10 15:51:19.12a",
        ] {
            assert_eq!(parse_plain(text.as_bytes()), None, "{text}");
        }
        // Marked UTC, the same layouts give what chrono's offset parser
        // gives; another offset, or a mark twice, is left to chrono.
        let chrono_utc = |text: &str| {
            let text = text.replacen(' ', "T", 1);
            chrono::DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f%:z")
                .ok()
                .map(|t| t.naive_utc())
        };
        for text in [
            "2025-02-10 15:51:19.216856",
            "2025-02-10T15:51:19",
            "2025-02-10 15:51:19.123456789",
            "2024-02-29 23:59:59.999999",
            "0001-01-01 00:00:00",
        ] {
            let utc = chrono_utc(&format!("{text}+00:00"));
            assert!(utc.is_some(), "{text}");
            assert_eq!(parse_utc(&format!("{text}+00:00")), utc, "{text}");
            assert_eq!(parse_utc(&format!("{text}Z")), utc, "{text}");
        }
        assert_eq!(
            parse_utc("2025-02-10 15:51:19+01:00"),
            chrono_utc("2025-02-10 15:51:19+01:00")
        );
        // A leap second is chrono's to judge, marked or not.
        assert_eq!(
            parse_utc("2025-02-10 23:59:60Z"),
            chrono_utc("2025-02-10 23:59:60+00:00")
        );
        for bad in [
            "2025-02-10 15:51:19+00:00Z",
            "2025-02-10 15:51:19ZZ",
            "2025-02-10 15:51:19+00:00+00:00",
            "2025-02-30 00:00:00+00:00",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
        // What the fast path leaves alone still parses as before.
        assert!(parse_utc("2025-02-10 15:51:19.1234567890").is_some());
        assert!(parse_utc("2025-2-10 15:51:19").is_some());
    }

    use chrono::Timelike;
}
