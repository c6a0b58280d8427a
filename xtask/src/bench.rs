//! `cargo xtask bench`: the end-to-end figures users care about, measured
//! from outside the process on a generated week.
//!
//! It builds `auditctl` (release), generates a devnet world once per size
//! (kept under `target/bench/worlds/`, keyed by its options), serves it on
//! loopback, and times each stage as a separate process on each backend
//! (the cold syncs stop an hour short of the world's present): cold sync of
//! validator exports, cold sync with miner self-reports,
//! catch-up of one new hour, scoring, the cost of proofs (the validator
//! sync and a planned send, each again with `subtensor.proofs: false`),
//! and (when the binary has them) compare-prom and `synth verify`. Peak resident memory is the process's
//! `VmHWM`, polled from `/proc` while it runs. Results go to
//! `target/bench/<unix time>.json` and a markdown table on stdout;
//! `--baseline FILE` adds each figure's ratio to an earlier run, since
//! absolute times on a shared 2-core machine drift.
//!
//! Each figure is then held to its target ([`targets::TARGETS`], issue
//! 23), in a second table that says whether it holds. `--first-build`
//! also times a release build of `auditctl` from a fresh clone of the
//! committed tree in a target directory of its own (minutes), with cargo's
//! `--timings`: the wall time, the work (the sum of every unit's time,
//! which load does not inflate as much) and the ten slowest units.
//!
//! The shape can vary beside the size: `--chutes N` (default the larger of
//! the miners and 12) and `--instances-per-miner N` (default two to four:
//! larger validator and self-reports); more self-reports an hour come with
//! `--miners` (one a miner an hour, as upstream).
//!
//! `cargo xtask bench criterion [FILTER]` runs the criterion benchmarks.

mod targets;

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use targets::{Measured, Source, TARGETS};

/// The size and shape of the world to measure.
#[derive(Debug, Clone)]
pub struct Size {
    hours: u32,
    invocations_per_hour: u32,
    miners: u32,
    /// `devnet generate --chutes`; its default when `None`.
    chutes: Option<u32>,
    /// `devnet generate --instances-per-miner`; its default when `None`.
    instances_per_miner: Option<u32>,
}

/// What the bench was asked for besides the world.
struct Options {
    size: Size,
    baseline: Option<PathBuf>,
    postgres: Option<String>,
    debug: bool,
    first_build: bool,
}

/// A fresh clone's release build of `auditctl`.
#[derive(Debug, Clone, PartialEq)]
struct FirstBuild {
    seconds: f64,
    /// The sum of every unit's build time (`--timings`; wall times, so
    /// load inflates them too).
    work_seconds: f64,
    /// CPU time (user and system) of cargo and everything it ran: what
    /// the build costs, whatever else the machine is doing.
    cpu_seconds: f64,
    /// The ten slowest units: name and seconds.
    slowest: Vec<(String, f64)>,
}

/// One measured stage.
#[derive(Debug, Clone)]
struct Figure {
    backend: &'static str,
    stage: String,
    seconds: f64,
    rows: Option<u64>,
    peak_mib: f64,
}

pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let Options {
        size,
        baseline,
        postgres,
        debug,
        first_build,
    } = parse(args)?;
    let target = target_dir(root);
    let bench_dir = target.join("bench");
    // First, while nothing of the bench's own build is warm in the cache.
    let first_build = if first_build {
        Some(measure_first_build(root, &bench_dir)?)
    } else {
        None
    };
    let profile = if debug { "dev" } else { "release" };
    step(crate::cargo().current_dir(root).args([
        "build",
        "--locked",
        "-p",
        "auditctl",
        "--profile",
        profile,
    ]))?;
    let auditctl = target
        .join(if debug { "debug" } else { "release" })
        .join("auditctl");
    let world = ensure_world(&auditctl, &bench_dir, &size)?;
    let mut figures = Vec::new();
    let mut backends: Vec<(&'static str, Option<String>)> = vec![("sqlite", None)];
    match postgres {
        Some(url) => backends.push(("postgres", Some(url))),
        None => eprintln!("bench: no BENCH_DATABASE_URL/TEST_DATABASE_URL: PostgreSQL skipped"),
    }
    for (backend, url) in backends {
        figures.extend(measure_backend(
            &auditctl,
            &bench_dir,
            &world,
            backend,
            url.as_deref(),
        )?);
    }
    let mut table = render(&figures, baseline.as_deref())?;
    table.push('\n');
    table.push_str(&render_targets(&figures, first_build.as_ref()));
    println!("{table}");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let out = bench_dir.join(format!("{stamp}.json"));
    fs::write(&out, to_json(&size, &figures, first_build.as_ref()))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    fs::write(bench_dir.join("latest.md"), &table).map_err(|e| e.to_string())?;
    eprintln!("bench: figures in {}", out.display());
    Ok(())
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (a separate
/// directory keeps a release build from evicting the warm debug one), else
/// `target/` of the workspace.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Options: the world's size and shape, a baseline to compare with, the
/// PostgreSQL URL, `--first-build`, and `--debug` (a quick check of the
/// harness with a debug build; its figures mean nothing).
fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        size: Size {
            hours: 168,
            invocations_per_hour: 60_000,
            miners: 64,
            chutes: None,
            instances_per_miner: None,
        },
        baseline: None,
        postgres: None,
        debug: false,
        first_build: false,
    };
    let size = &mut options.size;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u32>()
                .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
        };
        match flag.as_str() {
            "--hours" => size.hours = number(value()?)?,
            "--invocations-per-hour" => size.invocations_per_hour = number(value()?)?,
            "--miners" => size.miners = number(value()?)?,
            "--chutes" => size.chutes = Some(number(value()?)?),
            "--instances-per-miner" => size.instances_per_miner = Some(number(value()?)?),
            "--baseline" => options.baseline = Some(PathBuf::from(value()?)),
            "--first-build" => options.first_build = true,
            "--debug" => options.debug = true,
            other => return Err(format!("unknown bench option `{other}`")),
        }
    }
    if size.hours < 2
        || size.miners == 0
        || size.invocations_per_hour == 0
        || size.chutes == Some(0)
        || size.instances_per_miner == Some(0)
    {
        return Err(
            "bench: --hours must be at least 2, --miners, --invocations-per-hour, \
             --chutes and --instances-per-miner above 0"
                .into(),
        );
    }
    // The bench wipes its database: it never takes the test server's
    // own database, only a scratch one beside it.
    options.postgres = std::env::var("BENCH_DATABASE_URL").ok().or_else(|| {
        let server = std::env::var("TEST_DATABASE_URL").ok()?;
        Some(scratch_database(&server, "chutes_audit_bench"))
    });
    Ok(options)
}

fn step(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{command:?} failed: {status}"))
}

/// Clones the committed tree into `bench_dir/first-build` and times a
/// release build of `auditctl` there, in a target directory of its own
/// (nothing warm, as for a newcomer; the registry cache is shared, so no
/// download is timed). The timings page is kept beside the figures.
fn measure_first_build(root: &Path, bench_dir: &Path) -> Result<FirstBuild, String> {
    let dir = bench_dir.join("first-build");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let clone = dir.join("clone");
    step(
        Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(root)
            .arg(&clone),
    )?;
    let target = dir.join("target");
    eprintln!("bench: first build in {} (minutes)", clone.display());
    let cpu_before = children_cpu_seconds()?;
    let started = Instant::now();
    step(
        crate::cargo()
            .current_dir(&clone)
            .env("CARGO_TARGET_DIR", &target)
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "auditctl",
                "--timings",
            ]),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = children_cpu_seconds()? - cpu_before;
    let page = target.join("cargo-timings").join("cargo-timing.html");
    let html = fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
    let units = timed_units(&html);
    if units.is_empty() {
        return Err(format!("{}: no unit timings found", page.display()));
    }
    let _ = fs::copy(&page, bench_dir.join("first-build-timings.html"));
    let _ = fs::remove_dir_all(&dir);
    let work_seconds = units.iter().map(|(_, s)| s).sum();
    let mut slowest = units;
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    slowest.truncate(10);
    let build = FirstBuild {
        seconds,
        work_seconds,
        cpu_seconds,
        slowest,
    };
    eprintln!(
        "bench: first build {:.0} s, work {:.0} s, CPU {:.0} s",
        build.seconds, build.work_seconds, build.cpu_seconds
    );
    Ok(build)
}

/// The CPU time of every child this process has waited for, and of
/// theirs (`cutime` and `cstime` of `/proc/self/stat`, in the kernel's
/// fixed 100 ticks a second).
fn children_cpu_seconds() -> Result<f64, String> {
    let stat =
        fs::read_to_string("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    cpu_of_children(&stat).ok_or_else(|| "/proc/self/stat: no cutime/cstime".into())
}

/// `cutime + cstime` of a `/proc/<pid>/stat` line, in seconds. Fields
/// count from after the command's closing parenthesis (the command may
/// hold spaces): cutime and cstime are the 16th and 17th fields.
fn cpu_of_children(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(13)? + ticks(14)?) as f64 / 100.0)
}

/// Each unit of cargo's `--timings` page (`UNIT_DATA`): its name (crate,
/// version and target) and seconds. xtask parses no JSON: the units are
/// flat objects whose fields are read by name, compact (`{"i":0,…}`) or
/// pretty-printed (`{\n    "i": 0,…}`, cargo 1.95).
fn timed_units(html: &str) -> Vec<(String, f64)> {
    let Some(data) = html.find("UNIT_DATA").map(|at| &html[at..]) else {
        return Vec::new();
    };
    let data = &data[..data.find("];").unwrap_or(data.len())];
    data.split("\"i\":")
        .skip(1)
        .filter_map(|unit| {
            let seconds = json_float(unit, "duration")?;
            let name = json_text(unit, "name")?;
            let version = json_text(unit, "version").unwrap_or_default();
            let target = json_text(unit, "target").unwrap_or_default();
            Some((format!("{name} v{version}{target}"), seconds))
        })
        .collect()
}

/// What follows `"key":` (and any white space) in a flat JSON object.
fn json_value<'a>(object: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":");
    let at = object.find(&needle)? + needle.len();
    Some(object[at..].trim_start())
}

/// The string value of `key`, its `\"` escapes undone (cargo writes a
/// binary's target as ` bin "name"`).
fn json_text(object: &str, key: &str) -> Option<String> {
    let rest = json_value(object, key)?.strip_prefix('"')?;
    let mut text = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(text),
            '\\' => text.push(chars.next()?),
            c => text.push(c),
        }
    }
    None
}

/// The number value of `key`.
fn json_float(object: &str, key: &str) -> Option<f64> {
    let number: String = json_value(object, key)?
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    number.parse().ok()
}

/// The world for `size`, generated once (one hour is held back so the
/// catch-up has something to publish).
fn ensure_world(auditctl: &Path, bench_dir: &Path, size: &Size) -> Result<PathBuf, String> {
    let mut key = format!(
        "h{}-k{}-m{}",
        size.hours, size.invocations_per_hour, size.miners
    );
    // Only a shape asked for names the world, so default worlds keep
    // their key (and generated worlds their place).
    let mut shape = Vec::new();
    if let Some(chutes) = size.chutes {
        key.push_str(&format!("-c{chutes}"));
        shape.extend(["--chutes".to_string(), chutes.to_string()]);
    }
    if let Some(instances) = size.instances_per_miner {
        key.push_str(&format!("-i{instances}"));
        shape.extend(["--instances-per-miner".to_string(), instances.to_string()]);
    }
    let world = bench_dir.join("worlds").join(&key);
    if world.join("world.json").exists() {
        eprintln!("bench: reusing the world {}", world.display());
        return Ok(world);
    }
    let _ = fs::remove_dir_all(&world);
    fs::create_dir_all(world.parent().unwrap_or(bench_dir)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    step(
        Command::new(auditctl)
            .args(["devnet", "generate", "--out"])
            .arg(&world)
            .args([
                "--hours",
                &size.hours.to_string(),
                "--invocations-per-hour",
                &size.invocations_per_hour.to_string(),
                "--miners",
                &size.miners.to_string(),
            ])
            .args(&shape),
    )?;
    eprintln!(
        "bench: generated {} in {:.1} s",
        world.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(world)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The devnet serving `world`, stopped when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(auditctl: &Path, world: &Path, config: &Path) -> Result<Served, String> {
    let port = free_port()?;
    let child = Command::new(auditctl)
        .args(["devnet", "serve", "--world"])
        .arg(world)
        .args(["--port", &port.to_string(), "--write-config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the devnet: {e}"))?;
    let served = Served(child);
    for _ in 0..600 {
        if config.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(served);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the devnet did not come up within a minute".into())
}

fn measure_backend(
    auditctl: &Path,
    bench_dir: &Path,
    world: &Path,
    backend: &'static str,
    database_url: Option<&str>,
) -> Result<Vec<Figure>, String> {
    let run_dir = bench_dir.join(format!("run-{backend}"));
    discard(&run_dir)?;
    fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    // The served world is a copy: advancing it publishes into it.
    let served_world = run_dir.join("world");
    step(Command::new("cp").arg("-a").arg(world).arg(&served_world))?;
    let config = run_dir.join("devnet.yml");
    let served = serve(auditctl, &served_world, &config)?;
    // The cold syncs stop an hour short of the world's present, so the
    // catch-up loads a real hour of traffic (and prunes one, as in steady
    // state).
    let now = world_now(&served_world)?;
    let hour_before = an_hour_before(&now)?;
    let base = |data: &str| {
        let mut c = Command::new(auditctl);
        c.arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(run_dir.join(data));
        if let Some(url) = database_url {
            c.args(["--database-url", url]);
        }
        c
    };
    if let Some(url) = database_url {
        reset_postgres(url)?;
    }
    let mut figures = Vec::new();
    let mut record = |stage: &str, mut command: Command| -> Result<(), String> {
        // Each stage starts with nothing dirty in the page cache: the
        // world's copy and the stage before would otherwise be written
        // back on this stage's time (a sync's own file syncs wait for
        // them).
        step(&mut Command::new("sync"))?;
        let (seconds, peak_mib, stdout) = timed(&mut command)?;
        figures.push(Figure {
            backend,
            stage: stage.into(),
            seconds,
            rows: json_number(&stdout, "rows"),
            peak_mib,
        });
        eprintln!("bench: {backend} {stage}: {seconds:.2} s, {peak_mib:.0} MiB");
        Ok(())
    };
    let mut validator_only = base("validator-only");
    validator_only.args(["--json", "sync", "--no-miner-reports", "--at", &hour_before]);
    record(targets::COLD_SYNC, validator_only)?;
    // Each cold sync's lake is the week again (4 to 5 GB): one at a time
    // on disk, so the bench fits where the week fits twice.
    discard(&run_dir.join("validator-only"))?;
    if let Some(url) = database_url {
        reset_postgres(url)?;
    }
    // The same sync taking the node's word: the difference is what
    // proving each commitment read costs.
    let mut unproven = base("proofs-off");
    unproven.args(["--json", "--set", "subtensor.proofs=false"]);
    unproven.args(["sync", "--no-miner-reports", "--at", &hour_before]);
    record(targets::PROOFS_OFF_SYNC, unproven)?;
    discard(&run_dir.join("proofs-off"))?;
    if let Some(url) = database_url {
        reset_postgres(url)?;
    }
    let mut full = base("full");
    full.args(["--json", "sync", "--at", &hour_before]);
    record(targets::FULL_SYNC, full)?;
    let mut catch_up = base("full");
    catch_up.args(["--json", "sync", "--at", &now]);
    record(targets::CATCH_UP, catch_up)?;
    let mut score = base("full");
    // Sending is off in the devnet's config: scores and the comparison,
    // no chain call (`--dry-run` would plan a send, and refuse without
    // a key).
    score.args(["--json", "weights", "--at", &now]);
    record(targets::SCORING, score)?;
    // A send planned to the last byte (the devnet's validator is //Alice):
    // the metagraph, `Keys` and the chain's settings read, proven or not.
    for (stage, proofs) in [
        (targets::SEND_PLAN, "true"),
        (targets::SEND_PLAN_PROOFS_OFF, "false"),
    ] {
        let mut plan = base("full");
        plan.args(["--json", "--set", &format!("subtensor.proofs={proofs}")]);
        plan.args(["weights", "--dry-run", "--at", &now]);
        record(stage, plan)?;
    }
    for (stage, args) in [
        (targets::COMPARE_PROM, &["--json", "compare-prom"][..]),
        ("synth verify", &["--json", "synth", "verify"][..]),
    ] {
        if has_command(auditctl, args[1]) {
            let mut c = base("full");
            c.args(args).args(["--at", &now]);
            record(stage, c)?;
        }
    }
    drop(served);
    discard(&run_dir)?;
    Ok(figures)
}

/// Removes a directory the bench wrote, if it is there, and waits for the
/// filesystem to settle. ext4 passes over inodes freed in the last 30 s
/// when it allocates new ones: a sync creating 60,000 files right after
/// an earlier run's were deleted pays several times the usual cost (seen
/// as `find_inode_bit` in `perf`). A server prunes an hour's entries at a
/// time, so the figures are taken on a settled filesystem.
fn discard(dir: &Path) -> Result<(), String> {
    if fs::remove_dir_all(dir).is_ok() {
        step(&mut Command::new("sync"))?;
        std::thread::sleep(Duration::from_secs(35));
    }
    Ok(())
}

/// The world's present (`world.json`'s `now`), which advancing moves on.
fn world_now(world: &Path) -> Result<String, String> {
    let path = world.join("world.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let at = text
        .find("\"now\"")
        .ok_or(format!("{}: no `now`", path.display()))?;
    let rest = &text[at + 5..];
    let open = rest.find('"').ok_or("world.json: `now` is not a string")? + 1;
    let close = rest[open..]
        .find('"')
        .ok_or("world.json: `now` is not closed")?;
    Ok(rest[open..open + close].to_owned())
}

fn has_command(auditctl: &Path, name: &str) -> bool {
    Command::new(auditctl)
        .args([name, "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `url` with its database name replaced by `name` (query kept).
fn scratch_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority_at = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_at..].find('/') {
        Some(slash) => &base[..authority_at + slash],
        None => base,
    };
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

/// Creates the bench's database when it is missing (through the server's
/// `postgres` database), then empties it.
fn reset_postgres(url: &str) -> Result<(), String> {
    let name = url
        .split('?')
        .next()
        .and_then(|b| b.rsplit('/').next())
        .unwrap_or_default();
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        // Fails harmlessly when it exists.
        let _ = Command::new("psql")
            .arg(scratch_database(url, "postgres"))
            .args(["-q", "-c", &format!("CREATE DATABASE {name}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    step(Command::new("psql").arg(url).args([
        "-q",
        "-c",
        "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
    ]))
}

/// `YYYY-MM-DDTHH:MM:SS…` one hour earlier (xtask has no date library).
fn an_hour_before(time: &str) -> Result<String, String> {
    let bad = || format!("world.json: `{time}` is not YYYY-MM-DDTHH:MM:SS");
    let field = |range: std::ops::Range<usize>| -> Result<i64, String> {
        time.get(range).and_then(|t| t.parse().ok()).ok_or_else(bad)
    };
    let (y, m, d, h) = (field(0..4)?, field(5..7)?, field(8..10)?, field(11..13)?);
    let rest = time.get(13..19).ok_or_else(bad)?;
    let hours = days_from_civil(y, m, d) * 24 + h - 1;
    let (y, m, d) = civil_from_days(hours.div_euclid(24));
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{:02}{rest}",
        hours.rem_euclid(24)
    ))
}

// Howard Hinnant's days-from-civil and its inverse.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Runs `command`, polling its peak resident memory; (seconds, MiB, stdout).
fn timed(command: &mut Command) -> Result<(f64, f64, String), String> {
    let out_file = tempfile_path();
    let stdout = fs::File::create(&out_file).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = command
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{command:?}: {e}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak_kib = peak_kib.max(kib);
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let output = fs::read_to_string(&out_file).unwrap_or_default();
    let _ = fs::remove_file(&out_file);
    // Exit 3 (an integrity finding) still measured the work.
    if !status.success() && status.code() != Some(3) {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok((seconds, peak_kib as f64 / 1024.0, output))
}

fn tempfile_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "xtask-bench-{}-{}.out",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ))
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The first `"key": <number>` in a JSON text (xtask parses no JSON).
fn json_number(text: &str, key: &str) -> Option<u64> {
    let needle = format!("\"{key}\":");
    let at = text.find(&needle)? + needle.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn render(figures: &[Figure], baseline: Option<&Path>) -> Result<String, String> {
    let before = match baseline {
        Some(path) => fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => String::new(),
    };
    let mut table = String::from("| backend | stage | seconds | rows/s | peak MiB |");
    table.push_str(if baseline.is_some() {
        " time vs baseline |\n|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|\n"
    });
    for f in figures {
        let rate = f
            .rows
            .filter(|_| f.seconds > 0.0)
            .map(|r| format!("{:.0}", r as f64 / f.seconds))
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            table,
            "| {} | {} | {:.2} | {} | {:.0} |",
            f.backend, f.stage, f.seconds, rate, f.peak_mib
        );
        if baseline.is_some() {
            let ratio = baseline_seconds(&before, f.backend, &f.stage)
                .map(|b| format!("{:.2}×", f.seconds / b))
                .unwrap_or_else(|| "-".into());
            let _ = write!(table, " {ratio} |");
        }
        table.push('\n');
    }
    Ok(table)
}

/// Every target with what was measured and whether it holds, per
/// backend; the first build once, when it was measured.
fn render_targets(figures: &[Figure], first_build: Option<&FirstBuild>) -> String {
    let mut table =
        String::from("| backend | target | measured | bound | holds |\n|---|---|---|---|---|\n");
    let mut backends: Vec<&str> = figures.iter().map(|f| f.backend).collect();
    backends.dedup();
    let stage = |backend: &str, stage: &str| {
        figures
            .iter()
            .find(|f| f.backend == backend && f.stage == stage)
    };
    let mut line = |backend: &str, target: &targets::Target, measured: Option<Measured>| {
        let (shown, holds) = match measured {
            Some(m) => (
                target.shown(m),
                if target.holds(m) { "yes" } else { "**no**" },
            ),
            None => ("not measured".to_string(), "-"),
        };
        let _ = writeln!(
            table,
            "| {backend} | {} | {shown} | {} | {holds} |",
            target.row,
            target.bound()
        );
    };
    for backend in &backends {
        for target in TARGETS {
            let measured = match target.source {
                Source::Stage(name) => stage(backend, name).map(|f| Measured {
                    seconds: f.seconds,
                    peak_mib: Some(f.peak_mib),
                }),
                Source::Above(name, base) => match (stage(backend, name), stage(backend, base)) {
                    (Some(f), Some(b)) => Some(Measured {
                        seconds: f.seconds - b.seconds,
                        peak_mib: Some(f.peak_mib),
                    }),
                    _ => None,
                },
                Source::FirstBuild => continue,
            };
            line(backend, target, measured);
        }
    }
    for target in TARGETS {
        if matches!(target.source, Source::FirstBuild) {
            let measured = first_build.map(|b| Measured {
                seconds: b.seconds,
                peak_mib: None,
            });
            line("-", target, measured);
        }
    }
    match first_build {
        Some(build) => {
            let _ = writeln!(
                table,
                "\nfirst build: {:.1} min wall, {:.1} min of CPU, {:.1} min of work \
                 (the sum of every unit's time); the slowest units:",
                build.seconds / 60.0,
                build.cpu_seconds / 60.0,
                build.work_seconds / 60.0
            );
            for (unit, seconds) in &build.slowest {
                let _ = writeln!(table, "- {unit}: {seconds:.1} s");
            }
        }
        None => table.push_str("\n(the first build is measured with `--first-build`)\n"),
    }
    table
}

/// A figure's seconds in an earlier run's JSON (one figure per line).
fn baseline_seconds(json: &str, backend: &str, stage: &str) -> Option<f64> {
    let line = json.lines().find(|l| {
        l.contains(&format!("\"backend\": \"{backend}\""))
            && l.contains(&format!("\"stage\": \"{stage}\""))
    })?;
    let at = line.find("\"seconds\": ")? + "\"seconds\": ".len();
    let number: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok()
}

fn to_json(size: &Size, figures: &[Figure], first_build: Option<&FirstBuild>) -> String {
    let mut out = format!(
        "{{\n\"hours\": {}, \"invocations_per_hour\": {}, \"miners\": {}, \"cores\": {},\n\"figures\": [\n",
        size.hours,
        size.invocations_per_hour,
        size.miners,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let lines: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{{\"backend\": \"{}\", \"stage\": \"{}\", \"seconds\": {:.3}, \"rows\": {}, \"peak_mib\": {:.1}}}",
                f.backend,
                f.stage,
                f.seconds,
                f.rows.map(|r| r.to_string()).unwrap_or_else(|| "null".into()),
                f.peak_mib
            )
        })
        .collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n]");
    if let Some(build) = first_build {
        let _ = write!(
            out,
            ",\n\"first_build\": {{\"seconds\": {:.1}, \"cpu_seconds\": {:.1}, \"work_seconds\": {:.1}}}",
            build.seconds, build.cpu_seconds, build.work_seconds
        );
    }
    out.push_str("\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_round_trip_through_the_baseline_json() {
        let size = Size {
            hours: 2,
            invocations_per_hour: 10,
            miners: 3,
            chutes: None,
            instances_per_miner: None,
        };
        let figure = Figure {
            backend: "sqlite",
            stage: "catch-up of one hour".into(),
            seconds: 0.5,
            rows: Some(1000),
            peak_mib: 40.0,
        };
        let json = to_json(&size, std::slice::from_ref(&figure), None);
        assert_eq!(
            baseline_seconds(&json, "sqlite", "catch-up of one hour"),
            Some(0.5)
        );
        assert_eq!(
            baseline_seconds(&json, "postgres", "catch-up of one hour"),
            None
        );
        assert_eq!(
            json_number("{\"loaded\": 3, \"rows\": 60928}", "rows"),
            Some(60928)
        );
        assert_eq!(vm_hwm_kib("Name:\tx\nVmHWM:\t  20480 kB\n"), Some(20480));
        assert_eq!(
            scratch_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            scratch_database("postgres://u@h/db?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(scratch_database("postgres://u@h", "b"), "postgres://u@h/b");
        assert_eq!(
            an_hour_before("2025-03-01T00:00:00").unwrap(),
            "2025-02-28T23:00:00"
        );
        assert_eq!(
            an_hour_before("2024-03-01T00:30:00").unwrap(),
            "2024-02-29T23:30:00"
        );
        assert_eq!(
            an_hour_before("2025-02-10T12:00:00").unwrap(),
            "2025-02-10T11:00:00"
        );
    }

    #[test]
    fn the_timings_page_gives_each_unit_and_its_seconds() {
        let html = r#"<script>
const UNIT_DATA = [
{"i":0,"name":"polars-core","version":"0.55.2","mode":"todo","target":"","start":1.5,"duration":120.25,"rmeta_time":60.0,"unlocked_units":[1],"unlocked_rmeta_units":[],"sections":null},
{"i":1,"name":"auditctl","version":"0.1.0","mode":"todo","target":" bin \"auditctl\"","start":130.0,"duration":40.5,"rmeta_time":null,"unlocked_units":[],"unlocked_rmeta_units":[]}
];
const CONCURRENCY_DATA = [{"t":0.0}];
</script>"#;
        let units = timed_units(html);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0], ("polars-core v0.55.2".to_string(), 120.25));
        assert_eq!(
            units[1],
            ("auditctl v0.1.0 bin \"auditctl\"".to_string(), 40.5)
        );
        // Cargo 1.95 pretty-prints the same data.
        let pretty = "const UNIT_DATA = [\n  {\n    \"i\": 0,\n    \"name\": \"tt\",\n    \"version\": \"0.1.0\",\n    \"target\": \" tt \\\"bin\\\"\",\n    \"duration\": 0.17,\n    \"sections\": null\n  }\n];";
        assert_eq!(
            timed_units(pretty),
            vec![("tt v0.1.0 tt \"bin\"".to_string(), 0.17)]
        );
        assert!(timed_units("<html></html>").is_empty());
        // A command with spaces and parentheses; utime 5, stime 6,
        // cutime 1234, cstime 66 ticks.
        let stat = "42 (cargo (x) y) S 1 42 42 0 -1 4194304 10 0 0 0 5 6 1234 66 20 0 1 0";
        assert_eq!(cpu_of_children(stat), Some(13.0));
        assert!(cpu_of_children("42 (cargo) S 1").is_none());
    }

    #[test]
    fn every_target_is_printed_per_backend_with_whether_it_holds() {
        let figure = |backend, stage: &str, seconds, peak_mib| Figure {
            backend,
            stage: stage.into(),
            seconds,
            rows: None,
            peak_mib,
        };
        let figures = [
            figure("sqlite", targets::COLD_SYNC, 8.5, 500.0),
            figure("sqlite", targets::FULL_SYNC, 11.0, 400.0),
            figure("sqlite", targets::SCORING, 1.3, 500.0),
            figure("postgres", targets::COLD_SYNC, 9.5, 500.0),
        ];
        let table = render_targets(&figures, None);
        let row = |start: &str| {
            table
                .lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no row `{start}` in\n{table}"))
                .to_string()
        };
        assert_eq!(
            row("| sqlite | cold sync"),
            "| sqlite | cold sync, validator exports | 8.50 s, 500 MiB | ≤ 9 s, < 600 MiB | yes |"
        );
        assert!(row("| sqlite | self-reports on top").contains("| +2.50 s | ≤ 2 s | **no** |"));
        assert!(row("| sqlite | scoring").ends_with("| **no** |"));
        assert!(row("| sqlite | compare-prom").ends_with("| not measured | ≤ 0.5 s | - |"));
        assert!(row("| postgres | cold sync").ends_with("| **no** |"));
        assert!(row("| postgres | self-reports on top").contains("not measured"));
        assert!(row("| - | first build").contains("not measured"));
        let build = FirstBuild {
            seconds: 540.0,
            work_seconds: 1000.0,
            cpu_seconds: 900.0,
            slowest: vec![("polars-core v0.55.2".into(), 120.0)],
        };
        let table = render_targets(&figures, Some(&build));
        assert!(table.contains(
            "| - | first build, release auditctl from a fresh clone | 9.0 min | ≤ 10 min | yes |"
        ));
    }
}
