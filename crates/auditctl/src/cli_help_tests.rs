//! Every command's `--help`, rendered from the clap definitions, as a
//! snapshot: a change in what `--help` tells people is reviewed as a diff.
//! The walk covers every subcommand by construction, so a new one gets
//! its snapshot (and fails until it is accepted).

use clap::CommandFactory;

use crate::cli::Cli;

/// The width `--help` wraps at when stdout is not a terminal.
const WIDTH: usize = 100;

/// Each command's full name (`auditctl synth verify`) and its `--help`.
fn every_help() -> Vec<(String, String)> {
    let mut root = Cli::command().term_width(WIDTH);
    root.build();
    let mut helps = Vec::new();
    walk(&mut root, &mut helps);
    helps
}

fn walk(command: &mut clap::Command, helps: &mut Vec<(String, String)>) {
    let name = command
        .get_bin_name()
        .unwrap_or(command.get_name())
        .to_string();
    let help = command.clone().term_width(WIDTH).render_long_help();
    helps.push((name, without_env_values(&help.to_string())));
    for sub in command.get_subcommands_mut() {
        // clap's own `help` subcommand says nothing of ours.
        if sub.get_name() != "help" {
            walk(sub, helps);
        }
    }
}

/// `[env: AUDITCTL_CONFIG=/x]` as `[env: AUDITCTL_CONFIG=]`: clap shows a
/// variable's value when the test's environment happens to set it.
fn without_env_values(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut rest = help;
    while let Some(at) = rest.find("[env: ") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let end = from.find(']').unwrap_or(from.len());
        let variable = &from[..end];
        match variable.find('=') {
            Some(eq) => out.push_str(&variable[..=eq]),
            None => out.push_str(variable),
        }
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_command_s_help_reads_as_reviewed() {
    let helps = every_help();
    // The root, every subcommand and the nested ones (`config check`,
    // `devnet generate`, `synth verify`, ...).
    assert!(
        helps.len() > 15,
        "{:?}",
        helps.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    for (name, help) in helps {
        assert!(
            !help.chars().any(|c| c.is_control() && c != '\n'),
            "{name}: a control character in --help"
        );
        insta::assert_snapshot!(format!("help {name}").replace(' ', "_"), help);
    }
}

#[test]
fn an_env_value_is_left_out_of_the_snapshot() {
    assert_eq!(
        without_env_values("a [env: X=/secret] b [env: Y=] c"),
        "a [env: X=] b [env: Y=] c"
    );
}
