//! The runtime the simulated node describes: V14 metadata, as finney
//! answers `state_getMetadata`, built from Rust type descriptions
//! (scale-info) of the few pallets, calls, storage items, events and
//! errors the auditor touches.
//!
//! Indices, hashers and the extension list come from `subtensor::runtime`,
//! which a conformance test holds to finney's metadata; a test here holds
//! the served metadata to `subtensor::runtime`. The same types decode the
//! extrinsics the node is sent, so what it says and what it does agree.
//! Types the runtime takes from Substrate (addresses, signatures, eras,
//! `DispatchError`) are Substrate's own, so their paths and shapes are the
//! real ones clients look for.

use std::marker::PhantomData;

use frame_metadata::v14::{
    ExtrinsicMetadata, PalletCallMetadata, PalletErrorMetadata, PalletEventMetadata,
    PalletMetadata, PalletStorageMetadata, RuntimeMetadataV14, SignedExtensionMetadata,
    StorageEntryMetadata, StorageEntryModifier, StorageEntryType,
};
use frame_metadata::{v15, RuntimeMetadataPrefixed};
use parity_scale_codec::{Decode, Encode};
use scale_info::{meta_type, MetaType, TypeInfo};
use sp_core::H256;
use sp_runtime::generic::Era;
use sp_runtime::{AccountId32, DispatchError, MultiAddress, MultiSignature};
use subtensor::commit_reveal;
use subtensor::runtime::{self, StorageItem};

/// The runtime's address type.
pub type Address = MultiAddress<AccountId32, ()>;

/// A signed transaction (format version 4), described as Substrate
/// describes it: its four parts as type parameters, its body as the
/// length-prefixed bytes it is on the wire. Never built as a value.
pub struct UncheckedExtrinsic<Address, Call, Signature, Extra>(
    PhantomData<(Address, Call, Signature, Extra)>,
);

impl<A, C, S, E> TypeInfo for UncheckedExtrinsic<A, C, S, E>
where
    A: TypeInfo + 'static,
    C: TypeInfo + 'static,
    S: TypeInfo + 'static,
    E: TypeInfo + 'static,
{
    type Identity = Self;
    fn type_info() -> scale_info::Type {
        use scale_info::TypeParameter;
        scale_info::Type::builder()
            .path(scale_info::Path::new(
                "UncheckedExtrinsic",
                "sp_runtime::generic::unchecked_extrinsic",
            ))
            .type_params(vec![
                TypeParameter::new("Address", Some(meta_type::<A>())),
                TypeParameter::new("Call", Some(meta_type::<C>())),
                TypeParameter::new("Signature", Some(meta_type::<S>())),
                TypeParameter::new("Extra", Some(meta_type::<E>())),
            ])
            .composite(scale_info::build::Fields::unnamed().field(|f| f.ty::<Vec<u8>>()))
    }
}

// The types below mirror the runtime's own, field for field and variant
// for variant, so scale-info describes what finney describes; their
// meaning is upstream's, so docs here say only what the devnet adds.
/// The transaction extensions, in finney's order. Only mortality, nonce,
/// tip and the metadata-hash mode carry bytes.
#[allow(missing_docs)]
pub mod extensions {
    use super::*;

    #[derive(TypeInfo)]
    pub struct CheckNonZeroSender;
    #[derive(TypeInfo)]
    pub struct CheckSpecVersion;
    #[derive(TypeInfo)]
    pub struct CheckTxVersion;
    #[derive(TypeInfo)]
    pub struct CheckGenesis;
    #[derive(TypeInfo)]
    pub struct CheckMortality(pub Era);
    #[derive(TypeInfo)]
    pub struct CheckNonce(#[codec(compact)] pub u32);
    #[derive(TypeInfo)]
    pub struct CheckWeight;
    #[derive(TypeInfo)]
    pub struct ChargeTransactionPayment(#[codec(compact)] pub u64);
    #[derive(TypeInfo)]
    pub struct SudoTransactionExtension;
    #[derive(TypeInfo)]
    pub struct SubtensorTransactionExtension;
    #[derive(TypeInfo)]
    pub struct DrandPriority;
    #[derive(TypeInfo)]
    pub struct CheckMetadataHash {
        pub mode: Mode,
    }
    #[derive(TypeInfo)]
    pub enum Mode {
        Disabled,
        Enabled,
    }
}

/// The extensions' tuple, the `Extra` of [`UncheckedExtrinsic`].
pub type Extra = (
    extensions::CheckNonZeroSender,
    extensions::CheckSpecVersion,
    extensions::CheckTxVersion,
    extensions::CheckGenesis,
    extensions::CheckMortality,
    extensions::CheckNonce,
    extensions::CheckWeight,
    extensions::ChargeTransactionPayment,
    extensions::SudoTransactionExtension,
    extensions::SubtensorTransactionExtension,
    extensions::DrandPriority,
    extensions::CheckMetadataHash,
);

/// `frame_system`: its events and account record.
#[allow(missing_docs)]
pub mod frame_system {
    use super::*;

    /// The two events every transaction ends with.
    #[derive(Encode, TypeInfo)]
    pub enum Event {
        #[codec(index = 0)]
        ExtrinsicSuccess { dispatch_info: DispatchEventInfo },
        #[codec(index = 1)]
        ExtrinsicFailed {
            dispatch_error: DispatchError,
            dispatch_info: DispatchEventInfo,
        },
    }

    #[derive(Encode, TypeInfo, Default)]
    pub struct DispatchEventInfo {
        pub weight: Weight,
        pub class: DispatchClass,
        pub pays_fee: Pays,
    }

    #[derive(Encode, TypeInfo, Default)]
    pub struct Weight {
        #[codec(compact)]
        pub ref_time: u64,
        #[codec(compact)]
        pub proof_size: u64,
    }

    #[derive(Encode, TypeInfo, Default)]
    pub enum DispatchClass {
        #[default]
        Normal,
        Operational,
        Mandatory,
    }

    /// Weight setting is fee-less.
    #[derive(Encode, TypeInfo, Default)]
    pub enum Pays {
        Yes,
        #[default]
        No,
    }

    #[derive(Encode, TypeInfo)]
    pub enum Phase {
        ApplyExtrinsic(u32),
        Finalization,
        Initialization,
    }

    /// An event as `System.Events` stores it.
    #[derive(Encode, TypeInfo)]
    pub struct EventRecord {
        pub phase: Phase,
        pub event: super::RuntimeEvent,
        pub topics: Vec<H256>,
    }

    /// `System.Account`: the nonce and the balances.
    #[derive(Encode, Decode, TypeInfo, Default)]
    pub struct AccountInfo {
        pub nonce: u32,
        pub consumers: u32,
        pub providers: u32,
        pub sufficients: u32,
        pub data: AccountData,
    }

    /// Balances are u64 rao on Bittensor.
    #[derive(Encode, Decode, TypeInfo, Default)]
    pub struct AccountData {
        pub free: u64,
        pub reserved: u64,
        pub frozen: u64,
        pub flags: u128,
    }
}

/// `pallet_subtensor`: the weight calls and the errors `set_weights` ends with.
#[allow(non_camel_case_types, missing_docs)]
pub mod pallet_subtensor {
    use super::*;

    /// The weight calls, at finney's call indices.
    #[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum Call {
        #[codec(index = 0)]
        set_weights {
            netuid: u16,
            dests: Vec<u16>,
            weights: Vec<u16>,
            version_key: u64,
        },
        #[codec(index = 113)]
        commit_timelocked_weights {
            netuid: u16,
            commit: Vec<u8>,
            reveal_round: u64,
            commit_reveal_version: u16,
        },
    }

    /// Declared from `subtensor::runtime::SET_WEIGHTS_ERRORS` (see
    /// [`error_type`]): scale-info describes it, no Rust value exists.
    pub struct Error;

    impl TypeInfo for Error {
        type Identity = Self;
        fn type_info() -> scale_info::Type {
            let mut variants = scale_info::build::Variants::new();
            let mut sorted = runtime::SET_WEIGHTS_ERRORS;
            sorted.sort_by_key(|(_, index)| *index);
            for (name, index) in sorted {
                variants = variants.variant(name, |v| v.index(index));
            }
            scale_info::Type::builder()
                .path(scale_info::Path::new("Error", "pallet_subtensor::pallet"))
                .variant(variants)
        }
    }
}

/// `pallet_commitments`: what `CommitmentOf` holds. Only the variants the
/// node writes are described (`None`, `Sha256`), at finney's indices.
#[allow(missing_docs)]
pub mod pallet_commitments {
    use super::*;

    #[derive(TypeInfo)]
    pub enum Data {
        #[codec(index = 0)]
        None,
        #[codec(index = 131)]
        Sha256([u8; 32]),
    }

    #[derive(TypeInfo)]
    pub struct CommitmentInfo {
        pub fields: Vec<Data>,
    }

    #[derive(TypeInfo)]
    pub struct Registration {
        pub deposit: u64,
        pub block: u32,
        pub info: CommitmentInfo,
    }
}

/// `pallet_drand`: the beacon pulses the chain stores, which reveal
/// time-locked weights.
#[allow(missing_docs)]
pub mod pallet_drand {
    use super::*;

    /// A stored pulse; its byte fields are bounded vectors on chain,
    /// encoded as vectors.
    #[derive(TypeInfo)]
    pub struct Pulse {
        pub round: u64,
        pub randomness: Vec<u8>,
        pub signature: Vec<u8>,
    }
}

/// The calls the runtime decodes: only `SubtensorModule`'s, at its index.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum RuntimeCall {
    /// A `SubtensorModule` call.
    #[codec(index = 7)]
    SubtensorModule(pallet_subtensor::Call),
}

/// The events the node deposits: only `System`'s.
#[derive(Encode, TypeInfo)]
pub enum RuntimeEvent {
    /// A `System` event.
    #[codec(index = 0)]
    System(frame_system::Event),
}

/// The errors of the pallets that declare any, as V15's outer enum.
#[derive(TypeInfo)]
pub enum RuntimeError {
    /// A `SubtensorModule` error.
    #[codec(index = 7)]
    SubtensorModule(pallet_subtensor::Error),
}

/// What `NeuronInfoRuntimeApi` answers, as the runtime declares it
/// (`pallet_subtensor::rpc_info`): described for V15's runtime APIs; the
/// node encodes the values with `subtensor::codec`'s twins.
#[allow(missing_docs)]
pub mod rpc_info {
    use super::*;
    use parity_scale_codec::Compact;

    #[derive(Encode, TypeInfo)]
    pub struct AxonInfo {
        pub block: u64,
        pub version: u32,
        pub ip: u128,
        pub port: u16,
        pub ip_type: u8,
        pub protocol: u8,
        pub placeholder1: u8,
        pub placeholder2: u8,
    }

    #[derive(Encode, TypeInfo)]
    pub struct PrometheusInfo {
        pub block: u64,
        pub version: u32,
        pub ip: u128,
        pub port: u16,
        pub ip_type: u8,
    }

    #[derive(Encode, TypeInfo)]
    pub struct NeuronInfoLite {
        pub hotkey: AccountId32,
        pub coldkey: AccountId32,
        #[codec(compact)]
        pub uid: u16,
        #[codec(compact)]
        pub netuid: u16,
        pub active: bool,
        pub axon_info: AxonInfo,
        pub prometheus_info: PrometheusInfo,
        pub stake: Vec<(AccountId32, Compact<u64>)>,
        #[codec(compact)]
        pub rank: u16,
        #[codec(compact)]
        pub emission: u64,
        #[codec(compact)]
        pub incentive: u16,
        #[codec(compact)]
        pub consensus: u16,
        #[codec(compact)]
        pub trust: u16,
        #[codec(compact)]
        pub validator_trust: u16,
        #[codec(compact)]
        pub dividends: u16,
        #[codec(compact)]
        pub last_update: u64,
        pub validator_permit: bool,
        #[codec(compact)]
        pub pruning_score: u16,
    }
}

/// The runtime type the metadata names.
#[derive(TypeInfo)]
pub struct Runtime;

/// An entry of `item`: keys of type `key` (a tuple for several parts).
fn entry(
    item: &StorageItem,
    key: MetaType,
    value: MetaType,
    optional: bool,
    default: Vec<u8>,
) -> StorageEntryMetadata {
    StorageEntryMetadata {
        name: item.name,
        modifier: if optional {
            StorageEntryModifier::Optional
        } else {
            StorageEntryModifier::Default
        },
        ty: if item.hashers.is_empty() {
            StorageEntryType::Plain(value)
        } else {
            StorageEntryType::Map {
                hashers: item.hashers.iter().map(|h| h.to_metadata()).collect(),
                key,
                value,
            }
        },
        default,
        docs: vec![],
    }
}

fn pallet((name, index): (&'static str, u8), entries: Vec<StorageEntryMetadata>) -> PalletMetadata {
    PalletMetadata {
        name,
        storage: Some(PalletStorageMetadata {
            prefix: name,
            entries,
        }),
        calls: None,
        event: None,
        constants: vec![],
        error: None,
        index,
    }
}

/// The pallets, as V14 and V15 both describe them.
fn pallets() -> Vec<PalletMetadata> {
    use runtime::*;
    let none = Vec::new;
    let mut system = pallet(
        PALLET_SYSTEM,
        vec![
            entry(
                &ACCOUNT,
                meta_type::<AccountId32>(),
                meta_type::<frame_system::AccountInfo>(),
                false,
                frame_system::AccountInfo::default().encode(),
            ),
            entry(
                &NUMBER,
                meta_type::<()>(),
                meta_type::<u32>(),
                false,
                0u32.encode(),
            ),
            entry(
                &EVENTS,
                meta_type::<()>(),
                meta_type::<Vec<frame_system::EventRecord>>(),
                false,
                vec![0],
            ),
        ],
    );
    system.event = Some(PalletEventMetadata {
        ty: meta_type::<frame_system::Event>(),
    });
    let mut subtensor = pallet(
        PALLET_SUBTENSOR,
        vec![
            entry(
                &UIDS,
                meta_type::<(u16, AccountId32)>(),
                meta_type::<u16>(),
                true,
                none(),
            ),
            entry(
                &KEYS,
                meta_type::<(u16, u16)>(),
                meta_type::<AccountId32>(),
                false,
                [0u8; 32].encode(),
            ),
            entry(
                &OWNER,
                meta_type::<AccountId32>(),
                meta_type::<AccountId32>(),
                false,
                [0u8; 32].encode(),
            ),
            entry(
                &SUBNETWORK_N,
                meta_type::<u16>(),
                meta_type::<u16>(),
                false,
                0u16.encode(),
            ),
            entry(
                &INCENTIVE,
                meta_type::<u16>(),
                meta_type::<Vec<u16>>(),
                false,
                vec![0],
            ),
            entry(
                &LAST_UPDATE,
                meta_type::<u16>(),
                meta_type::<Vec<u64>>(),
                false,
                vec![0],
            ),
            entry(
                &WEIGHTS_SET_RATE_LIMIT,
                meta_type::<u16>(),
                meta_type::<u64>(),
                false,
                100u64.encode(),
            ),
            entry(
                &COMMIT_REVEAL_WEIGHTS_ENABLED,
                meta_type::<u16>(),
                meta_type::<bool>(),
                false,
                false.encode(),
            ),
            entry(
                &WEIGHTS_VERSION_KEY,
                meta_type::<u16>(),
                meta_type::<u64>(),
                false,
                0u64.encode(),
            ),
            entry(
                &TEMPO,
                meta_type::<u16>(),
                meta_type::<u16>(),
                false,
                commit_reveal::DEFAULT_TEMPO.encode(),
            ),
            entry(
                &REVEAL_PERIOD_EPOCHS,
                meta_type::<u16>(),
                meta_type::<u64>(),
                false,
                commit_reveal::DEFAULT_REVEAL_PERIOD_EPOCHS.encode(),
            ),
            entry(
                &COMMIT_REVEAL_WEIGHTS_VERSION,
                meta_type::<()>(),
                meta_type::<u16>(),
                false,
                commit_reveal::DEFAULT_COMMIT_REVEAL_VERSION.encode(),
            ),
            entry(
                &TIMELOCKED_WEIGHT_COMMITS,
                meta_type::<(u16, u64)>(),
                meta_type::<Vec<(AccountId32, u64, Vec<u8>, u64)>>(),
                false,
                vec![0],
            ),
            entry(
                &WEIGHTS,
                meta_type::<(u16, u16)>(),
                meta_type::<Vec<(u16, u16)>>(),
                false,
                vec![0],
            ),
        ],
    );
    subtensor.calls = Some(PalletCallMetadata {
        ty: meta_type::<pallet_subtensor::Call>(),
    });
    subtensor.error = Some(PalletErrorMetadata {
        ty: meta_type::<pallet_subtensor::Error>(),
    });
    let commitments = pallet(
        PALLET_COMMITMENTS,
        vec![entry(
            &COMMITMENT_OF,
            meta_type::<(u16, AccountId32)>(),
            meta_type::<pallet_commitments::Registration>(),
            true,
            none(),
        )],
    );
    let drand = pallet(
        PALLET_DRAND,
        vec![
            entry(
                &DRAND_LAST_STORED_ROUND,
                meta_type::<()>(),
                meta_type::<u64>(),
                false,
                0u64.encode(),
            ),
            entry(
                &DRAND_PULSES,
                meta_type::<u64>(),
                meta_type::<pallet_drand::Pulse>(),
                true,
                none(),
            ),
        ],
    );
    vec![system, subtensor, commitments, drand]
}

/// The transaction extensions with their extra and signed-payload types.
fn signed_extensions() -> Vec<SignedExtensionMetadata> {
    let unit = meta_type::<()>;
    runtime::TRANSACTION_EXTENSIONS
        .iter()
        .map(|&identifier| {
            let (ty, additional_signed) = match identifier {
                "CheckSpecVersion" | "CheckTxVersion" => (unit(), meta_type::<u32>()),
                "CheckGenesis" => (unit(), meta_type::<H256>()),
                "CheckMortality" => (
                    meta_type::<extensions::CheckMortality>(),
                    meta_type::<H256>(),
                ),
                "CheckNonce" => (meta_type::<extensions::CheckNonce>(), unit()),
                "ChargeTransactionPayment" => {
                    (meta_type::<extensions::ChargeTransactionPayment>(), unit())
                }
                "CheckMetadataHash" => (
                    meta_type::<extensions::CheckMetadataHash>(),
                    meta_type::<Option<H256>>(),
                ),
                _ => (unit(), unit()),
            };
            SignedExtensionMetadata {
                identifier,
                ty,
                additional_signed,
            }
        })
        .collect()
}

/// The V14 metadata the node serves, SCALE-encoded with its prefix.
pub fn metadata_bytes() -> Vec<u8> {
    let extrinsic = ExtrinsicMetadata {
        ty: meta_type::<UncheckedExtrinsic<Address, RuntimeCall, MultiSignature, Extra>>(),
        version: 4,
        signed_extensions: signed_extensions(),
    };
    let metadata = RuntimeMetadataV14::new(pallets(), extrinsic, meta_type::<Runtime>());
    RuntimeMetadataPrefixed::from(metadata).encode()
}

/// The V15 metadata (`Metadata_metadata_at_version(15)`): the same
/// pallets and types, the extrinsic's parts, the outer enums, and the
/// runtime APIs `apis` (the node's `state_call` table).
pub fn metadata_v15_bytes(apis: Vec<v15::RuntimeApiMetadata>) -> Vec<u8> {
    let pallets = pallets()
        .into_iter()
        .map(|p| v15::PalletMetadata {
            name: p.name,
            storage: p.storage,
            calls: p.calls,
            event: p.event,
            constants: p.constants,
            error: p.error,
            index: p.index,
            docs: vec![],
        })
        .collect();
    let extrinsic = v15::ExtrinsicMetadata {
        version: 4,
        address_ty: meta_type::<Address>(),
        call_ty: meta_type::<RuntimeCall>(),
        signature_ty: meta_type::<MultiSignature>(),
        extra_ty: meta_type::<Extra>(),
        signed_extensions: signed_extensions()
            .into_iter()
            .map(|e| v15::SignedExtensionMetadata {
                identifier: e.identifier,
                ty: e.ty,
                additional_signed: e.additional_signed,
            })
            .collect(),
    };
    let outer_enums = v15::OuterEnums {
        call_enum_ty: meta_type::<RuntimeCall>(),
        event_enum_ty: meta_type::<RuntimeEvent>(),
        error_enum_ty: meta_type::<RuntimeError>(),
    };
    let metadata = v15::RuntimeMetadataV15::new(
        pallets,
        extrinsic,
        meta_type::<Runtime>(),
        apis,
        outer_enums,
        v15::CustomMetadata {
            map: Default::default(),
        },
    );
    RuntimeMetadataPrefixed::from(metadata).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use frame_metadata::RuntimeMetadata;
    use scale_info::TypeDef;
    use subtensor::runtime::Hasher;

    fn served() -> RuntimeMetadataV14 {
        let prefixed = RuntimeMetadataPrefixed::decode(&mut &metadata_bytes()[..]).unwrap();
        match prefixed.1 {
            RuntimeMetadata::V14(m) => m,
            other => panic!("served version {}", other.version()),
        }
    }

    #[test]
    fn the_served_metadata_states_the_runtime_facts() {
        let m = served();
        let index = |name: &str| m.pallets.iter().find(|p| p.name == name).unwrap().index;
        assert_eq!(index("System"), 0);
        assert_eq!(index("SubtensorModule"), 7);
        assert_eq!(index("Commitments"), 18);
        assert_eq!(index("Drand"), runtime::PALLET_DRAND.1);
        let names: Vec<&str> = m
            .extrinsic
            .signed_extensions
            .iter()
            .map(|e| e.identifier.as_str())
            .collect();
        assert_eq!(names, runtime::TRANSACTION_EXTENSIONS);
        for item in runtime::STORAGE_ITEMS {
            let p = m.pallets.iter().find(|p| p.name == item.pallet).unwrap();
            let e = p
                .storage
                .as_ref()
                .unwrap()
                .entries
                .iter()
                .find(|e| e.name == item.name)
                .unwrap_or_else(|| panic!("{}.{} not served", item.pallet, item.name));
            let hashers = Hasher::of_entry(&e.ty).unwrap_or_else(|other| panic!("{other:?}"));
            assert_eq!(hashers, item.hashers, "{}.{}", item.pallet, item.name);
        }
        let calls = m
            .pallets
            .iter()
            .find(|p| p.name == "SubtensorModule")
            .unwrap();
        let ty = m
            .types
            .resolve(calls.calls.as_ref().unwrap().ty.id)
            .unwrap();
        let TypeDef::Variant(v) = &ty.type_def else {
            panic!("calls are not an enum")
        };
        let set_weights = v.variants.iter().find(|v| v.name == "set_weights").unwrap();
        assert_eq!(set_weights.index, runtime::CALL_SET_WEIGHTS.index);
        let args: Vec<&str> = set_weights
            .fields
            .iter()
            .map(|f| f.name.as_deref().unwrap())
            .collect();
        let want: Vec<&str> = runtime::CALL_SET_WEIGHTS
            .args
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(args, want);
    }

    #[test]
    fn the_extrinsic_type_names_its_parts_and_dispatch_error_is_substrates() {
        let m = served();
        let ext = m.types.resolve(m.extrinsic.ty.id).unwrap();
        let params: Vec<&str> = ext.type_params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(params, ["Address", "Call", "Signature", "Extra"]);
        assert!(m
            .types
            .types
            .iter()
            .any(|t| t.ty.path.segments == ["sp_runtime", "DispatchError"]));
        for name in ["RuntimeCall", "RuntimeEvent"] {
            assert!(
                m.types
                    .types
                    .iter()
                    .any(|t| t.ty.path.ident().as_deref() == Some(name)),
                "{name} is described"
            );
        }
    }
}
