//! `auditctl config check`: load, validate, print the effective config.

use anyhow::Result;

use crate::cli::Global;
use crate::{exit, output};
use audit_config::{Translation, NOT_USED_YET};

/// Loads and validates the configuration, prints it masked, and says where
/// the database URL came from, which upstream keys were translated, what
/// is wrong but harmless as configured (warnings), and which accepted
/// keys this version does not act on yet.
pub fn check(global: &Global) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let masked = config.masked();
    let warnings = config.warnings();
    if global.json {
        let mut doc = masked;
        if let Some(doc) = doc.as_object_mut() {
            doc.insert("not_used_yet".into(), serde_json::json!(NOT_USED_YET));
            doc.insert("warnings".into(), serde_json::json!(warnings));
        }
        output::print(&output::json(&doc))?;
    } else {
        match &config.sources.config_file {
            Some(path) => output::println_safe!(
                "# effective configuration from {} (secrets masked)",
                path.display()
            )?,
            None => output::println_safe!(
                "# effective configuration: built-in defaults (secrets masked)"
            )?,
        }
        output::println_safe!(
            "# database_url from {}: {}",
            config.sources.database_url,
            audit_store::redact(&config.database_url())
        )?;
        for line in upstream_lines(&config.sources.upstream) {
            output::println_safe!("{line}")?;
        }
        for warning in &warnings {
            println!("# warning: {warning}");
        }
        if !NOT_USED_YET.is_empty() {
            output::println_safe!(
                "# accepted, not used yet by this version: {}",
                NOT_USED_YET.join(", ")
            )?;
        }
        // Through JSON text: a dependency turns on serde_json's
        // arbitrary_precision, whose numbers other serializers print as
        // structs; YAML reads JSON text as it is.
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&serde_json::to_string(&masked)?)?;
        output::print(&serde_yaml_ng::to_string(&yaml)?)?;
    }
    Ok(exit::SUCCESS)
}

/// The translated upstream keys as comment lines; none when the config is
/// in our own form.
fn upstream_lines(translations: &[Translation]) -> Vec<String> {
    if translations.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![
        "# upstream keys and variables read as ours (our names are the documented form):"
            .to_string(),
    ];
    lines.extend(translations.iter().map(|t| format!("#   {t}")));
    lines
}
