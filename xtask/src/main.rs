//! Project chores, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//! Plain Rust with no dependencies, so it builds in a second.
//!
//! - `test`: the full test suite, every crate, every backend that is up.
//!   This is the command the README and `.ci/run` name.
//! - `bench [--hours H --invocations-per-hour K --miners M] [--baseline F]`:
//!   the end-to-end figures (sync, catch-up, scoring, ...) on a generated
//!   week, per backend; see `bench.rs`.
//! - `bench criterion [FILTER]`: the criterion benchmarks, in release mode;
//!   figures land in `target/criterion`.
//! - `audio`: builds and tests the optional `audio` feature (needs ALSA
//!   headers, which CI does not install).
//! - `soak [--hours N] [--release]`: `auditctl run` against the devnet for
//!   N simulated hours (default 48) under a chaos schedule, then its claims
//!   checked and a table printed (`crates/auditctl/tests/soak.rs`; the test
//!   suite runs a 3-hour version of the same test).
//! - `lint`: rustfmt check and clippy with warnings as errors.
//! - `tidy`: the invariants of ARCHITECTURE.md (crate edges, light
//!   fetchers, documented libraries, links that resolve); `test` runs it first.
//! - `man [DIR]`: the man pages of `auditctl` and each subcommand,
//!   generated from its clap definitions, into DIR (default
//!   `target/man`).

mod bench;
mod tidy;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    if matches!(task, "tidy" | "test") && !tidy_passes() {
        return ExitCode::FAILURE;
    }
    let man_dir = rest.first().cloned().unwrap_or_else(|| {
        workspace_root()
            .join("target/man")
            .to_string_lossy()
            .into_owned()
    });
    let steps: Vec<Vec<&str>> = match task {
        "tidy" => vec![],
        "test" => vec![
            vec!["test", "--workspace", "--locked"],
            vec!["build", "--workspace", "--locked", "--examples"],
        ],
        "bench" if rest.first().map(String::as_str) != Some("criterion") => {
            return match bench::run(workspace_root(), rest) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("xtask: bench: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        "bench" => {
            let rest = &rest[1..];
            let mut bench = vec!["bench", "--workspace", "--locked", "--benches"];
            if !rest.is_empty() {
                bench.push("--");
                bench.extend(rest.iter().map(String::as_str));
            }
            vec![bench]
        }
        "soak" => {
            return match soak(rest) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("xtask: soak: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        // The `audio` feature needs ALSA headers (libasound2-dev), which CI
        // does not install; this builds and tests it where they are.
        "audio" => vec![vec![
            "test",
            "--workspace",
            "--locked",
            "--features",
            "synthetics/audio",
            "--lib",
            "render",
        ]],
        // auditctl generates the pages itself (clap_mangen): xtask stays
        // free of dependencies.
        "man" => vec![vec![
            "run", "--quiet", "--locked", "-p", "auditctl", "--", "man", "--out", &man_dir,
        ]],
        "lint" => vec![
            vec!["fmt", "--all", "--check"],
            vec![
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ],
        _ => {
            eprintln!("usage: cargo xtask <test | tidy | bench [--hours H ...] | bench criterion [FILTER] | soak [--hours N] [--release] | audio | lint | man [DIR]>");
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    for step in steps {
        eprintln!("xtask: cargo {}", step.join(" "));
        match cargo().args(&step).status() {
            Ok(status) if status.success() => {}
            Ok(status) => return ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8),
            Err(err) => {
                eprintln!("xtask: cannot run cargo: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// `soak [--hours N] [--release]`: the soak test, long, with its table.
/// The whole workspace's tests are selected and filtered down to the soak,
/// so the dependencies' features are those of `cargo xtask test` and a
/// warm test build is reused (selecting `--test soak` alone would leave
/// other crates' dev-dependencies out and rebuild the world).
const SOAK_TEST: &str = "run_survives_a_chaos_schedule_and_its_claims_hold";

fn soak(args: &[String]) -> Result<(), String> {
    let mut hours = 48u32;
    let mut release = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--hours" => {
                let value = args.next().ok_or("--hours needs a number")?;
                hours = value.parse().ok().filter(|h| *h > 0).ok_or_else(|| {
                    format!("--hours {value}: give a whole number of hours, 1 or more")
                })?;
            }
            "--release" => release = true,
            other => {
                return Err(format!(
                    "unknown option {other}: soak [--hours N] [--release]"
                ))
            }
        }
    }
    let mut command = cargo();
    command
        .current_dir(workspace_root())
        .args(["test", "--workspace", "--locked"]);
    if release {
        command.arg("--release");
    }
    command
        .args(["--", "--exact", SOAK_TEST, "--nocapture"])
        .env("SOAK_HOURS", hours.to_string());
    eprintln!("xtask: soak: {hours} simulated hours");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("the soak failed ({status})")),
        Err(err) => Err(format!("cannot run cargo: {err}")),
    }
}

/// The cargo that runs xtask, without the variables `cargo run` set for
/// xtask's own package. Build scripts may watch them (ring's reruns when
/// `CARGO_MANIFEST_DIR` changes): a build from `cargo xtask` then looked
/// changed to one from the shell, and each rebuilt ring and everything
/// above it, polars included, twenty minutes of a release build.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        if is_package_variable(&key.to_string_lossy()) {
            command.env_remove(&key);
        }
    }
    command
}

/// A variable cargo sets for the package it runs, not the user's.
fn is_package_variable(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_RUSTC_CURRENT_DIR"
        )
}

fn tidy_passes() -> bool {
    let problems = tidy::run(workspace_root());
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    if problems.is_empty() {
        eprintln!("xtask: tidy: ARCHITECTURE.md invariants hold");
    }
    problems.is_empty()
}

fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(std::path::Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cargo_xtask_runs_carries_no_variable_of_xtask_s_own_package() {
        for key in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(is_package_variable(key), "{key}");
        }
        for key in [
            "CARGO_TARGET_DIR",
            "CARGO_HOME",
            "CARGO",
            "CARGO_INCREMENTAL",
        ] {
            assert!(!is_package_variable(key), "{key}");
        }
        // Run under `cargo test`, which sets the package's variables: the
        // command removes every one that is set.
        let removed: Vec<_> = cargo()
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| key.to_string_lossy().into_owned())
            .collect();
        assert!(
            removed.iter().any(|k| k == "CARGO_MANIFEST_DIR"),
            "{removed:?}"
        );
        assert!(removed.iter().any(|k| k == "CARGO_PKG_NAME"), "{removed:?}");
    }
}
