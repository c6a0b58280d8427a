//! `cargo xtask tidy`: the invariants ARCHITECTURE.md states, checked.
//!
//! - Crate edges: every dependency of a workspace crate on another
//!   workspace crate is listed in ARCHITECTURE.md's `crate-edges` block.
//!   A new edge is a design decision, so it is written down first.
//! - Light fetchers: the crates ARCHITECTURE.md names in its
//!   `no-heavy-deps` line do not reach diesel, polars or bundled SQLite,
//!   even transitively (`cargo tree`), so embedding the HTTP or chain
//!   client stays cheap.
//! - Documented libraries: every library crate warns on missing docs.
//!
//! Plain text parsing on purpose: xtask has no dependencies and builds in
//! a second.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The heavy crates a light crate must never reach.
const HEAVY: &[&str] = &["diesel", "polars", "libsqlite3-sys"];

/// Runs every check; returns the violations, one line each.
pub fn run(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let architecture = match fs::read_to_string(root.join("ARCHITECTURE.md")) {
        Ok(text) => text,
        Err(err) => return vec![format!("cannot read ARCHITECTURE.md: {err}")],
    };
    let crates = match workspace_crates(root) {
        Ok(crates) => crates,
        Err(err) => return vec![err],
    };
    let allowed = match allowed_edges(&architecture) {
        Ok(allowed) => allowed,
        Err(err) => return vec![err],
    };
    problems.extend(check_edges(&crates, &allowed));
    problems.extend(check_docs(&crates));
    // A crate named here but not written yet has nothing to check.
    let present: BTreeSet<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    for name in light_crates(&architecture) {
        if present.contains(name.as_str()) {
            problems.extend(check_light(root, &name));
        }
    }
    problems
}

/// A workspace crate: its name, folder, and workspace dependencies.
struct Crate {
    name: String,
    dir: PathBuf,
    deps: BTreeSet<String>,
}

fn workspace_crates(root: &Path) -> Result<Vec<Crate>, String> {
    let dir = root.join("crates");
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut folders: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    folders.sort();
    let mut crates = Vec::new();
    for folder in folders {
        let manifest = folder.join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        crates.push(Crate {
            name: package_name(&text).ok_or_else(|| format!("{}: no name", manifest.display()))?,
            dir: folder,
            deps: normal_deps(&text),
        });
    }
    let names: BTreeSet<String> = crates.iter().map(|c| c.name.clone()).collect();
    for c in &mut crates {
        c.deps.retain(|d| names.contains(d));
    }
    Ok(crates)
}

fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return Some(value.trim_matches('"').to_owned());
            }
        }
    }
    None
}

/// The names under `[dependencies]` (not dev or build ones).
fn normal_deps(manifest: &str) -> BTreeSet<String> {
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some(name) = line.split(['=', '.', ' ']).next() {
                deps.insert(name.trim().to_owned());
            }
        }
    }
    deps
}

/// The fenced block after the line `crate-edges` in ARCHITECTURE.md:
/// `crate -> dep, dep` per line (`crate ->` for none).
fn allowed_edges(architecture: &str) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let block = fenced_after(architecture, "<!-- crate-edges -->")
        .ok_or("ARCHITECTURE.md has no `<!-- crate-edges -->` block")?;
    let mut edges = BTreeMap::new();
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (from, to) = line
            .split_once("->")
            .ok_or_else(|| format!("crate-edges: `{line}` is not `crate -> deps`"))?;
        let deps = to
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect();
        edges.insert(from.trim().to_owned(), deps);
    }
    Ok(edges)
}

/// The crates named on the `<!-- no-heavy-deps: a, b -->` line.
fn light_crates(architecture: &str) -> Vec<String> {
    architecture
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<!-- no-heavy-deps:"))
        .flat_map(|rest| rest.trim_end_matches("-->").split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn fenced_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let after = &text[text.find(marker)? + marker.len()..];
    let open = after.find("```")?;
    let body = &after[open + 3..];
    let body = &body[body.find('\n')? + 1..];
    Some(&body[..body.find("```")?])
}

fn check_edges(crates: &[Crate], allowed: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for c in crates {
        let Some(ok) = allowed.get(&c.name) else {
            problems.push(format!(
                "crate `{}` is not in ARCHITECTURE.md's crate-edges block",
                c.name
            ));
            continue;
        };
        for dep in c.deps.difference(ok) {
            problems.push(format!(
                "`{}` depends on `{dep}`, an edge ARCHITECTURE.md does not allow",
                c.name
            ));
        }
    }
    problems
}

fn check_docs(crates: &[Crate]) -> Vec<String> {
    crates
        .iter()
        .filter_map(|c| {
            let lib = c.dir.join("src/lib.rs");
            let text = fs::read_to_string(&lib).ok()?;
            (!text.contains("#![warn(missing_docs)]") && !text.contains("#![deny(missing_docs)]"))
                .then(|| format!("{}: library without #![warn(missing_docs)]", lib.display()))
        })
        .collect()
}

fn check_light(root: &Path, name: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", name])
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return vec![format!(
                "cargo tree -p {name} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )]
        }
        Err(err) => return vec![format!("cannot run cargo tree: {err}")],
    };
    let tree = String::from_utf8_lossy(&output.stdout);
    let reached: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    HEAVY
        .iter()
        .filter(|heavy| reached.contains(*heavy))
        .map(|heavy| format!("`{name}` reaches `{heavy}`; it must stay light (ARCHITECTURE.md)"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "intro\n<!-- crate-edges -->\n```text\na ->\nb -> a\nc -> a, b\n```\n<!-- no-heavy-deps: a, b -->\n";

    fn krate(name: &str, deps: &[&str]) -> Crate {
        Crate {
            name: name.into(),
            dir: PathBuf::new(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn an_unlisted_edge_is_a_violation() {
        let allowed = allowed_edges(DOC).unwrap();
        assert!(check_edges(&[krate("b", &["a"]), krate("c", &["a", "b"])], &allowed).is_empty());
        let problems = check_edges(&[krate("a", &["b"]), krate("d", &[])], &allowed);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`a` depends on `b`"));
        assert!(problems[1].contains("`d` is not in"));
    }

    #[test]
    fn manifests_are_read_by_section() {
        let manifest = "[package]\nname = \"x\"\n[dependencies]\na.workspace = true\nb = { path = \"b\" }\n# c\n[dev-dependencies]\nd.workspace = true\n";
        assert_eq!(package_name(manifest).as_deref(), Some("x"));
        let deps: Vec<_> = normal_deps(manifest).into_iter().collect();
        assert_eq!(deps, ["a", "b"]);
        assert_eq!(light_crates(DOC), ["a", "b"]);
    }
}
