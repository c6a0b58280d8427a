//! Timestamps as the Chutes network writes them: ISO-8601 UTC with `T` or
//! a space, with or without a fraction, with no offset, `Z` or `+00:00`.
//! Everything is stored as naive UTC.

use chrono::{DateTime, NaiveDateTime};

/// Parses any of the network's timestamp forms into naive UTC. An explicit
/// non-zero offset is converted to UTC. `None` for anything else.
pub fn parse_utc(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if text.is_empty() {
        return None;
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

    use chrono::Timelike;
}
