//! [`gather`]: reads what the page needs from the catalog (I/O at the
//! edge), then [`assemble`]s it (pure: the same records and time give the
//! same [`ReportData`]).

use std::collections::{BTreeMap, BTreeSet};

use audit_store::{
    AgreementRun, EntryRecord, EntrySource, EntryState, MetagraphSnapshot, Store,
    SubmissionOutcome, Synthetic, SyntheticCheck, WeightsRun, WeightsSubmissionRecord,
};
use chrono::{DurationRound, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::data::*;
use crate::ReportError;

/// How far back the Δ history reaches: a month of runs shows a trend
/// without the page growing with the catalog's age.
pub const HISTORY_DAYS: i64 = 30;

/// The most hours the coverage grid and the gap count span, whatever the
/// configured window: a page stays a page.
pub const MAX_GRID_HOURS: i64 = 31 * 24;

/// The few settings the catalog does not record with its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The scoring window in days (the profile's `window_days`).
    pub window_days: u32,
    /// The subnet whose metagraph gives the chain's incentive.
    pub netuid: u16,
    /// Deltas above this are flagged (the profile's `delta_flag`).
    pub delta_flag: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window_days: 7,
            netuid: 64,
            delta_flag: 0.03,
        }
    }
}

/// The catalog's records the page is built from.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Entries of every state and source created in the window.
    pub entries: Vec<EntryRecord>,
    /// Weights runs of the history, without miner lines, oldest first.
    pub run_heads: Vec<WeightsRun>,
    /// The newest of them with its miner lines.
    pub run: Option<WeightsRun>,
    /// Every attempt to send those runs as weights, oldest first.
    pub submissions: Vec<WeightsSubmissionRecord>,
    /// The metagraph at the evaluation time.
    pub metagraph: Option<MetagraphSnapshot>,
    /// The newest compare-prom run at or before the evaluation time.
    pub agreement: Option<AgreementRun>,
    /// Synthetic attempts of the window.
    pub synthetics: Vec<Synthetic>,
}

/// Reads the catalog as of `at` and assembles the page's data.
pub async fn gather(
    store: &Store,
    at: NaiveDateTime,
    settings: &Settings,
) -> Result<ReportData, ReportError> {
    let catalog = store.catalog();
    let from = window_from(at, settings);
    let until = back(at, TimeDelta::microseconds(-1));
    let entries = catalog
        .entries_in_states(EntryState::ALL, from)
        .await?
        .into_iter()
        .filter(|e| e.entry.created_at <= at)
        .collect();
    let run_heads = catalog
        .weights_run_heads(back(at, TimeDelta::days(HISTORY_DAYS)), at)
        .await?;
    let run = match run_heads.last() {
        Some(head) => catalog.weights_run(head.run_id).await?,
        None => None,
    };
    let run_ids: Vec<i64> = run_heads.iter().map(|r| r.run_id).collect();
    let submissions = catalog.weights_submissions_of_runs(&run_ids).await?;
    let records = Records {
        entries,
        run,
        run_heads,
        submissions,
        metagraph: catalog.metagraph_at(settings.netuid, at).await?,
        agreement: catalog
            .latest_agreement_run()
            .await?
            .filter(|r| r.evaluated_at <= at),
        synthetics: catalog.synthetics_between(from, until).await?,
    };
    Ok(assemble(&records, at, settings))
}

/// `at - span`, saturating at the calendar's ends instead of panicking
/// on a hostile `--at` or window.
fn back(at: NaiveDateTime, span: TimeDelta) -> NaiveDateTime {
    at.checked_sub_signed(span)
        .unwrap_or(if span > TimeDelta::zero() {
            NaiveDateTime::MIN
        } else {
            NaiveDateTime::MAX
        })
}

fn window_from(at: NaiveDateTime, settings: &Settings) -> NaiveDateTime {
    audit_store::time::window_start(at, settings.window_days.max(1))
}

/// Builds the page's data from the catalog's records: pure.
pub fn assemble(records: &Records, at: NaiveDateTime, settings: &Settings) -> ReportData {
    let from = window_from(at, settings);
    let window_hours = hour_grid(from.max(back(at, TimeDelta::hours(MAX_GRID_HOURS))), at);
    let validator_cover = hours_covered(&window_hours, records.loaded(EntrySource::Validator));
    let miner_entries: Vec<&EntryRecord> = records.loaded(EntrySource::Miner).collect();
    // The grid starts at the first hour anything covers: a young catalog
    // should not show days of empty columns.
    let first = validator_cover
        .iter()
        .position(|s| *s > 0)
        .into_iter()
        .chain(
            miner_entries
                .iter()
                .filter_map(|e| first_hour(&window_hours, e)),
        )
        .min()
        .unwrap_or(window_hours.len());
    let coverage_hours = window_hours.get(first..).unwrap_or_default().to_vec();
    ReportData {
        evaluated_at: at,
        window_from: from,
        netuid: settings.netuid,
        headline: headline(records, &window_hours, &validator_cover),
        run: records.run.as_ref().map(|r| RunInfo {
            run_id: r.run_id,
            evaluated_at: r.evaluated_at,
            profile_name: r.profile_name.clone(),
            profile_version: r.profile_version,
            sum_abs_delta: r.sum_abs_delta,
            max_delta: r.max_delta,
            delta_flag: settings.delta_flag,
        }),
        history: records
            .run_heads
            .iter()
            .map(|r| HistoryPoint {
                run_id: r.run_id,
                evaluated_at: r.evaluated_at,
                sum_abs_delta: r.sum_abs_delta,
                max_delta: r.max_delta,
            })
            .collect(),
        agreement: records.agreement.as_ref().map(|a| AgreementInfo {
            run_id: a.run_id,
            evaluated_at: a.evaluated_at,
            threshold: a.threshold,
        }),
        synthetics: task_tallies(&records.synthetics),
        synthetic_findings: findings(&records.synthetics),
        submissions: submissions(&records.run_heads, &records.submissions),
        miners: miners(records, &coverage_hours, &miner_entries, settings),
        coverage_hours,
    }
}

impl Records {
    fn loaded(&self, source: EntrySource) -> impl Iterator<Item = &EntryRecord> {
        self.entries
            .iter()
            .filter(move |e| e.state == EntryState::Loaded && e.entry.source == source)
    }
}

/// The hour starts of `(from, at]`'s whole hours, oldest first.
fn hour_grid(from: NaiveDateTime, at: NaiveDateTime) -> Vec<NaiveDateTime> {
    let hour = TimeDelta::hours(1);
    let Ok(mut h) = from.duration_trunc(hour) else {
        return Vec::new();
    };
    let mut hours = Vec::new();
    if h < from {
        let Some(next) = h.checked_add_signed(hour) else {
            return hours;
        };
        h = next;
    }
    while let Some(end) = h.checked_add_signed(hour).filter(|end| *end <= at) {
        hours.push(h);
        h = end;
    }
    hours
}

/// Seconds of `[h, h + 1 h)` inside `[start, end)`.
fn overlap(h: NaiveDateTime, start: NaiveDateTime, end: NaiveDateTime) -> u32 {
    let lo = h.max(start);
    let hi = (h + TimeDelta::hours(1)).min(end);
    u32::try_from((hi - lo).num_seconds()).unwrap_or(0)
}

/// Seconds of each hour covered by the entries (overlaps not counted twice).
fn hours_covered<'a>(
    hours: &[NaiveDateTime],
    entries: impl Iterator<Item = &'a EntryRecord>,
) -> Vec<u32> {
    let mut covered = vec![0u32; hours.len()];
    for e in entries {
        for (h, seconds) in hours.iter().zip(covered.iter_mut()) {
            let s = overlap(*h, e.entry.start_time, e.entry.end_time);
            *seconds = (*seconds + s).min(3600);
        }
    }
    covered
}

fn first_hour(hours: &[NaiveDateTime], e: &EntryRecord) -> Option<usize> {
    hours
        .iter()
        .position(|h| overlap(*h, e.entry.start_time, e.entry.end_time) > 0)
}

fn headline(records: &Records, hours: &[NaiveDateTime], validator_cover: &[u32]) -> Headline {
    let count =
        |f: &dyn Fn(&EntryRecord) -> bool| records.entries.iter().filter(|e| f(e)).count() as u64;
    let first = validator_cover.iter().position(|s| *s > 0);
    let last = validator_cover.iter().rposition(|s| *s > 0);
    let hour_gaps = match (first, last) {
        (Some(first), Some(last)) => (first..=last)
            .filter(|i| validator_cover.get(*i) == Some(&0))
            .filter_map(|i| hours.get(i).copied())
            .collect(),
        _ => Vec::new(),
    };
    Headline {
        verified: count(&|e: &EntryRecord| {
            matches!(e.state, EntryState::Verified | EntryState::Loaded) && !e.unverifiable
        }),
        unverifiable: count(&|e: &EntryRecord| {
            e.unverifiable || e.state == EntryState::Unverifiable
        }),
        rejected: count(&|e: &EntryRecord| e.state == EntryState::Rejected),
        pending: count(&|e: &EntryRecord| e.state == EntryState::Pending),
        validator_hours: validator_cover.iter().filter(|s| **s > 0).count() as u64,
        hour_gaps,
        integrity_violations: records
            .entries
            .iter()
            .filter(|e| e.state == EntryState::Rejected)
            .filter_map(|e| {
                let reason = e.reject_reason.as_deref()?;
                reason.starts_with("integrity").then(|| Violation {
                    entry_id: e.entry.entry_id.clone(),
                    hotkey: e.entry.hotkey.clone(),
                    created_at: e.entry.created_at,
                    reason: reason.to_string(),
                })
            })
            .collect(),
    }
}

fn tally(tally: &mut TaskTally, s: &Synthetic) {
    match s.check {
        SyntheticCheck::Present => tally.present += 1,
        SyntheticCheck::Missing => tally.missing += 1,
        SyntheticCheck::Rerouted => tally.rerouted += 1,
        SyntheticCheck::Pending => tally.pending += 1,
    }
    if s.has_error {
        tally.errors += 1;
    }
}

fn task_tallies(synthetics: &[Synthetic]) -> Vec<TaskTally> {
    let mut by_task: BTreeMap<&str, TaskTally> = BTreeMap::new();
    for s in synthetics {
        let t = by_task.entry(&s.task).or_insert_with(|| TaskTally {
            task: s.task.clone(),
            ..TaskTally::default()
        });
        tally(t, s);
    }
    by_task.into_values().collect()
}

fn findings(synthetics: &[Synthetic]) -> Vec<SyntheticFinding> {
    synthetics
        .iter()
        .filter(|s| matches!(s.check, SyntheticCheck::Missing | SyntheticCheck::Rerouted))
        .map(|s| SyntheticFinding {
            task: s.task.clone(),
            chute_id: s.chute_id.clone(),
            parent_invocation_id: s.parent_invocation_id.clone(),
            invocation_id: s.invocation_id.clone(),
            expected_hotkey: s.miner_hotkey.clone(),
            check: s.check.to_string(),
            created_at: s.created_at,
        })
        .collect()
}

fn submissions(runs: &[WeightsRun], attempts: &[WeightsSubmissionRecord]) -> Vec<Submission> {
    let evaluated: BTreeMap<i64, NaiveDateTime> =
        runs.iter().map(|r| (r.run_id, r.evaluated_at)).collect();
    attempts
        .iter()
        .filter_map(|s| {
            Some(Submission {
                run_id: s.run_id,
                evaluated_at: *evaluated.get(&s.run_id)?,
                attempted_at: s.attempted_at,
                call: s.call.map(|c| c.as_str().to_string()),
                outcome: s.outcome.as_str().to_string(),
                reason: s.reason.clone(),
                block: s.block,
                extrinsic_hash: s.extrinsic_hash.clone(),
                reveal_round: s.reveal_round,
                revealed: match s.outcome {
                    SubmissionOutcome::Revealed => Some(true),
                    SubmissionOutcome::Dropped => Some(false),
                    _ => None,
                },
                miners: s.vector.len(),
            })
        })
        .collect()
}

/// The chain's share of each hotkey: incentive over the total.
fn chain_shares(metagraph: Option<&MetagraphSnapshot>) -> BTreeMap<&str, (u16, f64)> {
    let Some(m) = metagraph else {
        return BTreeMap::new();
    };
    let total: f64 = m.neurons.iter().map(|n| f64::from(n.incentive)).sum();
    m.neurons
        .iter()
        .map(|n| {
            let share = if total > 0.0 {
                f64::from(n.incentive) / total
            } else {
                0.0
            };
            (n.hotkey.as_str(), (n.uid, share))
        })
        .collect()
}

fn explain(m: &audit_store::MinerScore, run: &WeightsRun) -> Explain {
    let penalised_by = m
        .penalised
        .then(|| {
            run.miners
                .iter()
                .find(|o| o.coldkey.is_some() && o.coldkey == m.coldkey && !o.penalised)
                .map(|o| o.hotkey.clone())
        })
        .flatten();
    Explain {
        raw: m.raw.clone(),
        normalised: m.normalised.clone(),
        pre_score: m.pre_score,
        penalised: m.penalised,
        penalised_by,
    }
}

fn miners(
    records: &Records,
    hours: &[NaiveDateTime],
    miner_entries: &[&EntryRecord],
    settings: &Settings,
) -> Vec<MinerReport> {
    let chain = chain_shares(records.metagraph.as_ref());
    let scored: BTreeMap<&str, &audit_store::MinerScore> = records
        .run
        .iter()
        .flat_map(|r| &r.miners)
        .map(|m| (m.hotkey.as_str(), m))
        .collect();
    let agreement: BTreeMap<&str, &audit_store::AgreementResult> = records
        .agreement
        .iter()
        .flat_map(|a| &a.results)
        .map(|r| (r.hotkey.as_str(), r))
        .collect();
    // Everyone the page can say something about; validators (no score,
    // no incentive, no self-report) stay out.
    let mut hotkeys: BTreeSet<&str> = scored.keys().copied().collect();
    hotkeys.extend(chain.iter().filter(|(_, (_, s))| *s > 0.0).map(|(h, _)| *h));
    hotkeys.extend(agreement.keys().copied());
    hotkeys.extend(miner_entries.iter().map(|e| e.entry.hotkey.as_str()));
    hotkeys.extend(records.synthetics.iter().map(|s| s.miner_hotkey.as_str()));

    let mut out: Vec<MinerReport> = hotkeys
        .into_iter()
        .map(|hotkey| {
            let m = scored.get(hotkey).copied();
            let on_chain = chain.get(hotkey).copied();
            let score = m.map(|m| m.score);
            let chain_share = m.and_then(|m| m.chain_share).or(on_chain.map(|c| c.1));
            let delta = match (m.and_then(|m| m.delta), score, chain_share) {
                (Some(d), _, _) => Some(d),
                (None, Some(s), Some(c)) => Some((s - c).abs()),
                (None, None, Some(c)) if c > 0.0 => Some(c),
                _ => None,
            };
            let mut synthetics = TaskTally {
                task: "all".into(),
                ..TaskTally::default()
            };
            for s in records
                .synthetics
                .iter()
                .filter(|s| s.miner_hotkey == hotkey)
            {
                tally(&mut synthetics, s);
            }
            let own = miner_entries
                .iter()
                .copied()
                .filter(|e| e.entry.hotkey == hotkey);
            MinerReport {
                hotkey: hotkey.to_string(),
                uid: m.and_then(|m| m.uid).or(on_chain.map(|c| c.0)),
                coldkey: m.and_then(|m| m.coldkey.clone()).or_else(|| {
                    let n = records.metagraph.as_ref()?;
                    n.neurons
                        .iter()
                        .find(|n| n.hotkey == hotkey)
                        .map(|n| n.coldkey.clone())
                }),
                score,
                chain_share,
                delta,
                flagged: delta.is_some_and(|d| d > settings.delta_flag),
                explain: m.zip(records.run.as_ref()).map(|(m, r)| explain(m, r)),
                coverage: hours_covered(hours, own),
                agreement: agreement.get(hotkey).map(|a| AgreementLine {
                    coverage_seconds: a.coverage_seconds,
                    validator_count: a.validator_count,
                    reported_count: a.reported_count,
                    ratio: a.ratio,
                    flagged: a.flagged,
                    note: a.note.clone(),
                }),
                synthetics,
            }
        })
        .collect();
    let key = |v: Option<f64>| v.filter(|v| v.is_finite()).unwrap_or(-1.0);
    out.sort_by(|a, b| {
        key(b.score)
            .total_cmp(&key(a.score))
            .then(key(b.chain_share).total_cmp(&key(a.chain_share)))
            .then_with(|| a.hotkey.cmp(&b.hotkey))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_s_ends_do_not_panic() {
        let settings = Settings {
            window_days: u32::MAX,
            ..Settings::default()
        };
        for at in [NaiveDateTime::MIN, NaiveDateTime::MAX] {
            let data = assemble(&Records::default(), at, &settings);
            assert!(data.coverage_hours.len() <= MAX_GRID_HOURS as usize);
        }
        let at = chrono::NaiveDate::from_ymd_opt(2025, 2, 10)
            .and_then(|d| d.and_hms_opt(12, 30, 0))
            .unwrap_or_default();
        let grid = hour_grid(back(at, TimeDelta::hours(3)), at);
        // Whole hours only: 10:00 and 11:00 (09:30–10:00 and 12:00–12:30 are partial).
        assert_eq!(grid.len(), 2);
    }
}
