//! The event stream of a traced invocation (`X-Chutes-Trace: true`): lines
//! `data: {json}` carrying trace messages, the result, or an error. Parsing
//! is pure so it can be tested line by line; other lines are ignored.

use serde::Serialize;
use serde_json::Value;

/// A miner target named by a trace message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `target=`: the instance the router sent to.
    pub instance_id: String,
    /// `uid=`: the miner's uid, when it reads as a number.
    pub uid: Option<i64>,
    /// `hotkey=`: the miner's hotkey.
    pub hotkey: String,
    /// `coldkey=`: the miner's coldkey.
    pub coldkey: String,
}

/// What a trace message says, when it is one the router is known to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceMessage {
    /// `identified N available targets`
    Identified {
        /// How many instances the router may try.
        targets: u32,
    },
    /// `attempting to query target=… uid=… hotkey=… coldkey=…`
    Attempting(Target),
    /// `successfully called function='…' on target=… …`
    Succeeded {
        /// The function called (`generate`).
        function: String,
        /// Who answered.
        target: Target,
    },
    /// `error encountered while querying target=… …: <error>`
    Failed {
        /// Who failed.
        target: Target,
        /// The error text after the first `: `, verbatim.
        error: String,
    },
    /// Anything else, kept verbatim.
    Other {
        /// The message as sent.
        text: String,
    },
}

/// One `trace` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEvent {
    /// When the router logged it, as sent.
    pub timestamp: Option<String>,
    /// The parent invocation id.
    pub invocation_id: Option<String>,
    /// The attempt's invocation id, on `attempting` messages.
    pub child_id: Option<String>,
    /// The chute invoked.
    pub chute_id: Option<String>,
    /// The chute function invoked.
    pub function: Option<String>,
    /// The message, parsed.
    pub message: TraceMessage,
}

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A `trace` event: what the router did.
    Trace(TraceEvent),
    /// The payload: an OpenAI stream line (string), `{"bytes": base64}` or
    /// `{"json": …}`.
    Result {
        /// The `result` value as sent.
        value: Value,
    },
    /// `{"error": …}`: the invocation failed as a whole.
    Error {
        /// The error (`infra_overload`, or a text).
        error: String,
        /// The `detail`, when given.
        detail: Option<String>,
    },
}

/// Parses one line of the stream; `None` for lines that carry no event
/// (blank, comments, `data: [DONE]`, anything unparseable).
pub fn parse_line(line: &str) -> Option<Event> {
    let payload = line
        .trim_end_matches(['\r', '\n'])
        .strip_prefix("data:")?
        .trim_start();
    let value: Value = serde_json::from_str(payload).ok()?;
    let obj = value.as_object()?;
    if let Some(trace) = obj.get("trace").and_then(Value::as_object) {
        let text = |k: &str| trace.get(k).and_then(Value::as_str).map(str::to_string);
        let message = trace
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Some(Event::Trace(TraceEvent {
            timestamp: text("timestamp"),
            invocation_id: text("invocation_id"),
            child_id: text("child_id"),
            chute_id: text("chute_id"),
            function: text("function"),
            message: parse_message(message),
        }));
    }
    if let Some(result) = obj.get("result") {
        return Some(Event::Result {
            value: result.clone(),
        });
    }
    if let Some(error) = obj.get("error") {
        return Some(Event::Error {
            error: error
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string()),
            detail: obj
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    None
}

/// `key=value` pairs of a message, values ending at whitespace (a trailing
/// `:` belongs to the message, not the value).
fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split_whitespace().filter_map(|word| {
        let (k, v) = word.split_once('=')?;
        Some((k, v.trim_end_matches(':')))
    })
}

fn target(text: &str) -> Option<Target> {
    let mut t = Target {
        instance_id: String::new(),
        uid: None,
        hotkey: String::new(),
        coldkey: String::new(),
    };
    for (k, v) in fields(text) {
        match k {
            "target" => t.instance_id = v.to_string(),
            "uid" => t.uid = v.parse().ok(),
            "hotkey" => t.hotkey = v.to_string(),
            "coldkey" => t.coldkey = v.to_string(),
            _ => {}
        }
    }
    (!t.instance_id.is_empty()).then_some(t)
}

/// Reads the router's trace message forms.
pub fn parse_message(text: &str) -> TraceMessage {
    let other = || TraceMessage::Other {
        text: text.to_string(),
    };
    if let Some(rest) = text.strip_prefix("identified ") {
        if let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
            return TraceMessage::Identified { targets: n };
        }
    }
    if text.starts_with("attempting to query ") {
        return target(text)
            .map(TraceMessage::Attempting)
            .unwrap_or_else(other);
    }
    if let Some(rest) = text.strip_prefix("successfully called function=") {
        let function = rest
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches('\'')
            .to_string();
        return match target(rest) {
            Some(target) => TraceMessage::Succeeded { function, target },
            None => other(),
        };
    }
    if text.starts_with("error encountered while querying ") {
        // The error text follows the first ": " after the key=value pairs.
        let (head, error) = match text.find(": ") {
            Some(i) => (&text[..i], text[i + 2..].to_string()),
            None => (text, String::new()),
        };
        return match target(head) {
            Some(target) => TraceMessage::Failed { target, error },
            None => other(),
        };
    }
    other()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_router_message_parses() {
        assert_eq!(
            parse_message("identified 3 available targets"),
            TraceMessage::Identified { targets: 3 }
        );
        let attempt = parse_message(
            "attempting to query target=d669c3e4-1 uid=49 hotkey=5EHhZ coldkey=5FhEk",
        );
        assert_eq!(
            attempt,
            TraceMessage::Attempting(Target {
                instance_id: "d669c3e4-1".into(),
                uid: Some(49),
                hotkey: "5EHhZ".into(),
                coldkey: "5FhEk".into()
            })
        );
        match parse_message(
            "successfully called function='generate' on target=i2 uid=7 hotkey=5A coldkey=5B",
        ) {
            TraceMessage::Succeeded { function, target } => {
                assert_eq!(function, "generate");
                assert_eq!(target.instance_id, "i2");
            }
            other => panic!("{other:?}"),
        }
        match parse_message("error encountered while querying target=i3 uid=8 hotkey=5C coldkey=5D: upstream: 500 boom") {
            TraceMessage::Failed { target, error } => {
                assert_eq!((target.instance_id.as_str(), target.uid), ("i3", Some(8)));
                assert_eq!(error, "upstream: 500 boom");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_message("something new"),
            TraceMessage::Other { .. }
        ));
    }

    #[test]
    fn stream_lines_become_events() {
        let line = r#"data: {"trace": {"timestamp": "2025-02-10T15:51:19.216856", "invocation_id": "p1", "child_id": "c1", "chute_id": "ch", "function": "generate", "message": "attempting to query target=i uid=1 hotkey=5H coldkey=5C"}}"#;
        match parse_line(line) {
            Some(Event::Trace(t)) => {
                assert_eq!(t.child_id.as_deref(), Some("c1"));
                assert!(matches!(t.message, TraceMessage::Attempting(_)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line(r#"data: {"result": "data: {\"choices\": []}"}"#),
            Some(Event::Result { .. })
        ));
        assert_eq!(
            parse_line(r#"data: {"error": "infra_overload", "detail": "busy"}"#),
            Some(Event::Error {
                error: "infra_overload".into(),
                detail: Some("busy".into())
            })
        );
        for ignored in [
            "",
            ": keepalive",
            "event: x",
            "data: [DONE]",
            "data: {broken",
            "data: 42",
        ] {
            assert_eq!(parse_line(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn every_message_form_of_the_spec_parses_with_all_its_fields() {
        let full = Target {
            instance_id: "d669c3e4-1".into(),
            uid: Some(49),
            hotkey: "5EHhZ".into(),
            coldkey: "5FhEk".into(),
        };
        let who = "target=d669c3e4-1 uid=49 hotkey=5EHhZ coldkey=5FhEk";
        assert_eq!(
            parse_message("identified 12 available targets"),
            TraceMessage::Identified { targets: 12 }
        );
        assert_eq!(
            parse_message(&format!("attempting to query {who}")),
            TraceMessage::Attempting(full.clone())
        );
        assert_eq!(
            parse_message(&format!(
                "successfully called function='chat_stream' on {who}"
            )),
            TraceMessage::Succeeded {
                function: "chat_stream".into(),
                target: full.clone()
            }
        );
        assert_eq!(
            parse_message(&format!(
                "error encountered while querying {who}: timed out"
            )),
            TraceMessage::Failed {
                target: full.clone(),
                error: "timed out".into()
            }
        );
    }

    #[test]
    fn an_error_text_naming_another_target_does_not_change_the_target() {
        let text = "error encountered while querying target=i3 uid=8 hotkey=5C coldkey=5D: \
                    proxy to target=i9 uid=99 hotkey=5X coldkey=5Y failed: 502";
        match parse_message(text) {
            TraceMessage::Failed { target, error } => {
                assert_eq!(target.instance_id, "i3");
                assert_eq!(target.uid, Some(8));
                assert_eq!(target.hotkey, "5C");
                assert_eq!(target.coldkey, "5D");
                assert_eq!(
                    error,
                    "proxy to target=i9 uid=99 hotkey=5X coldkey=5Y failed: 502"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn odd_but_possible_forms_degrade_gracefully() {
        // No error text at all: the trailing colon is not part of the key.
        match parse_message(
            "error encountered while querying target=i3 uid=8 hotkey=5C coldkey=5D:",
        ) {
            TraceMessage::Failed { target, error } => {
                assert_eq!(target.coldkey, "5D");
                assert_eq!(error, "");
            }
            other => panic!("{other:?}"),
        }
        // A uid that is not a number is unknown, not zero.
        match parse_message("attempting to query target=i1 uid=None hotkey=5A coldkey=5B") {
            TraceMessage::Attempting(t) => {
                assert_eq!((t.instance_id.as_str(), t.uid), ("i1", None))
            }
            other => panic!("{other:?}"),
        }
        // Without a target the message is kept verbatim.
        for text in [
            "attempting to query uid=1 hotkey=5A",
            "identified many available targets",
            "error encountered while querying: nothing",
        ] {
            assert_eq!(
                parse_message(text),
                TraceMessage::Other { text: text.into() },
                "{text}"
            );
        }
    }
}
