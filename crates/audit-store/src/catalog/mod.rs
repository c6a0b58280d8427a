//! The catalog: a small relational database of audit entries and their
//! state, synthetics, metagraph snapshots, GPU counts, weights runs and
//! agreement results.
//!
//! One [`Catalog`] type serves SQLite and PostgreSQL. Every query is written
//! once in diesel's DSL and expanded per backend by `with_conn!`, so the two
//! cannot drift apart; the test suite runs against both.

pub(crate) mod connection;
mod model;
mod postgres;
mod rows;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};
use tokio::sync::Mutex;

pub use connection::{redact, Backend};
pub use model::*;

use crate::schema::*;
use crate::StoreError;
use connection::{with_conn, CatalogConn, CatalogUrl, Connections};
use rows::*;

/// A handle on the catalog database. Cheap to share behind an `Arc`. On
/// PostgreSQL each call borrows a connection from a small pool, so readers
/// go on beside a long write; on SQLite calls are serialised on the one
/// connection (the heavy facts live in the lake).
pub struct Catalog {
    conns: Connections,
    /// The PostgreSQL session holding the writer's advisory lock, kept out
    /// of the pool for the catalog's life: the lock belongs to the session.
    writer: Mutex<Option<diesel_async::AsyncPgConnection>>,
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

fn query_err(op: &'static str) -> impl FnOnce(diesel::result::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

/// Entry ids per statement that names many entries: under SQLite's and
/// PostgreSQL's limits on bound parameters.
const IDS_PER_STATEMENT: usize = 8192;

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
    async fn conn(&self) -> Result<CatalogConn<'_>, StoreError> {
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

    // ---- the writer lock (PostgreSQL) -----------------------------------

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

    // ---- audit entries -------------------------------------------------

    /// Records newly listed entries as pending; entries already known keep
    /// their state. Returns how many were new.
    pub async fn record_listed(
        &self,
        entries: &[AuditEntry],
        now: NaiveDateTime,
    ) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut guard = self.conn().await?;
        // A listing holds the whole window (ten thousand entries a week), of
        // which an hour adds a few dozen: only those are inserted. Row by
        // row in one transaction: diesel-async cannot batch-insert on
        // SQLite, and one text for both backends matters more here than
        // round trips.
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let mut known = std::collections::HashSet::new();
                let ids: Vec<&str> = entries.iter().map(|e| e.entry_id.as_str()).collect();
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    let found: Vec<String> = audit_entries::table
                        .filter(audit_entries::entry_id.eq_any(chunk))
                        .select(audit_entries::entry_id)
                        .load(c)
                        .await
                        .map_err(query_err("read known entries"))?;
                    known.extend(found);
                }
                let rows: Vec<NewEntryRow> = entries
                    .iter()
                    .filter(|e| !known.contains(&e.entry_id))
                    .map(|e| NewEntryRow::new(e, now))
                    .collect();
                let mut inserted = 0;
                for row in &rows {
                    inserted += diesel::insert_into(audit_entries::table)
                        .values(row)
                        .on_conflict(audit_entries::entry_id)
                        .do_nothing()
                        .execute(c)
                        .await
                        .map_err(query_err("record listed entries"))?;
                }
                Ok(inserted)
            })
            .await
        })
    }

    /// One entry by id.
    pub async fn entry(&self, entry_id: &str) -> Result<Option<EntryRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let row: Option<EntryRow> = with_conn!(&mut guard, |c| {
            audit_entries::table
                .find(entry_id)
                .select(EntryRow::as_select())
                .first(c)
                .await
                .optional()
        })
        .map_err(query_err("read entry"))?;
        row.map(EntryRow::into_record).transpose()
    }

    /// Entries in `states`, created at or after `since`, oldest first.
    pub async fn entries_in_states(
        &self,
        states: &[EntryState],
        since: NaiveDateTime,
    ) -> Result<Vec<EntryRecord>, StoreError> {
        let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let mut guard = self.conn().await?;
        let rows: Vec<EntryRow> = with_conn!(&mut guard, |c| {
            audit_entries::table
                .filter(audit_entries::state.eq_any(&states))
                .filter(audit_entries::created_at.ge(since))
                .order((
                    audit_entries::created_at.asc(),
                    audit_entries::entry_id.asc(),
                ))
                .select(EntryRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("list entries by state"))?;
        rows.into_iter().map(EntryRow::into_record).collect()
    }

    /// Ids of the loaded entries created at or after `since`: the one
    /// column a sync needs four times a run, without reading whole rows.
    pub async fn loaded_entry_ids(&self, since: NaiveDateTime) -> Result<Vec<String>, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            audit_entries::table
                .filter(audit_entries::state.eq(EntryState::Loaded.as_str()))
                .filter(audit_entries::created_at.ge(since))
                .select(audit_entries::entry_id)
                .load(c)
                .await
        })
        .map_err(query_err("list loaded entry ids"))
    }

    /// Loaded entries of `source` created in `[from, until)`, oldest first.
    pub async fn loaded_entries(
        &self,
        source: EntrySource,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<EntryRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let rows: Vec<EntryRow> = with_conn!(&mut guard, |c| {
            audit_entries::table
                .filter(audit_entries::state.eq(EntryState::Loaded.as_str()))
                .filter(audit_entries::source.eq(source.as_str()))
                .filter(audit_entries::created_at.ge(from))
                .filter(audit_entries::created_at.lt(until))
                .order((
                    audit_entries::created_at.asc(),
                    audit_entries::entry_id.asc(),
                ))
                .select(EntryRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("list loaded entries"))?;
        rows.into_iter().map(EntryRow::into_record).collect()
    }

    /// Marks an entry verified (its report matched the chain) or
    /// unverifiable (the chain state was pruned), recording the report hash.
    pub async fn mark_verified(
        &self,
        entry_id: &str,
        report_sha256: &str,
        unverifiable: bool,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let state = if unverifiable {
            EntryState::Unverifiable
        } else {
            EntryState::Verified
        };
        let mut guard = self.conn().await?;
        let n = with_conn!(&mut guard, |c| {
            diesel::update(audit_entries::table.find(entry_id))
                .set((
                    audit_entries::state.eq(state.as_str()),
                    audit_entries::unverifiable.eq(unverifiable),
                    audit_entries::report_sha256.eq(report_sha256),
                    audit_entries::reject_reason.eq(None::<String>),
                    audit_entries::updated_at.eq(now),
                ))
                .execute(c)
                .await
        })
        .map_err(query_err("mark entry verified"))?;
        require_one(n, entry_id)
    }

    /// Rejects an entry with a reason; it stays out of the lake and is
    /// retried on the next sync. Its export records go with it, so a
    /// formerly loaded entry claims no files.
    pub async fn reject(
        &self,
        entry_id: &str,
        reason: &str,
        report_sha256: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                diesel::delete(entry_exports::table.filter(entry_exports::entry_id.eq(entry_id)))
                    .execute(c)
                    .await
                    .map_err(query_err("clear rejected exports"))?;
                let n = diesel::update(audit_entries::table.find(entry_id))
                    .set((
                        audit_entries::state.eq(EntryState::Rejected.as_str()),
                        audit_entries::reject_reason.eq(reason),
                        audit_entries::report_sha256.eq(report_sha256),
                        audit_entries::attempts.eq(audit_entries::attempts + 1),
                        audit_entries::updated_at.eq(now),
                        audit_entries::loaded_at.eq(None::<NaiveDateTime>),
                    ))
                    .execute(c)
                    .await
                    .map_err(query_err("reject entry"))?;
                require_one(n, entry_id)
            })
            .await
        })
    }

    /// Marks an entry loaded and records its exports, in one transaction:
    /// either all of it is visible or none of it.
    pub async fn mark_loaded(
        &self,
        entry_id: &str,
        loaded: &LoadedEntry,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        self.mark_all_loaded(&[(entry_id, loaded)], now).await
    }

    /// Marks entries loaded with their exports, all in one transaction
    /// (a sync's self-reports come thousands at a time; a transaction
    /// each cost more than their files).
    pub async fn mark_all_loaded(
        &self,
        entries: &[(&str, &LoadedEntry)],
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let ids: Vec<&str> = entries.iter().map(|(id, _)| *id).collect();
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                // Earlier export records go in one statement per chunk, not
                // one per entry: on PostgreSQL each is a round trip.
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    diesel::delete(
                        entry_exports::table.filter(entry_exports::entry_id.eq_any(chunk)),
                    )
                    .execute(c)
                    .await
                    .map_err(query_err("clear entry exports"))?;
                }
                for (entry_id, loaded) in entries {
                    let entry_id = *entry_id;
                    for export in &loaded.exports {
                        diesel::insert_into(entry_exports::table)
                            .values(&ExportRow::new(entry_id, export))
                            .execute(c)
                            .await
                            .map_err(query_err("record entry exports"))?;
                    }
                    let n = diesel::update(audit_entries::table.find(entry_id))
                        .set((
                            audit_entries::state.eq(EntryState::Loaded.as_str()),
                            audit_entries::unverifiable.eq(loaded.unverifiable),
                            audit_entries::report_sha256.eq(&loaded.report_sha256),
                            audit_entries::reject_reason.eq(None::<String>),
                            audit_entries::instance_rows.eq(to_i64(loaded.instance_rows)),
                            audit_entries::attempts.eq(audit_entries::attempts + 1),
                            audit_entries::updated_at.eq(now),
                            audit_entries::loaded_at.eq(Some(now)),
                        ))
                        .execute(c)
                        .await
                        .map_err(query_err("mark entry loaded"))?;
                    require_one(n, entry_id)?;
                }
                Ok(())
            })
            .await
        })
    }

    /// Sends loaded entries back to `pending` (their lake files are gone):
    /// the next load re-fetches and re-verifies them. Their export records
    /// go too, so the catalog claims nothing the lake does not hold.
    /// Returns how many entries changed.
    pub async fn requeue(
        &self,
        entry_ids: &[String],
        now: NaiveDateTime,
    ) -> Result<usize, StoreError> {
        if entry_ids.is_empty() {
            return Ok(0);
        }
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let mut changed = 0;
                for chunk in entry_ids.chunks(500) {
                    diesel::delete(
                        entry_exports::table.filter(entry_exports::entry_id.eq_any(chunk)),
                    )
                    .execute(c)
                    .await
                    .map_err(query_err("clear requeued exports"))?;
                    changed += diesel::update(
                        audit_entries::table
                            .filter(audit_entries::entry_id.eq_any(chunk))
                            .filter(audit_entries::state.eq(EntryState::Loaded.as_str())),
                    )
                    .set((
                        audit_entries::state.eq(EntryState::Pending.as_str()),
                        audit_entries::loaded_at.eq(None::<NaiveDateTime>),
                        audit_entries::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await
                    .map_err(query_err("requeue entries"))?;
                }
                Ok(changed)
            })
            .await
        })
    }

    /// Clears the unverifiable flag of a loaded entry whose commitment could
    /// be checked after all (an archive node answered) and matched.
    pub async fn confirm_verified(
        &self,
        entry_id: &str,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let mut guard = self.conn().await?;
        let n = with_conn!(&mut guard, |c| {
            diesel::update(
                audit_entries::table
                    .find(entry_id)
                    .filter(audit_entries::state.eq(EntryState::Loaded.as_str())),
            )
            .set((
                audit_entries::unverifiable.eq(false),
                audit_entries::updated_at.eq(now),
            ))
            .execute(c)
            .await
        })
        .map_err(query_err("confirm entry verified"))?;
        require_one(n, entry_id)
    }

    /// The hours in `[from, until]` (by `created_at`, as the sync window)
    /// with no verified validator entry: loaded and not flagged
    /// unverifiable. Each is the hour's end, oldest first. The validator
    /// publishes every hour, so a gap is an hour the scores cannot see;
    /// sync, status and the weights output report them.
    pub async fn coverage_gaps(
        &self,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<NaiveDateTime>, StoreError> {
        let mut guard = self.conn().await?;
        let covered: Vec<NaiveDateTime> = with_conn!(&mut guard, |c| {
            audit_entries::table
                .filter(audit_entries::state.eq(EntryState::Loaded.as_str()))
                .filter(audit_entries::unverifiable.eq(false))
                .filter(audit_entries::source.eq(EntrySource::Validator.as_str()))
                .filter(audit_entries::created_at.ge(from))
                .filter(audit_entries::created_at.le(until))
                .select(audit_entries::end_time)
                .load(c)
                .await
        })
        .map_err(query_err("list covered hours"))?;
        Ok(audit_model::coverage::missing_hours(covered, from, until))
    }

    /// The exports recorded for a loaded entry.
    pub async fn exports(&self, entry_id: &str) -> Result<Vec<ExportRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let rows: Vec<ExportRow> = with_conn!(&mut guard, |c| {
            entry_exports::table
                .filter(entry_exports::entry_id.eq(entry_id))
                .order(entry_exports::kind.asc())
                .select(ExportRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("list entry exports"))?;
        rows.into_iter().map(ExportRow::into_record).collect()
    }

    /// Deletes entries created before `cutoff` (with their exports) and
    /// synthetics created before it, and returns the entries' ids, so the
    /// caller can prune the lake too.
    pub async fn prune_entries_before(
        &self,
        cutoff: NaiveDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let ids: Vec<String> = audit_entries::table
                    .filter(audit_entries::created_at.lt(cutoff))
                    .order(audit_entries::entry_id.asc())
                    .select(audit_entries::entry_id)
                    .load(c)
                    .await
                    .map_err(query_err("find entries to prune"))?;
                for chunk in ids.chunks(500) {
                    diesel::delete(
                        entry_exports::table.filter(entry_exports::entry_id.eq_any(chunk)),
                    )
                    .execute(c)
                    .await
                    .map_err(query_err("prune entry exports"))?;
                    diesel::delete(
                        audit_entries::table.filter(audit_entries::entry_id.eq_any(chunk)),
                    )
                    .execute(c)
                    .await
                    .map_err(query_err("prune entries"))?;
                }
                // Synthetics of the pruned hours go with them: their
                // exports are gone, so they could only ever read missing.
                diesel::delete(synthetics::table.filter(synthetics::created_at.lt(cutoff)))
                    .execute(c)
                    .await
                    .map_err(query_err("prune synthetics"))?;
                Ok(ids)
            })
            .await
        })
    }

    // ---- synthetics ----------------------------------------------------

    /// Records synthetic attempts; an attempt already recorded is updated
    /// (its error flag can arrive later in the trace).
    pub async fn record_synthetics(&self, synthetics: &[Synthetic]) -> Result<(), StoreError> {
        let rows: Vec<SyntheticRow> = synthetics.iter().map(SyntheticRow::from).collect();
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                for row in &rows {
                    diesel::insert_into(synthetics::table)
                        .values(row)
                        .on_conflict(synthetics::invocation_id)
                        .do_update()
                        .set(synthetics::has_error.eq(excluded(synthetics::has_error)))
                        .execute(c)
                        .await
                        .map_err(query_err("record synthetics"))?;
                }
                Ok(())
            })
            .await
        })
    }

    /// Synthetics created in `[from, until)`, oldest first.
    pub async fn synthetics_between(
        &self,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<Synthetic>, StoreError> {
        let mut guard = self.conn().await?;
        let rows: Vec<SyntheticRow> = with_conn!(&mut guard, |c| {
            synthetics::table
                .filter(synthetics::created_at.ge(from))
                .filter(synthetics::created_at.lt(until))
                .order((
                    synthetics::created_at.asc(),
                    synthetics::invocation_id.asc(),
                ))
                .select(SyntheticRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("list synthetics"))?;
        rows.into_iter().map(SyntheticRow::into_synthetic).collect()
    }

    /// Stores the verdict of the completeness check for one attempt.
    pub async fn set_synthetic_check(
        &self,
        invocation_id: &str,
        check: SyntheticCheck,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let mut guard = self.conn().await?;
        let n = with_conn!(&mut guard, |c| {
            diesel::update(synthetics::table.find(invocation_id))
                .set((
                    synthetics::check_state.eq(check.as_str()),
                    synthetics::checked_at.eq(Some(at)),
                ))
                .execute(c)
                .await
        })
        .map_err(query_err("record synthetic check"))?;
        require_one(n, invocation_id)
    }

    // ---- metagraph -----------------------------------------------------

    /// Stores a metagraph snapshot with all its neurons, atomically, and
    /// returns its id.
    pub async fn record_metagraph(&self, snapshot: &MetagraphSnapshot) -> Result<i64, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let id: i64 = diesel::insert_into(metagraph_snapshots::table)
                    .values((
                        metagraph_snapshots::netuid.eq(i32::from(snapshot.netuid)),
                        metagraph_snapshots::block.eq(i64::from(snapshot.block)),
                        metagraph_snapshots::taken_at.eq(snapshot.taken_at),
                    ))
                    .returning(metagraph_snapshots::snapshot_id)
                    .get_result(c)
                    .await
                    .map_err(query_err("record metagraph snapshot"))?;
                let neurons: Vec<NeuronRow> = snapshot
                    .neurons
                    .iter()
                    .map(|n| NeuronRow::new(id, n))
                    .collect();
                for row in &neurons {
                    diesel::insert_into(metagraph_neurons::table)
                        .values(row)
                        .execute(c)
                        .await
                        .map_err(query_err("record metagraph neurons"))?;
                }
                Ok(id)
            })
            .await
        })
    }

    /// The newest snapshot of `netuid` taken at or before `at`.
    pub async fn metagraph_at(
        &self,
        netuid: u16,
        at: NaiveDateTime,
    ) -> Result<Option<MetagraphSnapshot>, StoreError> {
        let mut guard = self.conn().await?;
        let head: Option<SnapshotRow> = with_conn!(&mut guard, |c| {
            metagraph_snapshots::table
                .filter(metagraph_snapshots::netuid.eq(i32::from(netuid)))
                .filter(metagraph_snapshots::taken_at.le(at))
                .order((
                    metagraph_snapshots::taken_at.desc(),
                    metagraph_snapshots::snapshot_id.desc(),
                ))
                .select(SnapshotRow::as_select())
                .first(c)
                .await
                .optional()
        })
        .map_err(query_err("find metagraph snapshot"))?;
        let Some(head) = head else { return Ok(None) };
        let neurons: Vec<NeuronRow> = with_conn!(&mut guard, |c| {
            metagraph_neurons::table
                .filter(metagraph_neurons::snapshot_id.eq(head.snapshot_id))
                .order(metagraph_neurons::uid.asc())
                .select(NeuronRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read metagraph neurons"))?;
        head.into_snapshot(neurons).map(Some)
    }

    // ---- GPU counts ----------------------------------------------------

    /// Replaces the GPU counts with the latest listing, atomically.
    pub async fn replace_gpu_counts(
        &self,
        counts: &[GpuCount],
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let rows: Vec<GpuCountRow> = counts.iter().map(|g| GpuCountRow::new(g, now)).collect();
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                diesel::delete(gpu_counts::table)
                    .execute(c)
                    .await
                    .map_err(query_err("clear gpu counts"))?;
                for row in &rows {
                    diesel::insert_into(gpu_counts::table)
                        .values(row)
                        .execute(c)
                        .await
                        .map_err(query_err("record gpu counts"))?;
                }
                Ok(())
            })
            .await
        })
    }

    /// Every chute's GPU count, by chute id.
    pub async fn gpu_counts(&self) -> Result<Vec<GpuCount>, StoreError> {
        let mut guard = self.conn().await?;
        let rows: Vec<GpuCountRow> = with_conn!(&mut guard, |c| {
            gpu_counts::table
                .order(gpu_counts::chute_id.asc())
                .select(GpuCountRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read gpu counts"))?;
        Ok(rows.into_iter().map(GpuCountRow::into_count).collect())
    }

    // ---- weights runs --------------------------------------------------

    /// Stores a weights run with every miner line, atomically; returns its id.
    pub async fn record_weights_run(&self, run: &WeightsRun) -> Result<i64, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let id: i64 = diesel::insert_into(weights_runs::table)
                    .values(NewWeightsRunRow::new(run))
                    .returning(weights_runs::run_id)
                    .get_result(c)
                    .await
                    .map_err(query_err("record weights run"))?;
                let miners: Vec<MinerScoreRow> = run
                    .miners
                    .iter()
                    .map(|m| MinerScoreRow::new(id, m))
                    .collect();
                for row in &miners {
                    diesel::insert_into(weights_run_miners::table)
                        .values(row)
                        .execute(c)
                        .await
                        .map_err(query_err("record weights run miners"))?;
                }
                Ok(id)
            })
            .await
        })
    }

    /// Records that a weights run was sent to the chain.
    pub async fn mark_weights_sent(
        &self,
        run_id: i64,
        submission: &WeightsSubmission,
    ) -> Result<(), StoreError> {
        let mut guard = self.conn().await?;
        let n = with_conn!(&mut guard, |c| {
            diesel::update(weights_runs::table.find(run_id))
                .set((
                    weights_runs::sent.eq(true),
                    weights_runs::sent_to.eq(&submission.sent_to),
                    weights_runs::sent_block.eq(i64::from(submission.block)),
                    weights_runs::extrinsic_hash.eq(&submission.extrinsic_hash),
                ))
                .execute(c)
                .await
        })
        .map_err(query_err("mark weights run sent"))?;
        require_one(n, &run_id.to_string())
    }

    /// Records one attempt to set weights with its vector, atomically;
    /// returns its id.
    pub async fn record_weights_submission(
        &self,
        submission: &WeightsSubmissionRecord,
    ) -> Result<i64, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let id: i64 = diesel::insert_into(weights_submissions::table)
                    .values(NewSubmissionRow::new(submission))
                    .returning(weights_submissions::submission_id)
                    .get_result(c)
                    .await
                    .map_err(query_err("record weights submission"))?;
                let rows: Vec<SubmissionWeightRow> = submission
                    .vector
                    .iter()
                    .map(|&(uid, weight)| SubmissionWeightRow {
                        submission_id: id,
                        uid: i32::from(uid),
                        weight: i32::from(weight),
                    })
                    .collect();
                for row in &rows {
                    diesel::insert_into(weights_submission_weights::table)
                        .values(row)
                        .execute(c)
                        .await
                        .map_err(query_err("record weights submission vector"))?;
                }
                Ok(id)
            })
            .await
        })
    }

    /// The newest attempt to set weights, if any.
    pub async fn latest_weights_submission(
        &self,
    ) -> Result<Option<WeightsSubmissionRecord>, StoreError> {
        self.newest_submission(None).await
    }

    /// Every attempt to set weights for the runs `run_ids`, oldest first,
    /// with its vector: what the report lists as weights sent.
    pub async fn weights_submissions_of_runs(
        &self,
        run_ids: &[i64],
    ) -> Result<Vec<WeightsSubmissionRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let heads: Vec<SubmissionRow> = with_conn!(&mut guard, |c| {
            weights_submissions::table
                .filter(weights_submissions::run_id.eq_any(run_ids))
                .order((
                    weights_submissions::attempted_at.asc(),
                    weights_submissions::submission_id.asc(),
                ))
                .select(SubmissionRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read weights submissions"))?;
        let ids: Vec<i64> = heads.iter().map(|h| h.submission_id).collect();
        let weights: Vec<SubmissionWeightRow> = with_conn!(&mut guard, |c| {
            weights_submission_weights::table
                .filter(weights_submission_weights::submission_id.eq_any(&ids))
                .order((
                    weights_submission_weights::submission_id.asc(),
                    weights_submission_weights::uid.asc(),
                ))
                .select(SubmissionWeightRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read weights submission vectors"))?;
        let mut by_submission: std::collections::HashMap<i64, Vec<SubmissionWeightRow>> =
            std::collections::HashMap::new();
        for w in weights {
            by_submission.entry(w.submission_id).or_default().push(w);
        }
        heads
            .into_iter()
            .map(|h| {
                let vector = by_submission.remove(&h.submission_id).unwrap_or_default();
                h.into_record(vector)
            })
            .collect()
    }

    /// The newest timelocked commit still awaiting its reveal as far as the
    /// catalog knows: what the next run checks on chain.
    pub async fn commit_awaiting_reveal(
        &self,
    ) -> Result<Option<WeightsSubmissionRecord>, StoreError> {
        self.newest_submission(Some(SubmissionOutcome::Committed))
            .await
    }

    /// Sends whose inclusion was never seen (`unknown`), oldest first:
    /// what the next send resolves before planning another.
    pub async fn unresolved_sends(&self) -> Result<Vec<WeightsSubmissionRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let ids: Vec<i64> = with_conn!(&mut guard, |c| {
            weights_submissions::table
                .filter(weights_submissions::outcome.eq(SubmissionOutcome::Unknown.as_str()))
                .order((
                    weights_submissions::attempted_at.asc(),
                    weights_submissions::submission_id.asc(),
                ))
                .select(weights_submissions::submission_id)
                .load(c)
                .await
        })
        .map_err(query_err("read unresolved weights sends"))?;
        drop(guard);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.submission(id).await? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Records what a later look found about an `unknown` send: its new
    /// outcome, the block it was found in, and why, with the time looked.
    pub async fn record_send_resolution(
        &self,
        resolution: &SendResolution,
        checked_at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let mut guard = self.conn().await?;
        let n = with_conn!(&mut guard, |c| {
            diesel::update(weights_submissions::table.find(resolution.submission_id))
                .set((
                    weights_submissions::outcome.eq(resolution.outcome.as_str()),
                    weights_submissions::block.eq(resolution.block.map(to_i64)),
                    weights_submissions::block_hash.eq(resolution.block_hash.as_deref()),
                    weights_submissions::reason.eq(Some(resolution.reason.as_str())),
                    weights_submissions::checked_at.eq(Some(checked_at)),
                ))
                .execute(c)
                .await
        })
        .map_err(query_err("record weights send resolution"))?;
        require_one(n, &resolution.submission_id.to_string())
    }

    /// One attempt to set weights by id, with its vector.
    async fn submission(
        &self,
        submission_id: i64,
    ) -> Result<Option<WeightsSubmissionRecord>, StoreError> {
        self.one_submission(None, Some(submission_id)).await
    }

    async fn newest_submission(
        &self,
        outcome: Option<SubmissionOutcome>,
    ) -> Result<Option<WeightsSubmissionRecord>, StoreError> {
        self.one_submission(outcome, None).await
    }

    /// The newest attempt with `outcome` (any when `None`), or the one
    /// with `id`.
    async fn one_submission(
        &self,
        outcome: Option<SubmissionOutcome>,
        id: Option<i64>,
    ) -> Result<Option<WeightsSubmissionRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let head: Option<SubmissionRow> = with_conn!(&mut guard, |c| {
            let mut query = weights_submissions::table
                .order((
                    weights_submissions::attempted_at.desc(),
                    weights_submissions::submission_id.desc(),
                ))
                .select(SubmissionRow::as_select())
                .into_boxed();
            if let Some(outcome) = outcome {
                query = query.filter(weights_submissions::outcome.eq(outcome.as_str()));
            }
            if let Some(id) = id {
                query = query.filter(weights_submissions::submission_id.eq(id));
            }
            query.first(c).await.optional()
        })
        .map_err(query_err("read weights submission"))?;
        let Some(head) = head else { return Ok(None) };
        let weights: Vec<SubmissionWeightRow> = with_conn!(&mut guard, |c| {
            weights_submission_weights::table
                .filter(weights_submission_weights::submission_id.eq(head.submission_id))
                .order(weights_submission_weights::uid.asc())
                .select(SubmissionWeightRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read weights submission vector"))?;
        head.into_record(weights).map(Some)
    }

    /// Records what a later look at a commit found: revealed, dropped, or
    /// still committed (then only `checked_at` moves).
    pub async fn record_reveal_check(
        &self,
        submission_id: i64,
        outcome: SubmissionOutcome,
        checked_at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let mut guard = self.conn().await?;
        let n = with_conn!(&mut guard, |c| {
            diesel::update(weights_submissions::table.find(submission_id))
                .set((
                    weights_submissions::outcome.eq(outcome.as_str()),
                    weights_submissions::checked_at.eq(Some(checked_at)),
                ))
                .execute(c)
                .await
        })
        .map_err(query_err("record reveal check"))?;
        require_one(n, &submission_id.to_string())
    }

    /// One weights run with its miners (ordered by score, then hotkey).
    pub async fn weights_run(&self, run_id: i64) -> Result<Option<WeightsRun>, StoreError> {
        let mut guard = self.conn().await?;
        let head: Option<WeightsRunRow> = with_conn!(&mut guard, |c| {
            weights_runs::table
                .find(run_id)
                .select(WeightsRunRow::as_select())
                .first(c)
                .await
                .optional()
        })
        .map_err(query_err("read weights run"))?;
        let Some(head) = head else { return Ok(None) };
        let miners: Vec<MinerScoreRow> = with_conn!(&mut guard, |c| {
            weights_run_miners::table
                .filter(weights_run_miners::run_id.eq(run_id))
                .order((
                    weights_run_miners::score.desc(),
                    weights_run_miners::hotkey.asc(),
                ))
                .select(MinerScoreRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read weights run miners"))?;
        head.into_run(miners).map(Some)
    }

    /// The ids of the newest weights runs, newest first.
    pub async fn latest_weights_run_ids(&self, limit: i64) -> Result<Vec<i64>, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            weights_runs::table
                .order((weights_runs::created_at.desc(), weights_runs::run_id.desc()))
                .limit(limit)
                .select(weights_runs::run_id)
                .load(c)
                .await
        })
        .map_err(query_err("list weights runs"))
    }

    /// The weights runs evaluated in `(from, until]`, oldest evaluation
    /// first, without their miner lines: the history of the comparison
    /// (sum |Δ|, max Δ) and of what was sent, in one query however many
    /// runs there are. `miners` is empty; read one run with
    /// [`Catalog::weights_run`].
    pub async fn weights_run_heads(
        &self,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<WeightsRun>, StoreError> {
        let mut guard = self.conn().await?;
        let heads: Vec<WeightsRunRow> = with_conn!(&mut guard, |c| {
            weights_runs::table
                .filter(weights_runs::evaluated_at.gt(from))
                .filter(weights_runs::evaluated_at.le(until))
                .order((weights_runs::evaluated_at.asc(), weights_runs::run_id.asc()))
                .select(WeightsRunRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("list weights run heads"))?;
        heads.into_iter().map(|h| h.into_run(Vec::new())).collect()
    }

    // ---- agreement -----------------------------------------------------

    /// Stores a compare-prom run with its per-miner results and their
    /// missing hours, atomically; returns its id.
    pub async fn record_agreement_run(&self, run: &AgreementRun) -> Result<i64, StoreError> {
        let mut guard = self.conn().await?;
        with_conn!(&mut guard, |c| {
            c.transaction::<_, StoreError, _>(async |c| {
                let id: i64 = diesel::insert_into(agreement_runs::table)
                    .values((
                        agreement_runs::evaluated_at.eq(run.evaluated_at),
                        agreement_runs::created_at.eq(run.created_at),
                        agreement_runs::threshold.eq(run.threshold),
                    ))
                    .returning(agreement_runs::run_id)
                    .get_result(c)
                    .await
                    .map_err(query_err("record agreement run"))?;
                for result in &run.results {
                    diesel::insert_into(agreement_results::table)
                        .values(AgreementRow::new(id, result))
                        .execute(c)
                        .await
                        .map_err(query_err("record agreement results"))?;
                    for row in AgreementRow::missing_hours(id, result) {
                        diesel::insert_into(agreement_missing_hours::table)
                            .values(row)
                            .execute(c)
                            .await
                            .map_err(query_err("record missing hours"))?;
                    }
                }
                Ok(id)
            })
            .await
        })
    }

    /// The newest compare-prom run, with its results by hotkey.
    pub async fn latest_agreement_run(&self) -> Result<Option<AgreementRun>, StoreError> {
        let mut guard = self.conn().await?;
        let head: Option<(i64, NaiveDateTime, NaiveDateTime, f64)> = with_conn!(&mut guard, |c| {
            agreement_runs::table
                .order((
                    agreement_runs::created_at.desc(),
                    agreement_runs::run_id.desc(),
                ))
                .select((
                    agreement_runs::run_id,
                    agreement_runs::evaluated_at,
                    agreement_runs::created_at,
                    agreement_runs::threshold,
                ))
                .first(c)
                .await
                .optional()
        })
        .map_err(query_err("read agreement run"))?;
        let Some((run_id, evaluated_at, created_at, threshold)) = head else {
            return Ok(None);
        };
        let rows: Vec<AgreementRow> = with_conn!(&mut guard, |c| {
            agreement_results::table
                .filter(agreement_results::run_id.eq(run_id))
                .order(agreement_results::hotkey.asc())
                .select(AgreementRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read agreement results"))?;
        let hours: Vec<MissingHourRow> = with_conn!(&mut guard, |c| {
            agreement_missing_hours::table
                .filter(agreement_missing_hours::run_id.eq(run_id))
                .order((
                    agreement_missing_hours::hotkey.asc(),
                    agreement_missing_hours::hour.asc(),
                ))
                .select(MissingHourRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("read missing hours"))?;
        let mut results: Vec<AgreementResult> =
            rows.into_iter().map(AgreementRow::into_result).collect();
        for hour in hours {
            if let Some(r) = results.iter_mut().find(|r| r.hotkey == hour.hotkey) {
                r.missing_hours.push(hour.hour);
            }
        }
        Ok(Some(AgreementRun {
            run_id,
            evaluated_at,
            created_at,
            threshold,
            results,
        }))
    }

    // ---- overview ------------------------------------------------------

    /// Counts and time ranges of everything the catalog holds.
    pub async fn summary(&self) -> Result<CatalogSummary, StoreError> {
        use diesel::dsl::{count_star, max, min};
        let mut guard = self.conn().await?;
        let c = &mut guard;
        let grouped: Vec<(String, String, i64)> = with_conn!(&mut *c, |c| {
            audit_entries::table
                .group_by((audit_entries::source, audit_entries::state))
                .select((audit_entries::source, audit_entries::state, count_star()))
                .order((audit_entries::source.asc(), audit_entries::state.asc()))
                .load(c)
                .await
        })
        .map_err(query_err("count entries"))?;
        let mut entries = Vec::with_capacity(grouped.len());
        for (source, state, count) in grouped {
            entries.push(EntryCount {
                source: parse_text(&source)?,
                state: parse_text(&state)?,
                count: to_u64(count),
            });
        }
        let (oldest_entry, newest_entry): (Option<NaiveDateTime>, Option<NaiveDateTime>) =
            with_conn!(&mut *c, |c| {
                audit_entries::table
                    .select((
                        min(audit_entries::created_at),
                        max(audit_entries::created_at),
                    ))
                    .first(c)
                    .await
            })
            .map_err(query_err("entry time range"))?;
        let newest_loaded: Option<NaiveDateTime> = with_conn!(&mut *c, |c| {
            audit_entries::table
                .filter(audit_entries::state.eq(EntryState::Loaded.as_str()))
                .select(max(audit_entries::created_at))
                .first(c)
                .await
        })
        .map_err(query_err("newest loaded entry"))?;
        // SUM over BIGINT is NUMERIC on PostgreSQL; the column is small
        // (one row per export), so add up in Rust.
        let invocation_rows: Vec<i64> = with_conn!(&mut *c, |c| {
            entry_exports::table
                .filter(entry_exports::kind.eq(ExportKind::Invocations.as_str()))
                .select(entry_exports::row_count)
                .load(c)
                .await
        })
        .map_err(query_err("count invocation rows"))?;
        let synthetics: i64 = with_conn!(&mut *c, |c| {
            synthetics::table.select(count_star()).first(c).await
        })
        .map_err(query_err("count synthetics"))?;
        let (metagraph_snapshots, latest_block): (i64, Option<i64>) = with_conn!(&mut *c, |c| {
            metagraph_snapshots::table
                .select((count_star(), max(metagraph_snapshots::block)))
                .first(c)
                .await
        })
        .map_err(query_err("count metagraph snapshots"))?;
        let gpu_counts: i64 = with_conn!(&mut *c, |c| {
            gpu_counts::table.select(count_star()).first(c).await
        })
        .map_err(query_err("count gpu counts"))?;
        let (weights_runs, latest_weights_run): (i64, Option<NaiveDateTime>) =
            with_conn!(&mut *c, |c| {
                weights_runs::table
                    .select((count_star(), max(weights_runs::created_at)))
                    .first(c)
                    .await
            })
            .map_err(query_err("count weights runs"))?;
        let agreement_runs: i64 = with_conn!(&mut *c, |c| {
            agreement_runs::table.select(count_star()).first(c).await
        })
        .map_err(query_err("count agreement runs"))?;
        Ok(CatalogSummary {
            entries,
            oldest_entry,
            newest_entry,
            newest_loaded,
            invocation_rows: invocation_rows.into_iter().map(to_u64).sum(),
            synthetics: to_u64(synthetics),
            metagraph_snapshots: to_u64(metagraph_snapshots),
            latest_metagraph_block: latest_block.and_then(|b| u32::try_from(b).ok()),
            gpu_counts: to_u64(gpu_counts),
            weights_runs: to_u64(weights_runs),
            latest_weights_run,
            agreement_runs: to_u64(agreement_runs),
        })
    }
}

fn require_one(updated: usize, key: &str) -> Result<(), StoreError> {
    if updated == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(key.to_string()))
    }
}

/// At most `max` bytes of `text`, cut on a character boundary
/// (PostgreSQL keeps 63 bytes of an application name).
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
