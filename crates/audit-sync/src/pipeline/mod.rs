//! The ingest pipeline: list → download → verify → parse → load.
//!
//! The network and the chain come in through two traits, [`AuditSource`](crate::AuditSource)
//! and [`ChainSource`](crate::ChainSource), so the same pipeline runs against the public
//! network, the devnet, or an in-memory fake in a unit test.
//!
//! One entry goes through [`load_entry`](entry::load_entry)'s steps: fetch the report, verify
//! it against the chain commitment made at the entry's own block, verify
//! each export against the report while it streams to a staging file in
//! the lake, parse, write the facts, mark the catalog. A step that fails
//! says how, as a [`Fault`]: *integrity* (the data is not what was
//! committed: rejected, exit code 3 for validator data), *malformed*
//! (committed but unusable: rejected with the reason), *transient* (the
//! network or the chain failed: retried next run), or *store* (the local
//! store failed: the run stops).
//!
//! Order of writes, for crash safety: raw evidence and Parquet facts go to
//! the lake first (each file atomically), and the catalog marks the entry
//! loaded last, in one transaction. A crash anywhere leaves the entry not
//! loaded; the next run redoes it, overwriting its files, so there are no
//! duplicates, and [`audit_store::Lake::clean_leftovers_except`] removes
//! any half-written temporary file. Miners' self-reports are written
//! unsynced and made durable a batch at a time, before the catalog marks
//! the batch loaded. Every run also checks, with one directory
//! listing, that each loaded entry still has its lake folder, and sends
//! the ones that lost it back to `pending`.

mod batch;
mod blocking;
mod checks;
mod entry;
mod fault;
mod options;
mod run;
mod straddling;
mod summary;

pub use self::checks::expected_entry_id;
pub use self::fault::{Fault, FaultKind, Rejection, SyncError};
pub use self::options::SyncOptions;
pub use self::run::sync;
pub use self::summary::SyncSummary;

pub(crate) use self::blocking::off_runtime;
pub(crate) use self::checks::{fetch_report, read_report, verify_commitment, Verdict};
