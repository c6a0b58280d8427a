//! `auditctl status`: what the catalog and the lake hold.

use anyhow::{Context, Result};
use audit_store::Store;

use crate::cli::{Global, StatusArgs};
use crate::view::status::render;
use crate::{exit, output};

pub async fn run(global: &Global, args: &StatusArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let store = Store::open(&config.data_dir, Some(&config.database_url()))
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let now = args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc());
    let report = store.status(config.sync.window_days, now).await?;
    if global.json {
        output::print(&output::json(&report))?;
    } else {
        output::print(&render(&report))?;
    }
    Ok(exit::SUCCESS)
}
