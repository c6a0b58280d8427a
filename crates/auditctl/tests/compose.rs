//! `compose.yaml` from a fresh clone: every file it names ships with the
//! repository, every variable it hands the auditor is one auditctl reads,
//! every variable it interpolates is documented, the configuration it
//! points at passes `config check` with the environment it sets, and a
//! profile runs the demo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("compose.yaml")).unwrap()).unwrap()
}

fn services(doc: &Value) -> Vec<(String, &Value)> {
    doc["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, service)| (name.as_str().unwrap().to_string(), service))
        .collect()
}

/// The `${NAME}` / `${NAME:-default}` interpolations of `text`, as
/// `(name, default)`; `$${…}` is an escape, not one.
fn interpolations(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let escaped = at > 0 && rest.as_bytes()[at - 1] == b'$';
        let after = &rest[at + 2..];
        let end = after.find('}').expect("an unclosed ${");
        if !escaped {
            let body = &after[..end];
            found.push(match body.split_once(":-") {
                Some((name, default)) => (name.to_string(), Some(default.to_string())),
                None => (body.to_string(), None),
            });
        }
        rest = &after[end + 1..];
    }
    found
}

/// `text` with every interpolation replaced by its default (unset
/// variables: a fresh clone has no `.env`).
fn with_defaults(text: &str) -> String {
    let mut out = text.to_string();
    for (name, default) in interpolations(text) {
        let default = default.unwrap_or_default();
        out = out.replace(&format!("${{{name}:-{default}}}"), &default);
        out = out.replace(&format!("${{{name}}}"), "");
    }
    out
}

/// Every Rust source of auditctl, for the variable names it reads.
fn auditctl_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut text = String::new();
    // The configuration (and the environment it reads) is audit-config's.
    for dir in ["src", "../audit-config/src"] {
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut text);
    }
    text
}

#[test]
fn every_file_compose_names_ships_with_the_repository() {
    let doc = compose();
    let declared: Vec<&str> = doc["volumes"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    for (name, service) in services(&doc) {
        if let Some(build) = service.get("build") {
            let context = build
                .as_str()
                .or_else(|| build["context"].as_str())
                .unwrap();
            let dockerfile = root().join(context).join("Dockerfile");
            assert!(dockerfile.is_file(), "{name}: no {}", dockerfile.display());
            // What the image copies in must be there too.
            for line in std::fs::read_to_string(&dockerfile).unwrap().lines() {
                let Some(args) = line.strip_prefix("COPY ") else {
                    continue;
                };
                if args.starts_with("--from") {
                    continue;
                }
                let parts: Vec<&str> = args.split_whitespace().collect();
                for source in &parts[..parts.len() - 1] {
                    assert!(
                        root().join(context).join(source).exists(),
                        "{name}: the Dockerfile copies {source}, which is not shipped"
                    );
                }
            }
        }
        let volumes = service["volumes"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        for volume in volumes {
            let volume = volume.as_str().unwrap();
            let source = volume.split(':').next().unwrap();
            if source.starts_with("./") {
                assert!(
                    root().join(source).exists(),
                    "{name}: {source} is not shipped"
                );
            } else {
                assert!(
                    declared.contains(&source),
                    "{name}: {source} is neither a shipped path nor a declared volume"
                );
            }
        }
    }
}

#[test]
fn every_variable_compose_names_is_read_or_documented() {
    let text = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    let operations = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    for (name, _) in interpolations(&text) {
        assert!(
            operations.contains(&format!("`{name}`")),
            "compose.yaml interpolates {name}, which docs/operations.md does not name"
        );
    }
    let doc = compose();
    let sources = auditctl_sources();
    for (name, service) in services(&doc) {
        if name == "db" {
            continue; // The postgres image's own variables.
        }
        let environment = service["environment"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for key in environment.keys() {
            let key = key.as_str().unwrap();
            assert!(
                sources.contains(&format!("\"{key}\"")),
                "{name}: {key} is set, but auditctl never reads it"
            );
        }
    }
}

#[test]
fn the_auditor_as_composed_from_a_fresh_clone_has_a_valid_configuration() {
    let text = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    let doc: Value = serde_yaml_ng::from_str(&with_defaults(&text)).unwrap();
    let auditor = &doc["services"]["auditor"];
    let environment: BTreeMap<String, String> = auditor["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                // `KEY: ${UNSET:-}` is an empty value, as compose passes it.
                Value::Null => String::new(),
                other => serde_yaml_ng::to_string(other).unwrap().trim().to_string(),
            };
            (k.as_str().unwrap().to_string(), v)
        })
        .collect();
    // The config path in the container, back to the file on the host
    // through the mount.
    let config = &environment["AUDITCTL_CONFIG"];
    let host = auditor["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| {
            let mut parts = v.as_str().unwrap().split(':');
            let (source, target) = (parts.next()?, parts.next()?);
            let rest = config.strip_prefix(target)?.strip_prefix('/')?;
            Some(root().join(source).join(rest))
        })
        .next()
        .unwrap_or_else(|| panic!("{config} is not on a mounted path"));
    assert!(host.is_file(), "{} is not shipped", host.display());

    let dir = tempfile::tempdir().unwrap();
    let mut check = Command::new(env!("CARGO_BIN_EXE_auditctl"));
    check
        .args(["--json", "config", "check"])
        .current_dir(dir.path())
        .env_clear()
        .envs(environment.iter().filter(|(_, v)| !v.is_empty()))
        .env("AUDITCTL_CONFIG", &host);
    let out = check.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        checked["database_url"], "postgresql://audit:***@db:5432/audit",
        "the catalog is the db service"
    );
}

#[test]
fn a_profile_runs_the_demo_with_nothing_else_needed() {
    let doc = compose();
    let (name, demo) = services(&doc)
        .into_iter()
        .find(|(_, s)| {
            s["profiles"]
                .as_sequence()
                .is_some_and(|p| p.iter().any(|p| p == "demo"))
        })
        .expect("a service in the demo profile");
    assert_eq!(
        demo["command"],
        serde_yaml_ng::from_str::<Value>("[demo]").unwrap(),
        "{name}"
    );
    assert!(
        demo.get("depends_on").is_none(),
        "the demo needs no database"
    );
    // The default services stay as they are: the profile is opt-in.
    for (other, service) in services(&doc) {
        if other != name {
            assert!(service.get("profiles").is_none(), "{other}");
        }
    }
}
