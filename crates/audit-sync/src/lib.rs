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
//!
//! ```
//! use audit_sync::pyliteral::{parse, PyValue};
//!
//! // An export's `metrics` cell is a Python literal, read without `eval`.
//! let metrics = parse("{'ttft': 0.25, 'tokens': 512, 'cached': True}").unwrap();
//! let PyValue::Dict(pairs) = metrics else {
//!     panic!("a dict")
//! };
//! assert_eq!(pairs[1].1.as_f64(), Some(512.0));
//! assert!(parse("__import__('os')").is_err());
//!
//! // An entry's id is derived from the validator's hotkey and the block
//! // of its commitment: the pipeline refuses a listing naming another.
//! let hotkey = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
//! let id = audit_sync::expected_entry_id(hotkey, 4_800_300);
//! assert_eq!(id, audit_sync::expected_entry_id(hotkey, 4_800_300));
//! assert_ne!(id, audit_sync::expected_entry_id(hotkey, 4_800_301));
//! ```

#![warn(missing_docs)]

mod chain_source;
pub mod exports;
mod http_source;
pub mod pipeline;
pub mod pyliteral;
pub mod report;
pub mod source;
mod verify;

pub use chain_source::{ConnectError, SubtensorChain};
pub use exports::{parse_export, ExportError, ParseStats, BATCH_ROWS};
pub use pipeline::{
    expected_entry_id, sync, Fault, FaultKind, Rejection, SyncError, SyncOptions, SyncSummary,
};
pub use source::{AuditSource, ChainSource, Commitment, Fetched, SourceError, SourceErrorKind};
pub use verify::{verify_entry, EntryProof, VerifiedExport};
