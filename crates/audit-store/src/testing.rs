//! Test support: run the same test body against every catalog backend.
//!
//! SQLite always runs, on a fresh file. PostgreSQL runs against a fresh
//! database created on the server named by `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When that server is not
//! reachable the PostgreSQL variant prints a loud notice and is skipped,
//! unless `REQUIRE_POSTGRES=1`, in which case it fails.

use std::future::Future;
use std::path::PathBuf;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::catalog::Backend;
use crate::Store;

/// A store in a temporary directory, removed on drop (the PostgreSQL
/// database too).
pub struct TestStore {
    // Fields are private on purpose: a test that captured only `store` in an
    // `async move` block would drop the scratch database under its feet.
    // Field order matters: the store closes before the database is dropped.
    store: Store,
    database_url: String,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
    // Held for its Drop, which removes the scratch database.
    #[allow(dead_code)]
    pg: Option<PgScratch>,
}

impl TestStore {
    /// The store under test.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The catalog URL, to open a second handle on the same database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Opens a second handle on the same data directory and database.
    pub async fn reopen(&self) -> Store {
        Store::open(&self.data_dir, Some(&self.database_url))
            .await
            .expect("reopen test store")
    }

    /// Closes the store and opens it again on the same data directory and
    /// database, as a restarted process would.
    pub async fn restart(self) -> TestStore {
        let TestStore {
            store,
            database_url,
            data_dir,
            _dir,
            pg,
        } = self;
        drop(store);
        let store = Store::open(&data_dir, Some(&database_url))
            .await
            .expect("reopen test store");
        TestStore {
            store,
            database_url,
            data_dir,
            _dir,
            pg,
        }
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.store.catalog().backend()
    }
}

struct PgScratch {
    admin_url: String,
    name: String,
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Dropping runs outside any runtime guarantee; use a small one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = AsyncPgConnection::establish(&admin).await.ok()?;
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn postgres_required() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A fresh SQLite-backed store.
pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let database_url = Store::default_database_url(&data_dir);
    let store = Store::open(&data_dir, Some(&database_url))
        .await
        .expect("open sqlite store");
    TestStore {
        store,
        database_url,
        data_dir,
        _dir: dir,
        pg: None,
    }
}

/// A fresh PostgreSQL-backed store in a new database, or `None` (after a
/// loud notice) when no server is reachable and it is not required.
pub async fn postgres_store() -> Option<TestStore> {
    let admin = admin_url();
    let mut conn = match AsyncPgConnection::establish(&admin).await {
        Ok(conn) => conn,
        Err(err) => {
            if postgres_required() {
                panic!(
                    "REQUIRE_POSTGRES=1 but PostgreSQL at {} is unreachable: {err}",
                    crate::catalog::redact(&admin)
                );
            }
            eprintln!(
                "\n!!! SKIPPING the PostgreSQL variant: cannot reach {} ({err}).\n\
                 !!! Set TEST_DATABASE_URL, or REQUIRE_POSTGRES=1 to make this an error.\n",
                crate::catalog::redact(&admin)
            );
            return None;
        }
    };
    let name = format!(
        "audit_test_{}",
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..16)
            .unwrap_or("x")
    );
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create scratch database");
    let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    let database_url = url.to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let pg = PgScratch {
        admin_url: admin,
        name,
    };
    let store = Store::open(&data_dir, Some(&database_url))
        .await
        .expect("open postgres store");
    Some(TestStore {
        store,
        database_url,
        data_dir,
        _dir: dir,
        pg: Some(pg),
    })
}

/// Runs `body` once per available backend. The body gets a fresh store.
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    body(sqlite_store().await).await;
    if let Some(store) = postgres_store().await {
        body(store).await;
    }
}
