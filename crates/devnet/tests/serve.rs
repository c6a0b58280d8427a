//! The typed client against a served world: every read endpoint, and each
//! fault switch as a client sees it.

use std::time::Duration;

use chrono::NaiveDate;
use chutes_client::{ChutesClient, ClientConfig, ClientError, Endpoints};
use devnet::*;
use url::Url;

async fn start() -> (tempfile::TempDir, DevnetServer, ChutesClient) {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateOptions {
        out: dir.path().to_path_buf(),
        seed: 3,
        miners: 5,
        hours: 3,
        invocations_per_hour: 100,
        now: NaiveDate::from_ymd_opt(2025, 2, 10)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
    })
    .unwrap();
    let world = World::load(dir.path()).unwrap();
    let server = DevnetServer::start(world, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = Url::parse(&server.url()).unwrap();
    let mut config = ClientConfig::new(Endpoints {
        api: url.clone(),
        llm: url,
        chute_url_template: "http://127.0.0.1:1/{slug}".into(),
    });
    config.backoff = Duration::from_millis(1);
    config.timeout = Duration::from_secs(2);
    (dir, server, ChutesClient::new(config).unwrap())
}

#[tokio::test]
async fn every_read_endpoint_serves_the_world_verbatim() {
    let (dir, server, client) = start().await;
    let world = World::load(dir.path()).unwrap();
    let commitments = world.commitments().unwrap();
    let entries = client.audit_entries().await.unwrap();
    assert_eq!(entries.len(), world.entries.len());
    let url = Url::parse(&server.url()).unwrap();
    for entry in &entries {
        assert_eq!(entry.entry_id, entry_id(&entry.hotkey, entry.block));
        let report = client.download_report(&entry.path).await.unwrap();
        let (_, _, sha) = commitments
            .iter()
            .find(|(h, b, _)| *h == entry.hotkey && *b == entry.block)
            .unwrap();
        assert_eq!(report.sha256, hex::encode(sha), "{}", entry.path);
        if entry.hotkey == VALIDATOR_HOTKEY {
            let doc: serde_json::Value = serde_json::from_slice(&report.bytes).unwrap();
            for kind in ["invocations", "reports", "jobs"] {
                let export = &doc["csv_exports"][kind];
                let got = client
                    .download_export(&url, export["path"].as_str().unwrap())
                    .await
                    .unwrap();
                assert_eq!(got.sha256, export["sha256"].as_str().unwrap());
            }
        }
    }
    let chutes = client.chutes().await.unwrap();
    assert!(chutes
        .iter()
        .any(|c| c.standard_template.as_deref() == Some("diffusion") && c.is_hot()));
    assert!(!client.gpu_counts().await.unwrap().is_empty());
    assert!(matches!(
        client.download_report("audit/validator/none/1.json").await,
        Err(ClientError::Status { status: 404, .. })
    ));
}

#[tokio::test]
async fn tampering_shows_as_a_hash_mismatch() {
    let (dir, server, client) = start().await;
    let world = World::load(dir.path()).unwrap();
    let spec = world
        .entries
        .iter()
        .find(|e| e.hotkey == VALIDATOR_HOTKEY)
        .unwrap()
        .clone();
    let report_path = world.report_path(&spec);
    let honest = client.download_report(&report_path).await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&honest.bytes).unwrap();
    let export = doc["csv_exports"]["invocations"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    server.set_faults(Faults {
        tamper_exports: vec![export.clone()],
        tamper_reports: vec![report_path.clone()],
        ..Faults::default()
    });
    let url = Url::parse(&server.url()).unwrap();
    let got = client.download_export(&url, &export).await.unwrap();
    assert_ne!(
        got.sha256,
        doc["csv_exports"]["invocations"]["sha256"]
            .as_str()
            .unwrap()
    );
    let report = client.download_report(&report_path).await.unwrap();
    assert_ne!(report.sha256, honest.sha256);
    assert_eq!(report.bytes.len(), honest.bytes.len());
}

#[tokio::test]
async fn injected_failures_are_retried_and_delays_time_out() {
    let (_dir, server, client) = start().await;
    server.set_faults(Faults {
        error_rate: 0.5,
        ..Faults::default()
    });
    for _ in 0..4 {
        client.gpu_counts().await.unwrap();
    }
    server.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    assert!(matches!(
        client.gpu_counts().await,
        Err(ClientError::Status { status: 503, .. })
    ));
    server.set_faults(Faults {
        delay_ms: 3_000,
        ..Faults::default()
    });
    let err = client.gpu_counts().await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}
