//! Where a stage's evaluation time comes from. On the real network it is
//! the system clock; a simulated network keeps its own present, which
//! moves an hour each time an hour is published, so an auditor running
//! against it asks it.

use std::time::Duration;

use chrono::NaiveDateTime;
use futures::future::BoxFuture;
use serde::Deserialize;
use url::Url;

/// Why the time could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// The devnet's clock did not answer.
    #[error("reading the devnet clock at {url}: {source}")]
    Request {
        /// The clock's URL.
        url: Url,
        /// The HTTP failure.
        #[source]
        source: reqwest::Error,
    },
    /// It answered something that is not a time.
    #[error("the devnet clock at {url} answered {answer:?}, not {{\"now\": ISO-8601 UTC time}}")]
    Malformed {
        /// The clock's URL.
        url: Url,
        /// The answer, cut to 200 characters.
        answer: String,
    },
    /// The base URL cannot take the clock's path.
    #[error("`{base}` cannot serve /_devnet/clock: {message}")]
    Url {
        /// The base URL given.
        base: String,
        /// Why.
        message: String,
    },
}

/// The present, as the audited network sees it.
pub trait Clock: Send + Sync {
    /// The time now (UTC).
    fn now(&self) -> BoxFuture<'_, Result<NaiveDateTime, ClockError>>;
}

/// The system clock: the real network's present.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> BoxFuture<'_, Result<NaiveDateTime, ClockError>> {
        Box::pin(async { Ok(chrono::Utc::now().naive_utc()) })
    }
}

/// A devnet's simulated present, read from its `GET /_devnet/clock`.
#[derive(Debug, Clone)]
pub struct DevnetClock {
    url: Url,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct ClockAnswer {
    now: String,
}

impl DevnetClock {
    /// The clock of the devnet whose API is served at `base`.
    pub fn new(base: &Url) -> Result<DevnetClock, ClockError> {
        let bad = |message: String| ClockError::Url {
            base: base.to_string(),
            message,
        };
        let url = base.join("_devnet/clock").map_err(|e| bad(e.to_string()))?;
        // reqwest is built without a default TLS provider; the one the
        // workspace uses is ring (installing twice is harmless).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(DevnetClock { url, http })
    }

    async fn read(&self) -> Result<NaiveDateTime, ClockError> {
        let request = |source| ClockError::Request {
            url: self.url.clone(),
            source,
        };
        let answer = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(request)?
            .text()
            .await
            .map_err(request)?;
        serde_json::from_str::<ClockAnswer>(&answer)
            .ok()
            .and_then(|a| audit_model::time::parse_utc(&a.now))
            .ok_or_else(|| ClockError::Malformed {
                url: self.url.clone(),
                answer: answer.chars().take(200).collect(),
            })
    }
}

impl Clock for DevnetClock {
    fn now(&self) -> BoxFuture<'_, Result<NaiveDateTime, ClockError>> {
        Box::pin(self.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server answering every request with `body`.
    async fn serving(body: &'static str) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let app = axum::Router::new().fallback(move || async move { body });
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn the_devnet_clock_reads_the_worlds_present() {
        let url = serving(r#"{"now": "2025-02-10T13:00:00Z"}"#).await;
        let now = DevnetClock::new(&url).unwrap().now().await.unwrap();
        assert_eq!(now.to_string(), "2025-02-10 13:00:00");
    }

    #[tokio::test]
    async fn a_hostile_clock_answer_is_an_error_naming_the_url_and_the_answer() {
        for body in [r#"{"now": "soon"}"#, "<html>", r#"{"then": 1}"#, ""] {
            let url = serving(body).await;
            let err = DevnetClock::new(&url).unwrap().now().await.unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, ClockError::Malformed { .. }), "{text}");
            assert!(text.contains("_devnet/clock"), "{text}");
        }
        let closed = Url::parse("http://127.0.0.1:1/").unwrap();
        let err = DevnetClock::new(&closed).unwrap().now().await.unwrap_err();
        assert!(matches!(err, ClockError::Request { .. }), "{err}");
    }
}
