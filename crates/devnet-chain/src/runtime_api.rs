//! The runtime APIs the node answers through `state_call`, in one table:
//! the same table lists them, with their versions, in the runtime
//! version's `apis`, so what the node declares and what it answers agree.

use std::borrow::Cow;

use frame_metadata::v15;
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Decode, Encode};
use scale_info::{meta_type, MetaType};
use sp_runtime::AccountId32;
use sp_version::RuntimeVersion;

use crate::extrinsic;
use crate::metadata::rpc_info::NeuronInfoLite;
use crate::state::{error, State};

/// A runtime API method: the state, the block it runs at, the SCALE input.
type Run = fn(&State, u32, &mut &[u8]) -> Result<Vec<u8>, CallError>;

/// A method's parameters (name, type) and output type, for V15 metadata.
type Signature = fn() -> (Vec<(&'static str, MetaType)>, MetaType);

/// A runtime API method: what runs and how the metadata describes it.
struct Method {
    name: &'static str,
    run: Run,
    signature: Signature,
}

/// A runtime API trait: its name, version and methods.
struct Api {
    name: &'static str,
    version: u32,
    methods: &'static [Method],
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
        methods: &[Method {
            name: "version",
            run: core_version,
            signature: || (vec![], meta_type::<RuntimeVersion>()),
        }],
    },
    Api {
        name: "Metadata",
        version: 2,
        methods: &[
            Method {
                name: "metadata",
                run: metadata,
                signature: || (vec![], meta_type::<Vec<u8>>()),
            },
            Method {
                name: "metadata_at_version",
                run: metadata_at_version,
                signature: || {
                    (
                        vec![("version", meta_type::<u32>())],
                        meta_type::<Option<Vec<u8>>>(),
                    )
                },
            },
            Method {
                name: "metadata_versions",
                run: metadata_versions,
                signature: || (vec![], meta_type::<Vec<u32>>()),
            },
        ],
    },
    Api {
        name: "AccountNonceApi",
        version: 1,
        methods: &[Method {
            name: "account_nonce",
            run: account_nonce,
            signature: || {
                (
                    vec![("account", meta_type::<AccountId32>())],
                    meta_type::<u32>(),
                )
            },
        }],
    },
    Api {
        name: "NeuronInfoRuntimeApi",
        version: 1,
        methods: &[Method {
            name: "get_neurons_lite",
            run: neurons_lite,
            signature: || {
                (
                    vec![("netuid", meta_type::<u16>())],
                    meta_type::<Vec<NeuronInfoLite>>(),
                )
            },
        }],
    },
];

/// The metadata versions the node serves.
const METADATA_VERSIONS: [u32; 2] = [14, 15];

/// The runtime APIs as V15 metadata describes them, from the same table.
pub(crate) fn apis_metadata() -> Vec<v15::RuntimeApiMetadata> {
    APIS.iter()
        .map(|api| v15::RuntimeApiMetadata {
            name: api.name,
            methods: api
                .methods
                .iter()
                .map(|m| {
                    let (inputs, output) = (m.signature)();
                    v15::RuntimeApiMethodMetadata {
                        name: m.name,
                        inputs: inputs
                            .into_iter()
                            .map(|(name, ty)| v15::RuntimeApiMethodParamMetadata { name, ty })
                            .collect(),
                        output,
                        docs: vec![],
                    }
                })
                .collect(),
            docs: vec![],
        })
        .collect()
}

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
        .find(|(api, m)| {
            name.strip_prefix(api)
                .and_then(|rest| rest.strip_prefix('_'))
                == Some(m.name)
        })
        .map(|(_, m)| m.run)
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

/// The V15 metadata: V14's types with the runtime APIs this table
/// answers, built once.
fn metadata_v15() -> &'static Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| crate::metadata::metadata_v15_bytes(apis_metadata()))
}

/// V14 and V15 are served: other versions are `None`, as a runtime
/// without them answers.
fn metadata_at_version(state: &State, _: u32, input: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    let version: u32 = arg("metadata_at_version", input)?;
    let metadata = match version {
        14 => Some(&state.metadata),
        15 => Some(metadata_v15()),
        _ => None,
    };
    Ok(metadata.encode())
}

fn metadata_versions(_: &State, _: u32, _: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    Ok(METADATA_VERSIONS.to_vec().encode())
}

fn account_nonce(state: &State, block: u32, input: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    let account: [u8; 32] = arg("account_nonce", input)?;
    Ok(state.nonce_at(&account, block).encode())
}

/// The subnet's neurons; another netuid has none.
fn neurons_lite(state: &State, _: u32, input: &mut &[u8]) -> Result<Vec<u8>, CallError> {
    let netuid: u16 = arg("get_neurons_lite", input)?;
    let neurons = if netuid == state.netuid {
        state.served_neurons()
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

    #[test]
    fn the_described_neuron_encodes_as_the_served_one() {
        use crate::metadata::rpc_info as described;
        use parity_scale_codec::Compact;
        use subtensor::codec as served;
        let axon = described::AxonInfo {
            block: 1,
            version: 2,
            ip: 3,
            port: 4,
            ip_type: 4,
            protocol: 5,
            placeholder1: 6,
            placeholder2: 7,
        };
        let prometheus = described::PrometheusInfo {
            block: 8,
            version: 9,
            ip: 10,
            port: 11,
            ip_type: 4,
        };
        let d = described::NeuronInfoLite {
            hotkey: AccountId32::new([1; 32]),
            coldkey: AccountId32::new([2; 32]),
            uid: 3,
            netuid: 64,
            active: true,
            axon_info: axon,
            prometheus_info: prometheus,
            stake: vec![(AccountId32::new([2; 32]), Compact(5_000_000_000))],
            rank: 12,
            emission: 13,
            incentive: 14,
            consensus: 15,
            trust: 16,
            validator_trust: 17,
            dividends: 18,
            last_update: 19,
            validator_permit: true,
            pruning_score: 20,
        };
        let s = served::NeuronInfoLite {
            hotkey: [1; 32],
            coldkey: [2; 32],
            uid: Compact(3),
            netuid: Compact(64),
            active: true,
            axon_info: served::AxonInfo {
                block: 1,
                version: 2,
                ip: 3,
                port: 4,
                ip_type: 4,
                protocol: 5,
                placeholder1: 6,
                placeholder2: 7,
            },
            prometheus_info: served::PrometheusInfo {
                block: 8,
                version: 9,
                ip: 10,
                port: 11,
                ip_type: 4,
            },
            stake: vec![([2; 32], Compact(5_000_000_000))],
            rank: Compact(12),
            emission: Compact(13),
            incentive: Compact(14),
            consensus: Compact(15),
            trust: Compact(16),
            validator_trust: Compact(17),
            dividends: Compact(18),
            last_update: Compact(19),
            validator_permit: true,
            pruning_score: Compact(20),
        };
        assert_eq!(d.encode(), s.encode());
    }

    #[test]
    fn v15_metadata_declares_every_runtime_api_method_the_node_answers() {
        use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
        let bytes = crate::metadata::metadata_v15_bytes(apis_metadata());
        let RuntimeMetadataPrefixed(_, RuntimeMetadata::V15(m)) =
            RuntimeMetadataPrefixed::decode(&mut &bytes[..]).unwrap()
        else {
            panic!("not V15")
        };
        let declared: Vec<String> = m
            .apis
            .iter()
            .flat_map(|api| {
                api.methods
                    .iter()
                    .map(move |f| format!("{}_{}", api.name, f.name))
            })
            .collect();
        assert!(declared.contains(&"NeuronInfoRuntimeApi_get_neurons_lite".to_string()));
        assert!(declared.contains(&"Core_version".to_string()));
        let names: Vec<&str> = m.pallets.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["System", "SubtensorModule", "Commitments", "Drand"]);
    }
}
