//! The open hour of a served world. Traced attempts accumulate here, and
//! [`LiveHour::publish`] (`POST /_devnet/advance`) closes the hour as the
//! validator does: it writes the hour's exports and report into the world,
//! lists the new entry, and moves the world's clock on by an hour.
//!
//! Files are written first and `entries.json` last, each through a
//! temporary name and a rename, so a world interrupted mid-publish still
//! loads: at worst with unreferenced files of the unpublished hour.

use chrono::{Duration, DurationRound, NaiveDateTime};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::generate::files::{iso, write_export, write_json};
use crate::generate::rows::{InvocationRow, INVOCATION_COLUMNS, JOB_COLUMNS, REPORT_COLUMNS};
use crate::generate::BLOCKS_PER_HOUR;
use crate::world::{replace_json, EntrySpec, ListedEntry, World};
use crate::DevnetError;

/// The hour being recorded.
#[derive(Debug, Clone)]
pub struct LiveHour {
    /// Start of the open hour: the end of the last published one.
    pub start: NaiveDateTime,
    rows: Vec<InvocationRow>,
    attempts: u64,
}

/// What closing an hour published.
#[derive(Debug, Clone)]
pub struct Published {
    /// The new entry, as `GET /audit/` now lists it.
    pub entry: ListedEntry,
    /// sha256 of the report bytes: what the chain commits at `entry.block`.
    pub report_sha256: [u8; 32],
    /// Rows of the hour's invocations export: the attempts recorded.
    pub invocation_rows: usize,
}

impl LiveHour {
    /// The hour after the world's last validator entry (or the hour before
    /// its `now`, for a world with none).
    pub fn open(world: &World) -> LiveHour {
        let start = world
            .entries
            .iter()
            .filter(|e| e.hotkey == world.meta.validator_hotkey)
            .filter_map(|e| audit_model::time::parse_utc(&e.end_time))
            .max()
            .unwrap_or_else(|| {
                world
                    .now()
                    .duration_trunc(Duration::hours(1))
                    .expect("hour truncation")
            });
        LiveHour {
            start,
            rows: Vec::new(),
            attempts: 0,
        }
    }

    /// When the next attempt starts: spread over the open hour, one second
    /// per attempt, so the export's times stay inside it.
    pub fn next_clock(&mut self) -> NaiveDateTime {
        let offset = 1 + (self.attempts % 3_500) as i64;
        self.attempts += 1;
        self.start + Duration::seconds(offset)
    }

    /// Records one attempt's export row.
    pub fn record(&mut self, row: InvocationRow) {
        self.rows.push(row);
    }

    /// Rows recorded so far.
    pub fn rows(&self) -> &[InvocationRow] {
        &self.rows
    }

    /// Closes the hour: writes its exports and report into `world`, lists
    /// the entry, and opens the next hour.
    pub fn publish(&mut self, world: &mut World) -> Result<Published, DevnetError> {
        let dir = world.dir.clone();
        let end = self.start + Duration::hours(1);
        let stem = end.format("%Y/%m/%d/%H").to_string();
        let validator = world.meta.validator_hotkey.clone();
        let last_validator = world
            .entries
            .iter()
            .filter(|e| e.hotkey == validator)
            .max_by_key(|e| e.block);
        let block = match last_validator {
            Some(e) => e.block + BLOCKS_PER_HOUR,
            None => world
                .entries
                .iter()
                .map(|e| e.block + 1)
                .max()
                .unwrap_or(4_800_000),
        };

        let mut exports = serde_json::Map::new();
        let (export, _) = write_export(
            &dir,
            &format!("invocations/{stem}.csv"),
            &INVOCATION_COLUMNS,
            |w| self.rows.iter().try_for_each(|row| w.row(row)),
        )?;
        exports.insert("invocations".into(), export);
        // No user reports and no jobs in a served hour: the headers only.
        let (export, _) = write_export(
            &dir,
            &format!("invocations/{stem}-reports.csv"),
            &REPORT_COLUMNS,
            |_| Ok(()),
        )?;
        exports.insert("reports".into(), export);
        let (export, _) = write_export(
            &dir,
            &format!("invocations/{stem}-jobs.csv"),
            &JOB_COLUMNS,
            |_| Ok(()),
        )?;
        exports.insert("jobs".into(), export);

        let instance_audit = match last_validator {
            Some(e) => surviving_instances(&world.report_bytes(e)?, self.start),
            None => Vec::new(),
        };
        let report = json!({"instance_audit": instance_audit, "csv_exports": exports});
        let report_file = format!("reports/validator/{block}.json");
        write_json(&dir.join(&report_file), &report)?;
        let spec = EntrySpec {
            hotkey: validator,
            block,
            created_at: iso(end + Duration::seconds(7)),
            start_time: iso(self.start),
            end_time: iso(end),
            report: report_file,
        };
        let report_sha256: [u8; 32] = Sha256::digest(world.report_bytes(&spec)?).into();

        let mut entries = world.entries.clone();
        entries.push(spec);
        let mut meta = world.meta.clone();
        meta.now = iso(world.now() + Duration::hours(1));
        replace_json(&dir.join("world.json"), &meta)?;
        replace_json(&dir.join("entries.json"), &entries)?;
        world.entries = entries;
        world.meta = meta;

        let entry = world.listed().pop().expect("the entry just published");
        let invocation_rows = self.rows.len();
        *self = LiveHour {
            start: end,
            rows: Vec::new(),
            attempts: 0,
        };
        Ok(Published {
            entry,
            report_sha256,
            invocation_rows,
        })
    }
}

/// Instance records of the last report still alive at `from`.
fn surviving_instances(report: &[u8], from: NaiveDateTime) -> Vec<Value> {
    let report: Value = serde_json::from_slice(report).unwrap_or(Value::Null);
    report
        .get("instance_audit")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            r.get("deleted_at")
                .and_then(Value::as_str)
                .and_then(audit_model::time::parse_utc)
                .is_none_or(|d| d >= from)
        })
        .cloned()
        .collect()
}
