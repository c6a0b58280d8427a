//! The pallet rules the node applies: a submitted transaction is checked
//! as a pool checks it, included in a new block, and dispatched by
//! `set_weights`' rules; and the neurons the runtime API reports.

use std::collections::HashSet;

use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Compact, Encode};
use sp_runtime::{DispatchError, ModuleError};
use subtensor::codec::{AxonInfo, NeuronInfoLite, PrometheusInfo};
use subtensor::runtime;

use crate::extrinsic::{self, Chain, Checked};
use crate::metadata::{frame_system, pallet_subtensor, RuntimeCall, RuntimeEvent};
use crate::state::{block_hash, BlockBody, State};

impl State {
    /// Checks a submitted transaction and includes it in a new block: the
    /// nonce is used whether the call succeeds or not, as on a real chain.
    pub(crate) fn submit(&mut self, bytes: &[u8]) -> Result<(u32, [u8; 32]), ErrorObjectOwned> {
        let head = self.head();
        let hash_of = |n: u32| (n <= head).then(|| block_hash(n));
        let nonce_of = |a: &[u8; 32]| self.nonce(a);
        let checked = extrinsic::check(
            bytes,
            &Chain {
                head,
                genesis_hash: block_hash(0),
                block_hash: &hash_of,
                nonce: &nonce_of,
            },
        )
        .map_err(|e| e.rpc_error())?;
        let block = head.saturating_add(1);
        self.set_head(block);
        *self.nonces.entry(checked.signer).or_insert(0) += 1;
        let event = match self.dispatch(&checked, block) {
            Ok(()) => frame_system::Event::ExtrinsicSuccess {
                dispatch_info: Default::default(),
            },
            Err(dispatch_error) => frame_system::Event::ExtrinsicFailed {
                dispatch_error,
                dispatch_info: Default::default(),
            },
        };
        let events = vec![frame_system::EventRecord {
            phase: frame_system::Phase::ApplyExtrinsic(0),
            event: RuntimeEvent::System(event),
            topics: vec![],
        }];
        self.bodies.insert(
            block,
            BlockBody {
                extrinsics: vec![bytes.to_vec()],
                events: events.encode(),
            },
        );
        Ok((block, checked.hash))
    }

    /// Applies a checked call at `block`, by the chain's rules for
    /// `set_weights` (spec/subtensor.md), in the order the pallet checks them.
    fn dispatch(&mut self, checked: &Checked, block: u32) -> Result<(), DispatchError> {
        let RuntimeCall::SubtensorModule(call) = &checked.call;
        let fail = |name: &str| {
            let index = runtime::set_weights_error_index(name).expect("a listed error");
            DispatchError::Module(ModuleError {
                index: runtime::PALLET_SUBTENSOR.1,
                error: [index, 0, 0, 0],
                message: None,
            })
        };
        let pallet_subtensor::Call::set_weights {
            netuid,
            dests,
            weights,
            ..
        } = call
        else {
            // Time-locked commits are out of scope: the node refuses them.
            return Err(DispatchError::Other(
                "commit_timelocked_weights is not simulated",
            ));
        };
        if *netuid != self.netuid {
            return Err(fail(runtime::ERR_NO_SUBNET));
        }
        if self.commit_reveal {
            return Err(fail(runtime::ERR_COMMIT_REVEAL_ENABLED));
        }
        if dests.len() != weights.len() {
            return Err(fail(runtime::ERR_LENGTHS_DIFFER));
        }
        let uid = self
            .neurons
            .iter()
            .find(|a| a.hotkey == checked.signer)
            .map(|a| a.uid)
            .ok_or_else(|| fail(runtime::ERR_NOT_REGISTERED))?;
        let last = self
            .last_updates(block)
            .get(usize::from(uid))
            .copied()
            .unwrap_or(0);
        if self.weights_rate_limit > 0
            && last > 0
            && u64::from(block).saturating_sub(last) < self.weights_rate_limit
        {
            return Err(fail(runtime::ERR_TOO_FAST));
        }
        let mut seen = HashSet::new();
        if !dests.iter().all(|d| seen.insert(*d)) {
            return Err(fail(runtime::ERR_DUPLICATE_UIDS));
        }
        let size = self.subnet_size();
        if dests.iter().any(|d| usize::from(*d) >= size) {
            return Err(fail(runtime::ERR_INVALID_UID));
        }
        // Stored max-upscaled to u16, zeros dropped, as the pallet does.
        let max = u64::from(weights.iter().copied().max().unwrap_or(0));
        let stored: Vec<(u16, u16)> = dests
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w > 0)
            .map(|(d, w)| (*d, ((u64::from(*w) * 65_535 + max / 2) / max) as u16))
            .collect();
        self.weights_set.push((block, uid, stored));
        Ok(())
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
