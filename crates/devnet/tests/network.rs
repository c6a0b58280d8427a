//! `devnet::Network`: a world served as the Chutes network and its chain
//! node together, as the CLI, the demo, tests and benches start it. What
//! a user of it relies on: a sync through its clients verifies every
//! entry against the chain, a published hour is committed on the chain at
//! the entry's block, and commit-reveal is on when asked.

mod support;

use std::sync::Arc;

use audit_sync::{ChainSource, Commitment};
use devnet::{generate, ChainLies, ForgedCommitment, Network, NetworkOptions, World};

async fn network(commit_reveal: bool) -> (tempfile::TempDir, World, Network) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = support::options(4, 4, 2, 40);
    options.out = dir.path().to_path_buf();
    generate(&options).unwrap();
    let world = World::load(dir.path()).unwrap();
    let options = NetworkOptions {
        commit_reveal,
        ..NetworkOptions::default()
    };
    let network = Network::start(world.clone(), options).await.unwrap();
    (dir, world, network)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_through_its_clients_verifies_every_entry_and_a_published_hour_is_committed() {
    let (_dir, world, network) = network(false).await;
    assert_eq!(network.validator_hotkey(), world.meta.validator_hotkey);
    assert_eq!(network.netuid(), world.meta.netuid);
    assert!(
        network.beacon().is_none(),
        "commit-reveal is off by default"
    );
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(audit_store::Store::open(data.path(), None).await.unwrap());
    let chain = Arc::new(network.chain_source().await.unwrap());
    let options = network.sync_options(world.now()).with_miner_reports(false);
    let summary = audit_sync::sync(
        store,
        Arc::new(network.chutes_client().unwrap()),
        chain.clone(),
        &options,
        |_, _, _| {},
    )
    .await
    .unwrap();
    let validator_entries = world
        .entries
        .iter()
        .filter(|e| e.hotkey == world.meta.validator_hotkey)
        .count();
    assert_eq!(summary.loaded, validator_entries, "{summary:?}");
    assert!(summary.rejected.is_empty() && summary.failed.is_empty());

    let published = network.advance().unwrap();
    assert_eq!(network.chain().head(), published.entry.block);
    let committed = chain
        .commitment(&published.entry.hotkey, published.entry.block)
        .await
        .unwrap();
    assert_eq!(
        committed,
        Commitment::Sha256 {
            sha256: published.report_sha256,
            block: published.entry.block
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_reveal_is_on_when_asked_and_the_beacon_is_handed_out() {
    let (_dir, world, network) = network(true).await;
    let beacon = network.beacon().expect("a beacon with commit-reveal on");
    assert_eq!(beacon, network.chain().beacon());
    let client = network.chain_source().await.unwrap().client;
    assert!(client
        .commit_reveal_enabled(world.meta.netuid)
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_it_stops_both_sides() {
    let (_dir, _world, network) = network(false).await;
    let http = network.server().addr;
    let ws: std::net::SocketAddr = network.ws_url()["ws://".len()..].parse().unwrap();
    assert!(std::net::TcpStream::connect(http).is_ok());
    assert!(std::net::TcpStream::connect(ws).is_ok());
    drop(network);
    let closed = |addr| async move {
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_err() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    };
    assert!(closed(http).await, "the HTTP API still listens");
    assert!(closed(ws).await, "the chain node still listens");
}

#[tokio::test]
async fn a_taken_port_is_refused_with_its_address() {
    let (_dir, world, first) = network(false).await;
    let taken = first.http_url().port().unwrap();
    let options = NetworkOptions {
        http_port: taken,
        ..NetworkOptions::default()
    };
    let err = Network::start(world, options)
        .await
        .err()
        .expect("port in use");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{taken}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auditor_config_points_at_it_and_holds_the_dev_seed_only_beside_its_address() {
    let (_dir, world, network) = network(true).await;
    let config = network.auditor_config(audit_config::Config::default());
    let url = network.http_url();
    assert_eq!(config.endpoints.api, url);
    assert_eq!(config.endpoints.llm, url);
    assert_eq!(
        config.endpoints.chute_url_template,
        network.chute_url_template()
    );
    assert_eq!(config.subtensor.url.as_str(), network.ws_url() + "/");
    assert_eq!(config.netuid, world.meta.netuid);
    assert_eq!(config.validators[0].hotkey, world.meta.validator_hotkey);
    let beacon = network.beacon().unwrap();
    assert_eq!(config.set_weights.beacon.beacon().unwrap(), beacon);
    // The generated world's validator is //Alice: its seed goes beside it.
    assert_eq!(
        config.set_weights.ss58.as_deref(),
        Some(world.meta.validator_hotkey.as_str())
    );
    assert_eq!(
        config.set_weights.secret_seed.as_ref().unwrap().expose(),
        devnet::validator_seed_hex()
    );
    config.validate().unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());

    // Written out and read back, it is the same configuration.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.yml");
    std::fs::write(&path, config.to_yaml().unwrap()).unwrap();
    let read = audit_config::Config::load(Some(&path), &NoEnv, &audit_config::Overrides::default())
        .unwrap();
    let doc = |c: &audit_config::Config| serde_json::to_value(c).unwrap();
    assert_eq!(doc(&read), doc(&config));
    assert_eq!(
        read.set_weights.secret_seed.unwrap().expose(),
        devnet::validator_seed_hex()
    );
}

/// No variables: the caller's environment cannot leak in.
struct NoEnv;

impl audit_config::Environment for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// The lies `devnet serve` can be asked to tell reach the chain node and
/// are told consistently: a proving client refuses the forged commitment
/// as an integrity failure.
#[tokio::test(flavor = "multi_thread")]
async fn lies_told_by_the_chain_node_are_caught_by_a_proving_client() {
    let (_dir, world, network) = network(false).await;
    let entry = world
        .entries
        .iter()
        .find(|e| e.hotkey == world.meta.validator_hotkey)
        .unwrap();
    let forged: ForgedCommitment = format!("{}@{}={}", entry.hotkey, entry.block, "ab".repeat(32))
        .parse()
        .unwrap();
    network
        .tell_lies(&ChainLies {
            forged_commitments: vec![forged],
            ..ChainLies::default()
        })
        .unwrap();
    let chain = network.chain_source().await.unwrap();
    let err = chain
        .commitment(&entry.hotkey, entry.block)
        .await
        .unwrap_err();
    assert_eq!(err.kind, audit_sync::SourceErrorKind::Integrity, "{err}");

    // A hotkey that is no SS58 address is refused by name.
    let bad: ForgedCommitment = format!("nobody@1={}", "00".repeat(32)).parse().unwrap();
    let lies = ChainLies {
        forged_commitments: vec![bad],
        ..ChainLies::default()
    };
    assert!(network.tell_lies(&lies).is_err());
}

#[test]
fn a_forged_commitment_is_written_hotkey_at_block_equals_sha256() {
    let parsed: ForgedCommitment = format!("5Abc@42=0x{}", "0f".repeat(32)).parse().unwrap();
    assert_eq!(parsed.hotkey, "5Abc");
    assert_eq!(parsed.block, 42);
    assert_eq!(parsed.sha256, [0x0f; 32]);
    for text in ["5Abc", "5Abc@42", "5Abc@x=00", "5Abc@42=abcd"] {
        let err = text.parse::<ForgedCommitment>().unwrap_err();
        assert!(err.contains("HOTKEY@BLOCK=SHA256"), "{text}: {err}");
    }
}
