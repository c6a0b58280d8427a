//! Agreement runs: how our weights compare with the validators'.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::connection::with_conn;
use super::handle::{query_err, Catalog};
use super::model::{AgreementResult, AgreementRun};
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
}
