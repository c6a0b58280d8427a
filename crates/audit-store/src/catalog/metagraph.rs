//! Metagraph snapshots.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::connection::with_conn;
use super::handle::{query_err, Catalog};
use super::model::MetagraphSnapshot;
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
}
