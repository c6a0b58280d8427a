//! The JSON-RPC methods the node serves, answered from its state.

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use subtensor::keys::public_key;
use subtensor::runtime;

use crate::extrinsic;
use crate::state::{block_hash, error, hex0x, lock, Shared};

fn extrinsic_param(hex_text: String) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(hex_text.trim_start_matches("0x"))
        .map_err(|_| error(1001, "Extrinsic has invalid format: not hex"))
}

pub(crate) fn rpc_module(state: Shared) -> RpcModule<Shared> {
    let mut module = RpcModule::new(state);
    module
        .register_method("chain_getBlockHash", move |params, s, _| {
            let number: Option<u32> = params.sequence().optional_next().unwrap_or(None);
            let state = lock(s);
            let n = number.unwrap_or(state.head);
            Ok::<_, ErrorObjectOwned>((n <= state.head).then(|| hex0x(&block_hash(n))))
        })
        .expect("unique method");
    module
        .register_method("chain_getFinalizedHead", move |_, s, _| {
            Ok::<_, ErrorObjectOwned>(hex0x(&block_hash(lock(s).head)))
        })
        .expect("unique method");
    module
        .register_method("chain_getHeader", move |params, s, _| {
            let at: Option<String> = params.sequence().optional_next().unwrap_or(None);
            let state = lock(s);
            // Headers outlive pruned state, as on a real node.
            let Some(block) = state.known_block(at)? else {
                return Ok(Value::Null);
            };
            Ok::<_, ErrorObjectOwned>(state.header(block))
        })
        .expect("unique method");
    module
        .register_method("state_getStorage", move |params, s, _| {
            let mut seq = params.sequence();
            let key_hex: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let key_bytes = hex::decode(key_hex.trim_start_matches("0x"))
                .map_err(|_| error(-32602, "invalid storage key"))?;
            let state = lock(s);
            let block = state.block_at(at)?;
            Ok::<_, ErrorObjectOwned>(state.storage(&key_bytes, block).map(|v| hex0x(&v)))
        })
        .expect("unique method");
    module
        .register_method("state_call", move |params, s, _| {
            let mut seq = params.sequence();
            let method: String = seq.next()?;
            let data: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let state = lock(s);
            state.block_at(at)?;
            match method.as_str() {
                "NeuronInfoRuntimeApi_get_neurons_lite" => {
                    let bytes = hex::decode(data.trim_start_matches("0x"))
                        .map_err(|_| error(-32602, "invalid call data"))?;
                    let netuid = u16::from_le_bytes(
                        bytes
                            .get(..2)
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(|| error(-32602, "call data is not a u16 netuid"))?,
                    );
                    let neurons = if netuid == state.netuid {
                        state.neurons_lite()
                    } else {
                        Vec::new()
                    };
                    Ok(hex0x(&neurons.encode()))
                }
                other => Err(error(
                    4003,
                    format!("Client error: Execution failed: Exported method {other} is not found"),
                )),
            }
        })
        .expect("unique method");
    module
        .register_method("state_getMetadata", move |_, s, _| {
            Ok::<_, ErrorObjectOwned>(hex0x(&lock(s).metadata))
        })
        .expect("unique method");
    module
        .register_method("state_getRuntimeVersion", move |_, _, _| {
            Ok::<_, ErrorObjectOwned>(json!({
                "specName": "node-subtensor",
                "implName": "chutes-audit-devnet",
                "authoringVersion": 1,
                "specVersion": extrinsic::SPEC_VERSION,
                "implVersion": 1,
                "apis": [],
                "transactionVersion": extrinsic::TRANSACTION_VERSION,
                "systemVersion": 1,
                "stateVersion": 1,
            }))
        })
        .expect("unique method");
    module
        .register_method("system_accountNextIndex", move |params, s, _| {
            let address: String = params.one()?;
            let account =
                public_key(&address).map_err(|e| error(-32602, format!("invalid account: {e}")))?;
            Ok::<_, ErrorObjectOwned>(lock(s).nonce(&account))
        })
        .expect("unique method");
    module
        .register_method("chain_getBlock", move |params, s, _| {
            let at: Option<String> = params.sequence().optional_next().unwrap_or(None);
            let state = lock(s);
            let Some(block) = state.known_block(at)? else {
                return Ok(Value::Null);
            };
            let extrinsics: Vec<String> = state
                .bodies
                .get(&block)
                .map(|b| b.extrinsics.iter().map(|x| hex0x(x)).collect())
                .unwrap_or_default();
            Ok::<_, ErrorObjectOwned>(json!({
                "block": {"header": state.header(block), "extrinsics": extrinsics},
                "justifications": null,
            }))
        })
        .expect("unique method");
    module
        .register_method("author_submitExtrinsic", move |params, s, _| {
            let bytes = extrinsic_param(params.one()?)?;
            let (_, hash) = lock(s).submit(&bytes)?;
            Ok::<_, ErrorObjectOwned>(hex0x(&hash))
        })
        .expect("unique method");
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, s, _| async move {
                let submitted = params
                    .one::<String>()
                    .and_then(extrinsic_param)
                    .and_then(|bytes| lock(&s).submit(&bytes));
                let block = match submitted {
                    Ok((block, _)) => block,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                // Included at once and final at once: the devnet has one
                // author and no forks.
                let sink = pending.accept().await?;
                let hash = hex0x(&block_hash(block));
                for status in [
                    json!("ready"),
                    json!({"inBlock": hash}),
                    json!({"finalized": hash}),
                ] {
                    sink.send(serde_json::value::to_raw_value(&status)?).await?;
                }
                SubscriptionResult::Ok(())
            },
        )
        .expect("unique method");
    module
        .register_method("system_chain", |_, _, _| {
            Ok::<_, ErrorObjectOwned>("Bittensor devnet")
        })
        .expect("unique method");
    module
        .register_method("system_name", |_, _, _| {
            Ok::<_, ErrorObjectOwned>("chutes-audit devnet-chain")
        })
        .expect("unique method");
    module
        .register_method("system_properties", |_, _, _| {
            Ok::<_, ErrorObjectOwned>(json!({"ss58Format": runtime::SS58_PREFIX, "tokenDecimals": 9, "tokenSymbol": "TAO"}))
        })
        .expect("unique method");
    module
}
