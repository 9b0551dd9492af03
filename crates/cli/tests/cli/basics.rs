//! Help, usage errors, completions, and failures before any database work.

use clap::CommandFactory;
use seam_cli::args::Cli;

use crate::common::{command, run, seam_without_db};

fn assert_examples(cmd: &clap::Command, path: &str) {
    for sub in cmd.get_subcommands() {
        let path = format!("{path} {}", sub.get_name());
        let help = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(help.contains("Example"), "`{path} --help` has no example");
        assert_examples(sub, &path);
    }
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let cmd = Cli::command();
    cmd.clone().debug_assert();
    assert_examples(&cmd, "seam");
}

#[tokio::test]
async fn help_and_version_exit_0() {
    let out = seam_without_db(&["--help"]).await;
    out.ok()
        .out_has("seam runs list --stuck")
        .out_has("Exit codes");
    let out = seam_without_db(&["runs", "show", "--help"]).await;
    out.ok().out_has("Examples:");
    seam_without_db(&["--version"]).await.ok().out_has("seam ");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let id = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
    for (args, says) in [
        (vec!["nope"], "unrecognized subcommand"),
        (vec!["runs", "list", "--older-than", "2y"], "unknown unit"),
        (vec!["runs", "list", "--status", "stuck"], "possible values"),
        (
            vec!["runs", "start", "hello-order", "--input", "{bad"],
            "not valid JSON",
        ),
        (vec!["runs", "start", "no-such-workflow"], "possible values"),
        (vec!["runs", "show", "not-a-run"], "not a run id"),
        (vec!["runs", "show", "3f2a1b"], "too short"),
        (vec!["runs", "cancel", "--reason", "x"], "required"),
        (
            vec!["runs", "cancel", id, "--status", "waiting", "--reason", "x"],
            "cannot be used with",
        ),
        (vec!["runs", "retry", id], "--reason"),
        (vec!["completions", "tcsh"], "invalid value"),
    ] {
        let out = seam_without_db(&args).await;
        out.code(2).err_has(says);
    }
}

#[tokio::test]
async fn completions_are_printed_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef seam"),
        ("fish", "complete -c seam"),
    ] {
        let out = seam_without_db(&["completions", shell]).await;
        out.ok().out_has(marker).out_has("complete-wait");
    }
}

#[tokio::test]
async fn missing_database_is_a_clear_failure() {
    let out = seam_without_db(&["runs", "list"]).await;
    out.code(1)
        .err_has("no database configured")
        .err_has("DATABASE_URL");
}

#[tokio::test]
async fn unreachable_database_exits_1_without_a_panic() {
    let mut cmd = command(&["doctor"]);
    cmd.env(
        "DATABASE_URL",
        "postgres://postgres:secret@127.0.0.1:1/nowhere",
    );
    let out = run(cmd).await;
    out.code(1)
        .err_has("cannot connect to the database at postgres://postgres:***@127.0.0.1:1/nowhere");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("secret"),
        "password leaked: {}",
        out.stderr
    );
}
