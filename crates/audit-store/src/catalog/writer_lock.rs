//! The writer's advisory lock on a PostgreSQL catalog: one session holds it
//! for the catalog's life.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::connection::{CatalogConn, Connections};
use super::handle::{query_err, truncate, Catalog};
use super::postgres;
use crate::StoreError;

impl Catalog {
    /// Takes the session-level advisory lock [`crate::CATALOG_LOCK_KEY`]
    /// on a PostgreSQL catalog and names the session after `holder`; on
    /// SQLite (one file per data directory, whose file lock suffices) it
    /// does nothing. `Err(holder)` when another session holds it and
    /// `wait` is false: that session's name, as far as PostgreSQL says.
    pub(crate) async fn advisory_lock(
        &self,
        holder: &str,
        wait: bool,
    ) -> Result<Result<(), String>, StoreError> {
        use diesel::sql_types::{BigInt, Bool, Text};
        #[derive(QueryableByName)]
        struct Taken {
            #[diesel(sql_type = Bool)]
            taken: bool,
        }
        #[derive(QueryableByName)]
        struct Holder {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let Connections::Postgres(_) = &self.conns else {
            return Ok(Ok(()));
        };
        let mut writer = self.writer.lock().await;
        if writer.is_some() {
            return Ok(Ok(()));
        }
        let CatalogConn::Postgres(pooled) = self.conn().await? else {
            return Ok(Ok(()));
        };
        let mut session = postgres::PgPooled::take(pooled);
        let c = &mut session;
        let key = crate::lock::CATALOG_LOCK_KEY;
        let sql = if wait {
            "SELECT pg_advisory_lock($1) IS NOT NULL AS taken"
        } else {
            "SELECT pg_try_advisory_lock($1) AS taken"
        };
        let taken: Taken = diesel::sql_query(sql)
            .bind::<BigInt, _>(key)
            .get_result(c)
            .await
            .map_err(query_err("take the catalog's writer lock"))?;
        if !taken.taken {
            // pg_locks splits a bigint key into its high and low halves.
            let who: Option<Holder> = diesel::sql_query(
                "SELECT coalesce(nullif(a.application_name, ''), 'backend pid ' || a.pid) AS name \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted \
                 AND l.classid::bigint = ($1 >> 32) AND l.objid::bigint = ($1 & 4294967295) \
                 LIMIT 1",
            )
            .bind::<BigInt, _>(key)
            .get_result(c)
            .await
            .optional()
            .map_err(query_err("name the catalog's writer"))?;
            return Ok(Err(
                who.map_or_else(|| "another session".to_string(), |h| h.name)
            ));
        }
        // The name is how the next asker learns who holds the lock.
        diesel::sql_query("SELECT set_config('application_name', $1, false)")
            .bind::<Text, _>(truncate(holder, 60))
            .execute(c)
            .await
            .map_err(query_err("name the catalog's writer session"))?;
        *writer = Some(session);
        Ok(Ok(()))
    }
}
