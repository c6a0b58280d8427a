//! Row types as stored, and their conversion to and from the domain types.
//! Integers are stored signed (both engines lack unsigned types); the
//! conversions check ranges instead of wrapping.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::*;
use crate::schema::*;
use crate::StoreError;

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn parse_text<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}

fn narrow<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is out of range")))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_entries)]
pub(super) struct EntryRow {
    entry_id: String,
    hotkey: String,
    block: i64,
    path: String,
    source: String,
    created_at: NaiveDateTime,
    start_time: NaiveDateTime,
    end_time: NaiveDateTime,
    state: String,
    unverifiable: bool,
    reject_reason: Option<String>,
    report_sha256: Option<String>,
    instance_rows: i64,
    attempts: i32,
    first_seen_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    loaded_at: Option<NaiveDateTime>,
    commitment_proven: Option<bool>,
}

impl EntryRow {
    pub(super) fn into_record(self) -> Result<EntryRecord, StoreError> {
        Ok(EntryRecord {
            entry: AuditEntry {
                block: narrow(self.block, "block")?,
                source: parse_text(&self.source)?,
                entry_id: self.entry_id,
                hotkey: self.hotkey,
                path: self.path,
                created_at: self.created_at,
                start_time: self.start_time,
                end_time: self.end_time,
            },
            state: parse_text(&self.state)?,
            unverifiable: self.unverifiable,
            reject_reason: self.reject_reason,
            report_sha256: self.report_sha256,
            instance_rows: to_u64(self.instance_rows),
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            first_seen_at: self.first_seen_at,
            updated_at: self.updated_at,
            loaded_at: self.loaded_at,
            commitment_proven: self.commitment_proven,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = entry_exports, treat_none_as_default_value = false)]
pub(super) struct ExportRow {
    entry_id: String,
    kind: String,
    path: String,
    sha256: String,
    bytes: i64,
    row_count: i64,
    malformed_rows: i64,
}

impl ExportRow {
    pub(super) fn new(entry_id: &str, e: &ExportRecord) -> Self {
        ExportRow {
            entry_id: entry_id.to_string(),
            kind: e.kind.as_str().to_string(),
            path: e.path.clone(),
            sha256: e.sha256.clone(),
            bytes: to_i64(e.bytes),
            row_count: to_i64(e.row_count),
            malformed_rows: to_i64(e.malformed_rows),
        }
    }

    pub(super) fn into_record(self) -> Result<ExportRecord, StoreError> {
        Ok(ExportRecord {
            kind: parse_text(&self.kind)?,
            path: self.path,
            sha256: self.sha256,
            bytes: to_u64(self.bytes),
            row_count: to_u64(self.row_count),
            malformed_rows: to_u64(self.malformed_rows),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = synthetics, treat_none_as_default_value = false)]
pub(super) struct SyntheticRow {
    invocation_id: String,
    parent_invocation_id: String,
    task: String,
    chute_id: String,
    instance_id: String,
    miner_uid: Option<i32>,
    miner_hotkey: String,
    created_at: NaiveDateTime,
    has_error: bool,
    check_state: String,
    checked_at: Option<NaiveDateTime>,
}

impl From<&Synthetic> for SyntheticRow {
    fn from(s: &Synthetic) -> Self {
        SyntheticRow {
            invocation_id: s.invocation_id.clone(),
            parent_invocation_id: s.parent_invocation_id.clone(),
            task: s.task.clone(),
            chute_id: s.chute_id.clone(),
            instance_id: s.instance_id.clone(),
            miner_uid: s.miner_uid.map(i32::from),
            miner_hotkey: s.miner_hotkey.clone(),
            created_at: s.created_at,
            has_error: s.has_error,
            check_state: s.check.as_str().to_string(),
            checked_at: s.checked_at,
        }
    }
}

impl SyntheticRow {
    pub(super) fn into_synthetic(self) -> Result<Synthetic, StoreError> {
        Ok(Synthetic {
            miner_uid: self
                .miner_uid
                .map(|u| narrow(i64::from(u), "miner_uid"))
                .transpose()?,
            check: parse_text(&self.check_state)?,
            invocation_id: self.invocation_id,
            parent_invocation_id: self.parent_invocation_id,
            task: self.task,
            chute_id: self.chute_id,
            instance_id: self.instance_id,
            miner_hotkey: self.miner_hotkey,
            created_at: self.created_at,
            has_error: self.has_error,
            checked_at: self.checked_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = metagraph_snapshots)]
pub(super) struct SnapshotRow {
    pub(super) snapshot_id: i64,
    netuid: i32,
    block: i64,
    taken_at: NaiveDateTime,
}

impl SnapshotRow {
    pub(super) fn into_snapshot(
        self,
        neurons: Vec<NeuronRow>,
    ) -> Result<MetagraphSnapshot, StoreError> {
        Ok(MetagraphSnapshot {
            snapshot_id: self.snapshot_id,
            netuid: narrow(i64::from(self.netuid), "netuid")?,
            block: narrow(self.block, "block")?,
            taken_at: self.taken_at,
            neurons: neurons
                .into_iter()
                .map(NeuronRow::into_neuron)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = metagraph_neurons, treat_none_as_default_value = false)]
pub(super) struct NeuronRow {
    snapshot_id: i64,
    uid: i32,
    hotkey: String,
    coldkey: String,
    incentive: i32,
    stake: f64,
    last_update: i64,
    validator_permit: bool,
}

impl NeuronRow {
    pub(super) fn new(snapshot_id: i64, n: &Neuron) -> Self {
        NeuronRow {
            snapshot_id,
            uid: i32::from(n.uid),
            hotkey: n.hotkey.clone(),
            coldkey: n.coldkey.clone(),
            incentive: i32::from(n.incentive),
            stake: n.stake,
            last_update: to_i64(n.last_update),
            validator_permit: n.validator_permit,
        }
    }

    fn into_neuron(self) -> Result<Neuron, StoreError> {
        Ok(Neuron {
            uid: narrow(i64::from(self.uid), "uid")?,
            incentive: narrow(i64::from(self.incentive), "incentive")?,
            hotkey: self.hotkey,
            coldkey: self.coldkey,
            stake: self.stake,
            last_update: to_u64(self.last_update),
            validator_permit: self.validator_permit,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = gpu_counts, treat_none_as_default_value = false)]
pub(super) struct GpuCountRow {
    chute_id: String,
    gpu_count: i32,
    updated_at: NaiveDateTime,
}

impl GpuCountRow {
    pub(super) fn new(g: &GpuCount, now: NaiveDateTime) -> Self {
        GpuCountRow {
            chute_id: g.chute_id.clone(),
            gpu_count: i32::try_from(g.gpu_count).unwrap_or(i32::MAX),
            updated_at: now,
        }
    }

    pub(super) fn into_count(self) -> GpuCount {
        GpuCount {
            chute_id: self.chute_id,
            gpu_count: u32::try_from(self.gpu_count).unwrap_or(0),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = weights_runs, treat_none_as_default_value = false)]
pub(super) struct NewWeightsRunRow<'a> {
    evaluated_at: NaiveDateTime,
    created_at: NaiveDateTime,
    profile_name: &'a str,
    profile_version: i32,
    snapshot_id: Option<i64>,
    sum_abs_delta: f64,
    max_delta: f64,
    sent: bool,
    sent_to: Option<&'a str>,
    sent_block: Option<i64>,
    extrinsic_hash: Option<&'a str>,
}

impl<'a> NewWeightsRunRow<'a> {
    pub(super) fn new(run: &'a WeightsRun) -> Self {
        NewWeightsRunRow {
            evaluated_at: run.evaluated_at,
            created_at: run.created_at,
            profile_name: &run.profile_name,
            profile_version: i32::try_from(run.profile_version).unwrap_or(i32::MAX),
            snapshot_id: run.snapshot_id,
            sum_abs_delta: run.sum_abs_delta,
            max_delta: run.max_delta,
            sent: run.submission.is_some(),
            sent_to: run.submission.as_ref().map(|s| s.sent_to.as_str()),
            sent_block: run.submission.as_ref().map(|s| i64::from(s.block)),
            extrinsic_hash: run.submission.as_ref().map(|s| s.extrinsic_hash.as_str()),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = weights_runs)]
pub(super) struct WeightsRunRow {
    run_id: i64,
    evaluated_at: NaiveDateTime,
    created_at: NaiveDateTime,
    profile_name: String,
    profile_version: i32,
    snapshot_id: Option<i64>,
    sum_abs_delta: f64,
    max_delta: f64,
    sent: bool,
    sent_to: Option<String>,
    sent_block: Option<i64>,
    extrinsic_hash: Option<String>,
}

impl WeightsRunRow {
    pub(super) fn into_run(self, miners: Vec<MinerScoreRow>) -> Result<WeightsRun, StoreError> {
        let submission = match (
            self.sent,
            self.sent_to,
            self.sent_block,
            self.extrinsic_hash,
        ) {
            (true, Some(sent_to), Some(block), Some(extrinsic_hash)) => Some(WeightsSubmission {
                sent_to,
                block: narrow(block, "sent_block")?,
                extrinsic_hash,
            }),
            _ => None,
        };
        Ok(WeightsRun {
            run_id: self.run_id,
            evaluated_at: self.evaluated_at,
            created_at: self.created_at,
            profile_name: self.profile_name,
            profile_version: u32::try_from(self.profile_version).unwrap_or(0),
            snapshot_id: self.snapshot_id,
            sum_abs_delta: self.sum_abs_delta,
            max_delta: self.max_delta,
            submission,
            miners: miners
                .into_iter()
                .map(MinerScoreRow::into_score)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = weights_run_miners, treat_none_as_default_value = false)]
pub(super) struct MinerScoreRow {
    run_id: i64,
    hotkey: String,
    uid: Option<i32>,
    coldkey: Option<String>,
    invocation_count: f64,
    compute_units: f64,
    bounty_count: f64,
    unique_chute_count: f64,
    private_instances: i64,
    private_seconds: f64,
    private_compute_units: f64,
    norm_invocation_count: f64,
    norm_compute_units: f64,
    norm_bounty_count: f64,
    norm_unique_chute_count: f64,
    pre_score: f64,
    penalised: bool,
    score: f64,
    chain_share: Option<f64>,
    delta: Option<f64>,
    weight: Option<i32>,
}

impl MinerScoreRow {
    pub(super) fn new(run_id: i64, m: &MinerScore) -> Self {
        MinerScoreRow {
            run_id,
            hotkey: m.hotkey.clone(),
            uid: m.uid.map(i32::from),
            coldkey: m.coldkey.clone(),
            invocation_count: m.raw.invocation_count,
            compute_units: m.raw.compute_units,
            bounty_count: m.raw.bounty_count,
            unique_chute_count: m.raw.unique_chute_count,
            private_instances: to_i64(m.raw.private_instances),
            private_seconds: m.raw.private_seconds,
            private_compute_units: m.raw.private_compute_units,
            norm_invocation_count: m.normalised.norm_invocation_count,
            norm_compute_units: m.normalised.norm_compute_units,
            norm_bounty_count: m.normalised.norm_bounty_count,
            norm_unique_chute_count: m.normalised.norm_unique_chute_count,
            pre_score: m.pre_score,
            penalised: m.penalised,
            score: m.score,
            chain_share: m.chain_share,
            delta: m.delta,
            weight: m.weight.map(i32::from),
        }
    }

    fn into_score(self) -> Result<MinerScore, StoreError> {
        Ok(MinerScore {
            uid: self.uid.map(|u| narrow(i64::from(u), "uid")).transpose()?,
            weight: self
                .weight
                .map(|w| narrow(i64::from(w), "weight"))
                .transpose()?,
            hotkey: self.hotkey,
            coldkey: self.coldkey,
            raw: RawFeatures {
                invocation_count: self.invocation_count,
                compute_units: self.compute_units,
                bounty_count: self.bounty_count,
                unique_chute_count: self.unique_chute_count,
                private_instances: to_u64(self.private_instances),
                private_seconds: self.private_seconds,
                private_compute_units: self.private_compute_units,
            },
            normalised: NormalisedFeatures {
                norm_compute_units: self.norm_compute_units,
                norm_invocation_count: self.norm_invocation_count,
                norm_unique_chute_count: self.norm_unique_chute_count,
                norm_bounty_count: self.norm_bounty_count,
            },
            pre_score: self.pre_score,
            penalised: self.penalised,
            score: self.score,
            chain_share: self.chain_share,
            delta: self.delta,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = agreement_results, treat_none_as_default_value = false)]
pub(super) struct AgreementRow {
    run_id: i64,
    hotkey: String,
    coverage_seconds: i64,
    validator_count: Option<i64>,
    reported_count: Option<i64>,
    ratio: Option<f64>,
    flagged: bool,
    note: Option<String>,
}

impl AgreementRow {
    pub(super) fn new(run_id: i64, r: &AgreementResult) -> Self {
        AgreementRow {
            run_id,
            hotkey: r.hotkey.clone(),
            coverage_seconds: to_i64(r.coverage_seconds),
            validator_count: r.validator_count.map(to_i64),
            reported_count: r.reported_count.map(to_i64),
            ratio: r.ratio,
            flagged: r.flagged,
            note: r.note.clone(),
        }
    }

    /// The stored rows of a result's missing hours.
    pub(super) fn missing_hours(run_id: i64, r: &AgreementResult) -> Vec<MissingHourRow> {
        r.missing_hours
            .iter()
            .map(|&hour| MissingHourRow {
                run_id,
                hotkey: r.hotkey.clone(),
                hour,
            })
            .collect()
    }

    pub(super) fn into_result(self) -> AgreementResult {
        AgreementResult {
            hotkey: self.hotkey,
            coverage_seconds: to_u64(self.coverage_seconds),
            validator_count: self.validator_count.map(to_u64),
            reported_count: self.reported_count.map(to_u64),
            ratio: self.ratio,
            flagged: self.flagged,
            note: self.note,
            missing_hours: Vec::new(),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = agreement_missing_hours)]
pub(super) struct MissingHourRow {
    pub(super) run_id: i64,
    pub(super) hotkey: String,
    pub(super) hour: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = weights_submissions, treat_none_as_default_value = false)]
pub(super) struct NewSubmissionRow<'a> {
    run_id: i64,
    attempted_at: NaiveDateTime,
    netuid: i32,
    call: Option<&'static str>,
    outcome: &'static str,
    reason: Option<&'a str>,
    tries: i32,
    sender_uid: Option<i32>,
    extrinsic_hash: Option<&'a str>,
    block_hash: Option<&'a str>,
    block: Option<i64>,
    reveal_round: Option<i64>,
    commit_epoch: Option<i64>,
    checked_at: Option<NaiveDateTime>,
    nonce: Option<i64>,
    era_birth: Option<i64>,
    era_period: Option<i64>,
    chain_proven: Option<bool>,
}

impl<'a> NewSubmissionRow<'a> {
    pub(super) fn new(s: &'a WeightsSubmissionRecord) -> Self {
        NewSubmissionRow {
            run_id: s.run_id,
            attempted_at: s.attempted_at,
            netuid: i32::from(s.netuid),
            call: s.call.map(WeightsCallKind::as_str),
            outcome: s.outcome.as_str(),
            reason: s.reason.as_deref(),
            tries: i32::try_from(s.tries).unwrap_or(i32::MAX),
            sender_uid: s.sender_uid.map(i32::from),
            extrinsic_hash: s.extrinsic_hash.as_deref(),
            block_hash: s.block_hash.as_deref(),
            block: s.block.map(to_i64),
            reveal_round: s.reveal_round.map(to_i64),
            commit_epoch: s.commit_epoch.map(to_i64),
            checked_at: s.checked_at,
            nonce: s.nonce.map(i64::from),
            era_birth: s.era_birth.map(to_i64),
            era_period: s.era_period.map(to_i64),
            chain_proven: s.chain_proven,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = weights_submissions)]
pub(super) struct SubmissionRow {
    pub(super) submission_id: i64,
    run_id: i64,
    attempted_at: NaiveDateTime,
    netuid: i32,
    call: Option<String>,
    outcome: String,
    reason: Option<String>,
    tries: i32,
    sender_uid: Option<i32>,
    extrinsic_hash: Option<String>,
    block_hash: Option<String>,
    block: Option<i64>,
    reveal_round: Option<i64>,
    commit_epoch: Option<i64>,
    checked_at: Option<NaiveDateTime>,
    nonce: Option<i64>,
    era_birth: Option<i64>,
    era_period: Option<i64>,
    chain_proven: Option<bool>,
}

impl SubmissionRow {
    pub(super) fn into_record(
        self,
        weights: Vec<SubmissionWeightRow>,
    ) -> Result<WeightsSubmissionRecord, StoreError> {
        Ok(WeightsSubmissionRecord {
            submission_id: self.submission_id,
            run_id: self.run_id,
            attempted_at: self.attempted_at,
            netuid: narrow(i64::from(self.netuid), "netuid")?,
            call: self.call.as_deref().map(parse_text).transpose()?,
            outcome: parse_text(&self.outcome)?,
            reason: self.reason,
            tries: narrow(i64::from(self.tries), "tries")?,
            sender_uid: self
                .sender_uid
                .map(|u| narrow(i64::from(u), "sender_uid"))
                .transpose()?,
            extrinsic_hash: self.extrinsic_hash,
            block_hash: self.block_hash,
            block: self.block.map(|b| narrow(b, "block")).transpose()?,
            reveal_round: self
                .reveal_round
                .map(|r| narrow(r, "reveal_round"))
                .transpose()?,
            commit_epoch: self
                .commit_epoch
                .map(|e| narrow(e, "commit_epoch"))
                .transpose()?,
            checked_at: self.checked_at,
            nonce: self.nonce.map(|n| narrow(n, "nonce")).transpose()?,
            era_birth: self.era_birth.map(|b| narrow(b, "era_birth")).transpose()?,
            era_period: self
                .era_period
                .map(|p| narrow(p, "era_period"))
                .transpose()?,
            chain_proven: self.chain_proven,
            vector: weights
                .into_iter()
                .map(|w| {
                    Ok((
                        narrow(i64::from(w.uid), "weight uid")?,
                        narrow(i64::from(w.weight), "weight")?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = weights_submission_weights)]
pub(super) struct SubmissionWeightRow {
    pub(super) submission_id: i64,
    pub(super) uid: i32,
    pub(super) weight: i32,
}
