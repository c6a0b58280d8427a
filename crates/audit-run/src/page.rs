//! The page stage: the shareable report (`audit_report`) rendered after
//! each cycle, written atomically to its file and served at `/`.

use std::path::PathBuf;

use audit_service::{StageContext, StageError, StageOutcome};

use crate::Shared;

/// Where the page goes and what it needs.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// The window, netuid and delta flag of the page.
    pub report: audit_report::Settings,
    /// The file written after each cycle; `None` serves it only.
    pub out: Option<PathBuf>,
}

/// Renders the report page.
pub(crate) struct PageStage {
    shared: Shared,
    settings: PageSettings,
}

impl PageStage {
    /// The page with `settings`.
    pub(crate) fn new(shared: Shared, settings: PageSettings) -> Self {
        PageStage { shared, settings }
    }

    async fn render(&self, context: &StageContext) -> Result<StageOutcome, StageError> {
        let a = &self.shared;
        let at = crate::now(a.clock.as_ref()).await?;
        let data = audit_report::gather(&a.store, at, &self.settings.report).await?;
        let html = audit_report::render(&data);
        let written = match &self.settings.out {
            Some(path) => {
                audit_store::write_atomic(path, html.as_bytes())?;
                format!(", written to {}", path.display())
            }
            None => String::new(),
        };
        let size = html.len();
        if let Ok(mut page) = context.page.write() {
            *page = Some(html);
        }
        Ok(StageOutcome {
            new_data: false,
            summary: format!("report page as of {at} ({size} bytes){written}"),
        })
    }
}

crate::stage!(PageStage, "report", render);
