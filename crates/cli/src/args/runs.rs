//! The `seam runs` family: start, list, show, history, watch, and the repairs.

use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use seam_engine::RunStatus;
use serde_json::Value;

use super::parse::{self, RunRef};

/// `seam runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RunsCommand,
}

/// The `seam runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Start a run of a workflow built into this binary.
    #[command(
        after_help = "Examples:\n  seam runs start hello-order --input '{\"order\": \
\"A-1\", \"qty\": 2}'\n  seam runs start approval --input '{\"document\": \"spring-catalog\"}' \
--idempotency-key spring-2025"
    )]
    Start(StartArgs),
    /// List runs, newest first.
    #[command(
        after_help = "Examples:\n  seam runs list --stuck\n  seam runs list --status \
waiting --workflow approval --older-than 2h\n  seam runs list --status failed,\
compensation_failed --limit 20 --json"
    )]
    List(ListArgs),
    /// Show one run: where it is and why, its steps, wait, children, recent history, and the
    /// commands that would move it on.
    #[command(after_help = "Examples:\n  seam runs show 3f2a1b4c\n  seam runs show \
3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b --json")]
    Show(ShowArgs),
    /// The run's full event log, with who caused each event.
    #[command(
        after_help = "Examples:\n  seam runs history 3f2a1b4c\n  seam runs history \
3f2a1b4c --follow"
    )]
    History(HistoryArgs),
    /// Live progress of a run until it ends. Exit 0 if it completes, 1 otherwise.
    #[command(after_help = "Example:\n  seam runs watch 3f2a1b4c")]
    Watch(WatchArgs),
    /// Run a dead job, or one waiting out a retry backoff, now (with fresh attempts). A
    /// `compensation_failed` run goes back to compensating.
    #[command(
        after_help = "Examples:\n  seam runs retry 3f2a1b4c --reason \"feed fixed\"\n  \
seam runs retry --stuck --workflow flaky-import --reason \"feed fixed\" --dry-run"
    )]
    Retry(RetryArgs),
    /// Skip the step the run is at as if it succeeded with --output (or, while compensating,
    /// skip that step's compensation). Child runs of a skipped children step are cancelled,
    /// with compensation.
    #[command(
        after_help = "Example:\n  seam runs skip 3f2a1b4c --step import --output \
'{\"imported\": 0}' --reason \"imported by hand\" --yes"
    )]
    Skip(SkipArgs),
    /// End the wait (or sleep) the run is in as if it completed with --output.
    #[command(
        after_help = "Example:\n  seam runs complete-wait 3f2a1b4c --output '{\"by\": \
\"alice\"}' --reason \"approved by phone\""
    )]
    CompleteWait(CompleteWaitArgs),
    /// Fail the wait (or sleep) the run is in: compensations run, the run ends failed.
    #[command(
        after_help = "Example:\n  seam runs fail-wait 3f2a1b4c --reason \"partner \
declined\" --yes"
    )]
    FailWait(FailWaitArgs),
    /// Restart the run at an earlier (or any) step, in a new iteration. Works on ended runs.
    /// Child runs still working for the step it leaves are cancelled, with compensation.
    #[command(
        after_help = "Example:\n  seam runs rewind 3f2a1b4c --to charge_card --reason \
\"card re-authorised\" --yes"
    )]
    Rewind(RewindArgs),
    /// Pause the run: none of its jobs is claimed until it is resumed.
    #[command(
        after_help = "Examples:\n  seam runs pause 3f2a1b4c --reason \"investigating\"\n  \
seam runs pause --workflow hello-order --status running --reason \"carrier outage\""
    )]
    Pause(PauseArgs),
    /// Resume a paused run where it was.
    #[command(after_help = "Example:\n  seam runs resume 3f2a1b4c --reason \"carrier back\"")]
    Resume(PauseArgs),
    /// Cancel the run: compensate its succeeded steps (default), or abandon it as it is.
    #[command(
        after_help = "Examples:\n  seam runs cancel 3f2a1b4c --reason \"order withdrawn\" \
--yes\n  seam runs cancel --status waiting --workflow approval --older-than 7d --reason \
\"stale\" --dry-run"
    )]
    Cancel(CancelArgs),
    /// Send a signal to a run (kept until a wait for it consumes it).
    #[command(
        after_help = "Example:\n  seam runs signal 3f2a1b4c approve --payload '{\"by\": \
\"alice\"}'"
    )]
    Signal(SignalArgs),
}

/// Which runs: the filters of `seam runs list` and the bulk repairs.
#[derive(Debug, Clone, Default, Args)]
pub struct Filters {
    /// Only runs in these statuses (comma-separated or repeated).
    #[arg(long, value_parser = parse::status(), value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<RunStatus>,
    /// Only runs of this workflow.
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Only stuck runs (the rules of `seam doctor`).
    #[arg(long)]
    pub stuck: bool,
    /// Only runs started longer ago than this (e.g. 90s, 30m, 2h, 1d).
    #[arg(long, value_parser = parse::duration, value_name = "AGE")]
    pub older_than: Option<Duration>,
}

impl Filters {
    /// True when no filter is given.
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
            && self.workflow.is_none()
            && !self.stuck
            && self.older_than.is_none()
    }
}

/// `seam runs start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Workflow to start.
    #[arg(value_parser = PossibleValuesParser::new(crate::examples::NAMES))]
    pub workflow: String,
    /// The run's input, as JSON.
    #[arg(long, value_parser = parse::json, default_value = "{}", value_name = "JSON")]
    pub input: Value,
    /// Starting again with the same key returns the first run instead of a new one.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `seam runs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which runs.
    #[command(flatten)]
    pub filters: Filters,
    /// Most runs to list.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

/// `seam runs show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run: its id, or a unique prefix of at least 8 hex digits.
    #[arg(value_parser = parse::run_ref)]
    pub run: RunRef,
    /// How many of the latest history events to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub events: i64,
}

/// `seam runs history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The run: its id, or a unique prefix of at least 8 hex digits.
    #[arg(value_parser = parse::run_ref)]
    pub run: RunRef,
    /// Keep printing new events until the run ends (Ctrl-C to stop).
    #[arg(short, long)]
    pub follow: bool,
}

/// `seam runs watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run: its id, or a unique prefix of at least 8 hex digits.
    #[arg(value_parser = parse::run_ref)]
    pub run: RunRef,
    /// How often to look.
    #[arg(long, default_value = "250ms", value_parser = parse::duration)]
    pub interval: Duration,
}

/// The run(s) a repair acts on, why, and whether only to show what would change.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The run: its id or a unique prefix of 8+ hex digits. Leave it out and give filters to
    /// act on every matching run.
    #[arg(
        value_parser = parse::run_ref,
        required_unless_present_any = ["status", "workflow", "stuck", "older_than"],
        conflicts_with_all = ["status", "workflow", "stuck", "older_than"]
    )]
    pub run: Option<RunRef>,
    /// Which runs (bulk form).
    #[command(flatten)]
    pub filters: Filters,
    /// Bulk form: most runs to act on.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Why: recorded in the run's history with your name.
    #[arg(short, long)]
    pub reason: String,
    /// Print what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Confirmation of a destructive repair.
#[derive(Debug, Clone, Args)]
pub struct Confirm {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
}

/// `seam runs retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
}

/// `seam runs skip`.
#[derive(Debug, Args)]
pub struct SkipArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
    /// The step to skip: where the run is (or, compensating, the step whose compensation to
    /// skip).
    #[arg(long)]
    pub step: String,
    /// The output the step is recorded with (JSON).
    #[arg(long, value_parser = parse::json, default_value = "null", value_name = "JSON")]
    pub output: Value,
    /// Confirmation.
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `seam runs complete-wait`.
#[derive(Debug, Args)]
pub struct CompleteWaitArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
    /// The wait's output (JSON), as a signal's payload would be.
    #[arg(long, value_parser = parse::json, default_value = "null", value_name = "JSON")]
    pub output: Value,
}

/// `seam runs fail-wait`.
#[derive(Debug, Args)]
pub struct FailWaitArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
    /// Confirmation.
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `seam runs rewind`.
#[derive(Debug, Args)]
pub struct RewindArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
    /// The step to restart at.
    #[arg(long, value_name = "STEP")]
    pub to: String,
    /// Confirmation.
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `seam runs pause` and `seam runs resume`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
}

/// `seam runs cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Which run(s).
    #[command(flatten)]
    pub target: Target,
    /// End the run cancelled at once, without running compensations.
    #[arg(long)]
    pub no_compensate: bool,
    /// Confirmation.
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `seam runs signal`.
#[derive(Debug, Args)]
pub struct SignalArgs {
    /// The run: its id, or a unique prefix of at least 8 hex digits.
    #[arg(value_parser = parse::run_ref)]
    pub run: RunRef,
    /// The signal's name (what the wait step waits for).
    pub name: String,
    /// The signal's payload (JSON).
    #[arg(long, value_parser = parse::json, default_value = "null", value_name = "JSON")]
    pub payload: Value,
    /// Why you send it (recorded in the run's history).
    #[arg(long)]
    pub reason: Option<String>,
}
