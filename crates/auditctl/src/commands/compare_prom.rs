//! `auditctl compare-prom`: miners' self-reports against the validator's
//! exports, and each miner's audit coverage; `--explain HOTKEY` for one
//! miner by chute and hour; `--prometheus-url URL --hotkey HK` for a
//! miner's own Prometheus, live. Flags are findings about miners, so the
//! exit code is 0 unless `--fail-on-flagged` asks for 3.

use std::time::Duration;

use anyhow::Result;
use prom_compare::{LiveOptions, Verdict};

use crate::cli::{ComparePromArgs, Global};
use crate::exit;
use audit_view::compare_prom::{render, render_explanation, render_live};
use audit_view::output;

pub async fn run(global: &Global, args: &ComparePromArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let at = audit_run::evaluation_time(args.at, false)?;
    let store = audit_run::open_store(&config, None).await?;
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

    let explain = args.explain.as_deref();
    let run = audit_run::compare_prom(&store, &config, at, args.threshold, explain).await?;
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
