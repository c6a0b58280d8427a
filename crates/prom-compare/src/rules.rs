//! The compare-prom rules of docs/spec/incentives.md, pure: inputs and the
//! evaluation time in, values out. Reading the lake and the catalog is
//! elsewhere ([`crate::counts`], [`crate::run`]).

use chrono::{Duration, NaiveDateTime, Timelike};
use serde::Serialize;

/// Audit entries that started this many hours before the evaluation time
/// count.
pub const WINDOW_HOURS: i64 = 169;

/// Full coverage: 7 days minus one hour, in seconds.
pub const FULL_COVERAGE_SECONDS: u64 = 601_200;

/// The hour slots a miner is expected to cover: the 167 whole hours before
/// the one still being published (two hours of the window are slack).
pub const EXPECTED_HOURS: i64 = 167;

/// Agreement ratios below this are flagged unless configured otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.9;

/// The time span of one audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySpan {
    /// The entry's `start_time`.
    pub start: NaiveDateTime,
    /// The entry's `end_time`.
    pub end: NaiveDateTime,
}

/// A miner's audit coverage over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The sum of its entries' lengths, in whole seconds.
    pub seconds: u64,
    /// `seconds` reaches [`FULL_COVERAGE_SECONDS`].
    pub full: bool,
    /// The expected hour slots (their starts) no entry covers, oldest
    /// first: where the coverage is missing, not only how much.
    pub missing_hours: Vec<NaiveDateTime>,
}

/// What the comparison concludes about one miner or one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The counts agree within the threshold.
    Agrees,
    /// The ratio is below the threshold.
    Flagged,
    /// One side is missing: no self-reported metrics, or no validator
    /// count to set them against.
    NoMetrics,
}

impl Verdict {
    /// How tables print it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Agrees => "ok",
            Verdict::Flagged => "flagged",
            Verdict::NoMetrics => "no reported metrics",
        }
    }
}

/// The validator's count set against the miner's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Agreement {
    /// Successful invocations in the validator's exports.
    pub validator_count: Option<u64>,
    /// The sum of the miner's reported `total_count`.
    pub reported_count: Option<u64>,
    /// min / max of the two; 1 when both are zero.
    pub ratio: Option<f64>,
    /// The conclusion at the threshold.
    pub verdict: Verdict,
}

/// The first instant of the window: entries starting at or after it count.
pub fn window_start(at: NaiveDateTime) -> NaiveDateTime {
    at - Duration::hours(WINDOW_HOURS)
}

/// `t` truncated to its hour.
pub fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(t)
}

/// The starts of the [`EXPECTED_HOURS`] slots a miner should cover at
/// `at`, oldest first: the whole hours before the hour just ended (that
/// one may still be being published).
pub fn expected_hours(at: NaiveDateTime) -> Vec<NaiveDateTime> {
    let last = hour_of(at) - Duration::hours(2);
    (0..EXPECTED_HOURS)
        .rev()
        .map(|k| last - Duration::hours(k))
        .collect()
}

/// Whether an entry counts at `at`: it started within the window.
pub fn in_window(start: NaiveDateTime, at: NaiveDateTime) -> bool {
    start >= window_start(at) && start <= at
}

/// A miner's coverage at `at` from the spans of its own audit entries.
///
/// Seconds are summed as the spec says (an entry whose end precedes its
/// start counts 0). The missing hours are the expected slots not wholly
/// covered by the union of the entries, so a duplicated entry cannot hide
/// a missing one.
pub fn coverage(entries: &[EntrySpan], at: NaiveDateTime) -> Coverage {
    let counted: Vec<&EntrySpan> = entries.iter().filter(|e| in_window(e.start, at)).collect();
    let seconds = counted
        .iter()
        .map(|e| u64::try_from((e.end - e.start).num_seconds()).unwrap_or(0))
        .fold(0u64, u64::saturating_add);
    let missing_hours = expected_hours(at)
        .into_iter()
        .filter(|&slot| !covered(&counted, slot, slot + Duration::hours(1)))
        .collect();
    Coverage {
        seconds,
        full: seconds >= FULL_COVERAGE_SECONDS,
        missing_hours,
    }
}

/// Whether the union of `spans` covers `[from, until)`.
fn covered(spans: &[&EntrySpan], from: NaiveDateTime, until: NaiveDateTime) -> bool {
    let mut reached = from;
    loop {
        let next = spans
            .iter()
            .filter(|s| s.start <= reached && s.end > reached)
            .map(|s| s.end)
            .max();
        match next {
            Some(end) if end >= until => return true,
            Some(end) => reached = end,
            None => return false,
        }
    }
}

/// Sets the validator's count against the miner's reported count
/// (either may be absent) at `threshold`.
pub fn agreement(validator: Option<u64>, reported: Option<u64>, threshold: f64) -> Agreement {
    let ratio = match (validator, reported) {
        (Some(0), Some(0)) => Some(1.0),
        (Some(v), Some(r)) => Some(v.min(r) as f64 / v.max(r) as f64),
        _ => None,
    };
    let verdict = match ratio {
        None => Verdict::NoMetrics,
        Some(r) if r < threshold => Verdict::Flagged,
        Some(_) => Verdict::Agrees,
    };
    Agreement {
        validator_count: validator,
        reported_count: reported,
        ratio,
        verdict,
    }
}

/// How one hour of one miner reads in `--explain` and in live mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HourStatus {
    /// The counts agree within the threshold.
    Agrees,
    /// They differ: a disagreement to look into.
    Differs,
    /// They differ, but the miner's Prometheus restarted (a counter went
    /// down, or the report says it did not run the whole hour): lost
    /// counts are expected.
    ExpectedGap,
    /// The validator exported the hour; the miner reported nothing for it.
    NoReport,
    /// No validator export covers the hour.
    NotExported,
}

impl HourStatus {
    /// How tables print it.
    pub fn label(self) -> &'static str {
        match self {
            HourStatus::Agrees => "ok",
            HourStatus::Differs => "differs",
            HourStatus::ExpectedGap => "expected gap (Prometheus restart)",
            HourStatus::NoReport => "no report",
            HourStatus::NotExported => "not exported",
        }
    }
}

/// The status of one hour: `validator` is `None` when no validator entry
/// covers it, `reported` when the miner reported nothing for it.
pub fn hour_status(
    validator: Option<u64>,
    reported: Option<u64>,
    restarted: bool,
    threshold: f64,
) -> HourStatus {
    if validator.is_none() {
        return HourStatus::NotExported;
    }
    if reported.is_none() {
        return if restarted {
            HourStatus::ExpectedGap
        } else {
            HourStatus::NoReport
        };
    }
    match agreement(validator, reported, threshold).verdict {
        Verdict::Agrees => HourStatus::Agrees,
        _ if restarted => HourStatus::ExpectedGap,
        _ => HourStatus::Differs,
    }
}

/// Checks a threshold: a ratio bound in (0, 1].
pub fn check_threshold(threshold: f64) -> Result<f64, crate::PromCompareError> {
    if threshold.is_finite() && threshold > 0.0 && threshold <= 1.0 {
        Ok(threshold)
    } else {
        Err(crate::PromCompareError::Threshold(threshold))
    }
}
