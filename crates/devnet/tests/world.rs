//! Generated worlds: deterministic to the byte, and consistent: every
//! report hashes to its commitment, every export to its report, and every
//! export parses without a malformed row.

use std::path::Path;

use audit_store::FactTable;
use chrono::NaiveDate;
use devnet::*;
use sha2::{Digest, Sha256};

fn options(out: &Path, seed: u64) -> GenerateOptions {
    GenerateOptions {
        out: out.to_path_buf(),
        seed,
        miners: 8,
        hours: 4,
        invocations_per_hour: 300,
        now: NaiveDate::from_ymd_opt(2025, 2, 10)
            .unwrap()
            .and_hms_opt(12, 30, 0)
            .unwrap(),
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(&options(a.path(), 7)).unwrap();
    generate(&options(b.path(), 7)).unwrap();
    generate(&options(c.path(), 8)).unwrap();
    assert_eq!(files(a.path()), files(b.path()));
    assert_ne!(files(a.path()), files(c.path()));
}

#[test]
fn a_generated_world_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&options(dir.path(), 1)).unwrap();
    let world = World::load(dir.path()).unwrap();
    assert_eq!(world.entries.len(), summary.entries);
    let validator: Vec<_> = world
        .entries
        .iter()
        .filter(|e| e.hotkey == VALIDATOR_HOTKEY)
        .collect();
    assert_eq!(validator.len(), 4);
    // Miners report for themselves, all but one.
    assert_eq!(summary.entries, 4 + 4 * 7);

    let commitments = world.commitments().unwrap();
    for (listed, (hotkey, block, sha)) in world.listed().iter().zip(&commitments) {
        assert_eq!(listed.entry_id, entry_id(hotkey, *block));
        assert_eq!(&listed.hotkey, hotkey);
        let spec = world
            .entries
            .iter()
            .find(|e| e.block == *block && &e.hotkey == hotkey)
            .unwrap();
        assert_eq!(
            Sha256::digest(world.report_bytes(spec).unwrap()).as_slice(),
            sha
        );
    }

    let mut rows = 0;
    let mut private_or_failed = 0;
    for spec in validator {
        let report: serde_json::Value =
            serde_json::from_slice(&world.report_bytes(spec).unwrap()).unwrap();
        assert!(!report["instance_audit"].as_array().unwrap().is_empty());
        for (kind, table) in [
            ("invocations", FactTable::Invocations),
            ("reports", FactTable::Reports),
            ("jobs", FactTable::Jobs),
        ] {
            let export = &report["csv_exports"][kind];
            let bytes = std::fs::read(world.export_file(export["path"].as_str().unwrap()).unwrap())
                .unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                export["sha256"].as_str().unwrap(),
                "{kind}"
            );
            let stats = audit_sync::parse_export(table, bytes.as_slice(), |frame| {
                if table == FactTable::Invocations {
                    let p = frame
                        .column("metric_p")
                        .unwrap()
                        .bool()
                        .unwrap()
                        .sum()
                        .unwrap_or(0);
                    let e = frame
                        .column("error_message")
                        .unwrap()
                        .str()
                        .unwrap()
                        .iter()
                        .filter(|v| v.is_some())
                        .count();
                    private_or_failed += p as usize + e;
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(stats.malformed_rows, 0, "{kind}");
            assert_eq!(stats.malformed_metrics, 0, "{kind}");
            if table == FactTable::Invocations {
                assert_eq!(stats.not_miner_work, 3);
                rows += stats.rows;
            }
        }
    }
    assert!(rows >= 4 * 300, "{rows}");
    assert!(private_or_failed > 0);
    // A path from entries.json cannot leave the world.
    assert!(world.export_file("../world.json").is_err());
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path(), 1);
    o.miners = 1;
    assert!(generate(&o)
        .unwrap_err()
        .to_string()
        .contains("at least 3 miners"));
}
