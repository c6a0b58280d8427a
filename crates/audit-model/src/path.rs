//! Paths that come from the network.
//!
//! Reports name their exports by relative path, and the devnet serves files
//! by the path a world lists. Any such path is hostile until [`confine`]
//! has joined it onto a root without leaving it.

use std::path::{Component, Path, PathBuf};

/// A network-derived path that would leave its root, or names nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {why}")]
pub struct UnsafePath {
    /// The path as it was given.
    pub path: String,
    /// Why it is refused.
    pub why: String,
}

/// Joins an untrusted relative path (from the network) onto `root`,
/// refusing absolute paths, `..`, and anything that would land outside
/// `root`, including through a symlink that already exists.
pub fn confine(root: &Path, untrusted: &str) -> Result<PathBuf, UnsafePath> {
    let unsafe_path = |why: &str| UnsafePath {
        path: untrusted.to_owned(),
        why: why.to_owned(),
    };
    if untrusted.is_empty() {
        return Err(unsafe_path("empty path"));
    }
    if untrusted.contains('\0') || untrusted.contains('\\') {
        return Err(unsafe_path("contains a NUL or a backslash"));
    }
    let rel = Path::new(untrusted);
    let mut joined = root.to_path_buf();
    for component in rel.components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_path("contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path("is absolute")),
        }
    }
    if joined == root {
        return Err(unsafe_path("names the root itself"));
    }
    // Resolve what exists of the path, to catch symlinks that point out.
    let mut existing = joined.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    if let (Ok(real), Ok(real_root)) = (existing.canonicalize(), root.canonicalize()) {
        if !real.starts_with(&real_root) {
            return Err(unsafe_path("resolves outside the data directory"));
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            confine(root, "invocations/2025/02/10/16.csv").unwrap(),
            root.join("invocations/2025/02/10/16.csv")
        );
        assert_eq!(confine(root, "./a/./b").unwrap(), root.join("a/b"));
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "",
            ".",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(confine(root, bad).is_err(), "{bad:?} accepted");
        }
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
            let err = confine(root, "link/secret").unwrap_err();
            assert!(err.to_string().contains("outside"), "{err}");
        }
    }
}
