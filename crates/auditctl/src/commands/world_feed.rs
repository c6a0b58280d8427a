//! A world directory as the sync pipeline's network and chain, read
//! straight from disk. `devnet generate` uses it to score a new world's own
//! traffic and write the result as the world's on-chain incentives, so a
//! generated world pays miners the way the validator would.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use audit_store::Listing;
use audit_store::{AuditEntry, EntrySource, GpuCount, MetagraphSnapshot, Neuron, Store};
use audit_sync::{AuditSource, ChainSource, Commitment, Fetched, SourceError, SyncOptions};
use devnet::World;
use incentives::{ScoringInputs, ScoringProfile};

pub struct WorldFeed {
    world: World,
    commitments: HashMap<(String, u32), [u8; 32]>,
}

impl WorldFeed {
    pub fn new(world: World) -> Result<WorldFeed> {
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
fn failed(e: impl std::fmt::Display) -> SourceError {
    SourceError::refused(e.to_string())
}

impl AuditSource for WorldFeed {
    async fn list_entries(&self) -> Result<Listing, SourceError> {
        let time = |t: &str| {
            audit_store::time::parse_utc(t).ok_or_else(|| failed(format!("bad time {t:?}")))
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

    async fn report(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let spec = self
            .world
            .entries
            .iter()
            .find(|e| self.world.report_path(e) == path)
            .ok_or_else(|| failed(format!("no report {path}")))?;
        self.world.report_bytes(spec).map_err(failed)
    }

    async fn export(
        &self,
        _validator_url: &str,
        path: &str,
        dest: &Path,
    ) -> Result<Fetched, SourceError> {
        let file = self.world.export_file(path).map_err(failed)?;
        let bytes = std::fs::read(&file).map_err(|e| failed(format!("{}: {e}", file.display())))?;
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
        Ok(MetagraphSnapshot {
            snapshot_id: 0,
            netuid: self.world.meta.netuid,
            block: 0,
            taken_at: self.world.now(),
            neurons: self
                .world
                .metagraph
                .iter()
                .map(|n| Neuron {
                    uid: n.uid,
                    hotkey: n.hotkey.clone(),
                    coldkey: n.coldkey.clone(),
                    incentive: n.incentive,
                    stake: n.stake,
                    last_update: 0,
                    validator_permit: n.hotkey == self.world.meta.validator_hotkey,
                })
                .collect(),
        })
    }
}

/// Scores the world's own traffic at its `now` with the default profile
/// and writes each miner's share as its incentive (a fraction of 65535).
/// The catalog and lake go to `keep` when given (it must be new or
/// empty), else to a scratch directory removed afterwards. Returns the
/// number of miners paid.
pub async fn derive_incentives(dir: &Path, keep: Option<&Path>) -> Result<usize> {
    let mut world = World::load(dir)?;
    if let Some(keep) = keep {
        anyhow::ensure!(
            keep.read_dir()
                .map(|mut d| d.next().is_none())
                .unwrap_or(true),
            "{} is not empty: load into a new directory",
            keep.display()
        );
    }
    let scratch = keep.map(Path::to_path_buf).unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "auditctl-derive-{}-{}",
            std::process::id(),
            world.meta.validator_hotkey
        ))
    });
    let result = async {
        let store = Arc::new(Store::open(&scratch, None).await?);
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
        anyhow::ensure!(
            summary.rejected.is_empty() && summary.failed.is_empty(),
            "the generated world did not verify: {:?}",
            summary
                .rejected
                .iter()
                .chain(&summary.failed)
                .collect::<Vec<_>>()
        );
        let inputs =
            ScoringInputs::from_store(&store, at, &[validator], world.meta.netuid, &profile)
                .await?;
        let scores =
            tokio::task::spawn_blocking(move || incentives::score(&inputs, at, &profile)).await??;
        let incentives: HashMap<String, u16> = scores
            .miners
            .iter()
            .map(|m| {
                (
                    m.features.hotkey.clone(),
                    (m.score * 65535.0).round() as u16,
                )
            })
            .collect();
        world.set_incentives(&incentives)?;
        // The chain now pays these shares: a kept catalog must say so too.
        let mut snapshot = WorldFeed::new(world.clone())?.metagraph().await?;
        snapshot.taken_at = at;
        store.catalog().record_metagraph(&snapshot).await?;
        Ok(scores.miners.len())
    }
    .await;
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result.with_context(|| format!("deriving the incentives of the world in {}", dir.display()))
}
