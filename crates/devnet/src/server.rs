//! Serving a world as the Chutes network does (spec/chutes-api.md):
//! `/audit/`, `/audit/download`, `/invocations/exports/…`, `/chutes/`
//! (paged) and `/chutes/gpu_count_history`, on loopback.
//!
//! Fault switches, set with `POST /_devnet/faults` or [`Faults`] in
//! process: tamper with an export's or a report's bytes as served (the
//! files on disk, and so the commitments, stay as they were), answer 503
//! to a share of requests, and delay every answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::world::World;
use crate::DevnetError;

/// The fault switches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Export paths (`invocations/2025/02/10/16.csv`) served altered.
    pub tamper_exports: Vec<String>,
    /// Report paths (`audit/validator/…/….json`) served altered.
    pub tamper_reports: Vec<String>,
    /// Share of requests answered 503 (every n-th, deterministically).
    pub error_rate: f64,
    /// Added to every answer.
    pub delay_ms: u64,
}

struct Shared {
    world: World,
    faults: Mutex<Faults>,
    requests: Mutex<u64>,
}

/// A running devnet HTTP server.
pub struct DevnetServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DevnetServer {
    /// Serves `world` on `addr` (port 0 for an ephemeral one).
    pub async fn start(world: World, addr: SocketAddr) -> Result<DevnetServer, DevnetError> {
        let shared = Arc::new(Shared {
            world,
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(0),
        });
        let app = Router::new()
            .route("/audit/", get(audit_list))
            .route("/audit/download", get(audit_download))
            .route("/invocations/exports/{*path}", get(export))
            .route("/chutes/", get(chutes))
            .route("/chutes/gpu_count_history", get(gpu_counts))
            .route("/_devnet/faults", get(get_faults).post(set_faults))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| DevnetError::Options(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DevnetError::Options(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(DevnetServer {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The base URL, with a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Replaces the fault switches.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().expect("faults lock") = faults;
    }
}

impl Drop for DevnetServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Applies delay and injected errors; `Some` is the answer to give instead.
async fn gate(shared: &Shared) -> Option<Response> {
    let faults = shared.faults.lock().expect("faults lock").clone();
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if faults.error_rate > 0.0 {
        let mut n = shared.requests.lock().expect("requests lock");
        *n += 1;
        let every = (1.0 / faults.error_rate.min(1.0)).round().max(1.0) as u64;
        if *n % every == 0 {
            return Some(
                (StatusCode::SERVICE_UNAVAILABLE, "devnet: injected failure").into_response(),
            );
        }
    }
    None
}

fn tampered(mut bytes: Vec<u8>) -> Vec<u8> {
    // One flipped byte: same length, different hash.
    if let Some(last) = bytes.last_mut() {
        *last ^= 0x01;
    } else {
        bytes.push(b' ');
    }
    bytes
}

async fn audit_list(State(shared): State<Arc<Shared>>) -> Response {
    if let Some(r) = gate(&shared).await {
        return r;
    }
    Json(shared.world.listed()).into_response()
}

#[derive(Deserialize)]
struct DownloadQuery {
    path: String,
}

async fn audit_download(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    if let Some(r) = gate(&shared).await {
        return r;
    }
    let world = &shared.world;
    let Some(spec) = world
        .entries
        .iter()
        .find(|e| world.report_path(e) == q.path)
    else {
        return (StatusCode::NOT_FOUND, "no such report").into_response();
    };
    match world.report_bytes(spec) {
        Ok(bytes) => {
            let tamper = shared
                .faults
                .lock()
                .expect("faults lock")
                .tamper_reports
                .contains(&q.path);
            let bytes = if tamper { tampered(bytes) } else { bytes };
            (StatusCode::OK, bytes).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn export(State(shared): State<Arc<Shared>>, UrlPath(path): UrlPath<String>) -> Response {
    if let Some(r) = gate(&shared).await {
        return r;
    }
    let report_path = format!("invocations/{path}");
    let Ok(file) = shared.world.export_file(&report_path) else {
        return (StatusCode::BAD_REQUEST, "unsafe path").into_response();
    };
    match std::fs::read(&file) {
        Ok(bytes) => {
            let tamper = shared
                .faults
                .lock()
                .expect("faults lock")
                .tamper_exports
                .contains(&report_path);
            let bytes = if tamper { tampered(bytes) } else { bytes };
            let mut headers = HeaderMap::new();
            headers.insert("content-type", "text/csv".parse().expect("static header"));
            (StatusCode::OK, headers, bytes).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "no such export").into_response(),
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    page: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    1000
}

async fn chutes(State(shared): State<Arc<Shared>>, Query(p): Query<Page>) -> Response {
    if let Some(r) = gate(&shared).await {
        return r;
    }
    let path = shared.world.dir.join("chutes.json");
    let body: serde_json::Value = match std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(v) => v,
        None => serde_json::json!({"items": [], "cord_refs": {}}),
    };
    let items = body
        .get("items")
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    let limit = p.limit.clamp(1, 1000);
    let slice: Vec<_> = items
        .iter()
        .skip(p.page * limit)
        .take(limit)
        .cloned()
        .collect();
    Json(serde_json::json!({
        "total": items.len(), "page": p.page, "limit": limit, "items": slice,
        "cord_refs": body.get("cord_refs").cloned().unwrap_or_default(),
    }))
    .into_response()
}

async fn gpu_counts(State(shared): State<Arc<Shared>>) -> Response {
    if let Some(r) = gate(&shared).await {
        return r;
    }
    Json(shared.world.gpu_counts.clone()).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.faults.lock().expect("faults lock").clone())
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> Json<Faults> {
    *shared.faults.lock().expect("faults lock") = faults.clone();
    Json(faults)
}
