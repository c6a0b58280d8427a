//! `state_*`: storage reads at a block, keys in key order with paging,
//! the metadata, the runtime version and runtime API calls.

use std::collections::BTreeMap;

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::PendingSubscriptionSink;
use serde_json::{json, Value};

use super::{common, params};
use crate::runtime_api;
use crate::state::{error, hex0x, lock, Shared, State};

/// The most keys one `state_getKeysPaged` answers, as on a Substrate node.
const KEYS_PAGED_MAX_COUNT: u32 = 1000;

/// `(alias, method)`.
pub(super) const ALIASES: &[(&str, &str)] = &[
    ("state_getStorageAt", "state_getStorage"),
    ("state_getStorageHashAt", "state_getStorageHash"),
    ("state_getStorageSizeAt", "state_getStorageSize"),
    ("state_getKeysPagedAt", "state_getKeysPaged"),
    ("state_callAt", "state_call"),
    ("chain_getRuntimeVersion", "state_getRuntimeVersion"),
    (
        "chain_subscribeRuntimeVersion",
        "state_subscribeRuntimeVersion",
    ),
    (
        "chain_unsubscribeRuntimeVersion",
        "state_unsubscribeRuntimeVersion",
    ),
];

pub(super) fn register(module: &mut RpcModule<Shared>) {
    common::method(module, "state_getStorage", |p, s| {
        Ok(json!(read(&p, s)?.map(|v| hex0x(&v))))
    });
    common::method(module, "state_getStorageHash", |p, s| {
        let value = read(&p, s)?;
        Ok(json!(
            value.map(|v| hex0x(&sp_core::hashing::blake2_256(&v)))
        ))
    });
    common::method(module, "state_getReadProof", |p, s| {
        let mut seq = p.sequence();
        let keys: Vec<String> = seq.next()?;
        let keys = keys
            .iter()
            .map(|k| params::bytes(k))
            .collect::<Result<Vec<_>, _>>()?;
        let at = params::at(seq.optional_next()?)?;
        let mut state = lock(s);
        let block = state.read_at(at)?;
        let proof: Vec<String> = state
            .served_proof(block, &keys)
            .iter()
            .map(|n| hex0x(n))
            .collect();
        Ok(json!({"at": hex0x(&state.block_hash(block)), "proof": proof}))
    });
    common::method(module, "state_getStorageSize", |p, s| {
        Ok(json!(read(&p, s)?.map(|v| v.len())))
    });
    common::method(module, "state_getKeys", |p, s| {
        let mut seq = p.sequence();
        let prefix = params::bytes(&seq.next::<String>()?)?;
        let at = params::at(seq.optional_next()?)?;
        let mut state = lock(s);
        let block = state.read_at(at)?;
        let keys = keys_after(&state, block, &prefix, None, usize::MAX);
        Ok(json!(keys))
    });
    common::method(module, "state_getKeysPaged", |p, s| {
        let mut seq = p.sequence();
        let prefix: Option<String> = seq.optional_next()?;
        let count: u32 = seq.next()?;
        let start: Option<String> = seq.optional_next()?;
        let at = params::at(seq.optional_next()?)?;
        if count > KEYS_PAGED_MAX_COUNT {
            return Err(error(
                4002,
                format!("count exceeds maximum value. value: {count}, max: {KEYS_PAGED_MAX_COUNT}"),
            ));
        }
        let prefix = prefix.as_deref().map(params::bytes).transpose()?;
        let start = start.as_deref().map(params::bytes).transpose()?;
        let mut state = lock(s);
        let block = state.read_at(at)?;
        let keys = keys_after(
            &state,
            block,
            prefix.as_deref().unwrap_or_default(),
            start.as_deref(),
            count as usize,
        );
        Ok(json!(keys))
    });
    common::method(module, "state_queryStorageAt", |p, s| {
        let mut seq = p.sequence();
        let keys: Vec<String> = seq.next()?;
        let at = params::at(seq.optional_next()?)?;
        let keys = keys
            .iter()
            .map(|k| params::bytes(k))
            .collect::<Result<Vec<_>, _>>()?;
        let mut state = lock(s);
        let block = state.read_at(at)?;
        let changes: Vec<Value> = keys
            .iter()
            .map(|k| json!([hex0x(k), state.served(k, block).map(|v| hex0x(&v))]))
            .collect();
        Ok(json!([{"block": hex0x(&state.block_hash(block)), "changes": changes}]))
    });
    common::method(module, "state_getMetadata", |p, s| {
        let state = lock(s);
        state.block_at(at(&p)?)?;
        Ok(json!(hex0x(&state.metadata)))
    });
    common::method(module, "state_getRuntimeVersion", |p, s| {
        lock(s).block_at(at(&p)?)?;
        serde_json::to_value(runtime_api::runtime_version())
            .map_err(|e| error(-32603, e.to_string()))
    });
    common::method(module, "state_call", |p, s| {
        let mut seq = p.sequence();
        let method: String = seq.next()?;
        let data = params::bytes(&seq.next::<String>()?)?;
        let at = params::at(seq.optional_next()?)?;
        let mut state = lock(s);
        let block = state.read_at(at)?;
        let out = runtime_api::call(&state, block, &method, &data).map_err(|e| e.rpc_error())?;
        Ok(json!(hex0x(&out)))
    });
    // The runtime never upgrades: the version is sent once.
    module
        .register_subscription(
            "state_subscribeRuntimeVersion",
            "state_runtimeVersion",
            "state_unsubscribeRuntimeVersion",
            |_, pending, _, _| async move {
                let sink = pending.accept().await?;
                let version = serde_json::value::to_raw_value(&runtime_api::runtime_version())?;
                sink.send(version).await?;
                sink.closed().await;
                SubscriptionResult::Ok(())
            },
        )
        .expect("unique method");
    module
        .register_subscription(
            "state_subscribeStorage",
            "state_storage",
            "state_unsubscribeStorage",
            |p, pending, s, _| async move {
                match watched_keys(&p) {
                    Ok(keys) => follow_storage(pending, &s, keys).await,
                    Err(e) => {
                        pending.reject(e).await;
                        Ok(())
                    }
                }
            },
        )
        .expect("unique method");
}

/// `state_subscribeStorage`'s optional key list (`None`: every key).
fn watched_keys(p: &Params<'_>) -> Result<Option<Vec<Vec<u8>>>, ErrorObjectOwned> {
    let keys: Option<Vec<String>> = p.sequence().optional_next()?;
    keys.map(|keys| keys.iter().map(|k| params::bytes(k)).collect())
        .transpose()
}

/// The watched keys' values at `block`.
fn watched(
    state: &State,
    keys: Option<&[Vec<u8>]>,
    block: u32,
) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let read = |k: Vec<u8>| {
        let value = state.served(&k, block);
        (k, value)
    };
    match keys {
        Some(keys) => keys.iter().cloned().map(read).collect(),
        None => state
            .keys(block, &[], None, usize::MAX)
            .into_iter()
            .map(read)
            .collect(),
    }
}

/// A `StorageChangeSet` as a notification.
fn change_set<'a>(
    block_hash: [u8; 32],
    changes: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
) -> Result<Box<serde_json::value::RawValue>, serde_json::Error> {
    let changes: Vec<Value> = changes
        .map(|(k, v)| json!([hex0x(k), v.as_ref().map(|v| hex0x(v))]))
        .collect();
    serde_json::value::to_raw_value(&json!({"block": hex0x(&block_hash), "changes": changes}))
}

/// As a Substrate node: the watched keys' values at the head first (for
/// an explicit key list), then, per new block, the keys whose value
/// changed; until the subscriber leaves or the node stops.
async fn follow_storage(
    pending: PendingSubscriptionSink,
    s: &Shared,
    keys: Option<Vec<Vec<u8>>>,
) -> SubscriptionResult {
    let (mut moves, mut last, mut values, head_hash) = {
        let state = lock(s);
        let head = state.head();
        (
            state.watch_heads(),
            head,
            watched(&state, keys.as_deref(), head),
            state.block_hash(head),
        )
    };
    let sink = pending.accept().await?;
    if keys.is_some() {
        sink.send(change_set(head_hash, values.iter())?).await?;
    }
    loop {
        tokio::select! {
            moved = moves.changed() => if moved.is_err() { return Ok(()) },
            _ = sink.closed() => return Ok(()),
        }
        let head = *moves.borrow_and_update();
        for block in common::new_blocks(last, head) {
            let (now, hash) = {
                let state = lock(s);
                (
                    watched(&state, keys.as_deref(), block),
                    state.block_hash(block),
                )
            };
            let gone: BTreeMap<Vec<u8>, Option<Vec<u8>>> = values
                .keys()
                .filter(|k| !now.contains_key(*k))
                .map(|k| (k.clone(), None))
                .collect();
            let changed: Vec<_> = now
                .iter()
                .filter(|(k, v)| values.get(*k) != Some(v))
                .chain(gone.iter())
                .collect();
            if !changed.is_empty() {
                sink.send(change_set(hash, changed.into_iter())?).await?;
            }
            values = now;
        }
        last = last.max(head);
    }
}

/// The optional block hash parameter, first.
fn at(p: &Params<'_>) -> Result<Option<[u8; 32]>, ErrorObjectOwned> {
    params::at(p.sequence().optional_next()?)
}

/// `(key, at?)`: the value under the key at the block.
fn read(p: &Params<'_>, s: &Shared) -> Result<Option<Vec<u8>>, ErrorObjectOwned> {
    let mut seq = p.sequence();
    let key = params::bytes(&seq.next::<String>()?)?;
    let at = params::at(seq.optional_next()?)?;
    let mut state = lock(s);
    let block = state.read_at(at)?;
    Ok(state.served(&key, block))
}

/// Up to `count` keys under `prefix` after `start` (not including it),
/// in key order, as hex.
fn keys_after(
    state: &State,
    block: u32,
    prefix: &[u8],
    start: Option<&[u8]>,
    count: usize,
) -> Vec<String> {
    state
        .keys(block, prefix, start, count)
        .iter()
        .map(|k| hex0x(k))
        .collect()
}
