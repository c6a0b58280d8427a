//! Verify one audit entry against the chain, as `auditctl sync` does, and
//! keep nothing: its id derives from its hotkey and block, its report is
//! what the hotkey committed on chain at that block, and each export it
//! names hashes to what the report says.
//!
//! ```text
//! cargo run -p audit-sync --example verify_entry -- [ENTRY_ID]
//! ```
//!
//! Without an id, the newest listed entry. Environment: `CHUTES_API`
//! (default https://api.chutes.ai; the exports are fetched from it too),
//! `SUBTENSOR_URL` (default: the public archive node, since the commitment
//! is read at the entry's block), `NETUID` (64).
//! Exit code 3 when the entry fails a check.

use std::process::ExitCode;
use std::time::Duration;

use audit_sync::{verify_entry, AuditSource, Fault, SubtensorChain};
use chutes_client::{ChutesClient, ClientConfig, Endpoints};
use subtensor::{ClientOptions, SubtensorClient};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let wanted = std::env::args().nth(1);
    let api = url::Url::parse(&env_or("CHUTES_API", "https://api.chutes.ai"))
        .map_err(|e| format!("CHUTES_API: {e}"))?;
    let chain_url = env_or("SUBTENSOR_URL", "wss://archive.chain.opentensor.ai:443");
    let netuid: u16 = env_or("NETUID", "64")
        .parse()
        .map_err(|e| format!("NETUID: {e}"))?;

    let network = ChutesClient::new(ClientConfig::new(Endpoints {
        llm: api.clone(),
        chute_url_template: "https://{slug}.chutes.ai".into(),
        api: api.clone(),
    }))?;
    let options = ClientOptions {
        call_timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let chain = SubtensorChain {
        client: SubtensorClient::connect(&chain_url, options).await?,
        netuid,
    };

    let listing = network.list_entries().await?;
    let entry = match &wanted {
        Some(id) => listing
            .entries
            .iter()
            .find(|e| e.entry_id.eq_ignore_ascii_case(id)),
        None => listing.entries.iter().max_by_key(|e| e.created_at),
    }
    .ok_or_else(|| match &wanted {
        Some(id) => format!("entry {id} is not listed by {api}audit/"),
        None => format!("{api}audit/ lists no entry"),
    })?;
    println!(
        "entry {} by {} at block {} ({})",
        entry.entry_id, entry.hotkey, entry.block, entry.path
    );

    let scratch = std::env::temp_dir().join(format!("verify-entry-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let verdict = verify_entry(&network, &chain, entry, api.as_str(), &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    match verdict {
        Ok(proof) => {
            let how = if proof.unverifiable {
                "NOT checked against the chain (the node no longer holds that block: use an archive node)"
            } else {
                "matches the on-chain commitment"
            };
            println!("report sha256 {} {how}", proof.report_sha256);
            for export in &proof.exports {
                println!(
                    "  {:<12} {} bytes, sha256 {} as the report says ({})",
                    export.kind.as_str(),
                    export.bytes,
                    export.sha256,
                    export.path
                );
            }
            Ok(if proof.unverifiable {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(fault @ (Fault::Integrity(_) | Fault::Malformed { .. })) => {
            println!("REJECTED: {fault}");
            Ok(ExitCode::from(3))
        }
        Err(fault) => Err(fault.into()),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}
