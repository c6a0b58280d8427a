//! A parser for the Python literals the validator writes into the
//! `metrics` column of its exports (`str(dict)`): dicts, lists, tuples,
//! strings in single or double quotes with escapes, ints, floats with
//! exponents, `True`, `False`, `None`.
//!
//! Why not a general Python-literal crate: the exports carry tens of
//! millions of these a week and the ingest budget is a few microseconds
//! per row; this parser borrows from the input, allocates only for
//! escaped strings and containers, and never panics on hostile input
//! (depth is bounded). `benches/parse.rs` measures it.

use std::borrow::Cow;

/// A parsed literal. Strings borrow from the input unless they held escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue<'a> {
    /// `None`: a metric that is absent for this invocation.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// Integers beyond i64 and every float.
    Float(f64),
    /// A quoted string.
    Str(Cow<'a, str>),
    /// A list or tuple.
    List(Vec<PyValue<'a>>),
    /// A dict, its pairs in input order (keys are not always strings).
    Dict(Vec<(PyValue<'a>, PyValue<'a>)>),
}

impl PyValue<'_> {
    /// The value as a number: ints, floats, and booleans (Python's
    /// `True > 0` holds). Strings and containers are not numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            PyValue::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    /// Python truthiness of a scalar; `None` for containers and strings
    /// are judged by emptiness as Python does.
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::None => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::List(v) => !v.is_empty(),
            PyValue::Dict(v) => !v.is_empty(),
        }
    }

    /// Looks a string key up in a dict (the last occurrence wins, as in
    /// Python).
    pub fn get(&self, key: &str) -> Option<&PyValue<'_>> {
        match self {
            PyValue::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| matches!(k, PyValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a literal did not parse, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python literal at byte {offset}: {reason}")]
pub struct PyLiteralError {
    /// Byte offset into the input where parsing stopped.
    pub offset: usize,
    /// What was expected there.
    pub reason: &'static str,
}

const MAX_DEPTH: usize = 64;

/// Parses one literal; anything but whitespace after it is an error.
pub fn parse(input: &str) -> Result<PyValue<'_>, PyLiteralError> {
    let mut p = Parser {
        s: input,
        b: input.as_bytes(),
        i: 0,
    };
    let value = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> PyLiteralError {
        PyLiteralError {
            offset: self.i,
            reason,
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Result<PyValue<'a>, PyLiteralError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.err("unexpected end")),
            Some(b'{') => self.dict(depth),
            Some(b'[') => self.seq(b']', depth),
            Some(b'(') => self.seq(b')', depth),
            Some(b'\'') | Some(b'"') => self.string().map(PyValue::Str),
            Some(b'-' | b'+' | b'0'..=b'9' | b'.') => self.number(),
            Some(_) => self.word(),
        }
    }

    fn word(&mut self) -> Result<PyValue<'a>, PyLiteralError> {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_alphabetic() {
            self.i += 1;
        }
        match &self.s[start..self.i] {
            "True" => Ok(PyValue::Bool(true)),
            "False" => Ok(PyValue::Bool(false)),
            "None" => Ok(PyValue::None),
            // `inf` and `nan` (what str() writes for non-finite floats) are
            // refused with every other name: no metric is infinite, and one
            // such value would poison every sum it reaches.
            _ => {
                self.i = start;
                Err(self.err("unknown name"))
            }
        }
    }

    fn number(&mut self) -> Result<PyValue<'a>, PyLiteralError> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        let mut is_float = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'_' => self.i += 1,
                b'.' | b'e' | b'E' => {
                    is_float = true;
                    self.i += 1;
                    if matches!(c, b'e' | b'E') && matches!(self.peek(), Some(b'-' | b'+')) {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
        let text = &self.s[start..self.i];
        let cleaned: Cow<str> = if text.contains('_') {
            Cow::Owned(text.replace('_', ""))
        } else {
            Cow::Borrowed(text)
        };
        if !is_float {
            if let Ok(i) = cleaned.parse::<i64>() {
                return Ok(PyValue::Int(i));
            }
        }
        // A literal too large for a float (`1e999`) would read as infinity:
        // refused like `inf` itself.
        match cleaned.parse::<f64>() {
            Ok(f) if f.is_finite() && cleaned.bytes().any(|b| b.is_ascii_digit()) => {
                Ok(PyValue::Float(f))
            }
            _ => {
                self.i = start;
                Err(self.err("malformed number"))
            }
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, PyLiteralError> {
        let quote = self.b[self.i];
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes, borrow.
        while let Some(c) = self.peek() {
            if c == quote {
                let text = &self.s[start..self.i];
                self.i += 1;
                return Ok(Cow::Borrowed(text));
            }
            if c == b'\\' {
                break;
            }
            if c == b'\n' {
                return Err(self.err("newline in string"));
            }
            self.i += 1;
        }
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            if c == quote {
                self.i += 1;
                return Ok(Cow::Owned(out));
            }
            if c != b'\\' {
                // Copy one UTF-8 character.
                let ch = self.s[self.i..].chars().next().expect("in bounds");
                out.push(ch);
                self.i += ch.len_utf8();
                continue;
            }
            self.i += 1;
            let Some(e) = self.peek() else {
                return Err(self.err("unterminated escape"));
            };
            self.i += 1;
            match e {
                b'\\' => out.push('\\'),
                b'\'' => out.push('\''),
                b'"' => out.push('"'),
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                b'r' => out.push('\r'),
                b'0' => out.push('\0'),
                b'a' => out.push('\x07'),
                b'b' => out.push('\x08'),
                b'f' => out.push('\x0c'),
                b'v' => out.push('\x0b'),
                b'\n' => {}
                b'x' => out.push(self.hex_escape(2)?),
                b'u' => out.push(self.hex_escape(4)?),
                b'U' => out.push(self.hex_escape(8)?),
                _ => {
                    // Python keeps unknown escapes verbatim.
                    out.push('\\');
                    self.i -= 1;
                }
            }
        }
    }

    fn hex_escape(&mut self, digits: usize) -> Result<char, PyLiteralError> {
        let end = self.i + digits;
        let text = self
            .s
            .get(self.i..end)
            .ok_or_else(|| self.err("short escape"))?;
        let code = u32::from_str_radix(text, 16).map_err(|_| self.err("bad hex escape"))?;
        self.i = end;
        char::from_u32(code).ok_or_else(|| self.err("escape is not a character"))
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<PyValue<'a>, PyLiteralError> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(PyValue::List(items));
            }
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.err("expected `,` or a closing bracket")),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<PyValue<'a>, PyLiteralError> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(PyValue::Dict(items));
            }
            let key = self.value(depth + 1)?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected `:`"));
            }
            self.i += 1;
            let value = self.value(depth + 1)?;
            items.push((key, value));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_metrics_the_validator_writes() {
        let v = parse("{'it': 512, 'ot': 128, 'nc': 1.2345, 'p': False, 'maspt': 0.0123}").unwrap();
        assert_eq!(v.get("it"), Some(&PyValue::Int(512)));
        assert_eq!(v.get("nc").and_then(PyValue::as_f64), Some(1.2345));
        assert_eq!(v.get("p"), Some(&PyValue::Bool(false)));
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn handles_every_literal_form() {
        let v = parse(r#"{"a": None, 'b': True, 'c': -1.5e-3, 'd': 1E+2, 'e': [1, (2, 3), {}], 'f': 'it\'s \x41\u00e9\n', 'g': 10_000, 'h': 123456789012345678901234567890}"#).unwrap();
        assert_eq!(v.get("a"), Some(&PyValue::None));
        assert_eq!(v.get("b"), Some(&PyValue::Bool(true)));
        assert_eq!(v.get("c"), Some(&PyValue::Float(-0.0015)));
        assert_eq!(v.get("d"), Some(&PyValue::Float(100.0)));
        assert_eq!(
            v.get("e"),
            Some(&PyValue::List(vec![
                PyValue::Int(1),
                PyValue::List(vec![PyValue::Int(2), PyValue::Int(3)]),
                PyValue::Dict(vec![])
            ]))
        );
        assert_eq!(v.get("f"), Some(&PyValue::Str("it's Aé\n".into())));
        assert_eq!(v.get("g"), Some(&PyValue::Int(10_000)));
        assert_eq!(
            v.get("h").and_then(PyValue::as_f64),
            Some(1.2345678901234568e29)
        );
        assert_eq!(
            parse(" {'x': [ ] , } ").unwrap().get("x"),
            Some(&PyValue::List(vec![]))
        );
    }

    #[test]
    fn refuses_non_finite_numbers() {
        let huge = format!("{{'nc': 1{}}}", "0".repeat(400));
        for bad in [
            "{'nc': inf}",
            "{'nc': -inf}",
            "{'nc': nan}",
            "{'nc': 1e999}",
            "{'nc': -1e999}",
            huge.as_str(),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn refuses_what_is_not_a_literal_without_panicking() {
        for bad in [
            "",
            "{",
            "{'a' 1}",
            "{'a': }",
            "{'a': 1,, }",
            "{'a': 1} x",
            "{'a': 'unterminated}",
            "{'a': os.system('x')}",
            "{'a': 1.2.3}",
            "{'a': -}",
            "{'a': '\\x4'}",
            "[1, 2",
            "{'a': e5}",
            "{'a': .}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // Every prefix and every single-byte corruption of a real value.
        let good = "{'it': 512, 'ot': 128, 'nc': 1.2e-3, 'p': False, 's': 'a\\'b', 'l': [1, (2,)]}";
        for end in 0..=good.len() {
            if good.is_char_boundary(end) {
                let _ = parse(&good[..end]);
            }
        }
        for (i, _) in good.char_indices() {
            for replacement in ["'", "\\", "{", "]", ":", ",", "-", "e", "\u{e9}"] {
                let mut s = good.to_string();
                s.replace_range(i..i + 1, replacement);
                let _ = parse(&s);
            }
        }
    }
}
