//! `compare` over a small lake built by hand, on SQLite and PostgreSQL:
//! what counts on each side, whose report a row is, numbers that are not
//! numbers, the breakdown of one miner, and the run in the catalog.

mod common;

use audit_store::testing::{each_backend, TestStore};
use chrono::NaiveDateTime;
use common::*;
use prom_compare::*;

#[tokio::test(flavor = "multi_thread")]
async fn counts_follow_the_rules_and_the_run_is_recorded() {
    each_backend(|t: TestStore| async move {
        let store = t.store();
        build(store).await;
        let run = compare(store, &options(None)).await.unwrap();
        let line = |h: &str| run.miners.iter().find(|m| m.hotkey == h).unwrap();
        assert_eq!(run.validator_entries, 2);
        assert_eq!(run.miner_entries, 3);

        let a = line("5A").agreement;
        assert_eq!((a.validator_count, a.reported_count), (Some(20), Some(15)));
        assert_eq!(a.ratio, Some(0.75));
        assert_eq!(a.verdict, Verdict::Flagged);
        // 5B's report claimed to be 5A's: it counts for 5B, who committed
        // it; NaN and inf rows count nothing.
        let b = line("5B").agreement;
        assert_eq!((b.validator_count, b.reported_count), (Some(10), Some(9)));
        assert_eq!(b.verdict, Verdict::Agrees);
        let c = line("5C").agreement;
        assert_eq!((c.validator_count, c.reported_count), (Some(0), None));
        assert_eq!(c.verdict, Verdict::NoMetrics);

        let order: Vec<&str> = run.miners.iter().map(|m| m.hotkey.as_str()).collect();
        assert_eq!(order, ["5A", "5B", "5C"]);
        assert_eq!(run.summary.flagged, 1);
        assert_eq!(run.summary.no_metrics, 1);
        assert_eq!(run.summary.full_coverage, 0);
        assert_eq!(line("5A").coverage.seconds, 7200);
        assert_eq!(line("5A").coverage.missing_hours.len(), 165);

        let stored = store
            .catalog()
            .latest_agreement_run()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.run_id, run.run_id);
        assert_eq!(stored.evaluated_at, at());
        assert_eq!(stored.threshold, 0.9);
        let a = stored.results.iter().find(|r| r.hotkey == "5A").unwrap();
        assert!(a.flagged);
        assert_eq!(a.ratio, Some(0.75));
        assert_eq!(a.missing_hours, line("5A").coverage.missing_hours);
        let c = stored.results.iter().find(|r| r.hotkey == "5C").unwrap();
        assert_eq!(c.note.as_deref(), Some("no reported metrics"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_breaks_a_miner_down_by_chute_and_hour() {
    let t = audit_store::testing::sqlite_store().await;
    let store = t.store();
    build(store).await;
    let run = compare(store, &options(Some("5A"))).await.unwrap();
    let e = run.explanation.unwrap();
    let chutes: Vec<(&str, Option<u64>, Option<u64>)> = e
        .by_chute
        .iter()
        .map(|c| {
            (
                c.chute_id.as_str(),
                c.agreement.validator_count,
                c.agreement.reported_count,
            )
        })
        .collect();
    assert_eq!(
        chutes,
        [("c1", Some(16), Some(11)), ("c2", Some(4), Some(4))]
    );
    let hours: Vec<(NaiveDateTime, Option<u64>, Option<u64>, HourStatus)> = e
        .by_hour
        .iter()
        .filter(|h| h.validator_count.is_some() || h.reported_count.is_some())
        .map(|h| (h.hour, h.validator_count, h.reported_count, h.status))
        .collect();
    assert_eq!(
        hours,
        [
            (hour(-3), Some(10), Some(10), HourStatus::Agrees),
            // 5 of 10, but a counter went down in that report.
            (hour(-2), Some(10), Some(5), HourStatus::ExpectedGap),
        ]
    );
    let err = compare(store, &options(Some("5Nobody"))).await.unwrap_err();
    assert!(
        matches!(err, PromCompareError::UnknownMiner { .. }),
        "{err}"
    );
}

/// A query_range answer: one series of 5A's with `values`.
fn answer(values: &[(i64, &str)]) -> String {
    let values: Vec<String> = values
        .iter()
        .map(|(h, v)| format!("[{}, \"{v}\"]", hour(*h).and_utc().timestamp()))
        .collect();
    format!(
        r#"{{"status": "success", "data": {{"resultType": "matrix", "result": [
            {{"metric": {{"chute_id": "c1", "function": "chat"}}, "values": [{}]}}]}}}}"#,
        values.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn live_totals_saturate_instead_of_wrapping() {
    let t = audit_store::testing::sqlite_store().await;
    build(t.store()).await;
    // Two hours of 1e19 each: their sum passes u64::MAX.
    let body = answer(&[(-3, "0"), (-2, "1e19"), (-1, "2e19")]);
    let url = serve(axum::Router::new().route(
        "/api/v1/query_range",
        axum::routing::get(move || async move { body }),
    ))
    .await;
    let validators = [VALIDATOR.to_string()];
    let live = compare_live(t.store(), &live_options(&url, &validators))
        .await
        .unwrap();
    assert_eq!(live.agreement.reported_count, Some(u64::MAX), "{live:?}");
    assert_eq!(live.agreement.verdict, Verdict::Flagged);
}

#[tokio::test(flavor = "multi_thread")]
async fn live_mode_follows_redirects_only_within_the_configured_origin() {
    let t = audit_store::testing::sqlite_store().await;
    build(t.store()).await;
    let elsewhere_asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let asked = elsewhere_asked.clone();
    let body = answer(&[(-3, "0"), (-2, "20"), (-1, "30")]);
    let elsewhere = serve(axum::Router::new().fallback(move || {
        asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = body.clone();
        async move { body }
    }))
    .await;
    let to = elsewhere.join("api/v1/query_range").unwrap().to_string();
    let body = answer(&[(-3, "0"), (-2, "20"), (-1, "30")]);
    let prometheus = serve(
        axum::Router::new()
            .route(
                "/off/api/v1/query_range",
                axum::routing::get(move || async move { axum::response::Redirect::temporary(&to) }),
            )
            .route(
                "/on/api/v1/query_range",
                axum::routing::get(|| async { axum::response::Redirect::temporary("/moved") }),
            )
            .route("/moved", axum::routing::get(move || async move { body })),
    )
    .await;
    let validators = [VALIDATOR.to_string()];

    let off = prometheus.join("off/").unwrap();
    let refused = compare_live(t.store(), &live_options(&off, &validators))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, PromCompareError::Redirected { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("off the configured origin"),
        "{refused}"
    );
    assert_eq!(elsewhere_asked.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Within the origin a redirect is followed.
    let on = prometheus.join("on/").unwrap();
    let live = compare_live(t.store(), &live_options(&on, &validators))
        .await
        .unwrap();
    assert_eq!(live.agreement.reported_count, Some(30));
}

/// An entry loaded before the lake kept invocation counts (schema
/// version 3) has them counted from its invocations at the read, and the
/// migration writes the same counts: the comparison does not change.
#[tokio::test(flavor = "multi_thread")]
async fn a_lake_from_before_the_counts_compares_the_same() {
    let t = audit_store::testing::sqlite_store().await;
    let store = t.store();
    build(store).await;
    let run = |explain| async move {
        let run = compare(store, &options(explain)).await.unwrap();
        (run.miners, run.explanation)
    };
    let want = (run(None).await, run(Some("5A")).await);

    // The lake as version 2 left it: no counts beside the invocations.
    let lake = store.lake();
    let mut removed = 0;
    for id in lake.entry_ids().unwrap() {
        let path = lake
            .fact_path(&id, audit_store::FactTable::InvocationCounts)
            .unwrap();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 3, "one per validator entry");
    std::fs::write(lake.root().join("VERSION"), "2\n").unwrap();
    assert_eq!(
        (run(None).await, run(Some("5A")).await),
        want,
        "counted at the read"
    );

    let migration = lake.migrate().unwrap();
    assert_eq!((migration.from_version, migration.counts_written), (2, 3));
    assert_eq!((run(None).await, run(Some("5A")).await), want, "migrated");
}
