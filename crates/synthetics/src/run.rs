//! Sending synthetics: each round refreshes the catalogue, picks the task
//! types (listed, or one random enabled type as upstream does), picks a
//! chute per type, sends the traced request, streams its events to an
//! [`Observer`] and records the attempts in one catalog transaction per
//! request. A non-200 answer (401, 402, 429, 5xx) is reported with its
//! meaning and never recorded: no invocation row exists for it.

use std::collections::BTreeMap;

use audit_store::{Store, Synthetic};
use chrono::NaiveDateTime;
use chutes_client::{Chute, ChutesClient, ClientError, Event, TraceEvent};
use futures::StreamExt;
use rand::{Rng, RngExt};
use serde::Serialize;

use crate::capture::Capture;
use crate::capture::Output;
use crate::prompts::PromptSet;
use crate::{payload, select, SynthError, TaskType};

/// The most trace events one request may send: the router tries at most
/// five targets, a few events each. A stream past it is a lying router;
/// reading on would record attempts without end.
pub const MAX_TRACE_EVENTS: usize = 64;

/// The most events of any kind one request may send: an LLM answer
/// streams one per token, and requests here ask for at most 200.
pub const MAX_EVENTS: usize = 16_384;

/// Watches a round as it happens (logging, rendering).
pub trait Observer {
    /// A trace event of a `task` request.
    fn trace(&mut self, _task: TaskType, _event: &TraceEvent) {}
    /// A piece of streamed text.
    fn text(&mut self, _task: TaskType, _piece: &str) {}
    /// A request finished (or could not be sent).
    fn outcome(&mut self, _outcome: &Outcome) {}
}

/// An observer that watches nothing.
impl Observer for () {}

/// Which types a round sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskChoice {
    /// One type drawn at random among these (the enabled ones), as
    /// upstream does.
    OneOf(Vec<TaskType>),
    /// Each of these, in order.
    Each(Vec<TaskType>),
}

/// What happened to one synthetic request.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Sent and answered 200: its attempts were recorded.
    Sent {
        /// The type.
        task: TaskType,
        /// The chute chosen.
        chute_id: String,
        /// Its name.
        chute_name: String,
        /// The `X-Chutes-InvocationID` header.
        parent_invocation_id: Option<String>,
        /// The recorded attempts.
        attempts: Vec<Synthetic>,
        /// `attempting` events without a child id: seen, not recordable.
        unrecordable: usize,
        /// The decoded payload.
        output: Option<Output>,
        /// Why there is no output (an error event, a bad payload, a cut stream).
        failure: Option<String>,
    },
    /// Answered with a non-200 status: reported, not recorded.
    Refused {
        /// The type.
        task: TaskType,
        /// The chute chosen.
        chute_id: String,
        /// The HTTP status.
        status: u16,
        /// What the status means for the user.
        meaning: String,
    },
    /// No hot chute fits the type: nothing sent.
    NoChute {
        /// The type.
        task: TaskType,
    },
    /// The request could not be sent (transport, URL).
    Error {
        /// The type.
        task: TaskType,
        /// The chute chosen.
        chute_id: String,
        /// Why.
        error: String,
    },
}

impl Outcome {
    /// The type of the request.
    pub fn task(&self) -> TaskType {
        match self {
            Outcome::Sent { task, .. }
            | Outcome::Refused { task, .. }
            | Outcome::NoChute { task }
            | Outcome::Error { task, .. } => *task,
        }
    }
}

/// What a non-200 answer to a traced invocation means.
pub fn status_meaning(status: u16) -> String {
    match status {
        401 | 403 => format!("{status}: the API key was refused; check api_key or CHUTES_API_KEY"),
        402 => "402: the account has no balance left".into(),
        429 => "429: overloaded, no instance took the request".into(),
        500..=599 => format!("{status}: the gateway failed"),
        _ => format!("{status}: unexpected answer"),
    }
}

/// One round's requests.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// Chutes in the catalogue this round.
    pub catalogue: usize,
    /// One per request, in order.
    pub outcomes: Vec<Outcome>,
}

/// Per-type counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskSummary {
    /// Requests answered 200.
    pub sent: u64,
    /// Attempts recorded.
    pub attempts: u64,
    /// Attempts after the first of their request.
    pub retried: u64,
    /// Requests without a good output, by reason.
    pub failed: BTreeMap<String, u64>,
}

/// Per-type counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// By type.
    pub tasks: BTreeMap<TaskType, TaskSummary>,
}

impl Summary {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        let line = self.tasks.entry(outcome.task()).or_default();
        let reason = match outcome {
            Outcome::Sent {
                attempts, failure, ..
            } => {
                line.sent += 1;
                line.attempts += attempts.len() as u64;
                line.retried += attempts.len().saturating_sub(1) as u64;
                failure.clone()
            }
            Outcome::Refused { meaning, .. } => Some(meaning.clone()),
            Outcome::NoChute { .. } => Some("no hot chute fits".into()),
            Outcome::Error { error, .. } => Some(error.clone()),
        };
        if let Some(reason) = reason {
            *line.failed.entry(reason).or_default() += 1;
        }
    }
}

/// Sends synthetics and records them.
pub struct Synthesizer<'a, R> {
    client: &'a ChutesClient,
    store: &'a Store,
    prompts: &'a PromptSet,
    rng: R,
}

impl<'a, R: Rng> Synthesizer<'a, R> {
    /// A synthesizer over a client (with the API key), the store that
    /// records, the prompts, and the RNG every choice draws from.
    pub fn new(client: &'a ChutesClient, store: &'a Store, prompts: &'a PromptSet, rng: R) -> Self {
        Synthesizer {
            client,
            store,
            prompts,
            rng,
        }
    }

    /// One round: the catalogue refreshed, then each chosen type in turn.
    /// `now` dates attempts whose trace carries no readable timestamp.
    pub async fn round(
        &mut self,
        choice: &TaskChoice,
        observer: &mut dyn Observer,
        now: NaiveDateTime,
    ) -> Result<Round, SynthError> {
        let chutes = self.client.chutes().await?;
        let tasks = match choice {
            TaskChoice::Each(tasks) => tasks.clone(),
            TaskChoice::OneOf(tasks) if tasks.is_empty() => Vec::new(),
            TaskChoice::OneOf(tasks) => {
                let i = self.rng.random_range(0..tasks.len());
                tasks.get(i).copied().into_iter().collect()
            }
        };
        let mut outcomes = Vec::new();
        for task in tasks {
            let outcome = self.send(task, &chutes, observer, now).await?;
            observer.outcome(&outcome);
            outcomes.push(outcome);
        }
        Ok(Round {
            catalogue: chutes.len(),
            outcomes,
        })
    }

    /// One request of `task` to a chute chosen from `chutes`. Only a
    /// failure to record is an error: the network's failures are outcomes.
    pub async fn send(
        &mut self,
        task: TaskType,
        chutes: &[Chute],
        observer: &mut dyn Observer,
        now: NaiveDateTime,
    ) -> Result<Outcome, SynthError> {
        let Some(chute) = select::choose(task, chutes, &mut self.rng) else {
            return Ok(Outcome::NoChute { task });
        };
        let chute_id = chute.chute_id.clone();
        let error = |error: String| Outcome::Error {
            task,
            chute_id: chute_id.clone(),
            error,
        };
        let request = match payload::request(task, chute, self.prompts, self.client, &mut self.rng)
        {
            Ok(request) => request,
            Err(e) => return Ok(error(e.to_string())),
        };
        let mut response = match self.client.invoke_traced(request).await {
            Ok(response) => response,
            Err(ClientError::Status { status, .. }) => {
                return Ok(Outcome::Refused {
                    task,
                    chute_id: chute_id.clone(),
                    status,
                    meaning: status_meaning(status),
                })
            }
            Err(e) => return Ok(error(e.to_string())),
        };
        let mut capture = Capture::new(task, &chute_id, response.parent_invocation_id.clone(), now);
        let mut cut = None;
        let (mut events, mut traces) = (0usize, 0usize);
        while let Some(event) = response.events.next().await {
            match event {
                Ok(event) => {
                    events += 1;
                    traces += usize::from(matches!(event, Event::Trace(_)));
                    if traces > MAX_TRACE_EVENTS || events > MAX_EVENTS {
                        cut = Some(format!(
                            "the stream sent more than {MAX_TRACE_EVENTS} trace events or {MAX_EVENTS} events; read no further"
                        ));
                        break;
                    }
                    if let Event::Trace(trace) = &event {
                        observer.trace(task, trace);
                    }
                    if let Some(piece) = capture.push(&event) {
                        observer.text(task, &piece);
                    }
                }
                Err(e) => {
                    cut = Some(format!("the stream broke off: {e}"));
                    break;
                }
            }
        }
        let captured = capture.finish();
        // Every attempt seen is recorded, even from a stream cut short
        // (at most MAX_TRACE_EVENTS of them): the router made it, so the
        // export must hold it.
        self.store
            .catalog()
            .record_synthetics(&captured.attempts)
            .await?;
        let (output, failure) = match captured.output {
            Ok(output) => (Some(output), cut),
            Err(reason) => (None, Some(cut.unwrap_or(reason))),
        };
        Ok(Outcome::Sent {
            task,
            chute_id,
            chute_name: chute.name.clone(),
            parent_invocation_id: response.parent_invocation_id,
            attempts: captured.attempts,
            unrecordable: captured.unrecordable,
            output,
            failure,
        })
    }
}
