//! The SCALE types the auditor decodes (docs/spec/subtensor.md): a commitment's
//! `Registration` with its custom-encoded `Data` fields, and the
//! metagraph's `NeuronInfoLite`. Decoding is strict: trailing bytes or an
//! unknown tag are errors, never a guess.

use parity_scale_codec::{Compact, Decode, Encode, Error, Input, Output};

/// One field of a commitment. Encoded as one tag byte then the body:
/// 0 None, 1..=129 Raw of `tag - 1` bytes, 130 BlakeTwo256, 131 Sha256,
/// 132 Keccak256, 133 ShaThree256 (32 bytes each), 134 TimelockEncrypted,
/// 135 ResetBondsFlag, 136 BigRaw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// An empty field.
    None,
    /// Up to 128 raw bytes.
    Raw(Vec<u8>),
    /// A BLAKE2b-256 hash.
    BlakeTwo256([u8; 32]),
    /// A SHA-256 hash: how auditors commit their reports.
    Sha256([u8; 32]),
    /// A Keccak-256 hash.
    Keccak256([u8; 32]),
    /// A SHA3-256 hash.
    ShaThree256([u8; 32]),
    /// A commitment hidden until a drand round.
    TimelockEncrypted {
        /// The ciphertext.
        encrypted: Vec<u8>,
        /// The round that reveals it.
        reveal_round: u64,
    },
    /// Asks the chain to reset the committer's bonds.
    ResetBondsFlag,
    /// Raw bytes beyond 128.
    BigRaw(Vec<u8>),
}

impl Decode for Data {
    fn decode<I: Input>(input: &mut I) -> Result<Self, Error> {
        let tag = input.read_byte()?;
        let hash = |input: &mut I| -> Result<[u8; 32], Error> {
            let mut h = [0u8; 32];
            input.read(&mut h)?;
            Ok(h)
        };
        Ok(match tag {
            0 => Data::None,
            1..=129 => {
                let mut raw = vec![0u8; usize::from(tag - 1)];
                input.read(&mut raw)?;
                Data::Raw(raw)
            }
            130 => Data::BlakeTwo256(hash(input)?),
            131 => Data::Sha256(hash(input)?),
            132 => Data::Keccak256(hash(input)?),
            133 => Data::ShaThree256(hash(input)?),
            134 => Data::TimelockEncrypted {
                encrypted: Vec::<u8>::decode(input)?,
                reveal_round: u64::decode(input)?,
            },
            135 => Data::ResetBondsFlag,
            136 => Data::BigRaw(Vec::<u8>::decode(input)?),
            _ => return Err("unknown commitment Data tag".into()),
        })
    }
}

impl Encode for Data {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        match self {
            Data::None => dest.push_byte(0),
            Data::Raw(raw) => {
                assert!(raw.len() <= 128, "Raw data holds at most 128 bytes");
                dest.push_byte(raw.len() as u8 + 1);
                dest.write(raw);
            }
            Data::BlakeTwo256(h) => {
                dest.push_byte(130);
                dest.write(h);
            }
            Data::Sha256(h) => {
                dest.push_byte(131);
                dest.write(h);
            }
            Data::Keccak256(h) => {
                dest.push_byte(132);
                dest.write(h);
            }
            Data::ShaThree256(h) => {
                dest.push_byte(133);
                dest.write(h);
            }
            Data::TimelockEncrypted {
                encrypted,
                reveal_round,
            } => {
                dest.push_byte(134);
                encrypted.encode_to(dest);
                reveal_round.encode_to(dest);
            }
            Data::ResetBondsFlag => dest.push_byte(135),
            Data::BigRaw(raw) => {
                dest.push_byte(136);
                raw.encode_to(dest);
            }
        }
    }
}

/// `Commitments.CommitmentOf` value.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Registration {
    /// What the commitment's deposit locked.
    pub deposit: u64,
    /// The block the commitment was made at: a report must be committed at its entry's own block.
    pub block: u32,
    /// The committed fields.
    pub info: CommitmentInfo,
}

/// The fields of a commitment; auditors commit one `Sha256` of their report.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct CommitmentInfo {
    /// Up to the pallet's bound of typed fields.
    pub fields: Vec<Data>,
}

impl Registration {
    /// The committed report hash: the first `Sha256` field.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        self.info.fields.iter().find_map(|f| match f {
            Data::Sha256(h) => Some(*h),
            _ => None,
        })
    }
}

/// A neuron's served endpoint, as the runtime encodes it: decoded only
/// to step over it (its layout fixes the offsets of what follows).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct AxonInfo {
    /// Block it was announced at.
    pub block: u64,
    /// The neuron's software version.
    pub version: u32,
    /// IPv4 or IPv6 address as a number.
    pub ip: u128,
    /// Port.
    pub port: u16,
    /// 4 or 6.
    pub ip_type: u8,
    /// Transport protocol.
    pub protocol: u8,
    /// Reserved by the runtime.
    pub placeholder1: u8,
    /// Reserved by the runtime.
    pub placeholder2: u8,
}

/// A neuron's announced Prometheus endpoint, as the runtime encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PrometheusInfo {
    /// Block it was announced at.
    pub block: u64,
    /// The neuron's software version.
    pub version: u32,
    /// IPv4 or IPv6 address as a number.
    pub ip: u128,
    /// Port.
    pub port: u16,
    /// 4 or 6.
    pub ip_type: u8,
}

/// One element of `NeuronInfoRuntimeApi_get_neurons_lite`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct NeuronInfoLite {
    /// The neuron's hotkey public key: weights and scores are keyed by it.
    pub hotkey: [u8; 32],
    /// Its owner's coldkey public key: the multi-uid penalty groups by it.
    pub coldkey: [u8; 32],
    /// Its slot on the subnet.
    pub uid: Compact<u16>,
    /// The subnet.
    pub netuid: Compact<u16>,
    /// Whether it is active.
    pub active: bool,
    /// Its served endpoint.
    pub axon_info: AxonInfo,
    /// Its announced Prometheus endpoint.
    pub prometheus_info: PrometheusInfo,
    /// Stake per coldkey, in rao.
    pub stake: Vec<([u8; 32], Compact<u64>)>,
    /// Rank, a fraction of 65535.
    pub rank: Compact<u16>,
    /// Emission, in rao.
    pub emission: Compact<u64>,
    /// Incentive, a fraction of 65535: what the auditor's shares are compared with.
    pub incentive: Compact<u16>,
    /// Consensus, a fraction of 65535.
    pub consensus: Compact<u16>,
    /// Trust, a fraction of 65535.
    pub trust: Compact<u16>,
    /// Validator trust, a fraction of 65535.
    pub validator_trust: Compact<u16>,
    /// Dividends, a fraction of 65535.
    pub dividends: Compact<u16>,
    /// The block its weights were last set at: the rate limit counts from it.
    pub last_update: Compact<u64>,
    /// Whether it may set weights.
    pub validator_permit: bool,
    /// Pruning score, a fraction of 65535.
    pub pruning_score: Compact<u16>,
}

/// Decodes all of `bytes` as `T`: trailing bytes are an error.
pub fn decode_all<T: Decode>(mut bytes: &[u8]) -> Result<T, Error> {
    let value = T::decode(&mut bytes)?;
    if !bytes.is_empty() {
        return Err("trailing bytes after the value".into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sha256_commitment_round_trips_and_is_found() {
        let reg = Registration {
            deposit: 1,
            block: 4_812_345,
            info: CommitmentInfo {
                fields: vec![Data::Raw(b"hi".to_vec()), Data::Sha256([9; 32])],
            },
        };
        let bytes = reg.encode();
        // Raw(2 bytes) is tag 3, Sha256 is tag 131.
        assert_eq!(bytes[12 + 1], 3);
        assert_eq!(bytes[12 + 1 + 3], 131);
        let back: Registration = decode_all(&bytes).unwrap();
        assert_eq!(back, reg);
        assert_eq!(back.sha256(), Some([9; 32]));
    }

    #[test]
    fn unknown_tags_and_trailing_bytes_are_errors() {
        assert!(decode_all::<Data>(&[200]).is_err());
        assert!(decode_all::<Data>(&[0, 0]).is_err());
        assert!(decode_all::<Data>(&[131, 1, 2]).is_err(), "short hash");
        let timelock = Data::TimelockEncrypted {
            encrypted: vec![1, 2, 3],
            reveal_round: 7,
        };
        assert_eq!(decode_all::<Data>(&timelock.encode()).unwrap(), timelock);
    }
}
