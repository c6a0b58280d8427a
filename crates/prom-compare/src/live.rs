//! Live mode, for miners: their own Prometheus, queried over its HTTP API
//! (`/api/v1/query_range` over `invocation_total{status="200"}` by chute
//! and function), against the validator's exports for their hotkey, hour
//! by hour.
//!
//! The raw counter is queried, not `increase()`: a counter that goes down
//! is a Prometheus restart, and the hour it happens in is an expected gap.
//! Increases are summed the way Prometheus does across a reset (the value
//! after a drop counts from zero).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use audit_store::Store;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::counts::Counts;
use crate::rules::{self, Agreement, HourStatus};
use crate::run::{refs, window_entries, HourLine};
use crate::PromCompareError;

/// The query: successful invocations, by chute and function.
pub const QUERY: &str = r#"sum by (chute_id, function) (invocation_total{status="200"})"#;
/// Seconds between samples: divides the hour, so every hour starts on one.
pub const STEP_SECONDS: i64 = 60;
/// Hours per query, well under Prometheus's 11,000 points a series.
const HOURS_PER_QUERY: i64 = 24;
/// Cap on one answer's body.
const MAX_ANSWER_BYTES: usize = 64 << 20;
/// What is kept of an error answer.
const ERROR_ANSWER_BYTES: usize = 64 << 10;
/// Redirects followed within the configured origin.
const MAX_REDIRECTS: usize = 5;

/// What live mode needs besides the store.
#[derive(Debug, Clone)]
pub struct LiveOptions<'a> {
    /// The evaluation time.
    pub at: NaiveDateTime,
    /// Hours below this ratio differ.
    pub threshold: f64,
    /// The validator hotkeys whose exports are the reference.
    pub validators: &'a [String],
    /// The miner whose Prometheus it is.
    pub hotkey: &'a str,
    /// The Prometheus base URL (`/api/v1/query_range` is joined on).
    pub prometheus_url: &'a Url,
    /// Per request.
    pub timeout: Duration,
}

/// One series of the answer: its labels and its (unix seconds, value)
/// samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// `chute_id` and `function` (whatever labels Prometheus gave).
    pub labels: BTreeMap<String, String>,
    /// Samples in time order.
    pub samples: Vec<(i64, f64)>,
}

/// One hour's increase over all series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourIncrease {
    /// The summed increase.
    pub count: f64,
    /// Some counter went down in the hour.
    pub restarted: bool,
}

/// The live comparison of one miner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveComparison {
    /// The miner.
    pub hotkey: String,
    /// Where its Prometheus was queried.
    pub prometheus_url: String,
    /// The evaluation time.
    pub evaluated_at: NaiveDateTime,
    /// The threshold hours were judged at.
    pub threshold: f64,
    /// The totals over the hours the validator exported.
    pub agreement: Agreement,
    /// Every hour the validator exported, oldest first.
    pub hours: Vec<HourLine>,
    /// The hours whose counts differ (not explained by a restart).
    pub differing_hours: Vec<NaiveDateTime>,
    /// The hours with a Prometheus restart.
    pub restarted_hours: Vec<NaiveDateTime>,
}

/// Compares the miner's own Prometheus with the validator's exports of the
/// window, hour by hour. Nothing is recorded: this is the miner's check.
pub async fn compare_live(
    store: &Store,
    options: &LiveOptions<'_>,
) -> Result<LiveComparison, PromCompareError> {
    let threshold = rules::check_threshold(options.threshold)?;
    let at = options.at;
    let (validator_entries, _) = window_entries(store, at, options.validators).await?;
    let lake = store.lake().clone();
    let entries = refs(&validator_entries);
    let hotkey = options.hotkey.to_string();
    let validator = tokio::task::spawn_blocking(move || {
        let counts = Counts::read(&lake, &entries, &[], Some(&hotkey))?;
        let known = !counts.totals()?.is_empty();
        known.then(|| counts.by_hour(&hotkey)).transpose()
    })
    .await??
    .ok_or_else(|| PromCompareError::UnknownMiner {
        hotkey: options.hotkey.to_string(),
        at,
    })?;
    let exported: BTreeSet<NaiveDateTime> = validator_entries
        .iter()
        .map(|e| rules::hour_of(e.entry.start_time))
        .collect();
    let (Some(&first), Some(&last)) = (exported.first(), exported.last()) else {
        return Err(PromCompareError::UnknownMiner {
            hotkey: options.hotkey.to_string(),
            at,
        });
    };
    let client = Prometheus::new(options.prometheus_url, options.timeout)?;
    let series = client
        .range(secs(first), secs(last + chrono::Duration::hours(1)))
        .await?;
    let increases = hourly_increases(&series);
    let hours: Vec<HourLine> = exported
        .iter()
        .map(|&hour| {
            let v = Some(validator.validator.get(&hour).copied().unwrap_or(0));
            let inc = increases.get(&secs(hour));
            let reported = inc.map(|i| i.count.max(0.0).round() as u64);
            let restarted = inc.is_some_and(|i| i.restarted);
            HourLine {
                hour,
                validator_count: v,
                reported_count: reported,
                ratio: rules::agreement(v, reported, threshold).ratio,
                restarted,
                status: rules::hour_status(v, reported, restarted, threshold),
            }
        })
        .collect();
    // Saturating: a lying counter must not wrap a total into agreement.
    let total = |f: fn(&HourLine) -> Option<u64>| -> Option<u64> {
        hours.iter().filter_map(f).reduce(u64::saturating_add)
    };
    let agreement = rules::agreement(
        total(|h| h.validator_count),
        total(|h| h.reported_count),
        threshold,
    );
    let pick = |status: HourStatus| -> Vec<NaiveDateTime> {
        hours
            .iter()
            .filter(|h| h.status == status)
            .map(|h| h.hour)
            .collect()
    };
    Ok(LiveComparison {
        hotkey: options.hotkey.to_string(),
        prometheus_url: options.prometheus_url.to_string(),
        evaluated_at: at,
        threshold,
        agreement,
        differing_hours: pick(HourStatus::Differs),
        restarted_hours: hours
            .iter()
            .filter(|h| h.restarted)
            .map(|h| h.hour)
            .collect(),
        hours,
    })
}

fn secs(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

/// Per hour (its start, unix seconds), the increase of all series summed,
/// Prometheus-style: a drop is a reset and the new value counts from zero.
/// A step between two samples counts in the hour it starts in.
pub fn hourly_increases(series: &[Series]) -> BTreeMap<i64, HourIncrease> {
    let mut out: BTreeMap<i64, HourIncrease> = BTreeMap::new();
    for s in series {
        for pair in s.samples.windows(2) {
            let [(t0, v0), (t1, v1)] = pair else { continue };
            if t1 <= t0 || !v0.is_finite() || !v1.is_finite() {
                continue;
            }
            let hour = t0.div_euclid(3600) * 3600;
            let slot = out.entry(hour).or_insert(HourIncrease {
                count: 0.0,
                restarted: false,
            });
            if v1 >= v0 {
                slot.count += v1 - v0;
            } else {
                slot.count += v1.max(0.0);
                slot.restarted = true;
            }
        }
    }
    out
}

/// The Prometheus HTTP API client of live mode.
struct Prometheus {
    http: reqwest::Client,
    url: Url,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Matrix>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Matrix {
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Sample>,
}

/// One `[unix seconds, "value"]` pair, read straight into numbers: an
/// answer holds millions of them, and a `String` each cost ten times the
/// answer's size. An unreadable value is NaN, skipped like any other.
struct Sample(f64, f64);

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (t, Value(v)) = <(f64, Value)>::deserialize(deserializer)?;
        Ok(Sample(t, v))
    }
}

/// A sample's value: Prometheus writes numbers as strings.
struct Value(f64);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sample value as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value(v.parse().unwrap_or(f64::NAN)))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// Why an answer's body stopped streaming into the parser.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the answer exceeds its cap")]
    TooLarge,
    #[error("reading the answer failed: {0}")]
    Transport(String),
}

impl Prometheus {
    fn new(base: &Url, timeout: Duration) -> Result<Prometheus, PromCompareError> {
        // Idempotent: a second install in the same process is refused, fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let url = base
            .join("api/v1/query_range")
            .map_err(|source| PromCompareError::Url {
                url: base.to_string(),
                source,
            })?;
        // Redirects are followed only within the configured origin: an
        // answer from elsewhere is not this Prometheus's.
        let origin = url.origin();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if attempt.url().origin() != origin {
                let to = attempt.url().to_string();
                attempt.error(format!("to {to}, off the configured origin"))
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(redirects)
            .user_agent(concat!("chutes-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| PromCompareError::Http {
                url: url.to_string(),
                source,
            })?;
        Ok(Prometheus { http, url })
    }

    /// Every series over `[start, end]`, a day per request, samples merged.
    async fn range(&self, start: i64, end: i64) -> Result<Vec<Series>, PromCompareError> {
        let mut merged: BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> = BTreeMap::new();
        let mut from = start;
        while from < end {
            let until = (from + HOURS_PER_QUERY * 3600).min(end);
            for raw in self.query(from, until).await? {
                // Collected in place (same layout): no second copy of an
                // answer's samples.
                let samples: Vec<(i64, f64)> = raw
                    .values
                    .into_iter()
                    .filter(|s| s.0.is_finite())
                    .map(|Sample(t, v)| (t.round() as i64, v))
                    .collect();
                match merged.entry(raw.metric) {
                    Entry::Vacant(slot) => {
                        slot.insert(samples);
                    }
                    Entry::Occupied(mut slot) => slot.get_mut().extend(samples),
                }
            }
            from = until;
        }
        Ok(merged
            .into_iter()
            .map(|(labels, mut samples)| {
                // In time order, one sample per time, the last answer's
                // value kept (consecutive days share their boundary).
                samples.sort_by_key(|s| s.0);
                samples.dedup_by(|later, kept| {
                    let same = later.0 == kept.0;
                    if same {
                        kept.1 = later.1;
                    }
                    same
                });
                Series { labels, samples }
            })
            .collect())
    }

    async fn query(&self, start: i64, end: i64) -> Result<Vec<RawSeries>, PromCompareError> {
        let url = self.url.to_string();
        let http = |source: reqwest::Error| {
            if source.is_redirect() {
                // The policy's reason is the innermost cause.
                let mut cause: &dyn std::error::Error = &source;
                while let Some(inner) = cause.source() {
                    cause = inner;
                }
                PromCompareError::Redirected {
                    url: url.clone(),
                    message: cause.to_string(),
                }
            } else {
                PromCompareError::Http {
                    url: url.clone(),
                    source,
                }
            }
        };
        let mut response = self
            .http
            .get(self.url.clone())
            .query(&[
                ("query", QUERY.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", STEP_SECONDS.to_string()),
            ])
            .send()
            .await
            .map_err(http)?;
        let status = response.status();
        if !status.is_success() {
            // An error answer is small; only its start is kept.
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(http)? {
                body.extend_from_slice(&chunk);
                if body.len() > ERROR_ANSWER_BYTES {
                    break;
                }
            }
            let message = match serde_json::from_slice::<Answer>(&body) {
                Ok(a) => a.error.unwrap_or(a.status),
                Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            };
            return Err(PromCompareError::Refused {
                url,
                status: status.as_u16(),
                message,
            });
        }
        let answer = parse_streamed(response).await?;
        match answer {
            Ok(a) if a.status == "success" => Ok(a.data.map(|d| d.result).unwrap_or_default()),
            Ok(a) => Err(PromCompareError::Refused {
                url,
                status: status.as_u16(),
                message: a.error.unwrap_or(a.status),
            }),
            Err(e) if e.is_io() => {
                let e = std::io::Error::from(e);
                match e.downcast::<BodyError>() {
                    Ok(BodyError::TooLarge) => Err(PromCompareError::TooLarge {
                        url,
                        limit: MAX_ANSWER_BYTES,
                    }),
                    Ok(BodyError::Transport(message)) => Err(PromCompareError::Refused {
                        url,
                        status: status.as_u16(),
                        message,
                    }),
                    Err(e) => Err(PromCompareError::Answer {
                        url,
                        source: serde_json::Error::io(e),
                    }),
                }
            }
            Err(source) => Err(PromCompareError::Answer { url, source }),
        }
    }
}

/// Parses an answer as its body arrives, on a blocking thread: memory is
/// the parsed samples, never the body, which is refused past
/// [`MAX_ANSWER_BYTES`].
async fn parse_streamed(
    response: reqwest::Response,
) -> Result<Result<Answer, serde_json::Error>, PromCompareError> {
    use futures::StreamExt;
    let mut seen = 0usize;
    let body = response.bytes_stream().map(move |chunk| {
        let chunk =
            chunk.map_err(|e| std::io::Error::other(BodyError::Transport(e.to_string())))?;
        seen += chunk.len();
        if seen > MAX_ANSWER_BYTES {
            return Err(std::io::Error::other(BodyError::TooLarge));
        }
        Ok(chunk)
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
    let parsed = tokio::task::spawn_blocking(move || {
        serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, reader))
    })
    .await?;
    Ok(parsed)
}
