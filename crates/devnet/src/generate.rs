//! Generating a deterministic world: the same options give the same bytes.
//!
//! The world is rich enough to exercise every scoring rule: coldkeys shared
//! by several hotkeys and hotkeys off the metagraph; chutes of every
//! template with GPU counts and the legacy public chute; instances that
//! start, stop and are deleted for every reason, some billed and private,
//! one that lives half an hour; invocations in every metrics form, private,
//! failed, retried on another miner, with bounties, with negative uids, and
//! straddling the hour (exported twice); user reports confirmed an hour
//! later; jobs; miner self-reports that under-report by varying amounts,
//! and one miner with none. Metrics are written as Python literals.
//!
//! Generation streams hour by hour: memory holds one hour's straddlers and
//! counters, never the week.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDateTime};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::world::{EntrySpec, GpuCountSpec, NeuronSpec, WorldMeta};
use crate::{ss58, DevnetError};

/// //Alice on prefix 42: the generated world's validator hotkey. Its dev
/// seed is the well-known `//Alice` derivation.
pub const VALIDATOR_HOTKEY: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// A generated world's present when none is given: fixed, so worlds are
/// reproducible.
pub fn default_now() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2025, 2, 10)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("a valid date")
}

/// Always treated as public by the scoring rules.
pub const LEGACY_CHUTE: &str = "561e4875-254d-588f-a36f-57c9cdef8961";
const FIRST_BLOCK: u32 = 4_800_000;
pub(crate) const BLOCKS_PER_HOUR: u32 = 300;

const PRIVATE_REASONS: [&str; 4] = [
    "job has been terminated due to insufficient user balance",
    "user-defined/private chute instance has not been used since shutdown_after_seconds",
    "user has zero/negative balance (private chute)",
    "instance has an old version",
];
const FUNCTIONS: [&str; 4] = ["chat", "generate", "embed", "run"];
const OTHER_REASONS: [&str; 2] = ["miner went offline", "failed verification"];

/// The invocations export header, as upstream writes it.
pub(crate) const INVOCATION_COLUMNS: [&str; 17] = [
    "parent_invocation_id",
    "invocation_id",
    "chute_id",
    "chute_user_id",
    "function_name",
    "user_id",
    "image_id",
    "image_user_id",
    "instance_id",
    "miner_uid",
    "miner_hotkey",
    "started_at",
    "completed_at",
    "error_message",
    "compute_multiplier",
    "bounty",
    "metrics",
];
/// The user reports export header.
pub(crate) const REPORT_COLUMNS: [&str; 6] = [
    "invocation_id",
    "user_id",
    "timestamp",
    "confirmed_at",
    "confirmed_by",
    "reason",
];
/// The jobs export header.
pub(crate) const JOB_COLUMNS: [&str; 16] = [
    "job_id",
    "chute_id",
    "version",
    "chutes_version",
    "method",
    "miner_uid",
    "miner_hotkey",
    "miner_coldkey",
    "instance_id",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "status",
    "compute_multiplier",
    "miner_terminated",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub miners: usize,
    pub hours: u32,
    pub invocations_per_hour: usize,
    /// The world's present; the last hour ends at `now` truncated to the hour.
    pub now: NaiveDateTime,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GenerateSummary {
    pub entries: usize,
    pub invocation_rows: u64,
    pub bytes: u64,
}

struct Miner {
    uid: u16,
    hotkey: String,
    coldkey: String,
    weight: f64,
    /// Fraction of its true count its Prometheus reports (None: no reports).
    reports: Option<f64>,
    compute: f64,
}

#[derive(Clone)]
struct Chute {
    id: String,
    slug: String,
    template: Option<&'static str>,
    gpus: u32,
}

struct Instance {
    id: String,
    chute: usize,
    miner: usize,
    activated: NaiveDateTime,
    deleted: Option<NaiveDateTime>,
    reason: Option<&'static str>,
    billed_to: Option<String>,
}

/// A CSV writer that hashes what it writes.
pub(crate) struct HashingFile {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn create(path: &Path) -> Result<File, DevnetError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| DevnetError::Io {
            path: parent.into(),
            source,
        })?;
    }
    File::create(path).map_err(|source| DevnetError::Io {
        path: path.into(),
        source,
    })
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> DevnetError + '_ {
    move |e| DevnetError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<u64, DevnetError> {
    let bytes = serde_json::to_vec_pretty(value).expect("world files serialise");
    let mut file = create(path)?;
    file.write_all(&bytes).map_err(io(path))?;
    Ok(bytes.len() as u64)
}

/// A deterministic UUID from the seed and a label.
pub(crate) fn uuid(seed: u64, label: &str) -> String {
    let digest = Sha256::digest(format!("{seed}:{label}"));
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

fn key(seed: u64, label: &str) -> String {
    ss58::encode(&Sha256::digest(format!("{seed}:key:{label}")).into())
}

pub(crate) fn csv_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

pub(crate) fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Writes one hourly export through `rows`; returns its entry for the
/// report (path and sha256 of the bytes written) and its size.
pub(crate) fn write_export(
    out: &Path,
    export_path: &str,
    rows: impl FnOnce(&mut csv::Writer<&mut HashingFile>, &Path) -> Result<(), DevnetError>,
) -> Result<(serde_json::Value, u64), DevnetError> {
    let path = out.join("exports").join(export_path);
    let mut file = HashingFile {
        inner: BufWriter::new(create(&path)?),
        hasher: Sha256::new(),
        bytes: 0,
    };
    {
        let mut w = csv::Writer::from_writer(&mut file);
        rows(&mut w, &path)?;
        w.flush().map_err(io(&path))?;
    }
    file.flush().map_err(io(&path))?;
    let entry = json!({"path": export_path, "sha256": hex::encode(file.hasher.finalize())});
    Ok((entry, file.bytes))
}

/// A straddling invocation, to export again when it completes.
struct Pending {
    row: Vec<String>,
    completed: NaiveDateTime,
    /// Miner, chute and seconds, for the self-report of the hour it
    /// completes in (when it succeeded).
    counted: Option<(usize, usize, f64)>,
}

/// Writes a world to `options.out`.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary, DevnetError> {
    if options.miners < 3 || options.hours == 0 || options.invocations_per_hour == 0 {
        return Err(DevnetError::Options(
            "a world needs at least 3 miners, 1 hour and 1 invocation an hour".into(),
        ));
    }
    let seed = options.seed;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let out = &options.out;
    // The last hour ends at least two minutes before `now`, so every entry
    // (published up to 90 s after its hour) exists at the world's present.
    let settled = options.now - Duration::minutes(2);
    let end = settled - Duration::seconds(settled.and_utc().timestamp().rem_euclid(3600));
    let start = end - Duration::hours(i64::from(options.hours));
    let mut summary = GenerateSummary::default();

    // Miners: every fifth shares its coldkey with the one before; two
    // extra hotkeys work but are not on the metagraph.
    let mut miners: Vec<Miner> = (0..options.miners + 2)
        .map(|i| {
            let cold = if i % 5 == 4 { i - 1 } else { i };
            Miner {
                uid: (i + 1) as u16,
                hotkey: key(seed, &format!("hotkey{i}")),
                coldkey: key(seed, &format!("coldkey{cold}")),
                weight: if i >= options.miners {
                    0.2
                } else {
                    1.0 + (i % 7) as f64
                },
                reports: if i == 1 {
                    None
                } else {
                    Some(0.6 + 0.4 * ((i * 37) % 11) as f64 / 10.0)
                },
                compute: 0.0,
            }
        })
        .collect();

    let templates = [Some("vllm"), Some("diffusion"), Some("tei"), None];
    let chute_count = options.miners.max(12);
    let mut chutes: Vec<Chute> = (0..chute_count)
        .map(|i| Chute {
            id: uuid(seed, &format!("chute{i}")),
            slug: format!("chute-{i}"),
            template: templates[i % templates.len()],
            gpus: [1, 2, 4, 8][(i / 4) % 4],
        })
        .collect();
    chutes.push(Chute {
        id: LEGACY_CHUTE.into(),
        slug: "legacy".into(),
        template: Some("vllm"),
        gpus: 8,
    });
    let legacy = chutes.len() - 1;

    // Instances: two to four per miner, most alive all along, some deleted
    // for each reason, some billed (private), one living half an hour.
    let mut instances = Vec::new();
    for (m, _) in miners.iter().enumerate() {
        for k in 0..(2 + m % 3) {
            let n = instances.len();
            let activated = start - Duration::hours(rng.random_range(1..72));
            let (deleted, reason, billed_to) = match n % 9 {
                0 => {
                    let at = start
                        + Duration::minutes(
                            rng.random_range(60..(i64::from(options.hours) * 60).max(61)),
                        );
                    let reason = PRIVATE_REASONS[(n / 9) % PRIVATE_REASONS.len()];
                    (Some(at), Some(reason), Some(format!("user-{}", n % 5)))
                }
                4 => {
                    let at = start
                        + Duration::minutes(
                            rng.random_range(60..(i64::from(options.hours) * 60).max(61)),
                        );
                    (Some(at), Some(OTHER_REASONS[n % 2]), None)
                }
                _ => (None, None, None),
            };
            instances.push(Instance {
                id: uuid(seed, &format!("instance{n}")),
                chute: (m * 3 + k * 5) % chute_count,
                miner: m,
                activated,
                deleted,
                reason,
                billed_to,
            });
        }
    }
    let short_start = start + Duration::minutes(10);
    instances.push(Instance {
        id: uuid(seed, "short-lived"),
        chute: 0,
        miner: 2,
        activated: short_start,
        deleted: Some(short_start + Duration::minutes(30)),
        reason: Some(OTHER_REASONS[0]),
        billed_to: None,
    });
    let by_miner: Vec<Vec<usize>> = (0..miners.len())
        .map(|m| {
            (0..instances.len())
                .filter(|&i| instances[i].miner == m)
                .collect()
        })
        .collect();
    let cumulative: Vec<f64> = miners
        .iter()
        .scan(0.0, |acc, m| {
            *acc += m.weight;
            Some(*acc)
        })
        .collect();
    let total_weight = *cumulative.last().expect("miners");

    let header = INVOCATION_COLUMNS;
    let mut entries = Vec::new();
    let mut straddlers: Vec<Pending> = Vec::new();
    let mut reports_to_confirm: Vec<Vec<String>> = Vec::new();
    // Each miner's true count per chute so far: its Prometheus counter
    // under-reports the running total, so hourly reports carry the rounding.
    let mut true_totals: BTreeMap<(usize, usize), u64> = BTreeMap::new();

    for h in 0..options.hours {
        let hour_start = start + Duration::hours(i64::from(h));
        let hour_end = hour_start + Duration::hours(1);
        let block = FIRST_BLOCK + h * BLOCKS_PER_HOUR;
        let stem = hour_end.format("%Y/%m/%d/%H").to_string();
        let mut exports = BTreeMap::new();
        let mut per_miner: BTreeMap<(usize, usize), (u64, f64)> = BTreeMap::new();

        // Invocations; some parents are reported by users below.
        let mut parents = Vec::new();
        let (export, bytes) = write_export(out, &format!("invocations/{stem}.csv"), |w, path| {
            w.write_record(header).map_err(csv_err(path))?;
            for pending in straddlers.drain(..) {
                if let Some((m, c, seconds)) = pending.counted {
                    let e = per_miner.entry((m, c)).or_default();
                    e.0 += 1;
                    e.1 += seconds;
                }
                let mut row = pending.row;
                row[12] = csv_time(pending.completed);
                w.write_record(&row).map_err(csv_err(path))?;
                summary.invocation_rows += 1;
            }
            for i in 0..options.invocations_per_hour {
                let pick = rng.random::<f64>() * total_weight;
                let m = cumulative
                    .iter()
                    .position(|c| *c >= pick)
                    .unwrap_or(miners.len() - 1);
                let candidates = &by_miner[m];
                let inst = &instances[candidates[rng.random_range(0..candidates.len())]];
                let chute_index = if i == 0 { legacy } else { inst.chute };
                let chute = &chutes[chute_index];
                let started = hour_start + Duration::milliseconds(rng.random_range(0..3_600_000));
                let seconds = rng.random_range(0.2..30.0_f64);
                let completed = started + Duration::microseconds((seconds * 1e6) as i64);
                let failed = rng.random_range(0..100) < 2;
                let private = inst.billed_to.is_some() || rng.random_range(0..100) < 3 || i == 0;
                let bounty = if rng.random_range(0..200) == 0 {
                    f64::from(rng.random_range(1..5))
                } else {
                    0.0
                };
                let multiplier = 0.5 * f64::from(chute.gpus);
                let (metrics, base) = match chute.template {
                    Some("vllm") if i % 3 == 0 => {
                        let nc = rng.random_range(0.1..3.0_f64);
                        (
                            format!(
                                "{{'nc': {nc:.6}, 'it': 300, 'ot': 80, 'maspt': 0.01, 'p': {}}}",
                                py(private)
                            ),
                            nc,
                        )
                    }
                    Some("vllm") => {
                        let (it, ot) = (rng.random_range(10..2000), rng.random_range(1..800));
                        let maspt = rng.random_range(0.001..0.05_f64);
                        (format!("{{'it': {it}, 'ot': {ot}, 'maspt': {maspt:.6e}, 'ttft': 0.2, 'p': {}}}", py(private)), f64::from(it + ot) * maspt)
                    }
                    Some("diffusion") => {
                        let steps = rng.random_range(10..50);
                        let masps = rng.random_range(0.02..0.2_f64);
                        (
                            format!(
                                "{{'steps': {steps}, 'masps': {masps:.6}, 'p': {}}}",
                                py(private)
                            ),
                            f64::from(steps) * masps,
                        )
                    }
                    Some(_) => {
                        let nc = rng.random_range(0.01..0.5_f64);
                        (format!("{{'nc': {nc:.6}, 'p': {}, 'extra': {{'note': 'it\\'s fine', 'v': [1, 2.5, None]}}}}", py(private)), nc)
                    }
                    None => (String::new(), seconds),
                };
                let parent = uuid(seed, &format!("p{h}-{i}"));
                let child = uuid(seed, &format!("c{h}-{i}"));
                let mut row = vec![
                    parent.clone(),
                    child,
                    chute.id.clone(),
                    "chutes".into(),
                    FUNCTIONS[chute_index % 4].into(),
                    format!("user-{}", i % 50),
                    uuid(seed, &format!("image{}", chute_index)),
                    "chutes".into(),
                    inst.id.clone(),
                    miners[m].uid.to_string(),
                    miners[m].hotkey.clone(),
                    csv_time(started),
                    csv_time(completed),
                    if failed {
                        "upstream timeout".into()
                    } else {
                        String::new()
                    },
                    format!("{multiplier}"),
                    format!("{bounty}"),
                    metrics,
                ];
                if completed > hour_end {
                    // Exported now without completed_at, and again next hour.
                    let mut open = row.clone();
                    open[12] = String::new();
                    w.write_record(&open).map_err(csv_err(path))?;
                    summary.invocation_rows += 1;
                    let counted = (!failed).then_some((m, chute_index, seconds));
                    straddlers.push(Pending {
                        row,
                        completed,
                        counted,
                    });
                } else {
                    if failed && i % 2 == 0 {
                        // Retried on another miner under the same parent.
                        let other = (m + 1) % options.miners;
                        let retry_instance = &instances[by_miner[other][0]];
                        let mut retry = row.clone();
                        retry[1] = uuid(seed, &format!("r{h}-{i}"));
                        retry[8] = retry_instance.id.clone();
                        retry[9] = miners[other].uid.to_string();
                        retry[10] = miners[other].hotkey.clone();
                        retry[13] = String::new();
                        w.write_record(&retry).map_err(csv_err(path))?;
                        summary.invocation_rows += 1;
                        let e = per_miner.entry((other, chute_index)).or_default();
                        e.0 += 1;
                        e.1 += seconds;
                    }
                    if !failed {
                        // What the miner's Prometheus counts: every success
                        // it served, private or not, in the hour it ends.
                        let e = per_miner.entry((m, chute_index)).or_default();
                        e.0 += 1;
                        e.1 += seconds;
                    }
                    row[12] = csv_time(completed);
                    w.write_record(&row).map_err(csv_err(path))?;
                    summary.invocation_rows += 1;
                }
                if !failed && !private {
                    miners[m].compute += bounty + multiplier * base;
                }
                if i % 997 == 0 {
                    parents.push(parent);
                }
            }
            // Not miner work: negative uids.
            for k in 0..3 {
                let t = hour_start + Duration::minutes(5 + k);
                w.write_record([
                    uuid(seed, &format!("np{h}-{k}")),
                    uuid(seed, &format!("nc{h}-{k}")),
                    chutes[0].id.clone(),
                    "chutes".into(),
                    "chat".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    "-1".into(),
                    String::new(),
                    csv_time(t),
                    csv_time(t + Duration::seconds(1)),
                    String::new(),
                    "1".into(),
                    "0".into(),
                    "{'nc': 1.0}".into(),
                ])
                .map_err(csv_err(path))?;
                summary.invocation_rows += 1;
            }
            Ok(())
        })?;
        summary.bytes += bytes;
        reports_to_confirm.push(parents);
        exports.insert("invocations", export);

        // User reports: filed this hour, half confirmed the next.
        let (export, bytes) = write_export(
            out,
            &format!("invocations/{stem}-reports.csv"),
            |w, path| {
                w.write_record(REPORT_COLUMNS).map_err(csv_err(path))?;
                let filed_at = csv_time(hour_start + Duration::minutes(50));
                if h > 0 {
                    for (k, parent) in reports_to_confirm[h as usize - 1].iter().enumerate() {
                        if k % 2 == 0 {
                            w.write_record([
                                parent.as_str(),
                                "user-1",
                                &filed_at,
                                &csv_time(hour_start + Duration::minutes(5)),
                                "admin",
                                "bad output",
                            ])
                            .map_err(csv_err(path))?;
                        }
                    }
                }
                for parent in &reports_to_confirm[h as usize] {
                    w.write_record([parent.as_str(), "user-1", &filed_at, "", "", "bad output"])
                        .map_err(csv_err(path))?;
                }
                Ok(())
            },
        )?;
        summary.bytes += bytes;
        exports.insert("reports", export);

        // Jobs.
        let (export, bytes) =
            write_export(out, &format!("invocations/{stem}-jobs.csv"), |w, path| {
                w.write_record(JOB_COLUMNS).map_err(csv_err(path))?;
                for (k, chute) in chutes.iter().take(2).enumerate() {
                    let m = (h as usize * 2 + k) % options.miners;
                    let t = hour_start + Duration::minutes(10 * k as i64 + 1);
                    w.write_record([
                        uuid(seed, &format!("job{h}-{k}")),
                        chute.id.clone(),
                        "1".into(),
                        "0.3.1".into(),
                        "train".into(),
                        miners[m].uid.to_string(),
                        miners[m].hotkey.clone(),
                        miners[m].coldkey.clone(),
                        instances[by_miner[m][0]].id.clone(),
                        csv_time(t),
                        csv_time(t),
                        csv_time(t),
                        if k == 0 {
                            csv_time(t + Duration::minutes(20))
                        } else {
                            String::new()
                        },
                        if k == 0 {
                            "complete".into()
                        } else {
                            "running".into()
                        },
                        "1.0".into(),
                        py(k == 1).into(),
                    ])
                    .map_err(csv_err(path))?;
                }
                Ok(())
            })?;
        summary.bytes += bytes;
        exports.insert("jobs", export);

        // The validator's report: instances alive in the hour, and exports.
        let audits: Vec<serde_json::Value> = instances
            .iter()
            .filter(|i| i.activated < hour_end && i.deleted.is_none_or(|d| d >= hour_start))
            .map(|i| instance_record(i, &chutes, &miners))
            .collect();
        let report = json!({"instance_audit": audits, "csv_exports": exports});
        let report_file = format!("reports/validator/{block}.json");
        summary.bytes += write_json(&out.join(&report_file), &report)?;
        let created = hour_end + Duration::seconds(7);
        entries.push(EntrySpec {
            hotkey: VALIDATOR_HOTKEY.into(),
            block,
            created_at: iso(created),
            start_time: iso(hour_start),
            end_time: iso(hour_end),
            report: report_file,
        });

        // Miners' self-reports, under-reporting by their own factor.
        for (m, miner) in miners.iter().enumerate().take(options.miners) {
            let Some(factor) = miner.reports else {
                continue;
            };
            let metrics: Vec<serde_json::Value> = per_miner
                .range((m, 0)..(m + 1, 0))
                .map(|(&(_, c), &(count, seconds))| {
                    let function = FUNCTIONS[c % 4];
                    let total = true_totals.entry((m, c)).or_default();
                    let before = (*total as f64 * factor).floor() as u64;
                    *total += count;
                    let reported = (*total as f64 * factor).floor() as u64 - before;
                    json!({"chute_id": chutes[c].id, "deployment_id": uuid(seed, &format!("dep{m}-{c}")),
                           "function": function,
                           "total_seconds": (seconds * factor * 1000.0).round() / 1000.0,
                           "total_count": reported})
                })
                .collect();
            let deployments: Vec<serde_json::Value> = by_miner[m]
                .iter()
                .map(|&i| instance_record(&instances[i], &chutes, &miners))
                .collect();
            let body = json!({
                "miner_hotkey": miner.hotkey, "start_time": iso(hour_start), "end_time": iso(hour_end),
                "prometheus_message": if factor < 0.7 { "Prometheus restarted during the audit time slice." } else { "Prometheus has been running the entire audit time slice." },
                "prometheus_metrics": metrics, "deployment_audit": deployments,
            });
            let miner_block = block + 1 + (m as u32 % (BLOCKS_PER_HOUR - 1));
            let file = format!("reports/miner/{}/{miner_block}.json", miner.uid);
            summary.bytes += write_json(&out.join(&file), &body)?;
            entries.push(EntrySpec {
                hotkey: miner.hotkey.clone(),
                block: miner_block,
                created_at: iso(hour_end + Duration::seconds(30 + m as i64 % 60)),
                start_time: iso(hour_start),
                end_time: iso(hour_end),
                report: file,
            });
        }
    }
    summary.entries = entries.len();

    // The metagraph: the validator at uid 0, miners paid by their share of
    // the compute they did (the chain's incentive, approximately).
    let total_compute: f64 = miners.iter().take(options.miners).map(|m| m.compute).sum();
    let mut metagraph = vec![NeuronSpec {
        uid: 0,
        hotkey: VALIDATOR_HOTKEY.into(),
        coldkey: key(seed, "validator-cold"),
        incentive: 0,
        stake: 1_000_000.0,
    }];
    for m in miners.iter().take(options.miners) {
        let share = if total_compute > 0.0 {
            m.compute / total_compute
        } else {
            0.0
        };
        metagraph.push(NeuronSpec {
            uid: m.uid,
            hotkey: m.hotkey.clone(),
            coldkey: m.coldkey.clone(),
            incentive: (share * 65535.0).round() as u16,
            stake: 10.0 + f64::from(m.uid),
        });
    }
    let gpu_counts: Vec<GpuCountSpec> = chutes
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 6 != 5) // some chutes have no count: they count as 1
        .map(|(_, c)| GpuCountSpec {
            chute_id: c.id.clone(),
            gpu_count: c.gpus,
        })
        .collect();
    let catalogue = chutes_catalogue(&chutes, &instances, &miners, end);
    summary.bytes += write_json(
        &out.join("world.json"),
        &WorldMeta {
            netuid: 64,
            validator_hotkey: VALIDATOR_HOTKEY.into(),
            now: iso(options.now),
        },
    )?;
    summary.bytes += write_json(&out.join("metagraph.json"), &metagraph)?;
    summary.bytes += write_json(&out.join("gpu_counts.json"), &gpu_counts)?;
    summary.bytes += write_json(&out.join("chutes.json"), &catalogue)?;
    summary.bytes += write_json(&out.join("entries.json"), &entries)?;
    Ok(summary)
}

fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn instance_record(i: &Instance, chutes: &[Chute], miners: &[Miner]) -> serde_json::Value {
    let chute = &chutes[i.chute];
    let miner = &miners[i.miner];
    json!({
        "instance_id": i.id, "chute_id": chute.id, "version": "1", "deployment_id": null,
        "validator": VALIDATOR_HOTKEY, "miner_uid": miner.uid, "miner_hotkey": miner.hotkey,
        "region": "eu", "created_at": iso(i.activated - Duration::minutes(5)),
        "verified_at": iso(i.activated - Duration::minutes(1)), "deleted_at": i.deleted.map(iso),
        "deletion_reason": i.reason, "activated_at": iso(i.activated),
        "stop_billing_at": i.billed_to.as_ref().and(i.deleted).map(|d| iso(d - Duration::minutes(2))),
        "billed_to": i.billed_to.clone().unwrap_or_default(),
        "compute_multiplier": 0.5 * f64::from(chute.gpus),
    })
}

/// The body of `GET /chutes/`: every chute with its live instances and cords.
fn chutes_catalogue(
    chutes: &[Chute],
    instances: &[Instance],
    miners: &[Miner],
    now: NaiveDateTime,
) -> serde_json::Value {
    let items: Vec<serde_json::Value> = chutes
        .iter()
        .enumerate()
        .map(|(c, chute)| {
            let live: Vec<serde_json::Value> = instances
                .iter()
                .filter(|i| i.chute == c && i.deleted.is_none_or(|d| d > now))
                .map(|i| json!({"instance_id": i.id, "region": "eu", "active": true, "verified": true,
                                "last_verified_at": iso(now), "miner_hotkey": miners[i.miner].hotkey}))
                .collect();
            json!({"chute_id": chute.id, "name": format!("devnet/{}", chute.slug), "slug": chute.slug,
                   "standard_template": chute.template, "user": {"username": "chutes"},
                   "node_selector": {"gpu_count": chute.gpus}, "instances": live,
                   "cord_ref_id": chute.template.unwrap_or("custom")})
        })
        .collect();
    let cords = json!({
        "vllm": [{"path": "/chat", "function": "chat", "stream": true, "public_api_path": "/v1/chat/completions", "public_api_method": "POST", "passthrough": true},
                 {"path": "/completion", "function": "completion", "stream": true, "public_api_path": "/v1/completions", "public_api_method": "POST", "passthrough": true}],
        "diffusion": [{"path": "/generate", "function": "generate", "stream": false, "public_api_path": "/generate", "public_api_method": "POST", "passthrough": false}],
        "tei": [{"path": "/embed", "function": "embed", "stream": false, "public_api_path": "/embed", "public_api_method": "POST", "passthrough": false}],
        "custom": [{"path": "/speak", "function": "speak", "stream": false, "public_api_path": "/speak", "public_api_method": "POST", "passthrough": false}],
    });
    json!({"total": items.len(), "page": 0, "limit": 1000, "items": items, "cord_refs": cords})
}
