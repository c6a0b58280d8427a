//! What `run` (and the demo) show when the service stops: each stage's
//! runs and its last line.

use audit_service::{ServiceSummary, StageTally};

use crate::output;

/// Each stage's runs and its last line.
pub fn render(summary: &ServiceSummary) -> String {
    let mut table = output::table(["stage", "succeeded", "failed", "last"]);
    for (name, tally) in &summary.stages {
        table.add_row([
            name.clone(),
            tally.succeeded.to_string(),
            tally.failed.to_string(),
            last_line(tally),
        ]);
    }
    output::align_right(&mut table, &[1, 2]);
    format!(
        "{} cycle(s): {} stage run(s) succeeded, {} failed\n{table}\n",
        summary.cycles, summary.succeeded, summary.failed
    )
}

fn last_line(tally: &StageTally) -> String {
    match (&tally.last_summary, &tally.last_error) {
        (Some(line), _) => line.clone(),
        (None, Some(error)) => format!("failed: {error}"),
        (None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closing_table_names_each_stage_and_its_last_line() {
        let mut summary = ServiceSummary {
            cycles: 3,
            succeeded: 5,
            failed: 1,
            ..ServiceSummary::default()
        };
        summary.stages.insert(
            "sync".into(),
            StageTally {
                succeeded: 2,
                failed: 1,
                last_summary: Some("synced: 2 loaded".into()),
                last_error: Some("GET /audit/: 503".into()),
            },
        );
        summary.stages.insert(
            "weights".into(),
            StageTally {
                succeeded: 0,
                failed: 1,
                last_summary: None,
                last_error: Some("refused: rate limit".into()),
            },
        );
        insta::assert_snapshot!(render(&summary));
    }
}
