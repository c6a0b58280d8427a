//! `auditctl query` on a devnet lake: upstream's compute-units SQL gives
//! the figures `weights --explain` gives, the window follows `--at`, the
//! formats carry the same rows, and a query cannot reach past the lake.

use std::path::Path;
use std::process::{Command, Output};

use polars::prelude::{ParquetReader, SerReader};

const AT: &str = "2025-02-10T12:00:00Z";
const LEGACY_PUBLIC_CHUTE: &str = "561e4875-254d-588f-a36f-57c9cdef8961";

fn auditctl(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .current_dir(home)
        .arg("--data-dir")
        .arg(home.join("data"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AUDITCTL_CONFIG")
        .output()
        .unwrap()
}

fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A world of six hours, synced and loaded into `<home>/data`, and a
/// config naming its validator.
fn devnet_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let world_dir = home.path().join("world");
    ok(Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(["devnet", "generate", "--seed", "5", "--miners", "6"])
        .args(["--hours", "6", "--invocations-per-hour", "300", "--now", AT])
        .arg("--out")
        .arg(&world_dir)
        .arg("--load-into")
        .arg(home.path().join("data"))
        .output()
        .unwrap());
    let world = devnet::World::load(&world_dir).unwrap();
    std::fs::write(
        home.path().join("auditctl.yml"),
        format!(
            "validators:\n  - name: devnet\n    hotkey: {}\n    url: http://127.0.0.1:9/\n",
            world.meta.validator_hotkey
        ),
    )
    .unwrap();
    home
}

/// Compute units per miner as upstream's NORMALIZED_COMPUTE_QUERY sums
/// them, in the spec's form (an unsuccessful invocation still earns its
/// bounty), with the flattened metric columns and a confirmed report on
/// the parent excluding the invocation.
fn upstream_compute_units_sql() -> String {
    format!(
        "SELECT mn.hotkey,
           SUM(COALESCE(i.bounty, 0) + i.compute_multiplier * CASE
             WHEN i.completed_at IS NULL OR COALESCE(i.error_message, '') <> '' THEN 0
             WHEN i.metric_p AND i.chute_id <> '{LEGACY_PUBLIC_CHUTE}' THEN 0
             WHEN i.metric_nc > 0 THEN i.metric_nc
             WHEN i.metric_steps > 0 AND i.metric_masps IS NOT NULL
               THEN i.metric_steps * i.metric_masps
             WHEN i.metric_it > 0 AND i.metric_ot > 0 AND i.metric_maspt IS NOT NULL
               THEN (i.metric_it + i.metric_ot) * i.metric_maspt
             ELSE CAST(i.completed_at - i.started_at AS DOUBLE) / 1000000
           END) AS compute_units
         FROM invocations i
         JOIN metagraph_nodes mn ON i.miner_hotkey = mn.hotkey
         LEFT JOIN (SELECT invocation_id AS reported FROM reports
                    WHERE confirmed_at IS NOT NULL) r
           ON i.parent_invocation_id = r.reported
         WHERE r.reported IS NULL
         GROUP BY mn.hotkey
         ORDER BY compute_units DESC"
    )
}

/// Equal up to the order of a float sum, on the scale of `whole` (the
/// figure a difference was taken from).
fn close(a: f64, b: f64, whole: f64) -> bool {
    (a - b).abs() <= 1e-12 * whole.abs().max(1.0)
}

#[test]
fn a_devnet_lake_read_through_sql() {
    let home = devnet_home();
    upstream_compute_units_sql_equals_weights_explain(home.path());
    the_window_follows_at_and_every_format_carries_the_same_rows(home.path());
}

fn upstream_compute_units_sql_equals_weights_explain(home: &Path) {
    let rows: serde_json::Value = serde_json::from_slice(&ok(auditctl(
        home,
        &[
            "query",
            "--at",
            AT,
            "--format",
            "json",
            &upstream_compute_units_sql(),
        ],
    )))
    .unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 3, "{rows:?}");

    let weights: serde_json::Value =
        serde_json::from_slice(&ok(auditctl(home, &["--json", "weights", "--at", AT]))).unwrap();
    let scored: Vec<&serde_json::Value> = weights["scores"]["miners"]
        .as_array()
        .unwrap()
        .iter()
        .chain(weights["scores"]["zeroed"].as_array().unwrap())
        .collect();
    assert!(!scored.is_empty());
    let mut private_seen = false;
    for row in rows {
        let hotkey = row["hotkey"].as_str().unwrap();
        let from_sql = row["compute_units"].as_f64().unwrap();
        let Some(miner) = scored.iter().find(|m| m["hotkey"] == hotkey) else {
            // Off the scores only when none of its work counts.
            assert_eq!(from_sql, 0.0, "{hotkey}");
            continue;
        };
        // --explain's figures: compute_units includes the private
        // instances' units, which upstream sums in another query.
        let explained: serde_json::Value = serde_json::from_slice(&ok(auditctl(
            home,
            &["--json", "weights", "--at", AT, "--explain", hotkey],
        )))
        .unwrap();
        assert_eq!(&explained, *miner, "{hotkey}");
        let features = &explained;
        let private = features["private_compute_units"].as_f64().unwrap();
        private_seen |= private > 0.0;
        let whole = features["compute_units"].as_f64().unwrap();
        let invocations_only = whole - private;
        assert!(
            close(from_sql, invocations_only, whole),
            "{hotkey}: query {from_sql} vs weights --explain {invocations_only}"
        );
    }
    // The subtraction above is exercised: the devnet has private instances.
    assert!(private_seen, "no miner with private instances in the world");
}

fn the_window_follows_at_and_every_format_carries_the_same_rows(home: &Path) {
    let count = |at: &str, window: &str| -> u64 {
        let text = String::from_utf8(ok(auditctl(
            home,
            &[
                "query",
                "--at",
                at,
                "--window",
                window,
                "--format",
                "csv",
                "SELECT count(*) AS n FROM invocations",
            ],
        )))
        .unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("n"));
        lines.next().unwrap().parse().unwrap()
    };
    let week = count(AT, "7d");
    let last_two_hours = count(AT, "2h");
    let before_the_world = count("2025-02-01T00:00:00Z", "7d");
    assert!(week > last_two_hours, "{week} vs {last_two_hours}");
    assert!(last_two_hours > 0);
    assert_eq!(before_the_world, 0);

    // Invocation ids are upstream's primary key: one row each, though an
    // invocation straddling two hours is in both exports.
    let dupes = String::from_utf8(ok(auditctl(
        home,
        &[
            "query",
            "--at",
            AT,
            "--format",
            "csv",
            "SELECT count(*) - count(DISTINCT invocation_id) AS d FROM invocations",
        ],
    )))
    .unwrap();
    assert_eq!(dupes.lines().nth(1), Some("0"));

    let sql = "SELECT miner_hotkey, count(*) AS n, sum(compute_multiplier) AS m \
               FROM invocations GROUP BY miner_hotkey ORDER BY miner_hotkey";
    let csv_text = String::from_utf8(ok(auditctl(
        home,
        &["query", "--at", AT, "--format", "csv", sql],
    )))
    .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&ok(auditctl(home, &["--json", "query", "--at", AT, sql]))).unwrap();
    let parquet_path = home.join("out.parquet");
    ok(auditctl(
        home,
        &[
            "query",
            "--at",
            AT,
            "--format",
            "parquet",
            "--out",
            parquet_path.to_str().unwrap(),
            sql,
        ],
    ));
    let table = String::from_utf8(ok(auditctl(home, &["query", "--at", AT, sql]))).unwrap();

    let csv_rows: Vec<Vec<String>> = csv_text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let json_rows = json.as_array().unwrap();
    assert_eq!(csv_rows.len(), json_rows.len());
    assert!(
        table.contains(&format!("{} rows", csv_rows.len())),
        "{table}"
    );
    let frame = ParquetReader::new(std::fs::File::open(&parquet_path).unwrap())
        .finish()
        .unwrap();
    assert_eq!(frame.height(), csv_rows.len());
    for (i, (c, j)) in csv_rows.iter().zip(json_rows).enumerate() {
        assert_eq!(c[0], j["miner_hotkey"].as_str().unwrap());
        assert_eq!(c[1], j["n"].to_string());
        assert_eq!(c[2].parse::<f64>().unwrap(), j["m"].as_f64().unwrap());
        assert!(table.contains(&c[0]), "{table}");
        let n = frame.column("n").unwrap().get(i).unwrap();
        assert_eq!(n.to_string(), c[1]);
    }
}

#[test]
fn a_query_reads_the_tables_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let secret = home.join("secret.csv");
    std::fs::write(&secret, "a\nsecret\n").unwrap();
    let target = home.join("written.csv");
    for sql in [
        format!("SELECT * FROM read_csv('{}')", secret.display()),
        format!(
            "SELECT * FROM invocations WHERE chute_id IN (SELECT a FROM read_csv('{}'))",
            secret.display()
        ),
        format!("COPY invocations TO '{}'", target.display()),
        "DROP TABLE invocations".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
    ] {
        let out = auditctl(home, &["query", "--at", AT, &sql]);
        assert_eq!(out.status.code(), Some(2), "{sql}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refusing the query"), "{sql}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
    }
    assert!(!target.exists());
    // A window longer than the calendar reads everything, no panic.
    let out = auditctl(
        home,
        &[
            "query",
            "--at",
            AT,
            "--window",
            "99999999d",
            "SELECT count(*) AS n FROM audit_entries",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown column is the user's mistake, said plainly.
    let out = auditctl(
        home,
        &["query", "--at", AT, "SELECT no_such FROM gpu_counts"],
    );
    assert_eq!(out.status.code(), Some(2));
}
