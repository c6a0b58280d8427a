//! Blocking lake work kept off the async workers.

/// Runs blocking lake work (parsing, file writes and their syncs) on the
/// blocking pool: many entries' disk syncs overlap, and the async workers
/// keep downloading meanwhile.
pub(crate) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
