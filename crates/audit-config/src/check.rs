//! The effective configuration as `auditctl config check` shows it: the
//! masked document, headed by comment lines saying where it came from
//! (the file, the database URL's source, the upstream keys translated),
//! what is wrong but harmless as configured, and which accepted keys
//! this version does not act on yet.

use crate::{Config, NOT_USED_YET};

/// The effective configuration could not be written as YAML.
#[derive(Debug, thiserror::Error)]
#[error("the effective configuration as YAML: {0}")]
pub struct CheckError(#[from] serde_yaml_ng::Error);

impl Config {
    /// The masked document ([`Config::masked`]) with the keys this version
    /// accepts but does not act on (`not_used_yet`) and the `warnings`:
    /// what `config check --json` prints.
    pub fn check_document(&self) -> serde_json::Value {
        let mut doc = self.masked();
        if let Some(doc) = doc.as_object_mut() {
            doc.insert("not_used_yet".into(), serde_json::json!(NOT_USED_YET));
            doc.insert("warnings".into(), serde_json::json!(self.warnings()));
        }
        doc
    }

    /// The masked configuration as YAML under `#` comment lines: where it
    /// came from, the database URL's source (the URL masked), the upstream
    /// keys read as ours, the warnings and the keys not used yet.
    pub fn render_check(&self) -> Result<String, CheckError> {
        let mut text = match &self.sources.config_file {
            Some(path) => format!(
                "# effective configuration from {} (secrets masked)\n",
                path.display()
            ),
            None => "# effective configuration: built-in defaults (secrets masked)\n".into(),
        };
        text.push_str(&format!(
            "# database_url from {}: {}\n",
            self.sources.database_url,
            audit_store::redact(&self.database_url())
        ));
        if !self.sources.upstream.is_empty() {
            text.push_str(
                "# upstream keys and variables read as ours (our names are the documented form):\n",
            );
            for t in &self.sources.upstream {
                text.push_str(&format!("#   {t}\n"));
            }
        }
        for warning in self.warnings() {
            text.push_str(&format!("# warning: {warning}\n"));
        }
        if !NOT_USED_YET.is_empty() {
            text.push_str(&format!(
                "# accepted, not used yet by this version: {}\n",
                NOT_USED_YET.join(", ")
            ));
        }
        // Through JSON text: a dependency turns on serde_json's
        // arbitrary_precision, whose numbers other serializers print as
        // structs; YAML reads JSON text as it is.
        let json = serde_json::to_string(&self.masked()).expect("a JSON value serialises");
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&json)?;
        text.push_str(&serde_yaml_ng::to_string(&yaml)?);
        Ok(text)
    }
}
