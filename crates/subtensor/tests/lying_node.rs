//! A node (or a gateway in front of one) that answers a commitment read
//! with an error that merely mentions pruning: only Substrate's own
//! "State already discarded" may make an entry unverifiable; anything
//! else is an ordinary failure the auditor retries.

use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use subtensor::{ChainError, ClientOptions, CommitmentAt, SubtensorClient};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// A node that knows every block (one header, whose hash it names for
/// every number) and answers every storage read, plain or proven, with
/// `error`.
async fn lying_node(error: &'static str) -> (String, ServerHandle) {
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let header = subtensor::proof::Header {
        parent_hash: [0x22; 32].into(),
        number: 4_812_345,
        state_root: [0x33; 32].into(),
        extrinsics_root: [0x44; 32].into(),
        digest: Default::default(),
    };
    let hash = format!("0x{}", hex::encode(subtensor::proof::header_hash(&header)));
    let header = serde_json::json!({
        "parentHash": format!("0x{}", "22".repeat(32)),
        "number": format!("0x{:x}", 4_812_345),
        "stateRoot": format!("0x{}", "33".repeat(32)),
        "extrinsicsRoot": format!("0x{}", "44".repeat(32)),
        "digest": {"logs": []},
    });
    let mut module = RpcModule::new(());
    module
        .register_method("chain_getBlockHash", move |_, _, _| {
            Ok::<_, ErrorObjectOwned>(hash.clone())
        })
        .unwrap();
    module
        .register_method("chain_getHeader", move |_, _, _| {
            Ok::<_, ErrorObjectOwned>(header.clone())
        })
        .unwrap();
    for method in ["state_getStorage", "state_getReadProof"] {
        module
            .register_method(method, move |_, _, _| {
                Err::<Option<String>, _>(ErrorObjectOwned::owned(4003, error, None::<()>))
            })
            .unwrap();
    }
    (format!("ws://{addr}"), server.start(module))
}

async fn commitment(error: &'static str) -> Result<CommitmentAt, ChainError> {
    let (url, _handle) = lying_node(error).await;
    let client = SubtensorClient::connect(&url, ClientOptions::default())
        .await
        .unwrap();
    client.commitment(64, ALICE, 4_812_345).await
}

#[tokio::test]
async fn a_gateways_rate_limit_text_is_a_failure_not_pruned_state() {
    for error in [
        "request pruned by rate limiter",
        "Client error: UnknownBlock: unknown block 0x1111",
    ] {
        match commitment(error).await {
            Err(ChainError::Rpc { message, .. }) => assert!(message.contains(error)),
            other => panic!("{error:?} read as {other:?}"),
        }
    }
}

#[tokio::test]
async fn substrates_state_discarded_answer_is_pruned() {
    assert_eq!(
        commitment("Client error: State already discarded for 0x1111")
            .await
            .unwrap(),
        CommitmentAt::Pruned
    );
}
