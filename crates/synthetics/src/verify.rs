//! The completeness check (the end of docs/spec/incentives.md): a recorded
//! synthetic is *missing* when no exported invocation has its child id,
//! and *rerouted* when the exported row names another miner. Only
//! synthetics created before the start of the newest loaded validator
//! entry are judged: later ones may not be exported yet.
//!
//! The lookup is a polars join of the recorded ids against the lake's
//! invocation facts of every loaded validator entry; the judging is pure.

use std::collections::{BTreeMap, BTreeSet};

use audit_store::{facts, EntrySource, FactTable, Store, Synthetic, SyntheticCheck};
use chrono::NaiveDateTime;
use polars::prelude::*;
use serde::Serialize;

use crate::SynthError;

/// A synthetic the exports do not hold as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `missing` or `rerouted`.
    pub verdict: SyntheticCheck,
    /// The task type.
    pub task: String,
    /// The chute.
    pub chute_id: String,
    /// The request's invocation id.
    pub parent_invocation_id: String,
    /// The attempt's invocation id.
    pub invocation_id: String,
    /// The instance the router named.
    pub instance_id: String,
    /// The miner the router named.
    pub expected_hotkey: String,
    /// Its uid, as the trace gave it.
    pub expected_uid: Option<u16>,
    /// The miner(s) the export names instead; empty when missing.
    pub found_hotkeys: Vec<String>,
    /// When the attempt was made.
    pub created_at: NaiveDateTime,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The evaluation time.
    pub at: NaiveDateTime,
    /// The start of the newest loaded validator entry: synthetics before
    /// it were judged. `None` when no validator entry is loaded.
    pub covered_until: Option<NaiveDateTime>,
    /// Synthetics judged.
    pub checked: usize,
    /// Of those, found under the same miner.
    pub present: usize,
    /// The newest judged synthetic's time.
    pub newest_checked: Option<NaiveDateTime>,
    /// Recorded synthetics too new to judge.
    pub pending: usize,
    /// Missing and rerouted attempts, oldest first.
    pub findings: Vec<Finding>,
}

impl Verification {
    /// Whether every judged attempt was found under its miner.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The verdict on one synthetic, given the hotkeys the exports name for
/// its invocation id.
pub fn judge(synthetic: &Synthetic, exported: Option<&BTreeSet<String>>) -> SyntheticCheck {
    match exported {
        None => SyntheticCheck::Missing,
        Some(hotkeys) if hotkeys.contains(&synthetic.miner_hotkey) => SyntheticCheck::Present,
        Some(_) => SyntheticCheck::Rerouted,
    }
}

/// Checks every synthetic recorded before the start of the newest
/// validator entry loaded by `at` (of `validators`; all when empty),
/// stores each verdict, and returns the findings.
pub async fn verify(
    store: &Store,
    validators: &[String],
    at: NaiveDateTime,
) -> Result<Verification, SynthError> {
    let epoch = NaiveDateTime::default();
    let until = at + chrono::Duration::microseconds(1);
    let entries: Vec<_> = store
        .catalog()
        .loaded_entries(EntrySource::Validator, epoch, until)
        .await?
        .into_iter()
        .filter(|e| validators.is_empty() || validators.contains(&e.entry.hotkey))
        .collect();
    let covered_until = entries.iter().map(|e| e.entry.start_time).max();
    let recorded = store.catalog().synthetics_between(epoch, until).await?;
    let (judged, pending): (Vec<Synthetic>, Vec<Synthetic>) = recorded
        .into_iter()
        .partition(|s| covered_until.is_some_and(|c| s.created_at < c));
    let ids: Vec<String> = entries.iter().map(|e| e.entry.entry_id.clone()).collect();
    let exported = exported_hotkeys(store, &ids, &judged)?;

    let mut findings = Vec::new();
    let mut present = 0;
    for s in &judged {
        let found = exported.get(&s.invocation_id);
        let verdict = judge(s, found);
        store
            .catalog()
            .set_synthetic_check(&s.invocation_id, verdict, at)
            .await?;
        if verdict == SyntheticCheck::Present {
            present += 1;
            continue;
        }
        findings.push(Finding {
            verdict,
            task: s.task.clone(),
            chute_id: s.chute_id.clone(),
            parent_invocation_id: s.parent_invocation_id.clone(),
            invocation_id: s.invocation_id.clone(),
            instance_id: s.instance_id.clone(),
            expected_hotkey: s.miner_hotkey.clone(),
            expected_uid: s.miner_uid,
            found_hotkeys: found
                .map(|h| h.iter().cloned().collect())
                .unwrap_or_default(),
            created_at: s.created_at,
        });
    }
    Ok(Verification {
        at,
        covered_until,
        checked: judged.len(),
        present,
        newest_checked: judged.iter().map(|s| s.created_at).max(),
        pending: pending.len(),
        findings,
    })
}

/// The miner hotkeys the exports name per synthetic invocation id: an
/// inner join of the ids against the entries' invocation facts.
fn exported_hotkeys(
    store: &Store,
    entry_ids: &[String],
    synthetics: &[Synthetic],
) -> Result<BTreeMap<String, BTreeSet<String>>, SynthError> {
    use facts::invocations::{INVOCATION_ID, MINER_HOTKEY};
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if synthetics.is_empty() {
        return Ok(out);
    }
    let Some(scan) = store.lake().scan(entry_ids, FactTable::Invocations)? else {
        return Ok(out);
    };
    let ids: Vec<&str> = synthetics
        .iter()
        .map(|s| s.invocation_id.as_str())
        .collect();
    let wanted = df!(INVOCATION_ID => ids).map_err(SynthError::Lake)?.lazy();
    let found = scan
        .select([col(INVOCATION_ID), col(MINER_HOTKEY)])
        .join(
            wanted,
            [col(INVOCATION_ID)],
            [col(INVOCATION_ID)],
            JoinArgs::new(JoinType::Inner),
        )
        .collect()
        .map_err(SynthError::Lake)?;
    let id = found
        .column(INVOCATION_ID)
        .and_then(|c| c.str().cloned())
        .map_err(SynthError::Lake)?;
    let hotkey = found
        .column(MINER_HOTKEY)
        .and_then(|c| c.str().cloned())
        .map_err(SynthError::Lake)?;
    for (id, hotkey) in id.iter().zip(hotkey.iter()) {
        if let Some(id) = id {
            let hotkeys = out.entry(id.to_string()).or_default();
            // A row without a hotkey is still the attempt, under no miner.
            hotkeys.insert(hotkey.unwrap_or_default().to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(hotkey: &str) -> Synthetic {
        Synthetic {
            invocation_id: "c1".into(),
            parent_invocation_id: "p1".into(),
            task: "chat".into(),
            chute_id: "ch".into(),
            instance_id: "i1".into(),
            miner_uid: Some(1),
            miner_hotkey: hotkey.into(),
            created_at: NaiveDateTime::default(),
            has_error: false,
            check: SyntheticCheck::Pending,
            checked_at: None,
        }
    }

    #[test]
    fn missing_rerouted_and_present_follow_the_rule() {
        let s = synthetic("5A");
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(judge(&s, None), SyntheticCheck::Missing);
        assert_eq!(judge(&s, Some(&set(&["5B"]))), SyntheticCheck::Rerouted);
        assert_eq!(judge(&s, Some(&set(&["5A"]))), SyntheticCheck::Present);
        // The same attempt in two hours' exports (a straddling row) under
        // its own miner is present.
        assert_eq!(
            judge(&s, Some(&set(&["5A", "5B"]))),
            SyntheticCheck::Present
        );
    }
}
