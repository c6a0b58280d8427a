//! The listener against clients that hold connections: idle ones,
//! half-sent requests, kept-alive connections, floods over the limit and
//! oversized bodies. Every one is closed by the listener, not by the test.

use std::time::{Duration, Instant};

use audit_service::{ListenerLimits, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

const LIMITS: ListenerLimits = ListenerLimits {
    max_connections: 4,
    idle_timeout: Duration::from_millis(400),
    connection_lifetime: Duration::from_secs(30),
    max_body_bytes: 1024,
};

/// A listener over a service with no stages run, on a free port.
async fn listening(limits: ListenerLimits) -> (std::net::SocketAddr, watch::Sender<bool>) {
    let service = Service::new(Duration::from_secs(3600));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let app = audit_service::router(service.observed());
    tokio::spawn(audit_service::serve(listener, app, limits, stopped));
    (addr, stop)
}

/// Reads until the peer closes; the time it took, or `None` if it was
/// still open after `within`. What was read is returned too.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<(Duration, String)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    started.elapsed(),
                    String::from_utf8_lossy(&seen).into_owned(),
                ))
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

async fn get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let (_, answer) = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the listener answers and closes");
    answer
}

#[tokio::test]
async fn idle_half_sent_and_kept_alive_connections_are_closed_after_the_idle_timeout() {
    let (addr, _stop) = listening(LIMITS).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for (what, stream) in [
        ("idle", &mut idle),
        ("half-sent", &mut half),
        ("kept-alive", &mut kept),
    ] {
        let (after, seen) = closed_within(stream, Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("the {what} connection is still open after 3 s"));
        assert!(
            after < Duration::from_secs(2),
            "{what}: closed after {after:?}"
        );
        if what == "kept-alive" {
            assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
        }
    }
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once_and_the_limit_frees_up() {
    let (addr, _stop) = listening(LIMITS).await;
    let mut held = Vec::new();
    for _ in 0..LIMITS.max_connections {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the listener take them all before the next one knocks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = TcpStream::connect(addr).await.unwrap();
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok();
    let (after, seen) = closed_within(&mut over, Duration::from_millis(300))
        .await
        .expect("a connection over the limit is closed at once");
    assert!(seen.is_empty(), "it was served: {seen}");
    assert!(after < Duration::from_millis(300));
    // Once the idle ones are gone, the listener serves again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = get(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let (addr, _stop) = listening(LIMITS).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        .await
        .unwrap();
    stream.write_all(&[b'x'; 4096]).await.unwrap();
    let (_, seen) = closed_within(&mut stream, Duration::from_secs(3))
        .await
        .expect("the connection is closed, not drained for a gigabyte");
    assert!(seen.starts_with("HTTP/1.1 413"), "{seen}");
}

#[tokio::test]
async fn shutdown_closes_the_listener_and_its_connections() {
    let (addr, stop) = listening(LIMITS).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(true).unwrap();
    assert!(closed_within(&mut idle, Duration::from_millis(300))
        .await
        .is_some());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the port is closed after shutdown");
}
