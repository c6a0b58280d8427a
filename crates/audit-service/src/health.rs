//! Whether the service is doing its job, as a pure function of what each
//! stage last did and the time now.
//!
//! A stage is healthy while its most recent attempt succeeded, that
//! success is younger than twice its interval (one late run is tolerated;
//! two are not), and a run in flight is within its deadline. A stage that
//! has not run yet is healthy during its first interval after start, so a
//! fresh service does not page anybody.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use serde::Serialize;

/// What one stage last did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageHealth {
    /// How often the stage is expected to succeed; `None` for a stage that
    /// runs only when there is work (only its failures count).
    #[serde(serialize_with = "seconds")]
    pub interval: Option<Duration>,
    /// When the stage last succeeded.
    pub last_success: Option<NaiveDateTime>,
    /// The last failure's time and message, cleared by a success.
    pub last_failure: Option<(NaiveDateTime, String)>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// How long one run may take before it is abandoned.
    #[serde(serialize_with = "seconds")]
    pub deadline: Option<Duration>,
    /// When the run in flight started, if one is.
    pub running_since: Option<NaiveDateTime>,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_secs()),
        None => s.serialize_none(),
    }
}

/// Every stage's health since `started`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// When the service started.
    pub started: NaiveDateTime,
    /// By stage name.
    pub stages: BTreeMap<String, StageHealth>,
}

/// The verdict `/healthz` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Every stage is healthy.
    pub healthy: bool,
    /// One line per unhealthy stage, naming it and why.
    pub reasons: Vec<String>,
}

impl Health {
    /// No stage has run yet.
    pub fn new(started: NaiveDateTime) -> Self {
        Health {
            started,
            stages: BTreeMap::new(),
        }
    }

    /// Declares a stage, how often it should succeed (`None`: only when
    /// it has work) and how long one run may take.
    pub fn expect(&mut self, stage: &str, interval: Option<Duration>, deadline: Duration) {
        self.stages.insert(
            stage.to_owned(),
            StageHealth {
                interval,
                last_success: None,
                last_failure: None,
                consecutive_failures: 0,
                deadline: Some(deadline),
                running_since: None,
            },
        );
    }

    /// Records that a run of `stage` started at `at`.
    pub fn running(&mut self, stage: &str, at: NaiveDateTime) {
        if let Some(s) = self.stages.get_mut(stage) {
            s.running_since = Some(at);
        }
    }

    /// Records a success of `stage` at `at`.
    pub fn succeeded(&mut self, stage: &str, at: NaiveDateTime) {
        if let Some(s) = self.stages.get_mut(stage) {
            s.last_success = Some(at);
            s.last_failure = None;
            s.consecutive_failures = 0;
            s.running_since = None;
        }
    }

    /// Records a failure of `stage` at `at`.
    pub fn failed(&mut self, stage: &str, at: NaiveDateTime, message: &str) {
        if let Some(s) = self.stages.get_mut(stage) {
            s.last_failure = Some((at, message.to_owned()));
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            s.running_since = None;
        }
    }

    /// The verdict at `now`.
    pub fn verdict(&self, now: NaiveDateTime) -> Verdict {
        let reasons: Vec<String> = self
            .stages
            .iter()
            .filter_map(|(name, s)| unhealthy(name, s, self.started, now))
            .collect();
        Verdict {
            healthy: reasons.is_empty(),
            reasons,
        }
    }
}

fn unhealthy(
    name: &str,
    s: &StageHealth,
    started: NaiveDateTime,
    now: NaiveDateTime,
) -> Option<String> {
    // A run past its deadline is the most urgent thing to say: the
    // service abandons it at the deadline, so one still going means a
    // stage that does not even yield (a blocked thread).
    if let (Some(since), Some(deadline)) = (s.running_since, s.deadline) {
        let allowed = TimeDelta::from_std(deadline).unwrap_or(TimeDelta::MAX);
        if now.signed_duration_since(since) > allowed {
            return Some(format!(
                "{name}: stuck since {since}: running past its deadline of {} s",
                deadline.as_secs_f64()
            ));
        }
    }
    if let Some((at, message)) = &s.last_failure {
        return Some(format!(
            "{name}: failed {} time(s) in a row, last at {at}: {message}",
            s.consecutive_failures
        ));
    }
    let interval = s.interval?;
    let allowed = TimeDelta::from_std(interval.saturating_mul(2)).unwrap_or(TimeDelta::MAX);
    let since = s.last_success.unwrap_or(started);
    let overdue = now.signed_duration_since(since) > allowed;
    overdue.then(|| match s.last_success {
        Some(at) => format!(
            "{name}: no success since {at} (expected every {}s)",
            interval.as_secs()
        ),
        None => format!("{name}: no success since the start at {started}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(minutes: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + TimeDelta::minutes(minutes)
    }

    fn health() -> Health {
        let mut h = Health::new(t(0));
        h.expect(
            "sync",
            Some(Duration::from_secs(600)),
            Duration::from_secs(1800),
        );
        h.expect("weights", None, Duration::from_secs(300));
        h
    }

    #[test]
    fn a_fresh_service_is_healthy_for_its_first_intervals() {
        let h = health();
        assert!(h.verdict(t(19)).healthy);
        let late = h.verdict(t(21));
        assert!(!late.healthy);
        assert_eq!(
            late.reasons,
            ["sync: no success since the start at 2026-11-26 00:00:00"]
        );
    }

    #[test]
    fn a_failure_is_unhealthy_at_once_and_a_success_clears_it() {
        let mut h = health();
        h.succeeded("sync", t(1));
        h.failed("sync", t(2), "listing audit entries failed: 503");
        h.failed("sync", t(3), "listing audit entries failed: 503");
        let v = h.verdict(t(3));
        assert!(!v.healthy);
        assert!(v.reasons[0].contains("failed 2 time(s) in a row"), "{v:?}");
        assert!(v.reasons[0].contains("503"), "{v:?}");
        h.succeeded("sync", t(4));
        assert!(h.verdict(t(4)).healthy);
    }

    #[test]
    fn a_stage_that_runs_on_new_data_is_judged_by_its_failures_only() {
        let mut h = health();
        h.succeeded("sync", t(100));
        assert!(h.verdict(t(101)).healthy);
        h.failed("weights", t(101), "rate limit: 37 blocks remaining");
        assert_eq!(h.verdict(t(101)).reasons.len(), 1);
    }

    #[test]
    fn a_stage_that_stops_succeeding_goes_unhealthy_after_two_intervals() {
        let mut h = health();
        h.succeeded("sync", t(10));
        assert!(h.verdict(t(30)).healthy);
        let v = h.verdict(t(31));
        assert!(v.reasons[0].starts_with("sync: no success since 2026-11-26 00:10:00"));
    }

    #[test]
    fn a_run_past_its_deadline_is_named_with_when_it_started() {
        let mut h = health();
        h.succeeded("sync", t(0));
        h.running("weights", t(1));
        assert!(h.verdict(t(5)).healthy, "within its five minutes");
        let v = h.verdict(t(7));
        assert_eq!(
            v.reasons,
            ["weights: stuck since 2026-11-26 00:01:00: running past its deadline of 300 s"]
        );
        // Abandoned at last: a failure like any other, and the run is over.
        h.failed("weights", t(7), "stuck: exceeded its deadline of 300 s");
        let v = h.verdict(t(8));
        assert!(
            v.reasons[0].starts_with("weights: failed 1 time(s)"),
            "{v:?}"
        );
        assert!(v.reasons[0].contains("stuck"), "{v:?}");
        h.running("weights", t(9));
        h.succeeded("weights", t(10));
        assert!(h.verdict(t(11)).healthy);
    }
}
