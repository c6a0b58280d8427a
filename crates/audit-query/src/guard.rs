//! The read-only check: one `SELECT`/`WITH` query whose relations are the
//! registered tables (or its own CTEs and subqueries). polars' SQL front
//! end also offers `read_csv('/any/path')`-style table functions and
//! statements that change its table registry; a query from a user or a
//! dashboard reads the lake and the catalog and nothing else.

use std::ops::ControlFlow;

use sqlparser::ast::{Select, Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use crate::QueryError;

/// Parses `sql` the way polars will and refuses anything but one query
/// that reads tables by name.
pub(crate) fn check_read_only(sql: &str) -> Result<(), QueryError> {
    let statements = Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| QueryError::Syntax(e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(QueryError::Refused(format!(
            "one query at a time, found {} statements",
            statements.len()
        )));
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(QueryError::Refused(
            "only SELECT (or WITH … SELECT) queries run here; the lake and the catalog are read-only"
                .into(),
        ));
    }
    match statement.visit(&mut OnlyNamedTables) {
        ControlFlow::Break(why) => Err(QueryError::Refused(why)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct OnlyNamedTables;

impl Visitor for OnlyNamedTables {
    type Break = String;

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table { args: None, .. } => ControlFlow::Continue(()),
            TableFactor::Table { name, .. } => ControlFlow::Break(format!(
                "`{name}(…)` reads outside the lake: query the tables by name"
            )),
            TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. } => ControlFlow::Continue(()),
            other => ControlFlow::Break(format!(
                "`{other}` is not supported here: query the tables by name"
            )),
        }
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        match &select.into {
            Some(into) => ControlFlow::Break(format!(
                "SELECT … INTO {} would create a table; this is read-only",
                into.name
            )),
            None => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> String {
        match check_read_only(sql) {
            Err(QueryError::Refused(why)) => why,
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn plain_queries_pass() {
        for sql in [
            "SELECT * FROM invocations",
            "WITH c AS (SELECT invocation_id FROM reports WHERE confirmed_at IS NOT NULL) \
             SELECT i.miner_hotkey, count(*) FROM invocations i LEFT JOIN c \
             ON i.parent_invocation_id = c.invocation_id GROUP BY 1",
            "SELECT * FROM (SELECT hotkey FROM metagraph_nodes) AS m",
        ] {
            check_read_only(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn files_and_writes_are_refused() {
        assert!(refused("SELECT * FROM read_csv('/etc/passwd')").contains("read_csv"));
        assert!(refused(
            "SELECT * FROM invocations WHERE invocation_id IN \
             (SELECT * FROM read_parquet('/tmp/x.parquet'))"
        )
        .contains("read_parquet"));
        assert!(refused(
            "WITH read_parquet AS (SELECT 1) SELECT * FROM read_parquet('/etc/shadow')"
        )
        .contains("read_parquet"));
        for sql in [
            "CREATE TABLE t AS SELECT * FROM invocations",
            "DROP TABLE invocations",
            "DELETE FROM invocations",
            "TRUNCATE invocations",
            "COPY invocations TO '/tmp/out.csv'",
            "SELECT 1; SELECT 2",
        ] {
            refused(sql);
        }
        assert!(refused("SELECT * INTO t FROM invocations").contains("INTO"));
    }
}
