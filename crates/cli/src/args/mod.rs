//! Every clap type of the `seam` command line, in one place: the top-level commands here,
//! the `seam runs` family in [`runs`], value parsers in [`parse`].

pub mod parse;
pub mod runs;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use runs::{RunsArgs, RunsCommand};

const ABOUT: &str = "Operate Seam, the durable saga workflow engine on PostgreSQL: find what is \
stuck, see why, and get it moving again.";

const AFTER_HELP: &str = "\
Examples:
  seam dev                                  # local PostgreSQL + workers for the examples
  seam doctor                               # what is stuck, why, and the command that fixes it
  seam runs list --stuck                    # the stuck runs
  seam runs show 3f2a1b4c                   # one run: steps, wait, children, history, next moves
  seam runs retry 3f2a1b4c --reason \"feed fixed\"

Every command reads DATABASE_URL (or --database-url). Data goes to stdout, messages to stderr;
--json gives machine-readable output. Exit codes: 0 ok, 1 failure or needs a human, 2 usage.";

/// The `seam` command line.
#[derive(Debug, Parser)]
#[command(name = "seam", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// PostgreSQL database holding the `seam` schema.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Print machine-readable JSON to stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Operator name recorded in history as `operator:NAME` [default: $USER].
    #[arg(
        long,
        env = "SEAM_ACTOR",
        global = true,
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub actor: Option<String>,
    /// Print the configuration used (database, actor) and engine logs to stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the engine's database migrations (idempotent).
    #[command(after_help = "Example:\n  DATABASE_URL=postgres://seam@db/seam seam migrate")]
    Migrate,
    /// Run Seam locally: PostgreSQL under ./.seam (unless DATABASE_URL is set), migrations,
    /// and workers for the example workflows, until Ctrl-C.
    #[command(
        after_help = "Examples:\n  seam dev            # start (or reuse) ./.seam/pg and \
serve the examples\n  seam dev --reset    # wipe ./.seam/pg first"
    )]
    Dev(DevArgs),
    /// Run the example workflows once against the local default database and list them.
    #[command(
        after_help = "Example:\n  seam demo           # no DATABASE_URL needed: starts \
./.seam/pg, runs, stops it"
    )]
    Demo(DemoArgs),
    /// Serve the example workflows built into `seam` from DATABASE_URL until Ctrl-C.
    #[command(after_help = "Example:\n  seam worker --concurrency 8")]
    Worker(WorkerArgs),
    /// Start, list, inspect and repair workflow runs.
    #[command(
        after_help = "Examples:\n  seam runs list --stuck\n  seam runs show 3f2a1b4c\n  \
seam runs retry 3f2a1b4c --reason \"upstream fixed\""
    )]
    Runs(RunsArgs),
    /// Find wedged runs, say why, and which command fixes each. Exit 1 when one needs a human.
    #[command(
        long_about = DOCTOR_LONG,
        after_help = "Examples:\n  seam doctor\n  seam doctor --json | jq '.findings[].fix[0]'"
    )]
    Doctor,
    /// Per queue: ready, scheduled, running, dead and paused jobs, oldest ready age,
    /// attempts finished in the last minute, live workers.
    #[command(after_help = "Example:\n  seam queues")]
    Queues,
    /// Live and recently gone workers: queues, workflow versions, in-flight jobs, heartbeat.
    #[command(after_help = "Examples:\n  seam workers\n  seam workers --since 24h")]
    Workers(WorkersArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  seam completions bash > ~/.local/share/bash-completion/\
completions/seam\n  seam completions zsh > \"${fpath[1]}/_seam\"\n  seam completions fish > \
~/.config/fish/completions/seam.fish"
    )]
    Completions(CompletionsArgs),
}

const DOCTOR_LONG: &str = "\
Find wedged runs, say for each why it is stuck and which command moves it on.

A run is stuck (the same rules as `seam runs list --stuck`) when:
  expired_lease        a job is running but its lease expired more than 30 s ago: its worker
                       is gone and no rescuer (run by every worker) is taking it back
  overdue_wait         it waits past its deadline with no timer job, or the timer job is more
                       than 1 min overdue
  unserved             a job is due but no live worker (heartbeat within 60 s) serves its
                       queue, or none of those runs its workflow@version
  compensation_failed  a compensation exhausted its attempts
  dead_job             a step's job is dead: attempts exhausted, parked for an operator
  long_pause           it has been paused for more than 1 h

Also reports migrations the database does not have yet.
Exit code: 0 when healthy, 1 when something needs a human.";

/// `seam dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Delete the local cluster under ./.seam/pg first (never touches DATABASE_URL).
    #[arg(long)]
    pub reset: bool,
    /// Port for the local cluster [default: the last one used, or a free one].
    #[arg(long)]
    pub port: Option<u16>,
    /// Data directory of the local cluster.
    #[arg(long, default_value = ".seam/pg", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerTuning,
}

/// `seam demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory of the local cluster (used when DATABASE_URL is not set).
    #[arg(long, default_value = ".seam/pg", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// How long to wait for the runs to settle.
    #[arg(long, default_value = "60s", value_parser = parse::duration)]
    pub timeout: Duration,
}

/// `seam worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerTuning,
    /// Serve only these example workflows [default: all of them].
    #[arg(long = "workflow", value_name = "NAME", value_delimiter = ',')]
    pub workflows: Vec<String>,
}

/// How the in-process worker runs (`seam worker`, `seam dev`).
#[derive(Debug, Clone, Args)]
pub struct WorkerTuning {
    /// Worker name shown by `seam workers` [default: <command>-<pid>].
    #[arg(long)]
    pub name: Option<String>,
    /// Jobs executed at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Serve only these queues [default: every queue of the served workflows].
    #[arg(long = "queue", value_name = "QUEUE", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// Fallback poll interval (new jobs also wake the worker through NOTIFY).
    #[arg(long, default_value = "200ms", value_parser = parse::duration)]
    pub poll_interval: Duration,
    /// Do not run the rescuer and retention cleaner in this process.
    #[arg(long)]
    pub no_maintenance: bool,
}

/// `seam workers`.
#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// Also list workers gone within this long.
    #[arg(long, default_value = "1h", value_parser = parse::duration)]
    pub since: Duration,
}

/// `seam completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
