//! `chain_*`: block hashes, headers, blocks and the header subscriptions.
//! The devnet has one author and instant finality, so the best head is
//! also the finalized one and every block is new, best and final at once.

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::server::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use serde_json::{json, Value};

use super::{common, params};
use crate::state::{hex0x, lock, Shared, State};

/// The subscriptions, as `(subscribe, notification, unsubscribe)` and
/// their aliases, as the Substrate node names them.
const SUBSCRIPTIONS: [(&str, &str, &str); 3] = [
    (
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
    ),
    (
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
    ),
    (
        "chain_subscribeAllHeads",
        "chain_allHead",
        "chain_unsubscribeAllHeads",
    ),
];

/// `(alias, method)`.
pub(super) const ALIASES: &[(&str, &str)] = &[
    ("chain_getHead", "chain_getBlockHash"),
    ("chain_getFinalisedHead", "chain_getFinalizedHead"),
    ("subscribe_newHead", "chain_subscribeNewHeads"),
    ("chain_subscribeNewHead", "chain_subscribeNewHeads"),
    ("unsubscribe_newHead", "chain_unsubscribeNewHeads"),
    ("chain_unsubscribeNewHead", "chain_unsubscribeNewHeads"),
    (
        "chain_subscribeFinalisedHeads",
        "chain_subscribeFinalizedHeads",
    ),
    (
        "chain_unsubscribeFinalisedHeads",
        "chain_unsubscribeFinalizedHeads",
    ),
];

pub(super) fn register(module: &mut RpcModule<Shared>) {
    common::method(module, "chain_getBlockHash", |p, s| {
        let number: Option<Value> = p.sequence().optional_next()?;
        let state = lock(s);
        let hash_of = |v: &Value| -> Result<Value, ErrorObjectOwned> {
            let n = params::block_number(v)?;
            Ok(json!(
                (n <= state.head()).then(|| hex0x(&state.block_hash(n)))
            ))
        };
        match number {
            None | Some(Value::Null) => Ok(json!(hex0x(&state.block_hash(state.head())))),
            Some(Value::Array(list)) => list.iter().map(hash_of).collect::<Result<Value, _>>(),
            Some(one) => hash_of(&one),
        }
    });
    common::method(module, "chain_getFinalizedHead", |_, s| {
        let state = lock(s);
        Ok(json!(hex0x(&state.block_hash(state.head()))))
    });
    common::method(module, "chain_getHeader", |p, s| {
        let state = lock(s);
        Ok(match state.known_block(at(&p)?) {
            Some(block) => state.served_header_json(block),
            None => Value::Null,
        })
    });
    common::method(module, "chain_getBlock", |p, s| {
        let state = lock(s);
        let Some(block) = state.known_block(at(&p)?) else {
            return Ok(Value::Null);
        };
        let extrinsics: Vec<String> = state
            .bodies
            .get(&block)
            .map(|b| b.extrinsics.iter().map(|x| hex0x(x)).collect())
            .unwrap_or_default();
        Ok(json!({
            "block": {"header": state.served_header_json(block), "extrinsics": extrinsics},
            "justifications": null,
        }))
    });
    for (subscribe, notification, unsubscribe) in SUBSCRIPTIONS {
        module
            .register_subscription(
                subscribe,
                notification,
                unsubscribe,
                |_, pending, s, _| async move { follow_heads(pending, &s).await },
            )
            .expect("unique method");
    }
}

/// The optional block hash parameter.
fn at(p: &Params<'_>) -> Result<Option<[u8; 32]>, ErrorObjectOwned> {
    params::at(p.sequence().optional_next()?)
}

/// Sends the current head's header, then one per block as the head moves
/// (see [`common::new_blocks`]), until the subscriber leaves or the node
/// stops.
async fn follow_heads(pending: PendingSubscriptionSink, s: &Shared) -> SubscriptionResult {
    let (mut moves, mut last) = {
        let state = lock(s);
        (state.watch_heads(), state.head())
    };
    let sink = pending.accept().await?;
    // Built before the await: the state lock must not be held across it.
    let current = message(&lock(s), last)?;
    sink.send(current).await?;
    loop {
        tokio::select! {
            moved = moves.changed() => if moved.is_err() { return Ok(()) },
            _ = sink.closed() => return Ok(()),
        }
        let head = *moves.borrow_and_update();
        for block in common::new_blocks(last, head) {
            let header = message(&lock(s), block)?;
            sink.send(header).await?;
        }
        last = last.max(head);
    }
}

fn message(state: &State, block: u32) -> Result<SubscriptionMessage, serde_json::Error> {
    Ok(serde_json::value::to_raw_value(&state.served_header_json(block))?.into())
}
