//! Who and what a generated world is about: the miners (shared coldkeys,
//! hotkeys off the metagraph, self-report factors), the chutes of every
//! template, and the instances that serve them, alive or deleted for
//! every reason.

use chrono::{Duration, NaiveDateTime};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::files::{key, uuid};
use super::fixed::LEGACY_CHUTE;
use super::shape::WorldShape;

const PRIVATE_REASONS: [&str; 4] = [
    "job has been terminated due to insufficient user balance",
    "user-defined/private chute instance has not been used since shutdown_after_seconds",
    "user has zero/negative balance (private chute)",
    "instance has an old version",
];
pub(super) const OTHER_REASONS: [&str; 2] = ["miner went offline", "failed verification"];

pub(super) struct Miner {
    pub uid: u16,
    pub hotkey: String,
    pub coldkey: String,
    /// Its share of the traffic, relative to the others.
    pub weight: f64,
    /// Fraction of its true count its Prometheus reports (None: no reports).
    pub reports: Option<f64>,
    /// The compute it did that scoring pays for, summed as generated.
    pub compute: f64,
}

#[derive(Clone)]
pub(super) struct Chute {
    pub id: String,
    pub slug: String,
    pub template: Option<&'static str>,
    pub gpus: u32,
}

pub(super) struct Instance {
    pub id: String,
    pub chute: usize,
    pub miner: usize,
    pub activated: NaiveDateTime,
    pub deleted: Option<NaiveDateTime>,
    pub reason: Option<&'static str>,
    pub billed_to: Option<String>,
}

/// The world's cast, with the indexes the hours draw from.
pub(super) struct Cast {
    /// The first `miners` are on the metagraph; two more work off it.
    pub miners: Vec<Miner>,
    /// The last one is the legacy public chute.
    pub chutes: Vec<Chute>,
    pub instances: Vec<Instance>,
    /// Instance indexes per miner.
    pub by_miner: Vec<Vec<usize>>,
    /// Running sums of the miners' weights, to draw a miner by weight.
    cumulative: Vec<f64>,
}

impl Cast {
    /// The cast of a world of `on_chain` miners and the given shape whose
    /// first hour starts at `start` and that lasts `hours` hours. Only the
    /// instances draw from `rng`.
    pub fn new(
        seed: u64,
        on_chain: usize,
        shape: WorldShape,
        hours: u32,
        start: NaiveDateTime,
        rng: &mut ChaCha8Rng,
    ) -> Cast {
        let chute_count = shape.chutes.unwrap_or(on_chain.max(12));
        let miners = miners(seed, on_chain);
        let chutes = chutes(seed, chute_count);
        let per_miner = |m: usize| shape.instances_per_miner.unwrap_or(2 + m % 3);
        let instances = instances(seed, &miners, chute_count, per_miner, hours, start, rng);
        let by_miner = (0..miners.len())
            .map(|m| {
                (0..instances.len())
                    .filter(|&i| instances[i].miner == m)
                    .collect()
            })
            .collect();
        let cumulative = miners
            .iter()
            .scan(0.0, |acc, m| {
                *acc += m.weight;
                Some(*acc)
            })
            .collect();
        Cast {
            miners,
            chutes,
            instances,
            by_miner,
            cumulative,
        }
    }

    /// The index of the legacy public chute.
    pub fn legacy(&self) -> usize {
        self.chutes.len() - 1
    }

    /// The miner a uniform draw in `[0, 1)` lands on, by weight.
    pub fn miner_at(&self, draw: f64) -> usize {
        let total = *self.cumulative.last().expect("miners");
        let pick = draw * total;
        self.cumulative
            .iter()
            .position(|c| *c >= pick)
            .unwrap_or(self.miners.len() - 1)
    }
}

/// Every fifth miner shares its coldkey with the one before; two extra
/// hotkeys work but are not on the metagraph.
fn miners(seed: u64, count: usize) -> Vec<Miner> {
    (0..count + 2)
        .map(|i| {
            let cold = if i % 5 == 4 { i - 1 } else { i };
            Miner {
                uid: (i + 1) as u16,
                hotkey: key(seed, &format!("hotkey{i}")),
                coldkey: key(seed, &format!("coldkey{cold}")),
                weight: if i >= count {
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
        .collect()
}

/// Chutes of each template in turn with 1–8 GPUs, then the legacy chute.
fn chutes(seed: u64, count: usize) -> Vec<Chute> {
    let templates = [Some("vllm"), Some("diffusion"), Some("tei"), None];
    let mut chutes: Vec<Chute> = (0..count)
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
    chutes
}

/// `per_miner(m)` instances for miner `m`, most alive all along, some
/// deleted for each reason, some billed (private), and one living half an
/// hour.
fn instances(
    seed: u64,
    miners: &[Miner],
    chute_count: usize,
    per_miner: impl Fn(usize) -> usize,
    hours: u32,
    start: NaiveDateTime,
    rng: &mut ChaCha8Rng,
) -> Vec<Instance> {
    let minutes = (i64::from(hours) * 60).max(61);
    let mut instances = Vec::new();
    for m in 0..miners.len() {
        for k in 0..per_miner(m) {
            let n = instances.len();
            let activated = start - Duration::hours(rng.random_range(1..72));
            let (deleted, reason, billed_to) = match n % 9 {
                0 => {
                    let at = start + Duration::minutes(rng.random_range(60..minutes));
                    let reason = PRIVATE_REASONS[(n / 9) % PRIVATE_REASONS.len()];
                    (Some(at), Some(reason), Some(format!("user-{}", n % 5)))
                }
                4 => {
                    let at = start + Duration::minutes(rng.random_range(60..minutes));
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
    instances
}
