//! The runtime APIs the node answers through `state_call`, in one table:
//! the same table lists them, with their versions, in the runtime
//! version's `apis`, so what the node declares and what it answers agree.

use std::borrow::Cow;

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Decode, Encode};
use sp_version::RuntimeVersion;

use crate::extrinsic;
use crate::state::{error, State};

/// A runtime API method: the state, the block it runs at, the SCALE input.
type Method = fn(&State, u32, &mut &[u8]) -> Result<Vec<u8>, CallError>;

/// A runtime API trait: its name, version and methods.
struct Api {
    name: &'static str,
    version: u32,
    methods: &'static [(&'static str, Method)],
}

/// Why a runtime call fails.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// No API method has this name.
    #[error("Exported method {0} is not found")]
    NotFound(String),
    /// The input does not decode as the method's arguments.
    #[error("Bad input data provided to {method}: {source}")]
    BadInput {
        /// The method, as the runtime names it.
        method: &'static str,
        /// What decoding said.
        #[source]
        source: parity_scale_codec::Error,
    },
}

impl CallError {
    /// The error a Substrate node answers `state_call` with: a client
    /// error (4003) around the executor's words.
    pub(crate) fn rpc_error(&self) -> ErrorObjectOwned {
        let what = match self {
            CallError::NotFound(_) => format!("Other: {self}"),
            CallError::BadInput { .. } => format!("Runtime panicked: {self}"),
        };
        error(4003, format!("Client error: Execution failed: {what}"))
    }
}

/// The versions are those of the Substrate and subtensor releases whose
/// shapes the node serves.
const APIS: &[Api] = &[
    Api {
        name: "Core",
        version: 5,
        methods: &[("version", core_version)],
    },
    Api {
        name: "Metadata",
        version: 2,
        methods: &[
            ("metadata", metadata),
            ("metadata_at_version", metadata_at_version),
            ("metadata_versions", metadata_versions),
        ],
    },
    Api {
        name: "AccountNonceApi",
        version: 1,
        methods: &[("account_nonce", account_nonce)],
    },
    Api {
        name: "NeuronInfoRuntimeApi",
        version: 1,
        methods: &[("get_neurons_lite", neurons_lite)],
    },
];

/// The runtime version `state_getRuntimeVersion` and `Core_version` report.
pub(crate) fn runtime_version() -> RuntimeVersion {
    RuntimeVersion {
        spec_name: Cow::Borrowed("node-subtensor"),
        impl_name: Cow::Borrowed("chutes-audit-devnet"),
        authoring_version: 1,
        spec_version: extrinsic::SPEC_VERSION,
        impl_version: 1,
        // An API's id is the blake2-64 of its trait name, as sp-api derives it.
        apis: Cow::Owned(
            APIS.iter()
                .map(|api| {
                    (
                        sp_core::hashing::blake2_64(api.name.as_bytes()),
                        api.version,
                    )
                })
                .collect(),
        ),
        transaction_version: extrinsic::TRANSACTION_VERSION,
        system_version: 1,
    }
}

/// Runs `Trait_method` (`Core_version`, ...) at `block` on `input`.
pub(crate) fn call(
    state: &State,
    block: u32,
    name: &str,
    input: &[u8],
) -> Result<Vec<u8>, CallError> {
    let method = APIS
        .iter()
        .flat_map(|api| api.methods.iter().map(move |m| (api.name, m)))
        .find(|(api, (method, _))| {
            name.strip_prefix(api)
                .and_then(|rest| rest.strip_prefix('_'))
                == Some(method)
        })
        .map(|(_, (_, run))| run)
        .ok_or_else(|| CallError::NotFound(name.to_string()))?;
    method(state, block, &mut &input[..])
}

/// Decodes a method's argument the way the runtime does.
fn arg<T: Decode>(method: &'static str, input: &mut &[u8]) -> Result<T, CallError> {
    T::decode(input).map_err(|source| CallError::BadInput { method, source })
}

fn core_version(_: &State, _: u32, _: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    Ok(runtime_version().encode())
}

/// `OpaqueMetadata`: the prefixed metadata as a byte vector.
fn metadata(state: &State, _: u32, _: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    Ok(state.metadata.encode())
}

/// Only V14 is served: other versions are `None`, as a runtime without
/// them answers.
fn metadata_at_version(state: &State, _: u32, input: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    let version: u32 = arg("metadata_at_version", input)?;
    Ok((version == 14).then(|| state.metadata.clone()).encode())
}

fn metadata_versions(_: &State, _: u32, _: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    Ok(vec![14u32].encode())
}

fn account_nonce(state: &State, _: u32, input: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    let account: [u8; 32] = arg("account_nonce", input)?;
    Ok(state.nonce(&account).encode())
}

/// The subnet's neurons; another netuid has none.
fn neurons_lite(state: &State, _: u32, input: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    let netuid: u16 = arg("get_neurons_lite", input)?;
    let neurons = if netuid == state.netuid {
        state.neurons_lite()
    } else {
        Vec::new()
    };
    Ok(neurons.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_api_ids_are_the_ones_substrate_derives() {
        let version = runtime_version();
        // Core's id as every Substrate runtime declares it.
        let core = [0xdf, 0x6a, 0xcb, 0x68, 0x99, 0x07, 0x60, 0x9b];
        assert!(version.apis.iter().any(|(id, v)| *id == core && *v == 5));
        assert_eq!(version.apis.len(), APIS.len());
    }
}
