//! The JSON-RPC methods the node serves, named and shaped as a Substrate
//! node serves them (`substrate/client/rpc-api`), answered from its state:
//! `chain_*`, `state_*`, `system_*`, `author_*`, their aliases, and
//! `rpc_methods` listing all of them.

mod author;
mod chain;
mod params;
mod state;
mod system;

use jsonrpsee::server::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{json, Value};

use crate::state::Shared;

/// Every method the node serves, on `state`.
pub(crate) fn rpc_module(state: Shared) -> RpcModule<Shared> {
    let mut module = RpcModule::new(state);
    chain::register(&mut module);
    state::register(&mut module);
    system::register(&mut module);
    author::register(&mut module);
    for (alias, method) in chain::ALIASES.iter().chain(state::ALIASES) {
        module
            .register_alias(alias, method)
            .expect("alias of a method");
    }
    register_rpc_methods(&mut module);
    module
}

/// `rpc_methods`: the registered names (methods, subscriptions, their
/// unsubscribes and aliases) read back from the module, sorted, as a
/// Substrate node lists them; never a second list to keep in step.
fn register_rpc_methods(module: &mut RpcModule<Shared>) {
    let mut names: Vec<&'static str> = module.method_names().collect();
    names.push("rpc_methods");
    names.sort_unstable();
    method(module, "rpc_methods", move |_, _| {
        Ok(json!({"methods": names}))
    });
}

/// Blocks a subscriber is told of when the head jumps far at once: a real
/// node announces the blocks it imports during a major sync sparsely too.
const MAX_BLOCKS_PER_MOVE: u32 = 256;

/// The blocks to announce when the head moves from `last` to `head`: each
/// new one, or the newest [`MAX_BLOCKS_PER_MOVE`] of a long jump.
fn new_blocks(last: u32, head: u32) -> std::ops::RangeInclusive<u32> {
    let first = last
        .saturating_add(1)
        .max(head.saturating_sub(MAX_BLOCKS_PER_MOVE - 1));
    first..=head
}

/// Registers a synchronous method answering JSON.
fn method<F>(module: &mut RpcModule<Shared>, name: &'static str, answer: F)
where
    F: Fn(Params<'_>, &Shared) -> Result<Value, ErrorObjectOwned> + Send + Sync + 'static,
{
    module
        .register_method(name, move |p, s, _| answer(p, s))
        .expect("unique method");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_jump_announces_only_its_newest_blocks() {
        assert_eq!(new_blocks(1_500, 1_503), 1_501..=1_503);
        assert!(new_blocks(1_503, 1_503).is_empty(), "no move, nothing new");
        let jump = new_blocks(0, 4_800_000);
        assert_eq!(jump.clone().count(), MAX_BLOCKS_PER_MOVE as usize);
        assert_eq!(*jump.end(), 4_800_000);
    }
}
