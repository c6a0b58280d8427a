//! What each library crate is given from the configuration: one
//! translation per setting, shared by the one-shot commands and `run`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use url::Url;

use crate::{Config, ConfigError, PromptConfig, PromptSource, ENV_API_KEY};

impl Config {
    /// The hotkeys of the validators audited, in the configured order.
    pub fn validator_hotkeys(&self) -> Vec<String> {
        self.validators.iter().map(|v| v.hotkey.clone()).collect()
    }

    /// The Chutes client's endpoints, limits and key.
    pub fn client_config(&self) -> chutes_client::ClientConfig {
        let mut client = chutes_client::ClientConfig::new(chutes_client::Endpoints {
            api: self.endpoints.api.clone(),
            llm: self.endpoints.llm.clone(),
            chute_url_template: self.endpoints.chute_url_template.clone(),
        });
        client.timeout = Duration::from_secs(self.endpoints.timeout_seconds);
        client.max_body_bytes = self.endpoints.max_body_bytes;
        client.max_report_bytes = self.endpoints.max_report_bytes;
        client.api_key = self.api_key.as_ref().map(|k| k.expose().to_string());
        client
    }

    /// The node commitments are read from: the archive node when there is
    /// one (an entry's commitment is read at its block, up to a week old),
    /// else the node.
    pub fn commitment_chain_url(&self) -> &Url {
        self.subtensor
            .archive_url
            .as_ref()
            .unwrap_or(&self.subtensor.url)
    }

    /// How the chain is read when the reads go to `reading`: the client's
    /// timeouts (one call, and the wait for a sent transaction to be seen
    /// in a block), reads proven against their block's state root, and
    /// every other configured endpoint (the node, the archive node, the
    /// witnesses) a witness of the blocks read at; unproven when
    /// `subtensor.proofs` is off.
    pub fn chain_options(&self, reading: &Url) -> subtensor::ClientOptions {
        let mut witnesses: Vec<String> = Vec::new();
        let configured = [
            Some(&self.subtensor.url),
            self.subtensor.archive_url.as_ref(),
        ];
        for url in configured
            .into_iter()
            .flatten()
            .chain(&self.subtensor.witnesses)
        {
            if url != reading && !witnesses.contains(&url.to_string()) {
                witnesses.push(url.to_string());
            }
        }
        subtensor::ClientOptions {
            call_timeout: Duration::from_secs(self.subtensor.timeout_seconds),
            inclusion_timeout: Duration::from_secs(self.set_weights.inclusion_timeout_seconds),
            witnesses,
            proofs: self.subtensor.proofs,
            ..subtensor::ClientOptions::default()
        }
    }

    /// The ingest's options as of `at`: the validators, the window, miner
    /// reports, unverifiable entries and concurrency as configured.
    pub fn sync_options(&self, at: NaiveDateTime) -> audit_sync::SyncOptions {
        let validators = self
            .validators
            .iter()
            .map(|v| (v.hotkey.clone(), v.url.to_string()))
            .collect::<BTreeMap<_, _>>();
        audit_sync::SyncOptions::new(at, validators)
            .with_window_days(self.sync.window_days)
            .with_miner_reports(self.sync.miner_reports)
            .with_load_unverifiable(self.sync.load_unverifiable)
            .with_concurrency(self.sync.concurrency)
    }

    /// What the report page needs: the scoring window, the subnet, the
    /// delta flag.
    pub fn report_settings(&self) -> audit_report::Settings {
        audit_report::Settings {
            window_days: self.scoring.window_days,
            netuid: self.netuid,
            delta_flag: self.scoring.delta_flag,
        }
    }

    /// Synthetics are paid requests: without a key they cannot be sent.
    /// `other_way` adds a remedy to the message (`, or …`).
    pub fn require_api_key(&self, other_way: &str) -> Result<(), ConfigError> {
        if self.api_key.is_some() {
            return Ok(());
        }
        Err(ConfigError::Value {
            key: "api_key".into(),
            message: format!(
                "synthetics need a Chutes API key: set api_key or {ENV_API_KEY}{other_way}"
            ),
        })
    }

    /// The synthetic task types turned on, in `TaskType::ALL`'s order.
    pub fn enabled_tasks(&self) -> Vec<synthetics::TaskType> {
        synthetics::TaskType::ALL
            .into_iter()
            .filter(|t| self.synthetics.task(*t).enabled)
            .collect()
    }

    /// The enabled synthetic types, refused when there are none (a round
    /// would have nothing to send).
    pub fn require_enabled_tasks(&self) -> Result<Vec<synthetics::TaskType>, ConfigError> {
        let enabled = self.enabled_tasks();
        if enabled.is_empty() {
            return Err(ConfigError::Value {
                key: "synthetics".into(),
                message: "every synthetic type is disabled: enable one or give --type".into(),
            });
        }
        Ok(enabled)
    }

    /// Which synthetic outputs are drawn on the terminal (each type's
    /// `render`; chat and completion share the text).
    pub fn render_options(&self) -> synthetics::render::RenderOptions {
        let s = &self.synthetics;
        synthetics::render::RenderOptions {
            text: s.chat.render || s.completion.render,
            image: s.image.render,
            audio: s.tts.render,
            embed: s.embed.render,
        }
    }

    /// The synthetic types a round sends: `listed` in order without
    /// repeats (a `--type` list), else one random enabled type per round.
    pub fn task_choice(
        &self,
        listed: &[synthetics::TaskType],
    ) -> Result<synthetics::TaskChoice, ConfigError> {
        if listed.is_empty() {
            return Ok(synthetics::TaskChoice::OneOf(self.require_enabled_tasks()?));
        }
        let mut each = Vec::new();
        for t in listed {
            if !each.contains(t) {
                each.push(*t);
            }
        }
        Ok(synthetics::TaskChoice::Each(each))
    }

    /// The prompts the configuration names (the Hugging Face cache from
    /// `HF_HOME` and friends); the set's `notes` say which fallbacks were
    /// taken.
    pub fn prompts(&self) -> Result<synthetics::PromptSet, synthetics::SynthError> {
        let cache =
            synthetics::prompts::hf_cache_dir(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let source = |p: &PromptConfig| match &p.source {
            PromptSource::Builtin => synthetics::PromptSource::Builtin,
            PromptSource::File(path) => synthetics::PromptSource::File {
                path: path.clone(),
                field: p.field.clone(),
            },
            PromptSource::Huggingface(dataset) => synthetics::PromptSource::HuggingFace {
                dataset: dataset.clone(),
                split: p.split.clone(),
                field: p.field.clone(),
                cache: cache.clone(),
            },
        };
        let prompts = &self.synthetics.prompts;
        synthetics::PromptSet::load(&source(&prompts.text), &source(&prompts.image))
    }
}
