//! Chart geometry: scales, ticks and shapes computed from the data, so the
//! SVG templates only place what is computed here. Pure; every number that
//! reaches a template is finite (a NaN from the catalog draws as zero and
//! is labelled "—" by the text).

use chrono::{NaiveDateTime, Timelike};
use serde::Serialize;

use crate::data::{HistoryPoint, MinerReport, ReportData, TaskTally};
use crate::format::{anchor, num, short_hotkey};

/// Width of the bar charts' view box: narrow, so text stays legible when
/// a phone scales the chart to its screen.
pub const WIDTH: f64 = 440.0;
/// Width of the label column of row charts.
const LABEL: f64 = 118.0;
/// Room right of the bars for the value.
const VALUE: f64 = 56.0;

/// Rounds a finite value to two decimals for compact SVG.
fn r2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

fn finite(v: Option<f64>) -> f64 {
    v.filter(|v| v.is_finite() && *v > 0.0).unwrap_or(0.0)
}

/// A "nice" upper bound (1, 2, 4, 5, 6 or 8 × 10ⁿ) at or above `max`,
/// so the quarter ticks read as round numbers.
pub fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    // Divide by a power of ten rather than multiply by its inverse, so 0.6
    // is 0.6 and not 0.6000000000000001.
    let exp = max.log10().floor() as i32;
    let scaled = |step: f64| {
        if exp < 0 {
            step / 10f64.powi(-exp)
        } else {
            step * 10f64.powi(exp)
        }
    };
    for step in [1.0, 2.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if scaled(step) >= max * 0.999_999 {
            return scaled(step);
        }
    }
    scaled(10.0)
}

/// A gridline and its label.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    /// Position along the axis, in view-box units.
    pub pos: f64,
    /// The label.
    pub label: String,
}

fn ticks(max: f64, x0: f64, span: f64, label: impl Fn(f64) -> String) -> Vec<Tick> {
    (0..=4)
        .map(|i| {
            let v = max * f64::from(i) / 4.0;
            Tick {
                pos: r2(x0 + span * f64::from(i) / 4.0),
                label: label(v),
            }
        })
        .collect()
}

fn pct(v: f64) -> String {
    let p = v * 100.0;
    if !p.is_finite() {
        "—".into()
    } else if p == 0.0 {
        "0%".into()
    } else if p < 1.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A tick's percentage: no decimals when it is whole.
fn tick_pct(v: f64) -> String {
    let p = v * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        pct(v)
    }
}

/// Computed share against chain incentive, one row per miner.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreChart {
    /// View-box height.
    pub height: f64,
    /// Where bars start.
    pub x0: f64,
    /// Where the longest bar may end.
    pub x1: f64,
    /// Vertical gridlines.
    pub ticks: Vec<Tick>,
    /// One row per miner, sorted as the data is (highest score first).
    pub rows: Vec<ScoreRow>,
}

/// One miner's pair of bars.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    /// Top of the row.
    pub y: f64,
    /// Short label (uid and hotkey).
    pub label: String,
    /// The full hotkey, for the tooltip.
    pub hotkey: String,
    /// The miner's section.
    pub anchor: String,
    /// Bar length of the computed share.
    pub computed: f64,
    /// Bar length of the chain share.
    pub chain: f64,
    /// The computed share as text.
    pub computed_text: String,
    /// The chain share as text.
    pub chain_text: String,
    /// Delta above the flag threshold.
    pub flagged: bool,
}

const ROW: f64 = 24.0;
const TOP: f64 = 22.0;

fn miner_label(m: &MinerReport) -> String {
    match m.uid {
        Some(uid) => format!("{uid} · {}", short_hotkey(&m.hotkey)),
        None => short_hotkey(&m.hotkey),
    }
}

/// The scores chart, or `None` when no miner has a score or a chain share.
pub fn scores(data: &ReportData) -> Option<ScoreChart> {
    let miners: Vec<&MinerReport> = data
        .miners
        .iter()
        .filter(|m| finite(m.score) > 0.0 || finite(m.chain_share) > 0.0)
        .collect();
    if miners.is_empty() {
        return None;
    }
    let max = nice_max(
        miners
            .iter()
            .map(|m| finite(m.score).max(finite(m.chain_share)))
            .fold(0.0, f64::max),
    );
    let (x0, x1) = (LABEL, WIDTH - VALUE);
    let scale = |v: f64| r2((x1 - x0) * v / max);
    let rows = miners
        .iter()
        .enumerate()
        .map(|(i, m)| ScoreRow {
            y: r2(TOP + ROW * i as f64),
            label: miner_label(m),
            hotkey: m.hotkey.clone(),
            anchor: anchor(&m.hotkey),
            computed: scale(finite(m.score)),
            chain: scale(finite(m.chain_share)),
            computed_text: match m.score {
                Some(s) => pct(s),
                None => format!(
                    "chain {}",
                    m.chain_share.map(pct).unwrap_or_else(|| "—".into())
                ),
            },
            chain_text: m.chain_share.map(pct).unwrap_or_else(|| "—".into()),
            flagged: m.flagged,
        })
        .collect::<Vec<_>>();
    Some(ScoreChart {
        height: r2(TOP + ROW * rows.len() as f64 + 6.0),
        x0,
        x1,
        ticks: ticks(max, x0, x1 - x0, tick_pct),
        rows,
    })
}

/// sum |Δ| and max Δ over the recorded runs.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryChart {
    /// View-box height.
    pub height: f64,
    /// Plot area left edge.
    pub x0: f64,
    /// Plot area right edge.
    pub x1: f64,
    /// Plot area top.
    pub y0: f64,
    /// Plot area bottom (the zero line).
    pub y1: f64,
    /// Horizontal gridlines (pos is a y).
    pub y_ticks: Vec<Tick>,
    /// Time labels (pos is an x).
    pub x_ticks: Vec<Tick>,
    /// The flag threshold's y, when it is inside the plot.
    pub flag_y: Option<f64>,
    /// `points` attribute of the sum |Δ| line.
    pub sum_line: String,
    /// `points` attribute of the max Δ line.
    pub max_line: String,
    /// Markers with tooltips, when there are few enough to tell apart.
    pub markers: Vec<Marker>,
}

/// A run's point on the history chart.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    /// x of the run.
    pub x: f64,
    /// y of its sum |Δ|.
    pub y_sum: f64,
    /// y of its max Δ.
    pub y_max: f64,
    /// Tooltip text.
    pub title: String,
}

/// The history chart, or `None` without recorded runs.
pub fn history(points: &[HistoryPoint], delta_flag: f64) -> Option<HistoryChart> {
    let (first, last) = (points.first()?, points.last()?);
    let (x0, x1, y0, y1) = (44.0, WIDTH - 12.0, 12.0, 170.0);
    let max = nice_max(
        points
            .iter()
            .map(|p| finite(Some(p.sum_abs_delta)).max(finite(Some(p.max_delta))))
            .fold(delta_flag.max(0.0), f64::max),
    );
    let t0 = first.evaluated_at.and_utc().timestamp() as f64;
    let span = (last.evaluated_at.and_utc().timestamp() as f64 - t0).max(0.0);
    let x = |t: NaiveDateTime, i: usize| {
        if span > 0.0 {
            r2(x0 + (x1 - x0) * (t.and_utc().timestamp() as f64 - t0) / span)
        } else if points.len() > 1 {
            r2(x0 + (x1 - x0) * i as f64 / (points.len() - 1) as f64)
        } else {
            r2((x0 + x1) / 2.0)
        }
    };
    let y = |v: f64| r2(y1 - (y1 - y0) * finite(Some(v)).min(max) / max);
    let line = |f: fn(&HistoryPoint) -> f64| {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{},{}", x(p.evaluated_at, i), y(f(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let markers = if points.len() <= 60 {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| Marker {
                x: x(p.evaluated_at, i),
                y_sum: y(p.sum_abs_delta),
                y_max: y(p.max_delta),
                title: format!(
                    "run {} at {}: sum |Δ| {}, max Δ {}",
                    p.run_id,
                    p.evaluated_at.format("%Y-%m-%d %H:%M"),
                    num(p.sum_abs_delta, 6),
                    num(p.max_delta, 6)
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    let x_ticks = if span > 0.0 {
        (0..=3)
            .map(|i| {
                let t = t0 + span * f64::from(i) / 3.0;
                let label = chrono::DateTime::from_timestamp(t as i64, 0)
                    .map(|t| t.format("%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                Tick {
                    pos: r2(x0 + (x1 - x0) * f64::from(i) / 3.0),
                    label,
                }
            })
            .collect()
    } else {
        vec![Tick {
            pos: x(first.evaluated_at, 0),
            label: first.evaluated_at.format("%m-%d %H:%M").to_string(),
        }]
    };
    Some(HistoryChart {
        height: 200.0,
        x0,
        x1,
        y0,
        y1,
        y_ticks: ticks(max, y1, y0 - y1, |v| num(v, 3)),
        x_ticks,
        flag_y: (delta_flag.is_finite() && delta_flag > 0.0 && delta_flag <= max)
            .then(|| y(delta_flag)),
        sum_line: line(|p| p.sum_abs_delta),
        max_line: line(|p| p.max_delta),
        markers,
    })
}

/// Miner × hour coverage: covered runs drawn over a "missing" row.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageChart {
    /// View-box width.
    pub width: f64,
    /// View-box height.
    pub height: f64,
    /// Where the hour columns start.
    pub x0: f64,
    /// Width of one hour.
    pub cell: f64,
    /// Width of the whole grid.
    pub grid_width: f64,
    /// Midnight separators with the date.
    pub days: Vec<Tick>,
    /// One row per miner.
    pub rows: Vec<CoverageRow>,
}

/// One miner's hours.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    /// Top of the row.
    pub y: f64,
    /// Short label.
    pub label: String,
    /// The miner's section.
    pub anchor: String,
    /// Tooltip: hours covered of the grid.
    pub title: String,
    /// Fully covered runs of hours.
    pub full: Vec<Span>,
    /// Partly covered hours.
    pub partial: Vec<Span>,
}

/// A run of hour columns.
#[derive(Debug, Clone, Serialize)]
pub struct Span {
    /// Left edge.
    pub x: f64,
    /// Width.
    pub w: f64,
}

/// Runs of consecutive hours that satisfy `pick`, as spans.
fn spans(seconds: &[u32], x0: f64, cell: f64, pick: impl Fn(u32) -> bool) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, s) in seconds.iter().chain(std::iter::once(&u32::MAX)).enumerate() {
        let on = i < seconds.len() && pick(*s);
        match (on, start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                out.push(Span {
                    x: r2(x0 + cell * b as f64),
                    w: r2(cell * (i - b) as f64),
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The coverage heatmap, or `None` when the grid has no hours.
pub fn coverage(data: &ReportData) -> Option<CoverageChart> {
    let hours = &data.coverage_hours;
    if hours.is_empty() || data.miners.is_empty() {
        return None;
    }
    let cell = 4.0;
    let x0 = LABEL;
    let row = 14.0;
    let top = 18.0;
    let grid_width = cell * hours.len() as f64;
    let rows = data
        .miners
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let full = m.coverage.iter().filter(|s| **s >= 3600).count();
            CoverageRow {
                y: r2(top + row * i as f64),
                label: miner_label(m),
                anchor: anchor(&m.hotkey),
                title: format!(
                    "{}: {full} of {} hours fully covered",
                    m.hotkey,
                    hours.len()
                ),
                full: spans(&m.coverage, x0, cell, |s| s >= 3600),
                partial: spans(&m.coverage, x0, cell, |s| s > 0 && s < 3600),
            }
        })
        .collect::<Vec<_>>();
    let days = hours
        .iter()
        .enumerate()
        .filter(|(i, h)| h.hour() == 0 || *i == 0)
        .map(|(i, h)| Tick {
            pos: r2(x0 + cell * i as f64),
            label: h.format("%m-%d").to_string(),
        })
        .collect();
    Some(CoverageChart {
        width: r2(x0 + grid_width + 8.0),
        height: r2(top + row * rows.len() as f64 + 4.0),
        x0,
        cell,
        grid_width: r2(grid_width),
        days,
        rows,
    })
}

/// Agreement ratios with the flag threshold.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementChart {
    /// View-box height.
    pub height: f64,
    /// Where bars start (ratio 0).
    pub x0: f64,
    /// Ratio 1.
    pub x1: f64,
    /// x of the threshold.
    pub threshold_x: f64,
    /// The threshold as text.
    pub threshold_text: String,
    /// Gridlines.
    pub ticks: Vec<Tick>,
    /// One row per miner with a result.
    pub rows: Vec<AgreementRow>,
}

/// One miner's ratio bar.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementRow {
    /// Top of the row.
    pub y: f64,
    /// Short label.
    pub label: String,
    /// The miner's section.
    pub anchor: String,
    /// Bar length (0 without metrics).
    pub w: f64,
    /// The ratio as text, or why there is none.
    pub text: String,
    /// Flagged by compare-prom.
    pub flagged: bool,
}

/// The agreement chart, or `None` without a compare-prom run.
pub fn agreement(data: &ReportData) -> Option<AgreementChart> {
    let info = data.agreement.as_ref()?;
    let (x0, x1) = (LABEL, WIDTH - VALUE - 20.0);
    let mut with: Vec<(&MinerReport, &crate::data::AgreementLine)> = data
        .miners
        .iter()
        .filter_map(|m| Some((m, m.agreement.as_ref()?)))
        .collect();
    // Worst first, as compare-prom's table: missing ratios are worst.
    with.sort_by(|a, b| {
        let r = |l: &crate::data::AgreementLine| l.ratio.filter(|r| r.is_finite()).unwrap_or(-1.0);
        r(a.1)
            .total_cmp(&r(b.1))
            .then_with(|| a.0.hotkey.cmp(&b.0.hotkey))
    });
    let rows: Vec<AgreementRow> = with
        .iter()
        .enumerate()
        .map(|(i, (m, a))| AgreementRow {
            y: r2(TOP + ROW * i as f64),
            label: miner_label(m),
            anchor: anchor(&m.hotkey),
            w: r2((x1 - x0) * finite(a.ratio).min(1.0)),
            text: match a.ratio {
                Some(r) => num(r, 3),
                None => "no metrics".into(),
            },
            flagged: a.flagged,
        })
        .collect();
    let t = if info.threshold.is_finite() {
        info.threshold.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Some(AgreementChart {
        height: r2(TOP + ROW * rows.len().max(1) as f64 + 6.0),
        x0,
        x1,
        threshold_x: r2(x0 + (x1 - x0) * t),
        threshold_text: num(info.threshold, 2),
        ticks: ticks(1.0, x0, x1 - x0, |v| num(v, 2)),
        rows,
    })
}

/// Synthetic verdicts per task type as stacked bars.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticsChart {
    /// View-box height.
    pub height: f64,
    /// One row per task type.
    pub rows: Vec<SyntheticsRow>,
}

/// A task type's stacked bar.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticsRow {
    /// Top of the row.
    pub y: f64,
    /// The task type.
    pub task: String,
    /// Segments left to right: present, rerouted, missing, pending.
    pub segments: Vec<Segment>,
    /// Total attempts.
    pub total: u64,
    /// Missing and re-routed: the ones that matter.
    pub unaccounted: u64,
}

/// One verdict's part of a stacked bar.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// Left edge.
    pub x: f64,
    /// Width.
    pub w: f64,
    /// CSS class (the verdict).
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// The synthetics chart, or `None` without synthetics.
pub fn synthetics(tallies: &[TaskTally]) -> Option<SyntheticsChart> {
    let max = tallies
        .iter()
        .map(|t| t.checked() + t.pending)
        .max()
        .filter(|m| *m > 0)?;
    let (x0, x1) = (90.0, WIDTH - VALUE);
    let rows: Vec<SyntheticsRow> = tallies
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut x = x0;
            let mut segments = Vec::new();
            for (class, n) in [
                ("present", t.present),
                ("rerouted", t.rerouted),
                ("missing", t.missing),
                ("pending", t.pending),
            ] {
                if n == 0 {
                    continue;
                }
                let w = (x1 - x0) * n as f64 / max as f64;
                segments.push(Segment {
                    x: r2(x),
                    w: r2(w),
                    class,
                    title: format!("{}: {n} {class}", t.task),
                });
                x += w;
            }
            SyntheticsRow {
                y: r2(8.0 + ROW * i as f64),
                task: t.task.clone(),
                segments,
                total: t.checked() + t.pending,
                unaccounted: t.missing + t.rerouted,
            }
        })
        .collect();
    Some(SyntheticsChart {
        height: r2(8.0 + ROW * rows.len() as f64 + 4.0),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_bounds_round_up_to_readable_steps() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
        assert_eq!(nice_max(0.37), 0.4);
        assert_eq!(nice_max(0.54), 0.6);
        assert_eq!(nice_max(0.1), 0.1);
        assert_eq!(nice_max(7.0), 8.0);
        assert_eq!(nice_max(9.0), 10.0);
    }

    #[test]
    fn spans_merge_consecutive_hours() {
        let s = spans(&[3600, 3600, 0, 100, 3600], 0.0, 4.0, |s| s >= 3600);
        let got: Vec<(f64, f64)> = s.iter().map(|s| (s.x, s.w)).collect();
        assert_eq!(got, vec![(0.0, 8.0), (16.0, 4.0)]);
    }
}
