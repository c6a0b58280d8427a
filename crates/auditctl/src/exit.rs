//! Exit codes, stable for scripts and monitoring:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the command failed (network, database, I/O); retrying may help |
//! | 2 | bad usage or configuration; fix the command line or the config |
//! | 3 | an integrity violation was found (tampered or uncommitted data) |
//! | 130 | stopped by SIGINT before it finished (128 + the signal's number) |
//! | 143 | stopped by SIGTERM before it finished |
//!
//! `run` and `devnet serve` end on a signal by design: they exit 0 when
//! they stopped within the grace.

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTEGRITY: u8 = 3;

/// What the user can do about an error the libraries report in their own
/// terms: the libraries name no command, the CLI names its own.
pub fn advice(err: &anyhow::Error) -> Option<&'static str> {
    use incentives::IncentivesError;
    use prom_compare::PromCompareError;
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<IncentivesError>() {
            return match e {
                IncentivesError::NoMetagraph { .. } => Some("run `auditctl sync` first"),
                IncentivesError::LakeDisagrees { .. } => {
                    Some("run `auditctl sync` to fetch the missing entries again")
                }
                _ => None,
            };
        }
        match cause.downcast_ref::<PromCompareError>()? {
            PromCompareError::Facts { .. } => Some("run `auditctl sync` to reload damaged entries"),
            PromCompareError::UnknownMiner { .. } => {
                Some("check the hotkey, or run `auditctl sync` to load the latest exports")
            }
            _ => None,
        }
    })
}

/// The exit code of a command dropped at a signal: the shells' 128 + n.
pub fn stopped_by(signal: audit_service::signals::Signal) -> u8 {
    match signal {
        audit_service::signals::Signal::Interrupt => 130,
        audit_service::signals::Signal::Terminate => 143,
    }
}

/// The exit code for an error that ended a command: a chain read that
/// did not prove is an integrity violation wherever it surfaced.
pub fn classify(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<subtensor::ChainError>(),
            Some(subtensor::ChainError::Integrity { .. })
        )
    }) {
        INTEGRITY
    } else if err.chain().any(|cause| {
        cause.is::<audit_config::ConfigError>() || cause.is::<audit_model::time::FutureTime>()
    }) {
        USAGE
    } else {
        FAILURE
    }
}
