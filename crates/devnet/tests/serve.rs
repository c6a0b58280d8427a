//! The typed client against a served world: every read endpoint, and each
//! fault switch as a client sees it.

mod support;

use chutes_client::{ChutesClient, ClientError};
use devnet::*;
use url::Url;

async fn start() -> (tempfile::TempDir, DevnetServer, ChutesClient) {
    support::serve(support::options(3, 5, 3, 100)).await
}

#[tokio::test]
async fn every_read_endpoint_serves_the_world_verbatim() {
    let (dir, server, client) = start().await;
    let world = World::load(dir.path()).unwrap();
    let commitments = world.commitments().unwrap();
    let entries = client.audit_entries().await.unwrap().entries;
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
async fn the_catalogue_pages_until_a_short_page() {
    let (dir, _server, client) = start().await;
    let catalogue: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("chutes.json")).unwrap()).unwrap();
    let expected: Vec<String> = catalogue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chute_id"].as_str().unwrap().to_string())
        .collect();
    assert!(expected.len() > 3, "enough chutes for several pages");
    for page_size in [1, 3, expected.len(), 1000] {
        let mut config = client.config().clone();
        config.page_size = page_size;
        let paged = ChutesClient::new(config).unwrap();
        let got: Vec<String> = paged
            .chutes()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.chute_id)
            .collect();
        assert_eq!(got, expected, "page size {page_size}");
    }
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
