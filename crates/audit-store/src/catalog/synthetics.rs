//! Synthetic probes and their checks.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::connection::with_conn;
use super::handle::{query_err, require_one, Catalog};
use super::model::{Synthetic, SyntheticCheck};
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
}
