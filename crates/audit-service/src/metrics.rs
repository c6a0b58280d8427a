//! The service's Prometheus metrics: one registry, every series named
//! here, so the dashboard (docs/grafana-dashboard.json) and the alerts in
//! docs/operations.md have one place to agree with.
//!
//! Stages set what they measured through the typed setters; the service
//! itself records each stage's last success and failures.

use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every series the service exports, prefixed `chutes_audit_`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    entries: IntGaugeVec,
    integrity_violations: IntCounterVec,
    synthetics: IntGaugeVec,
    agreement: GaugeVec,
    coverage: GaugeVec,
    weight_delta: GaugeVec,
    weights: IntCounterVec,
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
    /// A fresh registry with every series registered.
    pub fn new() -> Self {
        let registry = must(Registry::new_custom(Some("chutes_audit".into()), None));
        let int_gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = must(IntGaugeVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(g.clone())));
            g
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = must(GaugeVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(g.clone())));
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(c.clone())));
            c
        };
        let up_since = must(Gauge::new(
            "up_since_seconds",
            "Unix time the service started.",
        ));
        must(registry.register(Box::new(up_since.clone())));
        Metrics {
            entries: int_gauge(
                "entries",
                "Audit entries in the window by state.",
                &["state"],
            ),
            integrity_violations: counter(
                "integrity_violations_total",
                "Entries refused because a hash or commitment did not match.",
                &["source"],
            ),
            synthetics: int_gauge(
                "synthetics",
                "Synthetic attempts by their last verdict (present, missing, rerouted, pending).",
                &["verdict"],
            ),
            agreement: gauge(
                "miner_agreement_ratio",
                "Validator count against the miner's own Prometheus count, min/max.",
                &["hotkey"],
            ),
            coverage: gauge(
                "miner_coverage_seconds",
                "Seconds of the last 169 hours covered by the miner's audit entries.",
                &["hotkey"],
            ),
            weight_delta: gauge(
                "weights_delta",
                "Computed shares against chain incentive: sum and max of |delta|.",
                &["stat"],
            ),
            weights: counter(
                "weights_total",
                "Weight submissions by outcome (sent, refused, failed).",
                &["outcome"],
            ),
            stage_last_success: gauge(
                "stage_last_success_seconds",
                "Unix time each stage last succeeded.",
                &["stage"],
            ),
            stage_failures: counter(
                "stage_failures_total",
                "Failed runs of each stage.",
                &["stage"],
            ),
            up_since,
            registry,
        }
    }

    /// Entries by state (`loaded`, `rejected`, `unverifiable`, ...).
    pub fn set_entries(&self, state: &str, count: u64) {
        self.entries
            .with_label_values(&[state])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts new integrity violations of `source` (`validator`, `miner`).
    pub fn add_integrity_violations(&self, source: &str, count: u64) {
        self.integrity_violations
            .with_label_values(&[source])
            .inc_by(count);
    }

    /// Synthetic attempts with `verdict`.
    pub fn set_synthetics(&self, verdict: &str, count: u64) {
        self.synthetics
            .with_label_values(&[verdict])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// One miner's agreement ratio and coverage.
    pub fn set_miner(&self, hotkey: &str, agreement: Option<f64>, coverage_seconds: u64) {
        match agreement {
            Some(ratio) if ratio.is_finite() => {
                self.agreement.with_label_values(&[hotkey]).set(ratio)
            }
            _ => {
                let _ = self.agreement.remove_label_values(&[hotkey]);
            }
        }
        self.coverage
            .with_label_values(&[hotkey])
            .set(coverage_seconds as f64);
    }

    /// The last weights run's sum and max of |delta|.
    pub fn set_weight_deltas(&self, sum: f64, max: f64) {
        self.weight_delta.with_label_values(&["sum"]).set(sum);
        self.weight_delta.with_label_values(&["max"]).set(max);
    }

    /// Counts one weight submission with `outcome` (`sent`, `refused`, `failed`).
    pub fn count_weights(&self, outcome: &str) {
        self.weights.with_label_values(&[outcome]).inc();
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
    fn every_series_is_exported_under_the_prefix() {
        let m = Metrics::new();
        m.set_entries("loaded", 167);
        m.set_entries("rejected", 1);
        m.add_integrity_violations("validator", 1);
        m.set_synthetics("missing", 2);
        m.set_miner("5Fminer", Some(0.95), 601_200);
        m.set_miner("5Fquiet", None, 0);
        m.set_weight_deltas(0.4, 0.023);
        m.count_weights("sent");
        m.stage_succeeded("sync", 1_700_000_000.0);
        m.stage_failed("weights");
        let text = m.render();
        for line in [
            "chutes_audit_entries{state=\"loaded\"} 167",
            "chutes_audit_integrity_violations_total{source=\"validator\"} 1",
            "chutes_audit_synthetics{verdict=\"missing\"} 2",
            "chutes_audit_miner_agreement_ratio{hotkey=\"5Fminer\"} 0.95",
            "chutes_audit_miner_coverage_seconds{hotkey=\"5Fquiet\"} 0",
            "chutes_audit_weights_delta{stat=\"max\"} 0.023",
            "chutes_audit_weights_total{outcome=\"sent\"} 1",
            "chutes_audit_stage_last_success_seconds{stage=\"sync\"} 1700000000",
            "chutes_audit_stage_failures_total{stage=\"weights\"} 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert!(!text.contains("hotkey=\"5Fquiet\"} NaN"), "{text}");
        assert!(
            !text.contains("miner_agreement_ratio{hotkey=\"5Fquiet\"}"),
            "{text}"
        );
    }
}
