//! One hour of a generated world: its three exports, the validator's
//! report and entry, and the miners' self-reports. What runs past the
//! hour (straddling invocations, reports to confirm, the miners' running
//! counts) carries to the next through [`Carry`].

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, NaiveDateTime};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::cast::{Cast, Chute};
use super::catalogue::instance_record;
use super::files::{iso, uuid, write_export, write_json, ExportWriter};
use super::fixed::{BLOCKS_PER_HOUR, FIRST_BLOCK, VALIDATOR_HOTKEY};
use super::rows::{
    py, InvocationRow, JobRow, UserReportRow, INVOCATION_COLUMNS, JOB_COLUMNS, REPORT_COLUMNS,
};
use crate::world::EntrySpec;
use crate::DevnetError;

const FUNCTIONS: [&str; 4] = ["chat", "generate", "embed", "run"];

/// What was generated, for the user and the benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GenerateSummary {
    /// Entries listed: the validator's and the miners' reports.
    pub entries: usize,
    /// Rows of every invocations export.
    pub invocation_rows: u64,
    /// Bytes of every file written.
    pub bytes: u64,
}

/// The hour being written.
pub(super) struct Hour {
    /// Its index from the world's first hour.
    pub index: u32,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// The validator's entry block.
    pub block: u32,
    /// `YYYY/MM/DD/HH` of its end: the exports' path stem.
    pub stem: String,
}

impl Hour {
    pub fn new(first: NaiveDateTime, index: u32) -> Hour {
        let start = first + Duration::hours(i64::from(index));
        let end = start + Duration::hours(1);
        Hour {
            index,
            start,
            end,
            block: FIRST_BLOCK + index * BLOCKS_PER_HOUR,
            stem: end.format("%Y/%m/%d/%H").to_string(),
        }
    }
}

/// A straddling invocation, to export again when it completes.
struct Pending {
    row: InvocationRow,
    /// Miner, chute and seconds, for the self-report of the hour it
    /// completes in (when it succeeded).
    counted: Option<(usize, usize, f64)>,
}

/// What one hour leaves to the next.
#[derive(Default)]
pub(super) struct Carry {
    straddlers: Vec<Pending>,
    /// Per hour so far, the parent invocations users reported in it.
    reported: Vec<Vec<String>>,
    /// Each miner's true count per chute so far: its Prometheus counter
    /// under-reports the running total, so hourly reports carry the
    /// rounding.
    true_totals: BTreeMap<(usize, usize), u64>,
}

/// Successes a miner served this hour, per (miner, chute): count and
/// seconds, what its Prometheus counts.
type Served = BTreeMap<(usize, usize), (u64, f64)>;

/// The generator's state while it writes hours.
pub(super) struct HourWriter<'a> {
    pub out: &'a Path,
    pub seed: u64,
    /// Miners on the metagraph (the cast has two more).
    pub miners: usize,
    pub invocations_per_hour: usize,
    pub rng: ChaCha8Rng,
    pub cast: Cast,
    pub carry: Carry,
    pub summary: GenerateSummary,
}

impl HourWriter<'_> {
    /// Writes `hour`'s files; returns its entries (the validator's first).
    pub fn write(&mut self, hour: &Hour) -> Result<Vec<EntrySpec>, DevnetError> {
        let mut exports = BTreeMap::new();
        let mut served = Served::new();
        let stem = &hour.stem;
        let (export, bytes) = write_export(
            self.out,
            &format!("invocations/{stem}.csv"),
            &INVOCATION_COLUMNS,
            |w| self.invocations(w, hour, &mut served),
        )?;
        self.summary.bytes += bytes;
        exports.insert("invocations", export);
        let (export, bytes) = write_export(
            self.out,
            &format!("invocations/{stem}-reports.csv"),
            &REPORT_COLUMNS,
            |w| self.user_reports(w, hour),
        )?;
        self.summary.bytes += bytes;
        exports.insert("reports", export);
        let (export, bytes) = write_export(
            self.out,
            &format!("invocations/{stem}-jobs.csv"),
            &JOB_COLUMNS,
            |w| self.jobs(w, hour),
        )?;
        self.summary.bytes += bytes;
        exports.insert("jobs", export);
        let mut entries = vec![self.validator_report(hour, exports)?];
        entries.extend(self.miner_reports(hour, &served)?);
        Ok(entries)
    }

    /// Last hour's straddlers completed, this hour's invocations, and
    /// three rows of work that is not a miner's. Some parents are
    /// reported by users.
    fn invocations(
        &mut self,
        w: &mut ExportWriter,
        hour: &Hour,
        served: &mut Served,
    ) -> Result<(), DevnetError> {
        for pending in self.carry.straddlers.drain(..) {
            if let Some((m, c, seconds)) = pending.counted {
                count(served, m, c, seconds);
            }
            w.row(&pending.row)?;
            self.summary.invocation_rows += 1;
        }
        let mut parents = Vec::new();
        for i in 0..self.invocations_per_hour {
            let drawn = self.draw(hour, i);
            if i % 997 == 0 {
                parents.push(drawn.row.parent_invocation_id.clone());
            }
            self.export(w, hour, i, drawn, served)?;
        }
        for k in 0..3 {
            w.row(not_miner_work(self.seed, hour, k, &self.cast.chutes[0]))?;
            self.summary.invocation_rows += 1;
        }
        self.carry.reported.push(parents);
        Ok(())
    }

    /// Writes the `i`th drawn invocation: now and again next hour when it
    /// runs past this one, with its retry on another miner when it failed
    /// (every other failure); counts what the miners served and the
    /// compute scoring pays for.
    fn export(
        &mut self,
        w: &mut ExportWriter,
        hour: &Hour,
        i: usize,
        drawn: Drawn,
        served: &mut Served,
    ) -> Result<(), DevnetError> {
        let Drawn {
            row,
            miner,
            chute,
            seconds,
            failed,
            private,
            base,
        } = drawn;
        if !failed && !private {
            self.cast.miners[miner].compute += row.bounty + row.compute_multiplier * base;
        }
        let completed = row.completed_at.expect("drawn invocations complete");
        if completed > hour.end {
            // Exported now without completed_at, and again next hour.
            w.row(InvocationRow {
                completed_at: None,
                ..row.clone()
            })?;
            self.summary.invocation_rows += 1;
            let counted = (!failed).then_some((miner, chute, seconds));
            self.carry.straddlers.push(Pending { row, counted });
            return Ok(());
        }
        if failed && i % 2 == 0 {
            // Retried on another miner under the same parent.
            let other = (miner + 1) % self.miners;
            let instance = &self.cast.instances[self.cast.by_miner[other][0]];
            w.row(InvocationRow {
                invocation_id: uuid(self.seed, &format!("r{}-{i}", hour.index)),
                instance_id: instance.id.clone(),
                miner_uid: i64::from(self.cast.miners[other].uid),
                miner_hotkey: self.cast.miners[other].hotkey.clone(),
                error_message: None,
                ..row.clone()
            })?;
            self.summary.invocation_rows += 1;
            count(served, other, chute, seconds);
        }
        if !failed {
            // What the miner's Prometheus counts: every success it
            // served, private or not, in the hour it ends.
            count(served, miner, chute, seconds);
        }
        w.row(&row)?;
        self.summary.invocation_rows += 1;
        Ok(())
    }

    /// Draws the `i`th invocation of the hour: miner, instance, chute,
    /// times, outcome and metrics, in a fixed order from the world's rng.
    fn draw(&mut self, hour: &Hour, i: usize) -> Drawn {
        let rng = &mut self.rng;
        let cast = &self.cast;
        let miner = cast.miner_at(rng.random::<f64>());
        let candidates = &cast.by_miner[miner];
        let inst = &cast.instances[candidates[rng.random_range(0..candidates.len())]];
        let chute_index = if i == 0 { cast.legacy() } else { inst.chute };
        let chute = &cast.chutes[chute_index];
        let started = hour.start + Duration::milliseconds(rng.random_range(0..3_600_000));
        let seconds = rng.random_range(0.2..30.0_f64);
        let completed = started + Duration::microseconds((seconds * 1e6) as i64);
        let failed = rng.random_range(0..100) < 2;
        let private = inst.billed_to.is_some() || rng.random_range(0..100) < 3 || i == 0;
        let bounty = if rng.random_range(0..200) == 0 {
            f64::from(rng.random_range(1..5))
        } else {
            0.0
        };
        let (metrics, base) = metrics(rng, chute, i, private, seconds);
        let row = InvocationRow {
            parent_invocation_id: uuid(self.seed, &format!("p{}-{i}", hour.index)),
            invocation_id: uuid(self.seed, &format!("c{}-{i}", hour.index)),
            chute_id: chute.id.clone(),
            chute_user_id: "chutes".into(),
            function_name: FUNCTIONS[chute_index % 4],
            user_id: format!("user-{}", i % 50),
            image_id: uuid(self.seed, &format!("image{}", chute_index)),
            image_user_id: "chutes",
            instance_id: inst.id.clone(),
            miner_uid: i64::from(cast.miners[miner].uid),
            miner_hotkey: cast.miners[miner].hotkey.clone(),
            started_at: started,
            completed_at: Some(completed),
            error_message: failed.then(|| "upstream timeout".into()),
            compute_multiplier: 0.5 * f64::from(chute.gpus),
            bounty,
            metrics,
        };
        Drawn {
            row,
            miner,
            chute: chute_index,
            seconds,
            failed,
            private,
            base,
        }
    }

    /// Filed this hour; half of last hour's confirmed in this one.
    fn user_reports(&self, w: &mut ExportWriter, hour: &Hour) -> Result<(), DevnetError> {
        let filed = hour.start + Duration::minutes(50);
        let reported = &self.carry.reported;
        let h = hour.index as usize;
        if h > 0 {
            for (k, parent) in reported[h - 1].iter().enumerate() {
                if k % 2 == 0 {
                    w.row(UserReportRow {
                        confirmed_at: Some(hour.start + Duration::minutes(5)),
                        confirmed_by: Some("admin"),
                        ..user_report(parent, filed)
                    })?;
                }
            }
        }
        for parent in &reported[h] {
            w.row(user_report(parent, filed))?;
        }
        Ok(())
    }

    /// Two jobs an hour: one complete, one running.
    fn jobs(&self, w: &mut ExportWriter, hour: &Hour) -> Result<(), DevnetError> {
        let cast = &self.cast;
        for (k, chute) in cast.chutes.iter().take(2).enumerate() {
            let m = (hour.index as usize * 2 + k) % self.miners;
            let t = hour.start + Duration::minutes(10 * k as i64 + 1);
            w.row(JobRow {
                job_id: uuid(self.seed, &format!("job{}-{k}", hour.index)),
                chute_id: chute.id.clone(),
                version: "1",
                chutes_version: "0.3.1",
                method: "train",
                miner_uid: cast.miners[m].uid,
                miner_hotkey: cast.miners[m].hotkey.clone(),
                miner_coldkey: cast.miners[m].coldkey.clone(),
                instance_id: cast.instances[cast.by_miner[m][0]].id.clone(),
                created_at: t,
                updated_at: t,
                started_at: t,
                finished_at: (k == 0).then(|| t + Duration::minutes(20)),
                status: if k == 0 { "complete" } else { "running" },
                compute_multiplier: 1.0,
                miner_terminated: k == 1,
            })?;
        }
        Ok(())
    }

    /// The validator's report (instances alive in the hour, and the
    /// exports) and its entry, published seven seconds after the hour.
    fn validator_report(
        &mut self,
        hour: &Hour,
        exports: BTreeMap<&str, serde_json::Value>,
    ) -> Result<EntrySpec, DevnetError> {
        let cast = &self.cast;
        let audits: Vec<serde_json::Value> = cast
            .instances
            .iter()
            .filter(|i| i.activated < hour.end && i.deleted.is_none_or(|d| d >= hour.start))
            .map(|i| instance_record(i, &cast.chutes, &cast.miners))
            .collect();
        let report = json!({"instance_audit": audits, "csv_exports": exports});
        let report_file = format!("reports/validator/{}.json", hour.block);
        self.summary.bytes += write_json(&self.out.join(&report_file), &report)?;
        Ok(EntrySpec {
            hotkey: VALIDATOR_HOTKEY.into(),
            block: hour.block,
            created_at: iso(hour.end + Duration::seconds(7)),
            start_time: iso(hour.start),
            end_time: iso(hour.end),
            report: report_file,
        })
    }

    /// Each reporting miner's self-report, under-reporting by its own
    /// factor, and its entry.
    fn miner_reports(
        &mut self,
        hour: &Hour,
        served: &Served,
    ) -> Result<Vec<EntrySpec>, DevnetError> {
        let mut entries = Vec::new();
        for m in 0..self.miners {
            let Some(factor) = self.cast.miners[m].reports else {
                continue;
            };
            let metrics = self.prometheus_metrics(m, factor, served);
            let cast = &self.cast;
            let miner = &cast.miners[m];
            let deployments: Vec<serde_json::Value> = cast.by_miner[m]
                .iter()
                .map(|&i| instance_record(&cast.instances[i], &cast.chutes, &cast.miners))
                .collect();
            let body = json!({
                "miner_hotkey": miner.hotkey, "start_time": iso(hour.start), "end_time": iso(hour.end),
                "prometheus_message": if factor < 0.7 { "Prometheus restarted during the audit time slice." } else { "Prometheus has been running the entire audit time slice." },
                "prometheus_metrics": metrics, "deployment_audit": deployments,
            });
            let block = hour.block + 1 + (m as u32 % (BLOCKS_PER_HOUR - 1));
            let file = format!("reports/miner/{}/{block}.json", miner.uid);
            self.summary.bytes += write_json(&self.out.join(&file), &body)?;
            entries.push(EntrySpec {
                hotkey: miner.hotkey.clone(),
                block,
                created_at: iso(hour.end + Duration::seconds(30 + m as i64 % 60)),
                start_time: iso(hour.start),
                end_time: iso(hour.end),
                report: file,
            });
        }
        Ok(entries)
    }

    /// What miner `m`'s Prometheus says it served this hour, per chute:
    /// its running total times `factor`, differenced, so the rounding
    /// carries from hour to hour.
    fn prometheus_metrics(
        &mut self,
        m: usize,
        factor: f64,
        served: &Served,
    ) -> Vec<serde_json::Value> {
        served
            .range((m, 0)..(m + 1, 0))
            .map(|(&(_, c), &(count, seconds))| {
                let total = self.carry.true_totals.entry((m, c)).or_default();
                let before = (*total as f64 * factor).floor() as u64;
                *total += count;
                let reported = (*total as f64 * factor).floor() as u64 - before;
                json!({"chute_id": self.cast.chutes[c].id, "deployment_id": uuid(self.seed, &format!("dep{m}-{c}")),
                       "function": FUNCTIONS[c % 4],
                       "total_seconds": (seconds * factor * 1000.0).round() / 1000.0,
                       "total_count": reported})
            })
            .collect()
    }
}

/// One drawn invocation and what the hour's bookkeeping needs of it.
struct Drawn {
    row: InvocationRow,
    miner: usize,
    chute: usize,
    seconds: f64,
    failed: bool,
    private: bool,
    /// The compute units before the multiplier, for the miner's share.
    base: f64,
}

fn count(served: &mut Served, miner: usize, chute: usize, seconds: f64) {
    let e = served.entry((miner, chute)).or_default();
    e.0 += 1;
    e.1 += seconds;
}

/// The `metrics` literal of an invocation on `chute`, in the form its
/// template writes (every form appears), and its compute units.
fn metrics(
    rng: &mut ChaCha8Rng,
    chute: &Chute,
    i: usize,
    private: bool,
    seconds: f64,
) -> (String, f64) {
    let p = py(private);
    match chute.template {
        Some("vllm") if i % 3 == 0 => {
            let nc = rng.random_range(0.1..3.0_f64);
            (
                format!("{{'nc': {nc:.6}, 'it': 300, 'ot': 80, 'maspt': 0.01, 'p': {p}}}"),
                nc,
            )
        }
        Some("vllm") => {
            let (it, ot) = (rng.random_range(10..2000), rng.random_range(1..800));
            let maspt = rng.random_range(0.001..0.05_f64);
            (
                format!("{{'it': {it}, 'ot': {ot}, 'maspt': {maspt:.6e}, 'ttft': 0.2, 'p': {p}}}"),
                f64::from(it + ot) * maspt,
            )
        }
        Some("diffusion") => {
            let steps = rng.random_range(10..50);
            let masps = rng.random_range(0.02..0.2_f64);
            (
                format!("{{'steps': {steps}, 'masps': {masps:.6}, 'p': {p}}}"),
                f64::from(steps) * masps,
            )
        }
        Some(_) => {
            let nc = rng.random_range(0.01..0.5_f64);
            (
                format!("{{'nc': {nc:.6}, 'p': {p}, 'extra': {{'note': 'it\\'s fine', 'v': [1, 2.5, None]}}}}"),
                nc,
            )
        }
        None => (String::new(), seconds),
    }
}

/// Work that is not a miner's: a negative uid and no instance.
fn not_miner_work(seed: u64, hour: &Hour, k: i64, chute: &Chute) -> InvocationRow {
    let t = hour.start + Duration::minutes(5 + k);
    InvocationRow {
        parent_invocation_id: uuid(seed, &format!("np{}-{k}", hour.index)),
        invocation_id: uuid(seed, &format!("nc{}-{k}", hour.index)),
        chute_id: chute.id.clone(),
        chute_user_id: "chutes".into(),
        function_name: "chat",
        user_id: String::new(),
        image_id: String::new(),
        image_user_id: "",
        instance_id: String::new(),
        miner_uid: -1,
        miner_hotkey: String::new(),
        started_at: t,
        completed_at: Some(t + Duration::seconds(1)),
        error_message: None,
        compute_multiplier: 1.0,
        bounty: 0.0,
        metrics: "{'nc': 1.0}".into(),
    }
}

fn user_report(parent: &str, filed: NaiveDateTime) -> UserReportRow<'_> {
    UserReportRow {
        invocation_id: parent,
        user_id: "user-1",
        timestamp: filed,
        confirmed_at: None,
        confirmed_by: None,
        reason: "bad output",
    }
}
