//! The overview of what the catalog holds.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::connection::with_conn;
use super::handle::{query_err, Catalog};
use super::model::{CatalogSummary, EntryCount, EntryState, ExportKind};
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
