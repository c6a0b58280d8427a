//! The service's HTTP listener: `/healthz`, `/metrics`, and the report
//! page at `/`. Off unless an address is configured; read-only.

use std::sync::{Arc, Mutex, RwLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::health::Health;
use crate::metrics::Metrics;

/// What the listener reads; shared with the running service.
#[derive(Clone)]
pub struct Observed {
    pub(crate) health: Arc<Mutex<Health>>,
    pub(crate) metrics: Metrics,
    pub(crate) page: Arc<RwLock<Option<String>>>,
}

impl Observed {
    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The listener's routes over the service's state.
pub fn router(observed: Observed) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/", get(page))
        .with_state(observed)
}

async fn healthz(State(o): State<Observed>) -> Response {
    let now = chrono::Utc::now().naive_utc();
    let verdict = match o.health.lock() {
        Ok(health) => health.verdict(now),
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "health state poisoned\n").into_response()
        }
    };
    let body = if verdict.healthy {
        "ok\n".to_owned()
    } else {
        format!("{}\n", verdict.reasons.join("\n"))
    };
    let status = if verdict.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

async fn metrics(State(o): State<Observed>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        o.metrics.render(),
    )
        .into_response()
}

async fn page(State(o): State<Observed>) -> Response {
    let page = o.page.read().ok().and_then(|p| p.clone());
    match page {
        Some(html) => Html(html).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no report page yet: it is written after the first full cycle\n",
        )
            .into_response(),
    }
}
