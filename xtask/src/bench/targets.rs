//! The targets the bench is held to (issue 23), in one place: each row of
//! the table it prints, how the row's figure derives from the measured
//! stages, and its bound.

use std::fmt::Write as _;

/// The measured stages that the targets read, as the bench names them.
pub const COLD_SYNC: &str = "cold sync, validator exports";
pub const FULL_SYNC: &str = "cold sync, with miner self-reports";
pub const CATCH_UP: &str = "catch-up of one hour";
pub const SCORING: &str = "scoring (weights, sending off)";
pub const COMPARE_PROM: &str = "compare-prom";
/// Stages without a target of their own: what proving chain reads costs
/// (issue 25), each beside the same work with `subtensor.proofs: false`.
pub const PROOFS_OFF_SYNC: &str = "cold sync, validator exports, proofs off";
pub const SEND_PLAN: &str = "send plan (weights --dry-run)";
pub const SEND_PLAN_PROOFS_OFF: &str = "send plan, proofs off";

/// Where a row's figure comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A measured stage as it is (seconds and peak memory).
    Stage(&'static str),
    /// The first stage's time above the second's, on the same backend:
    /// the self-reports on top of the validator's exports.
    Above(&'static str, &'static str),
    /// A release build of `auditctl` from a fresh clone (`--first-build`),
    /// backend-independent.
    FirstBuild,
}

/// One row of the target table.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub row: &'static str,
    pub source: Source,
    pub max_seconds: f64,
    /// Peak resident memory must stay below this.
    pub max_peak_mib: Option<f64>,
}

/// Issue 23 ("Speed, round two"), release build, 2 cores, the week.
pub const TARGETS: &[Target] = &[
    Target {
        row: "cold sync, validator exports",
        source: Source::Stage(COLD_SYNC),
        max_seconds: 9.0,
        max_peak_mib: Some(600.0),
    },
    Target {
        row: "self-reports on top",
        source: Source::Above(FULL_SYNC, COLD_SYNC),
        max_seconds: 2.0,
        max_peak_mib: None,
    },
    Target {
        row: "catch-up of one hour",
        source: Source::Stage(CATCH_UP),
        max_seconds: 0.3,
        max_peak_mib: None,
    },
    Target {
        row: "scoring (weights, sending off)",
        source: Source::Stage(SCORING),
        max_seconds: 1.2,
        max_peak_mib: Some(600.0),
    },
    Target {
        row: "compare-prom",
        source: Source::Stage(COMPARE_PROM),
        max_seconds: 0.5,
        max_peak_mib: None,
    },
    Target {
        row: "first build, release auditctl from a fresh clone",
        source: Source::FirstBuild,
        max_seconds: 600.0,
        max_peak_mib: None,
    },
];

/// What a row measured: seconds and, where the source has one, the peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub seconds: f64,
    pub peak_mib: Option<f64>,
}

impl Target {
    /// Whether `measured` is within the bounds.
    pub fn holds(&self, measured: Measured) -> bool {
        measured.seconds <= self.max_seconds
            && match (self.max_peak_mib, measured.peak_mib) {
                (Some(max), Some(peak)) => peak < max,
                _ => true,
            }
    }

    /// The bound as people read it: `≤ 9 s, < 600 MiB`.
    pub fn bound(&self) -> String {
        let mut text = if self.max_seconds >= 600.0 {
            format!("≤ {} min", self.max_seconds / 60.0)
        } else {
            format!("≤ {} s", self.max_seconds)
        };
        if let Some(mib) = self.max_peak_mib {
            let _ = write!(text, ", < {mib:.0} MiB");
        }
        text
    }

    /// The measured figure as people read it, in the bound's units.
    pub fn shown(&self, measured: Measured) -> String {
        let sign = if matches!(self.source, Source::Above(..)) {
            "+"
        } else {
            ""
        };
        let seconds = measured.seconds;
        let mut text = if self.max_seconds >= 600.0 {
            format!("{sign}{:.1} min", seconds / 60.0)
        } else if seconds >= 10.0 {
            format!("{sign}{seconds:.1} s")
        } else {
            format!("{sign}{seconds:.2} s")
        };
        if let (Some(_), Some(peak)) = (self.max_peak_mib, measured.peak_mib) {
            let _ = write!(text, ", {peak:.0} MiB");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(row: &str) -> Target {
        *TARGETS.iter().find(|t| t.row == row).unwrap()
    }

    #[test]
    fn a_target_holds_within_both_bounds_only() {
        let cold = target("cold sync, validator exports");
        let m = |seconds, peak| Measured {
            seconds,
            peak_mib: Some(peak),
        };
        assert!(cold.holds(m(8.9, 590.0)));
        assert!(!cold.holds(m(9.1, 590.0)));
        assert!(!cold.holds(m(8.9, 600.0)));
        assert_eq!(cold.bound(), "≤ 9 s, < 600 MiB");
        assert_eq!(cold.shown(m(14.42, 534.4)), "14.4 s, 534 MiB");
        let build = target("first build, release auditctl from a fresh clone");
        assert_eq!(build.bound(), "≤ 10 min");
        let on_top = target("self-reports on top");
        assert_eq!(
            on_top.shown(Measured {
                seconds: 6.2,
                peak_mib: Some(376.0)
            }),
            "+6.20 s"
        );
    }
}
