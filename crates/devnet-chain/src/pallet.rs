//! The pallet rules the node applies: a submitted transaction is checked
//! as a pool checks it, included in a new block, and dispatched by
//! `set_weights`' rules; and the neurons the runtime API reports.

use std::collections::HashSet;

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Compact, Encode};
use sp_runtime::{DispatchError, ModuleError};
use subtensor::codec::{AxonInfo, NeuronInfoLite, PrometheusInfo};
use subtensor::runtime;

use crate::beacon::unix_now;
use crate::extrinsic::{self, Chain, Checked};
use crate::metadata::{frame_system, pallet_subtensor, RuntimeCall, RuntimeEvent};
use crate::state::{BlockBody, State};

/// A transaction the pool took: its hash, and the block it is in, or
/// `None` while the pool holds it.
pub(crate) struct Submitted {
    pub(crate) hash: [u8; 32],
    pub(crate) block: Option<u32>,
}

/// `SubtensorModule`'s error `name` as a dispatch error, by finney's
/// index (from `subtensor::runtime`'s lists).
pub(crate) fn module_error(name: &str) -> DispatchError {
    let index = runtime::SET_WEIGHTS_ERRORS
        .iter()
        .chain(&runtime::COMMIT_WEIGHTS_ERRORS)
        .find(|(n, _)| *n == name)
        .map(|(_, i)| *i);
    match index {
        Some(index) => DispatchError::Module(ModuleError {
            index: runtime::PALLET_SUBTENSOR.1,
            error: [index, 0, 0, 0],
            message: None,
        }),
        None => DispatchError::Other("an error the node does not list"),
    }
}

impl State {
    /// Checks a submitted transaction and includes it in a new block: the
    /// nonce is used whether the call succeeds or not, as on a real chain.
    /// Under the stall switch it is only held in the pool; under the fake
    /// inclusion switch it is dropped and a new empty block is named; under
    /// the forge switch that block's body and events claim it as well.
    pub(crate) fn submit(&mut self, bytes: &[u8]) -> Result<Submitted, ErrorObjectOwned> {
        self.submissions += 1;
        let tampered = self.tamper_signatures.then(|| {
            let mut copy = bytes.to_vec();
            extrinsic::tamper_signature(&mut copy);
            copy
        });
        let bytes = tampered.as_deref().unwrap_or(bytes);
        let checked = self.admit(bytes)?;
        let hash = checked.hash;
        if self.stall_inclusion {
            self.stalled.push(bytes.to_vec());
            return Ok(Submitted { hash, block: None });
        }
        if self.fake_inclusion || self.forge_inclusion {
            self.advance(1, unix_now());
            let block = self.head();
            if self.forge_inclusion {
                // The body and events claim it; the state never saw it.
                let success = frame_system::EventRecord {
                    phase: frame_system::Phase::ApplyExtrinsic(0),
                    event: RuntimeEvent::System(frame_system::Event::ExtrinsicSuccess {
                        dispatch_info: Default::default(),
                    }),
                    topics: vec![],
                };
                self.bodies.insert(
                    block,
                    BlockBody {
                        extrinsics: vec![bytes.to_vec()],
                        events: vec![success].encode(),
                    },
                );
            }
            return Ok(Submitted {
                hash,
                block: Some(block),
            });
        }
        let block = Some(self.include(&checked, bytes));
        Ok(Submitted { hash, block })
    }

    /// Includes the transactions the stall switch held, each in a new
    /// block, as a pool that catches up would; those no longer valid (a
    /// used nonce, an ended era) are dropped. Returns how many landed.
    pub(crate) fn release_stalled(&mut self) -> usize {
        let held = std::mem::take(&mut self.stalled);
        let mut included = 0;
        for bytes in held {
            if let Ok(checked) = self.admit(&bytes) {
                self.include(&checked, &bytes);
                included += 1;
            }
        }
        included
    }

    /// The pool's checks: format, signature, era, nonce, reveal round.
    fn admit(&self, bytes: &[u8]) -> Result<Checked, ErrorObjectOwned> {
        let head = self.head();
        let hash_of = |n: u32| (n <= head).then(|| self.block_hash(n));
        let nonce_of = |a: &[u8; 32]| self.nonce(a);
        let checked = extrinsic::check(
            bytes,
            &Chain {
                head,
                genesis_hash: self.block_hash(0),
                block_hash: &hash_of,
                nonce: &nonce_of,
            },
        )
        .map_err(|e| e.rpc_error())?;
        let RuntimeCall::SubtensorModule(call) = &checked.call;
        if let pallet_subtensor::Call::commit_timelocked_weights {
            commit,
            reveal_round,
            ..
        } = call
        {
            if commit.len() > runtime::MAX_TIMELOCKED_COMMIT_BYTES {
                // A BoundedVec over its bound does not decode.
                return Err(
                    extrinsic::Invalid::BadFormat("commit over 5000 bytes".into()).rpc_error(),
                );
            }
            self.pool_check_reveal_round(*reveal_round)?;
        }
        Ok(checked)
    }

    /// Puts an admitted transaction in a new block and dispatches it;
    /// returns the block.
    fn include(&mut self, checked: &Checked, bytes: &[u8]) -> u32 {
        let block = self.head().saturating_add(1);
        let mut events = self.on_initialize(block, unix_now());
        self.set_head(block);
        self.use_nonce(checked.signer, block);
        let outcome = match self.dispatch(checked, block) {
            Ok(deposited) => {
                events.extend(deposited);
                frame_system::Event::ExtrinsicSuccess {
                    dispatch_info: Default::default(),
                }
            }
            Err(dispatch_error) => frame_system::Event::ExtrinsicFailed {
                dispatch_error,
                dispatch_info: Default::default(),
            },
        };
        self.snapshot_queues(block);
        events.push(frame_system::EventRecord {
            phase: frame_system::Phase::ApplyExtrinsic(0),
            event: RuntimeEvent::System(outcome),
            topics: vec![],
        });
        self.bodies.insert(
            block,
            BlockBody {
                extrinsics: vec![bytes.to_vec()],
                events: events.encode(),
            },
        );
        block
    }

    /// Produces `blocks` empty blocks at unix time `now`: one by one while
    /// commits wait (each block may reveal), then straight to the end.
    pub(crate) fn advance(&mut self, blocks: u32, now: u64) {
        let end = self.head().saturating_add(blocks);
        while self.head() < end {
            let block = if self.commits_pending() {
                self.head().saturating_add(1)
            } else {
                end
            };
            let events = self.on_initialize(block, now);
            self.set_head(block);
            self.snapshot_queues(block);
            if !events.is_empty() {
                self.bodies.insert(
                    block,
                    BlockBody {
                        extrinsics: Vec::new(),
                        events: events.encode(),
                    },
                );
            }
        }
    }

    /// Applies a checked call at `block` by the pallet's rules; returns
    /// the events it deposits besides the outcome.
    fn dispatch(
        &mut self,
        checked: &Checked,
        block: u32,
    ) -> Result<Vec<frame_system::EventRecord>, DispatchError> {
        let RuntimeCall::SubtensorModule(call) = &checked.call;
        match call {
            pallet_subtensor::Call::set_weights {
                netuid,
                dests,
                weights,
                ..
            } => self
                .set_weights(checked.signer, *netuid, dests, weights, block)
                .map(|()| Vec::new()),
            pallet_subtensor::Call::commit_timelocked_weights {
                netuid,
                commit,
                reveal_round,
                commit_reveal_version,
            } => self
                .commit_timelocked(
                    checked.signer,
                    (*netuid, commit, *reveal_round, *commit_reveal_version),
                    block,
                )
                .map(|e| vec![e]),
        }
    }

    /// `set_weights` (docs/spec/subtensor.md), in the order the pallet checks.
    fn set_weights(
        &mut self,
        signer: [u8; 32],
        netuid: u16,
        dests: &[u16],
        weights: &[u16],
        block: u32,
    ) -> Result<(), DispatchError> {
        if netuid != self.netuid {
            return Err(module_error(runtime::ERR_NO_SUBNET));
        }
        if self.commit_reveal {
            return Err(module_error(runtime::ERR_COMMIT_REVEAL_ENABLED));
        }
        if dests.len() != weights.len() {
            return Err(module_error(runtime::ERR_LENGTHS_DIFFER));
        }
        let uid = self
            .uid_of(&signer)
            .ok_or_else(|| module_error(runtime::ERR_NOT_REGISTERED))?;
        let last = self
            .last_updates(block)
            .get(usize::from(uid))
            .copied()
            .unwrap_or(0);
        if self.weights_rate_limit > 0
            && last > 0
            && u64::from(block).saturating_sub(last) < self.weights_rate_limit
        {
            return Err(module_error(runtime::ERR_TOO_FAST));
        }
        let stored = self.checked_weights(dests, weights).map_err(module_error)?;
        self.weights_set.push((block, uid, stored));
        Ok(())
    }

    /// The uid of a registered hotkey.
    pub(crate) fn uid_of(&self, hotkey: &[u8; 32]) -> Option<u16> {
        self.neurons
            .iter()
            .find(|a| a.hotkey == *hotkey)
            .map(|a| a.uid)
    }

    /// Weights as `Weights` stores them, after the uid checks: max-upscaled
    /// to u16, zeros dropped, as the pallet does. `dests` and `weights`
    /// pair up (checked by the caller).
    pub(crate) fn checked_weights(
        &self,
        dests: &[u16],
        weights: &[u16],
    ) -> Result<Vec<(u16, u16)>, &'static str> {
        let mut seen = HashSet::new();
        if !dests.iter().all(|d| seen.insert(*d)) {
            return Err(runtime::ERR_DUPLICATE_UIDS);
        }
        let size = self.subnet_size();
        if dests.iter().any(|d| usize::from(*d) >= size) {
            return Err(runtime::ERR_INVALID_UID);
        }
        let max = u64::from(weights.iter().copied().max().unwrap_or(0));
        Ok(dests
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w > 0)
            .map(|(d, w)| (*d, ((u64::from(*w) * 65_535 + max / 2) / max) as u16))
            .collect())
    }

    pub(crate) fn neurons_lite(&self) -> Vec<NeuronInfoLite> {
        self.neurons
            .iter()
            .map(|a| NeuronInfoLite {
                hotkey: a.hotkey,
                coldkey: a.coldkey,
                uid: Compact(a.uid),
                netuid: Compact(self.netuid),
                active: true,
                axon_info: AxonInfo {
                    block: 0,
                    version: 0,
                    ip: 0,
                    port: 0,
                    ip_type: 4,
                    protocol: 0,
                    placeholder1: 0,
                    placeholder2: 0,
                },
                prometheus_info: PrometheusInfo {
                    block: 0,
                    version: 0,
                    ip: 0,
                    port: 0,
                    ip_type: 4,
                },
                stake: vec![(a.coldkey, Compact(a.neuron.stake_rao))],
                rank: Compact(0),
                emission: Compact(0),
                incentive: Compact(a.neuron.incentive),
                consensus: Compact(0),
                trust: Compact(0),
                validator_trust: Compact(0),
                dividends: Compact(0),
                last_update: Compact(a.neuron.last_update),
                validator_permit: a.neuron.validator_permit,
                pruning_score: Compact(0),
            })
            .collect()
    }
}
