//! `auditctl config check`: load, validate, print the effective config
//! (`audit_config::Config::render_check`, masked).

use anyhow::Result;
use audit_view::output;

use crate::cli::Global;
use crate::exit;

/// Loads and validates the configuration, prints it masked, and says where
/// the database URL came from, which upstream keys were translated, what
/// is wrong but harmless as configured (warnings), and which accepted
/// keys this version does not act on yet.
pub fn check(global: &Global) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    if global.json {
        output::print(&output::json(&config.check_document()))?;
    } else {
        output::print(&config.render_check()?)?;
    }
    Ok(exit::SUCCESS)
}
