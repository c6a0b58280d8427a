//! `cargo xtask tidy`: the invariants ARCHITECTURE.md states, checked.
//!
//! - Crate edges: every dependency of a workspace crate on another
//!   workspace crate is listed in ARCHITECTURE.md's `crate-edges` block,
//!   and every listed edge is one the crate has. A new edge is a design
//!   decision, so it is written down first; an edge no longer used goes.
//! - Light fetchers: the crates ARCHITECTURE.md names in its
//!   `no-heavy-deps` line do not reach diesel, polars or bundled SQLite,
//!   even transitively (`cargo tree`), so embedding the HTTP or chain
//!   client stays cheap.
//! - Documented libraries: every library crate warns on missing docs.
//! - Links resolve: every relative link in the repository's markdown, and
//!   every `docs/…md` or `spec/…md` path in a Rust comment (read from the
//!   repository root), names a file the repository holds, so the docs
//!   stand on their own.
//! - Dependencies follow use ([`deps`]): a declared dependency is named
//!   in the sources that may use it.
//! - No circle, no arrow back up ([`modules`]): the uses between a
//!   crate's modules form no cycle, and no module reaches an item through
//!   an ancestor's re-export.
//!
//! Plain text parsing on purpose: xtask has no dependencies and builds in
//! a second.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

mod deps;
mod modules;

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
    let without_paths = deps::used_without_paths(&architecture);
    let being_broken = modules::circles_being_broken(&architecture);
    for c in &crates {
        problems.extend(deps::check(&c.name, &c.dir, &without_paths));
        let crate_modules = modules::read_crate(&c.dir);
        problems.extend(modules::check(&c.name, &crate_modules, &being_broken));
    }
    problems.extend(check_references(root));
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
        for dep in ok.difference(&c.deps) {
            problems.push(format!(
                "ARCHITECTURE.md allows `{}` -> `{dep}`, an edge the crate does not have; remove it",
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
    let output = crate::cargo()
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

/// Folders never searched for docs or sources: build output, VCS data,
/// and hidden tool folders.
fn skipped_dir(name: &str) -> bool {
    name == "target" || name == "node_modules" || name.starts_with('.')
}

/// Every file under `dir` whose name ends with one of `extensions`, sorted.
fn files_with(dir: &Path, extensions: &[&str], found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !skipped_dir(name) {
                files_with(&path, extensions, found);
            }
        } else if extensions.iter().any(|ext| name.ends_with(ext)) {
            found.push(path);
        }
    }
}

/// The links of the markdown files and the doc paths of the Rust comments,
/// each checked against the files on disk.
fn check_references(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    files_with(root, &[".md", ".rs"], &mut files);
    let exists = |path: &Path| path.exists();
    let mut problems = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            problems.push(format!("{}: cannot read", file.display()));
            continue;
        };
        let shown = file.strip_prefix(root).unwrap_or(&file);
        if file.extension().is_some_and(|e| e == "md") {
            let dir = file.parent().unwrap_or(root);
            problems.extend(broken_markdown_links(shown, &text, root, dir, exists));
        } else {
            problems.extend(broken_comment_paths(shown, &text, root, exists));
        }
    }
    problems
}

/// The relative links of a markdown text that name no existing file or
/// folder. `dir` is the file's folder; a link starting with `/` is read
/// from `root`, as GitHub does. Anchors are ignored, URLs with a scheme
/// skipped, and code (fenced blocks, inline spans) holds no links.
fn broken_markdown_links(
    file: &Path,
    text: &str,
    root: &Path,
    dir: &Path,
    exists: impl Fn(&Path) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fence: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        for marker in ["```", "~~~"] {
            if trimmed.starts_with(marker) {
                fence = match fence {
                    None => Some(marker),
                    Some(open) if open == marker => None,
                    open => open,
                };
            }
        }
        if fence.is_some() || trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            continue;
        }
        for target in link_targets(&without_code_spans(line)) {
            let path = target.split('#').next().unwrap_or("");
            let external = target.contains("://") || target.starts_with("mailto:");
            if external || path.is_empty() {
                continue;
            }
            let resolved = match path.strip_prefix('/') {
                Some(from_root) => root.join(from_root),
                None => dir.join(path),
            };
            if !exists(&normalized(&resolved)) {
                problems.push(format!(
                    "{}:{}: link `{target}` names no file in the repository",
                    file.display(),
                    n + 1
                ));
            }
        }
    }
    problems
}

/// `path` with `.` and `..` resolved lexically, as a link is read.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A line with its inline code spans (`` `…` ``) blanked out.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The destinations of the inline links `[text](dest "title")` and of the
/// reference definitions `[label]: dest` on one line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    if let Some(rest) = line.trim_start().strip_prefix('[') {
        if let Some((_, dest)) = rest.split_once("]:") {
            if let Some(dest) = dest.split_whitespace().next() {
                targets.push(dest.trim_matches(['<', '>']).to_owned());
            }
        }
    }
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let inner = after[..end].trim();
        let dest = match inner.strip_prefix('<') {
            Some(bracketed) => bracketed.split('>').next().unwrap_or(""),
            None => inner.split_whitespace().next().unwrap_or(""),
        };
        if !dest.is_empty() {
            targets.push(dest.to_owned());
        }
        rest = &after[end..];
    }
    targets
}

/// The `docs/…md` and `spec/…md` paths in a Rust text's comments that
/// name no file when read from the repository root.
fn broken_comment_paths(
    file: &Path,
    text: &str,
    root: &Path,
    exists: impl Fn(&Path) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(comment) = line_comment(line) else {
            continue;
        };
        for path in doc_paths(comment) {
            if !exists(&root.join(path)) {
                problems.push(format!(
                    "{}:{}: comment names `{path}`, which is not in the repository",
                    file.display(),
                    n + 1
                ));
            }
        }
    }
    problems
}

/// The `//` comment of a line of Rust: where a `//` stands outside a
/// string literal (quotes counted, escapes skipped; good enough for the
/// lines rustfmt leaves).
fn line_comment(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return Some(&line[i..]),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The path-like words starting with `docs/` or `spec/` and ending in
/// `.md` (trailing punctuation dropped).
fn doc_paths(comment: &str) -> Vec<&str> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_');
    let mut paths = Vec::new();
    for prefix in ["docs/", "spec/"] {
        for (at, _) in comment.match_indices(prefix) {
            if comment[..at].chars().next_back().is_some_and(path_char) {
                continue;
            }
            let word = &comment[at..];
            let end = word.find(|c: char| !path_char(c)).unwrap_or(word.len());
            let word = word[..end].trim_end_matches('.');
            if word.ends_with(".md") {
                paths.push(word);
            }
        }
    }
    paths
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
        // (`a` -> `b` unlisted, `d` unlisted.)
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`a` depends on `b`"));
        assert!(problems[1].contains("`d` is not in"));
    }

    #[test]
    fn an_allowed_edge_no_crate_uses_is_a_violation() {
        let allowed = allowed_edges(DOC).unwrap();
        let problems = check_edges(
            &[krate("a", &[]), krate("b", &["a"]), krate("c", &["b"])],
            &allowed,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("allows `c` -> `a`, an edge the crate does not have"));
    }

    #[test]
    fn manifests_are_read_by_section() {
        let manifest = "[package]\nname = \"x\"\n[dependencies]\na.workspace = true\nb = { path = \"b\" }\n# c\n[dev-dependencies]\nd.workspace = true\n";
        assert_eq!(package_name(manifest).as_deref(), Some("x"));
        let deps: Vec<_> = normal_deps(manifest).into_iter().collect();
        assert_eq!(deps, ["a", "b"]);
        assert_eq!(light_crates(DOC), ["a", "b"]);
    }
    #[test]
    fn a_markdown_link_to_a_missing_file_is_a_violation() {
        let root = Path::new("/repo");
        let held = [
            Path::new("/repo/docs/spec/subtensor.md"),
            Path::new("/repo/README.md"),
        ];
        let exists = |p: &Path| held.contains(&normalized(p).as_path());
        let text = concat!(
            "See [chain](spec/subtensor.md#pallets), [home](../README.md), [top](#top),\n",
            "[site](https://chutes.ai), [mail](mailto:a@b.c), [root](/README.md).\n",
            "Old: [spec](../spec/subtensor.md) and `[code](nowhere.md)`.\n",
            "```\n[fenced](nowhere.md)\n```\n",
            "[ref]: missing.md\n",
        );
        let problems = broken_markdown_links(
            Path::new("docs/x.md"),
            text,
            root,
            &root.join("docs"),
            exists,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("docs/x.md:3: link `../spec/subtensor.md`"));
        assert!(problems[1].starts_with("docs/x.md:7: link `missing.md`"));
    }

    #[test]
    fn a_comment_naming_a_missing_doc_is_a_violation() {
        let root = Path::new("/repo");
        let exists = |p: &Path| p == Path::new("/repo/docs/spec/subtensor.md");
        // Each line a literal of its own, so tidy's own scan of this file
        // sees strings here, not comments.
        let text = concat!(
            "//! The chain (docs/spec/subtensor.md).\n",
            "/// As spec/commit-reveal.md says.\n",
            "let s = \"docs/none.md\"; // see docs/gone.md, then docs/spec/subtensor.md.\n",
            "let url = \"https://x/docs/none.md\";\n",
        );
        let problems = broken_comment_paths(Path::new("a.rs"), text, root, exists);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("a.rs:2: comment names `spec/commit-reveal.md`"));
        assert!(problems[1].starts_with("a.rs:3: comment names `docs/gone.md`"));
    }
}
