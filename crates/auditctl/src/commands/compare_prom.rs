//! `auditctl compare-prom`: miners' self-reports against the validator's
//! exports, and each miner's audit coverage; `--explain HOTKEY` for one
//! miner by chute and hour; `--prometheus-url URL --hotkey HK` for a
//! miner's own Prometheus, live. Flags are findings about miners, so the
//! exit code is 0 unless `--fail-on-flagged` asks for 3.

use std::time::Duration;

use anyhow::{Context, Result};
use audit_store::Store;
use chrono::NaiveDateTime;
use prom_compare::{CompareOptions, Comparison, LiveOptions, Verdict};

use crate::cli::{ComparePromArgs, Global};
use crate::view::compare_prom::{render, render_explanation, render_live};
use crate::{exit, output};
use audit_config::Config;

pub async fn run(global: &Global, args: &ComparePromArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let at = args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc());
    let store = Store::open(&config.data_dir, Some(&config.database_url()))
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let validators = config.validator_hotkeys();

    if let (Some(url), Some(hotkey)) = (&args.prometheus_url, &args.hotkey) {
        let options = LiveOptions {
            at,
            threshold: args.threshold,
            validators: &validators,
            hotkey,
            prometheus_url: url,
            timeout: Duration::from_secs(config.endpoints.timeout_seconds),
        };
        let live = prom_compare::compare_live(&store, &options).await?;
        if global.json {
            output::print(&output::json(&live))?;
        } else {
            output::print(&render_live(&live))?;
        }
        let flagged = live.agreement.verdict == Verdict::Flagged;
        return Ok(code(flagged && args.fail_on_flagged));
    }

    let run = compare(&store, &config, at, args.threshold, args.explain.as_deref()).await?;
    match (&run.explanation, global.json) {
        (Some(e), true) => output::print(&output::json(e))?,
        (Some(e), false) => output::print(&render_explanation(e, run.threshold))?,
        (None, true) => output::print(&output::json(&run))?,
        (None, false) => output::print(&render(&run))?,
    }
    Ok(code(run.summary.flagged > 0 && args.fail_on_flagged))
}

fn code(fail: bool) -> u8 {
    if fail {
        exit::INTEGRITY
    } else {
        exit::SUCCESS
    }
}

/// Runs and records a comparison as of `at` with the configured validators.
pub async fn compare(
    store: &Store,
    config: &Config,
    at: NaiveDateTime,
    threshold: f64,
    explain: Option<&str>,
) -> Result<Comparison> {
    let validators = config.validator_hotkeys();
    let options = CompareOptions {
        at,
        threshold,
        validators: &validators,
        explain,
        now: chrono::Utc::now().naive_utc(),
    };
    Ok(prom_compare::compare(store, &options).await?)
}
