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

use crate::rpc::{node_error_message, BlockHash, SubtensorClient};
use crate::{runtime, ChainError, Hotkey};

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

/// Where the weights landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSet {
    /// The extrinsic, to find it in an explorer.
    pub extrinsic_hash: [u8; 32],
    /// The block that included it.
    pub block_hash: BlockHash,
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
    /// Reading the chain before or after sending failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
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
        let nonce = self.prepare_signer(&mut api, hotkey, head).await?;
        let extrinsic = compose_extrinsic_with_nonce!(
            api,
            nonce,
            runtime::PALLET_SUBTENSOR.0,
            runtime::CALL_COMMIT_TIMELOCKED_WEIGHTS.name,
            call.netuid,
            call.commit.clone(),
            call.reveal_round,
            call.commit_reveal_version
        )
        .ok_or_else(|| missing_call(&runtime::CALL_COMMIT_TIMELOCKED_WEIGHTS))?;
        self.submit_with(&api, &extrinsic.encode()).await
    }

    /// Checks what the chain would refuse, then builds and signs the
    /// transaction: the encoded extrinsic, ready for [`Self::submit_weights`].
    pub async fn sign_set_weights(
        &self,
        hotkey: &Hotkey,
        call: &WeightsCall,
    ) -> Result<Vec<u8>, WeightsError> {
        let mut api = self.api().await?;
        self.sign_with(&mut api, hotkey, call).await
    }

    /// Submits an encoded extrinsic and waits until it is in a block;
    /// the block's events say whether it succeeded.
    pub async fn submit_weights(&self, encoded: &[u8]) -> Result<WeightsSet, WeightsError> {
        let api = self.api().await?;
        self.submit_with(&api, encoded).await
    }

    async fn sign_with(
        &self,
        api: &mut SubtensorApi,
        hotkey: &Hotkey,
        call: &WeightsCall,
    ) -> Result<Vec<u8>, WeightsError> {
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
        let nonce = self.prepare_signer(api, hotkey, head).await?;
        let extrinsic = compose_extrinsic_with_nonce!(
            api,
            nonce,
            runtime::PALLET_SUBTENSOR.0,
            runtime::CALL_SET_WEIGHTS.name,
            netuid,
            call.uids.clone(),
            call.weights.clone(),
            call.version_key
        )
        .ok_or_else(|| missing_call(&runtime::CALL_SET_WEIGHTS))?;
        Ok(extrinsic.encode())
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
    /// returns the hotkey's next nonce.
    async fn prepare_signer(
        &self,
        api: &mut SubtensorApi,
        hotkey: &Hotkey,
        head: u32,
    ) -> Result<u32, WeightsError> {
        api.set_signer(ExtrinsicSigner::<SubtensorConfig>::new(
            hotkey.pair().clone(),
        ));
        let era = sp_runtime::generic::Era::mortal(MORTALITY_BLOCKS, u64::from(head));
        let birth = u32::try_from(era.birth(u64::from(head))).unwrap_or(head);
        let checkpoint = self
            .block_hash(birth)
            .await?
            .ok_or_else(|| ChainError::Usage(format!("the node has no block {birth}")))?;
        api.set_additional_params(GenericAdditionalParams::new().era(era, H256(checkpoint)));
        Ok(api
            .get_system_account_next_index(AccountId32::new(hotkey.public()))
            .await
            .map_err(|e| self.api_error(e))?)
    }

    async fn submit_with(
        &self,
        api: &SubtensorApi,
        encoded: &[u8],
    ) -> Result<WeightsSet, WeightsError> {
        let report = api
            .submit_and_watch_opaque_extrinsic_until(&encoded.to_vec().into(), XtStatus::InBlock)
            .await
            .map_err(|e| match e {
                substrate_api_client::Error::FailedExtrinsic(failed) => {
                    WeightsError::Failed(describe(failed.dispatch_error()))
                }
                substrate_api_client::Error::RpcClient(rpc) => WeightsError::Refused(refusal(&rpc)),
                other => self.api_error(other).into(),
            })?;
        let block_hash = report
            .block_hash
            .ok_or_else(|| ChainError::Usage("the node reported no block".into()))?;
        Ok(WeightsSet {
            extrinsic_hash: report.extrinsic_hash.0,
            block_hash: block_hash.0,
        })
    }

    /// A `substrate-api-client` session: the node's metadata, runtime
    /// version and genesis hash.
    async fn api(&self) -> Result<SubtensorApi, ChainError> {
        let rpc = JsonrpseeClient::new(self.url())
            .await
            .map_err(|e| ChainError::Connect {
                url: self.url().to_string(),
                message: format!("{e:?}"),
            })?;
        Api::<SubtensorConfig, _>::new(rpc)
            .await
            .map_err(|e| self.api_error(e))
    }

    fn api_error(&self, e: substrate_api_client::Error) -> ChainError {
        ChainError::Rpc {
            url: self.url().to_string(),
            method: "set_weights".into(),
            message: format!("{e:?}"),
        }
    }
}

fn missing_call(call: &runtime::Call) -> ChainError {
    ChainError::Usage(format!(
        "the node's metadata has no {}.{}",
        call.pallet.0, call.name
    ))
}

/// What the node said when it refused: its error in its own words when it
/// answered with one, else the transport failure.
fn refusal(error: &substrate_api_client::rpc::Error) -> String {
    use jsonrpsee::core::client::Error as RpcError;
    if let substrate_api_client::rpc::Error::Client(inner) = error {
        if let Some(RpcError::Call(e)) = inner.downcast_ref::<RpcError>() {
            return node_error_message(e);
        }
        return inner.to_string();
    }
    format!("{error:?}")
}

/// `Pallet.Error` for a module error; the variant otherwise.
fn describe(error: &DispatchError) -> String {
    match error {
        DispatchError::Module(m) => format!("{}.{}", m.pallet, m.error),
        other => format!("{other:?}"),
    }
}
