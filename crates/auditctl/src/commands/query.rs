//! `auditctl query SQL`: one read-only query over the lake and the
//! catalog under upstream's table names (`audit_query`), rendered as a
//! table or written as CSV, JSON or Parquet.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};
use audit_query::{Format, Scope};

use crate::cli::{Global, QueryArgs, QueryFormat};
use crate::exit;
use audit_view::output;

pub async fn run(global: &Global, args: &QueryArgs) -> Result<u8> {
    let config = crate::configuration::load_config(global)?;
    let window = match args.window {
        Some(w) => chrono::Duration::from_std(w).context("--window is too long")?,
        None => chrono::Duration::days(i64::from(config.scoring.window_days)),
    };
    let format = match (args.format, global.json) {
        (_, true) | (QueryFormat::Json, _) => Some(Format::Json),
        (QueryFormat::Csv, _) => Some(Format::Csv),
        (QueryFormat::Parquet, _) => Some(Format::Parquet),
        (QueryFormat::Table, _) => None,
    };
    if format == Some(Format::Parquet) && args.out.is_none() && std::io::stdout().is_terminal() {
        bail!("Parquet is binary: give --out FILE or redirect stdout");
    }
    let scope = Scope {
        at: args.at.unwrap_or_else(|| chrono::Utc::now().naive_utc()),
        window,
        validators: config.validators.iter().map(|v| v.hotkey.clone()).collect(),
        netuid: config.netuid,
    };
    // A reader: it takes no lock and writes nothing.
    let store = audit_run::open_store(&config, None).await?;
    let result = match audit_query::query(&store, &scope, &args.sql).await {
        Ok(result) => result,
        Err(
            e @ (audit_query::QueryError::Syntax(_)
            | audit_query::QueryError::Refused(_)
            | audit_query::QueryError::Engine(_)),
        ) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
        Err(e) => return Err(e.into()),
    };
    let mut sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        Some(format) => result.write(format, &mut sink)?,
        None => {
            let mut table = output::table(result.columns());
            for row in result.rows() {
                // Cells come from the network: no terminal control codes.
                table.add_row(row.iter().map(|cell| printable(cell)));
            }
            writeln!(sink, "{table}")?;
            writeln!(
                sink,
                "{} row{}",
                result.height(),
                if result.height() == 1 { "" } else { "s" }
            )?;
        }
    }
    sink.flush()?;
    Ok(exit::SUCCESS)
}

/// A cell with control characters shown as escapes.
fn printable(cell: &str) -> String {
    if cell.chars().any(char::is_control) {
        cell.escape_debug().to_string()
    } else {
        cell.to_string()
    }
}
