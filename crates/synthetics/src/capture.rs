//! What one traced invocation tells us: a synthetic record per
//! `attempting to query` event (its `has_error` set by a later
//! `error encountered` event on the same instance), and the payload
//! decoded into an [`Output`] we can show and check (text, a PNG that
//! decodes, a WAV with samples, an embedding's shape).
//!
//! Pure: events in, records and output out; the clock for events without
//! a readable timestamp is an argument.

use audit_store::{Synthetic, SyntheticCheck};
use base64::Engine as _;
use chrono::NaiveDateTime;
use chutes_client::{Event, Target, TraceEvent, TraceMessage};
use serde::Serialize;
use serde_json::Value;

use crate::TaskType;

/// The decoded payload of a successful invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    /// Chat or completion text, as streamed.
    Text {
        /// The whole text.
        text: String,
        /// How many stream pieces carried it.
        chunks: usize,
    },
    /// A decoded image.
    Image {
        /// Pixels across.
        width: u32,
        /// Pixels down.
        height: u32,
        /// The encoded bytes as received.
        #[serde(skip)]
        bytes: Vec<u8>,
    },
    /// A decoded WAV file.
    Audio {
        /// Samples per second.
        sample_rate: u32,
        /// Channels.
        channels: u16,
        /// Samples over all channels.
        samples: u32,
        /// The encoded bytes as received.
        #[serde(skip)]
        bytes: Vec<u8>,
    },
    /// An embedding matrix's shape.
    Embedding {
        /// One row per input.
        rows: usize,
        /// The vector length.
        dims: usize,
    },
}

/// The state of one invocation's stream.
#[derive(Debug, Clone)]
pub struct Capture {
    task: TaskType,
    chute_id: String,
    parent: Option<String>,
    now: NaiveDateTime,
    attempts: Vec<(Synthetic, bool)>,
    unrecordable: usize,
    text: String,
    chunks: usize,
    payload: Option<Value>,
    error: Option<String>,
}

/// The end of one invocation's stream.
#[derive(Debug, Clone)]
pub struct Captured {
    /// One record per attempt the router made.
    pub attempts: Vec<Synthetic>,
    /// `attempting` events without a `child_id`: seen, not recordable.
    pub unrecordable: usize,
    /// The decoded payload, or why there is none.
    pub output: Result<Output, String>,
}

impl Capture {
    /// A new capture for a `task` request to `chute_id`; `parent` is the
    /// `X-Chutes-InvocationID` header, `now` the time for events without
    /// a readable timestamp.
    pub fn new(
        task: TaskType,
        chute_id: &str,
        parent: Option<String>,
        now: NaiveDateTime,
    ) -> Capture {
        Capture {
            task,
            chute_id: chute_id.to_string(),
            parent,
            now,
            attempts: Vec::new(),
            unrecordable: 0,
            text: String::new(),
            chunks: 0,
            payload: None,
            error: None,
        }
    }

    /// Takes one event; returns the text it adds, for streaming.
    pub fn push(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Trace(trace) => {
                self.trace(trace);
                None
            }
            Event::Result { value } => self.result(value),
            Event::Error { error, detail } => {
                self.error = Some(match detail {
                    Some(detail) => format!("{error}: {detail}"),
                    None => error.clone(),
                });
                None
            }
        }
    }

    /// The records so far (for a stream cut short).
    pub fn attempts(&self) -> Vec<Synthetic> {
        self.attempts.iter().map(|(s, _)| s.clone()).collect()
    }

    fn trace(&mut self, trace: &TraceEvent) {
        match &trace.message {
            TraceMessage::Attempting(target) => {
                let Some(child) = trace.child_id.clone().filter(|c| !c.is_empty()) else {
                    self.unrecordable += 1;
                    return;
                };
                let parent = self
                    .parent
                    .clone()
                    .or_else(|| trace.invocation_id.clone())
                    .unwrap_or_default();
                let created_at = trace
                    .timestamp
                    .as_deref()
                    .and_then(audit_model::time::parse_utc)
                    .unwrap_or(self.now);
                let record = Synthetic {
                    invocation_id: child,
                    parent_invocation_id: parent,
                    task: self.task.as_str().to_string(),
                    chute_id: trace
                        .chute_id
                        .clone()
                        .unwrap_or_else(|| self.chute_id.clone()),
                    instance_id: target.instance_id.clone(),
                    miner_uid: target.uid.and_then(|u| u16::try_from(u).ok()),
                    miner_hotkey: target.hotkey.clone(),
                    created_at,
                    has_error: false,
                    check: SyntheticCheck::Pending,
                    checked_at: None,
                };
                self.attempts.push((record, false));
            }
            TraceMessage::Failed { target, .. } => self.settle(target, true),
            TraceMessage::Succeeded { target, .. } => self.settle(target, false),
            TraceMessage::Identified { .. } | TraceMessage::Other { .. } => {}
        }
    }

    /// The newest unsettled attempt on the instance gets its outcome.
    fn settle(&mut self, target: &Target, failed: bool) {
        let open = self
            .attempts
            .iter_mut()
            .rev()
            .find(|(s, settled)| !settled && s.instance_id == target.instance_id);
        if let Some((record, settled)) = open {
            record.has_error = failed;
            *settled = true;
        }
    }

    fn result(&mut self, value: &Value) -> Option<String> {
        match self.task {
            TaskType::Chat | TaskType::Completion => {
                let piece = text_piece(value)?;
                self.chunks += 1;
                self.text.push_str(&piece);
                Some(piece)
            }
            _ => {
                self.payload = Some(value.clone());
                None
            }
        }
    }

    /// Ends the stream: the records and the decoded output.
    pub fn finish(self) -> Captured {
        let output = match (&self.error, self.task) {
            (Some(error), _) if self.payload.is_none() && self.chunks == 0 => Err(error.clone()),
            (_, TaskType::Chat | TaskType::Completion) if self.chunks == 0 => {
                Err("the stream carried no text".into())
            }
            (_, TaskType::Chat | TaskType::Completion) => Ok(Output::Text {
                text: self.text.clone(),
                chunks: self.chunks,
            }),
            (_, task) => match &self.payload {
                None => Err("the stream carried no result".into()),
                Some(value) => decode(task, value),
            },
        };
        Captured {
            attempts: self.attempts.into_iter().map(|(s, _)| s).collect(),
            unrecordable: self.unrecordable,
            output,
        }
    }
}

/// The text of one LLM result: a string holding an OpenAI stream line
/// (`data: {…}`), or the object itself.
fn text_piece(value: &Value) -> Option<String> {
    let parsed;
    let object = match value {
        Value::String(line) => {
            let json = line.trim().strip_prefix("data:").unwrap_or(line).trim();
            if json == "[DONE]" {
                return None;
            }
            parsed = serde_json::from_str::<Value>(json).ok()?;
            &parsed
        }
        other => other,
    };
    let choice = object.get("choices")?.get(0)?;
    let piece = choice
        .pointer("/delta/content")
        .or_else(|| choice.get("text"))
        .and_then(Value::as_str)?;
    Some(piece.to_string())
}

/// A binary or JSON result decoded for `task`.
pub fn decode(task: TaskType, value: &Value) -> Result<Output, String> {
    match task {
        TaskType::Image => {
            let bytes = base64_field(value)?;
            let image = image::load_from_memory(&bytes)
                .map_err(|e| format!("the image does not decode: {e}"))?;
            Ok(Output::Image {
                width: image.width(),
                height: image.height(),
                bytes,
            })
        }
        TaskType::Tts => {
            let bytes = base64_field(value)?;
            let reader = hound::WavReader::new(std::io::Cursor::new(&bytes))
                .map_err(|e| format!("the audio is not a WAV file: {e}"))?;
            let spec = reader.spec();
            let samples = reader.len();
            if samples == 0 {
                return Err("the WAV file has no samples".into());
            }
            Ok(Output::Audio {
                sample_rate: spec.sample_rate,
                channels: spec.channels,
                samples,
                bytes,
            })
        }
        TaskType::Embed => {
            let rows = value
                .get("json")
                .and_then(Value::as_array)
                .ok_or("the result holds no `json` matrix")?;
            let dims = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
            let well_formed = rows.iter().all(|row| {
                row.as_array().is_some_and(|r| {
                    r.len() == dims && r.iter().all(|x| x.as_f64().is_some_and(f64::is_finite))
                })
            });
            if rows.is_empty() || dims == 0 || !well_formed {
                return Err("the embedding is not a non-empty matrix of finite numbers".into());
            }
            Ok(Output::Embedding {
                rows: rows.len(),
                dims,
            })
        }
        TaskType::Chat | TaskType::Completion => text_piece(value)
            .map(|text| Output::Text { text, chunks: 1 })
            .ok_or_else(|| "the result holds no text".into()),
    }
}

fn base64_field(value: &Value) -> Result<Vec<u8>, String> {
    let text = value
        .get("bytes")
        .and_then(Value::as_str)
        .ok_or("the result holds no `bytes`")?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("the result's bytes are not base64: {e}"))
}

/// A trace event as the upstream auditor logs it:
/// `2025-02-10T15:51:19.216856 [invocation_id=… child_id=… chute_id=… function=…]: message`.
pub fn trace_line(event: &TraceEvent) -> String {
    let mut ids = Vec::new();
    for (key, value) in [
        ("invocation_id", &event.invocation_id),
        ("child_id", &event.child_id),
        ("chute_id", &event.chute_id),
        ("function", &event.function),
    ] {
        if let Some(v) = value {
            ids.push(format!("{key}={v}"));
        }
    }
    format!(
        "{} [{}]: {}",
        event.timestamp.as_deref().unwrap_or("-"),
        ids.join(" "),
        message_text(&event.message)
    )
}

fn who(t: &Target) -> String {
    let uid = t.uid.map_or_else(|| "?".into(), |u| u.to_string());
    format!(
        "target={} uid={uid} hotkey={} coldkey={}",
        t.instance_id, t.hotkey, t.coldkey
    )
}

/// The router's words for a parsed message.
pub fn message_text(message: &TraceMessage) -> String {
    match message {
        TraceMessage::Identified { targets } => format!("identified {targets} available targets"),
        TraceMessage::Attempting(t) => format!("attempting to query {}", who(t)),
        TraceMessage::Succeeded { function, target } => {
            format!(
                "successfully called function='{function}' on {}",
                who(target)
            )
        }
        TraceMessage::Failed { target, error } => {
            format!("error encountered while querying {}: {error}", who(target))
        }
        TraceMessage::Other { text } => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chutes_client::trace::parse_line;

    fn now() -> NaiveDateTime {
        audit_model::time::parse_utc("2025-02-10T12:00:00").unwrap()
    }

    fn trace(child: Option<&str>, at: &str, message: &str) -> Event {
        let child = child.map_or(String::new(), |c| format!(r#""child_id": "{c}","#));
        parse_line(&format!(
            r#"data: {{"trace": {{"timestamp": "{at}", "invocation_id": "p1", {child} "chute_id": "ch", "function": "embed", "message": "{message}"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn each_attempt_is_a_record_and_a_later_error_marks_its_instance() {
        let mut c = Capture::new(TaskType::Embed, "ch", Some("parent".into()), now());
        for event in [
            trace(None, "2025-02-10T12:00:01", "identified 2 available targets"),
            trace(Some("c1"), "2025-02-10T12:00:01.5", "attempting to query target=i1 uid=3 hotkey=5A coldkey=5B"),
            trace(None, "2025-02-10T12:00:02", "error encountered while querying target=i1 uid=3 hotkey=5A coldkey=5B: boom target=i2"),
            trace(Some("c2"), "2025-02-10T12:00:02", "attempting to query target=i2 uid=70000 hotkey=5C coldkey=5D"),
            trace(None, "2025-02-10T12:00:03", "successfully called function='embed' on target=i2 uid=4 hotkey=5C coldkey=5D"),
            trace(Some("c3"), "garbage", "attempting to query target=i2 uid=4 hotkey=5C coldkey=5D"),
            trace(None, "2025-02-10T12:00:04", "attempting to query target=i9 uid=4 hotkey=5C coldkey=5D"),
        ] {
            c.push(&event);
        }
        c.push(&parse_line(r#"data: {"result": {"json": [[0.1, 0.2, 0.3]]}}"#).unwrap());
        let got = c.finish();
        let ids: Vec<_> = got
            .attempts
            .iter()
            .map(|s| (s.invocation_id.as_str(), s.has_error))
            .collect();
        assert_eq!(ids, [("c1", true), ("c2", false), ("c3", false)]);
        let first = &got.attempts[0];
        assert_eq!(first.parent_invocation_id, "parent");
        assert_eq!(first.task, "embed");
        assert_eq!(first.miner_uid, Some(3));
        assert_eq!(
            first.created_at,
            audit_model::time::parse_utc("2025-02-10T12:00:01.5").unwrap()
        );
        assert_eq!(
            got.attempts[1].miner_uid, None,
            "a uid beyond u16 is unknown, not wrapped"
        );
        assert_eq!(
            got.attempts[2].created_at,
            now(),
            "unreadable timestamp: the capture's clock"
        );
        assert_eq!(got.unrecordable, 1);
        assert_eq!(got.output, Ok(Output::Embedding { rows: 1, dims: 3 }));
    }

    #[test]
    fn text_streams_piece_by_piece() {
        let mut c = Capture::new(TaskType::Chat, "ch", None, now());
        let pieces: Vec<_> = [
            r#"data: {"result": "data: {\"choices\": [{\"delta\": {\"content\": \"Hel\"}}]}"}"#,
            r#"data: {"result": "data: {\"choices\": [{\"delta\": {\"content\": \"lo\"}}]}"}"#,
            r#"data: {"result": "data: [DONE]"}"#,
        ]
        .iter()
        .filter_map(|l| c.push(&parse_line(l).unwrap()))
        .collect();
        assert_eq!(pieces, ["Hel", "lo"]);
        assert_eq!(
            c.finish().output,
            Ok(Output::Text {
                text: "Hello".into(),
                chunks: 2
            })
        );
        let mut c = Capture::new(TaskType::Completion, "ch", None, now());
        c.push(
            &parse_line(r#"data: {"result": "data: {\"choices\": [{\"text\": \"once\"}]}"}"#)
                .unwrap(),
        );
        assert!(matches!(c.finish().output, Ok(Output::Text { .. })));
    }

    #[test]
    fn an_error_event_or_a_bad_payload_is_the_reason() {
        let mut c = Capture::new(TaskType::Image, "ch", None, now());
        c.push(&parse_line(r#"data: {"error": "exhausted all 5 attempts"}"#).unwrap());
        assert_eq!(c.finish().output, Err("exhausted all 5 attempts".into()));
        let bad = |task, line: &str| {
            let mut c = Capture::new(task, "ch", None, now());
            c.push(&parse_line(line).unwrap());
            c.finish().output.unwrap_err()
        };
        assert!(bad(
            TaskType::Image,
            r#"data: {"result": {"bytes": "aGVsbG8="}}"#
        )
        .contains("does not decode"));
        assert!(bad(TaskType::Tts, r#"data: {"result": {"bytes": "!!"}}"#).contains("base64"));
        assert!(bad(
            TaskType::Embed,
            r#"data: {"result": {"json": [[1.0], [1.0, 2.0]]}}"#
        )
        .contains("matrix"));
        assert!(bad(TaskType::Embed, r#"data: {"result": {"json": []}}"#).contains("matrix"));
    }

    #[test]
    fn trace_lines_read_like_upstream() {
        let Event::Trace(event) = trace(
            Some("c1"),
            "2025-02-10T15:51:19.216856",
            "attempting to query target=d669 uid=49 hotkey=5EHhZ coldkey=5FhEk",
        ) else {
            unreachable!()
        };
        assert_eq!(
            trace_line(&event),
            "2025-02-10T15:51:19.216856 [invocation_id=p1 child_id=c1 chute_id=ch function=embed]: attempting to query target=d669 uid=49 hotkey=5EHhZ coldkey=5FhEk"
        );
    }
}
