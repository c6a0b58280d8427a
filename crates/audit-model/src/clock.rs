//! Where an evaluation time comes from. On the real network it is the
//! system clock; a simulated network keeps its own present (it moves an
//! hour each time an hour is published), so an auditor running against it
//! asks that network. The stages of a long-running auditor read the time
//! through [`Clock`] and so work on either.

use std::future::Future;
use std::pin::Pin;

use chrono::NaiveDateTime;

/// Why a clock could not be read: the reading's own error, kept as its
/// source (a simulated network's clock is read over HTTP).
pub type ClockError = Box<dyn std::error::Error + Send + Sync>;

/// A clock's answer, boxed so that `dyn Clock` can be shared by stages.
pub type ClockReading<'a> =
    Pin<Box<dyn Future<Output = Result<NaiveDateTime, ClockError>> + Send + 'a>>;

/// The present, as the audited network sees it.
pub trait Clock: Send + Sync {
    /// The time now (UTC).
    fn now(&self) -> ClockReading<'_>;
}

/// The system clock: the real network's present.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> ClockReading<'_> {
        Box::pin(std::future::ready(Ok(chrono::Utc::now().naive_utc())))
    }
}
