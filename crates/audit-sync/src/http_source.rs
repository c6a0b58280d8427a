//! The network as an [`AuditSource`]: the typed Chutes client.

use audit_store::{AuditEntry, GpuCount};
use chutes_client::ChutesClient;

use crate::pipeline::{AuditSource, SourceError};

fn source_error(e: chutes_client::ClientError) -> SourceError {
    SourceError(e.to_string())
}

impl AuditSource for ChutesClient {
    async fn list_entries(&self) -> Result<Vec<AuditEntry>, SourceError> {
        self.audit_entries().await.map_err(source_error)
    }

    async fn report(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        Ok(self
            .download_report(path)
            .await
            .map_err(source_error)?
            .bytes)
    }

    async fn export(&self, validator_url: &str, path: &str) -> Result<Vec<u8>, SourceError> {
        let base = url::Url::parse(validator_url)
            .map_err(|e| SourceError(format!("validator URL `{validator_url}`: {e}")))?;
        Ok(self
            .download_export(&base, path)
            .await
            .map_err(source_error)?
            .bytes)
    }

    async fn gpu_counts(&self) -> Result<Vec<GpuCount>, SourceError> {
        ChutesClient::gpu_counts(self).await.map_err(source_error)
    }
}
