//! The human text of each command's result: tables and summaries, built
//! from what the library entry points return (`--json` prints the same
//! values as JSON). Everything shown goes through `output`'s escaping.

pub mod compare_prom;
pub mod sending;
pub mod status;
pub mod sync;
pub mod synth;
pub mod weights;
