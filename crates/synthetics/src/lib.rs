//! Synthetic traced requests: the auditor's proof that the exports are
//! complete (docs/spec/chutes-api.md "Traced invocations", the end of
//! docs/spec/incentives.md).
//!
//! The hashes only prove that the exports are the files committed, not
//! that they hold every invocation. So we send our own requests with
//! tracing on, record every attempt the router made (which miner, which
//! instance, failed or not), and later look each one up in the validator's
//! exports under the same miner.
//!
//! - [`select`]: which chute serves a task type (hot, template and cord
//!   rules), chosen with a seedable RNG;
//! - [`prompts`]: the built-in prompt set, local files (JSONL, CSV,
//!   Parquet) and Hugging Face datasets from the local cache;
//! - [`payload`]: the request body per type, with randomised parameters;
//! - [`capture`]: trace events → synthetic records and the decoded output;
//! - [`render`]: text streamed, images drawn, audio played, shapes printed;
//! - [`run`]: one round of requests, recorded one transaction per request;
//! - [`rounds`]: rounds on a schedule, counted;
//! - [`verify`]: the completeness check against the lake.
//!
//! # Example
//!
//! A [`Synthesizer`] sends rounds through a [`chutes_client::ChutesClient`]
//! and records every attempt; [`verify`] later judges what was recorded
//! against the loaded exports. Here one recorded attempt, with no validator
//! entry loaded yet to judge it by:
//!
//! ```
//! use audit_store::{Store, Synthetic, SyntheticCheck};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), None).await?;
//! let at = audit_store::time::parse_utc("2025-02-10T12:00:00Z").unwrap();
//! let attempt = Synthetic {
//!     invocation_id: "attempt-1".into(),
//!     parent_invocation_id: "request-1".into(),
//!     task: "chat".into(),
//!     chute_id: "chute".into(),
//!     instance_id: "instance".into(),
//!     miner_uid: Some(1),
//!     miner_hotkey: "5A".into(),
//!     created_at: at - chrono::Duration::hours(2),
//!     has_error: false,
//!     check: SyntheticCheck::Pending,
//!     checked_at: None,
//! };
//! store.catalog().record_synthetics(&[attempt]).await?;
//!
//! let verification = synthetics::verify(&store, &[], at).await?;
//! assert_eq!((verification.checked, verification.pending), (0, 1));
//! assert!(verification.is_clean());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod capture;
pub mod payload;
pub mod prompts;
pub mod render;
pub mod rounds;
pub mod run;
pub mod select;
pub mod verify;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

pub use capture::{Capture, Output};
pub use prompts::{PromptSet, PromptSource, Turn};
pub use rounds::{clock_seed, Rounds, Schedule};
pub use run::{
    Observer, Outcome, Round, Summary, Synthesizer, TaskChoice, TaskSummary, MAX_EVENTS,
    MAX_TRACE_EVENTS,
};
pub use verify::{verify, Finding, Verification};

/// The kinds of synthetic request, as the spec's table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskType {
    /// OpenAI chat completion on a hot `vllm` chute, through the gateway.
    Chat,
    /// OpenAI text completion on a hot `vllm` chute, through the gateway.
    Completion,
    /// `/generate` on a hot `diffusion` chute.
    Image,
    /// `/speak` on a chute of user `chutes` with a non-streaming cord.
    Tts,
    /// `/embed` on a `tei` chute of user `chutes`.
    Embed,
}

impl TaskType {
    /// Every type, in the spec's order.
    pub const ALL: [TaskType; 5] = [
        TaskType::Chat,
        TaskType::Completion,
        TaskType::Image,
        TaskType::Tts,
        TaskType::Embed,
    ];

    /// The name stored in the catalog and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Chat => "chat",
            TaskType::Completion => "completion",
            TaskType::Image => "image",
            TaskType::Tts => "tts",
            TaskType::Embed => "embed",
        }
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskType {
    type Err = SynthError;

    fn from_str(text: &str) -> Result<Self, SynthError> {
        TaskType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| SynthError::UnknownTask(text.to_string()))
    }
}

/// Every way synthetics can fail, naming the input.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A task name that is not one of the five.
    #[error("unknown synthetic type `{0}`: use chat, completion, image, tts, embed or all")]
    UnknownTask(String),
    /// The network or the gateway failed.
    #[error(transparent)]
    Client(#[from] chutes_client::ClientError),
    /// The catalog or the lake failed.
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    /// A prompt file could not be read.
    #[error("reading prompts from {}: {source}", path.display())]
    PromptIo {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A prompt file's contents are not what its type promises.
    #[error("prompts in {}: {message}", path.display())]
    PromptFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or column.
        message: String,
    },
    /// A prompt file's CSV could not be parsed.
    #[error("prompts in {}: {source}", path.display())]
    PromptCsv {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: csv::Error,
    },
    /// A prompt Parquet file could not be read.
    #[error("prompts in {}: {source}", path.display())]
    PromptParquet {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: polars::error::PolarsError,
    },
    /// A prompt source gave no usable prompt.
    #[error("{0} holds no usable prompt")]
    NoPrompts(String),
    /// A chute of the catalogue lacks what its task needs.
    #[error("chute {chute_id} cannot take a {task} request: {message}")]
    Chute {
        /// The chute.
        chute_id: String,
        /// The task.
        task: TaskType,
        /// What is missing.
        message: String,
    },
    /// The lake's invocation facts could not be scanned.
    #[error("scanning the exported invocations: {0}")]
    Lake(#[source] polars::error::PolarsError),
}
