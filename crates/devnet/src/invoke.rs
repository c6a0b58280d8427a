//! Traced invocations as the Chutes router answers them (docs/spec/chutes-api.md,
//! "Traced invocations"): pick a hot instance of the chute, try it, retry
//! on another miner when an attempt fails (up to five attempts), and stream
//! the trace events and a plausible payload: OpenAI stream lines, a real
//! PNG, a real WAV, a float matrix.
//!
//! Everything here is pure: the server supplies the parent id, the
//! attempt clock and how many attempts must fail, and records the returned
//! [`Attempt`]s into the current hour's export. So the same request in the
//! same state always gives the same stream.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{Duration, NaiveDateTime};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::generate::rows::InvocationRow;
use crate::world::World;

/// The router's attempt budget per invocation.
pub const MAX_ATTEMPTS: usize = 5;

/// What a request asks for, by the endpoint it reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// `POST {llm}/v1/chat/completions`
    Chat,
    /// `POST {llm}/v1/completions`
    Completion,
    /// `POST {chute}/generate`
    Image,
    /// `POST {chute}/speak`
    Speech,
    /// `POST {chute}/embed`
    Embedding,
}

impl TaskKind {
    /// The chute function an attempt of this kind calls.
    pub fn function(self) -> &'static str {
        match self {
            TaskKind::Chat => "chat",
            TaskKind::Completion => "completion",
            TaskKind::Image => "generate",
            TaskKind::Speech => "speak",
            TaskKind::Embedding => "embed",
        }
    }

    /// The kind a per-chute path names (`generate`, `speak`, `embed`).
    pub fn from_chute_path(path: &str) -> Option<TaskKind> {
        match path.trim_matches('/') {
            "generate" => Some(TaskKind::Image),
            "speak" => Some(TaskKind::Speech),
            "embed" => Some(TaskKind::Embedding),
            _ => None,
        }
    }
}

/// A miner instance the router can send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The instance, as the catalogue lists it.
    pub instance_id: String,
    /// The miner's uid, as the export records it.
    pub uid: i64,
    /// The miner's hotkey: whose work the export says it was.
    pub hotkey: String,
    /// The miner's coldkey, for the trace's instance event.
    pub coldkey: String,
}

/// A chute and its hot instances.
#[derive(Debug, Clone)]
pub struct RoutedChute {
    /// The chute's id, as the export records it.
    pub chute_id: String,
    /// The model name the LLM gateway routes by.
    pub name: String,
    /// The per-chute endpoint's name (`/chute/{slug}/…`).
    pub slug: String,
    /// Its owner, the export's `chute_user_id`.
    pub username: String,
    /// `vllm`, `diffusion`, `tei` or none: what payload it answers with.
    pub template: Option<String>,
    /// GPUs per instance: the export's compute multiplier is half of it.
    pub gpus: u32,
    /// Its hot instances, in the order the router tries them.
    pub targets: Vec<Target>,
}

/// The chutes a world's router knows, from its `chutes.json`.
#[derive(Debug, Clone, Default)]
pub struct Router {
    chutes: Vec<RoutedChute>,
}

impl Router {
    /// Reads `chutes.json` (optional). An instance is a target when it is
    /// active and verified and names a `miner_hotkey` on the metagraph.
    pub fn from_world(world: &World) -> Router {
        let body: Value = std::fs::read(world.dir.join("chutes.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        Router::from_catalogue(world, &body)
    }

    fn from_catalogue(world: &World, body: &Value) -> Router {
        let neurons: HashMap<&str, (i64, &str)> = world
            .metagraph
            .iter()
            .map(|n| (n.hotkey.as_str(), (i64::from(n.uid), n.coldkey.as_str())))
            .collect();
        let gpus: HashMap<&str, u32> = world
            .gpu_counts
            .iter()
            .map(|g| (g.chute_id.as_str(), g.gpu_count))
            .collect();
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let items = body.get("items").and_then(Value::as_array);
        let chutes = items
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let chute_id = text(c, "chute_id")?;
                let targets = c
                    .get("instances")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|i| {
                        i.get("active").and_then(Value::as_bool) == Some(true)
                            && i.get("verified").and_then(Value::as_bool) == Some(true)
                    })
                    .filter_map(|i| {
                        let hotkey = text(i, "miner_hotkey")?;
                        let (uid, coldkey) = neurons.get(hotkey.as_str())?;
                        Some(Target {
                            instance_id: text(i, "instance_id")?,
                            uid: *uid,
                            coldkey: coldkey.to_string(),
                            hotkey,
                        })
                    })
                    .collect();
                Some(RoutedChute {
                    gpus: gpus.get(chute_id.as_str()).copied().unwrap_or(1),
                    name: text(c, "name").unwrap_or_default(),
                    slug: text(c, "slug").unwrap_or_default(),
                    username: c
                        .pointer("/user/username")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    template: text(c, "standard_template"),
                    chute_id,
                    targets,
                })
            })
            .collect();
        Router { chutes }
    }

    /// The chute an LLM request names in `model` (its name, or its id).
    pub fn by_model(&self, model: &str) -> Option<&RoutedChute> {
        self.chutes
            .iter()
            .find(|c| c.name == model || c.chute_id == model)
    }

    /// The chute behind a per-chute URL.
    pub fn by_slug(&self, slug: &str) -> Option<&RoutedChute> {
        self.chutes.iter().find(|c| c.slug == slug)
    }

    /// Every chute.
    pub fn chutes(&self) -> &[RoutedChute] {
        &self.chutes
    }
}

/// One attempt, as the export records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// This attempt's own id; the parent id is the invocation's.
    pub invocation_id: String,
    /// The instance it was sent to.
    pub target: Target,
    /// When it started, in the world's clock.
    pub started_at: NaiveDateTime,
    /// When it ended, in the world's clock.
    pub completed_at: NaiveDateTime,
    /// Why it failed, as the export's `error_message`; none on success.
    pub error: Option<String>,
    /// The Python-literal metrics column; empty for a failed attempt.
    pub metrics: String,
}

/// A traced invocation: the stream's lines and the attempts to record.
#[derive(Debug, Clone)]
pub struct Traced {
    /// `data: {…}` lines, each ending in a blank line.
    pub body: String,
    /// Every attempt, failed ones first: one export row each.
    pub attempts: Vec<Attempt>,
    /// No attempt succeeded.
    pub failed: bool,
}

/// What the server decides for one invocation.
#[derive(Debug, Clone)]
pub struct InvocationContext<'a> {
    /// The invocation's parent id, shared by its attempts.
    pub parent_id: &'a str,
    /// When the first attempt starts; each later one a second after.
    pub clock: NaiveDateTime,
    /// How many attempts must fail first (a fault switch).
    pub forced_failures: u32,
}

/// Runs one traced invocation of `chute` against its targets.
pub fn invoke(
    chute: &RoutedChute,
    kind: TaskKind,
    request: &Value,
    ctx: &InvocationContext<'_>,
) -> Traced {
    let mut body = String::new();
    let mut attempts = Vec::new();
    let function = kind.function();
    let trace_line =
        |body: &mut String, at: NaiveDateTime, child: Option<&str>, message: String| {
            let mut trace = json!({
                "timestamp": at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                "invocation_id": ctx.parent_id, "chute_id": chute.chute_id,
                "function": function, "message": message,
            });
            if let Some(child) = child {
                trace["child_id"] = json!(child);
            }
            push_event(body, &json!({ "trace": trace }));
        };
    let n = chute.targets.len();
    trace_line(
        &mut body,
        ctx.clock,
        None,
        format!("identified {n} available targets"),
    );
    if n == 0 {
        push_event(
            &mut body,
            &json!({"error": "infra_overload", "detail": "no instances available"}),
        );
        return Traced {
            body,
            attempts,
            failed: true,
        };
    }
    let order = target_order(chute, ctx.parent_id);
    let (payload, metrics) = payload(chute, kind, request, ctx.parent_id);
    let mut forced = ctx.forced_failures;
    for (k, &t) in order.iter().cycle().take(MAX_ATTEMPTS).enumerate() {
        let target = &chute.targets[t];
        let child = child_id(ctx.parent_id, k);
        let started = ctx.clock + Duration::seconds(k as i64);
        let who = format!(
            "target={} uid={} hotkey={} coldkey={}",
            target.instance_id, target.uid, target.hotkey, target.coldkey
        );
        trace_line(
            &mut body,
            started,
            Some(&child),
            format!("attempting to query {who}"),
        );
        // One attempt in eight fails on its own, besides the forced ones.
        let fails = forced > 0 || digest(&child)[0] % 8 == 0;
        let completed = started + Duration::milliseconds(200 + i64::from(digest(&child)[1]) * 3);
        if fails {
            forced = forced.saturating_sub(1);
            let error = "upstream connection reset".to_string();
            trace_line(
                &mut body,
                completed,
                None,
                format!("error encountered while querying {who}: {error}"),
            );
            attempts.push(Attempt {
                invocation_id: child,
                target: target.clone(),
                started_at: started,
                completed_at: completed,
                error: Some(error),
                metrics: String::new(),
            });
            continue;
        }
        trace_line(
            &mut body,
            completed,
            None,
            format!("successfully called function='{function}' on {who}"),
        );
        for result in &payload {
            push_event(&mut body, &json!({ "result": result }));
        }
        attempts.push(Attempt {
            invocation_id: child,
            target: target.clone(),
            started_at: started,
            completed_at: completed,
            error: None,
            metrics: metrics.clone(),
        });
        return Traced {
            body,
            attempts,
            failed: false,
        };
    }
    push_event(
        &mut body,
        &json!({"error": format!("exhausted all {MAX_ATTEMPTS} attempts")}),
    );
    Traced {
        body,
        attempts,
        failed: true,
    }
}

/// The export row of an attempt.
pub fn export_row(chute: &RoutedChute, parent_id: &str, attempt: &Attempt) -> InvocationRow {
    InvocationRow {
        parent_invocation_id: parent_id.to_string(),
        invocation_id: attempt.invocation_id.clone(),
        chute_id: chute.chute_id.clone(),
        chute_user_id: chute.username.clone(),
        function_name: function_of(chute),
        user_id: "devnet-synthetic".into(),
        image_id: String::new(),
        image_user_id: "",
        instance_id: attempt.target.instance_id.clone(),
        miner_uid: attempt.target.uid,
        miner_hotkey: attempt.target.hotkey.clone(),
        started_at: attempt.started_at,
        completed_at: Some(attempt.completed_at),
        error_message: attempt.error.clone(),
        compute_multiplier: 0.5 * f64::from(chute.gpus),
        bounty: 0.0,
        metrics: attempt.metrics.clone(),
    }
}

fn function_of(chute: &RoutedChute) -> &'static str {
    match chute.template.as_deref() {
        Some("vllm") => "chat",
        Some("diffusion") => "generate",
        Some("tei") => "embed",
        _ => "speak",
    }
}

fn push_event(body: &mut String, event: &Value) {
    body.push_str("data: ");
    body.push_str(&event.to_string());
    body.push_str("\n\n");
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// A deterministic UUID for attempt `k` of `parent`.
fn child_id(parent: &str, k: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{parent}/{k}").as_bytes(),
    )
    .hyphenated()
    .to_string()
}

/// Targets in the order the router tries them: from a start picked by the
/// parent id, each next one on a different miner when there is one.
fn target_order(chute: &RoutedChute, parent: &str) -> Vec<usize> {
    let n = chute.targets.len();
    let start = usize::from(digest(parent)[0]) % n;
    let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
    // Stable partition of each step: prefer a miner not just tried.
    for i in 1..order.len() {
        let prev = &chute.targets[order[i - 1]].hotkey;
        if let Some(j) = (i..order.len()).find(|&j| &chute.targets[order[j]].hotkey != prev) {
            order[i..=j].rotate_right(1);
        }
    }
    order
}

fn words(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// The result events and the metrics literal of a successful attempt.
fn payload(
    chute: &RoutedChute,
    kind: TaskKind,
    request: &Value,
    parent: &str,
) -> (Vec<Value>, String) {
    let seed = digest(parent);
    match kind {
        TaskKind::Chat | TaskKind::Completion => {
            let prompt = match kind {
                TaskKind::Chat => request
                    .get("messages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("content").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => request
                    .get("prompt")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
            let max = request
                .get("max_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(16)
                .clamp(1, 64) as usize;
            const VOCABULARY: [&str; 12] = [
                "the",
                "miner",
                "answered",
                "quickly",
                "and",
                "every",
                "token",
                "was",
                "counted",
                "by",
                "the",
                "validator",
            ];
            let tokens: Vec<&str> = (0..max)
                .map(|i| VOCABULARY[(usize::from(seed[i % 32]) + i) % VOCABULARY.len()])
                .collect();
            let id = format!("chatcmpl-{}", &parent[..8.min(parent.len())]);
            let mut lines: Vec<Value> = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let piece = format!("{t} ");
                    let choice = match kind {
                        TaskKind::Chat => json!({"index": 0, "delta": {"content": piece},
                            "logprobs": {"content": [{"token": piece, "logprob": -0.01 * (i as f64 + 1.0)}]},
                            "finish_reason": null}),
                        _ => json!({"index": 0, "text": piece, "logprobs": null, "finish_reason": null}),
                    };
                    let object = if kind == TaskKind::Chat { "chat.completion.chunk" } else { "text_completion" };
                    Value::String(format!(
                        "data: {}",
                        json!({"id": id, "object": object, "model": chute.name, "choices": [choice]})
                    ))
                })
                .collect();
            lines.push(Value::String("data: [DONE]".into()));
            let metrics = format!(
                "{{'it': {}, 'ot': {}, 'maspt': {:.6}, 'ttft': 0.15, 'p': False}}",
                words(&prompt),
                tokens.len(),
                0.01 + f64::from(seed[2]) / 25_500.0
            );
            (lines, metrics)
        }
        TaskKind::Image => {
            let steps = request
                .get("num_inference_steps")
                .and_then(Value::as_u64)
                .unwrap_or(25)
                .clamp(1, 100);
            let png = png_image(&seed);
            let metrics = format!(
                "{{'steps': {steps}, 'masps': {:.6}, 'p': False}}",
                0.05 + f64::from(seed[3]) / 10_000.0
            );
            (
                vec![json!({"bytes": base64::engine::general_purpose::STANDARD.encode(png)})],
                metrics,
            )
        }
        TaskKind::Speech => {
            let text = request
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let wav = wav_tone(words(text), &seed);
            (
                vec![json!({"bytes": base64::engine::general_purpose::STANDARD.encode(wav)})],
                format!("{{'nc': {:.6}, 'p': False}}", 0.02 * words(text) as f64),
            )
        }
        TaskKind::Embedding => {
            let inputs: Vec<String> = match request.get("inputs") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect(),
                Some(Value::String(s)) => vec![s.clone()],
                _ => vec![String::new()],
            };
            let matrix: Vec<Vec<f64>> = inputs.iter().map(|text| embedding(text)).collect();
            (
                vec![json!({ "json": matrix })],
                format!("{{'nc': {:.6}, 'p': False}}", 0.001 * inputs.len() as f64),
            )
        }
    }
}

/// A 16-dimensional unit vector from the text.
fn embedding(text: &str) -> Vec<f64> {
    let d = digest(text);
    let raw: Vec<f64> = d[..16].iter().map(|b| f64::from(*b) - 127.5).collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::EPSILON);
    raw.iter()
        .map(|x| ((x / norm) * 1e6).round() / 1e6)
        .collect()
}

/// A real 32×32 RGB PNG: a gradient tinted by the seed.
fn png_image(seed: &[u8; 32]) -> Vec<u8> {
    const SIDE: u32 = 32;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, SIDE, SIDE);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("in-memory PNG header");
        let pixels: Vec<u8> = (0..SIDE * SIDE)
            .flat_map(|i| {
                let (x, y) = ((i % SIDE) as u8, (i / SIDE) as u8);
                [
                    x.wrapping_mul(8) ^ seed[0],
                    y.wrapping_mul(8) ^ seed[1],
                    seed[2],
                ]
            })
            .collect();
        writer
            .write_image_data(&pixels)
            .expect("in-memory PNG data");
    }
    out
}

/// A real mono 16 kHz WAV: a tone a tenth of a second per word.
fn wav_tone(words: usize, seed: &[u8; 32]) -> Vec<u8> {
    const RATE: u32 = 16_000;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let frequency = 220.0 + f64::from(seed[4]);
    let samples = (RATE as usize / 10) * words.min(50);
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("in-memory WAV");
        for n in 0..samples {
            let t = n as f64 / f64::from(RATE);
            let v = (t * frequency * std::f64::consts::TAU).sin() * 8000.0;
            writer.write_sample(v as i16).expect("in-memory WAV sample");
        }
        writer.finalize().expect("in-memory WAV");
    }
    cursor.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chute(targets: &[(&str, i64, &str)]) -> RoutedChute {
        RoutedChute {
            chute_id: "c1".into(),
            name: "devnet/llm".into(),
            slug: "llm".into(),
            username: "chutes".into(),
            template: Some("vllm".into()),
            gpus: 2,
            targets: targets
                .iter()
                .map(|(i, uid, hk)| Target {
                    instance_id: i.to_string(),
                    uid: *uid,
                    hotkey: hk.to_string(),
                    coldkey: format!("cold-{hk}"),
                })
                .collect(),
        }
    }

    fn at() -> NaiveDateTime {
        audit_model::time::parse_utc("2025-02-10T12:00:00").unwrap()
    }

    #[test]
    fn a_forced_failure_is_retried_on_another_miner() {
        let c = chute(&[("i1", 1, "hkA"), ("i2", 1, "hkA"), ("i3", 2, "hkB")]);
        let ctx = InvocationContext {
            parent_id: "p",
            clock: at(),
            forced_failures: 1,
        };
        let traced = invoke(
            &c,
            TaskKind::Chat,
            &json!({"messages": [{"role": "user", "content": "hi there"}]}),
            &ctx,
        );
        assert!(traced.attempts.len() >= 2);
        let first = &traced.attempts[0];
        let second = &traced.attempts[1];
        assert!(first.error.is_some());
        assert_ne!(
            first.target.hotkey, second.target.hotkey,
            "retry goes to another miner"
        );
        assert!(traced.body.contains("error encountered while querying"));
        assert!(traced.body.contains("attempting to query target="));
    }

    #[test]
    fn every_attempt_failing_ends_in_an_error_event() {
        let c = chute(&[("i1", 1, "hkA")]);
        let ctx = InvocationContext {
            parent_id: "p",
            clock: at(),
            forced_failures: 99,
        };
        let traced = invoke(&c, TaskKind::Embedding, &json!({"inputs": ["x"]}), &ctx);
        assert!(traced.failed);
        assert_eq!(traced.attempts.len(), MAX_ATTEMPTS);
        assert!(traced
            .body
            .trim_end()
            .ends_with(r#"{"error":"exhausted all 5 attempts"}"#));
    }

    #[test]
    fn payloads_are_real_files() {
        let png = png_image(&[7; 32]);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().width, 32);
        let wav = wav_tone(3, &[7; 32]);
        let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert_eq!(reader.len(), 4_800);
        let v = embedding("hello");
        let norm: f64 = v.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn same_request_same_stream() {
        let c = chute(&[("i1", 1, "hkA"), ("i3", 2, "hkB")]);
        let ctx = InvocationContext {
            parent_id: "p-42",
            clock: at(),
            forced_failures: 0,
        };
        let a = invoke(&c, TaskKind::Image, &json!({"prompt": "a cat"}), &ctx);
        let b = invoke(&c, TaskKind::Image, &json!({"prompt": "a cat"}), &ctx);
        assert_eq!(a.body, b.body);
        assert!(a
            .attempts
            .last()
            .unwrap()
            .metrics
            .starts_with("{'steps': 25"));
    }
}
