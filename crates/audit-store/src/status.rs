//! What a data directory holds: the catalog's counts, the lake's size, the
//! window's coverage and the newest weights submission, in one read.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::catalog::{CatalogSummary, EntryState, WeightsSubmissionRecord};
use crate::{Store, StoreError};

/// Everything `Store::status` reports.
#[derive(Debug, Serialize)]
pub struct StoreStatus {
    /// The data directory.
    pub data_dir: String,
    /// The catalog's URL, masked.
    pub database: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The catalog's counts.
    pub catalog: CatalogSummary,
    /// The lake's size.
    pub lake: LakeStatus,
    /// The window's gaps and the entries whose files are gone.
    pub coverage: Coverage,
    /// The newest attempt to set weights, whatever became of it.
    pub last_submission: Option<WeightsSubmissionRecord>,
}

/// Hours of the window the scores cannot see, and loaded entries whose
/// files are gone: what a sync would fetch again.
#[derive(Debug, Serialize)]
pub struct Coverage {
    /// The window's end (now).
    pub until: NaiveDateTime,
    /// The window's length.
    pub window_days: u32,
    /// Hour ends with no verified validator entry.
    pub gaps: Vec<NaiveDateTime>,
    /// Loaded entries without a lake folder.
    pub missing_from_lake: Vec<String>,
    /// Loaded entries of the window whose commitment was read with proofs
    /// off (`subtensor.proofs: false`): on the node's word.
    pub unproven: Vec<String>,
}

/// The lake's entry folders, their files and bytes.
#[derive(Debug, Serialize)]
pub struct LakeStatus {
    /// Entry folders.
    pub entries: u64,
    /// Files in them and in the self-report batches.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
}

impl Store {
    /// What the catalog and the lake hold, with the coverage of the
    /// `window_days` up to `until`.
    pub async fn status(
        &self,
        window_days: u32,
        until: NaiveDateTime,
    ) -> Result<StoreStatus, StoreError> {
        let catalog = self.catalog().summary().await?;
        let lake_entries = self.lake().entries()?;
        let batches = self.lake().self_report_batches_size()?;
        let from = audit_model::time::window_start(until, window_days);
        let loaded_records = self
            .catalog()
            .entries_in_states(&[EntryState::Loaded], from)
            .await?;
        let unproven = loaded_records
            .iter()
            .filter(|e| e.commitment_proven == Some(false))
            .map(|e| e.entry.entry_id.clone())
            .collect();
        let loaded: Vec<String> = loaded_records
            .into_iter()
            .map(|e| e.entry.entry_id)
            .collect();
        let coverage = Coverage {
            unproven,
            until,
            window_days,
            gaps: self.catalog().coverage_gaps(from, until).await?,
            missing_from_lake: self.lake().missing(&loaded)?,
        };
        Ok(StoreStatus {
            data_dir: self.data_dir().display().to_string(),
            database: self.catalog().url().to_string(),
            backend: self.catalog().backend().to_string(),
            catalog,
            lake: LakeStatus {
                entries: lake_entries.len() as u64,
                files: lake_entries.iter().map(|e| e.files).sum::<u64>() + batches.0,
                bytes: lake_entries.iter().map(|e| e.bytes).sum::<u64>() + batches.1,
            },
            coverage,
            last_submission: self.catalog().latest_weights_submission().await?,
        })
    }
}
