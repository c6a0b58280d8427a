//! The configuration as the CLI finds it: the file named by the flag or
//! the environment, else the usual places, with the environment and the
//! global flags layered on (`audit_config::Config::load`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::Global;
use audit_config::{Config, Overrides, ProcessEnv};

/// The config file to read: the flag or env, else ./auditctl.yml, else
/// ./config/config.yml (the fixed path upstream reads, so an upstream
/// checkout works as it is).
fn config_path(global: &Global) -> Option<PathBuf> {
    global.config.clone().or_else(|| {
        ["auditctl.yml", "config/config.yml"]
            .into_iter()
            .map(Path::new)
            .find(|path| path.is_file())
            .map(Path::to_path_buf)
    })
}

/// Loads the configuration with the environment and the global flags applied.
pub fn load_config(global: &Global) -> Result<Config> {
    let overrides = Overrides {
        data_dir: global.data_dir.clone(),
        database_url: global.database_url.clone(),
        set: global.set.clone(),
    };
    let config = Config::load(config_path(global).as_deref(), &ProcessEnv, &overrides)?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if !config.sources.upstream.is_empty() {
        tracing::info!(
            translated = config.sources.upstream.len(),
            "upstream configuration keys read as ours; `auditctl config check` lists them"
        );
    }
    Ok(config)
}

/// A configuration value that cannot be used stays a `ConfigError`, which
/// exits 2 (`exit::classify`); the rest exit 1.
pub fn setup_error(e: audit_run::SetupError) -> anyhow::Error {
    match e {
        audit_run::SetupError::Config(e) => e.into(),
        other => other.into(),
    }
}
