//! Logs to stderr through `tracing`, masked and escaped: results go to
//! stdout through `audit_view::output`. Colour is for terminals only, and
//! never under `NO_COLOR`.

use std::fmt;
use std::io::IsTerminal;

use audit_model::terminal::{escape_control, escape_control_multiline};
use audit_view::output::json_controls;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;

/// Logs go to stderr so stdout stays clean for tables and JSON.
/// `RUST_LOG` wins over -v/-q. `json` writes one object per line for log
/// collectors (`run` under docker or systemd).
pub fn init_logging(verbose: u8, quiet: u8, format: crate::cli::LogFormat) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "error",
        _ => "off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let json = matches!(format, crate::cli::LogFormat::Json);
    let ansi = !json
        && colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || MaskedStderr { json, ansi })
        .with_ansi(ansi)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.fmt_fields(EscapedFields::default()).try_init()
    };
}

/// Whether output may be coloured: only on a terminal (a file or a pipe
/// would keep the codes as bytes), and not when `NO_COLOR` is set to
/// anything but the empty string (no-color.org).
pub fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Log fields with their terminal controls escaped, newlines included: an
/// error body or a hotkey from the network can neither drive the terminal
/// nor forge a log line of its own. (tracing escapes ESC in messages only,
/// not CR, NUL or newlines, nor other fields written with `%`.)
#[derive(Default)]
struct EscapedFields(DefaultFields);

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut text = String::new();
        self.0.format_fields(Writer::new(&mut text), fields)?;
        writer.write_str(&escape_control(&text))
    }
}

/// Stderr with every secret masked on the way out: a library that logs a
/// URL with credentials, or an error quoting one, is masked here once.
/// Without colour, nothing the formatter writes may drive the terminal
/// either; JSON lines get their non-ASCII controls escaped as JSON.
struct MaskedStderr {
    json: bool,
    ansi: bool,
}

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = audit_store::redact(&String::from_utf8_lossy(buf));
        let text = if self.json {
            json_controls(&text)
        } else if self.ansi {
            text
        } else {
            escape_control_multiline(&text).into_owned()
        };
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal_and_never_under_no_color() {
        use std::ffi::OsStr;
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some(OsStr::new(""))));
        assert!(!super::colour(true, Some(OsStr::new("1"))));
        assert!(!super::colour(false, None));
    }
}
