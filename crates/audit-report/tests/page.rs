//! The rendered page: its numbers are the data's, hostile text stays
//! text, a 64-miner week stays small, and a section reads as snapshotted.

use audit_report::*;
mod common;

use common::{hotkey, t, week};

/// The HTML of the element with `id`, up to the next sibling section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[start..];
    let end = rest.find("</section>").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_64_miner_week_stays_under_2_mb() {
    let html = render(&week(64));
    assert!(!html.contains("template failed"), "{html}");
    let size = html.len();
    eprintln!("64-miner week: {size} bytes");
    assert!(size < 2_000_000, "{size} bytes");
    // Everything is inline: nothing is fetched when the page opens.
    for external in ["src=", "<link", "@import", "url(", "http://", "https://"] {
        assert!(!html.contains(external), "external reference {external}");
    }
}

#[test]
fn every_number_on_the_page_is_the_datas() {
    let data = week(64);
    let html = render(&data);
    let headline = section(&html, "top");
    assert!(headline.contains("2025-02-10 12:00 UTC"));
    assert!(html.contains("weights run 168 at 2025-02-10 12:00 UTC (profile chutes-default v1)"));
    assert!(
        html.contains("<div class=\"value\">166</div><div class=\"label\">entries verified</div>")
    );
    assert!(html.contains("<div class=\"value\">2</div><div class=\"label\">hour gaps</div>"));
    assert!(html.contains("<div class=\"value\">0.123456</div><div class=\"label\">sum |Δ|</div>"));
    assert!(html.contains("Hours without validator data: 02-08 03:00–05:00"));
    for m in &data.miners {
        let own = section(&html, &anchor(&m.hotkey));
        assert!(own.contains(&m.hotkey));
        let score = m
            .score
            .map(|s| format!("{s:.6}"))
            .unwrap_or_else(|| "—".into());
        assert!(
            own.contains(&format!("<dt>computed</dt><dd>{score}</dd>")),
            "{own}"
        );
        let chain = format!("{:.6}", m.chain_share.unwrap());
        assert!(
            own.contains(&format!("<dt>chain</dt><dd>{chain}</dd>")),
            "{own}"
        );
        // The scores table carries the same numbers, linked to the section.
        let row = format!("<a href=\"#{}\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{score}</td><td class=\"n\">{chain}</td>", anchor(&m.hotkey), m.hotkey, m.uid.unwrap());
        assert!(html.contains(&row), "{row}");
    }
    let flagged = data.miners.iter().filter(|m| m.flagged).count();
    assert!(html.contains(&format!(
        "<div class=\"value\">{flagged}</div><div class=\"label\">miners flagged</div>"
    )));
    // Miner 3 sent no self-reports: its whole row is missing, and it says so.
    let three = section(&html, &anchor(&hotkey(3)));
    assert!(three.contains("0 of 168 hours fully covered"), "{three}");
    assert!(three.contains("no reported metrics"), "{three}");
    assert!(html.contains("and 100 more"));
    let weights = section(&html, "weights");
    assert!(
        weights.contains("<td>committed (timelocked)</td><td>revealed</td><td>revealed</td>"),
        "{weights}"
    );
    assert_eq!(weights.matches("<tr><td class=\"n\">").count(), 42);
}

#[test]
fn hostile_catalog_text_stays_text_and_nan_is_a_dash() {
    let mut data = week(3);
    data.miners[0].hotkey = "5Evil\"><script>alert(1)</script>".into();
    data.miners[1].score = Some(f64::NAN);
    data.miners[1].chain_share = Some(f64::INFINITY);
    data.miners[2].delta = Some(-0.5);
    data.headline.integrity_violations[0].reason = "<img src=x onerror=alert(1)>".into();
    let html = render(&data);
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("id=\"miner-5Evilscriptalert1script\""));
    for bad in ["NaN", "inf\"", "width=\"-"] {
        assert!(!html.contains(bad), "{bad} on the page");
    }
}

#[test]
fn an_empty_catalog_says_what_to_run() {
    let data = ReportData {
        evaluated_at: t(10, 12),
        window_from: t(3, 12),
        netuid: 64,
        headline: Headline {
            verified: 0,
            unverifiable: 0,
            rejected: 0,
            pending: 0,
            validator_hours: 0,
            hour_gaps: vec![],
            integrity_violations: vec![],
        },
        run: None,
        history: vec![],
        coverage_hours: vec![],
        agreement: None,
        synthetics: vec![],
        synthetic_findings: vec![],
        submissions: vec![],
        miners: vec![],
    };
    let html = render(&data);
    assert!(html.contains("No weights run recorded yet: run <code>auditctl weights</code>"));
    assert!(html.contains("not recorded yet: run `auditctl compare-prom`"));
    assert!(html.contains("no miner self-reports loaded in the window"));
    assert!(html.contains("No miner seen yet."));
}

#[test]
fn the_scores_section_reads_as_snapshotted() {
    let mut data = week(3);
    data.miners.truncate(3);
    let html = render(&data);
    insta::assert_snapshot!("scores_section", section(&html, "scores"));
}
