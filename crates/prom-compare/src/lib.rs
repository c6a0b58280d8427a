//! compare-prom: what miners report from their own Prometheus, set against
//! what the validator exported, and whether each miner's audit coverage is
//! complete (docs/spec/incentives.md, "Agreement with miner self-reports").
//!
//! - [`rules`] holds the rules, pure: [`coverage`] and [`agreement`] take
//!   their inputs and the evaluation time and return values.
//! - [`Counts`] computes the counts in polars from the lake: successful
//!   invocations per (miner, chute, hour) from the validator's exports,
//!   reported counts per (miner, chute, hour) from the self-reports.
//! - [`compare`] runs the whole comparison for an evaluation time, with an
//!   optional per-chute and per-hour breakdown of one miner, and records
//!   it in the catalog.
//! - [`compare_live`] is the miners' mode: their own Prometheus, queried
//!   over its HTTP API, against the validator's exports hour by hour.
//!
//! # Example
//!
//! The rules, pure: a miner's counts against the validator's, and its
//! coverage from the spans of its own entries. [`compare`] applies them to
//! every miner in the lake.
//!
//! ```
//! use chrono::Duration;
//! use prom_compare::rules::{agreement, coverage, expected_hours, EntrySpan, Verdict};
//!
//! let at = audit_store::time::parse_utc("2025-02-10T12:00:00Z").unwrap();
//! // 90 of the validator's 100 invocations reported agrees at 0.9; 50 does not.
//! assert_eq!(agreement(Some(100), Some(90), 0.9).verdict, Verdict::Agrees);
//! assert_eq!(agreement(Some(100), Some(50), 0.9).verdict, Verdict::Flagged);
//! assert_eq!(agreement(Some(100), None, 0.9).verdict, Verdict::NoMetrics);
//!
//! // Self-reports for every expected hour but one.
//! let hours = expected_hours(at);
//! let gap = hours[100];
//! let spans: Vec<EntrySpan> = hours
//!     .iter()
//!     .filter(|&&start| start != gap)
//!     .map(|&start| EntrySpan { start, end: start + Duration::hours(1) })
//!     .collect();
//! assert_eq!(coverage(&spans, at).missing_hours, [gap]);
//! ```

#![warn(missing_docs)]

mod counts;
mod live;
pub mod rules;
mod run;

use chrono::NaiveDateTime;

pub use counts::{Counts, EntryRef, HourCounts, MinerTotals};
pub use live::{compare_live, hourly_increases, HourIncrease, LiveComparison, LiveOptions, Series};
pub use rules::{
    agreement, coverage, hour_status, Agreement, Coverage, EntrySpan, HourStatus, Verdict,
    DEFAULT_THRESHOLD, FULL_COVERAGE_SECONDS, WINDOW_HOURS,
};
pub use run::{
    assess, compare, summarise, ChuteLine, CompareOptions, Comparison, Explanation, HourLine,
    MinerResult, Summary,
};

/// Every way a comparison can fail; each names its input and the remedy.
#[derive(Debug, thiserror::Error)]
pub enum PromCompareError {
    /// The configured agreement threshold is not a ratio.
    #[error("agreement threshold {0} is not a ratio in (0, 1]; use e.g. 0.9")]
    Threshold(f64),
    /// Reading the catalog or the lake failed.
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    /// The polars computation over the lake failed.
    #[error("computing {what} from the lake failed: {source}; a sync reloads damaged entries")]
    Facts {
        /// Which counts were being computed.
        what: &'static str,
        /// What polars said.
        #[source]
        source: polars::prelude::PolarsError,
    },
    /// `--explain` or live mode named a miner the exports do not know.
    #[error("miner {hotkey} has no invocation in the validator's exports of the {} hours before {at}; check the hotkey, or sync first", rules::WINDOW_HOURS)]
    UnknownMiner {
        /// The hotkey asked for.
        hotkey: String,
        /// The evaluation time.
        at: NaiveDateTime,
    },
    /// The blocking computation panicked or was cancelled.
    #[error("the comparison task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The Prometheus URL cannot take the API path.
    #[error("bad Prometheus URL {url}: {source}")]
    Url {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// Prometheus could not be reached or the answer not read.
    #[error("querying Prometheus at {url} failed: {source}; check --prometheus-url and that Prometheus is up")]
    Http {
        /// The query URL (without parameters).
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Prometheus answered with a redirect off the configured origin
    /// (another host, port or scheme): not followed, since the answer
    /// would not be this Prometheus's.
    #[error("Prometheus at {url} redirected off its origin: {message}")]
    Redirected {
        /// The query URL.
        url: String,
        /// Where to, and why it was not followed.
        message: String,
    },
    /// Prometheus answered, with an error.
    #[error("Prometheus at {url} refused the query (HTTP {status}): {message}")]
    Refused {
        /// The query URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Prometheus's `errorType: error`, or the start of the body.
        message: String,
    },
    /// Prometheus's answer is not a range query result.
    #[error("Prometheus at {url} sent an answer that is not a query_range result: {source}")]
    Answer {
        /// The query URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// Prometheus's answer is larger than any week of counters.
    #[error("Prometheus at {url} sent more than {limit} bytes for one day of counters")]
    TooLarge {
        /// The query URL.
        url: String,
        /// The cap.
        limit: usize,
    },
}

fn facts(what: &'static str) -> impl FnOnce(polars::prelude::PolarsError) -> PromCompareError {
    move |source| PromCompareError::Facts { what, source }
}
