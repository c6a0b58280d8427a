//! The network as an [`AuditSource`]: the typed Chutes client. Its errors
//! keep their source and get a kind: a server error or a dropped
//! connection is transient, a 4xx or an undecodable answer is refused, and
//! an unsafe path is an integrity violation.

use std::path::Path;

use audit_model::Listing;
use audit_store::GpuCount;
use chutes_client::{ChutesClient, ClientError};

use crate::source::{AuditSource, Fetched, SourceError, SourceErrorKind};

fn source_error(e: ClientError) -> SourceError {
    let kind = match &e {
        ClientError::UnsafePath(_) => SourceErrorKind::Integrity,
        // A full or failing disk may pass; so may the server.
        e if e.is_transient() => SourceErrorKind::Transient,
        ClientError::Io { .. } => SourceErrorKind::Transient,
        _ => SourceErrorKind::Refused,
    };
    SourceError::new(kind, e)
}

impl AuditSource for ChutesClient {
    async fn list_entries(&self) -> Result<Listing, SourceError> {
        self.audit_entries().await.map_err(source_error)
    }

    async fn report(&self, path: &str, dest: &Path) -> Result<Fetched, SourceError> {
        let download = self
            .download_report_to(path, dest)
            .await
            .map_err(source_error)?;
        Ok(Fetched {
            bytes: download.bytes,
            sha256: download.sha256,
        })
    }

    async fn export(
        &self,
        validator_url: &str,
        path: &str,
        dest: &Path,
    ) -> Result<Fetched, SourceError> {
        let base = url::Url::parse(validator_url).map_err(SourceError::refused)?;
        let download = self
            .download_export_to(&base, path, dest)
            .await
            .map_err(source_error)?;
        Ok(Fetched {
            bytes: download.bytes,
            sha256: download.sha256,
        })
    }

    async fn gpu_counts(&self) -> Result<Vec<GpuCount>, SourceError> {
        ChutesClient::gpu_counts(self).await.map_err(source_error)
    }
}
