//! `author_*`: transactions in. The devnet includes an accepted
//! transaction in a new block at once, so the pool is always empty and a
//! watched transaction goes ready, in block and finalized in one go;
//! under the stall switch it stays `ready` for as long as it is watched.

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

use super::common;
use crate::state::{error, hex0x, lock, Shared};

pub(super) fn register(module: &mut RpcModule<Shared>) {
    common::method(module, "author_submitExtrinsic", |p, s| {
        let bytes = extrinsic_param(p.one()?)?;
        let submitted = lock(s).submit(&bytes)?;
        Ok(json!(hex0x(&submitted.hash)))
    });
    common::method(module, "author_pendingExtrinsics", |_, _| Ok(json!([])));
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, s, _| async move {
                let submitted =
                    params
                        .one::<String>()
                        .and_then(extrinsic_param)
                        .and_then(|bytes| {
                            let mut state = lock(&s);
                            let submitted = state.submit(&bytes)?;
                            // Hashed under the same lock: the block as included.
                            Ok(submitted.block.map(|b| state.block_hash(b)))
                        });
                let block = match submitted {
                    Ok(hash) => hash,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                let sink = pending.accept().await?;
                let Some(hash) = block else {
                    // Held in the pool: ready, and nothing more.
                    sink.send(serde_json::value::to_raw_value(&json!("ready"))?)
                        .await?;
                    sink.closed().await;
                    return Ok(());
                };
                let hash = hex0x(&hash);
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
}

/// The submitted bytes; not hex is the pool's format error.
fn extrinsic_param(hex_text: String) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(hex_text.trim_start_matches("0x"))
        .map_err(|_| error(1001, "Extrinsic has invalid format: not hex"))
}
