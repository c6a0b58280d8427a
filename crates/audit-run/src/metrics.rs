//! The series the stages measure, registered on the service's registry
//! (`audit_service::Metrics::registry`) so `/metrics` serves them beside
//! the service's own. Their names, labels and help text are what the
//! dashboard (docs/grafana-dashboard.json) and the alerts in
//! docs/operations.md read: a test pins the exposition.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// What the stages measured, prefixed `chutes_audit_` by the registry.
#[derive(Clone)]
pub(crate) struct AuditMetrics {
    entries: IntGaugeVec,
    integrity_violations: IntCounterVec,
    synthetics: IntGaugeVec,
    agreement: GaugeVec,
    coverage: GaugeVec,
    weight_delta: GaugeVec,
    weights: IntCounterVec,
}

impl AuditMetrics {
    /// Registers every series on `registry`; fails only when one of these
    /// names is already there.
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        fn add<T: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            made: prometheus::Result<T>,
        ) -> prometheus::Result<T> {
            let collector = made?;
            registry.register(Box::new(collector.clone()))?;
            Ok(collector)
        }
        let opts = Opts::new;
        Ok(AuditMetrics {
            entries: add(
                registry,
                IntGaugeVec::new(
                    opts("entries", "Audit entries in the window by state."),
                    &["state"],
                ),
            )?,
            integrity_violations: add(
                registry,
                IntCounterVec::new(
                    opts(
                        "integrity_violations_total",
                        "Entries refused because a hash or commitment did not match, and chain reads that failed their proof (source chain).",
                    ),
                    &["source"],
                ),
            )?,
            synthetics: add(
                registry,
                IntGaugeVec::new(
                    opts(
                        "synthetics",
                        "Synthetic attempts by their last verdict (present, missing, rerouted, pending).",
                    ),
                    &["verdict"],
                ),
            )?,
            agreement: add(
                registry,
                GaugeVec::new(
                    opts(
                        "miner_agreement_ratio",
                        "Validator count against the miner's own Prometheus count, min/max.",
                    ),
                    &["hotkey"],
                ),
            )?,
            coverage: add(
                registry,
                GaugeVec::new(
                    opts(
                        "miner_coverage_seconds",
                        "Seconds of the last 169 hours covered by the miner's audit entries.",
                    ),
                    &["hotkey"],
                ),
            )?,
            weight_delta: add(
                registry,
                GaugeVec::new(
                    opts(
                        "weights_delta",
                        "Computed shares against chain incentive: sum and max of |delta|.",
                    ),
                    &["stat"],
                ),
            )?,
            weights: add(
                registry,
                IntCounterVec::new(
                    opts(
                        "weights_total",
                        "Weight submissions by outcome (sent, refused, failed).",
                    ),
                    &["outcome"],
                ),
            )?,
        })
    }

    /// Entries by state (`loaded`, `rejected`, `unverifiable`, ...).
    pub(crate) fn set_entries(&self, state: &str, count: u64) {
        self.entries
            .with_label_values(&[state])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts new integrity violations of `source` (`validator`, `miner`,
    /// `chain`).
    pub(crate) fn add_integrity_violations(&self, source: &str, count: u64) {
        self.integrity_violations
            .with_label_values(&[source])
            .inc_by(count);
    }

    /// Synthetic attempts with `verdict`.
    pub(crate) fn set_synthetics(&self, verdict: &str, count: u64) {
        self.synthetics
            .with_label_values(&[verdict])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// One miner's agreement ratio (dropped when there is none) and
    /// coverage.
    pub(crate) fn set_miner(&self, hotkey: &str, agreement: Option<f64>, coverage_seconds: u64) {
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
    pub(crate) fn set_weight_deltas(&self, sum: f64, max: f64) {
        self.weight_delta.with_label_values(&["sum"]).set(sum);
        self.weight_delta.with_label_values(&["max"]).set(max);
    }

    /// Counts one weight submission with `outcome` (`sent`, `refused`,
    /// `failed`).
    pub(crate) fn count_weights(&self, outcome: &str) {
        self.weights.with_label_values(&[outcome]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition as the dashboard reads it, byte for byte (captured
    /// from the version that defined these series in audit-service).
    const EXPECTED: &str = "\
# HELP chutes_audit_entries Audit entries in the window by state.
# TYPE chutes_audit_entries gauge
chutes_audit_entries{state=\"loaded\"} 167
chutes_audit_entries{state=\"rejected\"} 1
# HELP chutes_audit_integrity_violations_total Entries refused because a hash or commitment did not match, and chain reads that failed their proof (source chain).
# TYPE chutes_audit_integrity_violations_total counter
chutes_audit_integrity_violations_total{source=\"miner\"} 2
chutes_audit_integrity_violations_total{source=\"validator\"} 1
# HELP chutes_audit_miner_agreement_ratio Validator count against the miner's own Prometheus count, min/max.
# TYPE chutes_audit_miner_agreement_ratio gauge
chutes_audit_miner_agreement_ratio{hotkey=\"5Fminer\"} 0.95
# HELP chutes_audit_miner_coverage_seconds Seconds of the last 169 hours covered by the miner's audit entries.
# TYPE chutes_audit_miner_coverage_seconds gauge
chutes_audit_miner_coverage_seconds{hotkey=\"5Fminer\"} 601200
chutes_audit_miner_coverage_seconds{hotkey=\"5Fquiet\"} 0
# HELP chutes_audit_synthetics Synthetic attempts by their last verdict (present, missing, rerouted, pending).
# TYPE chutes_audit_synthetics gauge
chutes_audit_synthetics{verdict=\"missing\"} 2
chutes_audit_synthetics{verdict=\"present\"} 5
# HELP chutes_audit_up_since_seconds Unix time the service started.
# TYPE chutes_audit_up_since_seconds gauge
chutes_audit_up_since_seconds 0
# HELP chutes_audit_weights_delta Computed shares against chain incentive: sum and max of |delta|.
# TYPE chutes_audit_weights_delta gauge
chutes_audit_weights_delta{stat=\"max\"} 0.023
chutes_audit_weights_delta{stat=\"sum\"} 0.4
# HELP chutes_audit_weights_total Weight submissions by outcome (sent, refused, failed).
# TYPE chutes_audit_weights_total counter
chutes_audit_weights_total{outcome=\"failed\"} 1
chutes_audit_weights_total{outcome=\"sent\"} 1
";

    #[test]
    fn the_stages_series_keep_their_names_labels_and_help_on_the_services_registry() {
        let service = audit_service::Metrics::new();
        let m = AuditMetrics::register(service.registry()).unwrap();
        m.set_entries("loaded", 167);
        m.set_entries("rejected", 1);
        m.add_integrity_violations("validator", 1);
        m.add_integrity_violations("miner", 2);
        m.set_synthetics("missing", 2);
        m.set_synthetics("present", 5);
        m.set_miner("5Fminer", Some(0.95), 601_200);
        m.set_miner("5Fquiet", None, 0);
        m.set_weight_deltas(0.4, 0.023);
        m.count_weights("sent");
        m.count_weights("failed");
        assert_eq!(service.render(), EXPECTED);
        // Registered twice on one registry: refused, not doubled.
        assert!(AuditMetrics::register(service.registry()).is_err());
    }
}
