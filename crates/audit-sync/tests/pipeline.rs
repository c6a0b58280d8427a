//! The ingest pipeline against an in-memory network and chain, on SQLite
//! and PostgreSQL: clean loads, idempotence, every integrity fault (an old
//! report re-listed, an unsafe export path, a miner's self-report off its
//! commitment), malformed entries, a crash between the lake and the
//! catalog, lost lake files, pruning, unverifiable entries, coverage gaps,
//! and catalog states a changed configuration leaves behind.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use audit_sync::*;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const MINER: &str = "5MinerSelfReport0000000000000000000000000000000";
/// The miner that served every invocation in the exports (//Bob): export
/// rows name miners by SS58 address.
const SERVING_MINER: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const URL: &str = "http://validator.test";
const HOURS: u32 = 6;
const ROWS: usize = 20;

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

#[derive(Default)]
struct FakeNet {
    entries: Mutex<Vec<AuditEntry>>,
    malformed: Mutex<Vec<MalformedListing>>,
    files: Mutex<HashMap<String, Vec<u8>>>,
}

impl AuditSource for FakeNet {
    async fn list_entries(&self) -> Result<Listing, SourceError> {
        Ok(Listing {
            entries: self.entries.lock().unwrap().clone(),
            malformed: self.malformed.lock().unwrap().clone(),
        })
    }
    async fn report(&self, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let body = self.files.lock().unwrap().get(path).cloned();
        let body = body.ok_or_else(|| SourceError::refused(format!("404 {path}")))?;
        Fetched::write(dest, &body)
    }
    async fn export(&self, base: &str, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let key = format!("{base}|{path}");
        let body = self.files.lock().unwrap().get(&key).cloned();
        let body = body.ok_or_else(|| SourceError::refused(format!("404 {key}")))?;
        Fetched::write(dest, &body)
    }
    async fn gpu_counts(&self) -> Result<Vec<GpuCount>, SourceError> {
        Ok(vec![GpuCount {
            chute_id: "chute".into(),
            gpu_count: 8,
        }])
    }
}

#[derive(Default)]
struct FakeChain {
    commitments: Mutex<HashMap<(String, u32), Commitment>>,
}

impl ChainSource for FakeChain {
    // A test double: its answers are the test's own, taken as proven.
    fn proves_reads(&self) -> bool {
        true
    }

    async fn commitment(&self, hotkey: &str, block: u32) -> Result<Commitment, SourceError> {
        Ok(self
            .commitments
            .lock()
            .unwrap()
            .get(&(hotkey.to_string(), block))
            .cloned()
            .unwrap_or(Commitment::None))
    }
    async fn metagraph(&self) -> Result<MetagraphSnapshot, SourceError> {
        Ok(MetagraphSnapshot {
            snapshot_id: 0,
            netuid: 64,
            block: 5000,
            taken_at: start(),
            neurons: vec![Neuron {
                uid: 1,
                hotkey: "5Miner".into(),
                coldkey: "5Cold".into(),
                incentive: 65535,
                stake: 0.0,
                last_update: 0,
                validator_permit: false,
            }],
        })
    }
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

struct World {
    net: Arc<FakeNet>,
    chain: Arc<FakeChain>,
}

impl World {
    /// `HOURS` validator entries with three exports each (one malformed
    /// invocation row per export), and one miner self-report.
    fn new() -> World {
        let net = FakeNet::default();
        let chain = FakeChain::default();
        for h in 0..HOURS {
            let end = start() + Duration::hours(i64::from(h) + 1);
            let block = 1000 + h * 300;
            let stem = format!("invocations/2025/02/10/{:02}", h + 1);
            let mut invocations = String::from("invocation_id,parent_invocation_id,miner_uid,miner_hotkey,chute_id,started_at,completed_at,compute_multiplier,bounty,metrics\n");
            if h == 1 {
                // Two invocations of hour 0 completed in hour 1.
                for i in 0..2 {
                    invocations.push_str(&format!(
                        "h0-{i},h0-{i},1,{SERVING_MINER},chute,2025-02-10 00:59:00,2025-02-10 01:00:02,1.0,0,\"{{'nc': 1.5}}\"\n"
                    ));
                }
            }
            for i in 0..ROWS {
                invocations.push_str(&format!(
                    "h{h}-{i},h{h}-{i},1,{SERVING_MINER},chute,2025-02-10 0{h}:10:00,2025-02-10 0{h}:10:02,1.0,0,\"{{'nc': 1.5, 'p': False}}\"\n"
                ));
            }
            invocations.push_str("broken,row\n");
            let reports = "invocation_id,user_id,timestamp,confirmed_at,confirmed_by,reason\n";
            let jobs = "job_id,miner_uid,miner_terminated\nj1,1,False\n";
            let report = format!(
                r#"{{"instance_audit": [{{"instance_id": "i{h}", "chute_id": "chute", "miner_hotkey": "5Miner", "activated_at": "2025-02-09T00:00:00"}}],
                   "csv_exports": {{"invocations": {{"path": "{stem}.csv", "sha256": "{}"}},
                                    "reports": {{"path": "{stem}-reports.csv", "sha256": "{}"}},
                                    "jobs": {{"path": "{stem}-jobs.csv", "sha256": "{}"}}}}}}"#,
                hex::encode(sha(invocations.as_bytes())),
                hex::encode(sha(reports.as_bytes())),
                hex::encode(sha(jobs.as_bytes())),
            );
            let path = format!("audit/validator/{VALIDATOR}/{block}.json");
            let mut files = net.files.lock().unwrap();
            files.insert(format!("{URL}|{stem}.csv"), invocations.into_bytes());
            files.insert(
                format!("{URL}|{stem}-reports.csv"),
                reports.as_bytes().to_vec(),
            );
            files.insert(format!("{URL}|{stem}-jobs.csv"), jobs.as_bytes().to_vec());
            chain.commitments.lock().unwrap().insert(
                (VALIDATOR.into(), block),
                Commitment::Sha256 {
                    sha256: sha(report.as_bytes()),
                    block,
                },
            );
            files.insert(path.clone(), report.into_bytes());
            net.entries.lock().unwrap().push(AuditEntry {
                entry_id: expected_entry_id(VALIDATOR, block),
                hotkey: VALIDATOR.into(),
                block,
                path,
                source: EntrySource::Validator,
                created_at: end + Duration::seconds(7),
                start_time: end - Duration::hours(1),
                end_time: end,
            });
        }
        // A miner self-report, committed like a validator's.
        let block = 1001;
        let path = format!("audit/miner/{MINER}/{block}.json");
        let body = br#"{"miner_hotkey": "5MinerSelfReport", "prometheus_metrics": [{"chute_id": "chute", "deployment_id": "d", "function": "chat", "total_seconds": 10.0, "total_count": 4}], "deployment_audit": []}"#;
        net.files
            .lock()
            .unwrap()
            .insert(path.clone(), body.to_vec());
        chain.commitments.lock().unwrap().insert(
            (MINER.into(), block),
            Commitment::Sha256 {
                sha256: sha(body),
                block,
            },
        );
        let end = start() + Duration::hours(1);
        net.entries.lock().unwrap().push(AuditEntry {
            entry_id: expected_entry_id(MINER, block),
            hotkey: MINER.into(),
            block,
            path,
            source: EntrySource::Miner,
            created_at: end + Duration::seconds(9),
            start_time: end - Duration::hours(1),
            end_time: end,
        });
        World {
            net: Arc::new(net),
            chain: Arc::new(chain),
        }
    }

    /// `n` more self-reports of other miners in the first hour, each
    /// committed at its own block.
    fn add_miner_reports(&self, n: u32) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..n {
            let hotkey = format!("5MinerExtra{i:036}");
            let block = 2000 + i;
            let path = format!("audit/miner/{hotkey}/{block}.json");
            let body = format!(
                r#"{{"prometheus_metrics": [{{"chute_id": "chute", "function": "chat", "total_count": {i}}}], "deployment_audit": []}}"#
            );
            self.chain.commitments.lock().unwrap().insert(
                (hotkey.clone(), block),
                Commitment::Sha256 {
                    sha256: sha(body.as_bytes()),
                    block,
                },
            );
            self.net
                .files
                .lock()
                .unwrap()
                .insert(path.clone(), body.into_bytes());
            let end = start() + Duration::hours(1);
            let entry_id = expected_entry_id(&hotkey, block);
            ids.push(entry_id.clone());
            self.net.lock_entries().push(AuditEntry {
                entry_id,
                hotkey,
                block,
                path,
                source: EntrySource::Miner,
                created_at: end + Duration::seconds(9),
                start_time: end - Duration::hours(1),
                end_time: end,
            });
        }
        ids
    }

    fn options(&self, at: NaiveDateTime) -> SyncOptions {
        SyncOptions::new(
            at,
            BTreeMap::from([(VALIDATOR.to_string(), URL.to_string())]),
        )
        .with_concurrency(3)
    }

    fn at(&self) -> NaiveDateTime {
        start() + Duration::hours(i64::from(HOURS) + 1)
    }

    async fn sync(
        &self,
        store: &Arc<Store>,
        options: &SyncOptions,
    ) -> Result<SyncSummary, SyncError> {
        sync(
            store.clone(),
            self.net.clone(),
            self.chain.clone(),
            options,
            |_, _, _| {},
        )
        .await
    }

    fn entry(&self, h: usize) -> AuditEntry {
        self.net.lock_entries()[h].clone()
    }

    fn tamper(&self, key: &str) {
        let mut files = self.net.files.lock().unwrap();
        let bytes = files.get_mut(key).expect("file to tamper");
        bytes.push(b'\n');
    }
}

impl FakeNet {
    fn lock_entries(&self) -> std::sync::MutexGuard<'_, Vec<AuditEntry>> {
        self.entries.lock().unwrap()
    }
}

async fn store_of(t: &TestStore) -> Arc<Store> {
    Arc::new(
        Store::open(t.data_dir(), Some(t.database_url()))
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_window_loads_and_a_second_sync_is_a_no_op() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(summary.loaded, HOURS as usize + 1, "{summary:?}");
        assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
        assert!(!summary.integrity_violation());
        assert_eq!(
            summary.rows,
            (HOURS as usize * (ROWS + 1) + 2) as u64,
            "invocations + one job per entry + two straddling"
        );
        assert_eq!(summary.duplicates_collapsed, 2);
        assert_eq!(summary.malformed_rows, u64::from(HOURS));
        assert_eq!(summary.metagraph_block, Some(5000));
        assert_eq!(store.lake().entries().unwrap().len(), HOURS as usize + 1);

        let again = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(again.loaded, 0);
        assert_eq!(again.already_loaded, HOURS as usize + 1);
        let loaded = store
            .catalog()
            .loaded_entries(EntrySource::Validator, start(), world.at())
            .await
            .unwrap();
        assert_eq!(loaded.len(), HOURS as usize);
        let exports = store
            .catalog()
            .exports(&loaded[0].entry.entry_id)
            .await
            .unwrap();
        assert_eq!(exports.len(), 3);
        assert_eq!(exports[0].row_count, ROWS as u64);
        assert_eq!(exports[0].malformed_rows, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_integrity_fault_rejects_exactly_its_entry() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        // Hour 1: an export altered after the report was written.
        world.tamper(&format!("{URL}|invocations/2025/02/10/02.csv"));
        // Hour 2: the report altered after it was committed.
        let report = world.entry(2).path;
        world.tamper(&report);
        // Hour 3: never committed.
        let e3 = world.entry(3);
        world
            .chain
            .commitments
            .lock()
            .unwrap()
            .remove(&(VALIDATOR.to_string(), e3.block));
        // Hour 4: an entry id that is not the hash of hotkey.block.
        world.net.lock_entries()[4].entry_id = expected_entry_id(VALIDATOR, 1);
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert!(summary.integrity_violation());
        let blocks: Vec<u32> = summary.rejected.iter().map(|r| r.block).collect();
        assert_eq!(
            blocks,
            [
                world.entry(1).block,
                world.entry(2).block,
                e3.block,
                world.entry(4).block
            ]
        );
        assert!(
            summary.rejected[0]
                .reason
                .contains("export invocations/2025/02/10/02.csv"),
            "{}",
            summary.rejected[0].reason
        );
        assert!(summary.rejected[1]
            .reason
            .contains("differs from the commitment"));
        assert!(summary.rejected[2].reason.contains("no commitment"));
        assert!(summary.rejected[3].reason.contains("malformed entry"));
        assert_eq!(summary.loaded, HOURS as usize + 1 - 4);
        // Nothing of a rejected entry is in the lake; it is retried next run.
        let lake: Vec<String> = store
            .lake()
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.entry_id)
            .collect();
        assert!(!lake.contains(&world.entry(1).entry_id));
        let rejected = store
            .catalog()
            .entry(&world.entry(1).entry_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rejected.state, EntryState::Rejected);
        let again = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(again.rejected.len(), 4);
        assert_eq!(
            store
                .catalog()
                .entry(&world.entry(1).entry_id)
                .await
                .unwrap()
                .unwrap()
                .attempts,
            2
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_the_lake_and_the_catalog_recovers_without_duplicates() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let store = store_of(&t).await;
        let options = world.options(world.at()).with_concurrency(1);
        assert!(world
            .sync(&store, &options.clone().with_crash_before_catalog(true))
            .await
            .is_err());
        // A leftover temp file, as a kill mid-write would leave.
        let dir = store.lake().entry_dir(&world.entry(0).entry_id).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("report.json{TMP_MARKER}dead")), b"half").unwrap();
        drop(store);

        let store = store_of(&t).await;
        let summary = world.sync(&store, &options).await.unwrap();
        assert!(summary.leftovers_cleaned >= 1);
        assert_eq!(summary.loaded, HOURS as usize + 1);
        let validator_entries = store
            .catalog()
            .loaded_entries(EntrySource::Validator, start(), world.at())
            .await
            .unwrap();
        let ids: Vec<String> = validator_entries
            .iter()
            .map(|e| e.entry.entry_id.clone())
            .collect();
        let rows = store
            .lake()
            .scan(&ids, FactTable::Invocations)
            .unwrap()
            .unwrap()
            .collect()
            .unwrap()
            .height();
        assert_eq!(rows, HOURS as usize * ROWS + 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn self_reports_made_durable_in_several_batches_are_all_loaded_once() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let extra = world.add_miner_reports(6);
        let store = store_of(&t).await;
        // Seven self-reports in batches of two: three full batches and
        // the last one at the end of the run.
        let options = world.options(world.at()).with_durable_batch(2);
        let summary = world.sync(&store, &options).await.unwrap();
        assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
        assert_eq!(summary.loaded, HOURS as usize + 7, "{summary:?}");
        let miners = store
            .catalog()
            .loaded_entries(EntrySource::Miner, start(), world.at())
            .await
            .unwrap();
        assert_eq!(miners.len(), 7);
        let reported = metrics_of(&store, &extra);
        assert_eq!(reported.height(), 6, "one metrics row per extra report");
        for id in &extra {
            let report = store.lake().report_path(id).unwrap();
            assert!(std::fs::read(report).unwrap().starts_with(b"{"));
        }
        let again = world.sync(&store, &options).await.unwrap();
        assert_eq!((again.loaded, again.leftovers_cleaned), (0, 0));
        assert_eq!(again.already_loaded, HOURS as usize + 7);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_a_crash_kept_from_the_catalog_is_swept_and_never_read() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let extra = world.add_miner_reports(3);
        let store = store_of(&t).await;
        // What a crash between a batch's write and the catalog's update
        // leaves: a whole batch naming entries the catalog does not hold
        // as loaded, here with rows the reports do not say.
        let forged = audit_store::facts::conform(
            polars::df!("chute_id" => ["forged"; 5], "total_count" => [999.0; 5]).unwrap(),
            FactTable::MinerMetrics,
            &[],
        )
        .unwrap();
        let orphan = store
            .lake()
            .write_self_reports(&[audit_store::SelfReportFacts {
                entry_id: extra[0].clone(),
                tables: vec![(FactTable::MinerMetrics, forged)],
            }])
            .unwrap();
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
        assert!(!orphan.exists(), "the crashed batch is swept");
        let reported = metrics_of(&store, &extra);
        assert_eq!(
            reported.height(),
            3,
            "one metrics row per report, no forged row"
        );
        let chutes = reported.column("chute_id").unwrap().str().unwrap().clone();
        assert!(chutes.iter().all(|c| c != Some("forged")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_leaving_the_window_are_pruned() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let store = store_of(&t).await;
        world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        // Seven days and three hours later, the first two hours (and the
        // miner report of hour 1) have left the window.
        let later = start() + Duration::days(7) + Duration::hours(2) + Duration::minutes(30);
        let summary = world.sync(&store, &world.options(later)).await.unwrap();
        assert_eq!(summary.pruned, 3, "{summary:?}");
        assert!(store
            .catalog()
            .entry(&world.entry(0).entry_id)
            .await
            .unwrap()
            .is_none());
        assert_eq!(store.lake().entries().unwrap().len(), HOURS as usize - 2);
    })
    .await;
}

impl World {
    fn set_commitment(&self, hotkey: &str, block: u32, commitment: Commitment) {
        self.chain
            .commitments
            .lock()
            .unwrap()
            .insert((hotkey.to_string(), block), commitment);
    }

    fn commitment(&self, hotkey: &str, block: u32) -> Commitment {
        self.chain.commitments.lock().unwrap()[&(hotkey.to_string(), block)].clone()
    }

    /// Replaces entry `h`'s report and commits the new one, as a validator
    /// publishing it would.
    fn republish(&self, h: usize, report: &str) {
        let entry = self.entry(h);
        self.net
            .files
            .lock()
            .unwrap()
            .insert(entry.path.clone(), report.as_bytes().to_vec());
        self.set_commitment(
            VALIDATOR,
            entry.block,
            Commitment::Sha256 {
                sha256: sha(report.as_bytes()),
                block: entry.block,
            },
        );
    }

    /// Entry `h`'s report with its invocations export replaced by `csv`
    /// (hash updated), committed.
    fn republish_export(&self, h: usize, export_path: &str, csv: &str) {
        let entry = self.entry(h);
        let stem = format!("invocations/2025/02/10/{:02}", h + 1);
        let old = String::from_utf8(self.net.files.lock().unwrap()[&entry.path].clone()).unwrap();
        let old_sha = {
            let v: serde_json::Value = serde_json::from_str(&old).unwrap();
            v["csv_exports"]["invocations"]["sha256"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let quoted = serde_json::to_string(export_path).unwrap();
        let report = old
            .replace(&old_sha, &hex::encode(sha(csv.as_bytes())))
            .replace(&format!("{stem}.csv"), &quoted[1..quoted.len() - 1]);
        self.net
            .files
            .lock()
            .unwrap()
            .insert(format!("{URL}|{export_path}"), csv.as_bytes().to_vec());
        self.republish(h, &report);
    }
}

/// The self-reported metrics rows the lake gives for `entries`.
fn metrics_of(store: &Store, entries: &[String]) -> polars::prelude::DataFrame {
    let rows = store.lake().scan(entries, FactTable::MinerMetrics).unwrap();
    rows.expect("the entries have metrics").collect().unwrap()
}

async fn state_of(store: &Store, entry_id: &str) -> EntryRecord {
    store.catalog().entry(entry_id).await.unwrap().unwrap()
}

fn lake_ids(store: &Store) -> Vec<String> {
    store.lake().entry_ids().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_report_relisted_under_a_new_block_is_an_integrity_violation() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        // Hour 5 re-lists hour 0's report under its own (later) block: the
        // chain's latest commitment as of that block is hour 0's, whose
        // hash matches, but it was made at hour 0's block.
        let (e0, e5) = (world.entry(0), world.entry(5));
        world.net.lock_entries()[5].path = e0.path.clone();
        world.set_commitment(VALIDATOR, e5.block, world.commitment(VALIDATOR, e0.block));
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert!(summary.integrity_violation(), "{summary:?}");
        assert_eq!(summary.rejected.len(), 1, "{:?}", summary.rejected);
        let r = &summary.rejected[0];
        assert_eq!((r.block, r.kind), (e5.block, FaultKind::Integrity));
        assert!(r.reason.contains("re-listed"), "{}", r.reason);
        assert_eq!(
            state_of(&store, &e5.entry_id).await.state,
            EntryState::Rejected
        );
        assert!(!lake_ids(&store).contains(&e5.entry_id));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unverifiable_entries_are_not_loaded_by_default_and_are_checked_again() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let (e0, e1) = (world.entry(0), world.entry(1));
        let committed = (
            world.commitment(VALIDATOR, e0.block),
            world.commitment(VALIDATOR, e1.block),
        );
        world.set_commitment(VALIDATOR, e0.block, Commitment::Pruned);
        world.set_commitment(VALIDATOR, e1.block, Commitment::Pruned);
        let store = store_of(&t).await;

        // The default: what cannot be proven is not loaded.
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(
            (summary.unverifiable, summary.loaded),
            (2, HOURS as usize - 1)
        );
        assert!(!summary.integrity_violation());
        let record = state_of(&store, &e0.entry_id).await;
        assert_eq!(
            (record.state, record.unverifiable),
            (EntryState::Unverifiable, true)
        );
        assert!(!lake_ids(&store).contains(&e0.entry_id));

        // Opted in: loaded, flagged, and counted.
        let opted_in = world.options(world.at()).with_load_unverifiable(true);
        let summary = world.sync(&store, &opted_in).await.unwrap();
        assert_eq!((summary.loaded, summary.loaded_unverifiable), (2, 2));
        let record = state_of(&store, &e0.entry_id).await;
        assert_eq!(
            (record.state, record.unverifiable),
            (EntryState::Loaded, true)
        );

        // The archive answers again: hour 0 matches and is verified, hour
        // 1's commitment is not its report: rejected and out of the lake.
        world.set_commitment(VALIDATOR, e0.block, committed.0);
        world.set_commitment(
            VALIDATOR,
            e1.block,
            Commitment::Sha256 {
                sha256: [7; 32],
                block: e1.block,
            },
        );
        let _ = committed.1;
        let summary = world.sync(&store, &opted_in).await.unwrap();
        assert_eq!(summary.reverified, 1, "{summary:?}");
        let record = state_of(&store, &e0.entry_id).await;
        assert_eq!(
            (record.state, record.unverifiable),
            (EntryState::Loaded, false)
        );
        assert_eq!(summary.rejected.len(), 1);
        assert_eq!(summary.rejected[0].block, e1.block);
        assert!(summary.integrity_violation());
        assert!(!lake_ids(&store).contains(&e1.entry_id));

        // Still pruned and no longer opted in: back out of the lake.
        world.set_commitment(VALIDATOR, e0.block, Commitment::Pruned);
        world
            .sync(
                &store,
                &world.options(world.at()).with_load_unverifiable(true),
            )
            .await
            .unwrap();
        let record = state_of(&store, &e0.entry_id).await;
        assert_eq!(
            record.state,
            EntryState::Loaded,
            "pruned again, still opted in"
        );
        world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        let record = state_of(&store, &e0.entry_id).await;
        assert_eq!(
            record.state,
            EntryState::Loaded,
            "its proof was seen once: kept"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flagged_entry_leaves_the_lake_when_the_user_opts_out() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let e0 = world.entry(0);
        world.set_commitment(VALIDATOR, e0.block, Commitment::Pruned);
        let store = store_of(&t).await;
        let opted_in = world.options(world.at()).with_load_unverifiable(true);
        world.sync(&store, &opted_in).await.unwrap();
        assert!(lake_ids(&store).contains(&e0.entry_id));
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(summary.unverifiable, 1, "{summary:?}");
        let record = state_of(&store, &e0.entry_id).await;
        assert_eq!(
            (record.state, record.unverifiable),
            (EntryState::Unverifiable, true)
        );
        assert!(!lake_ids(&store).contains(&e0.entry_id));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_miner_self_report_off_its_commitment_is_rejected_without_paging() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let miner = world.entry(HOURS as usize);
        world
            .chain
            .commitments
            .lock()
            .unwrap()
            .remove(&(MINER.to_string(), miner.block));
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(summary.loaded, HOURS as usize);
        assert_eq!(summary.rejected.len(), 1);
        let r = &summary.rejected[0];
        assert_eq!((r.kind, r.integrity), (FaultKind::Integrity, false));
        assert!(!summary.integrity_violation(), "miner data does not page");
        let record = state_of(&store, &miner.entry_id).await;
        assert_eq!(record.state, EntryState::Rejected);
        assert!(record.reject_reason.unwrap().contains("no commitment"));
        assert!(!lake_ids(&store).contains(&miner.entry_id));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loaded_entry_whose_lake_files_are_gone_is_fetched_again() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let store = store_of(&t).await;
        world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        let e2 = world.entry(2);
        std::fs::remove_dir_all(store.lake().entry_dir(&e2.entry_id).unwrap()).unwrap();
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(summary.missing_from_lake, vec![e2.entry_id.clone()]);
        assert_eq!(
            (summary.loaded, summary.already_loaded),
            (1, HOURS as usize)
        );
        assert!(lake_ids(&store).contains(&e2.entry_id));
        assert_eq!(
            store.catalog().exports(&e2.entry_id).await.unwrap().len(),
            3
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_id_listed_in_upper_case_is_loaded_once_under_its_canonical_id() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let e3 = world.entry(3);
        world.net.lock_entries()[3].entry_id = e3.entry_id.to_ascii_uppercase();
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(summary.loaded, HOURS as usize + 1, "{summary:?}");
        assert_eq!(
            state_of(&store, &e3.entry_id).await.state,
            EntryState::Loaded
        );
        let again = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(
            (again.loaded, again.already_loaded),
            (0, HOURS as usize + 1)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_listing_elements_are_reported_and_the_rest_loads() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        world.net.malformed.lock().unwrap().push(MalformedListing {
            index: 2,
            reason: "not an audit entry: missing field `block`".into(),
        });
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(summary.malformed_listing.len(), 1);
        assert_eq!(summary.listed, HOURS as usize + 2);
        assert_eq!(summary.loaded, HOURS as usize + 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_but_malformed_entries_are_rejected_with_the_reason() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        // Hour 0: a report without csv_exports (it would load as an empty hour).
        world.republish(0, r#"{"instance_audit": []}"#);
        // Hour 1: an invocations export without compute_multiplier.
        world.republish_export(
            1,
            "invocations/2025/02/10/02.csv",
            "invocation_id,miner_hotkey,completed_at,metrics\ni,5Miner,2025-02-10 01:00:00,\n",
        );
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        let kinds: Vec<(u32, FaultKind)> =
            summary.rejected.iter().map(|r| (r.block, r.kind)).collect();
        assert_eq!(
            kinds,
            [
                (world.entry(0).block, FaultKind::Malformed),
                (world.entry(1).block, FaultKind::Malformed)
            ],
            "{:?}",
            summary.rejected
        );
        assert!(summary.rejected[0].reason.contains("csv_exports"));
        assert!(summary.rejected[1].reason.contains("compute_multiplier"));
        for h in [0, 1] {
            let record = state_of(&store, &world.entry(h).entry_id).await;
            assert_eq!(record.state, EntryState::Rejected);
            assert!(!lake_ids(&store).contains(&world.entry(h).entry_id));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsafe_export_path_in_a_committed_report_is_an_integrity_violation() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let csv = "invocation_id,miner_hotkey,compute_multiplier,completed_at,metrics\n";
        world.republish_export(0, "invocations/%2e%2e/%2e%2e/etc/passwd", csv);
        world.republish_export(1, "invocations/2025\\..\\..\\x.csv", csv);
        let store = store_of(&t).await;
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert!(summary.integrity_violation());
        assert!(
            summary.failed.is_empty(),
            "not retried: {:?}",
            summary.failed
        );
        let blocks: Vec<u32> = summary.rejected.iter().map(|r| r.block).collect();
        assert_eq!(blocks, [world.entry(0).block, world.entry(1).block]);
        assert!(summary.rejected[0].reason.contains("unsafe export path"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hours_without_a_verified_entry_are_reported_as_gaps() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        world.tamper(&world.entry(2).path);
        let store = store_of(&t).await;
        // A one-day window ending an hour after the last published hour.
        let options = world.options(world.at()).with_window_days(1);
        let summary = world.sync(&store, &options).await.unwrap();
        let hour = |h: i64| start() + Duration::hours(h);
        // Ends 07:00 of the day before (the window's start) up to 06:00:
        // 24 hours, of which 01:00, 02:00, 04:00, 05:00 and 06:00 are
        // covered; 03:00 (rejected) is not.
        assert!(summary.gaps.contains(&hour(3)), "{:?}", summary.gaps);
        for covered in [1, 2, 4, 5, 6] {
            assert!(!summary.gaps.contains(&hour(covered)));
        }
        assert_eq!(summary.gaps.len(), 24 - 5);
        assert_eq!(
            store
                .catalog()
                .coverage_gaps(options.window_start(), options.at)
                .await
                .unwrap(),
            summary.gaps
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_removed_from_the_config_leaves_no_state_that_panics() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let miner = world.entry(HOURS as usize);
        // First run: the miner's hotkey is (wrongly) configured as a
        // validator and its report is not served yet: the catalog keeps
        // the entry, as a validator's, to retry.
        let report = world.net.files.lock().unwrap().remove(&miner.path).unwrap();
        let mut validators = BTreeMap::from([(VALIDATOR.to_string(), URL.to_string())]);
        validators.insert(MINER.to_string(), URL.to_string());
        let store = store_of(&t).await;
        let first = world
            .sync(&store, &SyncOptions::new(world.at(), validators))
            .await
            .unwrap();
        assert_eq!(first.failed.len(), 1, "{first:?}");
        // Second run: the configuration is fixed, the report is served.
        world
            .net
            .files
            .lock()
            .unwrap()
            .insert(miner.path.clone(), report);
        let second = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!(second.skipped, 1, "{second:?}");
        assert!(second.rejected.is_empty() && second.failed.is_empty());
    })
    .await;
}
