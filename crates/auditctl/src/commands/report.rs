//! `auditctl report`: the shareable page, written atomically to a file
//! (default `<data_dir>/report.html`); `--json` prints its data instead.

use anyhow::{Context, Result};

use crate::cli::{Global, ReportArgs};
use crate::exit;
use audit_view::output;

pub async fn run(global: &Global, args: &ReportArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let at = args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc());
    let store = audit_run::open_store(&config, None).await?;
    let data = audit_report::gather(&store, at, &config.report_settings()).await?;
    if global.json {
        output::print(&output::json(&data))?;
        if args.out.is_none() {
            return Ok(exit::SUCCESS);
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.data_dir.join("report.html"));
    audit_store::write_atomic(&out, audit_report::render(&data).as_bytes())
        .with_context(|| format!("writing the report to {}", out.display()))?;
    if !global.json {
        output::println_safe!("{}", out.display())?;
    }
    Ok(exit::SUCCESS)
}
