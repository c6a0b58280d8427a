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

/// Checks an export path named by a report (`invocations/2025/02/10/16.csv`)
/// before anything is fetched with it. The check runs on the
/// percent-DECODED text, as a web server or a URL parser would read it
/// (`%2e%2e` is `..` to both), and each decoded segment must be a plain
/// name: ASCII letters, digits, `.`, `-`, `_`, and not `.` or `..`. So no
/// traversal, backslash, absolute path, empty segment, query or fragment
/// survives, however it is encoded. Returns the decoded path.
pub fn check_export_path(path: &str) -> Result<String, UnsafePath> {
    let unsafe_path = |why: &str| UnsafePath {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let decoded = percent_decode(path).ok_or_else(|| unsafe_path("bad percent-encoding"))?;
    if !decoded.starts_with("invocations/") {
        return Err(unsafe_path("an export path starts with `invocations/`"));
    }
    for segment in decoded.split('/') {
        if segment.is_empty() {
            return Err(unsafe_path("has an empty segment or is absolute"));
        }
        if segment == "." || segment == ".." {
            return Err(unsafe_path("contains `.` or `..`"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(unsafe_path(
                "a segment holds a character other than letters, digits, `.`, `-`, `_`",
            ));
        }
    }
    Ok(decoded)
}

/// `%XX` sequences decoded once; `None` for a broken sequence or bytes
/// that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_paths_are_checked_after_decoding() {
        assert_eq!(
            check_export_path("invocations/2025/02/10/16-reports.csv").unwrap(),
            "invocations/2025/02/10/16-reports.csv"
        );
        assert_eq!(
            check_export_path("invocations/2025/02/10/%31%36.csv").unwrap(),
            "invocations/2025/02/10/16.csv"
        );
        for bad in [
            "invocations/%2e%2e/%2e%2e/etc/passwd",
            "invocations/%2E%2E/x.csv",
            "invocations/..%2fsecret.csv",
            "invocations/a\\..\\b.csv",
            "invocations/a%5c..%5cb.csv",
            "/invocations/x.csv",
            "%2finvocations/x.csv",
            "invocations//x.csv",
            "invocations/./x.csv",
            "invocations/x.csv?y=1",
            "invocations/x.csv%23frag",
            "invocations/%252e%252e/x.csv",
            "invocations/%zz.csv",
            "invocations/%2",
            "elsewhere/x.csv",
            "",
        ] {
            assert!(check_export_path(bad).is_err(), "{bad:?} accepted");
        }
    }

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
