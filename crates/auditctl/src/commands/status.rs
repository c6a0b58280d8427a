//! `auditctl status`: what the catalog and the lake hold.

use anyhow::Result;

use crate::cli::{Global, StatusArgs};
use crate::exit;
use audit_view::output;
use audit_view::status::render;

pub async fn run(global: &Global, args: &StatusArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let store = audit_run::open_store(&config, None).await?;
    let now = audit_run::evaluation_time(args.at, false)?;
    let report = store.status(config.sync.window_days, now).await?;
    if global.json {
        output::print(&output::json(&report))?;
    } else {
        output::print(&render(&report))?;
    }
    Ok(exit::SUCCESS)
}
