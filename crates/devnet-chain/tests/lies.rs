//! A node that lies consistently, against the client: swapped `Keys`, a
//! forged commitment, a stale state root, a withheld commitment. Each lie
//! is carried by every answer of the node (storage, runtime API, read
//! proofs), so only proving the read against the block's header catches
//! it: with proofs the client refuses with an integrity violation naming
//! the read, the block and the endpoint; with proofs off it is fooled,
//! which is what the proofs are for. A second endpoint on another chain
//! is caught by the block hash it names.

use std::time::Duration;

use devnet_chain::{ChainGenesis, ChainNode, GenesisNeuron};
use subtensor::runtime;
use subtensor::storage::part;
use subtensor::{ChainError, ClientOptions, CommitmentAt, Hotkey, SubtensorClient};

fn address(uri: &str) -> String {
    Hotkey::from_dev_uri(uri).unwrap().ss58()
}

fn genesis() -> ChainGenesis {
    let neuron = |uid: u16, who: &str| GenesisNeuron {
        uid,
        hotkey: address(&format!("//{who}")),
        coldkey: address(&format!("//{who}//cold")),
        incentive: 1_000 * uid,
        stake_rao: 1_000_000_000,
        last_update: 100,
        validator_permit: uid == 0,
    };
    ChainGenesis {
        netuid: 64,
        neurons: vec![neuron(0, "Alice"), neuron(1, "Bob"), neuron(2, "Charlie")],
        commitments: vec![
            (address("//Alice"), 1_000, [1; 32]),
            (address("//Bob"), 1_001, [3; 32]),
        ],
        weights_rate_limit: 100,
        commit_reveal: false,
        head: 1_500,
        timelock: Default::default(),
    }
}

async fn start(genesis: &ChainGenesis) -> ChainNode {
    ChainNode::start(genesis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn client(url: &str, proofs: bool, witnesses: Vec<String>) -> SubtensorClient {
    SubtensorClient::connect(
        url,
        ClientOptions {
            call_timeout: Duration::from_secs(5),
            proofs,
            witnesses,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap()
}

/// The violation's words, or a panic naming what came instead.
fn violation<T: std::fmt::Debug>(read: Result<T, ChainError>) -> String {
    match read {
        Err(e @ ChainError::Integrity { .. }) => e.to_string(),
        other => panic!("expected an integrity violation, got {other:?}"),
    }
}

#[tokio::test]
async fn honest_reads_prove_and_equal_what_the_node_says() {
    let node = start(&genesis()).await;
    let proven = client(&node.ws_url(), true, vec![node.ws_url()]).await;
    let plain = client(&node.ws_url(), false, vec![]).await;
    assert_eq!(
        proven.metagraph(64, None).await.unwrap(),
        plain.metagraph(64, None).await.unwrap()
    );
    let alice = address("//Alice");
    for block in [999, 1_000, 1_200] {
        assert_eq!(
            proven.commitment(64, &alice, block).await.unwrap(),
            plain.commitment(64, &alice, block).await.unwrap(),
        );
    }
    assert_eq!(proven.uid_of(64, &address("//Bob")).await.unwrap(), Some(1));
    assert_eq!(proven.current_block().await.unwrap(), 1_500);
}

#[tokio::test]
async fn swapped_keys_are_refused_with_proofs_and_fool_the_node_s_word() {
    let node = start(&genesis()).await;
    node.swap_keys(Some((1, 2)));
    let plain = client(&node.ws_url(), false, vec![]).await;
    let fooled = plain.metagraph(64, None).await.unwrap();
    assert_eq!(
        fooled[1].hotkey,
        address("//Charlie"),
        "the lie is consistent"
    );
    assert_eq!(
        plain.metagraph_from_storage(64, None).await.unwrap()[1].hotkey,
        address("//Charlie")
    );
    assert_eq!(plain.uid_of(64, &address("//Bob")).await.unwrap(), Some(2));

    let proven = client(&node.ws_url(), true, vec![]).await;
    // The proof comes from a trie holding the lie: it does not reach any
    // key from the header's root, the first read of the block included.
    let said = violation(proven.metagraph(64, None).await);
    assert!(said.contains("from state root"), "{said}");
    assert!(said.contains(&node.ws_url()), "names the endpoint: {said}");
    violation(proven.uid_of(64, &address("//Bob")).await);
    node.swap_keys(None);
    assert_eq!(
        proven.metagraph(64, None).await.unwrap()[1].hotkey,
        address("//Bob")
    );
}

#[tokio::test]
async fn a_forged_commitment_is_refused_naming_the_block() {
    let node = start(&genesis()).await;
    let charlie = address("//Charlie");
    node.forge_commitment(&charlie, 1_200, [9; 32]).unwrap();
    let plain = client(&node.ws_url(), false, vec![]).await;
    assert_eq!(
        plain.commitment(64, &charlie, 1_250).await.unwrap(),
        CommitmentAt::Sha256 {
            sha256: [9; 32],
            block: 1_200
        }
    );
    let proven = client(&node.ws_url(), true, vec![]).await;
    let said = violation(proven.commitment(64, &charlie, 1_250).await);
    assert!(
        said.contains("CommitmentOf") && said.contains("#1250"),
        "{said}"
    );
    // Before the forged block, the truth (nothing) still proves.
    assert_eq!(
        proven.commitment(64, &charlie, 1_100).await.unwrap(),
        CommitmentAt::None
    );
}

#[tokio::test]
async fn a_withheld_commitment_is_refused_not_read_as_absent() {
    let node = start(&genesis()).await;
    let alice = address("//Alice");
    node.withhold(&alice, 1_000).unwrap();
    let plain = client(&node.ws_url(), false, vec![]).await;
    assert_eq!(
        plain.commitment(64, &alice, 1_100).await.unwrap(),
        CommitmentAt::None
    );
    let proven = client(&node.ws_url(), true, vec![]).await;
    violation(proven.commitment(64, &alice, 1_100).await);
}

#[tokio::test]
async fn a_stale_root_is_refused_by_the_header_hash() {
    let node = start(&genesis()).await;
    let alice = address("//Alice");
    // At 1,050 a node 100 blocks stale answers block 950's state: no
    // commitment yet.
    node.serve_stale_root(Some(100));
    let plain = client(&node.ws_url(), false, vec![]).await;
    assert_eq!(
        plain.commitment(64, &alice, 1_050).await.unwrap(),
        CommitmentAt::None
    );
    let proven = client(&node.ws_url(), true, vec![]).await;
    let said = violation(proven.commitment(64, &alice, 1_050).await);
    assert!(said.contains("hashes to"), "{said}");
}

#[tokio::test]
async fn a_witness_on_another_chain_is_a_violation_and_an_agreeing_one_is_not() {
    let node = start(&genesis()).await;
    let mut other = genesis();
    other
        .commitments
        .push((address("//Charlie"), 1_100, [7; 32]));
    let elsewhere = start(&other).await;
    let alice = address("//Alice");

    let agreeing = client(&node.ws_url(), true, vec![node.ws_url()]).await;
    assert!(matches!(
        agreeing.commitment(64, &alice, 1_200).await.unwrap(),
        CommitmentAt::Sha256 { .. }
    ));
    let disagreeing = client(&node.ws_url(), true, vec![elsewhere.ws_url()]).await;
    // Before the chains part they agree; after, the witness names another
    // hash for the same finalized block.
    disagreeing.commitment(64, &alice, 1_050).await.unwrap();
    let said = violation(disagreeing.commitment(64, &alice, 1_200).await);
    assert!(
        said.contains(&elsewhere.ws_url()),
        "names the witness: {said}"
    );
}

#[tokio::test]
async fn a_block_reads_the_same_after_the_chain_moves_on() {
    let node = start(&genesis()).await;
    let hash = node.block_hash(1_200).unwrap();
    let before = node.block_hash(1_500).unwrap();
    node.advance(10);
    node.set_commit_reveal(true);
    node.commit(&address("//Charlie"), 1_600, [5; 32]).unwrap();
    assert_eq!(node.block_hash(1_200), Some(hash));
    assert_eq!(node.block_hash(1_500), Some(before));
    assert_eq!(node.block_hash(99_999), None);
    let proven = client(&node.ws_url(), true, vec![]).await;
    let enabled = |at| {
        let proven = proven.clone();
        async move {
            proven
                .storage(&runtime::COMMIT_REVEAL_WEIGHTS_ENABLED, &[part(64u16)], at)
                .await
                .unwrap()
        }
    };
    assert_eq!(enabled(Some(before)).await, Some(vec![0]));
    assert_eq!(enabled(None).await, Some(vec![1]));
    assert!(proven.commit_reveal_enabled(64).await.unwrap());
}
