//! Coming from upstream: an unchanged upstream `config/config.yml` and its
//! database environment, as `auditctl config check` reads them.
//!
//! The fixture is upstream's file as it ships (docs/migrating.md): its
//! layout, its placeholder API key, `render: true`, sending off, and the
//! example key pair whose seed does not derive its address.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every variable the config reads, so the caller's shell cannot leak in.
const CONFIG_ENV: [&str; 13] = [
    "DATABASE_URL",
    "AUDITCTL_CONFIG",
    "AUDITCTL_DATA_DIR",
    "CHUTES_API_KEY",
    "AUDITCTL_SECRET_SEED",
    "POSTGRESQL",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "PGPASSWD",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "SKIP_MINER_AUDITS",
];

/// The API key and seed the fixture holds: neither may ever be printed.
const FIXTURE_SECRETS: [&str; 2] = [
    "4be1d0e2a1f34c6b8d7e9f0a1b2c3d4e",
    "971c2a6674d0861ade72297d11110ce21c93734210527c8f4c9190c00139ce20",
];
/// The address upstream's file pairs with its example seed, and the one
/// that seed derives.
const SHIPPED_ADDRESS: &str = "5GerCEPSx22bmr5Wnm2wj87SSpZiVvhVqFUrGG5795XkUbjr";
const DERIVED_ADDRESS: &str = "5DCJTfVx3ReNyxW3SgQEKFgvXFuqnK3BNW1vMhTQK4jdZbV4";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-config.yml")
}

fn auditctl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditctl"));
    command.args(args).current_dir(dir);
    for name in CONFIG_ENV.iter().chain(&["CALCULATE_MINER_AGREEMENT"]) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().expect("run auditctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check_json(dir: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    let fixture = fixture();
    let args = [
        "config",
        "check",
        "--json",
        "--config",
        fixture.to_str().unwrap(),
    ];
    let out = auditctl(dir, &args, env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The comment lines about where things came from, without the file's
/// own path, the "not used yet" list (which other work changes) and the
/// warnings (one depends on the checkout's file mode; asserted apart).
fn provenance(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with('#')
                && !l.starts_with("# accepted, not used yet")
                && !l.starts_with("# warning:")
        })
        .map(|l| l.replace(&fixture().display().to_string(), "<fixture>"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_unchanged_upstream_config_passes_config_check_and_says_what_it_translated() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture();
    let args = ["config", "check", "--config", fixture.to_str().unwrap()];
    let out = auditctl(dir.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for secret in FIXTURE_SECRETS {
        assert!(!stdout.contains(secret), "a secret leaked:\n{stdout}");
    }
    insta::assert_snapshot!("upstream_config_check", provenance(&stdout));

    // The same, as data: each upstream key landed on ours.
    let doc = check_json(dir.path(), &[]);
    let synthetics = &doc["synthetics"];
    assert_eq!(
        synthetics["prompts"]["text"]["source"]["huggingface"],
        "allenai/WildChat-1M"
    );
    assert_eq!(synthetics["prompts"]["text"]["field"], "conversation");
    assert_eq!(synthetics["prompts"]["image"]["field"], "prompts");
    assert_eq!(synthetics["prompts"]["image"]["split"], "train");
    for task in ["chat", "completion", "image", "tts", "embed"] {
        assert_eq!(synthetics[task]["render"], true, "{task}");
        assert_eq!(synthetics[task]["enabled"], true, "{task}");
    }
    assert_eq!(
        doc["subtensor"]["url"],
        "wss://entrypoint-finney.opentensor.ai/"
    );
    assert_eq!(doc["set_weights"]["ss58"], SHIPPED_ADDRESS);
    assert_eq!(doc["set_weights"]["enabled"], false);
    assert_eq!(doc["api_key"], "***");
    assert_eq!(doc["sources"]["api_key"], "config_file");
    let translated: Vec<&str> = doc["sources"]["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["upstream"].as_str().unwrap())
        .collect();
    assert_eq!(
        translated,
        [
            "subtensor",
            "set_weights.ss58_address",
            "synthetics.text",
            "synthetics.text.dataset",
            "synthetics.image.dataset",
            "synthetics.enabled",
            "synthetics.transcribe",
            "synthetics.moderation",
            "synthetics.api_key",
        ]
    );
    let json = doc.to_string();
    for secret in FIXTURE_SECRETS {
        assert!(!json.contains(secret), "a secret leaked:\n{json}");
    }
}

#[test]
fn upstream_config_yml_is_found_where_upstream_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(fixture(), dir.path().join("config/config.yml")).unwrap();
    let out = auditctl(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("# effective configuration from config/config.yml"),
        "{stdout}"
    );
    assert!(stdout.contains("synthetics.api_key -> api_key"), "{stdout}");
}

/// The words of the mismatched pair, wherever they are said.
fn names_the_pair(text: &str) -> bool {
    text.contains(&format!(
        "{SHIPPED_ADDRESS} is not the address of set_weights.secret_seed, which derives {DERIVED_ADDRESS}"
    )) && text.contains("from upstream `set_weights.ss58_address`")
}

#[test]
fn upstreams_shipped_key_pair_is_a_warning_while_sending_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture();
    let args = ["config", "check", "--config", fixture.to_str().unwrap()];
    let out = auditctl(dir.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let warning = stdout
        .lines()
        .find(|l| l.starts_with("# warning: `set_weights.ss58`"))
        .unwrap_or_else(|| panic!("no warning about the pair:\n{stdout}"));
    assert!(names_the_pair(warning), "{warning}");
    assert!(
        warning.contains("weights cannot be sent with this pair"),
        "{warning}"
    );
    let doc = check_json(dir.path(), &[]);
    let warnings = doc["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| names_the_pair(w.as_str().unwrap())),
        "{doc}"
    );
    for secret in FIXTURE_SECRETS {
        assert!(!stdout.contains(secret) && !doc.to_string().contains(secret));
    }
}

#[test]
fn upstreams_shipped_key_pair_is_refused_once_sending_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture();
    let on_in_file = dir.path().join("config.yml");
    let shipped = std::fs::read_to_string(&fixture).unwrap();
    std::fs::write(
        &on_in_file,
        shipped.replacen("enabled: false", "enabled: true", 1),
    )
    .unwrap();
    let fixture = fixture.to_str().unwrap();
    let on_by_flag = ["--set", "set_weights.enabled=true"];
    // On in the file, on by `--set`, and on by `--set` with the seed from
    // the environment: each refused before any command runs.
    // (arguments, environment)
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        (
            vec!["config", "check", "--config", on_in_file.to_str().unwrap()],
            &[],
        ),
        (
            [&["config", "check", "--config", fixture][..], &on_by_flag].concat(),
            &[],
        ),
        (
            [&["weights", "--config", fixture][..], &on_by_flag].concat(),
            &[],
        ),
        (
            [&["config", "check", "--config", fixture][..], &on_by_flag].concat(),
            &[(
                "AUDITCTL_SECRET_SEED",
                "0x971c2a6674d0861ade72297d11110ce21c93734210527c8f4c9190c00139ce20",
            )],
        ),
    ];
    for (args, env) in cases {
        let out = auditctl(dir.path(), &args, env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(names_the_pair(&stderr), "{args:?}: {stderr}");
        assert!(!stderr.contains(FIXTURE_SECRETS[1]), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // The pair fixed, sending on: accepted.
    let fixed = std::fs::read_to_string(&on_in_file)
        .unwrap()
        .replace(SHIPPED_ADDRESS, DERIVED_ADDRESS);
    std::fs::write(&on_in_file, fixed).unwrap();
    let args = ["config", "check", "--config", on_in_file.to_str().unwrap()];
    let out = auditctl(dir.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("# warning: `set_weights.ss58`"));
}

#[test]
fn every_form_of_the_database_environment_is_read_and_reported_masked() {
    let dir = tempfile::tempdir().unwrap();
    // (environment, where the URL came from, what config check prints)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a [&'a str]);
    let cases: [Case; 4] = [
        (
            &[(
                "POSTGRESQL",
                "postgresql+asyncpg://audit:hunter2@127.0.0.1:5432/chutes_audit",
            )],
            "postgresql://audit:***@127.0.0.1:5432/chutes_audit",
            &["POSTGRESQL"],
        ),
        (
            &[
                ("POSTGRES_USER", "audit"),
                ("POSTGRES_PASSWORD", "hunter2"),
                ("POSTGRES_DB", "chutes_audit"),
                ("POSTGRES_HOST", "db"),
                ("POSTGRES_PORT", "5433"),
            ],
            "postgresql://audit:***@db:5433/chutes_audit",
            &[
                "POSTGRES_USER",
                "POSTGRES_PASSWORD",
                "POSTGRES_DB",
                "POSTGRES_HOST",
                "POSTGRES_PORT",
            ],
        ),
        (
            &[("PGPASSWD", "hunter2"), ("POSTGRES_HOST", "db")],
            "postgresql://postgres:***@db:5432/postgres",
            &["PGPASSWD", "POSTGRES_HOST"],
        ),
        // Ours wins over both of upstream's forms.
        (
            &[
                ("DATABASE_URL", "postgres://ours:hunter2@10.0.0.1/ours"),
                (
                    "POSTGRESQL",
                    "postgresql+asyncpg://theirs:hunter2@db/theirs",
                ),
                ("POSTGRES_HOST", "db"),
            ],
            "postgres://ours:***@10.0.0.1/ours",
            &["DATABASE_URL"],
        ),
    ];
    for (env, url, variables) in cases {
        let doc = check_json(dir.path(), env);
        assert_eq!(doc["database_url"], url, "{env:?}");
        assert_eq!(doc["sources"]["database_url"]["kind"], "environment");
        assert_eq!(
            doc["sources"]["database_url"]["variables"],
            serde_json::json!(variables)
        );
        assert!(!doc.to_string().contains("hunter2"), "{doc}");

        let fixture = fixture();
        let out = auditctl(
            dir.path(),
            &["config", "check", "--config", fixture.to_str().unwrap()],
            env,
        );
        let stdout = text(&out.stdout);
        let line = format!(
            "# database_url from environment {}: {url}",
            variables.join(", ")
        );
        assert!(stdout.contains(&line), "{line} not in:\n{stdout}");
        assert!(!stdout.contains("hunter2"), "{stdout}");
    }
    // The flag wins over every variable, and says so.
    let fixture = fixture();
    let out = auditctl(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            fixture.to_str().unwrap(),
            "--database-url",
            "sqlite://flag.db",
        ],
        &[("POSTGRESQL", "postgresql+asyncpg://u:p@db/d")],
    );
    assert!(
        text(&out.stdout).contains("# database_url from flag --database-url: sqlite://flag.db"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn skip_miner_audits_keeps_its_upstream_meaning() {
    let dir = tempfile::tempdir().unwrap();
    for (value, miner_reports) in [("true", false), ("false", true), ("TRUE", false)] {
        let doc = check_json(dir.path(), &[("SKIP_MINER_AUDITS", value)]);
        assert_eq!(doc["sync"]["miner_reports"], miner_reports, "{value}");
    }
    assert_eq!(check_json(dir.path(), &[])["sync"]["miner_reports"], true);
}

#[test]
fn a_bad_upstream_variable_is_named_with_what_to_do_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "POSTGRESQL",
            "mysql+aiomysql://u:hunter2@db/d",
            "give a postgresql+asyncpg:// URL",
        ),
        ("POSTGRES_PORT", "54x2", "1..=65535"),
        ("POSTGRES_HOST", "not a host", "host name or address"),
        ("SKIP_MINER_AUDITS", "sometimes", "\"true\" to skip"),
    ];
    for (name, value, advice) in cases {
        let out = auditctl(dir.path(), &["config", "check"], &[(name, value)]);
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("environment variable {name}")),
            "{stderr}"
        );
        assert!(stderr.contains(advice), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}
