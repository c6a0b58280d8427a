//! Which chute serves a task type (docs/spec/chutes-api.md, "Task types"): only
//! hot chutes (an active, verified instance), with the template and cord
//! rules of the spec, one picked at random among the candidates. Pure over
//! the catalogue, so a new catalogue each round is just a new argument.

use chutes_client::{Chute, Cord};
use rand::{Rng, RngExt};

use crate::TaskType;

/// The user whose chutes carry the TTS and embedding endpoints.
pub const CHUTES_USER: &str = "chutes";

/// The cord of `chute` whose public path is `path` (`/speak`).
pub fn cord<'a>(chute: &'a Chute, path: &str) -> Option<&'a Cord> {
    let same = |p: &Option<String>| {
        p.as_deref()
            .is_some_and(|p| p.trim_end_matches('/') == path.trim_end_matches('/'))
    };
    chute
        .cords
        .iter()
        .find(|c| same(&c.public_api_path) || same(&c.path))
}

/// Whether `chute` may serve `task`.
pub fn fits(task: TaskType, chute: &Chute) -> bool {
    if !chute.is_hot() {
        return false;
    }
    let template = chute.standard_template.as_deref();
    let by_chutes = chute.username.as_deref() == Some(CHUTES_USER);
    match task {
        TaskType::Chat | TaskType::Completion => template == Some("vllm"),
        TaskType::Image => template == Some("diffusion"),
        // A streaming /speak cord answers in chunks the router does not
        // trace as one invocation: upstream only uses non-streaming ones.
        TaskType::Tts => by_chutes && cord(chute, "/speak").is_some_and(|c| c.stream != Some(true)),
        TaskType::Embed => template == Some("tei") && by_chutes && cord(chute, "/embed").is_some(),
    }
}

/// Every chute that may serve `task`, in catalogue order.
pub fn candidates(task: TaskType, chutes: &[Chute]) -> Vec<&Chute> {
    chutes.iter().filter(|c| fits(task, c)).collect()
}

/// One candidate for `task` at random, or `None` when no chute fits.
pub fn choose<'a, R: Rng>(task: TaskType, chutes: &'a [Chute], rng: &mut R) -> Option<&'a Chute> {
    let found = candidates(task, chutes);
    if found.is_empty() {
        return None;
    }
    found.get(rng.random_range(0..found.len())).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chutes_client::ChuteInstance;
    use rand::SeedableRng;

    pub(crate) fn chute(
        id: &str,
        template: Option<&str>,
        user: &str,
        cords: &[(&str, bool)],
        hot: bool,
    ) -> Chute {
        Chute {
            chute_id: id.into(),
            name: format!("org/{id}"),
            slug: Some(id.into()),
            standard_template: template.map(str::to_string),
            username: Some(user.into()),
            instances: vec![ChuteInstance {
                instance_id: format!("{id}-i"),
                region: None,
                active: true,
                verified: hot,
            }],
            cords: cords
                .iter()
                .map(|(path, stream)| Cord {
                    path: Some(path.to_string()),
                    function: None,
                    stream: Some(*stream),
                    public_api_path: Some(path.to_string()),
                    public_api_method: Some("POST".into()),
                    passthrough: None,
                })
                .collect(),
            raw: serde_json::Value::Null,
        }
    }

    fn catalogue() -> Vec<Chute> {
        vec![
            chute("llm", Some("vllm"), "someone", &[("/chat", true)], true),
            chute("cold-llm", Some("vllm"), "someone", &[], false),
            chute(
                "sdxl",
                Some("diffusion"),
                "someone",
                &[("/generate", false)],
                true,
            ),
            chute("kokoro", None, "chutes", &[("/speak", false)], true),
            chute("stream-tts", None, "chutes", &[("/speak", true)], true),
            chute("other-tts", None, "someone", &[("/speak", false)], true),
            chute("bge", Some("tei"), "chutes", &[("/embed", false)], true),
            chute(
                "their-bge",
                Some("tei"),
                "someone",
                &[("/embed", false)],
                true,
            ),
        ]
    }

    #[test]
    fn only_hot_chutes_of_the_right_kind_are_candidates() {
        let chutes = catalogue();
        let ids = |task| -> Vec<&str> {
            candidates(task, &chutes)
                .iter()
                .map(|c| c.chute_id.as_str())
                .collect()
        };
        assert_eq!(ids(TaskType::Chat), ["llm"]);
        assert_eq!(ids(TaskType::Completion), ["llm"]);
        assert_eq!(ids(TaskType::Image), ["sdxl"]);
        assert_eq!(ids(TaskType::Tts), ["kokoro"]);
        assert_eq!(ids(TaskType::Embed), ["bge"]);
    }

    #[test]
    fn no_candidate_is_none_and_the_choice_is_seeded() {
        let chutes = catalogue();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert!(choose(TaskType::Chat, &chutes[1..2], &mut rng).is_none());
        let many: Vec<Chute> = (0..10)
            .map(|i| chute(&format!("m{i}"), Some("vllm"), "x", &[], true))
            .collect();
        let pick = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..5)
                .map(|_| {
                    choose(TaskType::Chat, &many, &mut rng)
                        .unwrap()
                        .chute_id
                        .clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(7), pick(7));
        let spread: std::collections::BTreeSet<_> = (0..20).flat_map(pick).collect();
        assert!(spread.len() > 5, "random among candidates: {spread:?}");
    }
}
