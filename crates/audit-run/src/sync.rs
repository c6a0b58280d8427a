//! The sync stage: `audit_sync::sync` as of the clock's present, then the
//! catalog's entry counts and the integrity violations into the metrics.

use std::collections::BTreeMap;

use audit_model::EntryState;
use audit_service::{StageContext, StageError, StageOutcome};
use audit_sync::{AuditSource, ChainSource, SyncOptions, SyncSummary};
use futures::future::BoxFuture;

use crate::metrics::AuditMetrics;
use crate::Auditor;

/// Loads every new entry that checks out against the chain.
pub(crate) struct SyncStage<A, C> {
    auditor: Auditor<A, C>,
    options: SyncOptions,
    metrics: AuditMetrics,
}

impl<A: AuditSource, C: ChainSource> SyncStage<A, C> {
    /// A sync with `options` (`at` is replaced by the clock at each run).
    pub(crate) fn new(auditor: Auditor<A, C>, options: SyncOptions, metrics: AuditMetrics) -> Self {
        SyncStage {
            auditor,
            options,
            metrics,
        }
    }

    async fn sync(&self) -> Result<StageOutcome, StageError> {
        let a = &self.auditor;
        let mut options = self.options.clone();
        options.at = crate::now(a.clock.as_ref()).await?;
        let summary = audit_sync::sync(
            a.store.clone(),
            a.source.clone(),
            a.chain.clone(),
            &options,
            |_, _, _| {},
        )
        .await?;
        for (source, count) in integrity_violations(&summary, &a.validators) {
            self.metrics.add_integrity_violations(source, count);
        }
        let catalog = a.store.catalog().summary().await?;
        let mut by_state: BTreeMap<EntryState, u64> =
            EntryState::ALL.iter().map(|s| (*s, 0)).collect();
        for count in &catalog.entries {
            *by_state.entry(count.state).or_default() += count.count;
        }
        for (state, count) in by_state {
            self.metrics.set_entries(state.as_str(), count);
        }
        Ok(StageOutcome {
            new_data: summary.loaded > 0 || summary.reverified > 0 || summary.pruned > 0,
            summary: line(&summary, options.at),
        })
    }
}

/// Rejections that failed a hash or commitment check, by who published
/// the entry (`validator` or `miner`), and chain reads outside an entry
/// that failed their proof (`chain`).
fn integrity_violations(summary: &SyncSummary, validators: &[String]) -> Vec<(&'static str, u64)> {
    let mut counts = BTreeMap::new();
    for r in summary.rejected.iter().filter(|r| r.integrity) {
        let source = if validators.contains(&r.hotkey) {
            "validator"
        } else {
            "miner"
        };
        *counts.entry(source).or_insert(0u64) += 1;
    }
    if !summary.chain_integrity.is_empty() {
        counts.insert("chain", summary.chain_integrity.len() as u64);
    }
    counts.into_iter().collect()
}

fn line(s: &SyncSummary, at: chrono::NaiveDateTime) -> String {
    let integrity = s.rejected.iter().filter(|r| r.integrity).count();
    let chain = match s.chain_integrity.len() {
        0 => String::new(),
        n => format!(", {n} chain read(s) failed the proof"),
    };
    format!(
        "synced at {}: {} listed, {} loaded, {} already loaded, {} unverifiable, {} rejected ({integrity} integrity), {} failed (retried), {} hours without an entry{chain}",
        at.format("%Y-%m-%d %H:%M"),
        s.listed,
        s.loaded,
        s.already_loaded,
        s.unverifiable,
        s.rejected.len(),
        s.failed.len(),
        s.gaps.len()
    )
}

// By hand, not `stage!`: the stage is generic over its sources.
impl<A, C> audit_service::Stage for SyncStage<A, C>
where
    A: AuditSource + 'static,
    C: ChainSource + 'static,
{
    fn name(&self) -> &str {
        "sync"
    }

    fn run<'a>(&'a self, _: &'a StageContext) -> BoxFuture<'a, Result<StageOutcome, StageError>> {
        Box::pin(self.sync())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_sync::{FaultKind, Rejection};

    fn rejection(hotkey: &str, integrity: bool) -> Rejection {
        Rejection {
            entry_id: "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
            hotkey: hotkey.into(),
            block: 1,
            reason: "report sha256 does not match the commitment".into(),
            kind: if integrity {
                FaultKind::Integrity
            } else {
                FaultKind::Malformed
            },
            integrity,
        }
    }

    #[test]
    fn only_integrity_rejections_count_and_by_publisher() {
        let summary = SyncSummary {
            rejected: vec![
                rejection("5Validator", true),
                rejection("5Miner", true),
                rejection("5Miner", true),
                rejection("5Validator", false),
            ],
            chain_integrity: vec!["the metagraph: Keys does not prove".into()],
            ..SyncSummary::default()
        };
        let counts = integrity_violations(&summary, &["5Validator".to_string()]);
        assert_eq!(counts, vec![("chain", 1), ("miner", 2), ("validator", 1)]);
    }
}
