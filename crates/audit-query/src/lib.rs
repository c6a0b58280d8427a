//! SQL over the audit lake and catalog, under upstream's names.
//!
//! Users of the upstream auditor and dashboard authors have queries
//! written against its PostgreSQL tables (`invocations`, `reports`,
//! `jobs`, `instance_audits`, `miner_metrics`, `metagraph_nodes`,
//! `gpu_counts`, `synthetics`, `audit_entries`). [`query`] offers the same
//! tables, with upstream's column names wherever the column exists, over
//! the lake's Parquet facts and the catalog, scoped to one evaluation time
//! and window ([`Scope`]), and runs one read-only `SELECT` on them with
//! polars' SQL engine. The tables, their columns and what differs from
//! upstream are listed in docs/query.md.
//!
//! # Example
//!
//! A query over a catalog that holds two chutes' GPU counts, and a query
//! that would write, refused:
//!
//! ```
//! use audit_query::{query, QueryError, Scope};
//! use audit_store::{GpuCount, Store};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), None).await?;
//! let at = audit_store::time::parse_utc("2025-02-10T12:00:00Z").unwrap();
//! let counts = [("chute-a", 8), ("chute-b", 1)]
//!     .map(|(chute, gpus)| GpuCount { chute_id: chute.into(), gpu_count: gpus });
//! store.catalog().replace_gpu_counts(&counts, at).await?;
//!
//! let scope = Scope {
//!     at,
//!     window: chrono::Duration::days(7),
//!     validators: vec![],
//!     netuid: 64,
//! };
//! let sql = "SELECT chute_id FROM gpu_counts WHERE gpu_count > 4";
//! let result = query(&store, &scope, sql).await?;
//! assert_eq!(result.rows(), [["chute-a"]]);
//!
//! let refused = query(&store, &scope, "DELETE FROM gpu_counts").await;
//! assert!(matches!(refused, Err(QueryError::Refused(_))));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod guard;
mod output;
mod tables;

use audit_store::Store;
use chrono::NaiveDateTime;
use polars::prelude::*;
use polars::sql::SQLContext;

pub use output::Format;
pub use tables::TABLES;

/// What a query can fail on. Messages name the input and the remedy.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not SQL the parser reads.
    #[error("the query does not parse: {0}")]
    Syntax(String),
    /// The query would do more than read the tables.
    #[error("refusing the query: {0}")]
    Refused(String),
    /// polars could not plan or run it (an unknown column, a type error).
    #[error("the query failed: {0}")]
    Engine(String),
    /// Reading the catalog or the lake.
    #[error(transparent)]
    Store(#[from] audit_store::StoreError),
    /// Writing the result.
    #[error("writing the result: {0}")]
    Output(String),
}

impl From<PolarsError> for QueryError {
    fn from(err: PolarsError) -> Self {
        QueryError::Engine(err.to_string())
    }
}

/// Which data the tables hold: the evaluation time, the window before it,
/// whose entries are the validator's, and the subnet.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The window ends here (inclusive), as `weights --at` does.
    pub at: NaiveDateTime,
    /// The window's length before `at`.
    pub window: chrono::Duration,
    /// Hotkeys whose entries are the validator's (invocations, reports,
    /// jobs); empty reads every validator entry.
    pub validators: Vec<String>,
    /// The subnet of `metagraph_nodes`.
    pub netuid: u16,
}

/// A query's result: columns and rows, ready to render or write.
#[derive(Debug, Clone)]
pub struct QueryResult {
    frame: DataFrame,
}

impl QueryResult {
    /// Column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.frame
            .get_column_names()
            .into_iter()
            .map(|n| n.to_string())
            .collect()
    }

    /// How many rows.
    pub fn height(&self) -> usize {
        self.frame.height()
    }

    /// Every row as text, a null as an empty cell (as upstream's CSV
    /// exports write it).
    pub fn rows(&self) -> Vec<Vec<String>> {
        output::text_rows(&self.frame)
    }

    /// One column's values as numbers, `None` where null or not numeric
    /// (for checks and tests).
    pub fn floats(&self, column: &str) -> Result<Vec<Option<f64>>, QueryError> {
        let values = self.frame.column(column)?.cast(&DataType::Float64)?;
        Ok(values.f64()?.iter().collect())
    }

    /// Writes the result as CSV, JSON (an array of row objects) or Parquet.
    pub fn write(&self, format: Format, out: &mut dyn std::io::Write) -> Result<(), QueryError> {
        output::write(&self.frame, format, out)
    }
}

/// Runs one read-only SQL query over the tables of [`TABLES`], scoped by
/// `scope`. Tables are read lazily: a query touching `gpu_counts` alone
/// scans no Parquet.
pub async fn query(store: &Store, scope: &Scope, sql: &str) -> Result<QueryResult, QueryError> {
    guard::check_read_only(sql)?;
    let tables = tables::gather(store, scope).await?;
    let mut context = SQLContext::new();
    for (name, frame) in tables {
        context.register(name, frame);
    }
    let frame = context.execute(sql)?.collect()?;
    Ok(QueryResult { frame })
}
