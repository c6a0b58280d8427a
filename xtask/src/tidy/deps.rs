//! Dependencies follow use (ARCHITECTURE.md, invariant 5): a crate's
//! manifest declares only what its sources name.
//!
//! A dependency counts as used when its name (`-` read as `_`, or the key
//! it is renamed to) stands in the sources as the start of a path
//! (`name::…`) or after `use` / `extern crate`, outside comments and
//! literals. Where each kind is looked for:
//! - `[dependencies]` (and `[target.….dependencies]`): `src/`;
//! - `[dev-dependencies]`: `src/` (its doctests too), `tests/`, `benches/`, `examples/`;
//! - `[build-dependencies]`: `build.rs`.
//!
//! A crate used only for what linking it does (a feature it switches on in
//! another crate, a native library it bundles) is named in
//! ARCHITECTURE.md's `used-without-paths` line.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::modules::blanked;

/// Which table of a manifest a dependency is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[dependencies]`, also per target.
    Normal,
    /// `[dev-dependencies]`, also per target.
    Dev,
    /// `[build-dependencies]`, also per target.
    Build,
}

impl Kind {
    /// The table's header, for messages.
    fn section(self) -> &'static str {
        match self {
            Kind::Normal => "[dependencies]",
            Kind::Dev => "[dev-dependencies]",
            Kind::Build => "[build-dependencies]",
        }
    }

    /// The folders and files of a crate where this kind is used.
    fn sources(self, dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let folders: &[&str] = match self {
            Kind::Normal => &["src"],
            Kind::Dev => &["src", "tests", "benches", "examples"],
            Kind::Build => &[],
        };
        for folder in folders {
            super::files_with(&dir.join(folder), &[".rs"], &mut files);
        }
        if self == Kind::Build {
            files.push(dir.join("build.rs"));
        }
        files
    }
}

/// The dependencies a manifest declares: (kind, the name code uses).
pub fn declared(manifest: &str) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let mut kind = None;
    // `[dependencies.name]` tables name their dependency in the header.
    let mut table_dep: Option<(Kind, String)> = None;
    let flush = |table_dep: &mut Option<(Kind, String)>, out: &mut Vec<(Kind, String)>| {
        if let Some(dep) = table_dep.take() {
            out.push(dep);
        }
    };
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            flush(&mut table_dep, &mut out);
            let header = line.trim_matches(['[', ']']);
            let header = match header.strip_prefix("target.") {
                // `target.'cfg(…)'.dependencies` or `target.TRIPLE.dependencies`.
                Some(rest) => match rest.chars().next() {
                    Some(q @ ('\'' | '"')) => rest[1..]
                        .split_once(q)
                        .map_or("", |(_, r)| r.trim_start_matches('.')),
                    _ => rest.split_once('.').map_or("", |(_, r)| r),
                },
                None => header,
            };
            let (table, dep) = match header.split_once('.') {
                Some((table, dep)) => (table, Some(dep)),
                None => (header, None),
            };
            let found = match table {
                "dependencies" => Some(Kind::Normal),
                "dev-dependencies" => Some(Kind::Dev),
                "build-dependencies" => Some(Kind::Build),
                _ => None,
            };
            kind = None;
            match (found, dep) {
                (Some(k), Some(dep)) => table_dep = Some((k, dep.to_owned())),
                (Some(k), None) => kind = Some(k),
                _ => {}
            }
            continue;
        }
        // Inside `[dependencies.name]`: the header named it (a `package =`
        // there renames the crate, the key stays the name code uses).
        if table_dep.is_some() {
            continue;
        }
        let Some(k) = kind else { continue };
        let key_len = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(line.len());
        let after = line[key_len..].trim_start();
        if key_len > 0 && (after.starts_with('=') || after.starts_with('.')) {
            out.push((k, line[..key_len].to_owned()));
        }
    }
    flush(&mut table_dep, &mut out);
    out
}

/// The `<!-- used-without-paths: a, b -->` names.
pub fn used_without_paths(architecture: &str) -> BTreeSet<String> {
    architecture
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<!-- used-without-paths:"))
        .flat_map(|rest| rest.trim_end_matches("-->").split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The declared dependencies of the crate in `dir` that its sources never
/// name, one line each.
pub fn check(name: &str, dir: &Path, allowed: &BTreeSet<String>) -> Vec<String> {
    let Ok(manifest) = fs::read_to_string(dir.join("Cargo.toml")) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for kind in [Kind::Normal, Kind::Dev, Kind::Build] {
        let deps: Vec<String> = declared(&manifest)
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| d)
            .filter(|d| !allowed.contains(d))
            .collect();
        if deps.is_empty() {
            continue;
        }
        let code: String = kind
            .sources(dir)
            .iter()
            .filter_map(|f| fs::read_to_string(f).ok())
            .map(|t| blanked(&t))
            .collect::<Vec<_>>()
            .join("\n");
        // Doctests build against dev-dependencies: their code counts.
        let code = match kind {
            Kind::Dev => Kind::Normal
                .sources(dir)
                .iter()
                .filter_map(|f| fs::read_to_string(f).ok())
                .fold(code, |code, t| code + "\n" + &doctest_code(&t)),
            _ => code,
        };
        for dep in deps {
            // A crate's dev-dependency on itself turns on its test features.
            if kind == Kind::Dev && dep == name {
                continue;
            }
            if !names_crate(&code, &dep.replace('-', "_")) {
                problems.push(format!(
                    "`{name}` declares `{dep}` in {} but its sources never name it; remove it, or list it in ARCHITECTURE.md's used-without-paths line (invariant 5)",
                    kind.section()
                ));
            }
        }
    }
    problems
}

/// The code of the doc comments in `text` (`///` and `//!` lines, the
/// doctests' hidden-line marker `# ` removed), blanked like sources.
pub fn doctest_code(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("//!").or_else(|| l.strip_prefix("///"))
        })
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect();
    blanked(&lines.join("\n"))
}

/// Whether `krate` starts a path or is imported in `code`.
pub fn names_crate(code: &str, krate: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(krate).any(|(at, _)| {
        let before = &code[..at];
        let after = &code[at + krate.len()..];
        if before.chars().next_back().is_some_and(ident) || after.chars().next().is_some_and(ident)
        {
            return false;
        }
        let before = before.trim_end();
        // Not `other::krate`: a path into something else.
        if before.ends_with("::") {
            return false;
        }
        after.trim_start().starts_with("::")
            || before.ends_with("use")
            || before.ends_with("extern crate")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_declare_by_table() {
        let manifest = concat!(
            "[package]\nname = \"x\"\n",
            "[dependencies]\nserde.workspace = true\nchrono = { version = \"0.4\", features = [\n  \"serde\",\n] }\n",
            "[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n",
            "[dev-dependencies]\ntempfile = \"3\"\n",
            "[dependencies.codec]\npackage = \"parity-scale-codec\"\nversion = \"3\"\n",
            "[build-dependencies]\ncc = \"1\"\n",
        );
        let deps = declared(manifest);
        let names = |k: Kind| -> Vec<&str> {
            deps.iter()
                .filter(|(d, _)| *d == k)
                .map(|(_, n)| n.as_str())
                .collect()
        };
        assert_eq!(names(Kind::Normal), ["serde", "chrono", "libc", "codec"]);
        assert_eq!(names(Kind::Dev), ["tempfile"]);
        assert_eq!(names(Kind::Build), ["cc"]);
    }

    #[test]
    fn a_crate_is_named_by_a_path_or_a_use() {
        assert!(names_crate("use serde::Serialize;", "serde"));
        assert!(names_crate("#[derive(thiserror::Error)]", "thiserror"));
        assert!(names_crate(
            "let v = serde_json :: json!({});",
            "serde_json"
        ));
        assert!(names_crate("extern crate alloc_crate;", "alloc_crate"));
        assert!(names_crate("use mimalloc;", "mimalloc"));
        assert!(!names_crate("#[serde(rename = \"x\")]", "serde"));
        assert!(!names_crate("let serde_json = 1;", "serde"));
        assert!(!names_crate("audit_model::chrono::Utc", "chrono"));
        assert!(!names_crate("let tracing = 1;", "tracing"));
    }

    #[test]
    fn a_declared_dependency_no_source_names_is_a_violation() {
        let dir = std::env::temp_dir().join(format!("tidy-deps-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::create_dir_all(dir.join("tests")).unwrap();
        fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"x\"\n[dependencies]\nserde.workspace = true\nchrono.workspace = true\nmimalloc.workspace = true\n[dev-dependencies]\ntempfile.workspace = true\nx = { path = \".\" }\n",
        )
        .unwrap();
        // chrono only in a comment and in a test: not a normal use.
        fs::write(
            dir.join("src/lib.rs"),
            "use serde::Serialize;\n// chrono::Utc\n",
        )
        .unwrap();
        fs::write(
            dir.join("tests/t.rs"),
            "fn t() { chrono::Utc::now(); tempfile::tempdir(); }\n",
        )
        .unwrap();
        let allowed: BTreeSet<String> = ["mimalloc".to_owned()].into();
        let problems = check("x", &dir, &allowed);
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("`x` declares `chrono` in [dependencies]"));
    }

    #[test]
    fn a_dev_dependency_named_only_by_a_doctest_is_used() {
        let lib = "//! ```\n//! let dir = tempfile::tempdir()?;\n//! # use hex::encode;\n//! ```\npub fn f() {}\n";
        let code = doctest_code(lib);
        assert!(names_crate(&code, "tempfile"));
        assert!(names_crate(&code, "hex"));
        assert!(!names_crate(
            &doctest_code("// tempfile::tempdir()\n"),
            "tempfile"
        ));
    }

    #[test]
    fn the_allow_list_is_read_from_its_line() {
        let doc = "text\n<!-- used-without-paths: mimalloc, libsqlite3-sys -->\n";
        let names: Vec<String> = used_without_paths(doc).into_iter().collect();
        assert_eq!(names, ["libsqlite3-sys", "mimalloc"]);
    }
}
