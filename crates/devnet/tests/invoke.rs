//! Traced invocations through the typed client against a served world:
//! every task type and its payload, the retry after a failed attempt, the
//! attempts recorded and published by `/_devnet/advance`, and the drop and
//! re-route switches as the export shows them.

mod support;

use base64::Engine as _;
use chutes_client::{Chute, ChutesClient, ClientError, Event, TraceMessage, TracedRequest};
use devnet::*;
use futures::StreamExt;
use serde_json::{json, Value};
use url::Url;

struct Net {
    _dir: tempfile::TempDir,
    server: DevnetServer,
    client: ChutesClient,
    chutes: Vec<Chute>,
}

async fn start() -> Net {
    let (dir, server, client) = support::serve(support::options(11, 6, 2, 50)).await;
    let chutes = client.chutes().await.unwrap();
    Net {
        _dir: dir,
        server,
        client,
        chutes,
    }
}

impl Net {
    /// The hot chute of `template` served by the most miners.
    fn chute(&self, template: Option<&str>) -> &Chute {
        let miners = |c: &Chute| {
            let mut hotkeys: Vec<&str> = c.raw["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["miner_hotkey"].as_str())
                .collect();
            hotkeys.sort();
            hotkeys.dedup();
            hotkeys.len()
        };
        self.chutes
            .iter()
            .filter(|c| c.standard_template.as_deref() == template && c.is_hot())
            .max_by_key(|c| miners(c))
            .expect("a hot chute of that template")
    }

    fn request(&self, kind: &str) -> TracedRequest {
        match kind {
            "chat" => TracedRequest {
                url: self.client.llm_url("v1/chat/completions").unwrap(),
                body: json!({"model": self.chute(Some("vllm")).name, "stream": true, "max_tokens": 6,
                             "messages": [{"role": "user", "content": "say something short"}],
                             "temperature": 0.0, "seed": 1, "logprobs": true}),
            },
            "completion" => TracedRequest {
                url: self.client.llm_url("v1/completions").unwrap(),
                body: json!({"model": self.chute(Some("vllm")).name, "stream": true, "max_tokens": 4,
                             "prompt": "once upon a time"}),
            },
            "image" => TracedRequest {
                url: self
                    .client
                    .chute_url(
                        self.chute(Some("diffusion")).slug.as_deref().unwrap(),
                        "generate",
                    )
                    .unwrap(),
                body: json!({"prompt": "a lighthouse", "seed": 3, "num_inference_steps": 20}),
            },
            "tts" => TracedRequest {
                url: self
                    .client
                    .chute_url(self.chute(None).slug.as_deref().unwrap(), "speak")
                    .unwrap(),
                body: json!({"text": "hello from the devnet"}),
            },
            "embed" => TracedRequest {
                url: self
                    .client
                    .chute_url(self.chute(Some("tei")).slug.as_deref().unwrap(), "embed")
                    .unwrap(),
                body: json!({"inputs": ["first", "second"]}),
            },
            other => panic!("no task {other}"),
        }
    }

    async fn send(&self, kind: &str) -> (String, Vec<Event>) {
        let response = self.client.invoke_traced(self.request(kind)).await.unwrap();
        let parent = response
            .parent_invocation_id
            .expect("X-Chutes-InvocationID");
        let events: Vec<Event> = response.events.map(|e| e.unwrap()).collect().await;
        (parent, events)
    }
}

fn attempts(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Trace(t) => match &t.message {
                TraceMessage::Attempting(target) => {
                    Some((t.child_id.clone().unwrap(), target.hotkey.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn results(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Result { value } => Some(value.clone()),
            _ => None,
        })
        .collect()
}

fn decoded(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value["bytes"].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn every_task_type_streams_a_trace_and_a_real_payload() {
    let net = start().await;
    for kind in ["chat", "completion", "image", "tts", "embed"] {
        let (parent, events) = net.send(kind).await;
        assert!(
            matches!(&events[0], Event::Trace(t) if matches!(t.message, TraceMessage::Identified { targets } if targets > 0)),
            "{kind}: {events:?}"
        );
        assert!(events.iter().any(|e| matches!(e, Event::Trace(t) if matches!(t.message, TraceMessage::Succeeded { .. }))), "{kind}");
        let payload = results(&events);
        assert!(!payload.is_empty(), "{kind}");
        match kind {
            "chat" => {
                let text: String = payload
                    .iter()
                    .filter_map(|v| v.as_str()?.strip_prefix("data: "))
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter_map(|l| {
                        l["choices"][0]["delta"]["content"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .collect();
                assert_eq!(text.split_whitespace().count(), 6, "{text}");
                assert_eq!(payload.last().unwrap(), "data: [DONE]");
            }
            "completion" => assert!(payload[0].as_str().unwrap().contains("\"text\"")),
            "image" => assert_eq!(&decoded(&payload[0])[..8], b"\x89PNG\r\n\x1a\n"),
            "tts" => assert_eq!(&decoded(&payload[0])[..4], b"RIFF"),
            "embed" => {
                let matrix = payload[0]["json"].as_array().unwrap();
                assert_eq!(matrix.len(), 2);
                assert!(matrix[0].as_array().unwrap().iter().all(Value::is_f64));
            }
            _ => unreachable!(),
        }
        // Every attempt is in the open hour's export, under this parent.
        let rows = net.server.open_hour_rows();
        for (child, hotkey) in attempts(&events) {
            let row = rows
                .iter()
                .find(|r| r.invocation_id == child)
                .expect("attempt recorded");
            assert_eq!(row.parent_invocation_id, parent);
            assert_eq!(row.miner_hotkey, hotkey);
        }
    }
}

#[tokio::test]
async fn a_failed_attempt_is_retried_on_another_miner_and_both_are_recorded() {
    let net = start().await;
    net.server.set_faults(Faults {
        fail_attempts: 1,
        ..Faults::default()
    });
    let (parent, events) = net.send("chat").await;
    let tried = attempts(&events);
    assert!(tried.len() >= 2, "{events:?}");
    assert_ne!(tried[0].1, tried[1].1, "the retry goes to another miner");
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Trace(t) => match &t.message {
                TraceMessage::Failed { target, .. } => Some(target.hotkey.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(failed.first(), Some(&tried[0].1));
    let rows = net.server.open_hour_rows();
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.parent_invocation_id == parent)
        .collect();
    assert_eq!(mine.len(), tried.len());
    assert!(
        mine[0].error_message.is_some(),
        "the failed attempt carries its error"
    );
    assert_eq!(
        net.server.faults().fail_attempts,
        0,
        "the switch is used up"
    );
}

#[tokio::test]
async fn advance_publishes_the_hour_with_every_attempt_and_verifiable_hashes() {
    let net = start().await;
    let before = net.client.audit_entries().await.unwrap().entries;
    let mut children = Vec::new();
    for kind in ["chat", "image", "embed"] {
        children.extend(attempts(&net.send(kind).await.1).into_iter().map(|a| a.0));
    }
    let published_hashes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = published_hashes.clone();
    net.server
        .on_publish(std::sync::Arc::new(move |p: &Published| {
            sink.lock().unwrap().push((p.entry.block, p.report_sha256));
        }));
    let http = reqwest_post(&format!("{}_devnet/advance", net.server.url())).await;
    assert_eq!(http["invocation_rows"], children.len());

    let after = net.client.audit_entries().await.unwrap().entries;
    assert_eq!(after.len(), before.len() + 1);
    let entry = after.last().unwrap();
    assert_eq!(entry.hotkey, VALIDATOR_HOTKEY);
    assert_eq!(entry.entry_id, entry_id(&entry.hotkey, entry.block));
    let last_end = before.iter().map(|e| e.end_time).max().unwrap();
    assert_eq!(
        entry.start_time, last_end,
        "the new hour follows the last one"
    );

    let report = net.client.download_report(&entry.path).await.unwrap();
    assert_eq!(
        published_hashes.lock().unwrap().as_slice(),
        &[(
            entry.block,
            <[u8; 32]>::try_from(hex::decode(&report.sha256).unwrap()).unwrap()
        )],
        "the chain hook gets the block and the served report's hash"
    );
    let doc: Value = serde_json::from_slice(&report.bytes).unwrap();
    let base = Url::parse(&net.server.url()).unwrap();
    let export = &doc["csv_exports"]["invocations"];
    let csv = net
        .client
        .download_export(&base, export["path"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(csv.sha256, export["sha256"].as_str().unwrap());
    let text = String::from_utf8(csv.bytes).unwrap();
    for child in &children {
        assert!(text.contains(child.as_str()), "{child} exported");
    }
    assert!(net.server.open_hour_rows().is_empty(), "a new hour is open");
    // The world on disk agrees: it reloads with the new entry.
    let reloaded = World::load(&net.server.world().dir).unwrap();
    assert_eq!(reloaded.entries.len(), after.len());
}

#[tokio::test]
async fn dropped_and_rerouted_attempts_show_in_the_export() {
    let net = start().await;
    net.server.set_faults(Faults {
        drop_attempts: 1,
        ..Faults::default()
    });
    let (_, dropped_events) = net.send("embed").await;
    let dropped = attempts(&dropped_events);
    net.server.set_faults(Faults {
        reroute_attempts: 1,
        ..Faults::default()
    });
    let (_, rerouted_events) = net.send("embed").await;
    let rerouted = attempts(&rerouted_events);
    let rows = net.server.open_hour_rows();
    assert!(
        rows.iter().all(|r| r.invocation_id != dropped[0].0),
        "the dropped attempt is not exported"
    );
    let row = rows
        .iter()
        .find(|r| r.invocation_id == rerouted[0].0)
        .unwrap();
    assert_ne!(
        row.miner_hotkey, rerouted[0].1,
        "exported under another miner"
    );
}

#[tokio::test]
async fn refused_invocations_are_errors_naming_the_status() {
    let net = start().await;
    let mut config = net.client.config().clone();
    config.api_key = None;
    let anonymous = ChutesClient::new(config).unwrap();
    let err = anonymous
        .invoke_traced(net.request("chat"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ClientError::Status { status: 401, .. }),
        "{err}"
    );
    let mut request = net.request("chat");
    request.body["model"] = json!("no/such-model");
    let err = net.client.invoke_traced(request).await.err().unwrap();
    assert!(
        matches!(err, ClientError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(
        net.server.open_hour_rows().is_empty(),
        "refusals are not recorded"
    );
}

async fn reqwest_post(url: &str) -> Value {
    let response = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}
