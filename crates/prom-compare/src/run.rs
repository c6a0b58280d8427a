//! One compare-prom run end to end: read the window's entries from the
//! catalog, count in polars, apply the rules, record the run. The CLI,
//! the service loop and embedding validators all call [`compare`].

use std::collections::{BTreeMap, BTreeSet};

use audit_store::{AgreementResult, AgreementRun, EntryRecord, EntrySource, Store};
use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::counts::{Counts, EntryRef, MinerTotals};
use crate::rules::{self, Agreement, Coverage, EntrySpan, HourStatus, Verdict};
use crate::PromCompareError;

/// What one run needs besides the store.
#[derive(Debug, Clone)]
pub struct CompareOptions<'a> {
    /// The evaluation time: entries that started in the 169 hours before
    /// it count.
    pub at: NaiveDateTime,
    /// Ratios below this are flagged.
    pub threshold: f64,
    /// The validator hotkeys whose exports are the reference.
    pub validators: &'a [String],
    /// Also break this miner down by chute and by hour.
    pub explain: Option<&'a str>,
    /// The wall-clock time the run is recorded at.
    pub now: NaiveDateTime,
}

/// One miner's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerResult {
    /// The miner.
    pub hotkey: String,
    /// Its audit coverage.
    pub coverage: Coverage,
    /// Its self-reports against the validator's exports.
    pub agreement: Agreement,
}

/// The summary line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Miners seen in the validator's invocations.
    pub miners: usize,
    /// Of those, with full coverage.
    pub full_coverage: usize,
    /// Flagged for disagreeing.
    pub flagged: usize,
    /// Without reported metrics.
    pub no_metrics: usize,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The catalog's id of the run.
    pub run_id: i64,
    /// The evaluation time.
    pub evaluated_at: NaiveDateTime,
    /// The threshold ratios were flagged below.
    pub threshold: f64,
    /// Validator entries whose exports were read.
    pub validator_entries: usize,
    /// Miner self-reports that were read.
    pub miner_entries: usize,
    /// Every miner, worst agreement first.
    pub miners: Vec<MinerResult>,
    /// The counts of the summary line.
    pub summary: Summary,
    /// The breakdown of the miner asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// One chute of a miner's breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChuteLine {
    /// The chute.
    pub chute_id: String,
    /// The two counts for this chute.
    pub agreement: Agreement,
}

/// One hour of a miner's breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourLine {
    /// The hour's start.
    pub hour: NaiveDateTime,
    /// The validator's count; `None` when no validator export covers it.
    pub validator_count: Option<u64>,
    /// The miner's count; `None` when it reported nothing for the hour.
    pub reported_count: Option<u64>,
    /// min / max of the two.
    pub ratio: Option<f64>,
    /// Whether a Prometheus restart shows in the miner's report.
    pub restarted: bool,
    /// How the hour reads.
    pub status: HourStatus,
}

/// Where one miner's numbers differ: by chute and by hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The miner's line of the run.
    pub miner: MinerResult,
    /// Per chute, the chute with the largest validator count first.
    pub by_chute: Vec<ChuteLine>,
    /// Per hour of the window, oldest first.
    pub by_hour: Vec<HourLine>,
}

/// Runs the comparison as of `options.at` and records it in the catalog.
///
/// The polars work runs on tokio's blocking pool.
pub async fn compare(
    store: &Store,
    options: &CompareOptions<'_>,
) -> Result<Comparison, PromCompareError> {
    let threshold = rules::check_threshold(options.threshold)?;
    let at = options.at;
    let (validator_entries, miner_entries) = window_entries(store, at, options.validators).await?;
    let lake = store.lake().clone();
    let (v, m) = (refs(&validator_entries), refs(&miner_entries));
    let (counts, totals) = tokio::task::spawn_blocking(move || {
        let counts = Counts::read(&lake, &v, &m, None)?;
        let totals = counts.totals()?;
        Ok::<_, PromCompareError>((counts, totals))
    })
    .await??;
    let spans = spans_by_miner(&miner_entries);
    let miners = assess(&totals, &spans, at, threshold);
    let explanation = match options.explain {
        None => None,
        Some(hotkey) => {
            let miner = miners
                .iter()
                .find(|m| m.hotkey == hotkey)
                .cloned()
                .ok_or_else(|| PromCompareError::UnknownMiner {
                    hotkey: hotkey.to_string(),
                    at,
                })?;
            let restarts = restarted_hours(store, &miner_entries, hotkey);
            Some(explain(
                &counts,
                miner,
                &validator_entries,
                &miner_entries,
                &restarts,
                at,
                threshold,
            )?)
        }
    };
    let summary = summarise(&miners);
    let run_id = store
        .catalog()
        .record_agreement_run(&record(&miners, at, threshold, options.now))
        .await?;
    Ok(Comparison {
        run_id,
        evaluated_at: at,
        threshold,
        validator_entries: validator_entries.len(),
        miner_entries: miner_entries.len(),
        miners,
        summary,
        explanation,
    })
}

/// Loaded entries of the window, known at `at`: the listed validators'
/// and every miner's, oldest first.
pub(crate) async fn window_entries(
    store: &Store,
    at: NaiveDateTime,
    validators: &[String],
) -> Result<(Vec<EntryRecord>, Vec<EntryRecord>), PromCompareError> {
    // Entries are created after their hour: a day of margin on `created_at`.
    let from = rules::window_start(at) - Duration::days(1);
    let until = at + Duration::microseconds(1);
    let catalog = store.catalog();
    let keep = |e: &EntryRecord| rules::in_window(e.entry.start_time, at);
    let validator = catalog
        .loaded_entries(EntrySource::Validator, from, until)
        .await?
        .into_iter()
        .filter(|e| keep(e) && validators.contains(&e.entry.hotkey))
        .collect();
    let miner = catalog
        .loaded_entries(EntrySource::Miner, from, until)
        .await?
        .into_iter()
        .filter(keep)
        .collect();
    Ok((validator, miner))
}

pub(crate) fn refs(entries: &[EntryRecord]) -> Vec<EntryRef> {
    entries
        .iter()
        .map(|e| EntryRef {
            entry_id: e.entry.entry_id.clone(),
            hotkey: e.entry.hotkey.clone(),
            start: rules::hour_of(e.entry.start_time),
        })
        .collect()
}

fn spans_by_miner(entries: &[EntryRecord]) -> BTreeMap<String, Vec<EntrySpan>> {
    let mut out: BTreeMap<String, Vec<EntrySpan>> = BTreeMap::new();
    for e in entries {
        out.entry(e.entry.hotkey.clone())
            .or_default()
            .push(EntrySpan {
                start: e.entry.start_time,
                end: e.entry.end_time,
            });
    }
    out
}

/// Every miner's line from its totals and its entries' spans, worst
/// agreement first: lowest ratio first, miners without metrics last.
pub fn assess(
    totals: &[MinerTotals],
    spans: &BTreeMap<String, Vec<EntrySpan>>,
    at: NaiveDateTime,
    threshold: f64,
) -> Vec<MinerResult> {
    let mut miners: Vec<MinerResult> = totals
        .iter()
        .map(|t| MinerResult {
            hotkey: t.hotkey.clone(),
            coverage: rules::coverage(spans.get(&t.hotkey).map(Vec::as_slice).unwrap_or(&[]), at),
            agreement: rules::agreement(Some(t.validator_count), t.reported_count, threshold),
        })
        .collect();
    miners.sort_by(|a, b| {
        let key = |m: &MinerResult| m.agreement.ratio.unwrap_or(f64::INFINITY);
        key(a)
            .total_cmp(&key(b))
            .then_with(|| a.hotkey.cmp(&b.hotkey))
    });
    miners
}

/// The summary line of a run.
pub fn summarise(miners: &[MinerResult]) -> Summary {
    let count = |f: &dyn Fn(&MinerResult) -> bool| miners.iter().filter(|m| f(m)).count();
    Summary {
        miners: miners.len(),
        full_coverage: count(&|m| m.coverage.full),
        flagged: count(&|m| m.agreement.verdict == Verdict::Flagged),
        no_metrics: count(&|m| m.agreement.verdict == Verdict::NoMetrics),
    }
}

fn record(
    miners: &[MinerResult],
    at: NaiveDateTime,
    threshold: f64,
    now: NaiveDateTime,
) -> AgreementRun {
    AgreementRun {
        run_id: 0,
        evaluated_at: at,
        created_at: now,
        threshold,
        results: miners
            .iter()
            .map(|m| AgreementResult {
                hotkey: m.hotkey.clone(),
                coverage_seconds: m.coverage.seconds,
                validator_count: m.agreement.validator_count,
                reported_count: m.agreement.reported_count,
                ratio: m.agreement.ratio,
                flagged: m.agreement.verdict == Verdict::Flagged,
                note: (m.agreement.verdict == Verdict::NoMetrics)
                    .then(|| Verdict::NoMetrics.label().to_string()),
                missing_hours: m.coverage.missing_hours.clone(),
            })
            .collect(),
    }
}

/// The hours whose self-report says Prometheus did not run the whole hour
/// (its `prometheus_message`, kept in the raw report in the lake). A
/// report that cannot be read says nothing.
fn restarted_hours(
    store: &Store,
    miner_entries: &[EntryRecord],
    hotkey: &str,
) -> BTreeSet<NaiveDateTime> {
    miner_entries
        .iter()
        .filter(|e| e.entry.hotkey == hotkey)
        .filter(|e| {
            let Ok(path) = store.lake().report_path(&e.entry.entry_id) else {
                return false;
            };
            std::fs::read(path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .and_then(|v| v.get("prometheus_message")?.as_str().map(says_restarted))
                .unwrap_or(false)
        })
        .map(|e| rules::hour_of(e.entry.start_time))
        .collect()
}

/// Whether a report's `prometheus_message` admits Prometheus did not run
/// the whole slice (upstream's words when it did: "Prometheus has been
/// running the entire audit time slice.").
pub(crate) fn says_restarted(message: &str) -> bool {
    !message.contains("entire audit time slice")
}

/// One miner's breakdown by chute and by hour.
fn explain(
    counts: &Counts,
    miner: MinerResult,
    validator_entries: &[EntryRecord],
    miner_entries: &[EntryRecord],
    restarts: &BTreeSet<NaiveDateTime>,
    at: NaiveDateTime,
    threshold: f64,
) -> Result<Explanation, PromCompareError> {
    let reported_any = miner.agreement.reported_count.is_some();
    let mut by_chute: Vec<ChuteLine> = counts
        .by_chute(&miner.hotkey)?
        .into_iter()
        .map(|(chute_id, (v, r))| ChuteLine {
            chute_id,
            agreement: rules::agreement(
                Some(v),
                if reported_any {
                    Some(r.unwrap_or(0))
                } else {
                    None
                },
                threshold,
            ),
        })
        .collect();
    by_chute.sort_by(|a, b| {
        b.agreement
            .validator_count
            .cmp(&a.agreement.validator_count)
            .then_with(|| a.chute_id.cmp(&b.chute_id))
    });
    let hours = counts.by_hour(&miner.hotkey)?;
    let exported: BTreeSet<NaiveDateTime> = validator_entries
        .iter()
        .map(|e| rules::hour_of(e.entry.start_time))
        .collect();
    let reported: BTreeSet<NaiveDateTime> = miner_entries
        .iter()
        .filter(|e| e.entry.hotkey == miner.hotkey)
        .map(|e| rules::hour_of(e.entry.start_time))
        .collect();
    let mut slots: BTreeSet<NaiveDateTime> = rules::expected_hours(at).into_iter().collect();
    slots.extend(exported.iter().chain(&reported));
    let by_hour = slots
        .into_iter()
        .map(|hour| {
            let validator = exported
                .contains(&hour)
                .then(|| hours.validator.get(&hour).copied().unwrap_or(0));
            let reported_count = reported
                .contains(&hour)
                .then(|| hours.reported.get(&hour).copied().unwrap_or(0));
            let restarted = restarts.contains(&hour) || hours.negative.contains(&hour);
            HourLine {
                hour,
                validator_count: validator,
                reported_count,
                ratio: rules::agreement(validator, reported_count, threshold).ratio,
                restarted,
                status: rules::hour_status(validator, reported_count, restarted, threshold),
            }
        })
        .collect();
    Ok(Explanation {
        miner,
        by_chute,
        by_hour,
    })
}
