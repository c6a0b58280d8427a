//! The HTTP listener, for a port anybody on the network may reach.
//!
//! Every connection costs a file descriptor, and the stages need
//! descriptors too (downloads, the catalog, the lake, the chain socket):
//! a flood of idle connections must not starve them. So connections are
//! counted against a limit (beyond it a new one is closed at once), a
//! connection that has not sent a complete request head within the idle
//! timeout is closed (idle after accept, kept alive between requests, or
//! half-sent alike), every connection ends after its lifetime (the request
//! in flight finishes first, a reader that stalls the response is cut),
//! and a request body over the limit is refused. The limit never exceeds
//! half the process's open-file limit, which [`raise_open_file_limit`]
//! raises to the hard limit at start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::http::Observed;

/// What the listener allows one client, and all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Open connections at most; capped at half the open-file limit.
    pub max_connections: usize,
    /// A connection without a complete request head for this long is
    /// closed: idle, kept alive, or sending its head slowly.
    pub idle_timeout: Duration,
    /// The longest a connection lives; the request in flight then gets a
    /// few seconds more to finish.
    pub connection_lifetime: Duration,
    /// The largest request body accepted (the routes read none).
    pub max_body_bytes: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        // A scraper and a few browsers, not a public web server.
        ListenerLimits {
            max_connections: 64,
            idle_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// How long a connection past its lifetime (or at shutdown) may take to
/// finish the request in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The wait after a failed accept (out of descriptors, most likely): the
/// stages have the first claim on what frees up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl ListenerLimits {
    /// The connection limit under an open-file limit of `open_files`
    /// (`None`: unlimited): at most half of it, so the stages keep the
    /// other half.
    pub fn connections_under(&self, open_files: Option<u64>) -> usize {
        let share = open_files.map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX));
        self.max_connections.min(share).max(1)
    }
}

/// The process's limit on open files, after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub now: Option<u64>,
}

/// Raises the soft limit on open files to the hard limit: the default
/// soft limit (often 1024) is what an operator's `ulimit -n` never got
/// round to, and the hard limit is what the system allows this process.
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    let before = get_nofile()?;
    if before.rlim_cur != before.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: before.rlim_max,
            rlim_max: before.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(OpenFileLimit {
        before: finite(before.rlim_cur),
        now: open_file_limit(),
    })
}

fn get_nofile() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

// `rlim_t` is `u64` on Linux and may be narrower elsewhere.
#[allow(clippy::useless_conversion)]
fn finite(limit: libc::rlim_t) -> Option<u64> {
    (limit != libc::RLIM_INFINITY).then_some(u64::from(limit))
}

/// The soft limit on open files now (`None`: unlimited or unknown).
fn open_file_limit() -> Option<u64> {
    get_nofile().ok().and_then(|l| finite(l.rlim_cur))
}

/// Refuses a request that declares a body over `max` bytes, or a body of
/// unknown length (chunked): the routes read no body, and one that is
/// not refused would be drained byte by byte to keep the connection.
async fn limit_body(
    max: usize,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let headers = request.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>().unwrap_or(u64::MAX));
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    if chunked || declared.is_some_and(|n| n > max as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            format!("request bodies are limited to {max} bytes\n"),
        )
            .into_response();
    }
    next.run(request).await
}

/// Serves the service's `/healthz`, `/metrics` and report page
/// ([`crate::router`]) on `addr` within `limits` until `shutdown` turns
/// true; returns the bound address (port 0 picks a free one) and the
/// serving task.
pub async fn listen(
    addr: SocketAddr,
    observed: Observed,
    limits: ListenerLimits,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = crate::http::router(observed);
    let task = tokio::spawn(serve(listener, app, limits, shutdown));
    Ok((bound, task))
}

/// Serves `app` on `listener` within `limits` until `shutdown` turns true;
/// connections still open then get a short grace to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let cap = limits.connections_under(open_file_limit());
    let permits = Arc::new(Semaphore::new(cap));
    let max_body = limits.max_body_bytes;
    let app = app.layer(axum::middleware::from_fn(move |request, next| {
        limit_body(max_body, request, next)
    }));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    let mut refused = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // A dropped sender means nobody can ask any more: stop too.
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!("the HTTP listener could not accept a connection: {err}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Closed at once: holding it would hold a descriptor.
            drop(stream);
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    "the HTTP listener is at its limit of {cap} connections; {refused} refused so far"
                );
            }
            continue;
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stop = shutdown.clone();
        let lifetime = limits.connection_lifetime;
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(connection);
            let ended = tokio::select! {
                _ = connection.as_mut() => true,
                _ = tokio::time::sleep(lifetime) => false,
                _ = stop.wait_for(|stop| *stop) => false,
            };
            if !ended {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_take_at_most_half_the_open_files() {
        let limits = ListenerLimits::default();
        assert_eq!(limits.connections_under(None), 64);
        assert_eq!(limits.connections_under(Some(1_048_576)), 64);
        assert_eq!(limits.connections_under(Some(100)), 50);
        assert_eq!(limits.connections_under(Some(1)), 1);
    }
}
