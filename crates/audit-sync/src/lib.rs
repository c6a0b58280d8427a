//! The verified ingest of Chutes audit data.
//!
//! Only data proven authentic gets in: each report must match its on-chain
//! commitment and each CSV export its sha256 in the report before anything
//! is parsed. This crate holds the parsing side: [`pyliteral`] reads the
//! Python-literal `metrics` column, and [`exports`] turns an untrusted CSV
//! export into fact batches with the schemas of `audit_store::facts`,
//! counting what it could not read instead of failing.

pub mod exports;
pub mod pyliteral;

pub use exports::{parse_export, ExportError, ParseStats, BATCH_ROWS};
