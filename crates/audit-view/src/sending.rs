//! What sending weights shows: the previous commit's reveal, earlier
//! sends resolved, the plan, and the submission's outcome.

use audit_run::{PlanView, PreviousCommit, Sending, SendingAction};
use audit_store::{SendResolution, SubmissionOutcome, WeightsSubmissionRecord};

use crate::output;

/// The sending part of the text output.
pub fn render(sending: &Sending) -> String {
    let mut out = String::new();
    if let Some(previous) = &sending.previous_commit {
        out.push_str(&render_previous(previous));
    }
    for earlier in &sending.earlier_sends {
        out.push_str(&render_earlier(earlier));
    }
    match &sending.action {
        SendingAction::NotEnabled => out.push_str(
            "not sent: set_weights.enabled is false (`--dry-run` shows what would be sent)\n",
        ),
        SendingAction::DryRun {
            plan: Some(plan), ..
        } => {
            out.push_str("dry run, nothing sent; would send:\n");
            out.push_str(&render_plan(plan));
        }
        SendingAction::DryRun { refused, .. } => out.push_str(&format!(
            "dry run, nothing sent; would not send: {}\n",
            refused.as_deref().unwrap_or("no plan")
        )),
        SendingAction::Attempted { plan, submission } => {
            if let Some(plan) = plan {
                out.push_str(&render_plan(plan));
            }
            out.push_str(&render_submission(submission));
        }
    }
    out
}

fn render_previous(previous: &PreviousCommit) -> String {
    let id = previous.submission_id;
    match (previous.outcome, &previous.error) {
        (Some(SubmissionOutcome::Revealed), _) => {
            format!("previous commit (submission {id}): revealed, Weights on chain equals it\n")
        }
        (Some(SubmissionOutcome::Dropped), _) => format!(
            "previous commit (submission {id}): NOT REVEALED: it left the queue and Weights does \
             not hold it; the chain dropped it at reveal (wrong beacon key, round or payload)\n"
        ),
        (Some(_), _) => format!("previous commit (submission {id}): still awaiting its reveal\n"),
        (None, error) => format!(
            "previous commit (submission {id}): reveal not checked: {}\n",
            error.as_deref().unwrap_or("unknown")
        ),
    }
}

fn render_earlier(r: &SendResolution) -> String {
    let id = r.submission_id;
    let what = match r.outcome {
        SubmissionOutcome::Landed => "landed",
        SubmissionOutcome::Committed => "committed",
        SubmissionOutcome::Expired => "EXPIRED, never landed",
        SubmissionOutcome::Unknown => "STILL UNKNOWN",
        _ => "UNCONFIRMED",
    };
    format!(
        "earlier send (submission {id}) of unknown fate: {what}: {}\n",
        r.reason
    )
}

fn render_submission(s: &WeightsSubmissionRecord) -> String {
    let reason = s.reason.as_deref().unwrap_or("");
    let head = match s.outcome {
        SubmissionOutcome::Landed => "sent: landed, Weights on chain equals what was sent".into(),
        SubmissionOutcome::Committed => {
            "committed: the chain will reveal it at its round (the next run checks)".into()
        }
        SubmissionOutcome::Revealed => "committed and revealed: Weights on chain equals it".into(),
        SubmissionOutcome::Dropped => {
            "committed, then NOT REVEALED: the chain dropped it at reveal".into()
        }
        SubmissionOutcome::Differs => format!("sent, but Weights on chain DIFFERS: {reason}"),
        SubmissionOutcome::Unconfirmed => format!("sent, not confirmed: {reason}"),
        SubmissionOutcome::ChainRefused => {
            format!("not sent: the chain refused the call (not retried): {reason}")
        }
        SubmissionOutcome::TransportError => {
            format!("not sent: the node could not be reached: {reason}")
        }
        SubmissionOutcome::MalformedAnswer => {
            format!("the node answered malformed data: {reason}")
        }
        SubmissionOutcome::Unknown => format!(
            "sent, NOT CONFIRMED: {reason}; recorded as unknown, the next run resolves it \
             before sending again"
        ),
        SubmissionOutcome::Expired => format!("sent, never landed (expired): {reason}"),
        SubmissionOutcome::PreconditionRefused => format!("not sent: {reason}"),
        SubmissionOutcome::IntegrityViolation => format!(
            "INTEGRITY VIOLATION: a chain read did not prove against its block; nothing \
             the node said is taken: {reason} (exit code 3)"
        ),
    };
    let mut out = format!(
        "{head}\n  submission {} of run {}, {} tr{}\n",
        s.submission_id,
        s.run_id,
        s.tries,
        if s.tries == 1 { "y" } else { "ies" }
    );
    match (&s.extrinsic_hash, s.block) {
        (Some(hash), Some(block)) => {
            out.push_str(&format!("  extrinsic {hash} in block {block}\n"));
        }
        (Some(hash), None) => out.push_str(&format!(
            "  extrinsic {hash}, nonce {}, valid from block {} for {} blocks\n",
            show(s.nonce),
            show(s.era_birth),
            show(s.era_period)
        )),
        _ => {}
    }
    out
}

fn show<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "?".to_string(), |v| v.to_string())
}

fn render_plan(plan: &PlanView) -> String {
    let key_from = match plan.version_key_source {
        "chain" => "the chain's WeightsVersionKey",
        _ => "set_weights.version_key",
    };
    let mut out = format!(
        "  {} on subnet {} from uid {} (version key {} from {key_from}, chain block {})\n",
        plan.call, plan.netuid, plan.sender_uid, plan.version_key, plan.block
    );
    if let (Some(round), Some(at)) = (plan.reveal_round, plan.reveal_expected_at_unix) {
        let when = i64::try_from(at)
            .ok()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| at.to_string());
        out.push_str(&format!("  reveal round {round}, expected at {when}\n"));
    }
    let mut table = output::table(["uid", "weight (u16)"]);
    for (uid, value) in &plan.weights {
        table.add_row([uid.to_string(), value.to_string()]);
    }
    output::align_right(&mut table, &[0, 1]);
    out.push_str(&format!("{table}\n"));
    if !plan.skipped_hotkeys.is_empty() {
        out.push_str(&format!(
            "  skipped (not on the metagraph now): {}\n",
            plan.skipped_hotkeys.join(", ")
        ));
    }
    out
}
