//! The request of each task type (docs/spec/chutes-api.md, "Task types"), with
//! the parameters randomised as upstream does: temperature, seed,
//! `max_tokens` 10–200, 5–30 inference steps, a voice for TTS, texts cut
//! to length, and TTS text checked to be English (a voice reading another
//! language is not a fair test of the miner).

use chutes_client::{Chute, ChutesClient, TracedRequest};
use rand::{Rng, RngExt};
use serde_json::{json, Value};

use crate::prompts::{PromptSet, Turn};
use crate::{select, SynthError, TaskType};

/// Voices of the upstream TTS chute (Kokoro).
pub const VOICES: [&str; 6] = [
    "af_heart",
    "af_bella",
    "af_nicole",
    "am_adam",
    "bf_emma",
    "bm_george",
];
/// Longest TTS text, in characters.
pub const TTS_MAX_CHARS: usize = 200;
/// Longest embedding input, in characters.
pub const EMBED_MAX_CHARS: usize = 1_000;
/// Longest prompt sent, in characters.
pub const PROMPT_MAX_CHARS: usize = 4_000;

/// The URL and body of a `task` request to `chute`.
pub fn request<R: Rng>(
    task: TaskType,
    chute: &Chute,
    prompts: &PromptSet,
    client: &ChutesClient,
    rng: &mut R,
) -> Result<TracedRequest, SynthError> {
    let url = match task {
        TaskType::Chat => client.llm_url("v1/chat/completions")?,
        TaskType::Completion => client.llm_url("v1/completions")?,
        TaskType::Image => client.chute_url(slug(task, chute)?, "generate")?,
        TaskType::Tts | TaskType::Embed => {
            let wanted = if task == TaskType::Tts {
                "/speak"
            } else {
                "/embed"
            };
            let cord = select::cord(chute, wanted).ok_or_else(|| SynthError::Chute {
                chute_id: chute.chute_id.clone(),
                task,
                message: format!("no {wanted} cord"),
            })?;
            let path = cord
                .public_api_path
                .as_deref()
                .or(cord.path.as_deref())
                .unwrap_or(wanted);
            client.chute_url(slug(task, chute)?, path)?
        }
    };
    Ok(TracedRequest {
        url,
        body: body(task, chute, prompts, rng),
    })
}

fn slug(task: TaskType, chute: &Chute) -> Result<&str, SynthError> {
    chute.slug.as_deref().ok_or_else(|| SynthError::Chute {
        chute_id: chute.chute_id.clone(),
        task,
        message: "the catalogue gives it no slug".into(),
    })
}

/// The body of a `task` request to `chute`: pure given the RNG.
pub fn body<R: Rng>(task: TaskType, chute: &Chute, prompts: &PromptSet, rng: &mut R) -> Value {
    match task {
        TaskType::Chat => {
            let messages: Vec<Turn> = conversation(prompts, rng)
                .iter()
                .map(|t| Turn {
                    role: t.role.clone(),
                    content: cut(&t.content, PROMPT_MAX_CHARS),
                })
                .collect();
            json!({
                "model": chute.name, "messages": messages, "stream": true,
                "max_tokens": rng.random_range(10..=200u32),
                "temperature": temperature(rng), "seed": rng.random_range(0..=u32::MAX),
                "logprobs": true,
            })
        }
        TaskType::Completion => json!({
            "model": chute.name, "prompt": cut(&first_user(conversation(prompts, rng)), PROMPT_MAX_CHARS),
            "stream": true, "max_tokens": rng.random_range(10..=200u32),
            "temperature": temperature(rng), "seed": rng.random_range(0..=u32::MAX),
            "logprobs": true,
        }),
        TaskType::Image => json!({
            "prompt": cut(pick(&prompts.images, rng).map_or("", String::as_str), PROMPT_MAX_CHARS),
            "seed": rng.random_range(0..=u32::MAX),
            "num_inference_steps": rng.random_range(5..=30u32),
        }),
        TaskType::Tts => json!({
            "text": english_text(prompts, rng),
            "voice": VOICES[rng.random_range(0..VOICES.len())],
        }),
        TaskType::Embed => json!({
            "inputs": [cut(&first_user(conversation(prompts, rng)), EMBED_MAX_CHARS)],
        }),
    }
}

fn pick<'a, T, R: Rng>(items: &'a [T], rng: &mut R) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    items.get(rng.random_range(0..items.len()))
}

fn conversation<'a, R: Rng>(prompts: &'a PromptSet, rng: &mut R) -> &'a [Turn] {
    pick(&prompts.conversations, rng).map_or(&[], Vec::as_slice)
}

fn temperature<R: Rng>(rng: &mut R) -> f64 {
    f64::from(rng.random_range(0..=100u32)) / 100.0
}

fn first_user(turns: &[Turn]) -> String {
    turns
        .iter()
        .find(|t| t.role == "user")
        .or(turns.first())
        .map(|t| t.content.clone())
        .unwrap_or_default()
}

/// `text` cut to at most `max` characters, at a word boundary when there
/// is one.
pub fn cut(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    match head.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => head[..i].trim_end().to_string(),
        _ => head,
    }
}

/// Whether a language detector reads `text` as English.
pub fn is_english(text: &str) -> bool {
    whatlang::detect(text).is_some_and(|info| info.lang() == whatlang::Lang::Eng)
}

/// A user turn that reads as English, cut for TTS. A dataset with no
/// English in the first tries falls back to a fixed sentence, so a TTS
/// synthetic is never skipped for want of text.
fn english_text<R: Rng>(prompts: &PromptSet, rng: &mut R) -> String {
    for _ in 0..50 {
        let text = cut(&first_user(conversation(prompts, rng)), TTS_MAX_CHARS);
        if is_english(&text) {
            return text;
        }
    }
    "The quick brown fox jumps over the lazy dog near the quiet river bank.".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn chute() -> Chute {
        Chute {
            chute_id: "c".into(),
            name: "org/model".into(),
            slug: Some("model".into()),
            standard_template: Some("vllm".into()),
            username: Some("chutes".into()),
            instances: vec![],
            cords: vec![],
            raw: Value::Null,
        }
    }

    #[test]
    fn parameters_stay_in_their_ranges_and_follow_the_seed() {
        let prompts = PromptSet::builtin();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let chat = body(TaskType::Chat, &chute(), &prompts, &mut rng);
            let max = chat["max_tokens"].as_u64().unwrap();
            assert!((10..=200).contains(&max), "{max}");
            let t = chat["temperature"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&t));
            assert_eq!(chat["model"], "org/model");
            assert_eq!(chat["stream"], true);
            assert_eq!(chat["logprobs"], true);
            assert!(chat["messages"].as_array().is_some_and(|m| !m.is_empty()));
            let image = body(TaskType::Image, &chute(), &prompts, &mut rng);
            let steps = image["num_inference_steps"].as_u64().unwrap();
            assert!((5..=30).contains(&steps), "{steps}");
            let tts = body(TaskType::Tts, &chute(), &prompts, &mut rng);
            let text = tts["text"].as_str().unwrap();
            assert!(
                text.chars().count() <= TTS_MAX_CHARS && is_english(text),
                "{text}"
            );
            assert!(VOICES.contains(&tts["voice"].as_str().unwrap()));
        }
        let again = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            body(TaskType::Completion, &chute(), &prompts, &mut rng)
        };
        assert_eq!(again(9), again(9));
    }

    #[test]
    fn tts_text_skips_what_is_not_english() {
        let mut prompts = PromptSet::builtin();
        prompts.conversations = vec![vec![Turn {
            role: "user".into(),
            content:
                "Je voudrais savoir comment faire pousser des tomates dans mon jardin cet été."
                    .into(),
        }]];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let tts = body(TaskType::Tts, &chute(), &prompts, &mut rng);
        assert!(tts["text"]
            .as_str()
            .unwrap()
            .starts_with("The quick brown fox"));
        assert!(!is_english(
            "Je voudrais savoir comment faire pousser des tomates dans mon jardin."
        ));
    }

    #[test]
    fn texts_are_cut_at_word_boundaries() {
        assert_eq!(cut("one two three four", 9), "one two");
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("ééééééééééé", 4), "éééé");
    }
}
