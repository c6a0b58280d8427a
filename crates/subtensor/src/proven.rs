//! Proven reads: the client side of [`crate::proof`].
//!
//! A read at a block hash is taken only when three things hold: the
//! header the node serves for the hash hashes to it; every witness
//! endpoint names the same hash for that block number once it has
//! finalized it; and `state_getReadProof`'s nodes prove each value (or
//! its absence) from the header's state root. Anything else is
//! [`ChainError::Integrity`], naming the key, the block and the endpoint.
//! What stays trusted is the hash of the finalized head the endpoints
//! agree on (docs/security.md).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jsonrpsee::rpc_params;
use parity_scale_codec::Decode;
use serde::Deserialize;

use crate::proof::{self, BlockHash, Header, ProvenBlock};
use crate::rpc::{hex0x, unhex, SubtensorClient};
use crate::ChainError;

/// How often a witness that has not finalized a block yet is asked again.
const WITNESS_POLL: Duration = Duration::from_millis(500);

/// `chain_getHeader`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderJson {
    parent_hash: String,
    number: String,
    state_root: String,
    extrinsics_root: String,
    digest: DigestJson,
}

#[derive(Deserialize)]
struct DigestJson {
    logs: Vec<String>,
}

/// `state_getReadProof`'s answer.
#[derive(Deserialize)]
struct ReadProofJson {
    proof: Vec<String>,
}

fn hash32(text: &str) -> Option<[u8; 32]> {
    unhex(text).ok()?.try_into().ok()
}

/// The header a `chain_getHeader` answer describes, `None` if it does not
/// describe one.
fn header_of(json: &HeaderJson) -> Option<Header> {
    let logs = json
        .digest
        .logs
        .iter()
        .map(|log| {
            let bytes = unhex(log).ok()?;
            sp_runtime::generic::DigestItem::decode(&mut bytes.as_slice()).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Header {
        parent_hash: hash32(&json.parent_hash)?.into(),
        number: u32::from_str_radix(json.number.trim_start_matches("0x"), 16).ok()?,
        state_root: hash32(&json.state_root)?.into(),
        extrinsics_root: hash32(&json.extrinsics_root)?.into(),
        digest: sp_runtime::generic::Digest { logs },
    })
}

impl SubtensorClient {
    fn violation(&self, what: &str, block: String, reason: impl Into<String>) -> ChainError {
        ChainError::Integrity {
            what: what.to_string(),
            block,
            url: self.url().to_string(),
            reason: reason.into(),
        }
    }

    /// The values under `keys` at `at` (the finalized head when `None`),
    /// each proven.
    pub(crate) async fn read_proven(
        &self,
        what: &str,
        keys: &[Vec<u8>],
        at: Option<BlockHash>,
    ) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, ChainError> {
        let hash = match at {
            Some(hash) => hash,
            None => self.head_hash().await?,
        };
        let block = self.proven_block(hash).await?;
        let hex_keys: Vec<String> = keys.iter().map(|k| hex0x(k)).collect();
        let answer: ReadProofJson = self
            .call("state_getReadProof", rpc_params![hex_keys, hex0x(&hash)])
            .await?;
        let nodes = answer
            .proof
            .iter()
            .map(|n| unhex(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.decode("state_getReadProof", e))?;
        proof::read_proven(&block.state_root, &nodes, keys).map_err(|e| {
            self.violation(
                what,
                format!("#{} {}", block.number, hex0x(&hash)),
                e.to_string(),
            )
        })
    }

    /// The header of `hash`, checked to hash to it, and the hash
    /// confirmed by every witness.
    async fn proven_block(&self, hash: BlockHash) -> Result<ProvenBlock, ChainError> {
        if let Some(block) = self.checked().get(&hash) {
            return Ok(block);
        }
        let answer: Option<HeaderJson> = self
            .call("chain_getHeader", rpc_params![hex0x(&hash)])
            .await?;
        let Some(answer) = answer else {
            return Err(ChainError::Rpc {
                url: self.url().to_string(),
                method: "chain_getHeader".into(),
                message: format!("the node has no header for {}", hex0x(&hash)),
            });
        };
        let header = header_of(&answer)
            .ok_or_else(|| self.decode("chain_getHeader", "not a Substrate header"))?;
        proof::check_header(&hash, &header)
            .map_err(|e| self.violation("chain_getHeader", hex0x(&hash), e.to_string()))?;
        let block = ProvenBlock {
            number: header.number,
            state_root: header.state_root.0,
        };
        for witness in self.witness_clients() {
            self.confirm(witness, hash, block.number).await?;
        }
        self.checked().insert(hash, block);
        Ok(block)
    }

    /// Waits (up to the call timeout) until `witness` has finalized block
    /// `number`, then requires it to name `hash`.
    async fn confirm(
        &self,
        witness: &SubtensorClient,
        hash: BlockHash,
        number: u32,
    ) -> Result<(), ChainError> {
        let deadline = Instant::now() + self.options().call_timeout;
        loop {
            let theirs = witness.block_hash(number).await?;
            if theirs == Some(hash) {
                return Ok(());
            }
            if witness.finalized_number().await? >= number {
                let named = theirs.map_or("no block".to_string(), |h| hex0x(&h));
                return Err(self.violation(
                    "chain_getBlockHash",
                    format!("#{number} {}", hex0x(&hash)),
                    format!(
                        "the witness {} names {named} for finalized block #{number}",
                        witness.url()
                    ),
                ));
            }
            if Instant::now() >= deadline {
                return Err(ChainError::Timeout {
                    url: witness.url().to_string(),
                    method: format!("finalizing block #{number} (witness)"),
                });
            }
            tokio::time::sleep(WITNESS_POLL).await;
        }
    }

    /// The number of the node's finalized head.
    async fn finalized_number(&self) -> Result<u32, ChainError> {
        let hash: String = self.call("chain_getFinalizedHead", rpc_params![]).await?;
        let answer: Option<HeaderJson> = self.call("chain_getHeader", rpc_params![hash]).await?;
        answer
            .as_ref()
            .and_then(header_of)
            .map(|h| h.number)
            .ok_or_else(|| self.decode("chain_getHeader", "no header for the finalized head"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;

    #[test]
    fn a_header_answer_re_encodes_to_the_header_it_describes() {
        let header = Header {
            parent_hash: [3; 32].into(),
            number: 4_800_601,
            state_root: [2; 32].into(),
            extrinsics_root: [1; 32].into(),
            digest: sp_runtime::generic::Digest {
                logs: vec![sp_runtime::generic::DigestItem::PreRuntime(
                    *b"aura",
                    vec![1, 2, 3],
                )],
            },
        };
        let json = HeaderJson {
            parent_hash: hex0x(&[3; 32]),
            number: format!("0x{:x}", 4_800_601),
            state_root: hex0x(&[2; 32]),
            extrinsics_root: hex0x(&[1; 32]),
            digest: DigestJson {
                logs: vec![hex0x(&header.digest.logs[0].encode())],
            },
        };
        assert_eq!(header_of(&json), Some(header));
        let junk = HeaderJson {
            number: "0xnope".into(),
            ..json
        };
        assert_eq!(header_of(&junk), None);
    }
}
