//! The tables as upstream holds them: one row per primary key across
//! hourly exports, only the window's loaded entries of the configured
//! validators, and the catalog's records beside them.

use audit_query::{query, Format, Scope};
use audit_store::facts::{self, invocations as inv, reports as rep};
use audit_store::testing::sqlite_store;
use audit_store::*;
use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;

const VALIDATOR: &str = "5Validator";

fn at(h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 2, 10)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
}

fn us(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// An invocation row: id, miner, completed or still running.
fn invocations(rows: &[(&str, &str, bool)]) -> DataFrame {
    let frame = df!(
        inv::INVOCATION_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        inv::PARENT_INVOCATION_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        inv::MINER_HOTKEY => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        inv::STARTED_AT => rows.iter().map(|_| us(at(9))).collect::<Vec<_>>(),
        inv::COMPLETED_AT => rows.iter().map(|r| r.2.then(|| us(at(10)))).collect::<Vec<_>>(),
        inv::NC => rows.iter().map(|_| 1.5).collect::<Vec<_>>(),
        inv::PRIVATE => rows.iter().map(|_| false).collect::<Vec<_>>(),
    )
    .unwrap();
    facts::conform(frame, FactTable::Invocations, &[]).unwrap()
}

fn reports(rows: &[(&str, bool)]) -> DataFrame {
    let frame = df!(
        rep::INVOCATION_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        rep::USER_ID => rows.iter().map(|_| "user").collect::<Vec<_>>(),
        rep::REASON => rows.iter().map(|_| "bad output").collect::<Vec<_>>(),
        rep::CONFIRMED_AT => rows.iter().map(|r| r.1.then(|| us(at(11)))).collect::<Vec<_>>(),
    )
    .unwrap();
    facts::conform(frame, FactTable::Reports, &[]).unwrap()
}

/// Lists, writes and marks loaded one entry of `hotkey` created at `hour`.
async fn load(store: &Store, n: u32, hotkey: &str, hour: u32, inv: DataFrame, rep: DataFrame) {
    let entry = AuditEntry {
        entry_id: format!("00000000-0000-5000-8000-{n:012}"),
        hotkey: hotkey.into(),
        block: 100 + n,
        path: format!("audit/validator/{hotkey}/{}.json", 100 + n),
        source: EntrySource::Validator,
        created_at: at(hour),
        start_time: at(hour - 1),
        end_time: at(hour),
    };
    store
        .catalog()
        .record_listed(std::slice::from_ref(&entry), at(hour))
        .await
        .unwrap();
    for (table, mut frame) in [(FactTable::Invocations, inv), (FactTable::Reports, rep)] {
        store
            .lake()
            .write_facts(&entry.entry_id, table, &mut frame)
            .unwrap();
    }
    let loaded = LoadedEntry {
        report_sha256: "00".repeat(32),
        unverifiable: false,
        instance_rows: 0,
        commitment_proven: None,
        exports: vec![],
    };
    store
        .catalog()
        .mark_loaded(&entry.entry_id, &loaded, at(hour))
        .await
        .unwrap();
}

fn scope(hour: u32) -> Scope {
    Scope {
        at: at(hour),
        window: chrono::Duration::days(7),
        validators: vec![VALIDATOR.into()],
        netuid: 64,
    }
}

fn csv(result: &audit_query::QueryResult) -> String {
    let mut out = Vec::new();
    result.write(Format::Csv, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_rows_collapse_and_the_window_and_validators_scope() {
    let test = sqlite_store().await;
    let store = test.store();
    // Hour 10: `a` still running, reported unconfirmed; hour 11: `a`
    // completed, its report confirmed. Another hotkey's entry is not the
    // validator's.
    load(
        store,
        1,
        VALIDATOR,
        10,
        invocations(&[("a", "5MinerA", false), ("b", "5MinerB", true)]),
        reports(&[("a", false)]),
    )
    .await;
    load(
        store,
        2,
        VALIDATOR,
        11,
        invocations(&[("a", "5MinerA", true)]),
        reports(&[("a", true)]),
    )
    .await;
    load(
        store,
        3,
        "5Impostor",
        11,
        invocations(&[("z", "5MinerZ", true)]),
        reports(&[]),
    )
    .await;
    let snapshot = MetagraphSnapshot {
        snapshot_id: 0,
        netuid: 64,
        block: 120,
        taken_at: at(10),
        neurons: vec![Neuron {
            uid: 3,
            hotkey: "5MinerA".into(),
            coldkey: "5ColdA".into(),
            incentive: 65535,
            stake: 1.0,
            last_update: 7,
            validator_permit: false,
        }],
    };
    store.catalog().record_metagraph(&snapshot).await.unwrap();

    let sql = "SELECT i.invocation_id, i.completed_at IS NOT NULL AS done, \
               r.confirmed_at IS NOT NULL AS confirmed \
               FROM invocations i LEFT JOIN reports r ON r.invocation_id = i.invocation_id \
               ORDER BY i.invocation_id";
    let now = query(store, &scope(12), sql).await.unwrap();
    assert_eq!(
        csv(&now),
        "invocation_id,done,confirmed\na,true,true\nb,true,false\n"
    );
    // As of hour 10 only the first export is loaded in the window.
    let earlier = query(store, &scope(10), sql).await.unwrap();
    assert_eq!(
        csv(&earlier),
        "invocation_id,done,confirmed\na,false,false\nb,true,false\n"
    );
    // A window that ends before the data holds none of it.
    let before = query(store, &scope(9), "SELECT count(*) AS n FROM invocations")
        .await
        .unwrap();
    assert_eq!(csv(&before), "n\n0\n");

    // Upstream's names on catalog tables; the u16 incentive as a fraction.
    let nodes = query(
        store,
        &scope(12),
        "SELECT hotkey, node_id, incentive, netuid FROM metagraph_nodes",
    )
    .await
    .unwrap();
    assert_eq!(
        csv(&nodes),
        "hotkey,node_id,incentive,netuid\n5MinerA,3,1,64\n"
    );
    let entries = query(
        store,
        &scope(12),
        "SELECT hotkey, state, count(*) AS n FROM audit_entries GROUP BY 1, 2 ORDER BY 1",
    )
    .await
    .unwrap();
    assert_eq!(
        csv(&entries),
        "hotkey,state,n\n5Impostor,loaded,1\n5Validator,loaded,2\n"
    );
    // The metrics struct reads like upstream's JSON.
    let metrics = query(
        store,
        &scope(12),
        "SELECT invocation_id, metrics->'nc' AS nc FROM invocations ORDER BY 1",
    )
    .await
    .unwrap();
    assert_eq!(metrics.floats("nc").unwrap(), vec![Some(1.5), Some(1.5)]);
}
