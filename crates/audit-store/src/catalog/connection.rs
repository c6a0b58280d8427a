//! Opening a catalog connection on either backend, and applying migrations.
//!
//! Queries are written once, against diesel's DSL; [`with_conn!`] expands a
//! query body for each backend so it is type-checked against both.

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::postgres::{pool_error, PgPool, PgPooled, PgTarget};
use crate::StoreError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// A store's connections: SQLite's one file connection behind a mutex
/// (its writers are serialised by the file anyway), or a PostgreSQL pool,
/// so readers (the report page, metrics, status) do not queue behind a
/// long write.
pub(crate) enum Connections {
    Sqlite(tokio::sync::Mutex<SqliteConn>),
    Postgres(PgPool),
}

/// One connection held for one catalog call, one variant per backend.
/// It lives on one call's stack, so the pooled variant's size costs
/// nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum CatalogConn<'a> {
    Sqlite(tokio::sync::MutexGuard<'a, SqliteConn>),
    Postgres(PgPooled),
}

impl Connections {
    /// A connection for one call: SQLite's, once free; a pooled PostgreSQL
    /// one, waiting a bounded time when all are busy. `url` (masked) names
    /// the catalog in errors. A task dropped in the middle of a transaction
    /// (a stage abandoned at its deadline) leaves its connection inside it
    /// (diesel-async does not roll back a dropped transaction future), and
    /// every later statement would join that transaction and never commit:
    /// each hand-out first ends whatever a dropped task left open.
    pub(crate) async fn get(&self, url: &str) -> Result<CatalogConn<'_>, StoreError> {
        match self {
            Connections::Sqlite(conn) => {
                let mut conn = conn.lock().await;
                end_abandoned_transaction(&mut *conn).await;
                Ok(CatalogConn::Sqlite(conn))
            }
            Connections::Postgres(pool) => {
                let mut conn = pool.get().await.map_err(|e| pool_error(url, e))?;
                end_abandoned_transaction(&mut *conn).await;
                Ok(CatalogConn::Postgres(conn))
            }
        }
    }
}

/// Rolls back a transaction whose task was dropped. A dropped task's
/// statements have all reached the database before this one (SQLite's
/// wrapper finishes a statement before its future drops; PostgreSQL
/// queues them on the one socket), so the rollback ends its transaction
/// whatever state the transaction manager was left in; when there was
/// none (its COMMIT already went out), the database says so and nothing
/// changes.
async fn end_abandoned_transaction<C>(c: &mut C)
where
    C: AsyncConnection,
    <C::TransactionManager as TransactionManager<C>>::TransactionStateData: Default,
{
    if !<C::TransactionManager as TransactionManager<C>>::is_broken_transaction_manager(c) {
        return;
    }
    tracing::warn!(
        "a cancelled task left the catalog connection inside a transaction; rolling it back"
    );
    let _ = c.batch_execute("ROLLBACK").await;
    *c.transaction_state() = Default::default();
}

/// Which database engine a [`crate::Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded, one file in the data directory (the default).
    Sqlite,
    /// A server, which several data directories may share.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Expands `$body` once per backend with `$conn` bound to that backend's
/// connection, so one query text serves both.
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::catalog::connection::CatalogConn::Sqlite(held) => {
                let $c: &mut $crate::catalog::connection::SqliteConn = &mut **held;
                $body
            }
            $crate::catalog::connection::CatalogConn::Postgres(held) => {
                let $c: &mut diesel_async::AsyncPgConnection = &mut **held;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// A parsed catalog URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CatalogUrl {
    Sqlite(String),
    Postgres(String),
}

impl CatalogUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(redact(url)));
            }
            Ok(CatalogUrl::Sqlite(path.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(redact(url)));
            }
            Ok(CatalogUrl::Sqlite(path.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(CatalogUrl::Postgres(url.to_string()))
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            CatalogUrl::Sqlite(_) => Backend::Sqlite,
            CatalogUrl::Postgres(_) => Backend::Postgres,
        }
    }
}

/// The URL with every credential masked, fit for logs and errors
/// ([`audit_model::mask_secrets`]: userinfo passwords in any form, and
/// `password=`/`key=`/`token=`/`secret=` parameters).
pub fn redact(url: &str) -> String {
    audit_model::mask_secrets(url)
}

pub(crate) async fn open(url: &CatalogUrl) -> Result<Connections, StoreError> {
    match url {
        CatalogUrl::Sqlite(path) => {
            let path = path.clone();
            let conn = tokio::task::spawn_blocking(move || open_sqlite(&path))
                .await
                .map_err(|e| StoreError::Migrate {
                    url: "sqlite".into(),
                    message: e.to_string(),
                })??;
            Ok(Connections::Sqlite(tokio::sync::Mutex::new(conn)))
        }
        CatalogUrl::Postgres(raw) => {
            let target = PgTarget::parse(raw)?;
            // One connection first: a wrong URL or certificate fails the
            // open, and the migrations run before any pooled query.
            let conn = target
                .connect()
                .await
                .map_err(|source| StoreError::Connect {
                    url: redact(raw),
                    source,
                })?;
            migrate_postgres(conn, redact(raw)).await?;
            Ok(Connections::Postgres(target.pool()?))
        }
    }
}

async fn migrate_postgres(conn: AsyncPgConnection, redacted: String) -> Result<(), StoreError> {
    let url = redacted.clone();
    // Migrations are synchronous in diesel; run them off the async workers
    // through the wrapper that blocks on our runtime.
    tokio::task::spawn_blocking(move || {
        let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> =
            AsyncConnectionWrapper::from(conn);
        wrapper
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|_| ())
            .map_err(|e| StoreError::Migrate {
                url: redacted,
                message: e.to_string(),
            })
    })
    .await
    .map_err(|e| StoreError::Migrate {
        url,
        message: e.to_string(),
    })?
}

fn open_sqlite(path: &str) -> Result<SqliteConn, StoreError> {
    if path != ":memory:" {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
        }
    }
    let mut conn = SqliteConnection::establish(path).map_err(|source| StoreError::Connect {
        url: format!("sqlite://{path}"),
        source,
    })?;
    // WAL lets readers (status, dashboards) run beside a sync; foreign keys
    // make ON DELETE CASCADE work; the busy timeout rides out short locks.
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    )
    .map_err(|source| StoreError::Query {
        op: "configure sqlite",
        source,
    })?;
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .map_err(|e| StoreError::Migrate {
            url: format!("sqlite://{path}"),
            message: e.to_string(),
        })?;
    Ok(SyncConnectionWrapper::new(conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_supported_urls() {
        assert_eq!(
            CatalogUrl::parse("sqlite:///var/lib/a.db").unwrap(),
            CatalogUrl::Sqlite("/var/lib/a.db".into())
        );
        assert_eq!(
            CatalogUrl::parse("sqlite://data/a.db").unwrap(),
            CatalogUrl::Sqlite("data/a.db".into())
        );
        assert_eq!(
            CatalogUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert!(matches!(
            CatalogUrl::parse("mysql://u@h/db"),
            Err(StoreError::UnsupportedUrl(_))
        ));
        assert!(CatalogUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://me:hunter2@db:5432/audit"),
            "postgres://me:***@db:5432/audit"
        );
        assert_eq!(redact("postgres://me@db/audit"), "postgres://me@db/audit");
        let err = CatalogUrl::parse("mysql://me:hunter2@db/x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        for url in [
            "postgres://me:hun/ter2@db/audit",
            "postgres://me:hun#ter2@db/audit",
            "postgres://db/audit?password=hunter2",
        ] {
            assert!(!redact(url).contains("ter2"), "{url}");
        }
    }
}
