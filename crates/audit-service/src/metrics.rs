//! The service's Prometheus metrics: one registry, prefixed
//! `chutes_audit_`. The service records its own series here (each stage's
//! last success and failures, when it started); the caller registers the
//! series its stages measure on the same registry ([`Metrics::registry`]),
//! so `/metrics` serves them all in one exposition.

use prometheus::{Encoder, Gauge, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

/// The service's registry and its own series.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    stage_last_success: GaugeVec,
    stage_failures: IntCounterVec,
    up_since: Gauge,
}

/// Series creation only fails on a malformed name or a duplicate, both
/// fixed in this file: a test registers everything once.
fn must<T>(made: prometheus::Result<T>) -> T {
    match made {
        Ok(v) => v,
        Err(err) => unreachable!("a metric defined in metrics.rs is malformed: {err}"),
    }
}

impl Metrics {
    /// A fresh registry with the service's own series registered.
    pub fn new() -> Self {
        let registry = must(Registry::new_custom(Some("chutes_audit".into()), None));
        let stage_last_success = must(GaugeVec::new(
            Opts::new(
                "stage_last_success_seconds",
                "Unix time each stage last succeeded.",
            ),
            &["stage"],
        ));
        let stage_failures = must(IntCounterVec::new(
            Opts::new("stage_failures_total", "Failed runs of each stage."),
            &["stage"],
        ));
        let up_since = must(Gauge::new(
            "up_since_seconds",
            "Unix time the service started.",
        ));
        must(registry.register(Box::new(stage_last_success.clone())));
        must(registry.register(Box::new(stage_failures.clone())));
        must(registry.register(Box::new(up_since.clone())));
        Metrics {
            registry,
            stage_last_success,
            stage_failures,
            up_since,
        }
    }

    /// The registry `/metrics` renders: the caller registers its stages'
    /// series here. Names get the `chutes_audit_` prefix; a name the
    /// registry already holds is refused.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn stage_succeeded(&self, stage: &str, unix_seconds: f64) {
        self.stage_last_success
            .with_label_values(&[stage])
            .set(unix_seconds);
        // Make the failure series exist from the first success, so a rate
        // over it is defined before anything fails.
        let _ = self.stage_failures.with_label_values(&[stage]);
    }

    pub(crate) fn stage_failed(&self, stage: &str) {
        self.stage_failures.with_label_values(&[stage]).inc();
    }

    pub(crate) fn started(&self, unix_seconds: f64) {
        self.up_since.set(unix_seconds);
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut buffer) {
            return format!("# encoding the metrics failed: {err}\n");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_series_and_the_callers_are_exported_under_the_prefix() {
        let m = Metrics::new();
        m.stage_succeeded("sync", 1_700_000_000.0);
        m.stage_failed("weights");
        m.started(1_690_000_000.0);
        let own = prometheus::IntGauge::new("own", "The caller's own series.").unwrap();
        m.registry().register(Box::new(own.clone())).unwrap();
        own.set(3);
        assert_eq!(
            m.render(),
            "# HELP chutes_audit_own The caller's own series.\n\
             # TYPE chutes_audit_own gauge\n\
             chutes_audit_own 3\n\
             # HELP chutes_audit_stage_failures_total Failed runs of each stage.\n\
             # TYPE chutes_audit_stage_failures_total counter\n\
             chutes_audit_stage_failures_total{stage=\"sync\"} 0\n\
             chutes_audit_stage_failures_total{stage=\"weights\"} 1\n\
             # HELP chutes_audit_stage_last_success_seconds Unix time each stage last succeeded.\n\
             # TYPE chutes_audit_stage_last_success_seconds gauge\n\
             chutes_audit_stage_last_success_seconds{stage=\"sync\"} 1700000000\n\
             # HELP chutes_audit_up_since_seconds Unix time the service started.\n\
             # TYPE chutes_audit_up_since_seconds gauge\n\
             chutes_audit_up_since_seconds 1690000000\n"
        );
        let twice = prometheus::IntGauge::new("own", "Again.").unwrap();
        assert!(m.registry().register(Box::new(twice)).is_err());
    }
}
