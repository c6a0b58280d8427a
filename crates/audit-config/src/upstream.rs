//! Upstream's configuration, read as ours: the Python auditor's
//! `config/config.yml` and its database environment (docs/migrating.md).
//!
//! People switching to this auditor bring that file unchanged, so each
//! upstream key is moved onto our key *before* the strict parse (which
//! still refuses typos); our names stay the documented form. Every move is
//! recorded as a [`Translation`] for `config check`. Only key names are
//! recorded, never values: several of them are secrets.

use std::fmt;

use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, Environment, ENV_DATABASE_URL};

/// Upstream's whole catalog URL, in SQLAlchemy's form
/// (`postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB`).
pub const ENV_POSTGRESQL: &str = "POSTGRESQL";
/// Upstream's pieces of the catalog URL, as its compose file passes them.
/// `POSTGRES_PASSWORD` wins over `PGPASSWD` (both mean the password).
pub const ENV_POSTGRES_PIECES: [&str; 6] = [
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "PGPASSWD",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
];
/// Upstream's switch for miners' self-reports: `true` skips them.
pub const ENV_SKIP_MINER_AUDITS: &str = "SKIP_MINER_AUDITS";
/// Upstream's switch for the Prometheus agreement check.
pub const ENV_CALCULATE_MINER_AGREEMENT: &str = "CALCULATE_MINER_AGREEMENT";

/// The synthetic task types upstream's `text` stands for: it picks chat or
/// completion per synthetic.
const TEXT_TASKS: [&str; 2] = ["chat", "completion"];
/// Every synthetic task type we send, for upstream's master switch.
const ALL_TASKS: [&str; 5] = ["chat", "completion", "image", "tts", "embed"];

/// One upstream key or environment variable, and what it became here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    /// The upstream key (a dotted path) or environment variable.
    pub upstream: String,
    /// Our keys it set; empty when it is accepted and ignored.
    pub ours: Vec<String>,
    /// What it means here, when that is more than a rename.
    pub note: String,
}

impl Translation {
    fn new(upstream: &str, ours: &[&str], note: impl Into<String>) -> Self {
        Translation {
            upstream: upstream.into(),
            ours: ours.iter().map(|k| k.to_string()).collect(),
            note: note.into(),
        }
    }

    /// Whether `key` (ours, dotted) is one this translation set, or lies
    /// under one: an error there is about the upstream key.
    pub fn covers(&self, key: &str) -> bool {
        self.ours.iter().any(|ours| {
            key == ours
                || key
                    .strip_prefix(ours.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }
}

impl fmt::Display for Translation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ours.is_empty() {
            write!(f, "{}: ignored", self.upstream)?;
        } else {
            write!(f, "{} -> {}", self.upstream, self.ours.join(", "))?;
        }
        if !self.note.is_empty() {
            write!(f, " ({})", self.note)?;
        }
        Ok(())
    }
}

/// An upstream key the translation cannot read; the caller names the file.
#[derive(Debug)]
pub(super) struct Refused {
    pub key: String,
    pub message: String,
}

fn refused(key: &str, message: impl Into<String>) -> Refused {
    Refused {
        key: key.into(),
        message: message.into(),
    }
}

/// Moves every upstream key of `doc` onto ours, in place, and says what
/// it moved. A document that is not a mapping is left to the strict parse,
/// which names the problem.
pub(super) fn translate(doc: &mut Value) -> Result<Vec<Translation>, Refused> {
    let Some(root) = doc.as_mapping_mut() else {
        return Ok(Vec::new());
    };
    let mut done = Vec::new();
    subtensor_url(root, &mut done);
    if let Some(set_weights) = mapping(root, "set_weights") {
        rename(
            set_weights,
            "set_weights",
            "ss58_address",
            "ss58",
            &mut done,
        )?;
    }
    if let Some(synthetics) = mapping(root, "synthetics") {
        text(synthetics, &mut done)?;
        image_dataset(synthetics, &mut done)?;
        master_switch(synthetics, &mut done)?;
        for unused in ["transcribe", "moderation"] {
            if synthetics.remove(unused).is_some() {
                done.push(Translation::new(
                    &format!("synthetics.{unused}"),
                    &[],
                    "upstream never uses it",
                ));
            }
        }
    }
    api_key(root, &mut done)?;
    Ok(done)
}

fn mapping<'a>(map: &'a mut Mapping, key: &str) -> Option<&'a mut Mapping> {
    map.get_mut(key).and_then(Value::as_mapping_mut)
}

/// The sub-mapping `key` of `map`, created when absent.
fn child<'a>(map: &'a mut Mapping, key: &str, path: &str) -> Result<&'a mut Mapping, Refused> {
    map.entry(key.into())
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
        .ok_or_else(|| refused(path, "must be a mapping"))
}

/// Sets `key`, unless the file already gives it another value: the user
/// must then say which one is meant. Values are never quoted (secrets).
fn put(map: &mut Mapping, key: &str, value: Value, from: &str, to: &str) -> Result<(), Refused> {
    match map.get(key) {
        Some(existing) if *existing != value => Err(refused(
            from,
            format!("both upstream `{from}` and `{to}` are set, to different values: keep `{to}` (our name) and remove `{from}`"),
        )),
        _ => {
            map.insert(key.into(), value);
            Ok(())
        }
    }
}

fn rename(
    map: &mut Mapping,
    section: &str,
    from: &str,
    to: &str,
    done: &mut Vec<Translation>,
) -> Result<(), Refused> {
    let Some(value) = map.remove(from) else {
        return Ok(());
    };
    let (from_path, to_path) = (format!("{section}.{from}"), format!("{section}.{to}"));
    put(map, to, value, &from_path, &to_path)?;
    done.push(Translation::new(&from_path, &[&to_path], ""));
    Ok(())
}

/// Upstream gives the node as a plain URL string.
fn subtensor_url(root: &mut Mapping, done: &mut Vec<Translation>) {
    let Some(Value::String(url)) = root.get("subtensor") else {
        return;
    };
    let mut ours = Mapping::new();
    ours.insert("url".into(), Value::String(url.clone()));
    root.insert("subtensor".into(), Value::Mapping(ours));
    done.push(Translation::new(
        "subtensor",
        &["subtensor.url"],
        "commitments at old blocks still come from subtensor.archive_url",
    ));
}

/// Upstream keeps the API key among the synthetics; ours is top level.
fn api_key(root: &mut Mapping, done: &mut Vec<Translation>) -> Result<(), Refused> {
    let Some(key) = mapping(root, "synthetics").and_then(|s| s.remove("api_key")) else {
        return Ok(());
    };
    put(root, "api_key", key, "synthetics.api_key", "api_key")?;
    done.push(Translation::new(
        "synthetics.api_key",
        &["api_key"],
        "CHUTES_API_KEY still overrides it",
    ));
    Ok(())
}

/// Upstream's `text` is chat and completion at once; its dataset is our
/// text prompts.
fn text(synthetics: &mut Mapping, done: &mut Vec<Translation>) -> Result<(), Refused> {
    let Some(text) = synthetics.remove("text") else {
        return Ok(());
    };
    let Value::Mapping(mut text) = text else {
        return Err(refused(
            "synthetics.text",
            "must be a mapping: {enabled, render, dataset}",
        ));
    };
    let dataset = text.remove("dataset");
    for task in TEXT_TASKS {
        if synthetics.contains_key(task) {
            return Err(refused(
                "synthetics.text",
                format!("both upstream `synthetics.text` and `synthetics.{task}` are set: keep `synthetics.chat` and `synthetics.completion` (our names) and remove `synthetics.text`"),
            ));
        }
        synthetics.insert(task.into(), Value::Mapping(text.clone()));
    }
    done.push(Translation::new(
        "synthetics.text",
        &["synthetics.chat", "synthetics.completion"],
        "upstream's text is chat and completion; enabled and render apply to both",
    ));
    match dataset {
        Some(dataset) => prompts(synthetics, "text", dataset, done),
        None => Ok(()),
    }
}

fn image_dataset(synthetics: &mut Mapping, done: &mut Vec<Translation>) -> Result<(), Refused> {
    match mapping(synthetics, "image").and_then(|image| image.remove("dataset")) {
        Some(dataset) => prompts(synthetics, "image", dataset, done),
        None => Ok(()),
    }
}

/// `{name, options: {split}, field_name}` → `synthetics.prompts.<kind>`:
/// the same dataset, read from the local Hugging Face cache.
fn prompts(
    synthetics: &mut Mapping,
    kind: &str,
    dataset: Value,
    done: &mut Vec<Translation>,
) -> Result<(), Refused> {
    let from = format!("synthetics.{kind}.dataset");
    let to = format!("synthetics.prompts.{kind}");
    let Value::Mapping(mut dataset) = dataset else {
        return Err(refused(
            &from,
            "must be a mapping: {name, options: {split}, field_name}",
        ));
    };
    let name = dataset.remove("name").ok_or_else(|| {
        refused(
            &format!("{from}.name"),
            "missing: the Hugging Face dataset (OWNER/NAME)",
        )
    })?;
    let field = dataset.remove("field_name").ok_or_else(|| {
        refused(
            &format!("{from}.field_name"),
            "missing: the column holding the prompt (upstream ships `conversation` for text, `prompts` for images)",
        )
    })?;
    let (split, ignored) = options(dataset.remove("options"), &from)?;
    if let Some(key) = dataset.keys().next() {
        return Err(refused(
            &format!("{from}.{}", key.as_str().unwrap_or("?")),
            "unknown key: upstream's dataset has name, options and field_name",
        ));
    }
    let mut source = Mapping::new();
    source.insert("huggingface".into(), name);
    let mut ours = Mapping::new();
    ours.insert("source".into(), Value::Mapping(source));
    ours.insert("field".into(), field);
    if let Some(split) = split {
        ours.insert("split".into(), split);
    }
    let prompts = child(synthetics, "prompts", "synthetics.prompts")?;
    if prompts.contains_key(kind) {
        return Err(refused(
            &from,
            format!("both upstream `{from}` and `{to}` are set: keep `{to}` (our name) and remove `{from}`"),
        ));
    }
    prompts.insert(kind.into(), Value::Mapping(ours));
    let mut note =
        "read from the local Hugging Face cache; the built-in prompts when absent".to_string();
    if !ignored.is_empty() {
        note.push_str(&format!("; options {} ignored", ignored.join(", ")));
    }
    done.push(Translation::new(&from, &[&to], note));
    Ok(())
}

/// `options.split`, and the names of the other options (which upstream
/// hands to the dataset loader and a cache read has no use for).
fn options(options: Option<Value>, from: &str) -> Result<(Option<Value>, Vec<String>), Refused> {
    match options {
        None => Ok((None, Vec::new())),
        Some(Value::Mapping(mut options)) => {
            let split = options.remove("split");
            let ignored = options
                .keys()
                .map(|k| k.as_str().unwrap_or("?").to_string())
                .collect();
            Ok((split, ignored))
        }
        Some(_) => Err(refused(
            &format!("{from}.options"),
            "must be a mapping such as {split: train}",
        )),
    }
}

/// Upstream's `synthetics.enabled` gates every type; ours has a switch per
/// type, so `false` turns each one off and `true` leaves them as they are.
fn master_switch(synthetics: &mut Mapping, done: &mut Vec<Translation>) -> Result<(), Refused> {
    let Some(enabled) = synthetics.remove("enabled") else {
        return Ok(());
    };
    let on = enabled
        .as_bool()
        .ok_or_else(|| refused("synthetics.enabled", "must be true or false"))?;
    let keys: Vec<String> = ALL_TASKS
        .iter()
        .map(|t| format!("synthetics.{t}.enabled"))
        .collect();
    if !on {
        for task in ALL_TASKS {
            child(synthetics, task, &format!("synthetics.{task}"))?
                .insert("enabled".into(), Value::Bool(false));
        }
    }
    let note = if on {
        "true: each type's own enabled decides"
    } else {
        "false: every type is off, as upstream's master switch"
    };
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    done.push(Translation::new("synthetics.enabled", &keys, note));
    Ok(())
}

/// Where the catalog URL came from, for `config check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatabaseUrlSource {
    /// `--database-url`.
    Flag,
    /// Environment variables: `DATABASE_URL`, or upstream's `POSTGRESQL`
    /// or `POSTGRES_*` pieces.
    Environment {
        /// The variables it was built from.
        variables: Vec<String>,
    },
    /// The config file's `database_url`.
    ConfigFile,
    /// Nothing given: SQLite in the data directory.
    Default,
}

impl fmt::Display for DatabaseUrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrlSource::Flag => f.write_str("flag --database-url"),
            DatabaseUrlSource::Environment { variables } => {
                write!(f, "environment {}", variables.join(", "))
            }
            DatabaseUrlSource::ConfigFile => f.write_str("config file"),
            DatabaseUrlSource::Default => f.write_str("default (SQLite in data_dir)"),
        }
    }
}

/// The catalog URL from the environment, first found of: `DATABASE_URL`
/// (ours), `POSTGRESQL` (upstream's SQLAlchemy URL), the `POSTGRES_*`
/// pieces. What is shadowed or translated is said in `done`.
pub(super) fn database_url(
    env: &dyn Environment,
    done: &mut Vec<Translation>,
) -> Result<Option<(String, DatabaseUrlSource)>, ConfigError> {
    let pieces: Vec<&str> = ENV_POSTGRES_PIECES
        .into_iter()
        .filter(|name| env.var(name).is_some())
        .collect();
    let from = |names: &[&str]| DatabaseUrlSource::Environment {
        variables: names.iter().map(|n| n.to_string()).collect(),
    };
    if let Some(url) = env.var(ENV_DATABASE_URL) {
        let shadowed: Vec<&str> = std::iter::once(ENV_POSTGRESQL)
            .filter(|n| env.var(n).is_some())
            .chain(pieces.iter().copied())
            .collect();
        for name in shadowed {
            let note = format!("{ENV_DATABASE_URL} is set and wins");
            done.push(Translation::new(name, &[], note));
        }
        return Ok(Some((url, from(&[ENV_DATABASE_URL]))));
    }
    if let Some(url) = env.var(ENV_POSTGRESQL) {
        let url = from_sqlalchemy(&url).map_err(|message| ConfigError::Env {
            name: ENV_POSTGRESQL.into(),
            message,
        })?;
        done.push(Translation::new(
            ENV_POSTGRESQL,
            &["database_url"],
            "the SQLAlchemy driver dropped from the scheme",
        ));
        for name in pieces {
            let note = format!("{ENV_POSTGRESQL} is set and wins");
            done.push(Translation::new(name, &[], note));
        }
        return Ok(Some((url, from(&[ENV_POSTGRESQL]))));
    }
    if pieces.is_empty() {
        return Ok(None);
    }
    let url = from_pieces(env)?;
    done.push(Translation::new(
        &pieces.join(", "),
        &["database_url"],
        "defaults: user postgres, host 127.0.0.1, port 5432, database named as the user",
    ));
    Ok(Some((url, from(&pieces))))
}

/// `postgresql+DRIVER://…` → `postgresql://…`; asyncpg's `ssl` query
/// parameter is libpq's `sslmode`. The message never repeats a password.
fn from_sqlalchemy(url: &str) -> Result<String, String> {
    // Not written as USER:PASSWORD@…: the error masker would hide it.
    let expected = "give a postgresql+asyncpg:// URL with user, password, host, port and database (upstream's form), or set DATABASE_URL";
    let shown = audit_store::redact(url);
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return Err(format!("`{shown}` is not a URL: {expected}"));
    };
    let dialect = scheme.split('+').next().unwrap_or_default();
    if !matches!(
        dialect.to_ascii_lowercase().as_str(),
        "postgresql" | "postgres"
    ) {
        return Err(format!(
            "`{shown}` is not a PostgreSQL URL (scheme `{scheme}`): {expected}"
        ));
    }
    let rest = match rest.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.strip_prefix("ssl=") {
                    Some(mode) => format!("sslmode={mode}"),
                    None => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => rest.to_string(),
    };
    Ok(format!("postgresql://{rest}"))
}

/// The URL from upstream's pieces, each percent-encoded where it goes.
fn from_pieces(env: &dyn Environment) -> Result<String, ConfigError> {
    let bad = |name: &str, message: String| ConfigError::Env {
        name: name.into(),
        message,
    };
    let user = env
        .var("POSTGRES_USER")
        .unwrap_or_else(|| "postgres".into());
    let password = env.var("POSTGRES_PASSWORD").or_else(|| env.var("PGPASSWD"));
    let database = env.var("POSTGRES_DB").unwrap_or_else(|| user.clone());
    let host = env
        .var("POSTGRES_HOST")
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = match env.var("POSTGRES_PORT") {
        Some(port) => port
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                bad(
                    "POSTGRES_PORT",
                    format!("`{port}` is not a port number: give 1..=65535 (PostgreSQL's is 5432)"),
                )
            })?,
        None => 5432,
    };
    // A bare IPv6 address needs its brackets in a URL.
    let host_part = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let mut url = url::Url::parse(&format!("postgresql://{host_part}:{port}/"))
        .ok()
        // A host holding `/`, `@` or `:` would parse as something else.
        .filter(|u| u.host_str() == Some(host_part.as_str()) && u.port() == Some(port))
        .ok_or_else(|| {
            bad(
                "POSTGRES_HOST",
                format!("`{host}` is not a host name or address: give e.g. 127.0.0.1 or the compose service name"),
            )
        })?;
    let userinfo = url
        .set_username(&user)
        .and_then(|()| url.set_password(password.as_deref()));
    userinfo.map_err(|()| bad("POSTGRES_USER", "cannot go into a URL".into()))?;
    url.path_segments_mut()
        .map_err(|()| bad("POSTGRES_DB", "cannot go into a URL".into()))?
        .pop_if_empty()
        .push(&database);
    Ok(url.to_string())
}

/// `SKIP_MINER_AUDITS` as upstream means it: `true` skips miners'
/// self-reports, so ours is `sync.miner_reports: false`.
pub(super) fn skip_miner_audits(
    env: &dyn Environment,
    done: &mut Vec<Translation>,
) -> Result<Option<bool>, ConfigError> {
    let Some(value) = env.var(ENV_SKIP_MINER_AUDITS) else {
        return Ok(None);
    };
    let skip = match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => true,
        "false" | "0" | "no" | "off" => false,
        _ => {
            return Err(ConfigError::Env {
                name: ENV_SKIP_MINER_AUDITS.into(),
                message: format!("`{value}` is not true or false: give \"true\" to skip miners' self-reports, \"false\" to fetch them"),
            })
        }
    };
    let note = if skip {
        "true: miners' self-reports are not fetched"
    } else {
        "false: miners' self-reports are fetched"
    };
    done.push(Translation::new(
        ENV_SKIP_MINER_AUDITS,
        &["sync.miner_reports"],
        note,
    ));
    Ok(Some(skip))
}

/// `CALCULATE_MINER_AGREEMENT` has no switch here: the agreement check is
/// `auditctl compare-prom` (and its stage of `run`). Said, not hidden.
pub(super) fn calculate_miner_agreement(env: &dyn Environment, done: &mut Vec<Translation>) {
    if env.var(ENV_CALCULATE_MINER_AGREEMENT).is_some() {
        done.push(Translation::new(
            ENV_CALCULATE_MINER_AGREEMENT,
            &[],
            "the agreement check is `auditctl compare-prom`, which reads miners' self-reports (sync.miner_reports)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::env;

    fn translated(yaml: &str) -> (Value, Vec<Translation>) {
        let mut doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let done = translate(&mut doc).unwrap_or_else(|r| panic!("{}: {}", r.key, r.message));
        (doc, done)
    }

    fn refusal(yaml: &str) -> Refused {
        let mut doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
        translate(&mut doc).expect_err(yaml)
    }

    fn at<'a>(doc: &'a Value, path: &str) -> &'a Value {
        path.split('.').fold(doc, |v, k| &v[k])
    }

    #[test]
    fn our_own_form_is_left_alone() {
        let yaml = "subtensor:\n  url: wss://a\nsynthetics:\n  chat: {enabled: false}\n  image: {render: false}\nset_weights:\n  ss58: x\n";
        let (doc, done) = translated(yaml);
        assert!(done.is_empty(), "{done:?}");
        assert_eq!(doc, serde_yaml_ng::from_str::<Value>(yaml).unwrap());
    }

    #[test]
    fn text_becomes_chat_and_completion_and_its_dataset_our_prompts() {
        let (doc, done) = translated(
            "synthetics:\n  text:\n    enabled: false\n    render: true\n    dataset:\n      name: allenai/WildChat-1M\n      options: {split: train, streaming: true}\n      field_name: conversation\n",
        );
        for task in TEXT_TASKS {
            assert_eq!(
                at(&doc, &format!("synthetics.{task}.enabled")),
                &Value::Bool(false)
            );
            assert_eq!(
                at(&doc, &format!("synthetics.{task}.render")),
                &Value::Bool(true)
            );
        }
        let prompts = at(&doc, "synthetics.prompts.text");
        assert_eq!(prompts["source"]["huggingface"], "allenai/WildChat-1M");
        assert_eq!(prompts["field"], "conversation");
        assert_eq!(prompts["split"], "train");
        assert!(at(&doc, "synthetics.text").is_null());
        let dataset = done
            .iter()
            .find(|t| t.upstream == "synthetics.text.dataset")
            .unwrap();
        assert!(
            dataset.note.contains("options streaming ignored"),
            "{dataset}"
        );
    }

    #[test]
    fn the_master_switch_off_turns_every_type_off_and_on_changes_nothing() {
        let (doc, _) = translated("synthetics:\n  enabled: false\n  text: {enabled: true}\n");
        for task in ALL_TASKS {
            assert_eq!(
                at(&doc, &format!("synthetics.{task}.enabled")),
                &Value::Bool(false),
                "{task}"
            );
        }
        let (doc, done) = translated("synthetics:\n  enabled: true\n  tts: {enabled: false}\n");
        assert_eq!(at(&doc, "synthetics.tts.enabled"), &Value::Bool(false));
        assert!(at(&doc, "synthetics.chat").is_null());
        assert_eq!(done[0].upstream, "synthetics.enabled");
        let err = refusal("synthetics:\n  enabled: sometimes\n");
        assert_eq!(err.key, "synthetics.enabled");
    }

    #[test]
    fn keys_upstream_never_reads_are_accepted_and_said() {
        let (doc, done) = translated(
            "synthetics:\n  transcribe: {enabled: true, render: true}\n  moderation: {enabled: true}\n",
        );
        assert!(at(&doc, "synthetics.transcribe").is_null());
        let shown: Vec<String> = done.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "synthetics.transcribe: ignored (upstream never uses it)",
                "synthetics.moderation: ignored (upstream never uses it)"
            ]
        );
    }

    #[test]
    fn renames_and_moves_refuse_a_second_different_value() {
        let (doc, _) = translated("subtensor: wss://node:443\nsynthetics:\n  api_key: k\nset_weights:\n  ss58_address: a\n");
        assert_eq!(at(&doc, "subtensor.url"), "wss://node:443");
        assert_eq!(at(&doc, "api_key"), "k");
        assert_eq!(at(&doc, "set_weights.ss58"), "a");
        // The same value twice is fine; two different ones are not.
        translated("api_key: k\nsynthetics:\n  api_key: k\n");
        for (yaml, key) in [
            ("api_key: k\nsynthetics:\n  api_key: secret-two\n", "synthetics.api_key"),
            ("set_weights:\n  ss58: a\n  ss58_address: b\n", "set_weights.ss58_address"),
            ("synthetics:\n  chat: {}\n  text: {}\n", "synthetics.text"),
            (
                "synthetics:\n  prompts: {image: {source: builtin, field: p}}\n  image:\n    dataset: {name: a/b, field_name: p}\n",
                "synthetics.image.dataset",
            ),
        ] {
            let err = refusal(yaml);
            assert_eq!(err.key, key, "{yaml}");
            assert!(!err.message.contains("secret-two"), "{}", err.message);
        }
    }

    #[test]
    fn a_dataset_without_its_name_or_field_or_with_a_stray_key_is_named() {
        for (yaml, key) in [
            (
                "synthetics:\n  text:\n    dataset: {field_name: c}\n",
                "synthetics.text.dataset.name",
            ),
            (
                "synthetics:\n  image:\n    dataset: {name: a/b}\n",
                "synthetics.image.dataset.field_name",
            ),
            (
                "synthetics:\n  image:\n    dataset: {name: a/b, field_name: p, feild: x}\n",
                "synthetics.image.dataset.feild",
            ),
            (
                "synthetics:\n  text:\n    dataset: a/b\n",
                "synthetics.text.dataset",
            ),
            (
                "synthetics:\n  text:\n    dataset: {name: a/b, field_name: c, options: train}\n",
                "synthetics.text.dataset.options",
            ),
        ] {
            assert_eq!(refusal(yaml).key, key, "{yaml}");
        }
    }

    #[test]
    fn an_error_in_a_translated_value_names_the_upstream_key_too() {
        let err = super::super::Config::parse(
            "synthetics:\n  text: {render: maybe}\n",
            std::path::Path::new("config.yml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("synthetics.chat.render"), "{err}");
        assert!(err.contains("from upstream `synthetics.text`"), "{err}");
        // The position would point into the translated text, not the file.
        assert!(!err.contains(" at line "), "{err}");
    }

    #[test]
    fn calculate_miner_agreement_is_accepted_and_said_to_be_unused() {
        let mut done = Vec::new();
        calculate_miner_agreement(&env(&[(ENV_CALCULATE_MINER_AGREEMENT, "true")]), &mut done);
        assert_eq!(done.len(), 1);
        assert!(done[0].ours.is_empty() && done[0].note.contains("compare-prom"));
        calculate_miner_agreement(&env(&[]), &mut done);
        assert_eq!(done.len(), 1);
    }

    #[test]
    fn covers_matches_a_key_and_what_lies_under_it() {
        let t = Translation::new("subtensor", &["subtensor.url"], "");
        assert!(t.covers("subtensor.url"));
        assert!(!t.covers("subtensor.url_x"));
        let t = Translation::new("synthetics.text", &["synthetics.chat"], "");
        assert!(t.covers("synthetics.chat.render"));
    }

    fn db(
        pairs: &[(&'static str, &str)],
    ) -> Result<Option<(String, DatabaseUrlSource)>, ConfigError> {
        database_url(&env(pairs), &mut Vec::new())
    }

    #[test]
    fn postgresql_is_read_as_upstream_writes_it() {
        let (url, source) = db(&[(
            ENV_POSTGRESQL,
            "postgresql+asyncpg://u:p@db:5432/chutes_audit?ssl=require",
        )])
        .unwrap()
        .unwrap();
        assert_eq!(url, "postgresql://u:p@db:5432/chutes_audit?sslmode=require");
        assert_eq!(source.to_string(), "environment POSTGRESQL");
        let (url, _) = db(&[(ENV_POSTGRESQL, "postgres://u@h/d")])
            .unwrap()
            .unwrap();
        assert_eq!(url, "postgresql://u@h/d");
        for bad in ["mysql+aiomysql://u:hunter2@h/d", "u:hunter2@h/d"] {
            let err = db(&[(ENV_POSTGRESQL, bad)]).unwrap_err().to_string();
            assert!(
                err.contains("POSTGRESQL") && err.contains("postgresql+asyncpg://"),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_pieces_build_a_url_with_postgres_defaults_and_encoding() {
        let (url, source) = db(&[
            ("POSTGRES_USER", "audit"),
            ("POSTGRES_PASSWORD", "p@ss/word"),
            ("POSTGRES_HOST", "db"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(url, "postgresql://audit:p%40ss%2Fword@db:5432/audit");
        assert_eq!(
            source.to_string(),
            "environment POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_HOST"
        );
        let (url, _) = db(&[
            ("PGPASSWD", "x"),
            ("POSTGRES_PORT", "6543"),
            ("POSTGRES_DB", "a b"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(url, "postgresql://postgres:x@127.0.0.1:6543/a%20b");
        let (url, _) = db(&[("POSTGRES_HOST", "::1")]).unwrap().unwrap();
        assert_eq!(url, "postgresql://postgres@[::1]:5432/postgres");
        for (name, value) in [
            ("POSTGRES_PORT", "five"),
            ("POSTGRES_PORT", "0"),
            ("POSTGRES_PORT", "70000"),
            ("POSTGRES_HOST", "a b"),
        ] {
            let err = db(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn database_url_wins_over_upstream_forms_and_says_so() {
        let mut done = Vec::new();
        let both = env(&[
            (ENV_DATABASE_URL, "postgres://ours@h/d"),
            (ENV_POSTGRESQL, "postgresql+asyncpg://theirs@h/d"),
            ("POSTGRES_HOST", "db"),
        ]);
        let (url, source) = database_url(&both, &mut done).unwrap().unwrap();
        assert_eq!(url, "postgres://ours@h/d");
        assert_eq!(source.to_string(), "environment DATABASE_URL");
        let shadowed: Vec<&str> = done.iter().map(|t| t.upstream.as_str()).collect();
        assert_eq!(shadowed, ["POSTGRESQL", "POSTGRES_HOST"]);
        assert!(done.iter().all(|t| t.ours.is_empty()));
        assert_eq!(db(&[]).unwrap(), None);
    }

    #[test]
    fn skip_miner_audits_keeps_its_upstream_meaning() {
        let read =
            |v: &str| skip_miner_audits(&env(&[(ENV_SKIP_MINER_AUDITS, v)]), &mut Vec::new());
        assert_eq!(read("true").unwrap(), Some(true));
        assert_eq!(read("False").unwrap(), Some(false));
        let err = read("maybe").unwrap_err().to_string();
        assert!(
            err.contains("SKIP_MINER_AUDITS") && err.contains("maybe"),
            "{err}"
        );
        assert_eq!(skip_miner_audits(&env(&[]), &mut Vec::new()).unwrap(), None);
    }
}
