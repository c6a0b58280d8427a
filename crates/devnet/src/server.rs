//! Serving a world as the Chutes network does (docs/spec/chutes-api.md):
//! `/audit/`, `/audit/download`, `/invocations/exports/…`, `/chutes/`
//! (paged), `/chutes/gpu_count_history`, and traced invocations: the LLM
//! gateway's `/v1/chat/completions` and `/v1/completions`, and a chute's
//! own `/generate`, `/speak` and `/embed` under `/chute/{slug}/` (the
//! devnet's stand-in for `https://{slug}.chutes.ai`).
//!
//! Every traced attempt is recorded into the open hour ([`LiveHour`]);
//! `POST /_devnet/advance` publishes it as the next entry. Every miner's
//! own Prometheus answers under `/_devnet/prometheus/{hotkey}/`
//! ([`crate::prometheus`]).
//!
//! Fault switches, set with `POST /_devnet/faults` or [`Faults`] in
//! process: tamper with an export's or a report's bytes as served (the
//! files on disk, and so the commitments, stay as they were), drop or
//! re-route the next N attempts in the export, fail the next N attempts,
//! answer 503 to a share of requests, delay every answer, and send
//! hostile bodies ([`Hostile`]: junk reports, endless or huge trace
//! streams).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::generate::rows::InvocationRow;
use crate::invoke::{self, InvocationContext, RoutedChute, TaskKind};
use crate::live::{LiveHour, Published};
use crate::prometheus;
use crate::world::World;
use crate::DevnetError;

pub use hostile::Hostile;

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
    /// The next N traced attempts are left out of the export.
    pub drop_attempts: u32,
    /// The next N traced attempts are exported under another miner's
    /// hotkey and uid.
    pub reroute_attempts: u32,
    /// The next N traced attempts fail, so the router retries elsewhere.
    pub fail_attempts: u32,
    /// The next traced invocations are refused with these statuses, one
    /// each, in order (401 bad key, 402 no balance, 429 overloaded, 5xx),
    /// before any routing: nothing is recorded for them.
    pub refuse_invocations: Vec<u16>,
    /// Hostile bodies (see [`Hostile`]): unbounded work a lying server
    /// asks of a reader.
    pub hostile: Hostile,
}

/// Called with every hour the server publishes: the chain side commits
/// the report's hash through it.
pub type PublishHook = Arc<dyn Fn(&Published) + Send + Sync>;

struct Shared {
    world: RwLock<World>,
    router: invoke::Router,
    live: Mutex<LiveHour>,
    faults: Mutex<Faults>,
    requests: Mutex<u64>,
    invocations: Mutex<u64>,
    publish_hooks: Mutex<Vec<PublishHook>>,
}

/// A running devnet HTTP server.
pub struct DevnetServer {
    /// Where it listens (the ephemeral port resolved).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DevnetServer {
    /// Serves `world` on `addr` (port 0 for an ephemeral one).
    pub async fn start(world: World, addr: SocketAddr) -> Result<DevnetServer, DevnetError> {
        let shared = Arc::new(Shared {
            router: invoke::Router::from_world(&world),
            live: Mutex::new(LiveHour::open(&world)),
            world: RwLock::new(world),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(0),
            invocations: Mutex::new(0),
            publish_hooks: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/audit/", get(audit_list))
            .route("/audit/download", get(audit_download))
            .route("/invocations/exports/{*path}", get(export))
            .route("/chutes/", get(chutes))
            .route("/chutes/gpu_count_history", get(gpu_counts))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(completion))
            .route("/chute/{slug}/{*path}", post(chute_call))
            .route("/_devnet/faults", get(get_faults).post(set_faults))
            .route("/_devnet/advance", post(advance))
            .route("/_devnet/clock", get(clock))
            .route(
                "/_devnet/prometheus/{hotkey}/api/v1/query_range",
                get(prometheus_range),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DevnetError::Listen { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DevnetError::Listen { addr, source })?;
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

    /// The per-chute URL template to configure clients with.
    pub fn chute_url_template(&self) -> String {
        format!("http://{}/chute/{{slug}}", self.addr)
    }

    /// Replaces the fault switches.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().expect("faults lock") = faults;
    }

    /// The fault switches now (counters go down as attempts use them).
    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().expect("faults lock").clone()
    }

    /// The world as served now.
    pub fn world(&self) -> World {
        self.shared.world.read().expect("world lock").clone()
    }

    /// Export rows recorded in the open hour so far.
    pub fn open_hour_rows(&self) -> Vec<InvocationRow> {
        self.shared.live.lock().expect("live lock").rows().to_vec()
    }

    /// Calls `hook` with every hour published from now on.
    pub fn on_publish(&self, hook: PublishHook) {
        self.shared
            .publish_hooks
            .lock()
            .expect("hooks lock")
            .push(hook);
    }

    /// Closes the open hour, as `POST /_devnet/advance` does.
    pub fn advance(&self) -> Result<Published, DevnetError> {
        publish(&self.shared)
    }
}

fn publish(shared: &Shared) -> Result<Published, DevnetError> {
    let published = {
        let mut world = shared.world.write().expect("world lock");
        shared.live.lock().expect("live lock").publish(&mut world)?
    };
    let hooks = shared.publish_hooks.lock().expect("hooks lock").clone();
    for hook in hooks {
        hook(&published);
    }
    Ok(published)
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
    let listed = shared.world.read().expect("world lock").listed();
    Json(listed).into_response()
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
    if let Some(r) = hostile::report(&shared.faults.lock().expect("faults lock").hostile) {
        return r;
    }
    let found = {
        let world = shared.world.read().expect("world lock");
        world
            .entry_by_report_path(&q.path)
            .map(|spec| world.report_bytes(spec))
    };
    let Some(found) = found else {
        return (StatusCode::NOT_FOUND, "no such report").into_response();
    };
    match found {
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
    let file = shared
        .world
        .read()
        .expect("world lock")
        .export_file(&report_path);
    let Ok(file) = file else {
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

/// A simulated miner's own Prometheus (see [`crate::prometheus`]).
async fn prometheus_range(
    State(shared): State<Arc<Shared>>,
    UrlPath(hotkey): UrlPath<String>,
    Query(q): Query<prometheus::RangeQuery>,
) -> Response {
    if let Some(r) = gate(&shared).await {
        return r;
    }
    let world = shared.world.read().expect("world lock").clone();
    let counters = match prometheus::MinerCounters::of(&world, &hotkey) {
        Ok(c) => c,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let (status, body) = prometheus::query_range(&counters, &q);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
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
    let path = shared
        .world
        .read()
        .expect("world lock")
        .dir
        .join("chutes.json");
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
    let counts = shared.world.read().expect("world lock").gpu_counts.clone();
    Json(counts).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.faults.lock().expect("faults lock").clone())
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> Json<Faults> {
    *shared.faults.lock().expect("faults lock") = faults.clone();
    Json(faults)
}

/// The world's present: an auditor running against the devnet takes its
/// evaluation time from here (`auditctl run --clock devnet`), since the
/// simulated hours move on `advance`, not with the wall clock.
async fn clock(State(shared): State<Arc<Shared>>) -> Response {
    let now = shared.world.read().expect("world lock").meta.now.clone();
    Json(serde_json::json!({ "now": now })).into_response()
}

async fn advance(State(shared): State<Arc<Shared>>) -> Response {
    match tokio::task::spawn_blocking(move || publish(&shared)).await {
        Ok(Ok(published)) => Json(serde_json::json!({
            "entry": published.entry,
            "report_sha256": hex::encode(published.report_sha256),
            "invocation_rows": published.invocation_rows,
        }))
        .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    llm(shared, headers, TaskKind::Chat, body).await
}

async fn completion(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    llm(shared, headers, TaskKind::Completion, body).await
}

async fn llm(
    shared: Arc<Shared>,
    headers: HeaderMap,
    kind: TaskKind,
    body: serde_json::Value,
) -> Response {
    let model = body
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let chute = shared.router.by_model(model).cloned();
    traced(&shared, &headers, chute, kind, &body).await
}

async fn chute_call(
    State(shared): State<Arc<Shared>>,
    UrlPath((slug, path)): UrlPath<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let Some(kind) = TaskKind::from_chute_path(&path) else {
        return (StatusCode::NOT_FOUND, "no such cord").into_response();
    };
    let chute = shared.router.by_slug(&slug).cloned();
    traced(&shared, &headers, chute, kind, &body).await
}

/// One traced invocation: route, record every attempt (through the
/// drop/re-route switches), stream the events.
async fn traced(
    shared: &Shared,
    headers: &HeaderMap,
    chute: Option<RoutedChute>,
    kind: TaskKind,
    body: &serde_json::Value,
) -> Response {
    if let Some(r) = gate(shared).await {
        return r;
    }
    if let Some(r) = refused(shared) {
        return r;
    }
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty());
    if !authorised {
        return (StatusCode::UNAUTHORIZED, "missing or empty API key").into_response();
    }
    let Some(chute) = chute else {
        return (StatusCode::NOT_FOUND, "no such chute").into_response();
    };
    if let Some(r) = hostile::trace(&shared.faults.lock().expect("faults lock").hostile, &chute) {
        return r;
    }
    if chute.targets.is_empty() {
        return (StatusCode::TOO_MANY_REQUESTS, "no instances available").into_response();
    }
    let forced_failures = {
        let mut faults = shared.faults.lock().expect("faults lock");
        std::mem::take(&mut faults.fail_attempts)
    };
    let (parent_id, clock) = {
        let mut live = shared.live.lock().expect("live lock");
        let mut n = shared.invocations.lock().expect("invocations lock");
        *n += 1;
        let parent = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("devnet-invocation/{}/{n}", live.start).as_bytes(),
        )
        .hyphenated()
        .to_string();
        (parent, live.next_clock())
    };
    let ctx = InvocationContext {
        parent_id: &parent_id,
        clock,
        forced_failures,
    };
    let result = invoke::invoke(&chute, kind, body, &ctx);
    {
        // Failures the invocation did not use stay armed for the next one.
        let used = result.attempts.iter().filter(|a| a.error.is_some()).count() as u32;
        let mut faults = shared.faults.lock().expect("faults lock");
        faults.fail_attempts += forced_failures.saturating_sub(used);
    }
    let world = shared.world.read().expect("world lock");
    let mut live = shared.live.lock().expect("live lock");
    let mut faults = shared.faults.lock().expect("faults lock");
    for attempt in &result.attempts {
        if faults.drop_attempts > 0 {
            faults.drop_attempts -= 1;
            continue;
        }
        let mut row = invoke::export_row(&chute, &parent_id, attempt);
        if faults.reroute_attempts > 0 {
            faults.reroute_attempts -= 1;
            if let Some(other) = other_miner(&world, &attempt.target.hotkey) {
                row.miner_uid = i64::from(other.uid);
                row.miner_hotkey = other.hotkey.clone();
            }
        }
        live.record(row);
    }
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        "content-type",
        "text/event-stream".parse().expect("static header"),
    );
    response_headers.insert(
        "X-Chutes-InvocationID",
        parent_id.parse().expect("uuid is a header value"),
    );
    drop((world, live, faults));
    (StatusCode::OK, response_headers, result.body).into_response()
}

/// The next armed refusal, if any, as the gateway would word it.
fn refused(shared: &Shared) -> Option<Response> {
    let status = {
        let mut faults = shared.faults.lock().expect("faults lock");
        if faults.refuse_invocations.is_empty() {
            return None;
        }
        faults.refuse_invocations.remove(0)
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match status.as_u16() {
        401 => "devnet: invalid API key",
        402 => "devnet: insufficient balance",
        429 => "devnet: infra_overload",
        _ => "devnet: refused",
    };
    Some((status, text).into_response())
}

/// The metagraph's next miner after `hotkey` (not the validator).
fn other_miner<'a>(world: &'a World, hotkey: &str) -> Option<&'a crate::world::NeuronSpec> {
    let miners: Vec<_> = world
        .metagraph
        .iter()
        .filter(|n| n.hotkey != world.meta.validator_hotkey)
        .collect();
    let at = miners.iter().position(|n| n.hotkey == hotkey).unwrap_or(0);
    miners
        .iter()
        .cycle()
        .skip(at + 1)
        .take(miners.len())
        .find(|n| n.hotkey != hotkey)
        .copied()
}

/// The answers of the [`Hostile`] switches.
mod hostile {
    use axum::body::{Body, Bytes};
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use futures::stream::{self, Stream, StreamExt};
    use serde::{Deserialize, Serialize};

    use crate::invoke::RoutedChute;

    /// Bodies a lying server sends, generated as they are sent (never
    /// stored), without a length: a reader learns their size only by
    /// reading them.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct Hostile {
        /// Every report is served as this many junk bytes (0: off).
        pub junk_reports: u64,
        /// Traced invocations stream `attempting` events without end.
        pub endless_attempts: bool,
        /// Traced invocations send one line of this many bytes (0: off).
        pub huge_trace_line: u64,
    }

    /// Bytes per generated chunk.
    const CHUNK: usize = 64 << 10;

    /// `bytes` of `fill`, a chunk at a time, then `tail`.
    fn generated(bytes: u64, fill: u8, tail: &'static [u8]) -> impl Stream<Item = Bytes> {
        let chunk = Bytes::from(vec![fill; CHUNK]);
        let full = bytes / CHUNK as u64;
        let rest = chunk.slice(..(bytes % CHUNK as u64) as usize);
        stream::iter((0..full).map(move |_| chunk.clone()))
            .chain(stream::iter([rest, Bytes::from_static(tail)]))
    }

    fn streamed(
        content_type: &'static str,
        body: impl Stream<Item = Bytes> + Send + 'static,
    ) -> Response {
        let body = Body::from_stream(body.map(Ok::<_, std::convert::Infallible>));
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
    }

    /// A junk report, when the switch is on.
    pub(super) fn report(hostile: &Hostile) -> Option<Response> {
        (hostile.junk_reports > 0).then(|| {
            streamed(
                "application/json",
                generated(hostile.junk_reports, b'x', b""),
            )
        })
    }

    /// A trace stream that never ends or one huge line, when a switch is on.
    pub(super) fn trace(hostile: &Hostile, chute: &RoutedChute) -> Option<Response> {
        if hostile.huge_trace_line > 0 {
            let line = stream::iter([Bytes::from_static(b"data: \"")]).chain(generated(
                hostile.huge_trace_line,
                b'x',
                b"\"\n",
            ));
            return Some(streamed("text/event-stream", line));
        }
        if hostile.endless_attempts {
            let chute_id = chute.chute_id.clone();
            let target = chute.targets.first().cloned();
            let (instance, uid, hotkey) = target
                .map(|t| (t.instance_id, t.uid, t.hotkey))
                .unwrap_or_default();
            let lines = stream::iter(0u64..).map(move |n| {
                let event = serde_json::json!({"trace": {
                    "timestamp": "2025-02-10T15:51:19.216856",
                    "invocation_id": "00000000-0000-4000-8000-000000000000",
                    "child_id": format!("00000000-0000-4000-8000-{n:012x}"),
                    "chute_id": chute_id,
                    "function": "generate",
                    "message": format!(
                        "attempting to query target={instance} uid={uid} hotkey={hotkey} coldkey=5C"
                    ),
                }});
                Bytes::from(format!("data: {event}\n"))
            });
            return Some(streamed("text/event-stream", lines));
        }
        None
    }
}
