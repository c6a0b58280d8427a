//! The catalog: a small relational database of audit entries and their
//! state, synthetics, metagraph snapshots, GPU counts, weights runs and
//! agreement results.
//!
//! One [`Catalog`] type serves SQLite and PostgreSQL. Every query is written
//! once in diesel's DSL and expanded per backend by `with_conn!`, so the two
//! cannot drift apart; the test suite runs against both.

mod agreement;
mod batch;
pub(crate) mod connection;
mod entries;
mod gpu_counts;
mod handle;
mod metagraph;
mod model;
mod overview;
mod postgres;
mod rows;
mod synthetics;
mod weights;
mod writer_lock;

pub use connection::{redact, Backend};
pub use handle::Catalog;
pub use model::{
    AgreementResult, AgreementRun, AuditEntry, CatalogSummary, EntryCount, EntryRecord,
    EntrySource, EntryState, ExportKind, ExportRecord, GpuCount, Listing, LoadedEntry,
    MalformedListing, MetagraphSnapshot, MinerScore, Neuron, NormalisedFeatures, RawFeatures,
    SendResolution, SubmissionOutcome, Synthetic, SyntheticCheck, Verified, WeightsCallKind,
    WeightsRun, WeightsSubmission, WeightsSubmissionRecord,
};
