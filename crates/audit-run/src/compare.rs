//! The compare-prom stage: miners' self-reports against the validator's
//! exports and each miner's coverage (`prom_compare::compare`, recorded),
//! each miner's agreement ratio and coverage into the metrics.

use audit_service::{StageContext, StageError, StageOutcome};
use prom_compare::CompareOptions;

use crate::Shared;

/// compare-prom as of the clock's present.
pub(crate) struct ComparePromStage {
    shared: Shared,
    threshold: f64,
}

impl ComparePromStage {
    /// Flags agreement ratios below `threshold`.
    pub(crate) fn new(shared: Shared, threshold: f64) -> Self {
        ComparePromStage { shared, threshold }
    }

    async fn compare(&self, _: &StageContext) -> Result<StageOutcome, StageError> {
        let a = &self.shared;
        let at = crate::now(a.clock.as_ref()).await?;
        let run = prom_compare::compare(
            &a.store,
            &CompareOptions {
                at,
                threshold: self.threshold,
                validators: &a.validators,
                explain: None,
                now: chrono::Utc::now().naive_utc(),
            },
        )
        .await?;
        for m in &run.miners {
            self.shared
                .metrics
                .set_miner(&m.hotkey, m.agreement.ratio, m.coverage.seconds);
        }
        let s = run.summary;
        Ok(StageOutcome {
            new_data: false,
            summary: format!(
                "compare-prom run {}: {} miners, {} with full coverage, {} flagged below {}, {} without metrics",
                run.run_id, s.miners, s.full_coverage, s.flagged, self.threshold, s.no_metrics
            ),
        })
    }
}

crate::stage!(ComparePromStage, "compare-prom", compare);
