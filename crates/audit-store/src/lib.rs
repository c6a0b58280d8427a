//! Persistence for chutes-audit.
//!
//! Two homes for two kinds of data:
//!
//! - the [`Catalog`] (diesel, SQLite by default or PostgreSQL): audit entries
//!   and their verification state, synthetics, metagraph snapshots, GPU
//!   counts, weights runs and agreement results — small, relational, queried;
//! - the [`Lake`]: per-entry folders with the raw evidence and the facts as
//!   Parquet — large, immutable, scanned with polars.
//!
//! [`Store`] opens both from a data directory and an optional database URL.
//! Loading an entry writes the lake first and marks the catalog last, so the
//! catalog never claims facts the lake does not hold.

#![warn(missing_docs)]

mod catalog;
pub mod facts;
mod lake;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::{Path, PathBuf};

pub use audit_model::time;
pub use catalog::*;
pub use lake::{
    confine, write_atomic, FactTable, FactWriter, Lake, LakeEntry, UnsafePath, TMP_MARKER,
};

/// Every way the store can fail. Messages name the input and the remedy.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL `{0}`: use sqlite://PATH (embedded) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    #[error("cannot connect to the catalog at {url}: {source}; check that the database is running and the URL is right")]
    Connect {
        url: String,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error("applying the catalog migrations to {url} failed: {message}")]
    Migrate { url: String, message: String },
    #[error("catalog query failed ({op}): {source}")]
    Query {
        op: &'static str,
        #[source]
        source: diesel::result::Error,
    },
    #[error("no catalog record `{0}`")]
    NotFound(String),
    #[error("the catalog holds a value this version cannot read: {0}")]
    Corrupt(String),
    #[error("refusing an unsafe path {0}")]
    UnsafePath(#[from] UnsafePath),
    #[error("I/O on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Parquet facts at {}: {message}", path.display())]
    Facts { path: PathBuf, message: String },
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
        })
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
