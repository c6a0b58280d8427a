//! The page in a real browser: headless Chromium opens the file, takes a
//! screenshot at a phone's and a desktop's width, and reports no console
//! message (no blocked request, no error). Skips with a notice where no
//! browser is installed (`.ci/run` installs one); `CHROMIUM` names another.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Decoded RGBA pixels and the image's size.
fn decode(png_path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let rgba: Vec<u8> = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

fn shoot(chromium: &Path, page: &Path, png: &Path, width: u32, height: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    stderr
}

#[test]
fn the_page_renders_in_headless_chromium() {
    let Some(chromium) = browser() else {
        eprintln!("NOTICE: no Chromium found (install `chromium` or set CHROMIUM); skipping the screenshot test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, audit_report::render(&common::week(64))).unwrap();
    // The console check sees a blocked request: a control page with one.
    let control = dir.path().join("control.html");
    let mut html = audit_report::render(&common::week(1));
    html = html.replace(
        "</main>",
        "<img src=\"https://example.com/x.png\" alt=\"\"></main>",
    );
    std::fs::write(&control, html).unwrap();
    let log = shoot(
        &chromium,
        &control,
        &dir.path().join("control.png"),
        390,
        400,
    );
    assert!(
        log.lines()
            .any(|l| l.contains("CONSOLE") && l.contains("Content Security Policy")),
        "the control page's blocked request was not reported: {log}"
    );

    let keep = std::env::var_os("REPORT_SCREENSHOTS").map(PathBuf::from);
    for (name, width, height) in [("phone", 390, 1600), ("desktop", 1280, 1400)] {
        let png = keep
            .as_deref()
            .unwrap_or(dir.path())
            .join(format!("report-{name}.png"));
        let log = shoot(&chromium, &page, &png, width, height);
        // The page has no script and fetches nothing: any console line
        // (a blocked request, a CSP violation) is a defect.
        let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "{name}: console says {console:#?}");

        let (w, h, rgba) = decode(&png);
        assert_eq!((w, h), (width, height), "{name}: screenshot size");
        let pixels = rgba.len() / 4;
        let background = rgba.chunks(4).filter(|p| p[..3] == [255, 255, 255]).count();
        let ink = pixels - background;
        // Text, cards and bars cover a fair share of the first screens.
        assert!(
            ink * 100 > pixels * 5,
            "{name}: {ink} of {pixels} pixels drawn"
        );
        // The chart colours are there (Okabe–Ito blue and orange).
        let has = |rgb: [u8; 3]| {
            rgba.chunks(4)
                .any(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) < 8))
        };
        assert!(has([0x00, 0x72, 0xb2]), "{name}: no computed-share bars");
        assert!(has([0xe6, 0x9f, 0x00]), "{name}: no chain-incentive bars");
    }
}
