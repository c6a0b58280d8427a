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

/// The shortest hex run taken for key material: a seed is 64 digits, an
/// sr25519 secret key 128, and half a seed is still half a secret.
const MIN_KEY_HEX: usize = 32;

/// The fewest consecutive BIP39 words taken for a mnemonic: a phrase is
/// 12 to 24 words, and one typo splits it in two, so half of the shortest
/// still counts.
const MIN_MNEMONIC_WORDS: usize = 6;

/// `text` with everything that looks like key material replaced by
/// [`MASK`]: a run of 32 or more hex digits (with its `0x`), and a run of
/// six or more BIP39 English words separated by white space.
///
/// For text that quotes what a user wrote (configuration errors): a seed
/// pasted under the wrong key must not be echoed. Not for logs, where
/// 64-digit hashes are the point.
pub fn mask_key_material(text: &str) -> String {
    let mut spans = hex_runs(text);
    spans.extend(mnemonic_runs(text));
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            // Overlapping spans: the earlier one already masked this.
            at = at.max(end);
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// Byte spans of hex runs of [`MIN_KEY_HEX`] digits or more, a leading
/// `0x` included.
fn hex_runs(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i - start >= MIN_KEY_HEX {
            let prefixed = start >= 2 && text[..start].ends_with("0x");
            spans.push((if prefixed { start - 2 } else { start }, i));
        }
    }
    spans
}

/// Byte spans of runs of [`MIN_MNEMONIC_WORDS`] or more BIP39 English
/// words with only white space between them; one word off the list (a
/// typo) between two on it does not end a run.
fn mnemonic_runs(text: &str) -> Vec<(usize, usize)> {
    /// A run: its start, its last listed word's end, how many are listed,
    /// and whether an unlisted word follows that one.
    struct Run {
        start: usize,
        end: usize,
        words: usize,
        typo: bool,
    }
    let mut spans = Vec::new();
    let mut run: Option<Run> = None;
    let mut close = |run: &mut Option<Run>| {
        if let Some(r) = run.take() {
            if r.words >= MIN_MNEMONIC_WORDS {
                spans.push((r.start, r.end));
            }
        }
    };
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !c.is_ascii_alphabetic() {
            if !c.is_whitespace() {
                close(&mut run);
            }
            continue;
        }
        let mut end = i + 1;
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_ascii_alphabetic() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        let word = text[i..end].to_ascii_lowercase();
        if bip39::Language::English.find_word(&word).is_some() {
            match &mut run {
                Some(r) => {
                    r.end = end;
                    r.words += 1;
                    r.typo = false;
                }
                None => {
                    run = Some(Run {
                        start: i,
                        end,
                        words: 1,
                        typo: false,
                    })
                }
            }
        } else {
            let typo_like = (3..=8).contains(&word.len());
            match &mut run {
                Some(r) if typo_like && !r.typo => r.typo = true,
                _ => close(&mut run),
            }
        }
    }
    close(&mut run);
    spans
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

    /// //Alice's seed, and a valid 12-word mnemonic.
    const SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
    const PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

    #[test]
    fn seeds_and_mnemonics_in_a_message_are_masked() {
        let cases = [
            format!("`{SEED}` is not an SS58 address"),
            format!("invalid type: string \"{SEED}\", expected struct SetWeightsConfig"),
            format!("invalid type: string \"{}\"", &SEED[2..]),
            format!("invalid type: string \"{PHRASE}\", expected a map"),
            format!("`{}` is not an SS58 address", PHRASE.to_uppercase()),
            // A typo splits the phrase; each half is still masked.
            "`bottom drive obey lake curtian smoke basket hold race lonely fit walk`".to_string(),
        ];
        for message in cases {
            let masked = mask_key_material(&message);
            assert!(masked.contains(MASK), "{masked}");
            for secret in [&SEED[2..34], "drive obey", "DRIVE OBEY", "basket hold"] {
                assert!(!masked.contains(secret), "{masked}");
            }
        }
        assert_eq!(
            mask_key_material(&format!("a {SEED}, b")),
            format!("a {MASK}, b")
        );
    }

    #[test]
    fn ordinary_messages_keep_their_words_and_short_numbers() {
        for text in [
            "`set_weights.ss58`: `5Hot` is not an SS58 address with prefix 42 (bad characters, length or checksum)",
            "must be 0x and 64 hex digits (a 32-byte seed); got 12 characters",
            "required when set_weights.enabled is true: set it, set_weights.hotkey_file, or AUDITCTL_SECRET_SEED",
            "unknown field `sedd`, expected one of `enabled`, `secret_seed`, `ss58`",
            "block 0x1a2b3c is 600 blocks old",
        ] {
            assert_eq!(mask_key_material(text), text);
        }
    }
}
