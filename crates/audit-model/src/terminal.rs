//! Text from the network made safe to print on a terminal.
//!
//! A terminal obeys the control characters it is sent: ESC starts
//! sequences that move the cursor, recolour, retitle the window or write
//! to the clipboard; CR and BS rewrite what is already on the line; the
//! C1 controls are 8-bit ESC sequences to some terminals; the bidi
//! controls reorder what a reader sees. A hotkey, an error body or a
//! model's output is shown through these functions, which write each such
//! character as its Rust escape (`\u{1b}`), so it is seen, not obeyed.

use std::borrow::Cow;

/// Whether `c` is a character a terminal acts on rather than shows: every
/// Unicode control (C0, DEL, C1) and the bidi formatting controls.
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every terminal control escaped, line breaks included: for
/// one-line values (a hotkey, a table cell, a log field), where a newline
/// from the network would forge a line of its own.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// `text` with every terminal control escaped except newlines and tabs,
/// which only lay the text out: for multi-line text (a model's streamed
/// answer, a rendered table, an error message).
pub fn escape_control_multiline(text: &str) -> Cow<'_, str> {
    escape(text, |c| matches!(c, '\n' | '\t'))
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| is_terminal_control(c) && !keep(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a hostile string may carry: a colour, a title write, a line
    /// rewrite, a NUL, an 8-bit CSI, a bidi override.
    const HOSTILE: &str = "5F\u{1b}[31mred\u{1b}]0;owned\u{7}\r\u{0}\u{9b}2J\u{202e}txt\n\tend";

    #[test]
    fn no_control_survives_in_a_one_line_value() {
        let safe = escape_control(HOSTILE);
        assert!(!safe.chars().any(is_terminal_control), "{safe:?}");
        assert_eq!(
            safe,
            "5F\\u{1b}[31mred\\u{1b}]0;owned\\u{7}\\r\\u{0}\\u{9b}2J\\u{202e}txt\\n\\tend"
        );
    }

    #[test]
    fn multiline_text_keeps_its_newlines_and_tabs_only() {
        let safe = escape_control_multiline(HOSTILE);
        assert_eq!(
            safe,
            "5F\\u{1b}[31mred\\u{1b}]0;owned\\u{7}\\r\\u{0}\\u{9b}2J\\u{202e}txt\n\tend"
        );
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in [
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            "héllo ✓ 日本",
            "",
        ] {
            assert!(matches!(escape_control(text), Cow::Borrowed(t) if t == text));
        }
        assert!(matches!(
            escape_control_multiline("a\nb\tc"),
            Cow::Borrowed(_)
        ));
    }
}
