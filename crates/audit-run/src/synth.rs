//! The synthetics loop (one round of traced requests per interval, every
//! attempt recorded) and the `synth verify` stage after each sync (every
//! recorded attempt looked up in the loaded exports).

use std::sync::{Arc, Mutex};

use audit_model::SyntheticCheck;
use audit_service::{StageContext, StageError, StageOutcome};
use chutes_client::{ChutesClient, TraceEvent};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synthetics::{Observer, PromptSet, Round, Synthesizer, TaskChoice, TaskType};

use crate::Shared;

/// What the synthetics loop sends, and where.
pub struct SyntheticsSettings {
    /// The Chutes API the requests go to, with the API key they are paid
    /// with (synthetics are real requests: no source trait stands in).
    pub client: Arc<ChutesClient>,
    /// The prompts, loaded once.
    pub prompts: PromptSet,
    /// The types each round sends.
    pub choice: TaskChoice,
    /// The seed of every choice (chute, prompt, parameters).
    pub seed: u64,
}

/// One round of synthetic requests per run.
pub(crate) struct SynthStage {
    shared: Shared,
    client: Arc<ChutesClient>,
    prompts: Arc<PromptSet>,
    choice: TaskChoice,
    rng: Arc<Mutex<ChaCha8Rng>>,
}

impl SynthStage {
    /// Rounds as `settings` say.
    pub(crate) fn new(shared: Shared, settings: SyntheticsSettings) -> Self {
        SynthStage {
            shared,
            client: settings.client,
            prompts: Arc::new(settings.prompts),
            choice: settings.choice,
            rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(settings.seed))),
        }
    }

    async fn round(&self, _: &StageContext) -> Result<StageOutcome, StageError> {
        let now = crate::now(self.shared.clock.as_ref()).await?;
        let (client, store) = (self.client.clone(), self.shared.store.clone());
        let (prompts, rng, choice) = (self.prompts.clone(), self.rng.clone(), self.choice.clone());
        let handle = tokio::runtime::Handle::current();
        // The synthesizer's observer is a `&mut dyn Observer`, which no
        // future sent between threads may hold: the round runs on a
        // blocking thread of its own (and is dropped there when the stage
        // is abandoned).
        let round = crate::on_own_thread(move |abandoned| {
            let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
            let mut synth = Synthesizer::new(&client, &store, &prompts, &mut *rng);
            let mut observer = Logged;
            let round = synth.round(&choice, &mut observer, now);
            handle.block_on(crate::unless_abandoned(abandoned, round))
        })
        .await??;
        judge(&round)
    }
}

/// The round's line, or a failure when no request of it was answered:
/// a refused key, an empty balance or a gateway down is worth a 503.
fn judge(round: &Round) -> Result<StageOutcome, StageError> {
    let (sent, attempts) = round.sent();
    let problems = round.unsent();
    if sent == 0 && !problems.is_empty() {
        return Err(format!("no synthetic request went through: {}", problems.join("; ")).into());
    }
    let mut summary = format!(
        "{sent} synthetic request(s) sent, {attempts} attempt(s) recorded, catalogue of {} chutes",
        round.catalogue
    );
    if !problems.is_empty() {
        summary.push_str(&format!("; not sent: {}", problems.join("; ")));
    }
    Ok(StageOutcome {
        new_data: false,
        summary,
    })
}

/// Logs each request's trace and outcome; renders nothing (a service has
/// no terminal).
struct Logged;

impl Observer for Logged {
    fn trace(&mut self, _task: TaskType, event: &TraceEvent) {
        tracing::debug!("{}", synthetics::capture::trace_line(event));
    }
}

crate::stage!(SynthStage, "synthetics", round);

/// Every recorded synthetic looked up in the exports loaded so far.
pub(crate) struct SynthVerifyStage {
    shared: Shared,
}

impl SynthVerifyStage {
    /// The check over the auditor's validators.
    pub(crate) fn new(shared: Shared) -> Self {
        SynthVerifyStage { shared }
    }

    async fn verify(&self, _: &StageContext) -> Result<StageOutcome, StageError> {
        let a = &self.shared;
        let at = crate::now(a.clock.as_ref()).await?;
        let v = synthetics::verify(&a.store, &a.validators, at).await?;
        let count = |verdict| v.findings.iter().filter(|f| f.verdict == verdict).count() as u64;
        let (missing, rerouted) = (
            count(SyntheticCheck::Missing),
            count(SyntheticCheck::Rerouted),
        );
        let m = &self.shared.metrics;
        m.set_synthetics("present", v.present as u64);
        m.set_synthetics("missing", missing);
        m.set_synthetics("rerouted", rerouted);
        m.set_synthetics("pending", v.pending as u64);
        Ok(StageOutcome {
            new_data: false,
            summary: format!(
                "{} synthetic attempt(s) checked: {} present, {missing} missing, {rerouted} rerouted, {} pending",
                v.checked, v.present, v.pending
            ),
        })
    }
}

crate::stage!(SynthVerifyStage, "synth-verify", verify);

#[cfg(test)]
mod tests {
    use super::*;
    use synthetics::Outcome;

    #[test]
    fn a_round_where_nothing_went_through_fails_and_names_why() {
        let round = Round {
            catalogue: 3,
            outcomes: vec![Outcome::Refused {
                task: TaskType::Chat,
                chute_id: "c".into(),
                status: 402,
                meaning: synthetics::run::status_meaning(402),
            }],
        };
        let err = judge(&round).unwrap_err().to_string();
        assert!(err.contains("no balance"), "{err}");
        let empty = Round {
            catalogue: 0,
            outcomes: vec![],
        };
        assert!(judge(&empty).is_ok());
    }
}
