//! GPU counts per miner.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::connection::with_conn;
use super::handle::{query_err, Catalog};
use super::model::GpuCount;
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
}
