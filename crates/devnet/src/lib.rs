//! A simulated Chutes network, for tests, demos and benchmarks: no test
//! may reach the internet.
//!
//! A *world* is a directory in a public format ([`world`],
//! docs/world-format.md). [`generate`] writes a deterministic one from a
//! seed. Serving a world over HTTP as the real network does, and the
//! simulated chain, build on this.

pub mod generate;
pub mod server;
pub mod ss58;
pub mod world;

use std::path::PathBuf;

pub use generate::{generate, GenerateOptions, GenerateSummary, VALIDATOR_HOTKEY};
pub use server::{DevnetServer, Faults};
pub use world::{entry_id, ListedEntry, World};

/// Every way the devnet can fail, naming the file or option.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Path(#[from] audit_store::StoreError),
}
