//! Statements that write many audit entries at once: a week's listing and
//! a batch of loaded self-reports are ten thousand rows, and a statement
//! each was a round trip each on PostgreSQL (and a hop to SQLite's
//! blocking thread). diesel-async builds no multi-row insert for SQLite
//! nor an update from a list of values, so these two are written here,
//! once for both backends: every value is a bound parameter, and both
//! engines name a `VALUES` list's columns `column1`, `column2`, ...

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, Text, Timestamp};
use diesel::QueryResult;

use super::model::LoadedEntry;
use super::rows::to_i64;
use audit_model::{AuditEntry, EntryState};

/// Rows per statement: under SQLite's 32,766 bound parameters and
/// PostgreSQL's 65,535 (eleven a listed entry, five a loaded one).
pub(super) const ROWS_PER_STATEMENT: usize = 1024;

/// What both backends must bind for these statements.
pub(super) trait Binds:
    Backend + HasSqlType<Text> + HasSqlType<Bool> + HasSqlType<BigInt> + HasSqlType<Timestamp>
{
}

impl<DB> Binds for DB where
    DB: Backend + HasSqlType<Text> + HasSqlType<Bool> + HasSqlType<BigInt> + HasSqlType<Timestamp>
{
}

/// `INSERT ... VALUES (...), (...) ON CONFLICT (entry_id) DO NOTHING`:
/// newly listed entries as pending, those known already untouched.
pub(super) struct InsertListed<'a> {
    entries: &'a [&'a AuditEntry],
    blocks: Vec<i64>,
    now: NaiveDateTime,
}

impl<'a> InsertListed<'a> {
    /// At most [`ROWS_PER_STATEMENT`] entries.
    pub(super) fn new(entries: &'a [&'a AuditEntry], now: NaiveDateTime) -> Self {
        debug_assert!(entries.len() <= ROWS_PER_STATEMENT);
        InsertListed {
            entries,
            blocks: entries.iter().map(|e| i64::from(e.block)).collect(),
            now,
        }
    }
}

impl QueryId for InsertListed<'_> {
    type QueryId = ();
    // The text changes with the number of rows: not worth caching.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Binds> QueryFragment<DB> for InsertListed<'_>
where
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(
            "INSERT INTO audit_entries (entry_id, hotkey, block, path, source, created_at, \
             start_time, end_time, state, first_seen_at, updated_at) VALUES ",
        );
        for (i, (entry, block)) in self.entries.iter().zip(&self.blocks).enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, str>(&entry.entry_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(&entry.hotkey)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(block)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(&entry.path)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(entry.source.as_str())?;
            for time in [&entry.created_at, &entry.start_time, &entry.end_time] {
                out.push_sql(", ");
                out.push_bind_param::<Timestamp, NaiveDateTime>(time)?;
            }
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(EntryState::Pending.as_str())?;
            for time in [&self.now, &self.now] {
                out.push_sql(", ");
                out.push_bind_param::<Timestamp, NaiveDateTime>(time)?;
            }
            out.push_sql(")");
        }
        out.push_sql(" ON CONFLICT (entry_id) DO NOTHING");
        Ok(())
    }
}

/// One loaded entry's values in [`MarkLoaded`].
struct LoadedValues<'a> {
    entry_id: &'a str,
    unverifiable: bool,
    report_sha256: &'a str,
    instance_rows: i64,
    commitment_proven: Option<bool>,
}

/// `UPDATE audit_entries ... FROM (VALUES ...)`: entries marked loaded
/// with their verdicts, an attempt counted each. Returns (as its count)
/// how many entries it found.
pub(super) struct MarkLoaded<'a> {
    rows: Vec<LoadedValues<'a>>,
    now: NaiveDateTime,
}

impl<'a> MarkLoaded<'a> {
    /// At most [`ROWS_PER_STATEMENT`] entries.
    pub(super) fn new(entries: &'a [(&'a str, &'a LoadedEntry)], now: NaiveDateTime) -> Self {
        debug_assert!(entries.len() <= ROWS_PER_STATEMENT);
        let rows = entries
            .iter()
            .map(|(entry_id, loaded)| LoadedValues {
                entry_id,
                unverifiable: loaded.unverifiable,
                report_sha256: &loaded.report_sha256,
                instance_rows: to_i64(loaded.instance_rows),
                commitment_proven: loaded.commitment_proven,
            })
            .collect();
        MarkLoaded { rows, now }
    }
}

impl QueryId for MarkLoaded<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Binds> QueryFragment<DB> for MarkLoaded<'_>
where
    str: ToSql<Text, DB>,
    bool: ToSql<Bool, DB>,
    Option<bool>: ToSql<Nullable<Bool>, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("UPDATE audit_entries SET state = ");
        out.push_bind_param::<Text, str>(EntryState::Loaded.as_str())?;
        out.push_sql(
            ", unverifiable = loaded.column2, report_sha256 = loaded.column3, \
             reject_reason = NULL, instance_rows = loaded.column4, \
             commitment_proven = COALESCE(loaded.column5, audit_entries.commitment_proven), \
             attempts = audit_entries.attempts + 1, updated_at = ",
        );
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.now)?;
        out.push_sql(", loaded_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.now)?;
        out.push_sql(" FROM (VALUES ");
        for (i, row) in self.rows.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, str>(row.entry_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Bool, bool>(&row.unverifiable)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(row.report_sha256)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(&row.instance_rows)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Bool>, Option<bool>>(&row.commitment_proven)?;
            out.push_sql(")");
        }
        out.push_sql(") AS loaded WHERE audit_entries.entry_id = loaded.column1");
        Ok(())
    }
}
