//! Live mode, for miners: their own Prometheus, queried over its HTTP API
//! (`/api/v1/query_range` over `invocation_total{status="200"}` by chute
//! and function), against the validator's exports for their hotkey, hour
//! by hour.
//!
//! The raw counter is queried, not `increase()`: a counter that goes down
//! is a Prometheus restart, and the hour it happens in is an expected gap.
//! Increases are summed the way Prometheus does across a reset (the value
//! after a drop counts from zero).

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
    let total = |f: fn(&HourLine) -> Option<u64>| -> Option<u64> {
        hours.iter().filter_map(f).reduce(|a, b| a + b)
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
    values: Vec<(f64, String)>,
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
        let http = reqwest::Client::builder()
            .timeout(timeout)
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
        let mut merged: BTreeMap<BTreeMap<String, String>, BTreeMap<i64, f64>> = BTreeMap::new();
        let mut from = start;
        while from < end {
            let until = (from + HOURS_PER_QUERY * 3600).min(end);
            for raw in self.query(from, until).await? {
                let samples = merged.entry(raw.metric).or_default();
                for (t, v) in raw.values {
                    if let (true, Ok(v)) = (t.is_finite(), v.parse::<f64>()) {
                        samples.insert(t.round() as i64, v);
                    }
                }
            }
            from = until;
        }
        Ok(merged
            .into_iter()
            .map(|(labels, samples)| Series {
                labels,
                samples: samples.into_iter().collect(),
            })
            .collect())
    }

    async fn query(&self, start: i64, end: i64) -> Result<Vec<RawSeries>, PromCompareError> {
        let url = self.url.to_string();
        let http = |source| PromCompareError::Http {
            url: url.clone(),
            source,
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
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(PromCompareError::TooLarge {
                    url,
                    limit: MAX_ANSWER_BYTES,
                });
            }
        }
        let answer: Result<Answer, _> = serde_json::from_slice(&body);
        match answer {
            Ok(a) if status.is_success() && a.status == "success" => {
                Ok(a.data.map(|d| d.result).unwrap_or_default())
            }
            Ok(a) => Err(PromCompareError::Refused {
                url,
                status: status.as_u16(),
                message: a.error.unwrap_or(a.status),
            }),
            Err(_) if !status.is_success() => Err(PromCompareError::Refused {
                url,
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
            Err(source) => Err(PromCompareError::Answer { url, source }),
        }
    }
}
