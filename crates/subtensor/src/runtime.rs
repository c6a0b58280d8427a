//! The facts of the finney runtime the auditor relies on
//! (docs/spec/subtensor.md): pallet and call indices, the storage items it
//! reads with their key hashers, and the transaction extensions in order.
//!
//! These constants are the one place the project states them: the client
//! builds keys and extrinsics from them, the simulated node serves
//! metadata built from them, and a conformance test checks them against
//! the real finney metadata.

use frame_metadata::v14::{StorageEntryType, StorageHasher};
use scale_info::form::Form;

/// The subnet Chutes runs on.
pub const CHUTES_NETUID: u16 = 64;
/// SS58 address prefix of Bittensor accounts (the generic Substrate one).
pub const SS58_PREFIX: u16 = 42;

/// Accounts, nonces and events: name and index in the finney runtime.
pub const PALLET_SYSTEM: (&str, u8) = ("System", 0);
/// The subnet logic: metagraph, weights and their rules.
pub const PALLET_SUBTENSOR: (&str, u8) = ("SubtensorModule", 7);
/// Where validators commit their reports' hashes.
pub const PALLET_COMMITMENTS: (&str, u8) = ("Commitments", 18);
/// The drand beacon's pulses, which the chain decrypts timelocked weights with.
pub const PALLET_DRAND: (&str, u8) = ("Drand", 26);

/// `SubtensorModule.set_weights(netuid, dests, weights, version_key)`.
pub const CALL_SET_WEIGHTS: Call = Call {
    pallet: PALLET_SUBTENSOR,
    name: "set_weights",
    index: 0,
    args: &[
        ("netuid", "u16"),
        ("dests", "Vec<u16>"),
        ("weights", "Vec<u16>"),
        ("version_key", "u64"),
    ],
};

/// `SubtensorModule.commit_timelocked_weights(netuid, commit, reveal_round,
/// commit_reveal_version)`: the commit-reveal path (docs/spec/commit-reveal.md).
/// `commit` is a `BoundedVec<u8, 5000>`, SCALE-encoded as a `Vec<u8>`.
pub const CALL_COMMIT_TIMELOCKED_WEIGHTS: Call = Call {
    pallet: PALLET_SUBTENSOR,
    name: "commit_timelocked_weights",
    index: 113,
    args: &[
        ("netuid", "u16"),
        ("commit", "Vec<u8>"),
        ("reveal_round", "u64"),
        ("commit_reveal_version", "u16"),
    ],
};

/// The largest timelocked commit the chain takes (its `BoundedVec` bound).
pub const MAX_TIMELOCKED_COMMIT_BYTES: usize = 5000;

/// A call: its pallet, name, index, and argument names with their types
/// as the metadata's type names spell them (checked only when non-empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The pallet's name and index.
    pub pallet: (&'static str, u8),
    /// The call's name.
    pub name: &'static str,
    /// The call's index in its pallet.
    pub index: u8,
    /// Argument names and type names, in order.
    pub args: &'static [(&'static str, &'static str)],
}

/// How a storage map hashes one key part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hasher {
    /// The key part as it is.
    Identity,
    /// xxHash64 of the part, then the part (cheap, for trusted keys).
    Twox64Concat,
    /// BLAKE2b-128 of the part, then the part (for keys users choose).
    Blake2_128Concat,
}

impl Hasher {
    /// The hasher as runtime metadata names it.
    pub fn to_metadata(self) -> StorageHasher {
        match self {
            Identity => StorageHasher::Identity,
            Twox64Concat => StorageHasher::Twox64Concat,
            Blake2_128Concat => StorageHasher::Blake2_128Concat,
        }
    }

    /// The key hashers of a metadata storage entry (none for a plain
    /// value), or the first hasher the auditor never reads with.
    pub fn of_entry<T: Form>(ty: &StorageEntryType<T>) -> Result<Vec<Hasher>, StorageHasher> {
        let StorageEntryType::Map { hashers, .. } = ty else {
            return Ok(vec![]);
        };
        hashers
            .iter()
            .map(|h| match h {
                StorageHasher::Identity => Ok(Identity),
                StorageHasher::Twox64Concat => Ok(Twox64Concat),
                StorageHasher::Blake2_128Concat => Ok(Blake2_128Concat),
                other => Err(other.clone()),
            })
            .collect()
    }
}

/// A storage item the auditor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageItem {
    /// The pallet's name (its storage prefix).
    pub pallet: &'static str,
    /// The item's name.
    pub name: &'static str,
    /// One hasher per key part; empty for a plain value.
    pub hashers: &'static [Hasher],
}

const fn item(pallet: &'static str, name: &'static str, hashers: &'static [Hasher]) -> StorageItem {
    StorageItem {
        pallet,
        name,
        hashers,
    }
}

use Hasher::*;

/// `(netuid, hotkey) → Option<u16>` uid.
pub const UIDS: StorageItem = item("SubtensorModule", "Uids", &[Identity, Blake2_128Concat]);
/// `(netuid, uid) → hotkey`.
pub const KEYS: StorageItem = item("SubtensorModule", "Keys", &[Identity, Identity]);
/// `hotkey → coldkey`.
pub const OWNER: StorageItem = item("SubtensorModule", "Owner", &[Blake2_128Concat]);
/// `netuid → u16` number of uids.
pub const SUBNETWORK_N: StorageItem = item("SubtensorModule", "SubnetworkN", &[Identity]);
/// `netuid → Vec<u16>` by uid.
pub const INCENTIVE: StorageItem = item("SubtensorModule", "Incentive", &[Identity]);
/// `netuid → Vec<u64>` block of each uid's last weights.
pub const LAST_UPDATE: StorageItem = item("SubtensorModule", "LastUpdate", &[Identity]);
/// `netuid → u64` blocks between weight settings.
pub const WEIGHTS_SET_RATE_LIMIT: StorageItem =
    item("SubtensorModule", "WeightsSetRateLimit", &[Identity]);
/// `netuid → bool`.
pub const COMMIT_REVEAL_WEIGHTS_ENABLED: StorageItem =
    item("SubtensorModule", "CommitRevealWeightsEnabled", &[Identity]);
/// `(netuid, uid) → Vec<(u16, u16)>`.
pub const WEIGHTS: StorageItem = item("SubtensorModule", "Weights", &[Identity, Identity]);
/// `(netuid, account) → Option<Registration>`: the latest commitment.
pub const COMMITMENT_OF: StorageItem =
    item("Commitments", "CommitmentOf", &[Identity, Twox64Concat]);
/// `netuid → u64`: the least `version_key` weights may carry.
pub const WEIGHTS_VERSION_KEY: StorageItem =
    item("SubtensorModule", "WeightsVersionKey", &[Identity]);
/// `netuid → u16` blocks per epoch, less one.
pub const TEMPO: StorageItem = item("SubtensorModule", "Tempo", &[Identity]);
/// `netuid → u64` epochs between a commit and its reveal.
pub const REVEAL_PERIOD_EPOCHS: StorageItem =
    item("SubtensorModule", "RevealPeriodEpochs", &[Twox64Concat]);
/// `u16`: the `commit_reveal_version` a commit must carry.
pub const COMMIT_REVEAL_WEIGHTS_VERSION: StorageItem =
    item("SubtensorModule", "CommitRevealWeightsVersion", &[]);
/// `(netuid, epoch) → Vec<(account, commit block, commit, reveal round)>`:
/// the commits waiting for their round.
pub const TIMELOCKED_WEIGHT_COMMITS: StorageItem = item(
    "SubtensorModule",
    "TimelockedWeightCommits",
    &[Twox64Concat, Twox64Concat],
);
/// `u64`: the newest drand round whose pulse is on chain.
pub const DRAND_LAST_STORED_ROUND: StorageItem = item("Drand", "LastStoredRound", &[]);
/// `round → Pulse { round, randomness, signature }`.
pub const DRAND_PULSES: StorageItem = item("Drand", "Pulses", &[Blake2_128Concat]);
/// The events of the block read at: how an extrinsic's outcome is known.
pub const EVENTS: StorageItem = item("System", "Events", &[]);
/// The current block number.
pub const NUMBER: StorageItem = item("System", "Number", &[]);
/// `account → AccountInfo` (its nonce first).
pub const ACCOUNT: StorageItem = item("System", "Account", &[Blake2_128Concat]);

/// Every storage item above, for checks that cover them all.
pub const STORAGE_ITEMS: [StorageItem; 20] = [
    UIDS,
    KEYS,
    OWNER,
    SUBNETWORK_N,
    INCENTIVE,
    LAST_UPDATE,
    WEIGHTS_SET_RATE_LIMIT,
    COMMIT_REVEAL_WEIGHTS_ENABLED,
    WEIGHTS,
    COMMITMENT_OF,
    NUMBER,
    ACCOUNT,
    EVENTS,
    WEIGHTS_VERSION_KEY,
    TEMPO,
    REVEAL_PERIOD_EPOCHS,
    COMMIT_REVEAL_WEIGHTS_VERSION,
    TIMELOCKED_WEIGHT_COMMITS,
    DRAND_LAST_STORED_ROUND,
    DRAND_PULSES,
];

/// `SubtensorModule` errors `set_weights` can end with, by their index in
/// the pallet's error enum: a failed dispatch names one of these in
/// `System.ExtrinsicFailed` as `Module { index: 7, error: [index, 0, 0, 0] }`.
pub const SET_WEIGHTS_ERRORS: [(&str, u8); 7] = [
    (ERR_NOT_REGISTERED, 4),
    (ERR_LENGTHS_DIFFER, 16),
    (ERR_DUPLICATE_UIDS, 17),
    (ERR_INVALID_UID, 18),
    (ERR_TOO_FAST, 28),
    (ERR_COMMIT_REVEAL_ENABLED, 52),
    (ERR_NO_SUBNET, 73),
];
/// The sender's hotkey is not on the subnet.
pub const ERR_NOT_REGISTERED: &str = "HotKeyNotRegisteredInSubNet";
/// `dests` and `weights` differ in length.
pub const ERR_LENGTHS_DIFFER: &str = "WeightVecNotEqualSize";
/// A uid appears twice.
pub const ERR_DUPLICATE_UIDS: &str = "DuplicateUids";
/// A uid is not on the subnet.
pub const ERR_INVALID_UID: &str = "UidVecContainInvalidOne";
/// Inside the weights rate limit.
pub const ERR_TOO_FAST: &str = "SettingWeightsTooFast";
/// Plain weights sent while the subnet requires commits.
pub const ERR_COMMIT_REVEAL_ENABLED: &str = "CommitRevealEnabled";
/// No such subnet.
pub const ERR_NO_SUBNET: &str = "SubnetNotExists";

/// `SubtensorModule` errors `commit_timelocked_weights` can end with at
/// dispatch (docs/spec/commit-reveal.md), by index in the pallet's error enum.
pub const COMMIT_WEIGHTS_ERRORS: [(&str, u8); 5] = [
    (ERR_NOT_REGISTERED, 4),
    (ERR_COMMIT_REVEAL_DISABLED, 53),
    (ERR_TOO_MANY_UNREVEALED, 74),
    (ERR_COMMITTING_TOO_FAST, 78),
    (ERR_INCORRECT_COMMIT_REVEAL_VERSION, 109),
];
/// Commit-reveal is off: plain `set_weights` is the way.
pub const ERR_COMMIT_REVEAL_DISABLED: &str = "CommitRevealDisabled";
/// Ten commits of this hotkey wait in the epoch's queue already.
pub const ERR_TOO_MANY_UNREVEALED: &str = "TooManyUnrevealedCommits";
/// The rate limit, for commits.
pub const ERR_COMMITTING_TOO_FAST: &str = "CommittingWeightsTooFast";
/// The commit carries another `commit_reveal_version` than the chain's.
pub const ERR_INCORRECT_COMMIT_REVEAL_VERSION: &str = "IncorrectCommitRevealVersion";

/// `SubtensorModule` events of commit-reveal, by index in the pallet's
/// event enum.
pub const EVENT_TIMELOCKED_WEIGHTS_COMMITTED: (&str, u8) = ("TimelockedWeightsCommitted", 101);
/// The chain decrypted and applied a commit.
pub const EVENT_TIMELOCKED_WEIGHTS_REVEALED: (&str, u8) = ("TimelockedWeightsRevealed", 102);

/// Pool refusal `Custom(15)`: the reveal round is older than the newest
/// stored drand pulse.
pub const INVALID_REVEAL_ROUND: u8 = 15;

/// The index of a `SET_WEIGHTS_ERRORS` name.
pub fn set_weights_error_index(name: &str) -> Option<u8> {
    SET_WEIGHTS_ERRORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, i)| *i)
}

/// The transaction extensions, in the order finney lists them. Only
/// mortality, nonce, tip and the metadata-hash mode carry bytes in the
/// extrinsic; the signed payload adds spec and transaction versions, the
/// genesis hash, the era's checkpoint and `Option<metadata hash>`.
pub const TRANSACTION_EXTENSIONS: [&str; 12] = [
    "CheckNonZeroSender",
    "CheckSpecVersion",
    "CheckTxVersion",
    "CheckGenesis",
    "CheckMortality",
    "CheckNonce",
    "CheckWeight",
    "ChargeTransactionPayment",
    "SudoTransactionExtension",
    "SubtensorTransactionExtension",
    "DrandPriority",
    "CheckMetadataHash",
];
