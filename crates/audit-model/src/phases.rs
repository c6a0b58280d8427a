//! How long each phase of a long job took, logged at `-v` (debug): for
//! operators, and for finding where a slow run spends its time
//! (docs/performance.md reads a sync's and a scoring's this way).

use std::time::Instant;

/// A job's phase clock: each [`Phases::done`] logs the time since the
/// previous one (or the start) and starts the next phase.
#[derive(Debug)]
pub struct Phases {
    job: &'static str,
    since: Instant,
}

impl Phases {
    /// Starts timing `job` (`sync`, `scoring`): its name leads each line.
    pub fn start(job: &'static str) -> Self {
        Phases {
            job,
            since: Instant::now(),
        }
    }

    /// Logs `phase` as done, with its milliseconds.
    pub fn done(&mut self, phase: &str) {
        let ms = self.since.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(phase, ms, "{} phase done", self.job);
        self.since = Instant::now();
    }
}
