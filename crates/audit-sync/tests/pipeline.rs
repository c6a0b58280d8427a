//! The ingest pipeline against an in-memory network and chain, on SQLite
//! and PostgreSQL: clean loads, idempotence, every integrity fault, a crash
//! between the lake and the catalog, pruning, unverifiable entries and
//! malformed rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use audit_store::testing::{each_backend, TestStore};
use audit_store::*;
use audit_sync::*;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

const VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const MINER: &str = "5MinerSelfReport0000000000000000000000000000000";
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
    files: Mutex<HashMap<String, Vec<u8>>>,
}

impl AuditSource for FakeNet {
    async fn list_entries(&self) -> Result<Vec<AuditEntry>, SourceError> {
        Ok(self.entries.lock().unwrap().clone())
    }
    async fn report(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        self.files
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .ok_or_else(|| SourceError(format!("404 {path}")))
    }
    async fn export(&self, base: &str, path: &str) -> Result<Vec<u8>, SourceError> {
        let key = format!("{base}|{path}");
        self.files
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .ok_or_else(|| SourceError(format!("404 {key}")))
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
                        "h0-{i},h0-{i},1,5Miner,chute,2025-02-10 00:59:00,2025-02-10 01:00:02,1.0,0,\"{{'nc': 1.5}}\"\n"
                    ));
                }
            }
            for i in 0..ROWS {
                invocations.push_str(&format!(
                    "h{h}-{i},h{h}-{i},1,5Miner,chute,2025-02-10 0{h}:10:00,2025-02-10 0{h}:10:02,1.0,0,\"{{'nc': 1.5, 'p': False}}\"\n"
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
                Commitment::Sha256(sha(report.as_bytes())),
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
        // A miner self-report that does not match its commitment: warns only.
        let block = 1001;
        let path = format!("audit/miner/{MINER}/{block}.json");
        let body = br#"{"miner_hotkey": "5MinerSelfReport", "prometheus_metrics": [{"chute_id": "chute", "deployment_id": "d", "function": "chat", "total_seconds": 10.0, "total_count": 4}], "deployment_audit": []}"#;
        net.files
            .lock()
            .unwrap()
            .insert(path.clone(), body.to_vec());
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

    fn options(&self, at: NaiveDateTime) -> SyncOptions {
        SyncOptions {
            at,
            window_days: 7,
            validators: BTreeMap::from([(VALIDATOR.to_string(), URL.to_string())]),
            hotkey: None,
            miner_reports: true,
            load_unverifiable: true,
            concurrency: 3,
            crash_before_catalog: false,
        }
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
        let mut options = world.options(world.at());
        options.crash_before_catalog = true;
        options.concurrency = 1;
        assert!(world.sync(&store, &options).await.is_err());
        // A leftover temp file, as a kill mid-write would leave.
        let dir = store.lake().entry_dir(&world.entry(0).entry_id).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("report.json{TMP_MARKER}dead")), b"half").unwrap();
        drop(store);

        let store = store_of(&t).await;
        options.crash_before_catalog = false;
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

#[tokio::test(flavor = "multi_thread")]
async fn pruned_chain_state_makes_an_entry_unverifiable() {
    each_backend(|t: TestStore| async move {
        let world = World::new();
        let e0 = world.entry(0);
        world
            .chain
            .commitments
            .lock()
            .unwrap()
            .insert((VALIDATOR.into(), e0.block), Commitment::Pruned);
        let store = store_of(&t).await;
        let mut options = world.options(world.at());
        options.load_unverifiable = false;
        let summary = world.sync(&store, &options).await.unwrap();
        assert_eq!(summary.unverifiable, 1);
        assert!(!summary.integrity_violation());
        let record = store.catalog().entry(&e0.entry_id).await.unwrap().unwrap();
        assert_eq!(record.state, EntryState::Unverifiable);
        // The default loads it, flagged.
        let summary = world
            .sync(&store, &world.options(world.at()))
            .await
            .unwrap();
        assert_eq!((summary.loaded, summary.unverifiable), (1, 1));
        let record = store.catalog().entry(&e0.entry_id).await.unwrap().unwrap();
        assert_eq!(
            (record.state, record.unverifiable),
            (EntryState::Loaded, true)
        );
    })
    .await;
}
