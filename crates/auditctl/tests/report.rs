//! `auditctl report` on a devnet run: the page's numbers are the ones
//! `weights --json` and `compare-prom --json` printed for the same
//! catalog and time (`synth verify --json`: tests/synth.rs).

use std::path::Path;
use std::process::{Command, Output};

const AT: &str = "2025-02-10T12:00:00Z";

fn auditctl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .arg("--config")
        .arg(dir.join("auditctl.yml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "auditctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The HTML of a miner's section.
fn section<'a>(html: &'a str, hotkey: &str) -> &'a str {
    let id = format!("id=\"miner-{hotkey}\"");
    let start = html
        .find(&id)
        .unwrap_or_else(|| panic!("no section for {hotkey}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

fn share(v: &serde_json::Value) -> String {
    format!("{:.6}", v.as_f64().unwrap())
}

#[test]
fn the_page_of_a_devnet_run_shows_the_numbers_of_weights_json() {
    let dir = tempfile::tempdir().unwrap();
    let world_dir = dir.path().join("world");
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_auditctl"))
        .args(["devnet", "generate", "--seed", "3", "--miners", "8"])
        .args(["--hours", "6", "--invocations-per-hour", "300", "--now", AT])
        .arg("--out")
        .arg(&world_dir)
        .arg("--load-into")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let world = devnet::World::load(&world_dir).unwrap();
    std::fs::write(
        dir.path().join("auditctl.yml"),
        format!(
            "validators:\n  - name: devnet\n    hotkey: {}\n    url: http://127.0.0.1:9/\n",
            world.meta.validator_hotkey
        ),
    )
    .unwrap();

    let weights: serde_json::Value =
        serde_json::from_slice(&auditctl(dir.path(), &["--json", "weights", "--at", AT]).stdout)
            .unwrap();
    let compared: serde_json::Value = serde_json::from_slice(
        &auditctl(dir.path(), &["--json", "compare-prom", "--at", AT]).stdout,
    )
    .unwrap();
    let page_path = dir.path().join("share").join("page.html");
    let out = auditctl(
        dir.path(),
        &["report", "--at", AT, "--out", page_path.to_str().unwrap()],
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        page_path.display().to_string()
    );
    let html = std::fs::read_to_string(&page_path).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&auditctl(dir.path(), &["--json", "report", "--at", AT]).stdout)
            .unwrap();

    // The same run, the same totals.
    assert_eq!(json["run"]["run_id"], weights["run_id"]);
    assert!(html.contains(&format!(
        "weights run {} at 2025-02-10 12:00 UTC",
        weights["run_id"]
    )));
    let comparison = &weights["comparison"];
    assert!(html.contains(&format!(
        "<div class=\"value\">{}</div><div class=\"label\">sum |Δ|</div>",
        share(&comparison["sum_abs_delta"])
    )));
    assert!(html.contains(&format!("max Δ {}", share(&comparison["max_delta"]))));
    // The world verified whole: entries, no rejection, no violation.
    assert!(json["headline"]["verified"].as_u64().unwrap() >= 6);
    assert_eq!(json["headline"]["rejected"], 0);
    assert_eq!(
        json["headline"]["integrity_violations"],
        serde_json::json!([])
    );

    // Every scored miner's share, in its own section and in the table.
    let miners = weights["scores"]["miners"].as_array().unwrap();
    assert!(miners.len() >= 4, "{miners:?}");
    for m in miners {
        let hotkey = m["hotkey"].as_str().unwrap();
        let own = section(&html, hotkey);
        assert!(
            own.contains(&format!("<dt>computed</dt><dd>{}</dd>", share(&m["score"]))),
            "{own}"
        );
        assert!(own.contains(&format!("pre-score: {}", share(&m["pre_score"]))));
    }
    // Every compared miner's chain share and delta.
    for list in ["matched", "computed_unpaid", "paid_not_computed"] {
        for m in comparison[list].as_array().unwrap() {
            let own = section(&html, m["hotkey"].as_str().unwrap());
            assert!(
                own.contains(&format!("<dt>chain</dt><dd>{}</dd>", share(&m["actual"]))),
                "{list}: {own}"
            );
            assert!(own.contains(&share(&m["delta"])), "{list}: {own}");
        }
    }
    // Every miner compare-prom judged: its counts and ratio, as printed.
    let judged = compared["miners"].as_array().unwrap();
    assert!(!judged.is_empty(), "{compared}");
    for m in judged {
        let own = section(&html, m["hotkey"].as_str().unwrap());
        let a = &m["agreement"];
        let counts = format!(
            "validator {} vs reported {}",
            a["validator_count"], a["reported_count"]
        );
        match a["ratio"].as_f64() {
            Some(r) => assert!(
                own.contains(&format!("agreement ratio {r:.3} ({counts})")),
                "{own}"
            ),
            None => assert!(own.contains(&counts.replace("null", "—")), "{own}"),
        }
    }
    assert_eq!(json["agreement"]["run_id"], compared["run_id"]);

    // The default path is in the data directory.
    let out = auditctl(dir.path(), &["report", "--at", AT]);
    let default = data.join("report.html");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        default.display().to_string()
    );
    assert!(default.is_file());
}
