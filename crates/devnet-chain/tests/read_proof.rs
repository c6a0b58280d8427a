//! Read proofs as a client checks them: `state_getReadProof` for keys in
//! finney's layout (`subtensor::storage`, checked against the real
//! metadata by subtensor's conformance test) verifies against the state
//! root of the block's header, yields the values `state_getStorage` gives,
//! proves absent keys absent, and does not verify against another block's
//! root where the value changed.

use std::time::Duration;

use devnet_chain::{ChainGenesis, ChainNode, GenesisNeuron};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use parity_scale_codec::Decode;
use serde_json::Value;
use sp_keyring::Sr25519Keyring;
use subtensor::codec::Registration;
use subtensor::keys::public_key;
use subtensor::runtime;
use subtensor::storage::{key, part};

const NETUID: u16 = 64;

fn address(who: Sr25519Keyring) -> String {
    use sp_core::crypto::Ss58Codec;
    who.to_account_id().to_ss58check()
}

fn genesis() -> ChainGenesis {
    let neurons = [Sr25519Keyring::Alice, Sr25519Keyring::Bob]
        .into_iter()
        .zip(0u16..)
        .map(|(who, uid)| GenesisNeuron {
            uid,
            hotkey: address(who),
            coldkey: address(Sr25519Keyring::Dave),
            incentive: 30_000,
            stake_rao: 5,
            last_update: 90,
            validator_permit: uid == 0,
        })
        .collect();
    ChainGenesis {
        netuid: NETUID,
        neurons,
        commitments: vec![
            (address(Sr25519Keyring::Alice), 1_000, [1; 32]),
            (address(Sr25519Keyring::Alice), 1_300, [2; 32]),
        ],
        weights_rate_limit: 100,
        commit_reveal: false,
        head: 1_500,
        timelock: Default::default(),
    }
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

struct Read {
    root: [u8; 32],
    proof: Vec<Vec<u8>>,
    plain: Vec<Option<Vec<u8>>>,
}

/// The proof of `keys` at `block`, its header's state root, and what
/// `state_getStorage` answers for each key.
async fn read_at(node: &ChainNode, block: u32, keys: &[Vec<u8>]) -> Read {
    let rpc = WsClientBuilder::default()
        .request_timeout(Duration::from_secs(5))
        .build(node.ws_url())
        .await
        .unwrap();
    let at = hex0x(&node.block_hash(block).unwrap());
    let hex_keys: Vec<String> = keys.iter().map(|k| hex0x(k)).collect();
    let answer: Value = rpc
        .request("state_getReadProof", rpc_params![hex_keys, at.clone()])
        .await
        .unwrap();
    assert_eq!(answer["at"], Value::String(at.clone()));
    let proof = answer["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex)
        .collect();
    let header: Value = rpc
        .request("chain_getHeader", rpc_params![at.clone()])
        .await
        .unwrap();
    let root: [u8; 32] = unhex(&header["stateRoot"]).try_into().unwrap();
    // The hash names the header: blake2-256 of its SCALE encoding.
    let parsed = subtensor::proof::Header {
        parent_hash: <[u8; 32]>::try_from(unhex(&header["parentHash"]))
            .unwrap()
            .into(),
        number: block,
        state_root: root.into(),
        extrinsics_root: <[u8; 32]>::try_from(unhex(&header["extrinsicsRoot"]))
            .unwrap()
            .into(),
        digest: Default::default(),
    };
    subtensor::proof::check_header(&node.block_hash(block).unwrap(), &parsed).unwrap();
    let mut plain = Vec::new();
    for k in keys {
        let value: Option<String> = rpc
            .request("state_getStorage", rpc_params![hex0x(k), at.clone()])
            .await
            .unwrap();
        plain.push(value.map(|v| unhex(&Value::String(v))));
    }
    Read { root, proof, plain }
}

fn keys() -> Vec<Vec<u8>> {
    let alice = public_key(&address(Sr25519Keyring::Alice)).unwrap();
    let ferdie = public_key(&address(Sr25519Keyring::Ferdie)).unwrap();
    vec![
        key(&runtime::UIDS, &[part(NETUID), part(alice)]).unwrap(),
        key(&runtime::KEYS, &[part(NETUID), part(1u16)]).unwrap(),
        key(&runtime::COMMITMENT_OF, &[part(NETUID), part(alice)]).unwrap(),
        // Not registered: proven absent.
        key(&runtime::UIDS, &[part(NETUID), part(ferdie)]).unwrap(),
    ]
}

#[tokio::test]
async fn a_read_proof_verifies_against_the_headers_state_root_and_matches_plain_reads() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let keys = keys();
    let read = read_at(&node, 1_200, &keys).await;
    let proven = subtensor::proof::read_proven(&read.root, &read.proof, &keys).unwrap();
    for (k, plain) in keys.iter().zip(&read.plain) {
        assert_eq!(&proven[k], plain, "key {}", hex0x(k));
    }
    assert_eq!(proven[&keys[3]], None);
    assert_eq!(proven[&keys[0]], Some(0u16.to_le_bytes().to_vec()));
    let commitment = proven[&keys[2]].as_deref().unwrap();
    let registration = Registration::decode(&mut &commitment[..]).unwrap();
    assert_eq!(registration.block, 1_000);

    // At block 1,400 Alice's commitment is the later one: block 1,200's
    // proof does not pass for it.
    let later = read_at(&node, 1_400, &keys).await;
    assert_ne!(later.root, read.root);
    assert!(subtensor::proof::read_proven(&later.root, &read.proof, &keys[2..3]).is_err());
    let proven = subtensor::proof::read_proven(&later.root, &later.proof, &keys).unwrap();
    let registration = Registration::decode(&mut proven[&keys[2]].as_deref().unwrap()).unwrap();
    assert_eq!(registration.block, 1_300);
}

#[tokio::test]
async fn every_committer_is_in_the_trie_once_whatever_the_order_of_their_commitments() {
    // Alice commits before and after Bob: the trie holds one
    // `CommitmentOf` per committer, each the latest at the block.
    let mut genesis = genesis();
    genesis
        .commitments
        .push((address(Sr25519Keyring::Bob), 1_100, [3; 32]));
    let node = ChainNode::start(&genesis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let commitment_of = |who: Sr25519Keyring| {
        let account = public_key(&address(who)).unwrap();
        key(&runtime::COMMITMENT_OF, &[part(NETUID), part(account)]).unwrap()
    };
    let keys = vec![
        commitment_of(Sr25519Keyring::Alice),
        commitment_of(Sr25519Keyring::Bob),
        commitment_of(Sr25519Keyring::Charlie),
    ];
    let read = read_at(&node, 1_400, &keys).await;
    let proven = subtensor::proof::read_proven(&read.root, &read.proof, &keys).unwrap();
    let block_of = |k: &Vec<u8>| {
        let value = proven[k]
            .as_deref()
            .expect("a committer's commitment is proven present");
        Registration::decode(&mut &value[..]).unwrap().block
    };
    assert_eq!(block_of(&keys[0]), 1_300);
    assert_eq!(block_of(&keys[1]), 1_100);
    assert_eq!(proven[&keys[2]], None, "never committed: proven absent");
}

#[tokio::test]
async fn a_blocks_state_root_does_not_depend_on_the_blocks_read_before_it() {
    // The node builds a block's trie from a neighbour's by what changed:
    // reading blocks in any order must give each the root a node that
    // read nothing before it gives, and proofs that verify against it.
    let mut genesis = genesis();
    genesis
        .commitments
        .push((address(Sr25519Keyring::Bob), 1_100, [3; 32]));
    let blocks = [1_400, 999, 1_000, 1_300, 1_001, 1_100, 1_299, 1_450];
    let node = ChainNode::start(&genesis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let keys = keys();
    let mut scrambled = Vec::new();
    for block in blocks {
        let read = read_at(&node, block, &keys).await;
        subtensor::proof::read_proven(&read.root, &read.proof, &keys).unwrap();
        scrambled.push(read.root);
    }
    for (block, root) in blocks.into_iter().zip(scrambled) {
        let fresh = ChainNode::start(&genesis, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(
            read_at(&fresh, block, &keys).await.root,
            root,
            "block {block}"
        );
    }
}
