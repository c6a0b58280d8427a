//! Setting weights: `SubtensorModule.set_weights` signed by the
//! validator's hotkey, composed, signed and watched into a block by
//! `substrate-api-client` from the node's own metadata.
//!
//! Before signing, the client checks what the chain would refuse anyway
//! (registration, commit-reveal, the rate limit, matching lengths) so the
//! user hears the reason in plain words; the chain's own verdict, read from
//! the block's events, is still the one that counts. The transaction is
//! mortal (a few blocks), fee-less, and signs with the metadata-hash check
//! off, as docs/spec/subtensor.md describes.
//!
//! The node's word that a transaction is in a block is not taken alone:
//! the named block's body must hold the extrinsic (by the hash computed
//! here, not the node's). The wait for inclusion has a deadline
//! ([`ClientOptions::inclusion_timeout`](crate::ClientOptions)); past it the
//! caller gets the extrinsic's hash, nonce and era, so a later look can
//! find it in a block or see its era end.

use parity_scale_codec::{Decode, Encode};
use sp_core::{sr25519, H256};
use substrate_api_client::ac_compose_macros::compose_extrinsic_with_nonce;
use substrate_api_client::ac_node_api::error::DispatchError;
use substrate_api_client::ac_primitives::{
    AccountData, AccountId32, BlakeTwo256, Block, Config, ExtrinsicSigner, GenericAdditionalParams,
    GenericExtrinsicParams, Header, MultiAddress, MultiSignature, OpaqueExtrinsic, PlainTip,
};
use substrate_api_client::rpc::JsonrpseeClient;
use substrate_api_client::{Api, GetAccountInformation, SubmitAndWatch, XtStatus};

use crate::keys::Hotkey;
use crate::proof::BlockHash;
use crate::rpc::{node_error_message, SubtensorClient};
use crate::{runtime, ChainError};

/// Blocks a weights transaction stays valid: about a minute and a half.
pub const MORTALITY_BLOCKS: u64 = 8;

/// Subtensor's transaction types for `substrate-api-client`: u64 balances
/// (so `System.Account` decodes), an address without an index.
#[derive(Decode, Encode, Clone, Eq, PartialEq, Debug)]
pub enum SubtensorConfig {}

impl Config for SubtensorConfig {
    type Index = u32;
    type BlockNumber = u32;
    type Hash = H256;
    type AccountId = AccountId32;
    type Address = MultiAddress<AccountId32, ()>;
    type Signature = MultiSignature;
    type Hasher = BlakeTwo256;
    type Header = Header<u32, BlakeTwo256>;
    type AccountData = AccountData<u64>;
    // The tip is compact-encoded, so a u128 tip of 0 is the same byte.
    type ExtrinsicParams = GenericExtrinsicParams<Self, PlainTip<u128>>;
    type CryptoKey = sr25519::Pair;
    type ExtrinsicSigner = ExtrinsicSigner<Self>;
    type Block = Block<Header<u32, BlakeTwo256>, OpaqueExtrinsic>;
    type Balance = u64;
    type ContractCurrency = u64;
    type StakingBalance = u64;
}

/// The weights to set: `weights[i]` for `uids[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsCall {
    /// The subnet.
    pub netuid: u16,
    /// The destinations, ascending.
    pub uids: Vec<u16>,
    /// Each destination's weight, quantised to u16.
    pub weights: Vec<u16>,
    /// At least the chain's `WeightsVersionKey`, or the call is refused.
    pub version_key: u64,
}

/// A timelocked commit to send: `commit` is the ciphertext of the weights
/// payload, encrypted to drand round `reveal_round`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelockedCall {
    /// The subnet.
    pub netuid: u16,
    /// The ciphertext (at most [`runtime::MAX_TIMELOCKED_COMMIT_BYTES`]).
    pub commit: Vec<u8>,
    /// The drand round the chain decrypts it at.
    pub reveal_round: u64,
    /// The chain's `CommitRevealWeightsVersion`.
    pub commit_reveal_version: u16,
}

/// What identifies a sent transaction on chain after the fact: its hash,
/// and the nonce and mortal era that bound where it can be included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentExtrinsic {
    /// `blake2_256` of the encoded extrinsic, computed locally.
    pub hash: [u8; 32],
    /// The sender's nonce it carries.
    pub nonce: u32,
    /// The first block it is valid in (its era's birth).
    pub era_birth: u32,
    /// How many blocks from the birth it is valid (its era's period).
    pub era_period: u64,
}

impl SentExtrinsic {
    /// The first block it can no longer be included in.
    pub fn expires_at(&self) -> u64 {
        u64::from(self.era_birth).saturating_add(self.era_period)
    }
}

/// A signed transaction, ready to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedExtrinsic {
    /// The encoded extrinsic, as submitted.
    pub encoded: Vec<u8>,
    /// The nonce it was signed with.
    pub nonce: u32,
    /// Its era's birth block.
    pub era_birth: u32,
    /// Its era's period in blocks.
    pub era_period: u64,
}

impl SignedExtrinsic {
    /// What identifies it on chain: the hash of the bytes as they are now.
    pub fn sent(&self) -> SentExtrinsic {
        SentExtrinsic {
            hash: sp_core::hashing::blake2_256(&self.encoded),
            nonce: self.nonce,
            era_birth: self.era_birth,
            era_period: self.era_period,
        }
    }
}

/// Where the weights landed: the node named a block, and that block's
/// body holds the extrinsic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSet {
    /// The extrinsic, to find it in an explorer.
    pub extrinsic: SentExtrinsic,
    /// The block that included it.
    pub block_hash: BlockHash,
    /// That block's number.
    pub block: u32,
}

/// Why weights were not set.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The sender is not on the subnet: the chain would refuse the call.
    #[error("{hotkey} is not registered on subnet {netuid}: register it before setting weights")]
    NotRegistered {
        /// The sender.
        hotkey: String,
        /// The subnet.
        netuid: u16,
    },
    /// Commit-reveal is on, so a plain call would fail.
    #[error(
        "subnet {netuid} has commit-reveal weights on: plain set_weights would fail; \
         the weights must be committed timelocked (commit_timelocked_weights)"
    )]
    CommitReveal {
        /// The subnet.
        netuid: u16,
    },
    /// Inside the rate limit: the chain would refuse the call.
    #[error(
        "weights were set at block {last_update} and the rate limit is {limit} blocks: \
         wait until block {next}"
    )]
    TooSoon {
        /// The block the sender last set weights at.
        last_update: u64,
        /// Blocks between two settings.
        limit: u64,
        /// The first block a new setting is allowed at.
        next: u64,
    },
    /// Commit-reveal is off, so a timelocked commit would fail.
    #[error("subnet {netuid} has commit-reveal off: set weights with plain set_weights")]
    CommitRevealOff {
        /// The subnet.
        netuid: u16,
    },
    /// The ciphertext is larger than the chain's bound.
    #[error(
        "the timelocked commit is {bytes} bytes; the chain takes at most {max}: send fewer uids"
    )]
    CommitTooLarge {
        /// The ciphertext's size.
        bytes: usize,
        /// The chain's bound.
        max: usize,
    },
    /// `uids` and `weights` differ in length: the chain would refuse it.
    #[error("{uids} uids but {weights} weights: they must pair up")]
    LengthsDiffer {
        /// How many uids.
        uids: usize,
        /// How many weights.
        weights: usize,
    },
    /// The node refused the transaction (bad signature, stale nonce, …).
    #[error("the node refused the transaction: {0}")]
    Refused(String),
    /// Included, and failed: the runtime's error, `Pallet.Error`.
    #[error("the chain rejected set_weights: {0}")]
    Failed(String),
    /// The node took the transaction but did not report it in a block by
    /// the deadline (or the watch broke off): it may still be included
    /// until its era ends, so its fate is unknown, not failed.
    #[error(
        "the node did not report extrinsic 0x{} (nonce {}) in a block: {why}; \
         it may still be included until block {}",
        hex::encode(extrinsic.hash), extrinsic.nonce, extrinsic.expires_at()
    )]
    NotSeen {
        /// The transaction.
        extrinsic: SentExtrinsic,
        /// What ended the wait.
        why: String,
    },
    /// The node said the transaction is in a block whose body does not
    /// hold it: a false inclusion report.
    #[error(
        "the node reported extrinsic 0x{} in block 0x{}, but that block does not hold it",
        hex::encode(extrinsic.hash), hex::encode(block_hash)
    )]
    NotInBlock {
        /// The transaction.
        extrinsic: SentExtrinsic,
        /// The block the node named.
        block_hash: BlockHash,
    },
    /// Reading the chain before or after sending failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl WeightsError {
    /// The transaction this failure leaves unsettled: the node took it,
    /// so it may still be included until its era ends.
    pub fn unsettled(&self) -> Option<SentExtrinsic> {
        match self {
            WeightsError::NotSeen { extrinsic, .. }
            | WeightsError::NotInBlock { extrinsic, .. } => Some(*extrinsic),
            _ => None,
        }
    }
}

type SubtensorApi = Api<SubtensorConfig, JsonrpseeClient>;

impl SubtensorClient {
    /// Signs and submits `call` with `hotkey`, and waits until it is in a
    /// block. Fails with the chain's reason when it is refused or fails.
    pub async fn set_weights(
        &self,
        hotkey: &Hotkey,
        call: &WeightsCall,
    ) -> Result<WeightsSet, WeightsError> {
        // One session (metadata, runtime version) serves both halves.
        let mut api = self.api().await?;
        let signed = self.sign_with(&mut api, hotkey, call).await?;
        self.submit_with(&api, &signed).await
    }

    /// Signs and submits a timelocked commit with `hotkey`, and waits until
    /// it is in a block. The chain checks the payload only at reveal, so a
    /// caller confirms the reveal afterwards by reading `Weights`.
    pub async fn commit_timelocked_weights(
        &self,
        hotkey: &Hotkey,
        call: &TimelockedCall,
    ) -> Result<WeightsSet, WeightsError> {
        if call.commit.len() > runtime::MAX_TIMELOCKED_COMMIT_BYTES {
            return Err(WeightsError::CommitTooLarge {
                bytes: call.commit.len(),
                max: runtime::MAX_TIMELOCKED_COMMIT_BYTES,
            });
        }
        let mut api = self.api().await?;
        self.registered_uid(hotkey, call.netuid).await?;
        if !self.commit_reveal_enabled(call.netuid).await? {
            return Err(WeightsError::CommitRevealOff {
                netuid: call.netuid,
            });
        }
        let head = self.current_block().await?;
        let signer = self.prepare_signer(&mut api, hotkey, head).await?;
        let extrinsic = compose_extrinsic_with_nonce!(
            api,
            signer.nonce,
            runtime::PALLET_SUBTENSOR.0,
            runtime::CALL_COMMIT_TIMELOCKED_WEIGHTS.name,
            call.netuid,
            call.commit.clone(),
            call.reveal_round,
            call.commit_reveal_version
        )
        .ok_or_else(|| missing_call(&runtime::CALL_COMMIT_TIMELOCKED_WEIGHTS))?;
        self.submit_with(&api, &signer.signed(extrinsic.encode()))
            .await
    }

    /// Checks what the chain would refuse, then builds and signs the
    /// transaction, ready for [`Self::submit_weights`].
    pub async fn sign_set_weights(
        &self,
        hotkey: &Hotkey,
        call: &WeightsCall,
    ) -> Result<SignedExtrinsic, WeightsError> {
        let mut api = self.api().await?;
        self.sign_with(&mut api, hotkey, call).await
    }

    /// Submits a signed extrinsic and waits until it is in a block;
    /// the block's events say whether it succeeded.
    pub async fn submit_weights(
        &self,
        signed: &SignedExtrinsic,
    ) -> Result<WeightsSet, WeightsError> {
        let api = self.api().await?;
        self.submit_with(&api, signed).await
    }

    async fn sign_with(
        &self,
        api: &mut SubtensorApi,
        hotkey: &Hotkey,
        call: &WeightsCall,
    ) -> Result<SignedExtrinsic, WeightsError> {
        let netuid = call.netuid;
        if call.uids.len() != call.weights.len() {
            return Err(WeightsError::LengthsDiffer {
                uids: call.uids.len(),
                weights: call.weights.len(),
            });
        }
        let uid = self.registered_uid(hotkey, netuid).await?;
        if self.commit_reveal_enabled(netuid).await? {
            return Err(WeightsError::CommitReveal { netuid });
        }
        let head = self.current_block().await?;
        let limit = self.weights_rate_limit(netuid).await?;
        let last_update = self.last_update(netuid, uid).await?.unwrap_or(0);
        if limit > 0 && last_update > 0 && u64::from(head).saturating_sub(last_update) < limit {
            return Err(WeightsError::TooSoon {
                last_update,
                limit,
                next: last_update + limit,
            });
        }
        let signer = self.prepare_signer(api, hotkey, head).await?;
        let extrinsic = compose_extrinsic_with_nonce!(
            api,
            signer.nonce,
            runtime::PALLET_SUBTENSOR.0,
            runtime::CALL_SET_WEIGHTS.name,
            netuid,
            call.uids.clone(),
            call.weights.clone(),
            call.version_key
        )
        .ok_or_else(|| missing_call(&runtime::CALL_SET_WEIGHTS))?;
        Ok(signer.signed(extrinsic.encode()))
    }

    /// The hotkey's uid on `netuid`, or the plain-word refusal.
    async fn registered_uid(&self, hotkey: &Hotkey, netuid: u16) -> Result<u16, WeightsError> {
        let address = hotkey.ss58();
        self.uid_of(netuid, &address)
            .await?
            .ok_or(WeightsError::NotRegistered {
                hotkey: address,
                netuid,
            })
    }

    /// Sets the signer and a mortal era born at a recent block on `api`;
    /// returns the hotkey's next nonce and the era.
    async fn prepare_signer(
        &self,
        api: &mut SubtensorApi,
        hotkey: &Hotkey,
        head: u32,
    ) -> Result<Signer, WeightsError> {
        api.set_signer(ExtrinsicSigner::<SubtensorConfig>::new(
            hotkey.pair().clone(),
        ));
        let era = sp_runtime::generic::Era::mortal(MORTALITY_BLOCKS, u64::from(head));
        let birth = u32::try_from(era.birth(u64::from(head))).unwrap_or(head);
        let period = match era {
            sp_runtime::generic::Era::Mortal(period, _) => period,
            sp_runtime::generic::Era::Immortal => u64::MAX,
        };
        let checkpoint = self
            .block_hash(birth)
            .await?
            .ok_or_else(|| ChainError::Usage(format!("the node has no block {birth}")))?;
        api.set_additional_params(GenericAdditionalParams::new().era(era, H256(checkpoint)));
        let nonce = self
            .within(
                "system_accountNextIndex",
                api.get_system_account_next_index(AccountId32::new(hotkey.public())),
            )
            .await?;
        Ok(Signer {
            nonce,
            era_birth: birth,
            era_period: period,
        })
    }

    /// Submits and watches until the node names a block, within the
    /// inclusion deadline; then checks that block's body holds the
    /// extrinsic before reading its events.
    async fn submit_with(
        &self,
        api: &SubtensorApi,
        signed: &SignedExtrinsic,
    ) -> Result<WeightsSet, WeightsError> {
        let extrinsic = signed.sent();
        let bytes = signed.encoded.clone().into();
        let limit = self.options().inclusion_timeout;
        let watched = tokio::time::timeout(
            limit,
            api.submit_and_watch_opaque_extrinsic_until_without_events(&bytes, XtStatus::InBlock),
        )
        .await;
        let not_seen = |why: String| WeightsError::NotSeen { extrinsic, why };
        let mut report = match watched {
            Err(_) => {
                return Err(not_seen(format!(
                    "no inclusion within {}s",
                    limit.as_secs_f64()
                )))
            }
            Ok(Ok(report)) => report,
            Ok(Err(substrate_api_client::Error::RpcClient(rpc))) => {
                return Err(match refusal(&rpc) {
                    // The node answered the submission with an error:
                    // nothing entered its pool.
                    Refusal::Node(words) => WeightsError::Refused(words),
                    Refusal::Transport(words) => not_seen(format!("the watch broke off: {words}")),
                });
            }
            Ok(Err(substrate_api_client::Error::NoStream)) => {
                return Err(not_seen("the node closed the watch".into()))
            }
            Ok(Err(other)) => return Err(self.api_error(other).into()),
        };
        let block_hash = report
            .block_hash
            .ok_or_else(|| not_seen("the node reported no block".into()))?
            .0;
        // From here on the transaction may be in a block: a failure to
        // read is an unknown fate, for a later look, never a retry.
        let body = self
            .block_body(block_hash)
            .await
            .map_err(|e| not_seen(format!("reading the block the node named: {e}")))?;
        let Some(block) = body.filter(|b| b.extrinsic_hashes.contains(&extrinsic.hash)) else {
            return Err(WeightsError::NotInBlock {
                extrinsic,
                block_hash,
            });
        };
        self.within("System.Events", api.populate_events(&mut report))
            .await
            .map_err(|e| not_seen(format!("reading the events of block {}: {e}", block.number)))?;
        report
            .check_events_for_dispatch_error(api.metadata())
            .map_err(|e| match e {
                substrate_api_client::Error::FailedExtrinsic(failed) => {
                    WeightsError::Failed(describe(failed.dispatch_error()))
                }
                other => self.api_error(other).into(),
            })?;
        Ok(WeightsSet {
            extrinsic,
            block_hash,
            block: block.number,
        })
    }

    /// A `substrate-api-client` session: the node's metadata, runtime
    /// version and genesis hash, within the call timeout.
    async fn api(&self) -> Result<SubtensorApi, ChainError> {
        let limit = self.options().call_timeout;
        let rpc = tokio::time::timeout(limit, JsonrpseeClient::new(self.url()))
            .await
            .map_err(|_| ChainError::Timeout {
                url: self.url().to_string(),
                method: "connect".into(),
            })?
            .map_err(|e| ChainError::Connect {
                url: self.url().to_string(),
                message: format!("{e:?}"),
            })?;
        self.within(
            "metadata and runtime version",
            Api::<SubtensorConfig, _>::new(rpc),
        )
        .await
    }

    /// One `substrate-api-client` call, within the call timeout.
    async fn within<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, substrate_api_client::Error>>,
    ) -> Result<T, ChainError> {
        match tokio::time::timeout(self.options().call_timeout, call).await {
            Err(_) => Err(ChainError::Timeout {
                url: self.url().to_string(),
                method: what.to_string(),
            }),
            Ok(result) => result.map_err(|e| self.api_error(e)),
        }
    }

    /// Bytes that do not decode are the node's malformed answer, kept
    /// apart from a node that cannot be reached or says no.
    fn api_error(&self, e: substrate_api_client::Error) -> ChainError {
        use substrate_api_client::Error as E;
        match e {
            E::Codec(_) | E::NodeApi(_) | E::Metadata(_) | E::InvalidMetadata(_) => {
                ChainError::Decode {
                    what: format!("the weights transaction's chain data from {}", self.url()),
                    message: format!("{e:?}"),
                }
            }
            other => ChainError::Rpc {
                url: self.url().to_string(),
                method: "set_weights".into(),
                message: format!("{other:?}"),
            },
        }
    }
}

/// The nonce and era a transaction is being signed with.
struct Signer {
    nonce: u32,
    era_birth: u32,
    era_period: u64,
}

impl Signer {
    fn signed(&self, encoded: Vec<u8>) -> SignedExtrinsic {
        SignedExtrinsic {
            encoded,
            nonce: self.nonce,
            era_birth: self.era_birth,
            era_period: self.era_period,
        }
    }
}

fn missing_call(call: &runtime::Call) -> ChainError {
    ChainError::Usage(format!(
        "the node's metadata has no {}.{}",
        call.pallet.0, call.name
    ))
}

/// A failed submission: the node's own error, or the transport's.
enum Refusal {
    Node(String),
    Transport(String),
}

/// What the node said when it refused: its error in its own words when it
/// answered with one, else the transport failure.
fn refusal(error: &substrate_api_client::rpc::Error) -> Refusal {
    use jsonrpsee::core::client::Error as RpcError;
    if let substrate_api_client::rpc::Error::Client(inner) = error {
        if let Some(RpcError::Call(e)) = inner.downcast_ref::<RpcError>() {
            return Refusal::Node(node_error_message(e));
        }
        return Refusal::Transport(inner.to_string());
    }
    Refusal::Transport(format!("{error:?}"))
}

/// `Pallet.Error` for a module error; the variant otherwise.
fn describe(error: &DispatchError) -> String {
    match error {
        DispatchError::Module(m) => format!("{}.{}", m.pallet, m.error),
        other => format!("{other:?}"),
    }
}
