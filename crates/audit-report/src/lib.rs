//! The report page of chutes-audit: one self-contained HTML file that
//! people who watch the subnet can open offline, attach or publish.
//!
//! [`gather`] reads what the catalog holds as of an evaluation time into a
//! plain [`ReportData`]; [`render`] turns it into the page — a pure
//! function, so the CLI, the service (which serves it at `/`) and the tests
//! render the same bytes from the same data. The HTML comes from minijinja
//! templates compiled into the binary; the charts are templated SVG whose
//! geometry is computed in [`charts`]. Styles are inline, nothing is
//! fetched, and every chart has its numbers in a table beside it.
//!
//! # Example
//!
//! The page of a catalog with nothing in it yet: it still renders, and says
//! so.
//!
//! ```
//! use audit_report::{gather, render, Settings};
//! use audit_store::Store;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), None).await?;
//! let at = audit_store::time::parse_utc("2025-02-10T12:00:00Z").unwrap();
//! let settings = Settings {
//!     window_days: 7,
//!     netuid: 64,
//!     delta_flag: 0.03,
//! };
//! let data = gather(&store, at, &settings).await?;
//! let page = render(&data);
//! assert!(page.trim_start().starts_with("<!doctype html>"));
//! // Self-contained: nothing is fetched when the page is opened.
//! assert!(!page.contains("<script src") && !page.contains("<link"));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod charts;
mod data;
mod format;
mod gather;
mod view;

use std::sync::OnceLock;

pub use data::{
    AgreementInfo, AgreementLine, Explain, Headline, HistoryPoint, MinerReport, ReportData,
    RunInfo, Submission, SyntheticFinding, TaskTally, Violation,
};
pub use format::anchor;
pub use gather::{assemble, gather, Records, Settings, HISTORY_DAYS, MAX_GRID_HOURS};
pub use view::FINDINGS_SHOWN;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the catalog failed.
    #[error("reading the catalog for the report: {0}")]
    Store(#[from] audit_store::StoreError),
}

const PAGE: &str = include_str!("../templates/page.html");
const CHARTS: &str = include_str!("../templates/charts.html");
const STYLE: &str = include_str!("../templates/style.css");

/// The templates, parsed once. They are compiled into the binary and
/// parsed by every test, so an error here is a build defect; it is still
/// reported on the page rather than panicking a service.
fn environment() -> &'static Result<minijinja::Environment<'static>, String> {
    static ENV: OnceLock<Result<minijinja::Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|err| format!("template syntax: {err}"))?;
        env.set_syntax(syntax);
        for (name, source) in [
            ("page.html", PAGE),
            ("charts.html", CHARTS),
            ("style.css", STYLE),
        ] {
            env.add_template(name, source)
                .map_err(|err| format!("template {name}: {err}"))?;
        }
        Ok(env)
    })
}

/// The page for `data`: a complete HTML document with inline styles and
/// SVG charts. Pure: the same data gives the same bytes.
pub fn render(data: &ReportData) -> String {
    let page = view::page(data);
    let rendered = environment()
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|env| {
            env.get_template("page.html")
                .and_then(|t| {
                    t.render(minijinja::context! { page => minijinja::value::Serde(&page) })
                })
                .map_err(|err| format!("{err:#}"))
        });
    match rendered {
        Ok(html) => html,
        // Only a template defect can fail here (the view is plain data).
        Err(err) => format!(
            "<!doctype html><title>chutes-audit report</title><p>the report template failed: {}</p>",
            escape(&err)
        ),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
