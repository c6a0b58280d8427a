//! A simulated miner's own Prometheus: the `query_range` endpoint of the
//! Prometheus HTTP API over `invocation_total{status="200"}`, summed by
//! chute and function, for any miner of the world (chosen in the URL:
//! `/_devnet/prometheus/{hotkey}/api/v1/query_range`).
//!
//! The counters follow the miner's self-reports in the world, so they
//! under-report exactly as the world says the miner does: within each
//! reported hour a series rises evenly by the hour's reported
//! `total_count`. In an hour whose report says Prometheus did not run the
//! whole slice, the counter restarts from zero at half past: what was
//! counted since the last scrape before the restart is lost, as with a
//! real restart. Between reported hours a counter stays flat.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::world::World;
use crate::DevnetError;

/// Prometheus refuses a range with more points per series than this.
pub const MAX_POINTS: f64 = 11_000.0;

/// The text a self-report carries when Prometheus ran the whole hour.
const RAN_WHOLE_HOUR: &str = "entire audit time slice";

/// One reported hour of one series.
#[derive(Debug, Clone, PartialEq)]
struct Hour {
    start: i64,
    count: u64,
    restarted: bool,
}

/// One miner's counters: per (chute_id, function), its reported hours
/// in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinerCounters {
    series: BTreeMap<(String, String), Vec<Hour>>,
}

impl MinerCounters {
    /// The counters of `hotkey`, read from its self-reports in the world
    /// (none when it publishes none).
    pub fn of(world: &World, hotkey: &str) -> Result<MinerCounters, DevnetError> {
        let mut series: BTreeMap<(String, String), BTreeMap<i64, Hour>> = BTreeMap::new();
        for entry in world.entries.iter().filter(|e| e.hotkey == hotkey) {
            let Some(start) = audit_model::time::parse_utc(&entry.start_time) else {
                continue;
            };
            let start = start.and_utc().timestamp();
            let bytes = world.report_bytes(entry)?;
            let report: Value =
                serde_json::from_slice(&bytes).map_err(|e| DevnetError::Format {
                    path: world.dir.join(&entry.report),
                    message: e.to_string(),
                })?;
            let restarted = report
                .get("prometheus_message")
                .and_then(Value::as_str)
                .is_some_and(|m| !m.contains(RAN_WHOLE_HOUR));
            let metrics = report.get("prometheus_metrics").and_then(Value::as_array);
            for m in metrics.into_iter().flatten() {
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let count = m.get("total_count").and_then(Value::as_u64).unwrap_or(0);
                let hour = series
                    .entry((text("chute_id"), text("function")))
                    .or_default()
                    .entry(start)
                    .or_insert(Hour {
                        start,
                        count: 0,
                        restarted,
                    });
                hour.count += count;
            }
        }
        Ok(MinerCounters {
            series: series
                .into_iter()
                .map(|(k, hours)| (k, hours.into_values().collect()))
                .collect(),
        })
    }

    /// The value of every series at each time (unix seconds); a series has
    /// no sample before its first reported hour.
    pub fn samples(&self, times: &[i64]) -> Vec<Series> {
        self.series
            .iter()
            .map(|((chute_id, function), hours)| Series {
                chute_id: chute_id.clone(),
                function: function.clone(),
                samples: times
                    .iter()
                    .filter_map(|&t| value_at(hours, t).map(|v| (t, v)))
                    .collect(),
            })
            .collect()
    }
}

/// One counter's samples, as a range query answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The `chute_id` label.
    pub chute_id: String,
    /// The `function` label.
    pub function: String,
    /// `(unix seconds, value)`, oldest first.
    pub samples: Vec<(i64, u64)>,
}

/// A counter's value at `t`: the carried value of the hours before, plus
/// the even share of the current hour, restarting at half past in a
/// restarted hour.
fn value_at(hours: &[Hour], t: i64) -> Option<u64> {
    let first = hours.first()?;
    if t < first.start {
        return None;
    }
    let mut carried = 0u64;
    for hour in hours {
        if t < hour.start {
            break;
        }
        let elapsed = (t - hour.start).min(3600);
        let counted = |seconds: i64| hour.count * seconds.max(0) as u64 / 3600;
        if hour.restarted {
            if elapsed < 1800 {
                carried += counted(elapsed);
                if t < hour.start + 3600 {
                    return Some(carried);
                }
            }
            // Counting again from zero since half past.
            carried = counted(elapsed) - counted(1800);
        } else {
            carried += counted(elapsed);
        }
    }
    Some(carried)
}

/// The parameters of `GET /api/v1/query_range`.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    /// PromQL; only the invocation counter is known here.
    pub query: Option<String>,
    /// Unix seconds or RFC 3339.
    pub start: Option<String>,
    /// Unix seconds or RFC 3339.
    pub end: Option<String>,
    /// Seconds, or a duration such as `60s` or `5m`.
    pub step: Option<String>,
}

/// The answer to a range query, as Prometheus gives it: a status code and
/// its JSON body (`{"status": "error", "errorType": "bad_data", …}` for a
/// query it cannot serve).
pub fn query_range(counters: &MinerCounters, q: &RangeQuery) -> (u16, Value) {
    match range_times(q) {
        Ok(times) => {
            let result: Vec<Value> = counters
                .samples(&times)
                .into_iter()
                .filter(|series| !series.samples.is_empty())
                .map(|series| {
                    let values: Vec<Value> = series
                        .samples
                        .into_iter()
                        .map(|(t, v)| json!([t, v.to_string()]))
                        .collect();
                    json!({"metric": {"chute_id": series.chute_id, "function": series.function}, "values": values})
                })
                .collect();
            (
                200,
                json!({"status": "success", "data": {"resultType": "matrix", "result": result}}),
            )
        }
        Err(message) => (
            400,
            json!({"status": "error", "errorType": "bad_data", "error": message}),
        ),
    }
}

fn range_times(q: &RangeQuery) -> Result<Vec<i64>, String> {
    let query = q.query.as_deref().unwrap_or("");
    if !query.contains("invocation_total") || !query.contains("status=\"200\"") {
        return Err(format!(
            "this simulated Prometheus only serves invocation_total{{status=\"200\"}}, not {query:?}"
        ));
    }
    let start = time_param(q.start.as_deref(), "start")?;
    let end = time_param(q.end.as_deref(), "end")?;
    let step = step_param(q.step.as_deref())?;
    if end < start {
        return Err("end timestamp must not be before start time".into());
    }
    if (end - start) / step > MAX_POINTS {
        return Err("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into());
    }
    let (start, step) = (start.ceil() as i64, step.ceil() as i64);
    let count = ((end - start as f64) / step as f64).floor() as i64;
    Ok((0..=count).map(|k| start + k * step).collect())
}

fn time_param(text: Option<&str>, name: &str) -> Result<f64, String> {
    let text = text.ok_or_else(|| format!("missing parameter {name:?}"))?;
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() {
            return Ok(seconds);
        }
    }
    audit_model::time::parse_utc(text)
        .map(|t: NaiveDateTime| t.and_utc().timestamp() as f64)
        .ok_or_else(|| {
            format!("invalid parameter {name:?}: cannot parse {text:?} to a valid timestamp")
        })
}

fn step_param(text: Option<&str>) -> Result<f64, String> {
    let text = text.ok_or("missing parameter \"step\"")?;
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid parameter \"step\": unknown unit in {text:?}"
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n * scale),
        _ => Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(start: i64, count: u64, restarted: bool) -> Hour {
        Hour {
            start,
            count,
            restarted,
        }
    }

    #[test]
    fn a_counter_rises_evenly_and_carries_over() {
        let hours = [hour(0, 60, false), hour(3600, 120, false)];
        assert_eq!(value_at(&hours, -1), None);
        assert_eq!(value_at(&hours, 0), Some(0));
        assert_eq!(value_at(&hours, 1800), Some(30));
        assert_eq!(value_at(&hours, 3600), Some(60));
        assert_eq!(value_at(&hours, 5400), Some(120));
        assert_eq!(value_at(&hours, 7200), Some(180));
        assert_eq!(
            value_at(&hours, 9000),
            Some(180),
            "flat after the last hour"
        );
    }

    #[test]
    fn a_restarted_hour_drops_to_zero_at_half_past() {
        let hours = [
            hour(0, 60, false),
            hour(3600, 120, true),
            hour(7200, 60, false),
        ];
        assert_eq!(value_at(&hours, 3600 + 1740), Some(60 + 58));
        assert_eq!(value_at(&hours, 3600 + 1800), Some(0));
        assert_eq!(value_at(&hours, 7200), Some(60));
        assert_eq!(value_at(&hours, 10800), Some(120));
    }

    #[test]
    fn bad_ranges_are_refused_as_prometheus_does() {
        let counters = MinerCounters::default();
        let q = |query: &str, step: &str| RangeQuery {
            query: Some(query.into()),
            start: Some("0".into()),
            end: Some("604800".into()),
            step: Some(step.into()),
        };
        let good = "sum by (chute_id, function) (invocation_total{status=\"200\"})";
        assert_eq!(query_range(&counters, &q(good, "60s")).0, 200);
        assert_eq!(query_range(&counters, &q(good, "1m")).0, 200);
        assert_eq!(
            query_range(&counters, &q(good, "30")).0,
            400,
            "too many points"
        );
        assert_eq!(query_range(&counters, &q(good, "0")).0, 400);
        assert_eq!(query_range(&counters, &q("up", "60")).0, 400);
    }
}
