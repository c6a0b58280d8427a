//! A typed async client for the Chutes API (docs/spec/chutes-api.md), the same
//! against the public network and the local devnet: every base URL comes
//! from [`Endpoints`].
//!
//! Every request has a timeout; 5xx answers and connection failures are
//! retried a bounded number of times with exponential backoff, 4xx answers
//! never are. Bodies are read up to a cap, so a hostile server cannot make
//! the auditor allocate without bound. Errors name the URL and the status.
//! Downloads return the sha256 of exactly the bytes received; an export
//! streams to a file while it is hashed
//! ([`ChutesClient::download_export_to`]), so its size never becomes
//! memory.
//!
//! # Example
//!
//! Listing a network's audit entries. A one-answer server on loopback
//! stands in for the Chutes API here; an element of the listing that cannot
//! be read is set aside with the reason, never fatal.
//!
//! ```
//! use chutes_client::{ChutesClient, ClientConfig, Endpoints};
//! # use std::io::{Read, Write};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let api = format!("http://{}/", listener.local_addr()?);
//! # std::thread::spawn(move || {
//! #     let body = r#"[{"entry_id": "0B0C7A39-64A1-5F6C-8F6E-8E2AB0B8C1D2",
//! #         "hotkey": "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ", "block": 100,
//! #         "path": "audit/validator/5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ/100.json",
//! #         "created_at": "2025-02-10T10:00:07Z", "start_time": "2025-02-10T09:00:00Z",
//! #         "end_time": "2025-02-10T10:00:00Z"}, {"hotkey": 7}]"#;
//! #     let (mut stream, _) = listener.accept().unwrap();
//! #     let _ = stream.read(&mut [0; 4096]);
//! #     let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close";
//! #     write!(stream, "{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
//! # });
//! // `api` is the API's base URL, e.g. https://api.chutes.ai/.
//! let api: url::Url = api.parse()?;
//! let client = ChutesClient::new(ClientConfig::new(Endpoints {
//!     api: api.clone(),
//!     llm: api.clone(),
//!     chute_url_template: format!("{api}chute/{{slug}}"),
//! }))?;
//! let listing = client.audit_entries().await?;
//! assert_eq!(listing.entries[0].block, 100);
//! assert_eq!(listing.entries[0].entry_id, "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2");
//! assert_eq!(listing.malformed[0].index, 1);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod trace;

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_model::path::{check_export_path, UnsafePath};
use audit_model::{AuditEntry, EntrySource, GpuCount, Listing, MalformedListing};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

pub use trace::{Event, Target, TraceEvent, TraceMessage};

/// The network's base URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `/audit/`, `/chutes/`, GPU counts.
    pub api: Url,
    /// The LLM gateway.
    pub llm: Url,
    /// A chute's own endpoint, `{slug}` replaced by the chute's slug.
    pub chute_url_template: String,
}

/// How the client behaves.
#[derive(Clone)]
pub struct ClientConfig {
    /// Where the network is.
    pub endpoints: Endpoints,
    /// Sent as `Authorization: Bearer …` on invocations only.
    pub api_key: Option<String>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Largest body read; a hostile server cannot make us allocate more.
    pub max_body_bytes: u64,
    /// Largest report read: reports are small JSON documents parsed in
    /// memory once their hash is proven, so their cap is far below
    /// [`max_body_bytes`](Self::max_body_bytes).
    pub max_report_bytes: u64,
    /// Extra attempts after the first, for 5xx and connection errors.
    pub retries: u32,
    /// The first retry's delay; doubled for each next one.
    pub backoff: Duration,
    /// Chutes per catalogue page (upstream serves at most 1000).
    pub page_size: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoints", &self.endpoints)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_report_bytes", &self.max_report_bytes)
            .field("retries", &self.retries)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl ClientConfig {
    /// Defaults for everything but the endpoints.
    pub fn new(endpoints: Endpoints) -> Self {
        ClientConfig {
            endpoints,
            api_key: None,
            timeout: Duration::from_secs(120),
            max_body_bytes: 2 << 30,
            max_report_bytes: DEFAULT_MAX_REPORT_BYTES,
            retries: 3,
            backoff: Duration::from_millis(250),
            page_size: PAGE_LIMIT,
        }
    }
}

/// A failed request, naming what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("GET/POST {url} answered {status}: {snippet}")]
    Status {
        /// What was asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, for the reason.
        snippet: String,
    },
    /// No answer: connection, TLS or timeout.
    #[error("{url}: {message}")]
    Transport {
        /// What was asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The body was larger than the cap.
    #[error("{url}: the body exceeds the cap of {cap} bytes ({setting})")]
    TooLarge {
        /// What was asked.
        url: String,
        /// The cap.
        cap: u64,
        /// The setting that holds the cap.
        setting: &'static str,
    },
    /// A line of an event stream was longer than [`MAX_STREAM_LINE_BYTES`]:
    /// no event is that large, and reading on would only grow the buffer.
    #[error("{url}: a line of the event stream exceeds {cap} bytes")]
    LineTooLong {
        /// What was asked.
        url: String,
        /// The cap.
        cap: usize,
    },
    /// The body is not the shape the API documents.
    #[error("{url}: unexpected body: {message}")]
    Decode {
        /// What was asked.
        url: String,
        /// What did not fit.
        message: String,
    },
    /// A URL could not be built from configured or listed parts.
    #[error("building a URL from `{input}`: {message}")]
    Url {
        /// The input.
        input: String,
        /// Why it is not a URL.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("setting up the HTTP client: {0}")]
    Setup(String),
    /// A path from the network that must not be fetched (traversal,
    /// encoded or not).
    #[error("refusing an unsafe path {0}")]
    UnsafePath(#[from] UnsafePath),
    /// Writing a streamed download to its file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file written to.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
    /// The catalogue did not end within [`MAX_CATALOGUE_PAGES`] pages.
    #[error("{url}: the chutes catalogue did not end after {pages} pages of {page_size}; refusing to page on")]
    TooManyPages {
        /// The catalogue's URL (without the page).
        url: String,
        /// Pages read.
        pages: usize,
        /// Chutes per page asked for.
        page_size: usize,
    },
}

impl ClientError {
    /// Whether retrying could help (server errors and transport failures).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status >= 500,
            ClientError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// A download streamed to a file: its size and the sha256 (hex) of
/// exactly the bytes written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDownload {
    /// Bytes written.
    pub bytes: u64,
    /// Lower-case hex sha256 of those bytes.
    pub sha256: String,
}

/// Bytes downloaded and their sha256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Exactly the bytes received.
    pub bytes: Vec<u8>,
    /// Their sha256, to compare with a commitment or a report.
    pub sha256: String,
}

/// A chute of the catalogue, with the fields the auditor reads; the full
/// object is kept in `raw`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chute {
    /// The chute's id, as the exports name it.
    pub chute_id: String,
    /// Its display name.
    pub name: String,
    /// Its subdomain, for the chute's own endpoint.
    pub slug: Option<String>,
    /// `vllm`, `diffusion`, `tei`, …: how to talk to it.
    pub standard_template: Option<String>,
    /// The owner's user name.
    pub username: Option<String>,
    /// Its instances on miners.
    pub instances: Vec<ChuteInstance>,
    /// Its callable functions.
    pub cords: Vec<Cord>,
    /// The whole catalogue object.
    pub raw: Value,
}

impl Chute {
    /// Hot: some instance is active and verified.
    pub fn is_hot(&self) -> bool {
        self.instances.iter().any(|i| i.active && i.verified)
    }
}

/// One instance of a chute on a miner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChuteInstance {
    /// The instance's id, as the instance audits name it.
    pub instance_id: String,
    /// Where it runs.
    #[serde(default)]
    pub region: Option<String>,
    /// Serving now.
    #[serde(default)]
    pub active: bool,
    /// Passed the validator's checks.
    #[serde(default)]
    pub verified: bool,
}

/// A callable function of a chute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cord {
    /// The path on the chute's endpoint.
    #[serde(default)]
    pub path: Option<String>,
    /// The function's name.
    #[serde(default)]
    pub function: Option<String>,
    /// Whether it streams its answer.
    #[serde(default)]
    pub stream: Option<bool>,
    /// The path on the public API, when it has one.
    #[serde(default)]
    pub public_api_path: Option<String>,
    /// The HTTP method there.
    #[serde(default)]
    pub public_api_method: Option<String>,
    /// Whether the body is passed through as is.
    #[serde(default)]
    pub passthrough: Option<bool>,
}

/// A traced invocation to send.
#[derive(Debug, Clone)]
pub struct TracedRequest {
    /// Where to send it.
    pub url: Url,
    /// The JSON body.
    pub body: Value,
}

/// The answer to a traced invocation: the parent id and the event stream.
pub struct TracedResponse {
    /// The id the exports will list the request under.
    pub parent_invocation_id: Option<String>,
    /// The trace events as they arrive.
    pub events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, ClientError>> + Send>>,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct ChutesClient {
    http: reqwest::Client,
    config: std::sync::Arc<ClientConfig>,
}

const PAGE_LIMIT: usize = 1000;

/// The default [`ClientConfig::max_report_bytes`]: a report lists one
/// record per instance alive in its hour, well under a megabyte on the
/// real network; sixteen times that leaves room to grow while a lying
/// server's body is refused after 16 MiB.
pub const DEFAULT_MAX_REPORT_BYTES: u64 = 16 << 20;

/// The longest line of a traced invocation's event stream: the largest
/// event is a base64 image or WAV, a few megabytes.
pub const MAX_STREAM_LINE_BYTES: usize = 16 << 20;

/// Which setting a cap comes from, for [`ClientError::TooLarge`].
const BODY_CAP: &str = "endpoints.max_body_bytes";
const REPORT_CAP: &str = "endpoints.max_report_bytes";

/// The most catalogue pages read: 100,000 chutes at the full page size,
/// tens of times the real catalogue. A server that never sends a short
/// page is refused here instead of read forever.
pub const MAX_CATALOGUE_PAGES: usize = 100;

#[derive(Deserialize)]
struct ListedEntry {
    entry_id: String,
    hotkey: String,
    block: u32,
    path: String,
    created_at: String,
    start_time: String,
    end_time: String,
}

impl ChutesClient {
    /// Builds the client (TLS through rustls with the ring provider).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        // Idempotent: a second install in the same process is refused, fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(15)))
            .user_agent(concat!("chutes-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(ChutesClient {
            http,
            config: std::sync::Arc::new(config),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn join(base: &Url, path: &str) -> Result<Url, ClientError> {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        base.join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Url {
                input: format!("{base} + {path}"),
                message: e.to_string(),
            })
    }

    /// GET with retries on transient failures; the body read up to the
    /// body cap.
    async fn get(&self, url: Url) -> Result<Vec<u8>, ClientError> {
        self.get_capped(url, Cap::new(self.config.max_body_bytes, BODY_CAP))
            .await
    }

    /// GET with retries on transient failures; the body read up to `cap`.
    async fn get_capped(&self, url: Url, cap: Cap) -> Result<Vec<u8>, ClientError> {
        self.retrying(&url, || self.get_once(&url, cap)).await
    }

    /// Runs `once` again after transient failures, at most
    /// `retries` more times, with exponential backoff.
    async fn retrying<T, F>(&self, url: &Url, mut once: impl FnMut() -> F) -> Result<T, ClientError>
    where
        F: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut attempt = 0;
        loop {
            match once().await {
                Err(e) if e.is_transient() && attempt < self.config.retries => {
                    let wait = self.config.backoff * 2u32.pow(attempt);
                    tracing::debug!(%url, attempt, "retrying after {e}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn get_once(&self, url: &Url, cap: Cap) -> Result<Vec<u8>, ClientError> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport(url, e))?;
        read_capped(url, response, cap).await
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: Url) -> Result<T, ClientError> {
        let bytes = self.get(url.clone()).await?;
        decode(&url, &bytes)
    }

    /// `GET /audit/`: every listed entry, with times as naive UTC and
    /// entry ids in lower case (the one form the store keys on). An
    /// element that cannot be read is set aside with the reason, never
    /// fatal: one bad element must not hide the rest. The source is a
    /// guess from the path (`audit/miner/…`); the caller decides by its
    /// configured validators.
    pub async fn audit_entries(&self) -> Result<Listing, ClientError> {
        let url = Self::join(&self.config.endpoints.api, "audit/")?;
        let bytes = self.get(url.clone()).await?;
        if let Some(listing) = well_formed_listing(&bytes) {
            return Ok(listing);
        }
        let listed: Vec<Value> = decode(&url, &bytes)?;
        let mut listing = Listing::default();
        for (index, element) in listed.into_iter().enumerate() {
            match listed_entry(element) {
                Ok(entry) => listing.entries.push(entry.normalised()),
                Err(reason) => listing.malformed.push(MalformedListing { index, reason }),
            }
        }
        Ok(listing)
    }

    /// `GET /audit/download?path=…`: the report bytes exactly as served,
    /// buffered whole (up to the report cap). For tests and tools; sync
    /// streams with [`download_report_to`](Self::download_report_to).
    pub async fn download_report(&self, path: &str) -> Result<Download, ClientError> {
        let url = self.report_url(path)?;
        let cap = Cap::new(self.config.max_report_bytes, REPORT_CAP);
        let bytes = self.get_capped(url, cap).await?;
        Ok(download(bytes))
    }

    /// `GET /audit/download?path=…` streamed into `dest` (created or
    /// truncated) while its sha256 is computed, refused past the report
    /// cap: the bytes reach memory only once the caller has matched the
    /// hash to the chain. Retried like every GET; the caller owns `dest`.
    pub async fn download_report_to(
        &self,
        path: &str,
        dest: &Path,
    ) -> Result<FileDownload, ClientError> {
        let url = self.report_url(path)?;
        let cap = Cap::new(self.config.max_report_bytes, REPORT_CAP);
        self.download_to(&url, dest, cap).await
    }

    fn report_url(&self, path: &str) -> Result<Url, ClientError> {
        let mut url = Self::join(&self.config.endpoints.api, "audit/download")?;
        url.query_pairs_mut().append_pair("path", path);
        Ok(url)
    }

    /// The URL of an export by its report path
    /// (`invocations/2025/02/10/16.csv` →
    /// `{validator_url}/invocations/exports/2025/02/10/16.csv`), after
    /// checking the decoded path ([`check_export_path`]).
    pub fn export_url(&self, validator_url: &Url, path: &str) -> Result<Url, ClientError> {
        let decoded = check_export_path(path)?;
        let rest = decoded
            .strip_prefix("invocations/")
            .ok_or_else(|| UnsafePath {
                path: path.to_string(),
                why: "an export path starts with `invocations/`".into(),
            })?;
        Self::join(validator_url, &format!("invocations/exports/{rest}"))
    }

    /// An export by its report path, buffered whole (up to the body cap).
    /// For small files and tests; sync streams with
    /// [`download_export_to`](Self::download_export_to).
    pub async fn download_export(
        &self,
        validator_url: &Url,
        path: &str,
    ) -> Result<Download, ClientError> {
        let url = self.export_url(validator_url, path)?;
        let bytes = self.get(url).await?;
        Ok(download(bytes))
    }

    /// An export by its report path, streamed into `dest` (created or
    /// truncated) while its sha256 is computed: memory stays at one
    /// network chunk whatever the body's size. Retried like every GET; the
    /// caller owns `dest` and removes it when the hash does not match.
    pub async fn download_export_to(
        &self,
        validator_url: &Url,
        path: &str,
        dest: &Path,
    ) -> Result<FileDownload, ClientError> {
        let url = self.export_url(validator_url, path)?;
        let cap = Cap::new(self.config.max_body_bytes, BODY_CAP);
        self.download_to(&url, dest, cap).await
    }

    /// A GET streamed into `dest` while hashed, retried on transient
    /// failures, each attempt truncating `dest`.
    async fn download_to(
        &self,
        url: &Url,
        dest: &Path,
        cap: Cap,
    ) -> Result<FileDownload, ClientError> {
        self.retrying(url, || self.stream_to_file(url, dest, cap))
            .await
    }

    async fn stream_to_file(
        &self,
        url: &Url,
        dest: &Path,
        cap: Cap,
    ) -> Result<FileDownload, ClientError> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport(url, e))?;
        if !response.status().is_success() {
            // The error body is small and only for the message.
            return match read_capped(url, response, Cap::error_body()).await {
                Err(e) => Err(e),
                Ok(_) => Err(ClientError::Decode {
                    url: url.to_string(),
                    message: "a failed answer with no error".into(),
                }),
            };
        }
        if response.content_length().is_some_and(|n| n > cap.bytes) {
            return Err(cap.exceeded(url));
        }
        let io = |source| ClientError::Io {
            path: dest.to_path_buf(),
            source,
        };
        let file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut file = ChunkWriter::new(dest, file.into_std().await);
        let mut hasher = Sha256::new();
        let copied = copy_body(url, response, cap, &mut file, &mut hasher).await;
        // Every write ends before this returns, failed or not: a retry
        // truncates `dest`, and a write still in flight from this attempt
        // must not land in the next one's file.
        let finished = file.finish().await.map_err(io);
        let written = copied?;
        finished?;
        Ok(FileDownload {
            bytes: written,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// The whole chutes catalogue, page by page until a short page, at
    /// most [`MAX_CATALOGUE_PAGES`] pages.
    pub async fn chutes(&self) -> Result<Vec<Chute>, ClientError> {
        let mut all = Vec::new();
        let page_size = self.config.page_size.clamp(1, PAGE_LIMIT);
        let base = Self::join(&self.config.endpoints.api, "chutes/")?;
        for page in 0..MAX_CATALOGUE_PAGES {
            let mut url = base.clone();
            url.query_pairs_mut()
                .append_pair("include_public", "true")
                .append_pair("limit", &page_size.to_string())
                .append_pair("page", &page.to_string())
                .append_pair("exclude", "affine");
            let mut body: Value = self.get_json(url.clone()).await?;
            // Taken out of the body, not cloned: a page can be megabytes.
            let items = match body.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            let cords = body.get_mut("cord_refs").map_or(Value::Null, Value::take);
            let count = items.len();
            for item in items {
                all.push(chute(item, &cords).map_err(|message| ClientError::Decode {
                    url: url.to_string(),
                    message,
                })?);
            }
            if count < page_size {
                return Ok(all);
            }
        }
        Err(ClientError::TooManyPages {
            url: base.to_string(),
            pages: MAX_CATALOGUE_PAGES,
            page_size,
        })
    }

    /// `GET /chutes/gpu_count_history`.
    pub async fn gpu_counts(&self) -> Result<Vec<GpuCount>, ClientError> {
        #[derive(Deserialize)]
        struct Row {
            chute_id: String,
            gpu_count: u32,
        }
        let url = Self::join(&self.config.endpoints.api, "chutes/gpu_count_history")?;
        let rows: Vec<Row> = self.get_json(url).await?;
        Ok(rows
            .into_iter()
            .map(|r| GpuCount {
                chute_id: r.chute_id,
                gpu_count: r.gpu_count,
            })
            .collect())
    }

    /// The URL of a chute's own endpoint, `path` appended.
    pub fn chute_url(&self, slug: &str, path: &str) -> Result<Url, ClientError> {
        let base = self
            .config
            .endpoints
            .chute_url_template
            .replace("{slug}", slug);
        let base = Url::parse(&base).map_err(|e| ClientError::Url {
            input: base.clone(),
            message: e.to_string(),
        })?;
        Self::join(&base, path)
    }

    /// The LLM gateway's URL for `path` (`v1/chat/completions`).
    pub fn llm_url(&self, path: &str) -> Result<Url, ClientError> {
        Self::join(&self.config.endpoints.llm, path)
    }

    /// Sends a traced invocation. Not retried: a retry would be a second
    /// invocation. A non-200 answer is an error naming the status.
    pub async fn invoke_traced(
        &self,
        request: TracedRequest,
    ) -> Result<TracedResponse, ClientError> {
        let url = request.url;
        let mut builder = self
            .http
            .post(url.clone())
            .header("X-Chutes-Trace", "true")
            .json(&request.body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(|e| transport(&url, e))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let snippet = read_capped(&url, response, Cap::error_body())
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(ClientError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                snippet,
            });
        }
        let parent_invocation_id = response
            .headers()
            .get("X-Chutes-InvocationID")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let events =
            event_lines(&url, response, self.config.max_body_bytes).filter_map(|line| async move {
                match line {
                    Ok(line) => trace::parse_line(&String::from_utf8_lossy(&line)).map(Ok),
                    Err(e) => Some(Err(e)),
                }
            });
        Ok(TracedResponse {
            parent_invocation_id,
            events: Box::pin(events),
        })
    }
}

/// The lines of a streamed body, split in linear time (the search for a
/// newline resumes where the last one stopped), each at most
/// [`MAX_STREAM_LINE_BYTES`] and all of them at most `cap` bytes. The
/// first error ends the stream: a line too long, the body past the cap,
/// or the transport failing.
fn event_lines(
    url: &Url,
    response: reqwest::Response,
    cap: u64,
) -> impl Stream<Item = Result<bytes::Bytes, ClientError>> + Send + 'static {
    use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead};
    let body_url = url.to_string();
    let mut seen = 0u64;
    let body = response.bytes_stream().map(move |chunk| {
        let chunk =
            chunk.map_err(|e| std::io::Error::other(BodyError::Transport(e.to_string())))?;
        seen += chunk.len() as u64;
        if seen > cap {
            return Err(std::io::Error::other(BodyError::TooLarge));
        }
        Ok(chunk)
    });
    let codec =
        AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), MAX_STREAM_LINE_BYTES);
    let lines = FramedRead::new(tokio_util::io::StreamReader::new(body), codec);
    let mut failed = false;
    lines
        .map(move |line| {
            line.map_err(|e| match e {
                AnyDelimiterCodecError::MaxChunkLengthExceeded => ClientError::LineTooLong {
                    url: body_url.clone(),
                    cap: MAX_STREAM_LINE_BYTES,
                },
                AnyDelimiterCodecError::Io(e) => match e.downcast::<BodyError>() {
                    Ok(BodyError::TooLarge) => Cap::new(cap, BODY_CAP).exceeded_at(&body_url),
                    Ok(BodyError::Transport(message)) => ClientError::Transport {
                        url: body_url.clone(),
                        message,
                    },
                    Err(e) => ClientError::Transport {
                        url: body_url.clone(),
                        message: e.to_string(),
                    },
                },
            })
        })
        // The codec would go on after an over-long line (skipping to the
        // next newline); the stream is not worth reading any further.
        .take_while(move |line| {
            let go = !failed;
            failed |= line.is_err();
            futures::future::ready(go)
        })
}

/// Why a streamed body stopped, carried through the line reader.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the body exceeds its cap")]
    TooLarge,
    #[error("{0}")]
    Transport(String),
}

fn decode<T: for<'de> Deserialize<'de>>(url: &Url, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// The listing when every element is a well-formed entry, read straight
/// into entries; `None` when any is not, and the caller reads it element
/// by element through a JSON tree to name each bad one. The tree of the
/// week's listing (3.6 MB, ten thousand entries) cost a catch-up more
/// than the server took to send it.
fn well_formed_listing(bytes: &[u8]) -> Option<Listing> {
    let listed: Vec<ListedEntry> = serde_json::from_slice(bytes).ok()?;
    let entries = listed
        .into_iter()
        .map(|e| e.into_entry().ok().map(AuditEntry::normalised))
        .collect::<Option<Vec<_>>>()?;
    Some(Listing::of(entries))
}

/// One listing element as an entry, or why not. The reason names the
/// field, never echoes the (untrusted) value at length.
fn listed_entry(element: Value) -> Result<AuditEntry, String> {
    let e: ListedEntry = serde_json::from_value(element).map_err(|e| {
        let text: String = e
            .to_string()
            .chars()
            .filter(|c| !c.is_control())
            .take(160)
            .collect();
        format!("not an audit entry: {text}")
    })?;
    e.into_entry()
}

impl ListedEntry {
    fn into_entry(self) -> Result<AuditEntry, String> {
        let time = |field: &str, text: &str| {
            audit_model::time::parse_utc(text)
                .ok_or_else(|| format!("`{field}` is not a timestamp"))
        };
        Ok(AuditEntry {
            source: EntrySource::of_report_path(&self.path),
            created_at: time("created_at", &self.created_at)?,
            start_time: time("start_time", &self.start_time)?,
            end_time: time("end_time", &self.end_time)?,
            entry_id: self.entry_id,
            hotkey: self.hotkey,
            block: self.block,
            path: self.path,
        })
    }
}

/// Streams a body into `file` and `hasher`, refusing it past `cap` bytes;
/// returns its length. The writes may still be in flight.
async fn copy_body(
    url: &Url,
    response: reqwest::Response,
    cap: Cap,
    file: &mut ChunkWriter,
    hasher: &mut Sha256,
) -> Result<u64, ClientError> {
    let mut written = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport(url, e))?;
        written += chunk.len() as u64;
        if written > cap.bytes {
            return Err(cap.exceeded(url));
        }
        hasher.update(&chunk);
        file.push(chunk).await.map_err(|source| ClientError::Io {
            path: file.path.clone(),
            source,
        })?;
    }
    Ok(written)
}

/// Writes a body's network chunks to a file a megabyte at a time, off the
/// async workers, one write in flight while the next megabyte arrives.
/// A write per network chunk (tens of kilobytes) cost a blocking-pool
/// round trip and a copy each: hundreds of thousands of them a week.
struct ChunkWriter {
    /// For errors.
    path: PathBuf,
    file: Option<std::fs::File>,
    pending: Vec<bytes::Bytes>,
    pending_bytes: usize,
    in_flight: Option<tokio::task::JoinHandle<std::io::Result<std::fs::File>>>,
}

impl ChunkWriter {
    /// Bytes gathered before a write is started.
    const WRITE_BYTES: usize = 1 << 20;

    fn new(path: &Path, file: std::fs::File) -> Self {
        ChunkWriter {
            path: path.to_path_buf(),
            file: Some(file),
            pending: Vec::new(),
            pending_bytes: 0,
            in_flight: None,
        }
    }

    async fn push(&mut self, chunk: bytes::Bytes) -> std::io::Result<()> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= Self::WRITE_BYTES {
            self.start_write().await?;
        }
        Ok(())
    }

    /// Waits for the write in flight, then hands the pending chunks to a
    /// new one.
    async fn start_write(&mut self) -> std::io::Result<()> {
        self.wait().await?;
        let Some(mut file) = self.file.take() else {
            return Err(std::io::Error::other("the file was lost to a failed write"));
        };
        let chunks = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            use std::io::Write;
            for chunk in &chunks {
                file.write_all(chunk)?;
            }
            Ok(file)
        }));
        Ok(())
    }

    async fn wait(&mut self) -> std::io::Result<()> {
        if let Some(write) = self.in_flight.take() {
            let file = write.await.map_err(std::io::Error::other)??;
            self.file = Some(file);
        }
        Ok(())
    }

    /// Writes what is left and waits for every write.
    async fn finish(mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.start_write().await?;
        }
        self.wait().await
    }
}

fn download(bytes: Vec<u8>) -> Download {
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Download { bytes, sha256 }
}

fn transport(url: &Url, e: reqwest::Error) -> ClientError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    ClientError::Transport {
        url: url.to_string(),
        message: format!("{kind}: {e}"),
    }
}

/// A body cap and the setting it comes from.
#[derive(Debug, Clone, Copy)]
struct Cap {
    bytes: u64,
    setting: &'static str,
}

impl Cap {
    fn new(bytes: u64, setting: &'static str) -> Self {
        Cap { bytes, setting }
    }

    /// An error answer's body: only its start is kept, for the message.
    fn error_body() -> Self {
        Cap::new(4096, "an error answer's snippet")
    }

    fn exceeded(self, url: &Url) -> ClientError {
        self.exceeded_at(url.as_str())
    }

    fn exceeded_at(self, url: &str) -> ClientError {
        ClientError::TooLarge {
            url: url.to_string(),
            cap: self.bytes,
            setting: self.setting,
        }
    }
}

/// Reads a body up to `cap` bytes; a non-2xx status is an error carrying
/// the start of the body.
async fn read_capped(
    url: &Url,
    response: reqwest::Response,
    cap: Cap,
) -> Result<Vec<u8>, ClientError> {
    let status = response.status();
    if response.content_length().is_some_and(|n| n > cap.bytes) && status.is_success() {
        return Err(cap.exceeded(url));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport(url, e))?;
        if body.len() as u64 + chunk.len() as u64 > cap.bytes {
            if !status.is_success() {
                break;
            }
            return Err(cap.exceeded(url));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(ClientError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            snippet,
        });
    }
    Ok(body)
}

fn chute(item: Value, cord_refs: &Value) -> Result<Chute, String> {
    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let chute_id = text("chute_id").ok_or("a chute without chute_id")?;
    // Deserialised from the borrowed values: no copy of the JSON.
    let instances = match item.get("instances") {
        Some(v) if !v.is_null() => {
            Deserialize::deserialize(v).map_err(|e| format!("chute {chute_id} instances: {e}"))?
        }
        _ => Vec::new(),
    };
    let cords = match text("cord_ref_id").and_then(|id| cord_refs.get(&id)) {
        Some(v) => {
            Deserialize::deserialize(v).map_err(|e| format!("chute {chute_id} cords: {e}"))?
        }
        None => Vec::new(),
    };
    Ok(Chute {
        name: text("name").unwrap_or_default(),
        slug: text("slug"),
        standard_template: text("standard_template"),
        username: item
            .get("user")
            .and_then(|u| u.get("username"))
            .and_then(Value::as_str)
            .map(str::to_string),
        instances,
        cords,
        chute_id,
        raw: item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"{"entry_id": "E1-ABC", "hotkey": "5V", "block": 7, "path": "audit/validator/5V/7.json",
        "created_at": "2025-02-10T16:00:07.123456", "start_time": "2025-02-10T15:00:00Z",
        "end_time": "2025-02-10T16:00:00+00:00", "extra": [1, 2]}"#;

    fn listing(elements: &[&str]) -> Vec<u8> {
        format!("[{}]", elements.join(",")).into_bytes()
    }

    #[test]
    fn a_well_formed_listing_reads_straight_as_it_reads_through_the_tree() {
        let miner = r#"{"path": "audit/miner/5M/8.json", "block": 8, "hotkey": "5M",
            "entry_id": "e2", "created_at": "2025-02-10T16:00:09",
            "start_time": "2025-02-10T15:00:00", "end_time": "2025-02-10T16:00:00"}"#;
        let bytes = listing(&[ENTRY, miner]);
        let straight = well_formed_listing(&bytes).expect("well formed");
        let tree: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        let through_tree: Vec<AuditEntry> = tree
            .into_iter()
            .map(|e| listed_entry(e).unwrap().normalised())
            .collect();
        assert_eq!(straight.entries, through_tree);
        assert_eq!(straight.entries[0].entry_id, "e1-abc");
        assert!(straight.malformed.is_empty());
    }

    #[test]
    fn one_bad_element_sends_the_whole_listing_through_the_tree() {
        let no_block = ENTRY.replace(r#""block": 7,"#, "");
        let bad_time = ENTRY.replace("2025-02-10T15:00:00Z", "yesterday");
        // The tree keeps the last of two equal keys; the straight read
        // refuses them, and the tree decides.
        let twice = ENTRY.replace(r#""block": 7,"#, r#""block": 7, "block": 8,"#);
        for bad in [
            no_block.as_str(),
            bad_time.as_str(),
            "17",
            "null",
            twice.as_str(),
        ] {
            assert!(
                well_formed_listing(&listing(&[ENTRY, bad])).is_none(),
                "{bad}"
            );
        }
        assert!(well_formed_listing(b"{}").is_none());
    }
}
