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
//! counters, never the week. `cast` makes who the world is about,
//! `hour` writes each hour through the typed rows of [`rows`], and
//! `catalogue` the files about the cast.

mod cast;
mod catalogue;
pub(crate) mod files;
mod fixed;
mod hour;
pub mod rows;
mod shape;

use std::path::PathBuf;

use chrono::{Duration, NaiveDateTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::world::WorldMeta;
use crate::DevnetError;
use files::{iso, write_json};
use hour::{Carry, Hour, HourWriter};

pub(crate) use fixed::BLOCKS_PER_HOUR;
pub use fixed::{LEGACY_CHUTE, VALIDATOR_HOTKEY};
pub use hour::GenerateSummary;
pub use shape::WorldShape;

/// A generated world's present when none is given: fixed, so worlds are
/// reproducible.
pub fn default_now() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2025, 2, 10)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("a valid date")
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The world directory to write (created if missing).
    pub out: PathBuf,
    /// Everything random follows from it: the same seed, the same bytes.
    pub seed: u64,
    /// Miners on the metagraph (at least 3); two more work off it.
    pub miners: usize,
    /// Hours of audit data, ending before `now` (at least 1).
    pub hours: u32,
    /// Invocations drawn per hour (at least 1), before retries,
    /// straddlers and the rows of work that is not a miner's.
    pub invocations_per_hour: usize,
    /// The world's present; the last hour ends at `now` truncated to the hour.
    pub now: NaiveDateTime,
}

/// Writes a world to `options.out`.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary, DevnetError> {
    generate_shaped(options, WorldShape::default())
}

/// Writes a world of the given shape to `options.out`.
pub fn generate_shaped(
    options: &GenerateOptions,
    shape: WorldShape,
) -> Result<GenerateSummary, DevnetError> {
    if options.miners < 3 || options.hours == 0 || options.invocations_per_hour == 0 {
        return Err(DevnetError::Options(
            "a world needs at least 3 miners, 1 hour and 1 invocation an hour".into(),
        ));
    }
    if shape.chutes == Some(0) || shape.instances_per_miner == Some(0) {
        return Err(DevnetError::Options(
            "a world needs at least 1 chute and 1 instance per miner".into(),
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
    let cast = cast::Cast::new(seed, options.miners, shape, options.hours, start, &mut rng);
    let mut writer = HourWriter {
        out,
        seed,
        miners: options.miners,
        invocations_per_hour: options.invocations_per_hour,
        rng,
        cast,
        carry: Carry::default(),
        summary: GenerateSummary::default(),
    };
    let mut entries = Vec::new();
    for h in 0..options.hours {
        entries.extend(writer.write(&Hour::new(start, h))?);
    }
    let HourWriter {
        cast, mut summary, ..
    } = writer;
    summary.entries = entries.len();
    let meta = WorldMeta {
        netuid: 64,
        validator_hotkey: VALIDATOR_HOTKEY.into(),
        now: iso(options.now),
    };
    let metagraph = catalogue::metagraph(seed, &cast, options.miners);
    summary.bytes += write_json(&out.join("world.json"), &meta)?;
    summary.bytes += write_json(&out.join("metagraph.json"), &metagraph)?;
    let gpu_counts = catalogue::gpu_counts(&cast.chutes);
    summary.bytes += write_json(&out.join("gpu_counts.json"), &gpu_counts)?;
    let chutes = catalogue::chutes_catalogue(&cast, end);
    summary.bytes += write_json(&out.join("chutes.json"), &chutes)?;
    summary.bytes += write_json(&out.join("entries.json"), &entries)?;
    Ok(summary)
}
