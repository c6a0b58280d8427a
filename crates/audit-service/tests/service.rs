//! The service's guarantees with stages that fail, bring data, and take
//! their time: what a user running `auditctl run` for weeks relies on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use audit_service::{Service, Stage, StageContext, StageError, StageOutcome, When};
use futures::future::BoxFuture;
use tokio::sync::watch;

/// A stage scripted run by run: `Ok(new_data)` or `Err(message)`; after
/// the script it succeeds without new data. Each run takes `takes`.
struct Scripted {
    name: &'static str,
    script: Mutex<Vec<Result<bool, &'static str>>>,
    runs: AtomicU32,
    finished: AtomicU32,
    takes: Duration,
}

impl Scripted {
    fn new(name: &'static str, script: Vec<Result<bool, &'static str>>) -> Arc<Self> {
        Arc::new(Scripted {
            name,
            script: Mutex::new(script.into_iter().rev().collect()),
            runs: AtomicU32::new(0),
            finished: AtomicU32::new(0),
            takes: Duration::ZERO,
        })
    }
}

impl Stage for Scripted {
    fn name(&self) -> &str {
        self.name
    }
    fn run<'a>(&'a self, _: &'a StageContext) -> BoxFuture<'a, Result<StageOutcome, StageError>> {
        Box::pin(async move {
            self.runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.takes).await;
            let next = self.script.lock().unwrap().pop().unwrap_or(Ok(false));
            self.finished.fetch_add(1, Ordering::SeqCst);
            match next {
                Ok(new_data) => Ok(StageOutcome {
                    new_data,
                    summary: format!("{} ok", self.name),
                }),
                Err(message) => Err(message.into()),
            }
        })
    }
}

/// Long enough for any scripted stage: only the stalled ones reach it.
const DEADLINE: Duration = Duration::from_secs(60);

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The service's listener on a free port, and a client for it.
async fn serving(service: &Service) -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = audit_service::router(service.observed());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let _ = rustls::crypto::ring::default_provider().install_default();
    (url, reqwest::Client::new())
}

async fn status(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_failing_stage_is_retried_health_goes_503_then_200_and_the_service_goes_on() {
    let sync = Scripted::new(
        "sync",
        vec![Err("GET /audit/: 503"), Err("GET /audit/: 503"), Ok(true)],
    );
    let score = Scripted::new("score", vec![]);
    let service = Service::new(Duration::from_millis(200))
        .with_backoff_base(Duration::from_millis(20))
        .cycle_stage(sync.clone(), When::Always, DEADLINE)
        .cycle_stage(score.clone(), When::NewData, DEADLINE);
    let (url, client) = serving(&service).await;
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));

    until("the first failure", || {
        sync.runs.load(Ordering::SeqCst) >= 1
    })
    .await;
    let (code, body) = status(&client, &format!("{url}/healthz")).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("sync: failed") && body.contains("503"),
        "{body}"
    );
    let (_, metrics) = status(&client, &format!("{url}/metrics")).await;
    assert!(
        metrics.contains("chutes_audit_stage_failures_total{stage=\"sync\"}"),
        "{metrics}"
    );

    // Retried with backoff (20 ms, 40 ms), long before the 200 ms interval.
    until("recovery", || score.runs.load(Ordering::SeqCst) == 1).await;
    assert_eq!(sync.runs.load(Ordering::SeqCst), 3);
    let (code, body) = status(&client, &format!("{url}/healthz")).await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    stop.send(true).unwrap();
    let summary = running.await.unwrap();
    assert_eq!(summary.failed, 2);
    assert!(summary.succeeded >= 2);
}

#[tokio::test]
async fn a_new_data_stage_runs_only_after_new_data_and_is_owed_a_run_after_it_fails() {
    let sync = Scripted::new("sync", vec![Ok(false), Ok(true), Ok(false), Ok(false)]);
    let weights = Scripted::new("weights", vec![Err("node unreachable")]);
    let service = Service::new(Duration::from_millis(30))
        .with_backoff_base(Duration::from_millis(10))
        .cycle_stage(sync.clone(), When::Always, DEADLINE)
        .cycle_stage(weights.clone(), When::NewData, DEADLINE);
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));
    until("four syncs", || sync.runs.load(Ordering::SeqCst) >= 4).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    // Cycle 1: no new data, no weights. Cycle 2: new data, weights fail.
    // Cycle 3: no new data, but weights are owed and succeed. Then nothing.
    assert_eq!(weights.runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shutdown_lets_the_stage_in_flight_finish() {
    let slow = Arc::new(Scripted {
        takes: Duration::from_millis(300),
        ..Arc::try_unwrap(Scripted::new("sync", vec![])).ok().unwrap()
    });
    let service =
        Service::new(Duration::from_secs(3600)).cycle_stage(slow.clone(), When::Always, DEADLINE);
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));
    until("the stage to start", || {
        slow.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.send(true).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the service stops promptly after the step")
        .unwrap();
    assert_eq!(
        slow.finished.load(Ordering::SeqCst),
        1,
        "the step was cut off"
    );
    assert_eq!(summary.succeeded, 1);
}

#[tokio::test]
async fn a_loop_stage_runs_beside_the_cycle_on_its_own_interval() {
    let sync = Scripted::new("sync", vec![]);
    let synth = Scripted::new("synthetics", vec![Err("402 quota exhausted")]);
    let service = Service::new(Duration::from_secs(3600))
        .with_backoff_base(Duration::from_millis(10))
        .cycle_stage(sync.clone(), When::Always, DEADLINE)
        .loop_stage(synth.clone(), Duration::from_millis(20), DEADLINE);
    let observed = service.observed();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));
    until("three synthetic rounds", || {
        synth.runs.load(Ordering::SeqCst) >= 3
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(sync.runs.load(Ordering::SeqCst), 1);
    let text = observed_metrics(&observed);
    assert!(
        text.contains("chutes_audit_stage_failures_total{stage=\"synthetics\"} 1"),
        "{text}"
    );
}

fn observed_metrics(observed: &audit_service::Observed) -> String {
    observed.metrics().render()
}

#[tokio::test]
async fn a_stage_due_after_an_interval_runs_on_new_data_or_once_it_is_due() {
    // Cycles every 20 ms; compare runs on new data or once 150 ms passed.
    let sync = Scripted::new("sync", vec![Ok(true)]);
    let compare = Scripted::new("compare-prom", vec![]);
    let service = Service::new(Duration::from_millis(20))
        .cycle_stage(sync.clone(), When::Always, DEADLINE)
        .cycle_stage(
            compare.clone(),
            When::NewDataOrAfter(Duration::from_millis(150)),
            DEADLINE,
        );
    let mut cycles = service.cycles();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));
    cycles.wait_for(|n| *n >= 3).await.unwrap();
    // The first cycle ran it (new data); the next ones before 150 ms did not.
    assert_eq!(compare.runs.load(Ordering::SeqCst), 1);
    until("the interval to pass", || {
        compare.runs.load(Ordering::SeqCst) >= 2
    })
    .await;
    stop.send(true).unwrap();
    let summary = running.await.unwrap();
    assert!(summary.cycles >= 5, "{summary:?}");
    let tally = &summary.stages["compare-prom"];
    assert_eq!(tally.succeeded, compare.runs.load(Ordering::SeqCst) as u64);
    assert_eq!(tally.last_summary.as_deref(), Some("compare-prom ok"));
}

/// A stage whose every run waits forever on a peer that never answers;
/// counts the runs started and the runs dropped (abandoned).
struct Stalled {
    name: &'static str,
    started: AtomicU32,
    dropped: Arc<AtomicU32>,
}

impl Stalled {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Stalled {
            name,
            started: AtomicU32::new(0),
            dropped: Arc::new(AtomicU32::new(0)),
        })
    }
}

/// Counts a drop: the stalled run's future was abandoned.
struct CountDrop(Arc<AtomicU32>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Stage for Stalled {
    fn name(&self) -> &str {
        self.name
    }
    fn run<'a>(&'a self, _: &'a StageContext) -> BoxFuture<'a, Result<StageOutcome, StageError>> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let guard = CountDrop(self.dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
            unreachable!("a stalled peer never answers")
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_stage_is_abandoned_at_its_deadline_named_on_healthz_and_the_cycle_goes_on() {
    // The cycle every 50 ms: sync, then weights, stuck on the chain, with
    // a 300 ms deadline. Synthetics loop beside it.
    let sync = Scripted::new("sync", vec![]);
    let weights = Stalled::new("weights");
    let synth = Scripted::new("synthetics", vec![]);
    let service = Service::new(Duration::from_millis(50))
        .with_backoff_base(Duration::from_millis(50))
        .cycle_stage(sync.clone(), When::Always, DEADLINE)
        .cycle_stage(weights.clone(), When::Always, Duration::from_millis(300))
        .loop_stage(synth.clone(), Duration::from_millis(20), DEADLINE);
    let (url, client) = serving(&service).await;
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));

    until("the first stuck run abandoned", || {
        weights.dropped.load(Ordering::SeqCst) >= 1
    })
    .await;
    let (code, body) = status(&client, &format!("{url}/healthz")).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("weights: failed") && body.contains("stuck: exceeded its deadline of 0.3 s"),
        "{body}"
    );
    // The cycle went on: sync ran again after the abandoned run, and keeps
    // cycling; the loop did not wait for any of it.
    let syncs = sync.runs.load(Ordering::SeqCst);
    until("sync cycling on", || {
        sync.runs.load(Ordering::SeqCst) >= syncs + 2
    })
    .await;
    assert!(synth.runs.load(Ordering::SeqCst) >= 5);
    let (started, dropped) = (
        weights.started.load(Ordering::SeqCst),
        weights.dropped.load(Ordering::SeqCst),
    );
    assert!(
        started - dropped <= 1,
        "every run but the one in flight was dropped: {started} started, {dropped} dropped"
    );

    stop.send(true).unwrap();
    let summary = running.await.unwrap();
    let tally = &summary.stages["weights"];
    assert_eq!(tally.succeeded, 0);
    assert!(tally.failed >= 2, "{summary:?}");
    assert_eq!(summary.stages["sync"].failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_a_stuck_stage_after_the_grace() {
    let stuck = Stalled::new("sync");
    let service = Service::new(Duration::from_secs(3600))
        .with_shutdown_grace(Duration::from_millis(200))
        .cycle_stage(stuck.clone(), When::Always, DEADLINE);
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(service.run(shutdown));
    until("the stage to start", || {
        stuck.started.load(Ordering::SeqCst) == 1
    })
    .await;
    let asked = Instant::now();
    stop.send(true).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the service stops although its stage never returns")
        .unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(200),
        "the grace was given"
    );
    assert_eq!(stuck.dropped.load(Ordering::SeqCst), 1);
    let tally = &summary.stages["sync"];
    assert_eq!(tally.failed, 1);
    assert!(
        tally
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("cut off by the shutdown"),
        "{tally:?}"
    );
}
