//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Independent auditor for Chutes (Bittensor subnet 64): verifies the
/// validator's published audit data against the chain, reproduces the
/// incentives, and can set weights from it.
#[derive(Debug, Parser)]
#[command(name = "auditctl", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3 integrity violation found."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file (YAML), ours or upstream's. Default:
    /// ./auditctl.yml, else ./config/config.yml (upstream's path), when one exists,
    /// otherwise built-in defaults.
    #[arg(long, global = true, env = "AUDITCTL_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Data directory for the catalog and the lake (overrides `data_dir`).
    #[arg(long, global = true, env = "AUDITCTL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Catalog database URL (overrides `database_url` and DATABASE_URL).
    #[arg(long, global = true, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Sets one configuration key over the file, in our names with dots
    /// for nesting, the value as YAML: `--set endpoints.api=http://...`,
    /// `--set 'validators=[{name: v, hotkey: 5..., url: http://...}]'`.
    /// Repeatable; applied after upstream keys are translated.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (-q errors only, -qq nothing).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Log lines for people (`human`) or one JSON object per line (`json`,
    /// for log collectors).
    #[arg(long, global = true, env = "AUDITCTL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show what the catalog and the lake hold.
    Status(StatusArgs),
    /// Reproduce the validator's scores from the lake and compare them with
    /// the incentive on chain.
    Weights(WeightsArgs),
    /// Verified ingest: load the last week of audit data that checks out
    /// against the chain (exit code 3 on an integrity violation).
    Sync(SyncArgs),
    /// Send synthetic traced requests and record every attempt the router
    /// made; `synth verify` proves each one appears in the exports.
    Synth(SynthArgs),
    /// Miners' self-reports (their own Prometheus counts) against the
    /// validator's exports, and each miner's audit coverage.
    CompareProm(ComparePromArgs),
    /// The auditor as a service: sync every interval; after new data score,
    /// compare with the chain and set weights (when enabled); compare-prom;
    /// synthetics on their own interval with `synth verify` after each
    /// sync; the report page after each cycle. Each stage run has a
    /// deadline. SIGINT/SIGTERM give the step in flight 5 s and exit 0.
    Run(RunArgs),
    /// The whole audit loop on a simulated network, no setup: generate a
    /// world (once), serve it on loopback, and run every stage while the
    /// devnet advances hour by hour, weights set on its chain; ends with a
    /// summary and the report page's path.
    Demo(DemoArgs),
    /// The simulated Chutes network: generate and serve worlds.
    #[command(subcommand)]
    Devnet(DevnetCommand),
    /// Write the shareable report page: one self-contained HTML file with
    /// the scores against the chain, coverage, agreement, synthetics and
    /// weights sent (--json prints its data).
    Report(ReportArgs),
    /// Run one read-only SQL query over the lake and the catalog, under
    /// upstream's table names (invocations, reports, jobs, instance_audits,
    /// miner_metrics, metagraph_nodes, gpu_counts, synthetics,
    /// audit_entries), scoped to the week before --at. See docs/query.md.
    Query(QueryArgs),
    /// Print the shell completion script for SHELL to stdout, e.g.
    /// `auditctl completions bash > /etc/bash_completion.d/auditctl`.
    Completions(CompletionsArgs),
    /// Write the man pages (auditctl.1 and one per subcommand) into a
    /// directory; `cargo xtask man` runs it.
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created when absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Write a deterministic world (the same seed gives the same bytes).
    Generate(GenerateArgs),
    /// Serve a world over HTTP on loopback, as the real network does.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write; must be empty or absent.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub size: WorldSize,
    /// Chutes besides the legacy one (default: the miners, at least 12).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub chutes: Option<u32>,
    /// Instances (deployments) per miner, each a record in the validator's
    /// report and its miner's self-report (default two to four).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub instances_per_miner: Option<u32>,
    /// The world's present (default 2025-02-10T12:00:00Z, so worlds are
    /// reproducible).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<chrono::NaiveDateTime>,
    /// Keep the generator's quick compute-share incentives instead of
    /// scoring the world's own traffic by the spec (faster for huge worlds).
    #[arg(long)]
    pub approximate_incentives: bool,
    /// Keep the catalog and lake the incentives were derived from in this
    /// data directory (new or empty), ready for `auditctl weights`.
    #[arg(long, value_name = "DIR", conflicts_with = "approximate_incentives")]
    pub load_into: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The world directory.
    #[arg(long, value_name = "DIR")]
    pub world: PathBuf,
    /// HTTP port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Chain (WebSocket JSON-RPC) port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub chain_port: u16,
    /// Write an auditctl config pointing every URL at this devnet.
    #[arg(long, value_name = "PATH")]
    pub write_config: Option<PathBuf>,
    /// Serve this export (`invocations/2025/02/10/16.csv`) with altered
    /// bytes. Repeatable.
    #[arg(long, value_name = "EXPORT_PATH")]
    pub tamper_export: Vec<String>,
    /// Serve this report (`audit/validator/<hotkey>/<block>.json`) with
    /// altered bytes. Repeatable.
    #[arg(long, value_name = "REPORT_PATH")]
    pub tamper_report: Vec<String>,
    /// Chain lie: answer these two uids' hotkeys swapped (`Keys`, `Uids`,
    /// the runtime API and read proofs alike). A proving auditor refuses it.
    #[arg(long, num_args = 2, value_names = ["UID", "UID"])]
    pub swap_keys: Option<Vec<u16>>,
    /// Chain lie: a commitment the chain never saw,
    /// `HOTKEY@BLOCK=SHA256`. Repeatable.
    #[arg(long, value_name = "HOTKEY@BLOCK=SHA256")]
    pub forge_commitment: Vec<devnet::ForgedCommitment>,
    /// Chain lie: answer block N with the state of block N − BLOCKS under
    /// a header carrying that older root.
    #[arg(long, value_name = "BLOCKS")]
    pub stale_root: Option<u32>,
    /// Answer this share of requests with 503.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub error_rate: f64,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub delay_ms: u64,
    /// Leave the next N traced attempts out of the export.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub drop_attempts: u32,
    /// Export the next N traced attempts under another miner's hotkey.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub reroute_attempts: u32,
    /// Fail the next N traced attempts, so the router retries elsewhere.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fail_attempts: u32,
    /// Turn commit-reveal weights on: the chain produces a block every
    /// 12 s with a tempo of 10, and reveals timelocked commits with its
    /// own drand-like beacon (printed, and written by --write-config).
    #[arg(long)]
    pub commit_reveal: bool,
}

/// A generated world's seed and size.
#[derive(Debug, Args)]
pub struct WorldSize {
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 16)]
    pub miners: usize,
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    #[arg(long, default_value_t = 2000)]
    pub invocations_per_hour: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Serve /healthz, /metrics and the report page at / on this address
    /// (e.g. 127.0.0.1:9464; port 0 picks one, logged). Overrides
    /// `run.listen`; off when neither is set.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Write the report page here after each cycle (overrides `run.page`;
    /// default `<data_dir>/report.html`).
    #[arg(long, value_name = "FILE.html")]
    pub page: Option<PathBuf>,
    /// Where evaluation times come from: `system` (the real network), or
    /// `devnet`, the simulated network's own present read from
    /// `<endpoints.api>/_devnet/clock` (it moves an hour per published
    /// hour).
    #[arg(long, value_enum, default_value_t = ClockArg::System)]
    pub clock: ClockArg,
}

/// A `--clock` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockArg {
    System,
    Devnet,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// World size, used when the demo world is first generated.
    #[command(flatten)]
    pub size: WorldSize,
    /// Simulated hours the loop runs through after the first sync: the
    /// devnet publishes one, the loop catches up, and so on.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=48))]
    pub simulated_hours: u32,
    /// Turns commit-reveal on in the devnet chain (one block a second):
    /// weights go out as a timelocked commit, and the demo waits for the
    /// chain to reveal it.
    #[arg(long)]
    pub commit_reveal: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// How a writing command meets another writer on the same data directory.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// When another auditor is writing to the data directory or catalog,
    /// wait for it instead of exiting at once.
    #[arg(long)]
    pub wait: bool,
}

impl LockArgs {
    /// The store's lock request for `command`.
    pub fn request(&self, command: &str) -> audit_store::LockRequest {
        audit_store::LockRequest {
            command: command.to_string(),
            wait: if self.wait {
                audit_store::LockWait::Wait
            } else {
                audit_store::LockWait::Refuse
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Evaluation time (ISO-8601 UTC): the window is the week before it;
    /// default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
    /// Load only this hotkey's entries.
    #[arg(long, value_name = "SS58")]
    pub hotkey: Option<String>,
    /// Skip miners' self-reports (validator entries only).
    #[arg(long)]
    pub no_miner_reports: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The time the coverage is judged at (ISO-8601 UTC): the week before
    /// it is the window whose missing hours are counted; default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// Compute, compare, and print exactly what would be sent (the call,
    /// uid by uid the u16 values, the reveal round); send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After a timelocked commit, wait up to this many seconds for the
    /// chain to reveal it, then check `Weights`.
    #[arg(long, value_name = "SECONDS", conflicts_with = "dry_run")]
    pub wait_reveal: Option<u64>,
    /// Evaluation time (ISO-8601 UTC, e.g. 2025-02-10T16:00:00Z); default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
    /// Show one miner's raw and normalised features and why it got its score.
    #[arg(long, value_name = "HOTKEY")]
    pub explain: Option<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The query: one SELECT (or WITH … SELECT).
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Output: a table for people, or csv, json or parquet (--json is
    /// json).
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
    /// The window's end (ISO-8601 UTC), as `weights --at`; default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
    /// The window's length before --at (e.g. 7d, 36h); default
    /// scoring.window_days.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<std::time::Duration>,
    /// Write the result to this file instead of stdout (parquet needs one
    /// unless stdout is redirected).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `query --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Evaluation time (ISO-8601 UTC): the window is the week before it;
    /// default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
    /// The HTML file to write (default `<data_dir>/report.html`).
    #[arg(long, value_name = "FILE.html")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SynthArgs {
    #[command(subcommand)]
    pub command: Option<SynthCommand>,
    /// A type to send each round: chat, completion, image, tts, embed, or
    /// all. Repeatable. Default: one random enabled type per round, as
    /// upstream does.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_task)]
    pub types: Vec<TaskArg>,
    /// Rounds to send (default 1).
    #[arg(long, value_name = "N", conflicts_with = "every")]
    pub count: Option<u32>,
    /// Send a round every DURATION (e.g. 30s, 15m, 1h) until SIGINT or SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<std::time::Duration>,
    /// Show no output at all (text, images, audio, shapes).
    #[arg(long)]
    pub no_render: bool,
    /// Seed every random choice (chute, prompt, parameters) for a
    /// reproducible run; default: from the clock.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum SynthCommand {
    /// Look every recorded synthetic up in the loaded exports (exit code 3
    /// when one is missing or exported under another miner).
    Verify(SynthVerifyArgs),
}

#[derive(Debug, Args)]
pub struct SynthVerifyArgs {
    /// Evaluation time (ISO-8601 UTC); default now. Synthetics created
    /// before the start of the newest validator entry loaded by then are
    /// judged.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
}

/// A `--type` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskArg {
    All,
    One(synthetics::TaskType),
}

fn parse_task(text: &str) -> Result<TaskArg, String> {
    if text == "all" {
        return Ok(TaskArg::All);
    }
    text.parse()
        .map(TaskArg::One)
        .map_err(|e: synthetics::SynthError| e.to_string())
}

/// `90s`, `15m`, `1h`, `1h30m` or plain seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("`{text}` is not a duration: use e.g. 30s, 15m, 1h or 1h30m");
    let mut seconds: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        seconds = n
            .checked_mul(unit)
            .and_then(|v| seconds.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() {
        let n: u64 = number.parse().map_err(|_| bad())?;
        seconds = seconds.checked_add(n).ok_or_else(bad)?;
    }
    if seconds == 0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Args)]
pub struct ComparePromArgs {
    /// Evaluation time (ISO-8601 UTC): entries that started in the 169
    /// hours before it count; default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::NaiveDateTime>,
    /// Flag agreement ratios (min / max of the two counts) below this.
    #[arg(long, value_name = "RATIO", default_value_t = prom_compare::DEFAULT_THRESHOLD, value_parser = parse_ratio)]
    pub threshold: f64,
    /// Show one miner's counts by chute and by hour, and where they differ.
    #[arg(long, value_name = "HOTKEY", conflicts_with = "prometheus_url")]
    pub explain: Option<String>,
    /// Live mode: query this miner's own Prometheus (base URL of its HTTP
    /// API) and compare it with the exports hour by hour; needs --hotkey.
    #[arg(long, value_name = "URL", requires = "hotkey")]
    pub prometheus_url: Option<url::Url>,
    /// The miner whose Prometheus --prometheus-url is.
    #[arg(long, value_name = "SS58", requires = "prometheus_url")]
    pub hotkey: Option<String>,
    /// Exit with 3 when a miner is flagged (for scripts); flags are
    /// findings about miners, so the default exit code is 0.
    #[arg(long)]
    pub fail_on_flagged: bool,
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1.0)
        .ok_or_else(|| format!("`{text}` is not a ratio in (0, 1]; use e.g. 0.9"))
}

fn parse_time(text: &str) -> Result<chrono::NaiveDateTime, String> {
    audit_store::time::parse_utc(text).ok_or_else(|| {
        format!("`{text}` is not an ISO-8601 UTC time; use e.g. 2025-02-10T16:00:00Z")
    })
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, then print the effective
    /// values with secrets masked.
    Check,
}
