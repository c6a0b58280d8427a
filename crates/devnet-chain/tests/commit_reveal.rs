//! Timelocked weights against the simulated node, through the real
//! client (`SubtensorClient::commit_timelocked_weights`) and commits
//! built by the `weights` crate: a commit is queued (event 101), revealed
//! at its round with the node's beacon (event 102) and lands in
//! `Weights`; a commit the beacon cannot open is accepted and dropped
//! silently, as on finney; each refusal carries finney's error.

use std::time::Duration;

use devnet_chain::{
    Beacon, ChainGenesis, ChainNode, CommitRevealGenesis, GenesisNeuron, Sr25519Keyring,
};
use drand_tlock::BeaconSecret;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use parity_scale_codec::Encode;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use substrate_api_client::ac_compose_macros::compose_extrinsic;
use substrate_api_client::ac_primitives::ExtrinsicSigner;
use substrate_api_client::rpc::JsonrpseeClient;
use substrate_api_client::{Api, SubmitAndWatch, XtStatus};
use subtensor::commit_reveal::epoch_of;
use subtensor::weights::SubtensorConfig;
use subtensor::{runtime, ClientOptions, Hotkey, SubtensorClient, TimelockedCall, WeightsError};
use weights::{CommitRecord, Landing, WeightsTlockPayload};

const NETUID: u16 = 64;
/// Epochs of 5 blocks: a reveal comes within ten blocks of its commit.
const TEMPO: u16 = 4;
const VERSION: u16 = 4;

fn key(uri: &str) -> Hotkey {
    Hotkey::from_dev_uri(uri).unwrap()
}

fn genesis(rate_limit: u64, tempo: u16) -> ChainGenesis {
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
        netuid: NETUID,
        neurons: vec![neuron(0, "Alice"), neuron(1, "Bob"), neuron(2, "Charlie")],
        commitments: vec![],
        weights_rate_limit: rate_limit,
        commit_reveal: true,
        head: 1_500,
        timelock: CommitRevealGenesis {
            tempo,
            reveal_period_epochs: 1,
            version: VERSION,
            weights_version_key: 7,
        },
    }
}

async fn start_with(genesis: ChainGenesis) -> (ChainNode, SubtensorClient) {
    let node = ChainNode::start(&genesis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let chain = SubtensorClient::connect(
        &node.ws_url(),
        ClientOptions {
            call_timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    (node, chain)
}

async fn start() -> (ChainNode, SubtensorClient) {
    start_with(genesis(0, TEMPO)).await
}

/// Alice's weights for Bob and Charlie, encrypted to `beacon` at `round`.
fn commit(beacon: &Beacon, round: u64, version_key: u64) -> Vec<u8> {
    let payload = WeightsTlockPayload {
        hotkey: key("//Alice").public().to_vec(),
        uids: vec![1, 2],
        values: vec![65_535, 32_768],
        version_key,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(round);
    weights::commit_for(&payload, beacon, round, &mut rng).unwrap()
}

fn call(commit: Vec<u8>, reveal_round: u64) -> TimelockedCall {
    TimelockedCall {
        netuid: NETUID,
        commit,
        reveal_round,
        commit_reveal_version: VERSION,
    }
}

/// `System.Events` of block `n`, as stored (SCALE bytes).
async fn events(node: &ChainNode, n: u32) -> Vec<u8> {
    let ws = WsClientBuilder::default()
        .build(node.ws_url())
        .await
        .unwrap();
    let key = subtensor::storage::key(&runtime::EVENTS, &[]).unwrap();
    let at = format!("0x{}", hex::encode(node.block_hash(n).unwrap()));
    let value: Option<String> = ws
        .request(
            "state_getStorage",
            rpc_params![format!("0x{}", hex::encode(key)), at],
        )
        .await
        .unwrap();
    hex::decode(value.unwrap_or_default().trim_start_matches("0x")).unwrap()
}

/// Events of blocks `from..=to`, concatenated.
async fn events_between(node: &ChainNode, from: u32, to: u32) -> Vec<u8> {
    let mut all = Vec::new();
    for n in from..=to {
        all.extend(events(node, n).await);
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn committed_event(commit: &[u8], round: u64) -> Vec<u8> {
    let (_, index) = runtime::EVENT_TIMELOCKED_WEIGHTS_COMMITTED;
    [
        vec![runtime::PALLET_SUBTENSOR.1, index],
        key("//Alice").public().to_vec(),
        NETUID.encode(),
        sp_core::hashing::blake2_256(commit).to_vec(),
        round.encode(),
    ]
    .concat()
}

fn revealed_event() -> Vec<u8> {
    let (_, index) = runtime::EVENT_TIMELOCKED_WEIGHTS_REVEALED;
    [
        vec![runtime::PALLET_SUBTENSOR.1, index],
        NETUID.encode(),
        key("//Alice").public().to_vec(),
    ]
    .concat()
}

/// Commits `bytes` to the stored round as Alice; returns the commit's
/// block and epoch.
async fn commit_now(node: &ChainNode, chain: &SubtensorClient, bytes: Vec<u8>) -> (u32, u64) {
    let round = chain.last_stored_round().await.unwrap();
    chain
        .commit_timelocked_weights(&key("//Alice"), &call(bytes.clone(), round))
        .await
        .unwrap();
    let block = node.head();
    assert!(
        contains(&events(node, block).await, &committed_event(&bytes, round)),
        "event 101 in the commit's block"
    );
    (block, epoch_of(u64::from(block), NETUID, TEMPO))
}

#[tokio::test]
async fn a_commit_is_queued_then_revealed_at_its_round_into_weights() {
    let (node, chain) = start().await;
    let beacon = node.beacon();
    assert_eq!(beacon.period, devnet_chain::BEACON_PERIOD);
    let facts = chain.weight_setting_facts(NETUID).await.unwrap();
    assert_eq!(
        (
            facts.tempo,
            facts.reveal_period_epochs,
            facts.commit_reveal_version
        ),
        (TEMPO, 1, VERSION)
    );
    assert_eq!(facts.weights_version_key, 7);
    let pulse = chain.pulse(facts.last_stored_round).await.unwrap().unwrap();
    let signature = drand_tlock::Signature::from_bytes(&pulse.signature).unwrap();
    assert!(drand_tlock::verify_round_signature(
        &beacon.key().unwrap(),
        pulse.round,
        &signature
    ));

    let bytes = commit(&beacon, facts.last_stored_round, 7);
    let (block, epoch) = commit_now(&node, &chain, bytes.clone()).await;
    let queued = chain.timelocked_commits(NETUID, epoch).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].commit.clone(), queued[0].commit_block),
        (bytes, u64::from(block))
    );
    assert_eq!(
        chain.last_update(NETUID, 0).await.unwrap(),
        Some(u64::from(block))
    );
    assert!(
        chain.weights(NETUID, 0).await.unwrap().is_empty(),
        "not before the reveal"
    );

    node.advance(2 * (u32::from(TEMPO) + 1));
    assert!(
        contains(
            &events_between(&node, block + 1, node.head()).await,
            &revealed_event()
        ),
        "event 102"
    );
    assert_eq!(
        chain.weights(NETUID, 0).await.unwrap(),
        vec![(1, 65_535), (2, 32_768)]
    );
    assert!(chain
        .timelocked_commits(NETUID, epoch)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_commit_the_beacon_cannot_open_is_accepted_then_dropped_silently() {
    let (node, chain) = start().await;
    let round = chain.last_stored_round().await.unwrap();
    let stranger = Beacon {
        public_key: BeaconSecret::from_seed(&[9; 64])
            .unwrap()
            .public_key()
            .to_bytes(),
        ..node.beacon()
    };
    let low_version = commit(&node.beacon(), round, 6);
    for bytes in [
        commit(&stranger, round, 7),
        low_version,
        vec![0xff; 300],
        vec![],
    ] {
        let (block, epoch) = commit_now(&node, &chain, bytes).await;
        node.advance(2 * (u32::from(TEMPO) + 1));
        let after = events_between(&node, block + 1, node.head()).await;
        assert!(!contains(&after, &revealed_event()), "no event 102");
        assert!(chain.weights(NETUID, 0).await.unwrap().is_empty());
        assert!(chain
            .timelocked_commits(NETUID, epoch)
            .await
            .unwrap()
            .is_empty());
    }
    // The node still serves.
    assert!(chain.last_stored_round().await.unwrap() >= round);
}

#[tokio::test]
async fn a_commit_whose_pulse_never_comes_expires_with_its_queue() {
    let (node, chain) = start().await;
    let far = chain.last_stored_round().await.unwrap() + 1_000_000;
    let bytes = commit(&node.beacon(), far, 7);
    chain
        .commit_timelocked_weights(&key("//Alice"), &call(bytes, far))
        .await
        .unwrap();
    let epoch = epoch_of(u64::from(node.head()), NETUID, TEMPO);
    node.advance(u32::from(TEMPO) + 1);
    node.advance(2 * (u32::from(TEMPO) + 1));
    assert!(chain
        .timelocked_commits(NETUID, epoch)
        .await
        .unwrap()
        .is_empty());
    assert!(chain.weights(NETUID, 0).await.unwrap().is_empty());
}

/// A chain that moves a block before each answer (a slow client beside a
/// fast chain) never makes a reveal look like a drop: whichever read the
/// reveal falls between, `reveal_status` judges one block. Each phase
/// starts the polling at another block of the epoch, so the reveal comes
/// between every pair of successive reads in one phase or another.
#[tokio::test]
async fn a_reveal_between_two_reads_is_not_taken_for_a_drop() {
    for phase in 0..=u32::from(TEMPO) {
        let (node, chain) = start().await;
        let round = chain.last_stored_round().await.unwrap();
        let (block, epoch) = commit_now(&node, &chain, commit(&node.beacon(), round, 7)).await;
        node.advance(phase);
        let record = CommitRecord {
            netuid: NETUID,
            uid: 0,
            commit_epoch: epoch,
            commit_block: Some(u64::from(block)),
            vector: vec![(1, 65_535), (2, 32_768)],
        };
        node.block_per_request(true);
        let mut seen = Vec::new();
        while seen.len() < 40 {
            let status = weights::reveal_status(&chain, &record).await.unwrap();
            seen.push(status.clone());
            if status != Landing::AwaitingReveal {
                break;
            }
        }
        assert_eq!(
            seen.last(),
            Some(&Landing::Revealed),
            "phase {phase}: {seen:?}"
        );
    }
}

fn failed(err: WeightsError) -> String {
    match err {
        WeightsError::Failed(why) => why,
        other => panic!("expected a dispatch failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stale_round_is_refused_by_the_pool_and_a_wrong_version_at_dispatch() {
    let (node, chain) = start().await;
    let alice = key("//Alice");
    let round = chain.last_stored_round().await.unwrap();
    let bytes = commit(&node.beacon(), round, 7);
    let err = chain
        .commit_timelocked_weights(&alice, &call(bytes.clone(), round - 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WeightsError::Refused(why) if why.contains("Custom error: 15")),
        "{err:?}"
    );

    let wrong = TimelockedCall {
        commit_reveal_version: VERSION + 1,
        ..call(bytes, round)
    };
    let why = failed(
        chain
            .commit_timelocked_weights(&alice, &wrong)
            .await
            .unwrap_err(),
    );
    assert!(
        why.contains(runtime::ERR_INCORRECT_COMMIT_REVEAL_VERSION),
        "{why}"
    );
}

#[tokio::test]
async fn committing_again_within_the_rate_limit_is_too_fast() {
    let (node, chain) = start_with(genesis(100, TEMPO)).await;
    let alice = key("//Alice");
    let round = chain.last_stored_round().await.unwrap();
    let bytes = commit(&node.beacon(), round, 7);
    chain
        .commit_timelocked_weights(&alice, &call(bytes.clone(), round))
        .await
        .unwrap();
    let why = failed(
        chain
            .commit_timelocked_weights(&alice, &call(bytes, round))
            .await
            .unwrap_err(),
    );
    assert!(why.contains(runtime::ERR_COMMITTING_TOO_FAST), "{why}");
}

#[tokio::test]
async fn an_eleventh_commit_in_one_epoch_is_too_many() {
    let (node, chain) = start_with(genesis(0, 100)).await;
    let alice = key("//Alice");
    // Start the commits at the beginning of an epoch, so all fit in it.
    let head = u64::from(node.head());
    let epoch = epoch_of(head, NETUID, 100);
    let next_start = (epoch + 1) * 101 - (u64::from(NETUID) + 1);
    node.advance(u32::try_from(next_start - head).unwrap());
    // Far enough ahead that the clock does not make it stale meanwhile.
    let round = chain.last_stored_round().await.unwrap() + 1_000;
    let bytes = commit(&node.beacon(), round, 7);
    for _ in 0..10 {
        chain
            .commit_timelocked_weights(&alice, &call(bytes.clone(), round))
            .await
            .unwrap();
    }
    let why = failed(
        chain
            .commit_timelocked_weights(&alice, &call(bytes, round))
            .await
            .unwrap_err(),
    );
    assert!(why.contains(runtime::ERR_TOO_MANY_UNREVEALED), "{why}");
}

#[tokio::test]
async fn a_commit_while_commit_reveal_is_off_is_disabled() {
    // The client refuses before sending; a raw transaction meets the chain.
    let (node, chain) = start().await;
    node.set_commit_reveal(false);
    let round = chain.last_stored_round().await.unwrap();
    let err = chain
        .commit_timelocked_weights(&key("//Alice"), &call(vec![1], round))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WeightsError::CommitRevealOff { .. }),
        "{err:?}"
    );

    let rpc = JsonrpseeClient::new(&node.ws_url()).await.unwrap();
    let mut api = Api::<SubtensorConfig, _>::new(rpc).await.unwrap();
    api.set_signer(ExtrinsicSigner::<SubtensorConfig>::new(
        Sr25519Keyring::Alice.pair(),
    ));
    let xt = compose_extrinsic!(
        api,
        runtime::PALLET_SUBTENSOR.0,
        runtime::CALL_COMMIT_TIMELOCKED_WEIGHTS.name,
        NETUID,
        vec![1u8],
        round,
        VERSION
    )
    .unwrap();
    let err = api
        .submit_and_watch_extrinsic_until(xt, XtStatus::InBlock)
        .await
        .unwrap_err();
    let why = format!("{err:?}");
    assert!(
        why.contains("53") || why.contains(runtime::ERR_COMMIT_REVEAL_DISABLED),
        "{why}"
    );
}
