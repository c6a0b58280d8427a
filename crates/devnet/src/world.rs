//! The world directory: a public format (docs/world-format.md) that the
//! devnet can generate and serve, and that a user can assemble from real
//! data.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use devnet_chain::{ChainGenesis, CommitRevealGenesis, GenesisNeuron};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DevnetError;

/// `world.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldMeta {
    /// The subnet the world's chain simulates (64 in generated worlds).
    pub netuid: u16,
    /// The validator whose entries carry the exports and are scored.
    pub validator_hotkey: String,
    /// The world's present, ISO-8601 UTC.
    pub now: String,
}

/// One line of `metagraph.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeuronSpec {
    /// Its uid on the subnet.
    pub uid: u16,
    /// The SS58 hotkey that signs and is paid.
    pub hotkey: String,
    /// The SS58 coldkey that owns it (several hotkeys may share one).
    pub coldkey: String,
    /// Fraction of 65535.
    pub incentive: u16,
    /// Stake in TAO.
    pub stake: f64,
}

/// One line of `gpu_counts.json` (also the body of `GET /chutes/gpu_count_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuCountSpec {
    /// The chute.
    pub chute_id: String,
    /// GPUs per instance of it, which scoring multiplies compute by.
    pub gpu_count: u32,
}

/// One line of `entries.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySpec {
    /// Whose report it is: the validator's or a miner's.
    pub hotkey: String,
    /// The block its report's hash is committed at.
    pub block: u32,
    /// When it was published, ISO-8601 UTC.
    pub created_at: String,
    /// The hour it covers: start, ISO-8601 UTC.
    pub start_time: String,
    /// The hour it covers: end, ISO-8601 UTC.
    pub end_time: String,
    /// The report's file, relative to the world directory.
    pub report: String,
}

/// An entry as the network lists it, derived as upstream does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedEntry {
    /// The UUIDv5 of `"{hotkey}.{block}"` ([`entry_id`]).
    pub entry_id: String,
    /// Whose report it is.
    pub hotkey: String,
    /// The block its report's hash is committed at.
    pub block: u32,
    /// The network path of its report (`audit/validator/…/N.json`).
    pub path: String,
    /// When it was published, as stored.
    pub created_at: String,
    /// The hour it covers: start, as stored.
    pub start_time: String,
    /// The hour it covers: end, as stored.
    pub end_time: String,
}

/// A world on disk.
#[derive(Debug, Clone)]
pub struct World {
    /// The world directory; report and export paths are relative to it.
    pub dir: PathBuf,
    /// `world.json`.
    pub meta: WorldMeta,
    /// `metagraph.json`.
    pub metagraph: Vec<NeuronSpec>,
    /// `gpu_counts.json`.
    pub gpu_counts: Vec<GpuCountSpec>,
    /// `entries.json`: every published entry, oldest first.
    pub entries: Vec<EntrySpec>,
}

/// The UUIDv5 of `"{hotkey}.{block}"` in the OID namespace.
pub fn entry_id(hotkey: &str, block: u32) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{hotkey}.{block}").as_bytes(),
    )
    .hyphenated()
    .to_string()
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T, DevnetError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| DevnetError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| DevnetError::Format {
        path,
        message: e.to_string(),
    })
}

impl World {
    /// Loads and checks a world directory.
    pub fn load(dir: &Path) -> Result<World, DevnetError> {
        let meta: WorldMeta = read_json(dir, "world.json")?;
        if audit_model::time::parse_utc(&meta.now).is_none() {
            return Err(DevnetError::Format {
                path: dir.join("world.json"),
                message: format!("`now` is not an ISO-8601 time: {:?}", meta.now),
            });
        }
        let world = World {
            dir: dir.to_path_buf(),
            metagraph: read_json(dir, "metagraph.json")?,
            gpu_counts: read_json(dir, "gpu_counts.json")?,
            entries: read_json(dir, "entries.json")?,
            meta,
        };
        for e in &world.entries {
            audit_model::path::confine(dir, &e.report)?;
        }
        Ok(world)
    }

    /// The network's path of an entry's report.
    pub fn report_path(&self, e: &EntrySpec) -> String {
        let role = if e.hotkey == self.meta.validator_hotkey {
            "validator"
        } else {
            "miner"
        };
        format!("audit/{role}/{}/{}.json", e.hotkey, e.block)
    }

    /// The entry whose report is served at `path`. The block and hotkey
    /// are read from the path, so the search compares numbers and keys
    /// rather than formatting every entry's path: a week of self-reports is
    /// ten thousand entries, asked for one by one.
    pub fn entry_by_report_path(&self, path: &str) -> Option<&EntrySpec> {
        let (rest, file) = path.rsplit_once('/')?;
        let block: u32 = file.strip_suffix(".json")?.parse().ok()?;
        let (_, hotkey) = rest.rsplit_once('/')?;
        self.entries
            .iter()
            .filter(|e| e.block == block && e.hotkey == hotkey)
            .find(|e| self.report_path(e) == path)
    }

    /// Every entry as `GET /audit/` lists it.
    pub fn listed(&self) -> Vec<ListedEntry> {
        self.entries
            .iter()
            .map(|e| ListedEntry {
                entry_id: entry_id(&e.hotkey, e.block),
                hotkey: e.hotkey.clone(),
                block: e.block,
                path: self.report_path(e),
                created_at: e.created_at.clone(),
                start_time: e.start_time.clone(),
                end_time: e.end_time.clone(),
            })
            .collect()
    }

    /// The report bytes of an entry, exactly as stored.
    pub fn report_bytes(&self, e: &EntrySpec) -> Result<Vec<u8>, DevnetError> {
        let path = audit_model::path::confine(&self.dir, &e.report)?;
        std::fs::read(&path).map_err(|source| DevnetError::Io { path, source })
    }

    /// The file behind an export path (`invocations/2025/02/10/16.csv` is
    /// `exports/invocations/2025/02/10/16.csv`).
    pub fn export_file(&self, export_path: &str) -> Result<PathBuf, DevnetError> {
        Ok(audit_model::path::confine(
            &self.dir.join("exports"),
            export_path,
        )?)
    }

    /// What the chain commits: per entry, its hotkey, block and the sha256
    /// of its report bytes.
    pub fn commitments(&self) -> Result<Vec<(String, u32, [u8; 32])>, DevnetError> {
        self.entries
            .iter()
            .map(|e| {
                Ok((
                    e.hotkey.clone(),
                    e.block,
                    Sha256::digest(self.report_bytes(e)?).into(),
                ))
            })
            .collect()
    }

    /// The world's chain as the simulated node starts with it: the
    /// metagraph (the world's validator holds the validator permit) and
    /// one commitment of `sha256(report bytes)` per entry at the entry's
    /// block, with the head ten blocks past the newest commitment.
    pub fn chain_genesis(&self) -> Result<ChainGenesis, DevnetError> {
        let commitments = self.commitments()?;
        let newest = commitments.iter().map(|(_, b, _)| *b).max().unwrap_or(0);
        Ok(ChainGenesis {
            netuid: self.meta.netuid,
            neurons: self
                .metagraph
                .iter()
                .map(|n| GenesisNeuron {
                    uid: n.uid,
                    hotkey: n.hotkey.clone(),
                    coldkey: n.coldkey.clone(),
                    incentive: n.incentive,
                    stake_rao: (n.stake * 1e9).round() as u64,
                    last_update: 0,
                    validator_permit: n.hotkey == self.meta.validator_hotkey,
                })
                .collect(),
            commitments,
            weights_rate_limit: 100,
            commit_reveal: false,
            head: newest.saturating_add(10),
            timelock: CommitRevealGenesis::default(),
        })
    }

    /// Replaces the metagraph's incentives (fractions of 65535) by hotkey;
    /// hotkeys not named get 0. Rewrites `metagraph.json` in place.
    pub fn set_incentives(
        &mut self,
        incentives: &std::collections::HashMap<String, u16>,
    ) -> Result<(), DevnetError> {
        for neuron in &mut self.metagraph {
            neuron.incentive = incentives.get(&neuron.hotkey).copied().unwrap_or(0);
        }
        replace_json(&self.dir.join("metagraph.json"), &self.metagraph)
    }

    /// The world's present.
    pub fn now(&self) -> NaiveDateTime {
        audit_model::time::parse_utc(&self.meta.now).expect("checked on load")
    }
}

/// Writes a world file through a temporary name and a rename, so a reader
/// sees the old file or the new one, never half of one.
pub(crate) fn replace_json(path: &Path, value: &impl Serialize) -> Result<(), DevnetError> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DevnetError::Io { path, source }
    };
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(value).expect("world files serialise");
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(&bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hotkey: &str, block: u32) -> EntrySpec {
        EntrySpec {
            hotkey: hotkey.into(),
            block,
            created_at: "2025-02-10T12:00:00Z".into(),
            start_time: "2025-02-10T11:00:00Z".into(),
            end_time: "2025-02-10T12:00:00Z".into(),
            report: format!("reports/{hotkey}-{block}.json"),
        }
    }

    #[test]
    fn a_report_path_finds_exactly_its_entry() {
        let world = World {
            dir: PathBuf::from("/nonexistent"),
            meta: WorldMeta {
                netuid: 64,
                validator_hotkey: "5Validator".into(),
                now: "2025-02-10T12:00:00Z".into(),
            },
            metagraph: Vec::new(),
            gpu_counts: Vec::new(),
            entries: vec![
                entry("5Validator", 100),
                entry("5MinerA", 100),
                entry("5MinerA", 101),
            ],
        };
        for e in &world.entries {
            let path = world.report_path(e);
            assert_eq!(world.entry_by_report_path(&path), Some(e), "{path}");
        }
        for wrong in [
            "audit/validator/5MinerA/100.json",
            "audit/miner/5Validator/100.json",
            "audit/miner/5MinerA/102.json",
            "audit/miner/5MinerA/x.json",
            "audit/miner/5MinerA/100",
            "",
            "100.json",
        ] {
            assert_eq!(world.entry_by_report_path(wrong), None, "{wrong}");
        }
    }
}
