//! The text forms the page and its charts share: numbers, short hotkeys,
//! section anchors. Pure; both `view` and `charts` use them.

/// A number with `places` decimals; "—" for NaN and infinities.
pub fn num(v: f64, places: usize) -> String {
    if v.is_finite() {
        format!("{v:.places$}")
    } else {
        "—".into()
    }
}

/// `5Dt7H…bcQ`: long enough to tell miners apart at a glance, short
/// enough for a chart's label column on a phone.
pub fn short_hotkey(hotkey: &str) -> String {
    let chars: Vec<char> = hotkey.chars().collect();
    if chars.len() <= 12 {
        return hotkey.to_string();
    }
    let head: String = chars.iter().take(5).collect();
    let tail: String = chars.iter().skip(chars.len() - 3).collect();
    format!("{head}…{tail}")
}

/// The id of a miner's section: the hotkey's safe characters (SS58 is
/// all alphanumeric; anything else from the catalog is dropped).
pub fn anchor(hotkey: &str) -> String {
    let safe: String = hotkey
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    format!("miner-{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_cannot_leave_an_anchor() {
        assert_eq!(anchor("5Abc\"><script>"), "miner-5Abcscript");
        assert_eq!(num(f64::NAN, 3), "—");
        assert_eq!(
            short_hotkey("5Dt7HZ7Zpw4DppPxFM7Ke3Cm7sDAWhsZXmM5ZAmE7dSVJbcQ"),
            "5Dt7H…bcQ"
        );
    }
}
