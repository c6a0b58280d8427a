//! Scores from a lake another auditor (or `auditctl sync`) filled: the
//! whole scoring in one call, compared with the chain's incentive, and
//! nothing written back.
//!
//! ```text
//! cargo run -p incentives --example score_lake -- DATA_DIR [AT]
//! ```
//!
//! `AT` is the evaluation time (`2025-10-01T12:00:00`, UTC; default now).
//! Environment: `DATABASE_URL` (default: the SQLite catalog in DATA_DIR),
//! `VALIDATOR_HOTKEY` (default: the Chutes validator), `NETUID` (64).

use std::path::PathBuf;

use audit_store::Store;
use chrono::NaiveDateTime;
use incentives::{Evaluation, ScoringProfile};

const CHUTES_VALIDATOR: &str = "5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ";
const USAGE: &str = "usage: score_lake DATA_DIR [AT, e.g. 2025-10-01T12:00:00]";

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
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(args.next().ok_or(USAGE)?);
    if !data_dir.join("lake").is_dir() {
        return Err(format!(
            "{} holds no lake: give a data directory `auditctl sync` filled",
            data_dir.display()
        )
        .into());
    }
    let at = match args.next() {
        Some(text) => NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
            .map_err(|e| format!("AT `{text}`: {e}; {USAGE}"))?,
        None => chrono::Utc::now().naive_utc(),
    };
    let validators = vec![env_or("VALIDATOR_HOTKEY", CHUTES_VALIDATOR)];
    let netuid: u16 = env_or("NETUID", "64")
        .parse()
        .map_err(|e| format!("NETUID: {e}"))?;
    let database_url = std::env::var("DATABASE_URL").ok();

    // The store, read only: `assess` scores and compares without recording.
    let store = Store::open(&data_dir, database_url.as_deref()).await?;
    let profile = ScoringProfile::default();
    let run = Evaluation {
        at,
        validators: &validators,
        netuid,
        profile: &profile,
        now: at,
    };
    let assessed = incentives::assess(&store, run).await?;

    let scores = &assessed.scores;
    println!(
        "{} miners scored at {at} from {} entries ({} invocation rows), profile {} v{}",
        scores.miners.len(),
        scores.entries,
        scores.invocations.rows,
        scores.profile_name,
        scores.profile_version
    );
    let header = ["hotkey", "computed", "chain", "delta"];
    println!(
        "{:<50} {:>10} {:>10} {:>10}",
        header[0], header[1], header[2], header[3]
    );
    for m in assessed.comparison.matched.iter().take(20) {
        println!(
            "{:<50} {:>10.6} {:>10.6} {:>10.6}",
            m.hotkey, m.computed, m.actual, m.delta
        );
    }
    let c = &assessed.comparison;
    println!(
        "sum of |delta| {:.6}, largest {:.6}; computed but unpaid: {}, paid but not computed: {}",
        c.sum_abs_delta,
        c.max_delta,
        c.computed_unpaid.len(),
        c.paid_not_computed.len()
    );
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}
