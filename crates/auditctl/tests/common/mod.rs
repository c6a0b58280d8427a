//! What the tests that drive `auditctl run` as a process share: a devnet
//! world served beside its chain node, a config naming it, the running
//! binary with its log, and the Prometheus samples it serves.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use devnet::{DevnetServer, World};

/// The public dev key `//Alice`: the generated worlds' validator.
pub const ALICE_SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";

/// The longest any one step of a test may take.
pub const LIMIT: Duration = Duration::from_secs(30);

pub const LOADED: &str = "chutes_audit_entries{state=\"loaded\"}";
pub const SENT: &str = "chutes_audit_weights_total{outcome=\"sent\"}";
pub const PRESENT: &str = "chutes_audit_synthetics{verdict=\"present\"}";
pub const PENDING: &str = "chutes_audit_synthetics{verdict=\"pending\"}";

/// A world served over HTTP beside its chain node.
pub struct Net {
    pub dir: tempfile::TempDir,
    pub world: World,
    pub server: DevnetServer,
    pub chain: Arc<tokio::sync::Mutex<devnet_chain::ChainNode>>,
    pub ws: String,
}

/// A small world (five miners, two hours) served over HTTP beside its
/// chain node; every published hour is committed on the node.
pub async fn start_devnet() -> Net {
    start_devnet_sized(5, 2, 60).await
}

/// A world of `miners` over `hours` at `invocations_per_hour`, served.
pub async fn start_devnet_sized(miners: usize, hours: u32, invocations_per_hour: usize) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    devnet::generate(&devnet::GenerateOptions {
        out: world_dir.clone(),
        seed: 17,
        miners,
        hours,
        invocations_per_hour,
        now: audit_store::time::parse_utc("2025-02-10T12:00:00").unwrap(),
    })
    .unwrap();
    let world = World::load(&world_dir).unwrap();
    let genesis = world.chain_genesis().unwrap();
    let node = devnet_chain::ChainNode::start(&genesis, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ws = node.ws_url();
    let chain = Arc::new(tokio::sync::Mutex::new(node));
    let server = DevnetServer::start(world.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let committer = chain.clone();
    server.on_publish(Arc::new(move |p: &devnet::Published| {
        // Hours are only published while the node is not restarting.
        let node = committer.try_lock().expect("the node is not restarting");
        node.commit(&p.entry.hotkey, p.entry.block, p.report_sha256)
            .unwrap();
    }));
    Net {
        dir,
        world,
        server,
        chain,
        ws,
    }
}

/// A config for `run` against `net` with one-second intervals, written
/// under the test's directory. `extra` YAML lines follow `set_weights`'
/// own: indented they add to it, at column 0 they are top-level keys.
pub fn write_config(net: &Net, extra: &str) -> PathBuf {
    write_config_for(net, &net.dir.path().join("data"), extra)
}

/// The same config with its own data directory (`extra` as above).
pub fn write_config_for(net: &Net, data: &Path, extra: &str) -> PathBuf {
    write_config_file(net, data, &net.ws, extra)
}

/// The same config with the chain at `ws` (a proxy in front of the node).
pub fn write_config_via(net: &Net, ws: &str, extra: &str) -> PathBuf {
    write_config_file(net, &net.dir.path().join("data"), ws, extra)
}

fn write_config_file(net: &Net, data: &Path, ws: &str, extra: &str) -> PathBuf {
    let url = net.server.url();
    let validator = &net.world.meta.validator_hotkey;
    let path = data.with_extension("yml");
    std::fs::write(
        &path,
        format!(
            "data_dir: {data}\napi_key: devnet\nnetuid: {netuid}\n\
             endpoints:\n  api: {url}\n  llm: {url}\n  chute_url_template: \"{url}chute/{{slug}}\"\n  timeout_seconds: 5\n\
             validators:\n  - name: devnet\n    hotkey: {validator}\n    url: {url}\n\
             subtensor:\n  url: {ws}\n  archive_url: {ws}\n  timeout_seconds: 5\n\
             set_weights:\n  enabled: true\n  ss58: {validator}\n  secret_seed: \"{ALICE_SEED}\"\n{extra}\
             intervals:\n  sync_seconds: 1\n  synthetics_seconds: 1\n  compare_prom_seconds: 1\n  weights_seconds: 1\n",
            data = data.display(),
            netuid = net.world.meta.netuid,
        ),
    )
    .unwrap();
    path
}

/// The running binary, its stderr collected line by line.
pub struct Running {
    pub child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub base: String,
}

pub fn spawn_run(config: &Path) -> Running {
    spawn_run_with(config, &[])
}

/// `run` with `extra` global options before the subcommand.
pub fn spawn_run_with(config: &Path, extra: &[String]) -> Running {
    spawn(Command::new(env!("CARGO_BIN_EXE_auditctl")), config, extra)
}

/// `run` started as a service manager would: with a soft limit of
/// `nofile` open descriptors (systemd's default is 1024), which the
/// service may raise to the hard limit.
pub fn spawn_run_limited(config: &Path, nofile: u32) -> Running {
    spawn_under_ulimit(config, &format!("-Sn {nofile}"))
}

/// `run` with `nofile` open descriptors in all (soft and hard), as a
/// small container gives.
pub fn spawn_run_capped(config: &Path, nofile: u32) -> Running {
    spawn_under_ulimit(config, &format!("-n {nofile}"))
}

fn spawn_under_ulimit(config: &Path, ulimit: &str) -> Running {
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        &format!("ulimit {ulimit} && exec \"$0\" \"$@\""),
        env!("CARGO_BIN_EXE_auditctl"),
    ]);
    spawn(shell, config, &[])
}

fn spawn(mut command: Command, config: &Path, extra: &[String]) -> Running {
    let mut child = command
        .args(["--config"])
        .arg(config)
        .args(extra)
        .args(["--log-format", "json", "run", "--clock", "devnet"])
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env_remove("CHUTES_API_KEY")
        .env_remove("AUDITCTL_SECRET_SEED")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let lines = stderr.clone();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                let base = rest.split_whitespace().next().unwrap_or_default();
                let base = base.trim_end_matches(['"', '}', ',']);
                let _ = tx.send(base.to_string());
            }
            lines.lock().unwrap().push(line);
        }
    });
    let base = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(base) => base,
        Err(_) => panic!(
            "no `listening on` line; stderr:\n{}",
            stderr.lock().unwrap().join("\n")
        ),
    };
    Running {
        child,
        stderr,
        base,
    }
}

impl Running {
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        match client.get(&url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.1
    }

    /// Polls `/metrics` until `check` holds on it, or fails naming `what`.
    pub async fn until_metrics(&self, what: &str, check: impl Fn(&str) -> bool) {
        self.until_metrics_within(LIMIT, what, check).await
    }

    /// The same with its own limit.
    pub async fn until_metrics_within(
        &self,
        limit: Duration,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(&self.metrics().await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.timed_out(what).await
    }

    /// Polls `/healthz` until it answers `status` with `reason` in its body.
    pub async fn until_health(&self, status: u16, reason: &str) {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            let (got, body) = self.get("/healthz").await;
            if got == status && body.contains(reason) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.timed_out(&format!("/healthz {status} with {reason:?}"))
            .await
    }

    pub async fn timed_out(&self, what: &str) -> ! {
        panic!(
            "timed out waiting for {what}\nhealthz: {:?}\nmetrics:\n{}\nlog:\n{}",
            self.get("/healthz").await,
            self.metrics().await,
            self.log()
        );
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the exit, at most
    /// `limit`; returns the status and how long the exit took.
    pub async fn signal(
        &mut self,
        signal: &str,
        limit: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let sent = Instant::now();
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap()
            .success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < limit,
                "no exit {limit:?} after SIG{signal}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM, then the exit status (within 20 s).
pub async fn terminate(run: &mut Running) -> std::process::ExitStatus {
    run.signal("TERM", Duration::from_secs(20)).await.0
}

/// A sample's value in the Prometheus text, if the series exists.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub fn value(metrics: &str, series: &str) -> f64 {
    sample(metrics, series).unwrap_or(0.0)
}
