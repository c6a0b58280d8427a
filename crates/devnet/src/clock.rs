//! The devnet's present, as an auditor reads it: `GET /_devnet/clock` on
//! the devnet's API (an hour later after each published hour), behind
//! [`audit_model::Clock`], so a long-running auditor's stages evaluate at
//! the simulated time instead of the system's.

use std::time::Duration;

use audit_model::clock::{Clock, ClockReading};
use chrono::NaiveDateTime;
use serde::Deserialize;
use url::Url;

/// Why the devnet's time could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DevnetClockError {
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
    pub fn new(base: &Url) -> Result<DevnetClock, DevnetClockError> {
        let bad = |message: String| DevnetClockError::Url {
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

    /// The devnet's present, with its typed error.
    pub async fn read(&self) -> Result<NaiveDateTime, DevnetClockError> {
        let request = |source| DevnetClockError::Request {
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
            .ok_or_else(|| DevnetClockError::Malformed {
                url: self.url.clone(),
                answer: answer.chars().take(200).collect(),
            })
    }
}

impl Clock for DevnetClock {
    fn now(&self) -> ClockReading<'_> {
        Box::pin(async { Ok(self.read().await?) })
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
            let err = DevnetClock::new(&url).unwrap().read().await.unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, DevnetClockError::Malformed { .. }), "{text}");
            assert!(text.contains("_devnet/clock"), "{text}");
        }
        let closed = Url::parse("http://127.0.0.1:1/").unwrap();
        let err = DevnetClock::new(&closed).unwrap().read().await.unwrap_err();
        assert!(matches!(err, DevnetClockError::Request { .. }), "{err}");
    }
}
