//! What `compare-prom` shows: the miners' agreement and coverage, one
//! miner's explanation by chute and hour, and the live comparison.

use chrono::NaiveDateTime;
use prom_compare::{
    Agreement, Comparison, Explanation, HourLine, HourStatus, LiveComparison, MinerResult,
};

use crate::output;

fn count(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn ratio(a: &Agreement) -> String {
    a.ratio
        .map(|r| format!("{r:.4}"))
        .unwrap_or_else(|| "-".into())
}

fn hour(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:00").to_string()
}

/// The missing hours, the first few named.
fn missing(m: &MinerResult) -> String {
    let hours = &m.coverage.missing_hours;
    if hours.is_empty() {
        return "none".into();
    }
    let named: Vec<String> = hours.iter().take(3).map(|&h| hour(h)).collect();
    let more = if hours.len() > 3 { ", …" } else { "" };
    format!("{}: {}{more}", hours.len(), named.join(", "))
}

/// The summary line.
pub fn summary_line(run: &Comparison) -> String {
    let s = &run.summary;
    format!(
        "{} miners checked, {} with full coverage, {} flagged (agreement < {}), {} with no reported metrics\n",
        s.miners, s.full_coverage, s.flagged, run.threshold, s.no_metrics
    )
}

/// The table, worst agreement first, and the summary line.
pub fn render(run: &Comparison) -> String {
    let mut out = format!(
        "compare-prom run {} at {}: {} validator entries, {} miner self-reports\n",
        run.run_id,
        run.evaluated_at.format("%Y-%m-%d %H:%M:%S"),
        run.validator_entries,
        run.miner_entries
    );
    let mut table = output::table([
        "hotkey",
        "validator",
        "reported",
        "ratio",
        "",
        "coverage s",
        "missing hours",
    ]);
    for m in &run.miners {
        let a = &m.agreement;
        let full = if m.coverage.full { " (full)" } else { "" };
        table.add_row([
            m.hotkey.clone(),
            count(a.validator_count),
            count(a.reported_count),
            ratio(a),
            a.verdict.label().to_string(),
            format!("{}{full}", m.coverage.seconds),
            missing(m),
        ]);
    }
    output::align_right(&mut table, &[1, 2, 3, 5]);
    out.push_str(&format!("{table}\n"));
    out.push_str(&summary_line(run));
    out
}

fn hour_table(hours: &[&HourLine]) -> output::Table {
    let mut table = output::table(["hour", "validator", "reported", "ratio", "status"]);
    for h in hours {
        table.add_row([
            hour(h.hour),
            count(h.validator_count),
            count(h.reported_count),
            h.ratio
                .map(|r| format!("{r:.4}"))
                .unwrap_or_else(|| "-".into()),
            h.status.label().to_string(),
        ]);
    }
    output::align_right(&mut table, &[1, 2, 3]);
    table
}

/// Where one miner's numbers differ: by chute, then the hours that do not
/// agree.
pub fn render_explanation(e: &Explanation, threshold: f64) -> String {
    let m = &e.miner;
    let a = &m.agreement;
    let mut out = format!(
        "miner {}: validator {} vs reported {}, ratio {} ({}, threshold {threshold})\n",
        m.hotkey,
        count(a.validator_count),
        count(a.reported_count),
        ratio(a),
        a.verdict.label(),
    );
    out.push_str(&format!(
        "coverage: {} s{}; missing hours: {}\n",
        m.coverage.seconds,
        if m.coverage.full { " (full)" } else { "" },
        missing(m)
    ));
    let mut chutes = output::table(["chute", "validator", "reported", "ratio", ""]);
    for c in &e.by_chute {
        chutes.add_row([
            c.chute_id.clone(),
            count(c.agreement.validator_count),
            count(c.agreement.reported_count),
            ratio(&c.agreement),
            c.agreement.verdict.label().to_string(),
        ]);
    }
    output::align_right(&mut chutes, &[1, 2, 3]);
    out.push_str(&format!("by chute:\n{chutes}\n"));
    out.push_str(&hours_section(&e.by_hour));
    out
}

/// The hours that do not agree, and how many do.
fn hours_section(hours: &[HourLine]) -> String {
    let off: Vec<&HourLine> = hours
        .iter()
        .filter(|h| h.status != HourStatus::Agrees)
        .collect();
    let agreeing = hours.len() - off.len();
    let mut out = format!(
        "by hour: {agreeing} of {} hours agree{}\n",
        hours.len(),
        if off.is_empty() { "" } else { "; the others:" }
    );
    if !off.is_empty() {
        out.push_str(&format!("{}\n", hour_table(&off)));
    }
    out
}

/// Live mode: the miner's Prometheus against the exports, hour by hour.
pub fn render_live(live: &LiveComparison) -> String {
    let a = &live.agreement;
    let mut out = format!(
        "miner {} live: Prometheus at {} against the validator's exports at {}\n",
        live.hotkey,
        live.prometheus_url,
        live.evaluated_at.format("%Y-%m-%d %H:%M:%S")
    );
    out.push_str(&format!(
        "validator {} vs Prometheus {}, ratio {} ({})\n",
        count(a.validator_count),
        count(a.reported_count),
        ratio(a),
        a.verdict.label()
    ));
    out.push_str(&hours_section(&live.hours));
    out.push_str(&format!(
        "{} hours differ, {} hours with a Prometheus restart\n",
        live.differing_hours.len(),
        live.restarted_hours.len()
    ));
    out
}
