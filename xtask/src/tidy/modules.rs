//! The module graph of a crate: no circle, no arrow back up (ARCHITECTURE.md,
//! invariant 6).
//!
//! Module A *uses* module B when A's code names an item of B: in a `use`
//! or in a path starting `crate::`, `super::`, `self::` or with one of A's
//! child modules. The item is looked up where it is defined: a re-export
//! (`pub use`) is followed to its home. A re-export A's own code does not
//! use is the module's façade, not a use; `mod` declarations are not uses;
//! `#[cfg(test)]` modules are not read. The crate root's own items (its
//! error type, the vocabulary every module shares) are the floor every
//! module stands on: uses of the root are not edges.
//!
//! Two rules follow:
//! - no circle: the uses between a crate's modules form no cycle;
//! - no arrow back up: a module never reaches an item through an ancestor
//!   that only re-exports it (`super::redact` when `redact` lives in
//!   `super::connection`): it names the item's home, so the graph shows
//!   the real edge.
//!
//! Plain text parsing: comments and literals are blanked first, then `use`
//! trees are expanded. A name brought in by a glob (`use x::*`) and used
//! bare is seen as a use of `x`, whatever it names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A module's path inside its crate: empty for the root.
pub type ModPath = Vec<String>;

/// One module's text, as the rules read it.
pub struct Module {
    /// Where it is, for messages.
    pub file: String,
    /// Its code, comments and literals blanked, test modules cut.
    pub code: String,
}

/// Reads the modules of the crate in `dir` (`src/lib.rs`, else
/// `src/main.rs`, and every file under `src/` but `src/bin/`).
pub fn read_crate(dir: &Path) -> BTreeMap<ModPath, Module> {
    let src = dir.join("src");
    let mut files = Vec::new();
    super::files_with(&src, &[".rs"], &mut files);
    let has_lib = src.join("lib.rs").exists();
    let mut modules = BTreeMap::new();
    for file in files {
        let Ok(rel) = file.strip_prefix(&src) else {
            continue;
        };
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts.first().is_some_and(|p| p == "bin") {
            continue;
        }
        let path = match parts.last().map(String::as_str) {
            Some("lib") if parts.len() == 1 => Vec::new(),
            Some("main") if parts.len() == 1 && has_lib => continue,
            Some("main") if parts.len() == 1 => Vec::new(),
            Some("mod") => {
                parts.pop();
                parts
            }
            _ => parts,
        };
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let code = without_test_modules(&blanked(&text));
        for (path, code) in inline_modules(path, &code) {
            let file = file.display().to_string();
            modules.insert(path, Module { file, code });
        }
    }
    modules
}

/// A file's module and the `mod name { … }` blocks inside it, each a
/// module of its own; in the parent a block reads as `mod name;`.
fn inline_modules(path: ModPath, code: &str) -> Vec<(ModPath, String)> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let mut parent = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("mod ") {
        let head = &rest[at + 4..];
        let name_len = head.find(|c: char| !ident(c)).unwrap_or(head.len());
        let after_name = head[name_len..].trim_start();
        let starts_word = !rest[..at].chars().next_back().is_some_and(ident);
        if !starts_word || name_len == 0 || !after_name.starts_with('{') {
            parent.push_str(&rest[..at + 4]);
            rest = &rest[at + 4..];
            continue;
        }
        let open = head.len() - after_name.len();
        let block = &head[open..];
        let mut depth = 0;
        let mut end = block.len();
        for (i, c) in block.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let name = &head[..name_len];
        parent.push_str(&rest[..at]);
        parent.push_str(&format!("mod {name};"));
        let mut child = path.clone();
        child.push(name.to_owned());
        let inner = &block[1..end.saturating_sub(1).max(1)];
        found.extend(inline_modules(child, inner));
        rest = &block[end..];
    }
    parent.push_str(rest);
    found.push((path, parent));
    found
}

/// The `<!-- circles-being-broken: a, b -->` crates: circles known and
/// being broken elsewhere, reported only when they are gone (so the line
/// goes too).
pub fn circles_being_broken(architecture: &str) -> BTreeSet<String> {
    architecture
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<!-- circles-being-broken:"))
        .flat_map(|rest| rest.trim_end_matches("-->").split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The violations of the crate `name`'s modules; `being_broken` names
/// the crates whose circles are known (see [`circles_being_broken`]).
pub fn check(
    name: &str,
    modules: &BTreeMap<ModPath, Module>,
    being_broken: &BTreeSet<String>,
) -> Vec<String> {
    let graph = Graph::new(modules);
    let mut problems: Vec<String> = graph
        .through_reexports
        .iter()
        .map(|(module, path)| {
            format!(
                "{}: `{path}` reaches an item through an ancestor's re-export; name its home (ARCHITECTURE.md, invariant 6)",
                modules[module].file
            )
        })
        .collect();
    let circles = graph.circles();
    if being_broken.contains(name) {
        if circles.is_empty() {
            problems.push(format!(
                "`{name}` has no module circle left: take it off ARCHITECTURE.md's circles-being-broken line"
            ));
        }
        return problems;
    }
    for circle in circles {
        let names: Vec<String> = circle.iter().map(|m| shown(m)).collect();
        problems.push(format!(
            "`{name}`: the modules {} use each other in a circle (ARCHITECTURE.md, invariant 6)",
            names.join(", ")
        ));
    }
    problems
}

/// `crate`, or `a::b`.
fn shown(path: &[String]) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// The uses between a crate's modules.
struct Graph {
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
    /// (module, path as written) for each reach through an ancestor's
    /// re-export.
    through_reexports: BTreeSet<(ModPath, String)>,
}

/// A module's declarations, as read.
struct Parsed {
    children: BTreeSet<String>,
    /// Each imported path, and whether it is re-exported.
    uses: Vec<(Vec<String>, bool)>,
    /// The code without its `use` declarations.
    body: String,
}

impl Graph {
    fn new(modules: &BTreeMap<ModPath, Module>) -> Self {
        let parsed: BTreeMap<&ModPath, Parsed> =
            modules.iter().map(|(p, m)| (p, parse(&m.code))).collect();
        let exists = |p: &ModPath| modules.contains_key(p);
        // Re-exports: module → name → the module it comes from (`None`:
        // outside the crate).
        let mut reexports: BTreeMap<ModPath, BTreeMap<String, Option<ModPath>>> = BTreeMap::new();
        for (&module, p) in &parsed {
            for (path, public) in &p.uses {
                if !public {
                    continue;
                }
                let Some(name) = path.last() else { continue };
                // `pub(crate) use stage;`: an item of this module (a macro)
                // made nameable by path; a longer path may leave the crate.
                let home = match start(module, path, &p.children) {
                    Some((base, rest)) => Some(walk(base, rest, exists).0),
                    None if path.len() == 1 => Some(module.clone()),
                    None => None,
                };
                reexports
                    .entry(module.clone())
                    .or_default()
                    .insert(name.clone(), home);
            }
        }
        let home_of = |mut module: ModPath, rest: &[String]| -> (ModPath, bool) {
            let mut through = false;
            for _ in 0..16 {
                let Some(name) = rest.first() else { break };
                match reexports.get(&module).and_then(|r| r.get(name)) {
                    Some(Some(home)) if *home != module => {
                        module = home.clone();
                        through = true;
                    }
                    Some(None) => return (module, true),
                    _ => break,
                }
            }
            (module, through)
        };
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        let mut through_reexports = BTreeSet::new();
        for (&module, p) in &parsed {
            let mut paths: Vec<Vec<String>> = Vec::new();
            for (path, public) in &p.uses {
                let name = path.last().map(String::as_str).unwrap_or("");
                // A re-export is a use only when this module's code uses it.
                if *public && (name == "*" || !has_word(&p.body, name)) {
                    continue;
                }
                paths.push(path.clone());
            }
            paths.extend(code_paths(&p.body, &p.children));
            for path in paths {
                let Some((base, rest)) = start(module, &path, &p.children) else {
                    continue;
                };
                let (target, rest) = walk(base, rest, exists);
                let (home, through) = home_of(target.clone(), rest);
                let above = target.len() < module.len() && module.starts_with(&target);
                if through && above {
                    through_reexports.insert((module.clone(), path.join("::")));
                }
                if home != *module && !home.is_empty() && exists(&home) {
                    edges.entry(module.clone()).or_default().insert(home);
                }
            }
        }
        Graph {
            edges,
            through_reexports,
        }
    }

    /// The strongly connected groups of more than one module (Tarjan).
    fn circles(&self) -> Vec<Vec<ModPath>> {
        struct State<'a> {
            edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
            index: BTreeMap<&'a ModPath, usize>,
            low: BTreeMap<&'a ModPath, usize>,
            stack: Vec<&'a ModPath>,
            on_stack: BTreeSet<&'a ModPath>,
            circles: Vec<Vec<ModPath>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
            let i = s.index.len();
            s.index.insert(v, i);
            s.low.insert(v, i);
            s.stack.push(v);
            s.on_stack.insert(v);
            let edges = s.edges;
            for w in edges.get(v).into_iter().flatten() {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
            if s.low[v] == s.index[v] {
                let mut group = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    group.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    s.circles.push(group);
                }
            }
        }
        let mut s = State {
            edges: &self.edges,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            circles: Vec::new(),
        };
        for v in self.edges.keys() {
            if !s.index.contains_key(v) {
                visit(&mut s, v);
            }
        }
        s.circles.sort();
        s.circles
    }
}

/// Where a path starts, inside the crate, and the rest of it; `None` for
/// a path into another crate.
fn start<'p>(
    module: &ModPath,
    path: &'p [String],
    children: &BTreeSet<String>,
) -> Option<(ModPath, &'p [String])> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some((Vec::new(), &path[1..])),
        "self" => Some((module.clone(), &path[1..])),
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            Some((base, rest))
        }
        child if children.contains(child) => Some((module.clone(), path)),
        _ => None,
    }
}

/// The deepest module along `rest` from `base`, and what is left.
fn walk(
    mut base: ModPath,
    mut rest: &[String],
    exists: impl Fn(&ModPath) -> bool,
) -> (ModPath, &[String]) {
    while let Some(first) = rest.first() {
        base.push(first.clone());
        if !exists(&base) {
            base.pop();
            break;
        }
        rest = &rest[1..];
    }
    (base, rest)
}

/// A module's children, `use` declarations and the rest of its code.
fn parse(code: &str) -> Parsed {
    let mut children = BTreeSet::new();
    let mut uses = Vec::new();
    let mut body = String::with_capacity(code.len());
    let mut rest = code;
    while !rest.is_empty() {
        // One statement-ish piece: up to and including the next `;`, `{`
        // or `}`, so a `use` is seen whole wherever it stands.
        let end = rest.find([';', '{', '}']).map_or(rest.len(), |i| i + 1);
        let (piece, after) = rest.split_at(end);
        rest = after;
        let words: Vec<&str> = piece.split_whitespace().collect();
        let mut w = words.as_slice();
        let public = w.first().is_some_and(|f| f.starts_with("pub"));
        if public {
            w = &w[1..];
            // `pub (crate)` written apart.
            if w.first().is_some_and(|f| f.starts_with('(')) {
                w = &w[1..];
            }
        }
        match w.first() {
            Some(&"use") if piece.ends_with(';') => {
                let tree = piece[piece.find("use").unwrap_or(0) + 3..].trim_end_matches(';');
                // `use a::{b, c};` spans pieces: gather to the `;`.
                uses.extend(use_paths(tree).into_iter().map(|p| (p, public)));
                body.push(';');
            }
            Some(&"use") => {
                // A brace in the tree: read on to the `;`.
                let more = rest.find(';').map_or(rest.len(), |i| i + 1);
                let tree = format!(
                    "{}{}",
                    &piece[piece.find("use").unwrap_or(0) + 3..],
                    &rest[..more]
                );
                rest = &rest[more..];
                uses.extend(
                    use_paths(tree.trim_end_matches(';'))
                        .into_iter()
                        .map(|p| (p, public)),
                );
                body.push(';');
            }
            Some(&"mod") if piece.ends_with(';') => {
                if let Some(name) = w.get(1) {
                    children.insert(name.trim_end_matches(';').to_owned());
                }
                body.push(';');
            }
            _ => body.push_str(piece),
        }
    }
    Parsed {
        children,
        uses,
        body,
    }
}

/// The paths a `use` tree names: `a::{b, c::d as e, f::*}` gives `a::b`,
/// `a::c::d`, `a::f::*`.
fn use_paths(tree: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim().trim_start_matches("::");
        if tree.is_empty() {
            return;
        }
        if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            let mut depth = 0;
            let mut from = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(prefix, &inner[from..i], out);
                        from = i + 1;
                    }
                    _ => {}
                }
            }
            expand(prefix, &inner[from..], out);
            return;
        }
        match tree.split_once("::") {
            Some((head, rest)) if !head.contains('{') => {
                let mut next = prefix.to_vec();
                next.push(head.trim().to_owned());
                expand(&next, rest, out);
            }
            _ => {
                let name = tree.split(" as ").next().unwrap_or(tree).trim();
                let mut path = prefix.to_vec();
                path.push(name.to_owned());
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

/// The paths in code that start inside the crate: `crate::…`, `super::…`,
/// `self::…`, or a child module's name followed by `::`.
fn code_paths(body: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < body.len() {
        let c = bytes[i] as char;
        if !ident(c) || (i > 0 && (ident(bytes[i - 1] as char) || body[..i].ends_with("::"))) {
            i += 1;
            continue;
        }
        // A path: identifiers joined by `::` (spaces allowed around it).
        let mut path = Vec::new();
        let mut j = i;
        loop {
            let len = body[j..]
                .find(|c: char| !ident(c))
                .unwrap_or(body.len() - j);
            if len == 0 {
                break;
            }
            path.push(body[j..j + len].to_owned());
            j += len;
            let after = body[j..].trim_start();
            match after.strip_prefix("::") {
                Some(next) => {
                    let next = next.trim_start();
                    j = body.len() - next.len();
                }
                None => break,
            }
        }
        let first = path[0].as_str();
        if path.len() > 1
            && (matches!(first, "crate" | "super" | "self") || children.contains(first))
        {
            out.push(path);
        }
        i = j.max(i + 1);
    }
    out
}

/// Whether `word` stands in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(ident)
            && !text[at + word.len()..].chars().next().is_some_and(ident)
    })
}

/// Rust text with its comments, string and character literals blanked
/// (newlines kept), so braces and paths in them are not read as code.
pub fn blanked(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
            continue;
        }
        if rest.starts_with("/*") {
            // Block comments nest.
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if text[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if text[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[j] == b'\n' {
                        out.push('\n');
                    }
                    j += 1;
                }
            }
            i = j;
            continue;
        }
        let prev_ident = i > 0 && ident(b[i - 1]);
        // Raw strings: r"…", r#"…"#, br"…".
        let raw = rest
            .strip_prefix("br")
            .or_else(|| rest.strip_prefix('r'))
            .filter(|_| !prev_ident);
        if let Some(after) = raw {
            let hashes = after.len() - after.trim_start_matches('#').len();
            if after[hashes..].starts_with('"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let open_len = rest.len() - after.len() + hashes + 1;
                let body = &rest[open_len..];
                let end = body.find(&close).map_or(body.len(), |e| e + close.len());
                out.push_str("\"\"");
                out.extend(body[..end].chars().filter(|&c| c == '\n'));
                i += open_len + end;
                continue;
            }
        }
        if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = (j + 1).min(b.len());
            continue;
        }
        if b[i] == b'\'' {
            // A char literal ('a', '\n', '\u{..}', '{'), not a lifetime.
            let body = &rest[1..];
            let len = if body.starts_with('\\') {
                body.find('\'').filter(|&e| e > 1)
            } else {
                body.chars()
                    .next()
                    .map(char::len_utf8)
                    .filter(|&l| body[l..].starts_with('\''))
            };
            if let Some(len) = len {
                out.push_str("' '");
                i += len + 2;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The code without its `#[cfg(test)] mod … { … }` blocks.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let words: Vec<&str> = after.split_whitespace().take(3).collect();
        let is_mod = words.first() == Some(&"mod")
            || (words.first().is_some_and(|w| w.starts_with("pub"))
                && words.get(1) == Some(&"mod"));
        let open = after.find(['{', ';']);
        match (is_mod, open) {
            (true, Some(open)) if after.as_bytes()[open] == b'{' => {
                out.push_str(&rest[..at]);
                let mut depth = 0;
                let mut end = after.len();
                for (i, c) in after[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            _ => {
                out.push_str(&rest[..at + 1]);
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(files: &[(&str, &str)]) -> BTreeMap<ModPath, Module> {
        files
            .iter()
            .flat_map(|(path, text)| {
                let path: ModPath = path
                    .split("::")
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                let code = without_test_modules(&blanked(text));
                inline_modules(path.clone(), &code)
                    .into_iter()
                    .map(move |(path, code)| {
                        let file = format!("{}.rs", shown(&path));
                        (path, Module { file, code })
                    })
            })
            .collect()
    }

    #[test]
    fn siblings_that_use_each_other_are_a_circle() {
        let modules = krate(&[
            (
                "",
                "mod charts;\nmod view;\nmod format;\npub use view::render;\n",
            ),
            (
                "charts",
                "use crate::view::{anchor, num};\npub fn chart() { anchor(); }\n",
            ),
            (
                "view",
                "use crate::charts;\npub fn render() { charts::chart(); }\npub fn anchor() {}\n",
            ),
            ("format", ""),
        ]);
        let problems = check("report", &modules, &BTreeSet::new());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("charts, view use each other in a circle"));
        // Both depending on a third module instead is no circle.
        let fixed = krate(&[
            ("", "mod charts;\nmod view;\nmod format;\npub use view::render;\n"),
            ("charts", "use crate::format::{anchor, num};\npub fn chart() { anchor(); }\n"),
            ("view", "use crate::charts;\nuse super::format::anchor;\npub fn render() { charts::chart(); }\n"),
            ("format", "pub fn anchor() {}\n"),
        ]);
        assert!(check("report", &fixed, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_parent_using_a_child_that_uses_it_is_a_circle() {
        let modules = krate(&[
            ("", "mod generate;\n"),
            (
                "generate",
                "mod cast;\npub struct Rng;\npub fn run() { cast::cast(); }\n",
            ),
            ("generate::cast", "use super::Rng;\npub fn cast() {}\n"),
        ]);
        let problems = check("devnet", &modules, &BTreeSet::new());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("generate, generate::cast"));
        // The crate root's own items are the floor: using them is no edge.
        let floor = krate(&[
            (
                "",
                "mod lake;\npub enum StoreError {}\npub fn open() { lake::open(); }\n",
            ),
            ("lake", "use crate::StoreError;\npub fn open() {}\n"),
        ]);
        assert!(check("store", &floor, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn reaching_an_item_through_a_parents_reexport_is_an_arrow_back_up() {
        let modules = krate(&[
            ("", "mod catalog;\n"),
            (
                "catalog",
                "mod connection;\nmod postgres;\npub use connection::redact;\n",
            ),
            (
                "catalog::connection",
                "use super::postgres::Pool;\npub fn redact() {}\n",
            ),
            (
                "catalog::postgres",
                "pub struct Pool;\nfn f() { super::redact(); }\n",
            ),
        ]);
        let problems = check("store", &modules, &BTreeSet::new());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("`super::redact` reaches an item through an ancestor's re-export")
        );
        // The re-export followed home shows the circle it hid.
        assert!(problems[1].contains("catalog::connection, catalog::postgres"));
        // A macro made nameable by path at the root is the root's own item.
        let own = krate(&[
            (
                "",
                "mod sync;\nmacro_rules! stage { () => {} }\npub(crate) use stage;\n",
            ),
            ("sync", "crate::stage!();\n"),
        ]);
        assert!(check("run", &own, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn comments_literals_and_test_modules_are_not_code() {
        let modules = krate(&[
            ("", "mod a;\nmod b;\n"),
            ("a", "// use crate::b::x;\nconst S: &str = \"crate::b::x\";\nconst C: char = '{';\npub fn f() {}\n"),
            ("b", "use crate::a::f;\n#[cfg(test)]\nmod tests {\n    use crate::a::f;\n}\n"),
        ]);
        assert!(check("c", &modules, &BTreeSet::new()).is_empty());
        let circle = krate(&[
            ("", "mod a;\nmod b;\n"),
            ("a", "fn g() { crate::b::x(); }\npub fn f() {}\n"),
            ("b", "use crate::a::f;\npub fn x() {}\n"),
        ]);
        assert_eq!(check("c", &circle, &BTreeSet::new()).len(), 1);
    }

    #[test]
    fn an_inline_module_is_a_module() {
        // `super` inside `mod hostile { … }` is the file's module.
        let modules = krate(&[
            ("", "mod server;\n"),
            ("server", "pub struct Hostile;\nfn f() { hostile::report(); }\nmod hostile {\n    use super::Hostile;\n    pub fn report() {}\n}\n"),
        ]);
        let problems = check("devnet", &modules, &BTreeSet::new());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("server, server::hostile use each other"));
    }

    #[test]
    fn a_circle_being_broken_is_reported_once_gone() {
        let circle = krate(&[
            ("", "mod a;\nmod b;\n"),
            ("a", "use crate::b::x;\npub fn f() {}\n"),
            ("b", "use crate::a::f;\npub fn x() {}\n"),
        ]);
        let listed = circles_being_broken("<!-- circles-being-broken: c, d -->");
        assert!(check("c", &circle, &listed).is_empty());
        let gone = krate(&[("", "mod a;\n"), ("a", "pub fn f() {}\n")]);
        let problems = check("c", &gone, &listed);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("take it off"));
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(
            use_paths("crate::{a::X, b::{c::Y as Z, *}}"),
            [
                vec!["crate", "a", "X"],
                vec!["crate", "b", "c", "Y"],
                vec!["crate", "b", "*"]
            ]
        );
    }
}
