//! `auditctl sync`: the verified ingest of the last week of audit data.
//! The pipeline is `audit_sync::sync`; this module wires it to the
//! network (the Chutes client) and a chain, shows progress, and renders
//! the summary. Exit code 3 when anything failed an integrity check, so
//! monitoring can page on it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use audit_store::Store;
use audit_sync::{ChainSource, SyncOptions, SyncSummary};
use chrono::NaiveDateTime;
use chutes_client::{ChutesClient, ClientConfig, Endpoints};
use comfy_table::Cell;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{Global, SyncArgs};
use crate::config::Config;
use crate::{exit, output};

/// What `sync --json` prints: the options it ran with and what it did.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    pub at: NaiveDateTime,
    pub window_days: u32,
    pub integrity_violation: bool,
    #[serde(flatten)]
    pub summary: SyncSummary,
}

pub async fn run(global: &Global, args: &SyncArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let options = options(&config, args);
    // Pruning by a future time would empty the lake.
    audit_model::time::check_not_future(options.at, chrono::Utc::now().naive_utc())?;
    let store = Arc::new(
        Store::open_for_writing(
            &config.data_dir,
            Some(&config.database_url()),
            &args.lock.request("auditctl sync"),
        )
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let client = Arc::new(chutes_client(&config)?);
    let chain = Arc::new(chain(&config).await?);
    let report = ingest(store, client, chain, options, global.json).await?;
    if global.json {
        output::print(&output::json(&report))?;
    } else {
        output::print(&render(&report))?;
    }
    Ok(if report.integrity_violation {
        exit::INTEGRITY
    } else {
        exit::SUCCESS
    })
}

/// The chain the config names: the archive node when there is one (an
/// entry's commitment is read at its block, up to a week old), else the
/// node.
pub async fn chain(config: &Config) -> Result<audit_sync::SubtensorChain> {
    let url = config
        .subtensor
        .archive_url
        .as_ref()
        .unwrap_or(&config.subtensor.url);
    let client = subtensor::SubtensorClient::connect(url.as_str(), chain_options(config, url))
        .await
        .with_context(|| format!("connecting to the chain at {url}"))?;
    Ok(audit_sync::SubtensorChain {
        client,
        netuid: config.netuid,
    })
}

/// How the chain is read when the reads go to `reading`: proven, with
/// every other configured endpoint (the node or the archive node) a
/// witness of the blocks read at.
pub fn chain_options(config: &Config, reading: &url::Url) -> subtensor::ClientOptions {
    let endpoints = [
        Some(&config.subtensor.url),
        config.subtensor.archive_url.as_ref(),
    ];
    let mut witnesses: Vec<String> = Vec::new();
    for url in endpoints.into_iter().flatten() {
        if url != reading && !witnesses.contains(&url.to_string()) {
            witnesses.push(url.to_string());
        }
    }
    subtensor::ClientOptions {
        call_timeout: Duration::from_secs(config.subtensor.timeout_seconds),
        witnesses,
        ..subtensor::ClientOptions::default()
    }
}

/// The sync options from the config and the flags.
pub fn options(config: &Config, args: &SyncArgs) -> SyncOptions {
    let validators = config
        .validators
        .iter()
        .map(|v| (v.hotkey.clone(), v.url.to_string()))
        .collect::<BTreeMap<_, _>>();
    SyncOptions::new(
        args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc()),
        validators,
    )
    .with_window_days(config.sync.window_days)
    .with_hotkey(args.hotkey.clone())
    .with_miner_reports(config.sync.miner_reports && !args.no_miner_reports)
    .with_load_unverifiable(config.sync.load_unverifiable)
    .with_concurrency(config.sync.concurrency)
}

/// The Chutes client the config describes.
pub fn chutes_client(config: &Config) -> Result<ChutesClient> {
    let mut client = ClientConfig::new(Endpoints {
        api: config.endpoints.api.clone(),
        llm: config.endpoints.llm.clone(),
        chute_url_template: config.endpoints.chute_url_template.clone(),
    });
    client.timeout = Duration::from_secs(config.endpoints.timeout_seconds);
    client.max_body_bytes = config.endpoints.max_body_bytes;
    client.max_report_bytes = config.endpoints.max_report_bytes;
    client.api_key = config.api_key.as_ref().map(|k| k.expose().to_string());
    Ok(ChutesClient::new(client)?)
}

/// Runs the pipeline with a progress bar on stderr (hidden for `--json`
/// and when stderr is not a terminal).
pub async fn ingest<C: ChainSource + 'static>(
    store: Arc<Store>,
    client: Arc<ChutesClient>,
    chain: Arc<C>,
    options: SyncOptions,
    quiet: bool,
) -> Result<SyncReport> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} entries, {msg}",
            )
            .expect("static progress template")
            .progress_chars("=> "),
        );
        bar
    };
    let progress_bar = bar.clone();
    let summary = audit_sync::sync(store, client, chain, &options, move |done, total, bytes| {
        progress_bar.set_length(total as u64);
        progress_bar.set_position(done as u64);
        progress_bar.set_message(format!("{} downloaded", HumanBytes(bytes)));
    })
    .await?;
    bar.finish_and_clear();
    Ok(SyncReport {
        at: options.at,
        window_days: options.window_days,
        integrity_violation: summary.integrity_violation(),
        summary,
    })
}

/// The human view: counts, then every rejected or failed entry.
pub fn render(report: &SyncReport) -> String {
    let s = &report.summary;
    let integrity = s.rejected.iter().filter(|r| r.integrity).count();
    let mut counts = output::key_values();
    let rows: Vec<(&str, String)> = vec![
        ("entries listed", s.listed.to_string()),
        ("loaded now", s.loaded.to_string()),
        ("already loaded", s.already_loaded.to_string()),
        ("unverifiable, not loaded", s.unverifiable.to_string()),
        (
            "loaded unverifiable (scores marked)",
            s.loaded_unverifiable.to_string(),
        ),
        ("re-verified", s.reverified.to_string()),
        (
            "rejected",
            format!("{} ({integrity} integrity)", s.rejected.len()),
        ),
        ("failed (retried next run)", s.failed.len().to_string()),
        ("skipped (not ours)", s.skipped.to_string()),
        ("pruned (left the window)", s.pruned.to_string()),
        (
            "malformed listing elements",
            s.malformed_listing.len().to_string(),
        ),
        (
            "lost from the lake (re-fetched)",
            s.missing_from_lake.len().to_string(),
        ),
        ("hours without a verified entry", s.gaps.len().to_string()),
        ("rows", s.rows.to_string()),
        ("duplicates collapsed", s.duplicates_collapsed.to_string()),
        ("malformed rows", s.malformed_rows.to_string()),
        ("malformed metrics", s.malformed_metrics.to_string()),
        ("not miner work (uid < 0)", s.not_miner_work.to_string()),
        ("downloaded", HumanBytes(s.bytes).to_string()),
        (
            "metagraph block",
            s.metagraph_block
                .map(|b| b.to_string())
                .unwrap_or_else(|| "not refreshed".into()),
        ),
        ("GPU counts", s.gpu_counts.to_string()),
    ];
    for (label, value) in rows {
        counts.add_row(vec![Cell::new(label), Cell::new(value)]);
    }
    output::align_right(&mut counts, &[1]);
    let mut text = format!(
        "sync at {} (window {} days)\n{counts}\n",
        report.at.format("%Y-%m-%d %H:%M:%S"),
        report.window_days
    );
    for (title, list) in [("rejected", &s.rejected), ("failed", &s.failed)] {
        if list.is_empty() {
            continue;
        }
        let mut table = output::table(["entry", "hotkey", "block", "integrity", "reason"]);
        for r in list.iter() {
            table.add_row(vec![
                Cell::new(&r.entry_id),
                Cell::new(&r.hotkey),
                Cell::new(r.block),
                Cell::new(if r.integrity { "yes" } else { "no" }),
                Cell::new(&r.reason),
            ]);
        }
        text.push_str(&format!("\n{title}:\n{table}\n"));
    }
    if !s.malformed_listing.is_empty() {
        let mut table = output::table(["listing element", "reason"]);
        for m in &s.malformed_listing {
            table.add_row(vec![Cell::new(m.index), Cell::new(&m.reason)]);
        }
        text.push_str(&format!("\nskipped listing elements:\n{table}\n"));
    }
    if !s.gaps.is_empty() {
        text.push_str(&format!(
            "\nhours without a verified validator entry (hour ends): {}\n",
            hour_spans(&s.gaps)
        ));
    }
    if report.integrity_violation {
        text.push_str(&format!(
            "\nINTEGRITY VIOLATION: {integrity} entr{} failed verification against the chain or its report (exit code 3)\n",
            if integrity == 1 { "y" } else { "ies" }
        ));
    }
    text
}

/// Hour ends as runs of consecutive hours, so a week without data reads
/// as one span rather than 168 times: `2025-02-03 13:00 .. 2025-02-10
/// 09:00, 2025-02-10 11:00`.
pub fn hour_spans(hours: &[NaiveDateTime]) -> String {
    let mut spans: Vec<(NaiveDateTime, NaiveDateTime)> = Vec::new();
    for &h in hours {
        match spans.last_mut() {
            Some((_, end)) if h - *end == chrono::TimeDelta::hours(1) => *end = h,
            _ => spans.push((h, h)),
        }
    }
    let at = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    spans
        .iter()
        .map(|&(first, last)| match first == last {
            true => at(first),
            false => format!("{} .. {}", at(first), at(last)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_sync::Rejection;

    #[test]
    fn the_summary_table_names_every_count_and_each_rejection() {
        let report = SyncReport {
            at: audit_store::time::parse_utc("2025-02-10T12:00:00").unwrap(),
            window_days: 7,
            integrity_violation: true,
            summary: SyncSummary {
                listed: 30,
                loaded: 20,
                already_loaded: 5,
                unverifiable: 1,
                skipped: 2,
                rejected: vec![Rejection {
                    entry_id: "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
                    hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
                    block: 4_800_300,
                    reason: "report sha256 does not match the commitment".into(),
                    kind: audit_sync::FaultKind::Integrity,
                    integrity: true,
                }],
                failed: vec![],
                pruned: 3,
                leftovers_cleaned: 0,
                rows: 1_234_567,
                duplicates_collapsed: 12,
                malformed_rows: 2,
                malformed_metrics: 1,
                not_miner_work: 40,
                bytes: 12_345_678,
                metagraph_block: Some(4_801_000),
                gpu_counts: 17,
                malformed_listing: vec![audit_store::MalformedListing {
                    index: 3,
                    reason: "not an audit entry: missing field `block`".into(),
                }],
                loaded_unverifiable: 0,
                reverified: 1,
                missing_from_lake: vec!["2b4e28ba-2fa1-11d2-883f-0016d3cca427".into()],
                gaps: vec![
                    audit_store::time::parse_utc("2025-02-10T03:00:00").unwrap(),
                    audit_store::time::parse_utc("2025-02-10T05:00:00").unwrap(),
                ],
            },
        };
        insta::assert_snapshot!(render(&report));
    }

    fn hour(d: u32, h: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2025, 2, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn gaps_read_as_spans_of_consecutive_hours() {
        let gaps = [
            hour(9, 22),
            hour(9, 23),
            hour(10, 0),
            hour(10, 1),
            hour(10, 5),
            hour(10, 7),
            hour(10, 8),
        ];
        assert_eq!(
            hour_spans(&gaps),
            "2025-02-09 22:00 .. 2025-02-10 01:00, 2025-02-10 05:00, 2025-02-10 07:00 .. 2025-02-10 08:00"
        );
        assert_eq!(hour_spans(&[]), "");
    }

    #[test]
    fn a_week_missing_from_a_short_world_is_one_span_in_the_summary() {
        // A 10-hour world scored over 7 days: 158 hours before it are gaps.
        let gaps: Vec<_> = (0..158)
            .map(|i| hour(3, 13) + chrono::TimeDelta::hours(i))
            .collect();
        let report = SyncReport {
            at: hour(10, 12),
            window_days: 7,
            integrity_violation: false,
            summary: SyncSummary {
                gaps,
                ..SyncSummary::default()
            },
        };
        let text = render(&report);
        assert!(
            text.contains(
                "hours without a verified validator entry (hour ends): 2025-02-03 13:00 .. 2025-02-10 02:00\n"
            ),
            "{text}"
        );
    }
}
