//! Exit codes, stable for scripts and monitoring:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the command failed (network, database, I/O); retrying may help |
//! | 2 | bad usage or configuration; fix the command line or the config |
//! | 3 | an integrity violation was found (tampered or uncommitted data) |

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTEGRITY: u8 = 3;

/// The exit code for an error that ended a command.
pub fn classify(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| {
        cause.is::<crate::config::ConfigError>() || cause.is::<audit_model::time::FutureTime>()
    }) {
        USAGE
    } else {
        FAILURE
    }
}
