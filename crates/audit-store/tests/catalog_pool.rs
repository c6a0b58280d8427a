//! A PostgreSQL catalog serves readers beside a writer: `run`'s report
//! page, metrics and status read while a sync writes, and must not queue
//! behind it.

use std::time::Duration;

use audit_store::testing::postgres_store;
use audit_store::{AuditEntry, EntrySource};
use chrono::NaiveDate;
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

fn entry(n: u32) -> AuditEntry {
    let at = NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(n % 24, 0, 0)
        .unwrap();
    AuditEntry {
        entry_id: format!("00000000-0000-5000-8000-{n:012}"),
        hotkey: "5Validator".into(),
        block: 4_812_000 + n,
        path: format!("audit/validator/5Validator/{}.json", 4_812_000 + n),
        source: EntrySource::Validator,
        created_at: at,
        start_time: at - chrono::Duration::hours(1),
        end_time: at,
    }
}

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_do_not_queue_behind_a_blocked_writer() {
    let Some(test) = postgres_store().await else {
        return;
    };
    let catalog = test.store().catalog();
    catalog
        .record_listed(&[entry(0)], entry(0).created_at)
        .await
        .unwrap();

    // Another session holds the entries table against writes (as a
    // dashboard's long LOCK or a migration would): the catalog's next write
    // waits for it, holding its connection.
    let mut blocker = AsyncPgConnection::establish(test.database_url())
        .await
        .unwrap();
    blocker
        .batch_execute("BEGIN; LOCK TABLE audit_entries IN EXCLUSIVE MODE")
        .await
        .unwrap();

    let new: Vec<AuditEntry> = (1..=3).map(entry).collect();
    let first_id = entry(0).entry_id;
    let write = catalog.record_listed(&new, entry(3).created_at);
    let read_then_release = async {
        // Until the write is parked on the lock, a read proves nothing.
        let parked = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let waiting: Waiting = diesel::sql_query(
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .get_result(&mut blocker)
                .await
                .unwrap();
                if waiting.n > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        // Several readers at once, as the report page and /metrics are.
        let reads = tokio::time::timeout(Duration::from_secs(5), async {
            let (summary, first, gpu) = tokio::join!(
                catalog.summary(),
                catalog.entry(&first_id),
                catalog.gpu_counts()
            );
            (summary.unwrap(), first.unwrap(), gpu.unwrap())
        })
        .await;
        blocker.batch_execute("COMMIT").await.unwrap();
        (parked, reads)
    };
    let (written, (parked, reads)) = tokio::join!(write, read_then_release);
    parked.expect("the write never waited on the lock");
    let (summary, first, _) = reads.expect("readers queued behind the blocked writer");
    // They read the committed state, without the write in flight.
    assert_eq!(summary.entries.iter().map(|c| c.count).sum::<u64>(), 1);
    assert!(first.is_some());
    assert_eq!(written.unwrap(), 3);
    let after = catalog.summary().await.unwrap();
    assert_eq!(after.entries.iter().map(|c| c.count).sum::<u64>(), 4);
}
