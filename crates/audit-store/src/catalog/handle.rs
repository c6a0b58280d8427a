//! The [`Catalog`] handle: its connections, the writer's session, and the
//! helpers every query module shares.

use tokio::sync::Mutex;

use super::connection::{self, redact, Backend, CatalogConn, CatalogUrl, Connections};
use crate::StoreError;

/// A handle on the catalog database. Cheap to share behind an `Arc`. On
/// PostgreSQL each call borrows a connection from a small pool, so readers
/// go on beside a long write; on SQLite calls are serialised on the one
/// connection (the heavy facts live in the lake).
pub struct Catalog {
    pub(super) conns: Connections,
    /// The PostgreSQL session holding the writer's advisory lock, kept out
    /// of the pool for the catalog's life: the lock belongs to the session.
    pub(super) writer: Mutex<Option<diesel_async::AsyncPgConnection>>,
    backend: Backend,
    url: String,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish()
    }
}

pub(super) fn query_err(op: &'static str) -> impl FnOnce(diesel::result::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

/// Entry ids per statement that names many entries: under SQLite's and
/// PostgreSQL's limits on bound parameters.
pub(super) const IDS_PER_STATEMENT: usize = 8192;

impl Catalog {
    /// Opens (creating if needed) the catalog at `url` and applies pending
    /// migrations. `url` is `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let parsed = CatalogUrl::parse(url)?;
        let conns = connection::open(&parsed).await?;
        Ok(Catalog {
            conns,
            writer: Mutex::new(None),
            backend: parsed.backend(),
            url: redact(url),
        })
    }

    /// A connection for one call (see [`Connections::get`]).
    pub(super) async fn conn(&self) -> Result<CatalogConn<'_>, StoreError> {
        self.conns.get(&self.url).await
    }

    /// The engine behind this catalog.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The catalog URL with any password masked.
    pub fn url(&self) -> &str {
        &self.url
    }
}

pub(super) fn require_one(updated: usize, key: &str) -> Result<(), StoreError> {
    if updated == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(key.to_string()))
    }
}

/// At most `max` bytes of `text`, cut on a character boundary
/// (PostgreSQL keeps 63 bytes of an application name).
pub(super) fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
