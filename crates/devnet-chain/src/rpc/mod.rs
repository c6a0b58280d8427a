//! The JSON-RPC methods the node serves, named and shaped as a Substrate
//! node serves them (`substrate/client/rpc-api`), answered from its state:
//! `chain_*`, `state_*`, `system_*`, `author_*`, their aliases, and
//! `rpc_methods` listing all of them.

mod author;
mod chain;
mod common;
mod params;
mod state;
mod system;

use jsonrpsee::server::RpcModule;
use serde_json::json;

use crate::state::Shared;
use common::method;

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
