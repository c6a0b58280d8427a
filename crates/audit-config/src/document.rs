//! The configuration written back as a file a user loads: only what
//! differs from the defaults, secrets in clear (the file is the user's
//! own, like the one they wrote by hand).

use serde_yaml_ng::{Mapping, Value};

use crate::Config;

/// The configuration could not be written as YAML.
#[derive(Debug, thiserror::Error)]
#[error("the configuration as YAML: {0}")]
pub struct DocumentError(#[from] serde_yaml_ng::Error);

impl Config {
    /// The YAML text of every key whose value differs from the defaults,
    /// in the reference's order, with the secrets' values written out.
    pub fn to_yaml(&self) -> Result<String, DocumentError> {
        let ours = serde_yaml_ng::to_value(self)?;
        let defaults = serde_yaml_ng::to_value(Config::default())?;
        let mut doc = changed(ours, &defaults).unwrap_or(Value::Mapping(Mapping::new()));
        let secrets = [
            (&["database_url"][..], &self.database_url),
            (&["api_key"][..], &self.api_key),
            (
                &["set_weights", "secret_seed"][..],
                &self.set_weights.secret_seed,
            ),
        ];
        for (path, secret) in secrets {
            if let (Some(slot), Some(secret)) = (at(&mut doc, path), secret) {
                *slot = Value::String(secret.expose().to_string());
            }
        }
        Ok(serde_yaml_ng::to_string(&doc)?)
    }
}

/// `value` without what equals `default`: mappings key by key, anything
/// else whole; `None` when nothing differs.
fn changed(value: Value, default: &Value) -> Option<Value> {
    match (value, default) {
        (Value::Mapping(map), Value::Mapping(base)) => {
            let kept: Mapping = map
                .into_iter()
                .filter_map(|(k, v)| match base.get(&k) {
                    Some(d) => changed(v, d).map(|v| (k, v)),
                    None => Some((k, v)),
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Mapping(kept))
        }
        (value, default) => (value != *default).then_some(value),
    }
}

/// The value at a path of keys, when the document has it.
fn at<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |node, key| node.get_mut(*key))
}
