//! The node as third-party tools meet it: `substrate-api-client` (not our
//! client) connects, reads plain values and map entries, iterates a map
//! with paged keys, reads at an older block, follows new heads and calls
//! the runtime's `Core_version`; raw JSON-RPC checks that `rpc_methods`
//! lists what is served and that bad parameters are errors, not panics.

use std::time::Duration;

use devnet_chain::{ChainGenesis, ChainNode, GenesisNeuron};
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::Decode;
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_core::H256;
use sp_keyring::Sr25519Keyring;
use substrate_api_client::ac_primitives::{AccountId32, StorageKey};
use substrate_api_client::rpc::{HandleSubscription, JsonrpseeClient};
use substrate_api_client::rpc_api::state::SubscribeState;
use substrate_api_client::runtime_api::{CoreApi, MetadataApi};
use substrate_api_client::{Api, GetChainInfo, GetStorage, SubscribeChain};
use subtensor::codec::{Data, Registration};
use subtensor::weights::SubtensorConfig;

type ThirdParty = Api<SubtensorConfig, JsonrpseeClient>;

fn ss58(who: Sr25519Keyring) -> String {
    who.to_account_id().to_ss58check()
}

fn account(who: Sr25519Keyring) -> AccountId32 {
    who.to_account_id()
}

fn genesis() -> ChainGenesis {
    let neuron = |uid: u16, hot: Sr25519Keyring, cold: Sr25519Keyring| GenesisNeuron {
        uid,
        hotkey: ss58(hot),
        coldkey: ss58(cold),
        incentive: 10_000 * uid,
        stake_rao: 1_000_000_000,
        last_update: 100 + u64::from(uid),
        validator_permit: uid == 0,
    };
    ChainGenesis {
        netuid: 64,
        neurons: vec![
            neuron(0, Sr25519Keyring::Alice, Sr25519Keyring::Dave),
            neuron(1, Sr25519Keyring::Bob, Sr25519Keyring::Eve),
            neuron(2, Sr25519Keyring::Charlie, Sr25519Keyring::Ferdie),
        ],
        commitments: vec![
            (ss58(Sr25519Keyring::Alice), 1_000, [1; 32]),
            (ss58(Sr25519Keyring::Alice), 1_300, [2; 32]),
        ],
        weights_rate_limit: 100,
        commit_reveal: false,
        head: 1_500,
        timelock: Default::default(),
    }
}

async fn start() -> (ChainNode, ThirdParty) {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = JsonrpseeClient::new(&node.ws_url()).await.unwrap();
    let api = ThirdParty::new(client).await.unwrap();
    (node, api)
}

async fn raw(node: &ChainNode) -> WsClient {
    WsClientBuilder::default()
        .request_timeout(Duration::from_secs(5))
        .build(node.ws_url())
        .await
        .unwrap()
}

/// The hash of block `n`: the hash of its header, as the node names it.
fn hash(node: &ChainNode, n: u32) -> H256 {
    H256(node.block_hash(n).unwrap())
}

#[tokio::test]
async fn a_third_party_client_connects_and_reads_values_and_map_entries() {
    let (node, api) = start().await;
    assert_eq!(api.genesis_hash(), hash(&node, 0));
    assert_eq!(api.runtime_version().spec_name, "node-subtensor");
    assert_eq!(
        api.get_storage::<u32>("System", "Number", None)
            .await
            .unwrap(),
        Some(1_500)
    );
    let bob = account(Sr25519Keyring::Bob);
    let uid: Option<u16> = api
        .get_storage_double_map("SubtensorModule", "Uids", 64u16, &bob, None)
        .await
        .unwrap();
    assert_eq!(uid, Some(1));
    let owner: Option<AccountId32> = api
        .get_storage_map("SubtensorModule", "Owner", &bob, None)
        .await
        .unwrap();
    assert_eq!(owner, Some(account(Sr25519Keyring::Eve)));
    let absent: Option<u16> = api
        .get_storage_double_map(
            "SubtensorModule",
            "Uids",
            64u16,
            account(Sr25519Keyring::Two),
            None,
        )
        .await
        .unwrap();
    assert_eq!(absent, None);
    assert_eq!(api.get_header(None).await.unwrap().unwrap().number, 1_500);
    assert_eq!(
        api.get_block_hash(Some(1_200)).await.unwrap(),
        Some(hash(&node, 1_200))
    );
    assert_eq!(api.get_block_hash(Some(9_999)).await.unwrap(), None);
}

#[tokio::test]
async fn a_map_is_iterated_with_paged_keys_in_key_order() {
    let (_node, api) = start().await;
    let prefix = api
        .get_storage_double_map_key_prefix("SubtensorModule", "Keys", 64u16)
        .await
        .unwrap();
    let first = api
        .get_storage_keys_paged_limited(Some(prefix.clone()), 2, None, None)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let rest = api
        .get_storage_keys_paged_limited(Some(prefix.clone()), 2, first.last().cloned(), None)
        .await
        .unwrap();
    assert_eq!(
        rest.len(),
        1,
        "the page after the start key, not including it"
    );
    let all: Vec<StorageKey> = first.into_iter().chain(rest).collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "lexicographic, as Substrate orders keys");
    assert_eq!(
        api.get_storage_keys_paged(Some(prefix), 1_500, None, None)
            .await
            .unwrap(),
        all
    );
    let mut hotkeys = Vec::new();
    for key in &all {
        let hotkey: AccountId32 = api
            .get_storage_by_key(key.clone(), None)
            .await
            .unwrap()
            .unwrap();
        // Twox64Concat(netuid) ++ Identity(uid): the uid is the key's tail.
        let uid = u16::decode(&mut &key.0[key.0.len() - 2..]).unwrap();
        hotkeys.push((uid, hotkey));
    }
    hotkeys.sort_by_key(|(uid, _)| *uid);
    let want: Vec<(u16, AccountId32)> = [
        Sr25519Keyring::Alice,
        Sr25519Keyring::Bob,
        Sr25519Keyring::Charlie,
    ]
    .into_iter()
    .enumerate()
    .map(|(uid, who)| (uid as u16, account(who)))
    .collect();
    assert_eq!(hotkeys, want);
}

#[tokio::test]
async fn storage_read_at_an_older_block_is_that_blocks_state() {
    let (node, api) = start().await;
    let alice = account(Sr25519Keyring::Alice);
    let at = |n: u32| Some(hash(&node, n));
    let read = |n| {
        let alice = alice.clone();
        let api = &api;
        async move {
            api.get_storage_double_map::<_, _, Registration>(
                "Commitments",
                "CommitmentOf",
                64u16,
                alice,
                at(n),
            )
            .await
            .unwrap()
            .map(|r| r.info.fields)
        }
    };
    assert_eq!(read(1_100).await, Some(vec![Data::Sha256([1; 32])]));
    assert_eq!(read(1_500).await, Some(vec![Data::Sha256([2; 32])]));
    assert_eq!(read(999).await, None);
    assert_eq!(
        api.get_storage::<u32>("System", "Number", at(1_234))
            .await
            .unwrap(),
        Some(1_234)
    );
    // The map at block 999 has no commitment; at the head it has one.
    let prefix = api
        .get_storage_double_map_key_prefix("Commitments", "CommitmentOf", 64u16)
        .await
        .unwrap();
    let keys_at = |n| api.get_storage_keys_paged(Some(prefix.clone()), 10, None, at(n));
    assert!(keys_at(999).await.unwrap().is_empty());
    assert_eq!(keys_at(1_000).await.unwrap().len(), 1);
}

#[tokio::test]
async fn state_query_storage_at_answers_every_key_at_one_block() {
    let (node, api) = start().await;
    let client = raw(&node).await;
    let number = api
        .metadata()
        .storage_value_key("System", "Number")
        .unwrap()
        .0;
    let missing = vec![0xde, 0xad];
    let answer: Value = client
        .request(
            "state_queryStorageAt",
            rpc_params![
                vec![hex0x(&number), hex0x(&missing)],
                hex0x(&node.block_hash(1_234).unwrap())
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!([{
            "block": hex0x(&node.block_hash(1_234).unwrap()),
            "changes": [[hex0x(&number), hex0x(&1_234u32.to_le_bytes())], [hex0x(&missing), null]],
        }])
    );
}

#[tokio::test]
async fn new_heads_are_pushed_as_blocks_are_produced() {
    let (node, api) = start().await;
    let mut finalized = api.subscribe_finalized_heads().await.unwrap();
    let client = raw(&node).await;
    let mut new_heads = jsonrpsee::core::client::SubscriptionClientT::subscribe::<Value, _>(
        &client,
        "chain_subscribeNewHeads",
        rpc_params![],
        "chain_unsubscribeNewHeads",
    )
    .await
    .unwrap();
    // The current head comes first, as a Substrate node sends it.
    assert_eq!(next(&mut new_heads).await, 1_500);
    node.advance(1);
    assert_eq!(next(&mut new_heads).await, 1_501);
    node.advance(2);
    assert_eq!(next(&mut new_heads).await, 1_502);
    assert_eq!(next(&mut new_heads).await, 1_503);

    let mut seen = Vec::new();
    while seen.last() != Some(&1_503) {
        let header = tokio::time::timeout(Duration::from_secs(5), finalized.next())
            .await
            .expect("a finalized header within 5 s")
            .unwrap()
            .unwrap();
        seen.push(header.number);
    }
    assert_eq!(seen, [1_500, 1_501, 1_502, 1_503]);
    // The hash names the header (blake2-256 of its SCALE encoding); the
    // parent hash names the parent by number only (docs/chain.md).
    let head = api
        .get_header(Some(hash(&node, 1_503)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.number, 1_503);
    assert_eq!(
        subtensor::proof::header_hash(&head),
        node.block_hash(1_503).unwrap()
    );
}

#[tokio::test]
async fn storage_subscriptions_push_what_changed_per_block() {
    let (node, api) = start().await;
    let mut number = api.subscribe_state("System", "Number").await.unwrap();
    let mut next_number = async || {
        let set = tokio::time::timeout(Duration::from_secs(5), number.next())
            .await
            .expect("a change set within 5 s")
            .unwrap()
            .unwrap();
        let (_, value) = set.changes.first().cloned().unwrap();
        (set.block, u32::decode(&mut &value.unwrap().0[..]).unwrap())
    };
    assert_eq!(
        next_number().await,
        (hash(&node, 1_500), 1_500),
        "the value now"
    );
    node.advance(2);
    assert_eq!(next_number().await, (hash(&node, 1_501), 1_501));
    assert_eq!(next_number().await, (hash(&node, 1_502), 1_502));

    // Only what changed is pushed: the subnet size stays, the number moves.
    let client = raw(&node).await;
    let number_key = hex0x(
        &api.metadata()
            .storage_value_key("System", "Number")
            .unwrap()
            .0,
    );
    let size_key = hex0x(
        &api.metadata()
            .storage_map_key("SubtensorModule", "SubnetworkN", 64u16)
            .unwrap()
            .0,
    );
    let mut sets = jsonrpsee::core::client::SubscriptionClientT::subscribe::<Value, _>(
        &client,
        "state_subscribeStorage",
        rpc_params![vec![number_key.clone(), size_key.clone()]],
        "state_unsubscribeStorage",
    )
    .await
    .unwrap();
    let first = sets.next().await.unwrap().unwrap();
    assert_eq!(first["changes"].as_array().unwrap().len(), 2);
    node.advance(1);
    let second = tokio::time::timeout(Duration::from_secs(5), sets.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        second["block"],
        json!(hex0x(&node.block_hash(1_503).unwrap()))
    );
    assert_eq!(
        second["changes"],
        json!([[number_key, hex0x(&1_503u32.to_le_bytes())]])
    );
}

#[tokio::test]
async fn the_runtime_version_comes_from_state_call_core_version() {
    let (_node, api) = start().await;
    let version = api.runtime_api().version(None).await.unwrap();
    assert_eq!(&version, api.runtime_version());
    assert_eq!(version.spec_name, "node-subtensor");
    // The runtime APIs the node answers are declared in the version.
    let core = sp_core::hashing::blake2_64(b"Core");
    assert!(version.apis.iter().any(|(id, v)| *id == core && *v >= 1));
    let metadata = api.runtime_api().metadata(None).await.unwrap();
    assert!(metadata.pallet_by_name("SubtensorModule").is_some());
}

/// The number of the next header a subscription pushes.
async fn next(s: &mut jsonrpsee::core::client::Subscription<Value>) -> u32 {
    let header = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("a header within 5 s")
        .unwrap()
        .unwrap();
    u32::from_str_radix(
        header["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

#[tokio::test]
async fn metadata_v15_with_the_runtime_apis_is_served_through_state_call() {
    // The bittensor SDK's first call: V15 metadata, for its runtime API types.
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = raw(&node).await;
    let call = |version: u32| {
        let client = &client;
        async move {
            let answer: String = client
                .request(
                    "state_call",
                    rpc_params![
                        "Metadata_metadata_at_version",
                        hex0x(&version.to_le_bytes())
                    ],
                )
                .await
                .unwrap();
            let bytes = hex::decode(answer.trim_start_matches("0x")).unwrap();
            Option::<Vec<u8>>::decode(&mut &bytes[..]).unwrap()
        }
    };
    use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let v15 = call(15).await.expect("V15 is served");
    let RuntimeMetadataPrefixed(_, RuntimeMetadata::V15(m)) =
        RuntimeMetadataPrefixed::decode(&mut &v15[..]).unwrap()
    else {
        panic!("not V15")
    };
    let neuron_info = m
        .apis
        .iter()
        .find(|api| api.name == "NeuronInfoRuntimeApi")
        .unwrap();
    assert_eq!(neuron_info.methods[0].name, "get_neurons_lite");
    assert!(call(14).await.is_some());
    assert_eq!(call(16).await, None, "a version the runtime does not have");
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn code(e: ClientError) -> i32 {
    match e {
        ClientError::Call(e) => e.code(),
        other => panic!("not a JSON-RPC error: {other}"),
    }
}

/// The standard Substrate methods third-party clients call (the
/// `system_`, `chain_`, `state_` and `author_` families), by name.
const STANDARD: &[&str] = &[
    "rpc_methods",
    "system_name",
    "system_version",
    "system_chain",
    "system_chainType",
    "system_properties",
    "system_health",
    "system_localPeerId",
    "system_peers",
    "system_nodeRoles",
    "system_syncState",
    "system_accountNextIndex",
    "chain_getHeader",
    "chain_getBlock",
    "chain_getBlockHash",
    "chain_getFinalizedHead",
    "chain_subscribeNewHeads",
    "chain_unsubscribeNewHeads",
    "chain_subscribeFinalizedHeads",
    "chain_unsubscribeFinalizedHeads",
    "chain_subscribeAllHeads",
    "chain_unsubscribeAllHeads",
    "state_getStorage",
    "state_getStorageAt",
    "state_getStorageHash",
    "state_getStorageSize",
    "state_getKeys",
    "state_getKeysPaged",
    "state_getKeysPagedAt",
    "state_queryStorageAt",
    "state_getMetadata",
    "state_getRuntimeVersion",
    "state_subscribeRuntimeVersion",
    "state_subscribeStorage",
    "state_unsubscribeStorage",
    "state_call",
    "author_submitExtrinsic",
    "author_submitAndWatchExtrinsic",
    "author_pendingExtrinsics",
];

#[tokio::test]
async fn rpc_methods_lists_every_method_the_node_serves() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = raw(&node).await;
    let answer: Value = client.request("rpc_methods", rpc_params![]).await.unwrap();
    let listed: Vec<String> = serde_json::from_value(answer["methods"].clone()).unwrap();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "sorted, as Substrate lists them");
    for name in STANDARD {
        assert!(listed.iter().any(|m| m == name), "{name} is not listed");
    }
    // Everything listed is served: called without parameters, a method
    // answers or complains about its parameters, never "method not found".
    for name in &listed {
        if let Err(e) = client.request::<Value, _>(name, rpc_params![]).await {
            assert_ne!(code(e), -32601, "{name} is listed but not served");
        }
    }
    let e = client
        .request::<Value, _>("state_getChildStorage", rpc_params![])
        .await
        .unwrap_err();
    assert_eq!(code(e), -32601, "an unlisted method is not found");
}

#[tokio::test]
async fn bad_parameters_are_substrate_like_errors_not_panics() {
    let node = ChainNode::start(&genesis(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = raw(&node).await;
    let unknown = hex0x(&[7u8; 32]);
    let cases: Vec<(&str, Vec<Value>, i32)> = vec![
        ("state_getStorage", vec![json!("0xzz")], -32602),
        ("state_getStorage", vec![json!(17)], -32602),
        (
            "state_getStorage",
            vec![json!("0x00"), json!(unknown)],
            4003,
        ),
        (
            "state_getStorage",
            vec![json!("0x00"), json!("0x1234")],
            -32602,
        ),
        ("state_getKeysPaged", vec![json!("0x"), json!(1_001)], 4002),
        ("state_getKeysPaged", vec![json!("0x"), json!(-1)], -32602),
        (
            "state_getKeysPaged",
            vec![json!("0x"), json!(5), json!("nothex")],
            -32602,
        ),
        ("state_queryStorageAt", vec![json!("0x00")], -32602),
        ("chain_getBlockHash", vec![json!(-1)], -32602),
        ("chain_getBlockHash", vec![json!(1.5)], -32602),
        ("chain_getBlockHash", vec![json!("0xzz")], -32602),
        ("chain_getBlockHash", vec![json!(u64::MAX)], 3001),
        ("chain_getBlockHash", vec![json!([1, {}])], -32602),
        ("chain_getHeader", vec![json!(12)], -32602),
        (
            "state_call",
            vec![json!("Core_version"), json!("0xzz")],
            -32602,
        ),
        ("state_call", vec![json!("Nope_nothing"), json!("0x")], 4003),
        (
            "state_call",
            vec![
                json!("NeuronInfoRuntimeApi_get_neurons_lite"),
                json!("0x01"),
            ],
            4003,
        ),
        (
            "system_accountNextIndex",
            vec![json!("not an address")],
            -32602,
        ),
        ("author_submitExtrinsic", vec![json!("0x0102")], 1001),
    ];
    for (method, params, want) in cases {
        let mut p = jsonrpsee::core::params::ArrayParams::new();
        for v in &params {
            p.insert(v).unwrap();
        }
        let e = client
            .request::<Value, _>(method, p)
            .await
            .expect_err(&format!("{method} {params:?} must be refused"));
        assert_eq!(code(e), want, "{method} {params:?}");
    }
    let health: Value = client
        .request("system_health", rpc_params![])
        .await
        .unwrap();
    assert_eq!(health["isSyncing"], json!(false), "still serving");
    // Lists and hex numbers are block numbers too.
    let hashes: Value = client
        .request(
            "chain_getBlockHash",
            rpc_params![json!([0, "0x10", 99_999])],
        )
        .await
        .unwrap();
    assert_eq!(
        hashes,
        json!([
            hex0x(&node.block_hash(0).unwrap()),
            hex0x(&node.block_hash(16).unwrap()),
            null
        ])
    );
}
#[tokio::test]
async fn the_dev_accounts_are_endowed() {
    let (_node, api) = start().await;
    for who in Sr25519Keyring::iter() {
        let info: Option<substrate_api_client::ac_primitives::AccountInfo<u32, _>> = api
            .get_storage_map::<_, substrate_api_client::ac_primitives::AccountInfo<
                u32,
                substrate_api_client::ac_primitives::AccountData<u64>,
            >>("System", "Account", account(who), None)
            .await
            .unwrap();
        let info = info.unwrap_or_else(|| panic!("{who} has no account"));
        assert_eq!(info.data.free, devnet_chain::DEV_ENDOWMENT_RAO, "{who}");
    }
}
