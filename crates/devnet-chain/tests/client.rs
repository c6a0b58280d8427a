//! The subtensor client against the simulated node: the metagraph (runtime
//! API and storage, each read at one block while blocks land), commitments
//! read at several blocks, "pruned" after
//! pruning, a withheld commitment refused, and a node restart under the
//! client.

use std::time::Duration;

use devnet_chain::{ChainGenesis, ChainNode, GenesisNeuron};
use subtensor::{ClientOptions, CommitmentAt, Hotkey, SubtensorClient};

fn address(uri: &str) -> String {
    Hotkey::from_dev_uri(uri).unwrap().ss58()
}

fn genesis() -> ChainGenesis {
    let neuron = |uid: u16, who: &str, incentive: u16| GenesisNeuron {
        uid,
        hotkey: address(&format!("//{who}")),
        coldkey: address(&format!("//{who}//cold")),
        incentive,
        stake_rao: 1_000_000_000 * u64::from(uid + 1),
        last_update: 100 + u64::from(uid),
        validator_permit: uid == 0,
    };
    ChainGenesis {
        netuid: 64,
        neurons: vec![
            neuron(0, "Alice", 0),
            neuron(1, "Bob", 40_000),
            neuron(2, "Charlie", 25_535),
        ],
        commitments: vec![
            (address("//Alice"), 1_000, [1; 32]),
            (address("//Alice"), 1_300, [2; 32]),
            (address("//Bob"), 1_001, [3; 32]),
        ],
        weights_rate_limit: 100,
        commit_reveal: false,
        head: 1_500,
        timelock: Default::default(),
    }
}

async fn client(node: &ChainNode) -> SubtensorClient {
    client_proving(node, true).await
}

async fn client_proving(node: &ChainNode, proofs: bool) -> SubtensorClient {
    SubtensorClient::connect(
        &node.ws_url(),
        ClientOptions {
            call_timeout: Duration::from_secs(5),
            reconnect_attempts: 10,
            backoff: Duration::from_millis(50),
            proofs,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_metagraph_reads_the_same_from_the_runtime_api_and_from_storage() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = client(&node).await;
    let neurons = chain.metagraph(64, None).await.unwrap();
    assert_eq!(neurons.len(), 3);
    assert_eq!(neurons[1].hotkey, address("//Bob"));
    assert_eq!(neurons[1].coldkey, address("//Bob//cold"));
    assert_eq!(neurons[1].incentive, 40_000);
    assert_eq!(neurons[1].stake_rao, 2_000_000_000);
    assert!(neurons[0].validator_permit);
    let stored = chain.metagraph_from_storage(64, None).await.unwrap();
    for (a, b) in neurons.iter().zip(&stored) {
        assert_eq!(
            (a.uid, &a.hotkey, &a.coldkey, a.incentive, a.last_update),
            (b.uid, &b.hotkey, &b.coldkey, b.incentive, b.last_update)
        );
    }
    assert!(
        chain.metagraph(65, None).await.unwrap().is_empty(),
        "another subnet"
    );
    assert_eq!(
        chain.uid_of(64, &address("//Charlie")).await.unwrap(),
        Some(2)
    );
    assert_eq!(chain.uid_of(64, &address("//Dave")).await.unwrap(), None);
    assert_eq!(chain.weights_rate_limit(64).await.unwrap(), 100);
    assert!(!chain.commit_reveal_enabled(64).await.unwrap());
    assert_eq!(chain.last_update(64, 1).await.unwrap(), Some(101));
    assert_eq!(chain.current_block().await.unwrap(), 1_500);
    assert!(chain.weights(64, 0).await.unwrap().is_empty());
}

/// A metagraph is several reads (the runtime API, `Keys`, `Owner`,
/// `Incentive`, `LastUpdate`); read at the head each, a uid replaced
/// between two of them would mix two blocks into one answer. With a block
/// landing before every answer, each way of reading it, with proofs and
/// without, still reads one block.
#[tokio::test]
async fn a_metagraph_is_read_at_one_block_while_blocks_land() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    for proofs in [false, true] {
        let chain = client_proving(&node, proofs).await;
        node.block_per_request(true);
        node.record_reads(true);
        let neurons = chain.metagraph(64, None).await.unwrap();
        let api_reads = node.record_reads(true);
        let stored = chain.metagraph_from_storage(64, None).await.unwrap();
        let storage_reads = node.record_reads(false);
        node.block_per_request(false);
        assert_eq!(neurons.len(), 3);
        assert_eq!(stored.len(), 3);
        // Without proofs the runtime API is one read; from storage, and
        // with proofs, an answer is several.
        assert!(storage_reads.len() > 1, "{storage_reads:?}");
        assert!(!api_reads.is_empty());
        for reads in [&api_reads, &storage_reads] {
            assert!(
                reads.iter().all(|b| *b == reads[0]),
                "proofs {proofs}: one answer read at blocks {reads:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_commitment_is_read_as_of_its_block() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = client(&node).await;
    let alice = address("//Alice");
    // CommitmentOf keeps only the latest; at block 1000 the first one shows.
    assert_eq!(
        chain.commitment(64, &alice, 1_000).await.unwrap(),
        CommitmentAt::Sha256 {
            sha256: [1; 32],
            block: 1_000
        }
    );
    assert_eq!(
        chain.commitment(64, &alice, 1_299).await.unwrap(),
        CommitmentAt::Sha256 {
            sha256: [1; 32],
            block: 1_000
        },
        "an older commitment still shows, with its own block"
    );
    assert_eq!(
        chain.commitment(64, &alice, 1_300).await.unwrap(),
        CommitmentAt::Sha256 {
            sha256: [2; 32],
            block: 1_300
        }
    );
    assert_eq!(
        chain.commitment(64, &alice, 999).await.unwrap(),
        CommitmentAt::None
    );
    assert_eq!(
        chain
            .commitment(64, &address("//Charlie"), 1_400)
            .await
            .unwrap(),
        CommitmentAt::None
    );
    assert_eq!(
        chain.commitment(65, &alice, 1_300).await.unwrap(),
        CommitmentAt::None,
        "another subnet"
    );
    assert!(
        chain.commitment(64, &alice, 9_999).await.is_err(),
        "a block the node does not have"
    );

    node.commit(&alice, 1_600, [4; 32]).unwrap();
    assert_eq!(
        chain.commitment(64, &alice, 1_600).await.unwrap(),
        CommitmentAt::Sha256 {
            sha256: [4; 32],
            block: 1_600
        }
    );
    // A node that withholds it cannot prove the absence (tests/lies.rs
    // has the node that lies in every way).
    node.withhold(&alice, 1_600).unwrap();
    assert!(matches!(
        chain.commitment(64, &alice, 1_600).await,
        Err(subtensor::ChainError::Integrity { .. })
    ));
}

#[tokio::test]
async fn pruned_state_reads_as_pruned_not_as_absent() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = client(&node).await;
    node.prune_before(1_200);
    let bob = address("//Bob");
    assert_eq!(
        chain.commitment(64, &bob, 1_001).await.unwrap(),
        CommitmentAt::Pruned
    );
    assert_eq!(
        chain.commitment(64, &bob, 1_200).await.unwrap(),
        CommitmentAt::Sha256 {
            sha256: [3; 32],
            block: 1_001
        }
    );
}

#[tokio::test]
async fn the_client_survives_a_node_restart() {
    let mut node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = client(&node).await;
    assert_eq!(chain.current_block().await.unwrap(), 1_500);
    node.restart().await.unwrap();
    node.advance(5);
    assert_eq!(chain.current_block().await.unwrap(), 1_505);
}

#[tokio::test]
async fn an_unreachable_node_is_an_error_naming_the_url() {
    let err = SubtensorClient::connect(
        "ws://127.0.0.1:1",
        ClientOptions {
            call_timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("ws://127.0.0.1:1"), "{err}");
}
