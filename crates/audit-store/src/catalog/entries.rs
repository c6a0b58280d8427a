//! Audit entries: listing, verification, loading, requeueing, coverage and
//! pruning.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::batch::{InsertListed, MarkLoaded, ROWS_PER_STATEMENT};
use super::connection::with_conn;
use super::handle::{query_err, require_one, Catalog, IDS_PER_STATEMENT};
use super::model::{
    AuditEntry, EntryRecord, EntrySource, EntryState, ExportRecord, LoadedEntry, Verified,
};
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
        // which an hour adds a few dozen: only those are inserted, many
        // rows a statement (a cold sync inserts the whole week).
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
                let new: Vec<&AuditEntry> = entries
                    .iter()
                    .filter(|e| !known.contains(&e.entry_id))
                    .collect();
                let mut inserted = 0;
                for chunk in new.chunks(ROWS_PER_STATEMENT) {
                    inserted += InsertListed::new(chunk, now)
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

    /// Loaded entries created at or after `since` that were loaded
    /// unverifiable (the archive node had no answer), oldest first: what a
    /// sync checks again. Usually none, so every sync can afford it
    /// without reading the window's ten thousand rows.
    pub async fn flagged_unverifiable(
        &self,
        since: NaiveDateTime,
    ) -> Result<Vec<EntryRecord>, StoreError> {
        let mut guard = self.conn().await?;
        let rows: Vec<EntryRow> = with_conn!(&mut guard, |c| {
            audit_entries::table
                .filter(audit_entries::state.eq(EntryState::Loaded.as_str()))
                .filter(audit_entries::unverifiable.eq(true))
                .filter(audit_entries::created_at.ge(since))
                .order((
                    audit_entries::created_at.asc(),
                    audit_entries::entry_id.asc(),
                ))
                .select(EntryRow::as_select())
                .load(c)
                .await
        })
        .map_err(query_err("list unverifiable entries"))?;
        rows.into_iter().map(EntryRow::into_record).collect()
    }

    /// Ids of the loaded entries created at or after `since`: the one
    /// column a sync needs, without reading whole rows.
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
    /// unverifiable (the chain state was pruned), recording the report hash
    /// and whether the chain's answer was proven.
    pub async fn mark_verified(
        &self,
        entry_id: &str,
        verdict: &Verified<'_>,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let Verified {
            report_sha256,
            unverifiable,
            commitment_proven,
        } = *verdict;
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
                    audit_entries::commitment_proven.eq(Some(commitment_proven)),
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
                    for export in &loaded.exports {
                        diesel::insert_into(entry_exports::table)
                            .values(&ExportRow::new(entry_id, export))
                            .execute(c)
                            .await
                            .map_err(query_err("record entry exports"))?;
                    }
                }
                // The verdicts, many entries a statement (a self-report
                // has no exports: this is all a batch of them writes).
                for chunk in entries.chunks(ROWS_PER_STATEMENT) {
                    let updated = MarkLoaded::new(chunk, now)
                        .execute(c)
                        .await
                        .map_err(query_err("mark entries loaded"))?;
                    let ids: Vec<&str> = chunk.iter().map(|(id, _)| *id).collect();
                    let distinct: std::collections::HashSet<&str> = ids.iter().copied().collect();
                    if updated != distinct.len() {
                        let found: Vec<String> = audit_entries::table
                            .filter(audit_entries::entry_id.eq_any(&ids))
                            .select(audit_entries::entry_id)
                            .load(c)
                            .await
                            .map_err(query_err("find entries to mark loaded"))?;
                        let missing = ids
                            .iter()
                            .find(|id| !found.iter().any(|f| f == *id))
                            .map(|id| id.to_string())
                            .unwrap_or_default();
                        return Err(StoreError::NotFound(missing));
                    }
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
        commitment_proven: bool,
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
                audit_entries::commitment_proven.eq(Some(commitment_proven)),
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
}
