//! The verified ingest of Chutes audit data.
//!
//! Only data proven authentic gets in: each report must match its on-chain
//! commitment and each CSV export its sha256 in the report before anything
//! is parsed. [`pipeline`] runs list → download → verify → parse → load
//! over the two traits of [`source`] (network and chain), and [`verify_entry`]
//! checks a single entry the same way without a store; [`report`] reads the JSON
//! reports; [`exports`] turns an untrusted CSV export into fact batches
//! with the schemas of `audit_store::facts`, counting what it could not
//! read instead of failing; [`pyliteral`] reads the Python-literal
//! `metrics` column.

#![warn(missing_docs)]

mod chain_source;
pub mod exports;
mod http_source;
pub mod pipeline;
pub mod pyliteral;
pub mod report;
pub mod source;
mod verify;

pub use chain_source::SubtensorChain;
pub use exports::{parse_export, ExportError, ParseStats, BATCH_ROWS};
pub use pipeline::{
    expected_entry_id, sync, Fault, FaultKind, Rejection, SyncError, SyncOptions, SyncSummary,
};
pub use source::{AuditSource, ChainSource, Commitment, Fetched, SourceError, SourceErrorKind};
pub use verify::{verify_entry, EntryProof, VerifiedExport};
