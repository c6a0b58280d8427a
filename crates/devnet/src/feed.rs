//! A world directory as the sync pipeline's network and chain, read
//! straight from disk, and [`derive_incentives`]: a new world's own
//! traffic scored by the validator's rules and written back as the
//! world's on-chain incentives, so a generated world pays miners the way
//! the validator would and a comparison against it shows small deltas.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_store::{
    AuditEntry, EntrySource, GpuCount, Listing, MetagraphSnapshot, Neuron, Store, StoreError,
};
use audit_sync::{AuditSource, ChainSource, Commitment, Fetched, SourceError, SyncOptions};
use incentives::{IncentivesError, ScoringInputs, ScoringProfile};

use crate::generate::{generate_shaped, GenerateOptions, GenerateSummary, WorldShape};
use crate::world::World;
use crate::DevnetError;

/// A world on disk as the pipeline's sources: what the HTTP API and the
/// chain node would answer, without serving them.
pub struct WorldFeed {
    world: World,
    commitments: HashMap<(String, u32), [u8; 32]>,
}

impl WorldFeed {
    /// Reads every report once to know the commitments.
    pub fn new(world: World) -> Result<WorldFeed, DevnetError> {
        let commitments = world
            .commitments()?
            .into_iter()
            .map(|(hotkey, block, sha)| ((hotkey, block), sha))
            .collect();
        Ok(WorldFeed { world, commitments })
    }
}

/// A world on disk that cannot give what was asked: refused, as a server
/// answering 404 would.
fn refused(e: impl std::fmt::Display) -> SourceError {
    SourceError::refused(e.to_string())
}

impl AuditSource for WorldFeed {
    async fn list_entries(&self) -> Result<Listing, SourceError> {
        let time = |t: &str| {
            audit_store::time::parse_utc(t).ok_or_else(|| refused(format!("bad time {t:?}")))
        };
        let entries = self
            .world
            .listed()
            .into_iter()
            .map(|e| {
                Ok(AuditEntry {
                    source: EntrySource::of_report_path(&e.path),
                    created_at: time(&e.created_at)?,
                    start_time: time(&e.start_time)?,
                    end_time: time(&e.end_time)?,
                    entry_id: e.entry_id,
                    hotkey: e.hotkey,
                    block: e.block,
                    path: e.path,
                })
            })
            .collect::<Result<_, SourceError>>()?;
        Ok(Listing::of(entries))
    }

    async fn report(&self, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let spec = self
            .world
            .entries
            .iter()
            .find(|e| self.world.report_path(e) == path)
            .ok_or_else(|| refused(format!("no report {path}")))?;
        let bytes = self.world.report_bytes(spec).map_err(refused)?;
        Fetched::write(dest, &bytes)
    }

    async fn export(
        &self,
        _validator_url: &str,
        path: &str,
        dest: &Path,
    ) -> Result<Fetched, SourceError> {
        let file = self.world.export_file(path).map_err(refused)?;
        let bytes =
            std::fs::read(&file).map_err(|e| refused(format!("{}: {e}", file.display())))?;
        Fetched::write(dest, &bytes)
    }

    async fn gpu_counts(&self) -> Result<Vec<GpuCount>, SourceError> {
        Ok(self
            .world
            .gpu_counts
            .iter()
            .map(|g| GpuCount {
                chute_id: g.chute_id.clone(),
                gpu_count: g.gpu_count,
            })
            .collect())
    }
}

impl ChainSource for WorldFeed {
    // The world itself, not a node's account of it: true by construction.
    fn proves_reads(&self) -> bool {
        true
    }

    async fn commitment(&self, hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        Ok(self
            .commitments
            .get(&(hotkey.to_string(), block))
            .map(|sha| Commitment::Sha256 {
                sha256: *sha,
                block,
            })
            .unwrap_or(Commitment::None))
    }

    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        Ok(metagraph_of(&self.world))
    }
}

/// The world's metagraph as a snapshot taken at its present.
fn metagraph_of(world: &World) -> MetagraphSnapshot {
    MetagraphSnapshot {
        snapshot_id: 0,
        netuid: world.meta.netuid,
        block: 0,
        taken_at: world.now(),
        neurons: world
            .metagraph
            .iter()
            .map(|n| Neuron {
                uid: n.uid,
                hotkey: n.hotkey.clone(),
                coldkey: n.coldkey.clone(),
                incentive: n.incentive,
                stake: n.stake,
                last_update: 0,
                validator_permit: n.hotkey == world.meta.validator_hotkey,
            })
            .collect(),
    }
}

/// Why a world's incentives could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// The world could not be read or its metagraph rewritten.
    #[error(transparent)]
    World(#[from] DevnetError),
    /// The directory to keep the catalog in already holds something.
    #[error("{} is not empty: load into a new directory", .0.display())]
    NotEmpty(PathBuf),
    /// The scratch or kept catalog and lake failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The world's sync stopped.
    #[error(transparent)]
    Sync(#[from] audit_sync::SyncError),
    /// Entries of the world were rejected or failed: its files do not
    /// match its commitments (edited by hand?).
    #[error("the world did not verify: {0}")]
    Unverified(String),
    /// Scoring the synced traffic failed.
    #[error(transparent)]
    Scoring(#[from] IncentivesError),
    /// The scoring task panicked or was cancelled.
    #[error("the scoring task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A world [`make_world`] wrote, and how long each part took.
#[derive(Debug)]
pub struct MadeWorld {
    /// What was written.
    pub summary: GenerateSummary,
    /// The generation's time.
    pub generated_in: Duration,
    /// Miners paid from the world's own traffic; `None` when the
    /// generator's compute-share approximation stands.
    pub paid: Option<usize>,
    /// The derivation's time.
    pub derived_in: Duration,
}

/// Why a world could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeWorldError {
    /// The generator refused its options or could not write.
    #[error(transparent)]
    Generate(#[from] DevnetError),
    /// The generator's thread stopped.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The world's incentives could not be derived.
    #[error("deriving the incentives of the world in {}", dir.display())]
    Derive {
        /// The world.
        dir: PathBuf,
        /// Why.
        #[source]
        source: DeriveError,
    },
}

/// Generates a world into `options.out` (on a blocking thread) and, when
/// `derive`, pays its miners from its own traffic ([`derive_incentives`],
/// the catalog and lake kept in `keep` when given).
pub async fn make_world(
    options: GenerateOptions,
    shape: WorldShape,
    derive: bool,
    keep: Option<&Path>,
) -> Result<MadeWorld, MakeWorldError> {
    let dir = options.out.clone();
    let started = Instant::now();
    let summary = tokio::task::spawn_blocking(move || generate_shaped(&options, shape)).await??;
    let generated_in = started.elapsed();
    let started = Instant::now();
    let paid =
        match derive {
            true => Some(derive_incentives(&dir, keep).await.map_err(|source| {
                MakeWorldError::Derive {
                    dir: dir.clone(),
                    source,
                }
            })?),
            false => None,
        };
    Ok(MadeWorld {
        summary,
        generated_in,
        paid,
        derived_in: started.elapsed(),
    })
}

/// Scores the world's own traffic at its `now` with the default profile
/// and writes each miner's share as its incentive (a fraction of 65535).
/// The catalog and lake go to `keep` when given (it must be new or
/// empty), else to a scratch directory removed afterwards. Returns the
/// number of miners paid.
pub async fn derive_incentives(dir: &Path, keep: Option<&Path>) -> Result<usize, DeriveError> {
    let world = World::load(dir)?;
    if let Some(keep) = keep {
        if keep.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err(DeriveError::NotEmpty(keep.to_path_buf()));
        }
    }
    let scratch = keep.map(Path::to_path_buf).unwrap_or_else(scratch_dir);
    let result = score_into(world, &scratch).await;
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result
}

/// A scratch directory of this process no other derivation uses, even one
/// running beside it in the same process (tests do).
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "devnet-derive-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Syncs the world into a store at `home`, scores it, and writes the
/// shares into the world and (so a kept catalog agrees) its metagraph.
async fn score_into(mut world: World, home: &Path) -> Result<usize, DeriveError> {
    let store = Arc::new(Store::open(home, None).await?);
    let feed = Arc::new(WorldFeed::new(world.clone())?);
    let at = world.now();
    let profile = ScoringProfile::default();
    let validator = world.meta.validator_hotkey.clone();
    let options = SyncOptions::new(at, [(validator.clone(), "world".to_string())].into())
        .with_window_days(profile.window_days)
        .with_miner_reports(false)
        .with_concurrency(2);
    let summary =
        audit_sync::sync(store.clone(), feed.clone(), feed, &options, |_, _, _| {}).await?;
    if !(summary.rejected.is_empty() && summary.failed.is_empty()) {
        let bad: Vec<_> = summary.rejected.iter().chain(&summary.failed).collect();
        return Err(DeriveError::Unverified(format!("{bad:?}")));
    }
    let inputs =
        ScoringInputs::from_store(&store, at, &[validator], world.meta.netuid, &profile).await?;
    let scores =
        tokio::task::spawn_blocking(move || incentives::score(&inputs, at, &profile)).await??;
    let shares: HashMap<String, u16> = scores
        .miners
        .iter()
        .map(|m| {
            (
                m.features.hotkey.clone(),
                (m.score * 65535.0).round() as u16,
            )
        })
        .collect();
    world.set_incentives(&shares)?;
    // The chain now pays these shares: a kept catalog must say so too.
    store
        .catalog()
        .record_metagraph(&metagraph_of(&world))
        .await?;
    Ok(scores.miners.len())
}
