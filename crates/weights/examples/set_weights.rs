//! Set weights from your own scores: a hotkey → score map goes through the
//! same policy `auditctl` uses (hotkeys to uids on the metagraph now, the
//! one quantisation, the preconditions, plain or timelocked as the chain
//! requires). Without `--send` it prints the plan and sends nothing.
//!
//! ```text
//! cargo run -p weights --example set_weights -- SCORES.json [--send]
//! ```
//!
//! `SCORES.json` is an object `{"HOTKEY": score, ...}` (any non-negative
//! scale). Environment: `AUDITCTL_SECRET_SEED` (the validator hotkey's
//! `0x` seed; required), `SUBTENSOR_URL` (default: the finney entrypoint),
//! `NETUID` (64), `VERSION_KEY` (default: the chain's `WeightsVersionKey`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use subtensor::{ClientOptions, Hotkey, SubtensorClient};
use weights::{AttemptOutcome, PlannedCall, SendOptions, SendRequest};

const USAGE: &str = "usage: set_weights SCORES.json [--send]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors in words (Display), not as `main`'s Debug dump.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.iter().find(|a| !a.starts_with("--")).ok_or(USAGE)?;
    let send = args.iter().any(|a| a == "--send");
    let scores = read_scores(path)?;
    let seed = std::env::var("AUDITCTL_SECRET_SEED")
        .map_err(|_| "set AUDITCTL_SECRET_SEED to the validator hotkey's 0x seed")?;
    let hotkey = Hotkey::from_seed_hex(&seed).map_err(|e| format!("AUDITCTL_SECRET_SEED: {e}"))?;
    let url = env_or("SUBTENSOR_URL", "wss://entrypoint-finney.opentensor.ai:443");
    let netuid: u16 = env_or("NETUID", "64")
        .parse()
        .map_err(|e| format!("NETUID: {e}"))?;

    let chain = SubtensorClient::connect(&url, ClientOptions::default()).await?;
    // Unset: the chain's WeightsVersionKey, read when planning.
    let version_key = match std::env::var("VERSION_KEY") {
        Ok(key) => Some(key.parse().map_err(|e| format!("VERSION_KEY: {e}"))?),
        Err(_) => None,
    };
    let beacon = drand_tlock::QUICKNET;
    let request = SendRequest {
        netuid,
        scores: &scores,
        hotkey: Some(&hotkey),
        configured_address: None,
        version_key,
        // The scores are the caller's own, computed just now.
        newest_entry_age: Some(Duration::ZERO),
        max_entry_age: Duration::from_secs(3600),
        unverifiable_entries: 0,
        beacon,
        block_time: Duration::from_secs(12),
        now: SystemTime::now().duration_since(UNIX_EPOCH)?,
    };
    let plan = weights::plan(&chain, &request).await?;
    println!(
        "{} sets weights on netuid {netuid} as uid {}",
        hotkey.ss58(),
        plan.uid
    );
    match &plan.call {
        PlannedCall::Plain => println!("call: set_weights (version key {})", plan.version_key),
        PlannedCall::Timelocked { reveal, .. } => println!(
            "call: commit_timelocked_weights, revealed at drand round {} (block {})",
            reveal.round, reveal.target_block
        ),
    }
    for (uid, weight) in plan.vector.pairs() {
        println!("  uid {uid:>5}  {weight:>5}");
    }
    if !plan.skipped.is_empty() {
        println!("not on the metagraph, skipped: {}", plan.skipped.join(", "));
    }
    if !send {
        println!("dry run: nothing sent (add --send)");
        return Ok(());
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("OS randomness: {e}"))?;
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
    let options = SendOptions {
        tries: 3,
        backoff: Duration::from_secs(2),
        wait_reveal: None,
    };
    let submission = weights::send(&chain, &hotkey, &plan, &beacon, options, &mut rng).await?;
    for attempt in &submission.attempts {
        let n = attempt.number;
        match &attempt.outcome {
            AttemptOutcome::Included {
                extrinsic,
                block_hash,
                block,
            } => println!(
                "attempt {n}: included, extrinsic 0x{} in block {block} (0x{})",
                hex::encode(extrinsic.hash),
                hex::encode(block_hash)
            ),
            AttemptOutcome::Unknown { reason, .. } => {
                println!("attempt {n}: fate unknown: {reason}")
            }
            AttemptOutcome::Refused(why) => println!("attempt {n}: refused by the chain: {why}"),
            AttemptOutcome::Malformed(why) => {
                println!("attempt {n}: the node answered malformed data: {why}")
            }
            AttemptOutcome::Transport(why) => println!("attempt {n}: transport failure: {why}"),
        }
    }
    println!("landing: {:?}", submission.landing);
    Ok(())
}

/// `{"HOTKEY": score}`; a score that is not a number is named.
fn read_scores(path: &str) -> Result<Vec<(String, f64)>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{path}: not a JSON object of hotkey to score: {e}"))?;
    map.into_iter()
        .map(|(hotkey, score)| match score.as_f64() {
            Some(score) => Ok((hotkey, score)),
            None => Err(format!("{path}: the score of {hotkey} is not a number").into()),
        })
        .collect()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}
