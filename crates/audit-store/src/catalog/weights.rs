//! Weights runs and the attempts to set them on chain: submissions,
//! resolutions and reveal checks.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::connection::with_conn;
use super::handle::{query_err, require_one, Catalog};
use super::model::{
    SendResolution, SubmissionOutcome, WeightsRun, WeightsSubmission, WeightsSubmissionRecord,
};
use super::rows::*;
use crate::schema::*;
use crate::StoreError;

impl Catalog {
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
}
