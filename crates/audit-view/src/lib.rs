//! The human text of the auditor's results: tables and summaries, built
//! from what the library entry points return (`--json` prints the same
//! values as JSON, through [`output::json`]). Everything shown goes
//! through [`output`]'s escaping: a value from the network is shown,
//! never obeyed. `auditctl` prints what these functions return; they
//! return strings, so tests can snapshot them.
//!
//! ```
//! let mut table = audit_view::output::table(["hotkey", "count"]);
//! table.add_row(["5Grw\u{1b}[31m", "22"]);
//! audit_view::output::align_right(&mut table, &[1]);
//! let shown = table.to_string();
//! assert!(shown.contains("5Grw\\u{1b}[31m") && !shown.contains('\u{1b}'));
//! assert_eq!(audit_view::output::bytes(1536), "1.5 KiB");
//! ```

#![warn(missing_docs)]

pub mod compare_prom;
pub mod output;
pub mod sending;
pub mod service;
pub mod status;
pub mod sync;
pub mod synth;
pub mod weights;
