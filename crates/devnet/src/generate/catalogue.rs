//! The world files about the cast rather than the hours: the metagraph,
//! the GPU counts, the chutes catalogue, and an instance as the reports
//! describe it.

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use super::cast::{Cast, Chute, Instance, Miner};
use super::files::{iso, key};
use super::fixed::VALIDATOR_HOTKEY;
use crate::world::{GpuCountSpec, NeuronSpec};

/// The validator at uid 0, miners paid by their share of the compute
/// they did (the chain's incentive, approximately).
pub(super) fn metagraph(seed: u64, cast: &Cast, miners: usize) -> Vec<NeuronSpec> {
    let on_chain = &cast.miners[..miners];
    let total_compute: f64 = on_chain.iter().map(|m| m.compute).sum();
    let mut metagraph = vec![NeuronSpec {
        uid: 0,
        hotkey: VALIDATOR_HOTKEY.into(),
        coldkey: key(seed, "validator-cold"),
        incentive: 0,
        stake: 1_000_000.0,
    }];
    for m in on_chain {
        let share = if total_compute > 0.0 {
            m.compute / total_compute
        } else {
            0.0
        };
        metagraph.push(NeuronSpec {
            uid: m.uid,
            hotkey: m.hotkey.clone(),
            coldkey: m.coldkey.clone(),
            incentive: (share * 65535.0).round() as u16,
            stake: 10.0 + f64::from(m.uid),
        });
    }
    metagraph
}

/// Every chute's GPU count but every sixth's: a chute without a count
/// counts as 1.
pub(super) fn gpu_counts(chutes: &[Chute]) -> Vec<GpuCountSpec> {
    chutes
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 6 != 5)
        .map(|(_, c)| GpuCountSpec {
            chute_id: c.id.clone(),
            gpu_count: c.gpus,
        })
        .collect()
}

/// An instance as the validator's instance audit and a miner's
/// deployment audit describe it.
pub(super) fn instance_record(
    i: &Instance,
    chutes: &[Chute],
    miners: &[Miner],
) -> serde_json::Value {
    let chute = &chutes[i.chute];
    let miner = &miners[i.miner];
    json!({
        "instance_id": i.id, "chute_id": chute.id, "version": "1", "deployment_id": null,
        "validator": VALIDATOR_HOTKEY, "miner_uid": miner.uid, "miner_hotkey": miner.hotkey,
        "region": "eu", "created_at": iso(i.activated - Duration::minutes(5)),
        "verified_at": iso(i.activated - Duration::minutes(1)), "deleted_at": i.deleted.map(iso),
        "deletion_reason": i.reason, "activated_at": iso(i.activated),
        "stop_billing_at": i.billed_to.as_ref().and(i.deleted).map(|d| iso(d - Duration::minutes(2))),
        "billed_to": i.billed_to.clone().unwrap_or_default(),
        "compute_multiplier": 0.5 * f64::from(chute.gpus),
    })
}

/// The body of `GET /chutes/`: every chute with its live instances and cords.
pub(super) fn chutes_catalogue(cast: &Cast, now: NaiveDateTime) -> serde_json::Value {
    let items: Vec<serde_json::Value> = cast
        .chutes
        .iter()
        .enumerate()
        .map(|(c, chute)| {
            let live: Vec<serde_json::Value> = cast
                .instances
                .iter()
                .filter(|i| i.chute == c && i.deleted.is_none_or(|d| d > now))
                .map(|i| json!({"instance_id": i.id, "region": "eu", "active": true, "verified": true,
                                "last_verified_at": iso(now), "miner_hotkey": cast.miners[i.miner].hotkey}))
                .collect();
            json!({"chute_id": chute.id, "name": format!("devnet/{}", chute.slug), "slug": chute.slug,
                   "standard_template": chute.template, "user": {"username": "chutes"},
                   "node_selector": {"gpu_count": chute.gpus}, "instances": live,
                   "cord_ref_id": chute.template.unwrap_or("custom")})
        })
        .collect();
    let cords = json!({
        "vllm": [{"path": "/chat", "function": "chat", "stream": true, "public_api_path": "/v1/chat/completions", "public_api_method": "POST", "passthrough": true},
                 {"path": "/completion", "function": "completion", "stream": true, "public_api_path": "/v1/completions", "public_api_method": "POST", "passthrough": true}],
        "diffusion": [{"path": "/generate", "function": "generate", "stream": false, "public_api_path": "/generate", "public_api_method": "POST", "passthrough": false}],
        "tei": [{"path": "/embed", "function": "embed", "stream": false, "public_api_path": "/embed", "public_api_method": "POST", "passthrough": false}],
        "custom": [{"path": "/speak", "function": "speak", "stream": false, "public_api_path": "/speak", "public_api_method": "POST", "passthrough": false}],
    });
    json!({"total": items.len(), "page": 0, "limit": 1000, "items": items, "cord_refs": cords})
}
