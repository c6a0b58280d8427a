//! Setting weights against the simulated node, through the subtensor
//! client (substrate-api-client): a correctly signed `set_weights` lands in
//! `Weights` and `LastUpdate`; a tampered one, a replayed one and one that
//! breaks a chain rule are refused with the chain's words. A node that
//! never includes, one that names a block without the transaction, and one
//! that answers bytes that do not decode are each told apart.

use std::time::Duration;

use devnet_chain::{ChainGenesis, ChainNode, GenesisNeuron};
use subtensor::{ClientOptions, Hotkey, SubtensorClient, WeightsCall, WeightsError};

fn key(uri: &str) -> Hotkey {
    Hotkey::from_dev_uri(uri).unwrap()
}

fn genesis() -> ChainGenesis {
    let neuron = |uid: u16, who: &str| GenesisNeuron {
        uid,
        hotkey: key(&format!("//{who}")).ss58(),
        coldkey: key(&format!("//{who}//cold")).ss58(),
        incentive: 0,
        stake_rao: 1_000_000_000,
        last_update: 0,
        validator_permit: uid == 0,
    };
    ChainGenesis {
        netuid: 64,
        neurons: vec![neuron(0, "Alice"), neuron(1, "Bob"), neuron(2, "Charlie")],
        commitments: vec![],
        weights_rate_limit: 100,
        commit_reveal: false,
        head: 1_500,
        timelock: Default::default(),
    }
}

async fn start() -> (ChainNode, SubtensorClient) {
    start_with(ClientOptions::default().inclusion_timeout).await
}

async fn start_with(inclusion_timeout: Duration) -> (ChainNode, SubtensorClient) {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = SubtensorClient::connect(
        &node.ws_url(),
        ClientOptions {
            call_timeout: Duration::from_secs(10),
            inclusion_timeout,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    (node, chain)
}

fn call() -> WeightsCall {
    WeightsCall {
        netuid: 64,
        uids: vec![1, 2],
        weights: vec![40_000, 20_000],
        version_key: 0,
    }
}

#[tokio::test]
async fn a_correctly_signed_set_weights_lands_in_weights_and_last_update() {
    let (node, chain) = start().await;
    let alice = key("//Alice");
    let set = chain.set_weights(&alice, &call()).await.unwrap();
    assert_eq!(node.head(), 1_501, "included in a new block");
    assert_eq!(set.block_hash, node.block_hash(1_501).unwrap());
    assert_eq!(set.block, 1_501);
    assert_eq!(set.extrinsic.nonce, 0);
    // A mortal era of 8 blocks, born at or before the head it was signed at.
    assert_eq!(set.extrinsic.era_period, 8);
    assert!((1_493..=1_500).contains(&set.extrinsic.era_birth));
    // Max-upscaled to u16, as the pallet stores them.
    assert_eq!(
        chain.weights(64, 0).await.unwrap(),
        vec![(1, 65_535), (2, 32_768)]
    );
    assert_eq!(chain.last_update(64, 0).await.unwrap(), Some(1_501));
    assert!(
        chain.weights(64, 1).await.unwrap().is_empty(),
        "only Alice's"
    );

    // Again at once: the rate limit (100 blocks) stops it before signing.
    let err = chain.set_weights(&alice, &call()).await.unwrap_err();
    assert!(
        matches!(err, WeightsError::TooSoon { next: 1_601, .. }),
        "{err}"
    );
    node.advance(100);
    chain.set_weights(&alice, &call()).await.unwrap();
    assert_eq!(chain.last_update(64, 0).await.unwrap(), Some(1_602));
}

#[tokio::test]
async fn a_tampered_set_weights_is_refused_as_a_bad_signature() {
    let (node, chain) = start().await;
    let signed = chain
        .sign_set_weights(&key("//Alice"), &call())
        .await
        .unwrap();
    // The call is last: flip a bit of the version key's top byte.
    let mut tampered = signed.clone();
    let last = tampered.encoded.len() - 1;
    tampered.encoded[last] ^= 0x01;
    let err = chain.submit_weights(&tampered).await.unwrap_err();
    assert!(
        matches!(&err, WeightsError::Refused(m) if m.contains("bad signature")),
        "{err}"
    );
    assert_eq!(node.head(), 1_500, "nothing included");
    assert!(chain.weights(64, 0).await.unwrap().is_empty());

    // The untampered bytes go through, and replaying them is stale.
    chain.submit_weights(&signed).await.unwrap();
    let err = chain.submit_weights(&signed).await.unwrap_err();
    assert!(
        matches!(&err, WeightsError::Refused(m) if m.contains("outdated")),
        "{err}"
    );
}

#[tokio::test]
async fn broken_rules_are_named() {
    let (node, chain) = start().await;
    let dave = key("//Dave");
    let err = chain.set_weights(&dave, &call()).await.unwrap_err();
    assert!(matches!(err, WeightsError::NotRegistered { .. }), "{err}");

    let mut uneven = call();
    uneven.weights.pop();
    let err = chain.set_weights(&key("//Bob"), &uneven).await.unwrap_err();
    assert!(matches!(err, WeightsError::LengthsDiffer { .. }), "{err}");

    // A uid that does not exist passes the client's checks; the chain
    // includes the transaction and fails it with the pallet's error.
    let mut invalid = call();
    invalid.uids[1] = 9;
    let err = chain
        .set_weights(&key("//Bob"), &invalid)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WeightsError::Failed(m) if m == "SubtensorModule.UidVecContainInvalidOne"),
        "{err}"
    );
    assert_eq!(node.head(), 1_501, "included, failed");

    // Commit-reveal on: named before anything is signed.
    node.set_commit_reveal(true);
    let err = chain.set_weights(&key("//Bob"), &call()).await.unwrap_err();
    assert!(
        matches!(err, WeightsError::CommitReveal { netuid: 64 }),
        "{err}"
    );
}

#[tokio::test]
async fn the_node_enforces_commit_reveal_itself() {
    let (node, chain) = start().await;
    // Signed while commit-reveal was off, submitted after it turned on.
    let signed = chain
        .sign_set_weights(&key("//Alice"), &call())
        .await
        .unwrap();
    node.set_commit_reveal(true);
    let err = chain.submit_weights(&signed).await.unwrap_err();
    assert!(
        matches!(&err, WeightsError::Failed(m) if m == "SubtensorModule.CommitRevealEnabled"),
        "{err}"
    );
    assert!(chain.weights(64, 0).await.unwrap().is_empty());
}

/// A node that takes the transaction, says `ready`, and never includes it:
/// the wait ends at the inclusion deadline with the extrinsic's hash, nonce
/// and era, which later find it in the block it lands in.
#[tokio::test]
async fn a_stalled_inclusion_ends_at_its_deadline_with_what_identifies_the_transaction() {
    let (node, chain) = start_with(Duration::from_secs(2)).await;
    node.stall_inclusion(true);
    let started = std::time::Instant::now();
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        chain.set_weights(&key("//Alice"), &call()),
    )
    .await
    .expect("the wait for inclusion has a deadline");
    let err = waited.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let WeightsError::NotSeen { extrinsic, .. } = &err else {
        panic!("not an unknown fate: {err}");
    };
    assert_eq!(extrinsic.nonce, 0);
    assert_eq!(extrinsic.era_period, 8);
    assert!(extrinsic.expires_at() > 1_500);
    assert!(
        err.to_string()
            .contains("may still be included until block"),
        "{err}"
    );
    assert_eq!(node.head(), 1_500, "not included");
    assert_eq!(node.submissions(), 1);

    // The pool catches up: the locally computed hash is the one in the body.
    assert_eq!(node.release_stalled(), 1);
    let body = chain
        .block_body(node.block_hash(1_501).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body.number, 1_501);
    assert_eq!(body.extrinsic_hashes, vec![extrinsic.hash]);
    assert_eq!(chain.last_update(64, 0).await.unwrap(), Some(1_501));
}

/// A node that answers `inBlock` with a block that does not hold the
/// transaction is caught by reading that block's body.
#[tokio::test]
async fn an_inclusion_in_a_block_without_the_transaction_is_not_believed() {
    let (node, chain) = start().await;
    node.fake_inclusion(true);
    let err = chain
        .set_weights(&key("//Alice"), &call())
        .await
        .unwrap_err();
    let WeightsError::NotInBlock { block_hash, .. } = &err else {
        panic!("believed a false inclusion: {err}");
    };
    assert_eq!(*block_hash, node.block_hash(1_501).unwrap());
    assert!(err.to_string().contains("does not hold it"), "{err}");
    assert!(chain.weights(64, 0).await.unwrap().is_empty());
    assert_eq!(chain.last_update(64, 0).await.unwrap(), Some(0));
}

/// Storage bytes that do not decode are the node's malformed answer, not
/// a failure to reach it.
#[tokio::test]
async fn undecodable_storage_is_a_decode_error() {
    let (node, chain) = start().await;
    node.garble_storage(&subtensor::runtime::WEIGHTS_SET_RATE_LIMIT, true);
    let err = chain.weights_rate_limit(64).await.unwrap_err();
    assert!(matches!(err, subtensor::ChainError::Decode { .. }), "{err}");
    node.garble_storage(&subtensor::runtime::WEIGHTS_SET_RATE_LIMIT, false);
    assert_eq!(chain.weights_rate_limit(64).await.unwrap(), 100);
}
