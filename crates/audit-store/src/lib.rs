//! Persistence for chutes-audit.
//!
//! Two homes for two kinds of data:
//!
//! - the [`Catalog`] (diesel, SQLite by default or PostgreSQL): audit entries
//!   and their verification state, synthetics, metagraph snapshots, GPU
//!   counts, weights runs and agreement results — small, relational, queried;
//! - the [`Lake`]: per-entry folders with the raw evidence and the facts as
//!   Parquet (miners' self-reports' facts a sync's batch to a table) —
//!   large, immutable, scanned with polars.
//!
//! [`Store`] opens both from a data directory and an optional database URL.
//! Loading an entry writes the lake first and marks the catalog last, so the
//! catalog never claims facts the lake does not hold.
//!
//! # Example
//!
//! An entry loaded as sync loads one: listed in the catalog, its facts
//! written to the lake, then marked loaded.
//!
//! ```
//! use audit_store::facts::{self, invocations as inv};
//! use audit_store::{AuditEntry, EntrySource, EntryState, FactTable, LoadedEntry, Store};
//! use polars::prelude::*;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // The catalog is SQLite in the data directory unless a URL is given.
//! let store = Store::open(dir.path(), None).await?;
//!
//! let t = |text: &str| audit_store::time::parse_utc(text).expect("a time");
//! let entry = AuditEntry {
//!     entry_id: "0b0c7a39-64a1-5f6c-8f6e-8e2ab0b8c1d2".into(),
//!     hotkey: "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ".into(),
//!     block: 100,
//!     path: "audit/validator/5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ/100.json".into(),
//!     source: EntrySource::Validator,
//!     created_at: t("2025-02-10T10:00:07Z"),
//!     start_time: t("2025-02-10T09:00:00Z"),
//!     end_time: t("2025-02-10T10:00:00Z"),
//! };
//! let catalog = store.catalog();
//! catalog.record_listed(std::slice::from_ref(&entry), entry.created_at).await?;
//!
//! // The lake first: facts with the table's schema (absent columns null).
//! let rows = df!(inv::INVOCATION_ID => ["i1", "i2"], inv::MINER_HOTKEY => ["5A", "5B"])?;
//! let mut rows = facts::conform(rows, FactTable::Invocations, &[])?;
//! store.lake().write_facts(&entry.entry_id, FactTable::Invocations, &mut rows)?;
//! // The catalog last, so it never claims facts the lake does not hold.
//! let loaded = LoadedEntry {
//!     report_sha256: "00".into(),
//!     unverifiable: false,
//!     instance_rows: 0,
//!     commitment_proven: None,
//!     exports: vec![],
//! };
//! catalog.mark_loaded(&entry.entry_id, &loaded, entry.created_at).await?;
//!
//! let since = t("2025-02-03T00:00:00Z");
//! assert_eq!(catalog.entries_in_states(&[EntryState::Loaded], since).await?.len(), 1);
//! assert_eq!(store.lake().entries()?.len(), 1);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod catalog;
pub mod facts;
mod files;
mod lake;
mod lock;
mod schema;
mod self_reports;
mod status;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::{Path, PathBuf};

pub use audit_model::{coverage, time};
pub use catalog::{
    redact, AgreementResult, AgreementRun, AuditEntry, Backend, Catalog, CatalogSummary,
    EntryCount, EntryRecord, EntrySource, EntryState, ExportKind, ExportRecord, GpuCount, Listing,
    LoadedEntry, MalformedListing, MetagraphSnapshot, MinerScore, Neuron, NormalisedFeatures,
    RawFeatures, SendResolution, SubmissionOutcome, Synthetic, SyntheticCheck, Verified,
    WeightsCallKind, WeightsRun, WeightsSubmission, WeightsSubmissionRecord,
};
pub use facts::FactTable;
pub use files::TMP_MARKER;
pub use lake::{confine, write_atomic, FactWriter, Lake, LakeEntry, Migration, UnsafePath};
pub use lock::{LockRequest, LockWait, WriteLock, CATALOG_LOCK_KEY, LOCK_FILE};
pub use self_reports::{SelfReportFacts, ENTRY_ID};
pub use status::{Coverage, LakeStatus, StoreStatus};

/// Every way the store can fail. Messages name the input and the remedy.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Neither SQLite nor PostgreSQL; the URL is masked.
    #[error(
        "unsupported database URL `{0}`: use sqlite://PATH (embedded) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    /// The driver's message is masked too: it may quote the URL.
    #[error("cannot connect to the catalog at {url}: {}; check that the database is running and the URL is right", audit_model::mask_secrets(&source.to_string()))]
    Connect {
        /// The URL, masked.
        url: String,
        /// The driver's error.
        #[source]
        source: diesel::ConnectionError,
    },
    /// The URL's `sslmode`/`sslrootcert` cannot be honoured as written.
    #[error("the TLS settings of the catalog URL {url} are unusable: {message}")]
    TlsSettings {
        /// The URL, masked.
        url: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// No pooled catalog connection could be had.
    #[error("no catalog connection to {url}: {message}")]
    Pool {
        /// The URL, masked.
        url: String,
        /// Why.
        message: String,
    },
    /// The schema could not be brought up to date.
    #[error("applying the catalog migrations to {url} failed: {message}")]
    Migrate {
        /// The URL, masked.
        url: String,
        /// What the migration harness said.
        message: String,
    },
    /// A query failed.
    #[error("catalog query failed ({op}): {source}")]
    Query {
        /// What the query was for.
        op: &'static str,
        /// The database's error.
        #[source]
        source: diesel::result::Error,
    },
    /// A record the caller named does not exist.
    #[error("no catalog record `{0}`")]
    NotFound(String),
    /// A stored value this version cannot read back.
    #[error("the catalog holds a value this version cannot read: {0}")]
    Corrupt(String),
    /// A path from the network that would leave its root.
    #[error("refusing an unsafe path {0}")]
    UnsafePath(#[from] UnsafePath),
    /// A file or directory of the lake.
    #[error("I/O on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Writing or reading the Parquet facts.
    #[error("Parquet facts at {}: {message}", path.display())]
    Facts {
        /// The Parquet file.
        path: PathBuf,
        /// What polars said.
        message: String,
    },
    /// Another process is writing to the same data directory or catalog.
    #[error("{what} is locked by {holder}: another auditor is writing there; wait for it to finish, or pass --wait to queue behind it")]
    Locked {
        /// The lock file or the catalog.
        what: String,
        /// Who holds it: pid, command and start time as the holder wrote.
        holder: String,
    },
}

impl From<diesel::result::Error> for StoreError {
    fn from(source: diesel::result::Error) -> Self {
        StoreError::Query {
            op: "transaction",
            source,
        }
    }
}

/// The catalog and the lake of one data directory.
#[derive(Debug)]
pub struct Store {
    catalog: Catalog,
    lake: Lake,
    data_dir: PathBuf,
    /// Held for the store's life by writers ([`Store::open_for_writing`]).
    lock: Option<WriteLock>,
}

impl Store {
    /// The catalog URL used when none is configured: an SQLite file in the
    /// data directory.
    pub fn default_database_url(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("catalog.db").display())
    }

    /// Opens the store: creates the data directory, opens the lake, and
    /// opens the catalog at `database_url` (or the embedded default),
    /// applying pending migrations.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let lake = Lake::open(data_dir)?;
        let url = match database_url {
            Some(url) => url.to_string(),
            None => Self::default_database_url(data_dir),
        };
        let catalog = Catalog::open(&url).await?;
        Ok(Store {
            catalog,
            lake,
            data_dir: data_dir.to_path_buf(),
            lock: None,
        })
    }

    /// Opens the store for a command that writes: first the exclusive lock
    /// on the data directory, then the catalog, then (on PostgreSQL, which
    /// two data directories may share) the catalog's advisory lock. Both
    /// are held until the store is dropped; a held lock is
    /// [`StoreError::Locked`] naming its holder, unless the request waits.
    /// A lake of an earlier schema version is then migrated
    /// ([`Lake::migrate`]).
    pub async fn open_for_writing(
        data_dir: &Path,
        database_url: Option<&str>,
        request: &LockRequest,
    ) -> Result<Self, StoreError> {
        let lock = {
            let (dir, request) = (data_dir.to_path_buf(), request.clone());
            tokio::task::spawn_blocking(move || WriteLock::acquire(&dir, &request))
                .await
                .map_err(|join| StoreError::Io {
                    path: data_dir.join(LOCK_FILE),
                    source: std::io::Error::other(join),
                })??
        };
        let mut store = Store::open(data_dir, database_url).await?;
        let wait = request.wait == LockWait::Wait;
        if let Err(holder) = store
            .catalog
            .advisory_lock(&request.holder_line(), wait)
            .await?
        {
            return Err(StoreError::Locked {
                what: format!("the catalog {}", store.catalog.url()),
                holder,
            });
        }
        store.lock = Some(lock);
        // The first writer of a lake from an earlier version migrates it,
        // holding both locks: nothing else writes meanwhile.
        let lake = store.lake.clone();
        let migration = tokio::task::spawn_blocking(move || lake.migrate())
            .await
            .map_err(|join| StoreError::Io {
                path: store.lake.root().to_path_buf(),
                source: std::io::Error::other(join),
            })??;
        if migration.files_rewritten + migration.counts_written > 0 {
            tracing::info!(
                from = migration.from_version,
                files = migration.files_rewritten,
                counts = migration.counts_written,
                "migrated the lake's facts to schema version {}",
                facts::SCHEMA_VERSION
            );
        }
        Ok(store)
    }

    /// The catalog database.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The Parquet lake.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The data directory everything lives under.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}
