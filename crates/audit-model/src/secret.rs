//! Masking secrets in text before it is shown: config check, errors, logs.
//!
//! Why one function over plain text rather than over parsed URLs: the
//! URLs users write do not always parse. A password holding `/` or `#`
//! makes a URL parser read part of it as a port, a path or a fragment, and
//! a parsed-URL masker then prints it. [`mask_secrets`] works on the text
//! itself, so it also masks a URL inside an error message, a URL that does
//! not parse, and a libpq `key=value` connection string.

/// What replaces a secret.
pub const MASK: &str = "***";

/// Parameter names whose value is a secret (matched in lower case, as a
/// part of the name: `sslpassword`, `api_key`, `access_token`).
const SECRET_KEYS: [&str; 6] = ["password", "passwd", "pwd", "secret", "token", "key"];

/// `text` with every credential replaced by [`MASK`]:
///
/// - the password of any `user:password@host` (with or without a scheme,
///   whatever characters the password holds, up to the token's last `@`);
/// - the value of any `name=value` whose name contains `password`,
///   `passwd`, `pwd`, `secret`, `token` or `key` (URL query parameters and
///   libpq connection strings alike).
///
/// A user name alone is kept: it says which account is in use.
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        out.push_str(&mask_parameters(&mask_userinfo(word)));
        out.push_str(&piece[word.len()..]);
    }
    out
}

/// Masks the password of a `[scheme://]user:password@rest` token.
fn mask_userinfo(token: &str) -> String {
    let start = token.find("://").map_or(0, |i| i + 3);
    let Some(at) = token.rfind('@').filter(|at| *at >= start) else {
        return token.to_string();
    };
    let userinfo = &token[start..at];
    match userinfo.find(':') {
        Some(colon) if colon + 1 < userinfo.len() => {
            let user_end = start + colon + 1;
            format!("{}{MASK}{}", &token[..user_end], &token[at..])
        }
        _ => token.to_string(),
    }
}

/// Masks the value of every `name=value` whose name looks secret. A value
/// runs to the next `&`, `;` or `,` (or the token's end).
fn mask_parameters(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut rest = token;
    while let Some(eq) = rest.find('=') {
        let (before, after) = (&rest[..eq], &rest[eq + 1..]);
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .map_or(0, |i| i + 1);
        let name = before[name_start..].to_ascii_lowercase();
        let value_end = after.find(['&', ';', ',']).unwrap_or(after.len());
        out.push_str(before);
        out.push('=');
        if SECRET_KEYS.iter().any(|k| name.contains(k)) && value_end > 0 {
            out.push_str(MASK);
        } else {
            out.push_str(&after[..value_end]);
        }
        rest = &after[value_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_database_password_is_masked() {
        let cases = [
            (
                "postgres://me:hunter2@db:5432/audit",
                "postgres://me:***@db:5432/audit",
            ),
            // A `/` or `#` in the password: a URL parser reads a port, a
            // path or a fragment there.
            (
                "postgres://me:12/hunter2@db/audit",
                "postgres://me:***@db/audit",
            ),
            (
                "postgres://me:hun#ter2@db/audit",
                "postgres://me:***@db/audit",
            ),
            ("postgres://me:a@b@db/audit", "postgres://me:***@db/audit"),
            (
                "postgres://db/audit?user=me&password=hunter2&sslmode=require",
                "postgres://db/audit?user=me&password=***&sslmode=require",
            ),
            (
                "postgresql+asyncpg://user:hunter2@127.0.0.1:5432/chutes_audit",
                "postgresql+asyncpg://user:***@127.0.0.1:5432/chutes_audit",
            ),
            ("me:hunter2@db/audit", "me:***@db/audit"),
            (
                "host=db user=me password=hunter2 dbname=audit",
                "host=db user=me password=*** dbname=audit",
            ),
            (
                "https://u:cpk_0.1.2@api.chutes.ai/?api_key=cpk_3&x=1",
                "https://u:***@api.chutes.ai/?api_key=***&x=1",
            ),
            (
                "cannot connect to postgres://me:hunter2@db/audit: refused",
                "cannot connect to postgres://me:***@db/audit: refused",
            ),
            (
                "a\n\tpostgres://me:hunter2@db/audit\nb",
                "a\n\tpostgres://me:***@db/audit\nb",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(mask_secrets(input), want, "{input}");
            assert!(!mask_secrets(input).contains("hunter2"));
        }
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        for text in [
            "postgres://me@db/audit",
            "sqlite:///var/lib/audit/catalog.db",
            "wss://entrypoint-finney.opentensor.ai:443",
            "https://api.chutes.ai/chutes/?include_public=true&limit=1000&page=0",
            "2025-02-10T10:00:00Z",
            "",
        ] {
            assert_eq!(mask_secrets(text), text);
        }
    }
}
