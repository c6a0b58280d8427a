//! A simulated Chutes network, for tests, demos and benchmarks: no test
//! may reach the internet.
//!
//! A *world* is a directory in a public format ([`world`],
//! docs/world-format.md). [`generate`] writes a deterministic one from a
//! seed. [`server`] serves one over HTTP as the real network does,
//! including traced invocations ([`invoke`]) recorded into the open hour
//! ([`live`]) and published hour by hour, and a Prometheus query
//! endpoint for any simulated miner ([`prometheus`]). [`Network`] starts
//! the HTTP API and the simulated chain node (`devnet-chain`, from
//! [`World::chain_genesis`]) together, on loopback. [`derive_incentives`]
//! scores a world's own traffic ([`feed`]) to pay its miners as the
//! validator would. [`drive`] runs an auditor's loop through published
//! hours, as the demo does; [`DevnetClock`] reads the world's present
//! for an auditor running against it.
//!
//! # Example
//!
//! A small world, written from a seed and read back; [`Network::start`]
//! would serve it on loopback with its chain node.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let out = dir.path().join("world");
//! let summary = devnet::generate(&devnet::GenerateOptions {
//!     out: out.clone(),
//!     seed: 7,
//!     miners: 3,
//!     hours: 2,
//!     invocations_per_hour: 20,
//!     now: devnet::default_now(),
//! })?;
//! let world = devnet::World::load(&out)?;
//! assert_eq!(world.entries.len(), summary.entries);
//! // Each entry's report is committed on the simulated chain.
//! assert_eq!(world.chain_genesis()?.commitments.len(), world.entries.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod clock;
pub mod drive;
pub mod feed;
pub mod generate;
pub mod invoke;
pub mod live;
pub mod network;
pub mod prometheus;
pub mod server;
pub mod world;

use std::path::PathBuf;

pub use clock::{DevnetClock, DevnetClockError};
pub use drive::{DriveError, DriveEvent};
pub use feed::{derive_incentives, make_world, DeriveError, MadeWorld, MakeWorldError, WorldFeed};
pub use generate::rows::InvocationRow;
pub use generate::{
    default_now, generate, generate_shaped, GenerateOptions, GenerateSummary, WorldShape,
    VALIDATOR_HOTKEY,
};
pub use live::Published;
pub use network::{
    validator_seed_hex, ChainLies, ForgedCommitment, Network, NetworkError, NetworkOptions,
    DEMO_BLOCK_TIME,
};
pub use server::{DevnetServer, Faults, Hostile, PublishHook};
pub use world::{entry_id, ListedEntry, World};

/// Every way the devnet can fail, naming the file or option.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Reading or writing a world file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A world file does not hold what the format says.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Generation options that cannot work.
    #[error("{0}")]
    Options(String),
    /// The HTTP API cannot listen on the address asked for.
    #[error("cannot listen on {addr}: {source}; choose another port or 0 for a free one")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the socket said.
        #[source]
        source: std::io::Error,
    },
    /// A path in the world leaves its directory.
    #[error(transparent)]
    Path(#[from] audit_model::path::UnsafePath),
}
