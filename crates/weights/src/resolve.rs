//! Resolving sends whose fate is `unknown`: the node took the transaction
//! but no inclusion was seen by the deadline (or the block it named did
//! not hold it). Such a transaction can still be included until its
//! mortal era ends, so before another send is planned each one is looked
//! for on chain, by the hash computed when it was signed:
//!
//! - found in the body of a block of its era, with the sender's
//!   `LastUpdate` at that block equal to it: landed (a commit: committed);
//! - found, but `LastUpdate` disagrees, or not found while `LastUpdate`
//!   moved to or past its birth: unconfirmed (the chain changed, the
//!   evidence for this transaction is short);
//! - not found, `LastUpdate` not moved, and the head past the era: expired;
//! - otherwise still unknown: it may still land, so nothing new is sent.

use audit_model::{SendResolution, SubmissionOutcome, WeightsCallKind, WeightsSubmissionRecord};
use subtensor::{ChainError, SubtensorClient};

/// Blocks looked through at most for one send: our eras are 8 blocks; a
/// record claiming a longer one is not allowed to make the look unbounded.
const MAX_BLOCKS_SCANNED: u64 = 256;

/// What the chain shows now about the `unknown` send `send`; a failure to
/// read the chain leaves it unknown, saying why.
pub async fn resolve(chain: &SubtensorClient, send: &WeightsSubmissionRecord) -> SendResolution {
    match look(chain, send).await {
        Ok(resolution) => resolution,
        Err(err) => SendResolution {
            submission_id: send.submission_id,
            outcome: SubmissionOutcome::Unknown,
            block: None,
            block_hash: None,
            reason: format!("still unknown: the chain could not be read: {err}"),
        },
    }
}

async fn look(
    chain: &SubtensorClient,
    send: &WeightsSubmissionRecord,
) -> Result<SendResolution, ChainError> {
    let resolution = |outcome, block: Option<(u64, [u8; 32])>, reason: String| SendResolution {
        submission_id: send.submission_id,
        outcome,
        block: block.map(|(n, _)| n),
        block_hash: block.map(|(_, h)| format!("0x{}", hex::encode(h))),
        reason,
    };
    let identity = (
        send.extrinsic_hash.as_deref().and_then(parse_hash),
        send.sender_uid,
        send.era_birth,
        send.era_period,
    );
    let (Some(hash), Some(uid), Some(birth), Some(period)) = identity else {
        return Ok(resolution(
            SubmissionOutcome::Unconfirmed,
            None,
            "cannot be looked for: no extrinsic hash, sender uid or era was recorded".into(),
        ));
    };
    let end = birth.saturating_add(period);
    let head = u64::from(chain.current_block().await?);
    let last = head
        .min(end.saturating_sub(1))
        .min(birth.saturating_add(MAX_BLOCKS_SCANNED - 1));
    for number in birth..=last {
        let Ok(number32) = u32::try_from(number) else {
            break;
        };
        let Some(block_hash) = chain.block_hash(number32).await? else {
            continue;
        };
        let Some(body) = chain.block_body(block_hash).await? else {
            continue;
        };
        if !body.extrinsic_hashes.contains(&hash) {
            continue;
        }
        let at = chain
            .last_update_at(send.netuid, uid, Some(block_hash))
            .await?;
        let found = Some((number, block_hash));
        return Ok(if at == Some(number) {
            let outcome = match send.call {
                Some(WeightsCallKind::Timelocked) => SubmissionOutcome::Committed,
                _ => SubmissionOutcome::Landed,
            };
            resolution(
                outcome,
                found,
                format!("found in block {number}, and LastUpdate of uid {uid} there is {number}"),
            )
        } else {
            resolution(
                SubmissionOutcome::Unconfirmed,
                found,
                format!(
                    "found in block {number}, but LastUpdate of uid {uid} there is {}",
                    at.map_or_else(|| "absent".to_string(), |b| b.to_string())
                ),
            )
        });
    }
    let last_update = chain.last_update(send.netuid, uid).await?.unwrap_or(0);
    if last_update >= birth {
        return Ok(resolution(
            SubmissionOutcome::Unconfirmed,
            None,
            format!(
                "in no block from {birth} to {last}, but LastUpdate of uid {uid} moved to \
                 {last_update} since its birth at {birth}"
            ),
        ));
    }
    if head >= end {
        return Ok(resolution(
            SubmissionOutcome::Expired,
            None,
            format!(
                "in no block from {birth} to {last}, and its era ended at block {end} \
                 (head {head}): it never landed"
            ),
        ));
    }
    Ok(resolution(
        SubmissionOutcome::Unknown,
        None,
        format!("not in a block yet (head {head}); it may still be included until block {end}"),
    ))
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim_start_matches("0x"))
        .ok()?
        .try_into()
        .ok()
}
