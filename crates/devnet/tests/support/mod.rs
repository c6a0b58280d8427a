//! What the devnet's integration tests share: a generated world served on
//! an ephemeral port, and a client pointed at it.

#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use chrono::NaiveDate;
use chutes_client::{ChutesClient, ClientConfig, Endpoints};
use devnet::{generate, DevnetServer, GenerateOptions, World};
use url::Url;

/// A small world's options, at the devnet's usual present.
pub fn options(seed: u64, miners: usize, hours: u32, per_hour: usize) -> GenerateOptions {
    GenerateOptions {
        out: std::path::PathBuf::new(),
        seed,
        miners,
        hours,
        invocations_per_hour: per_hour,
        now: NaiveDate::from_ymd_opt(2025, 2, 10)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
    }
}

/// Generates `options` into a temp dir, serves it, and returns a client
/// with an API key and quick retries.
pub async fn serve(
    mut options: GenerateOptions,
) -> (tempfile::TempDir, DevnetServer, ChutesClient) {
    let dir = tempfile::tempdir().unwrap();
    options.out = dir.path().to_path_buf();
    generate(&options).unwrap();
    let world = World::load(dir.path()).unwrap();
    let server = DevnetServer::start(world, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = Url::parse(&server.url()).unwrap();
    let mut config = ClientConfig::new(Endpoints {
        api: url.clone(),
        llm: url,
        chute_url_template: server.chute_url_template(),
    });
    config.api_key = Some("devnet-key".into());
    config.backoff = Duration::from_millis(1);
    config.timeout = Duration::from_secs(2);
    (dir, server, ChutesClient::new(config).unwrap())
}
