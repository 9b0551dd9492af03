//! Command-line types: `run` (the benchmark, also the default), `worker` (one worker
//! process, spawned by the benchmark and the chaos harness) and `chaos`.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::chaos::ChaosArgs;

/// Seam's benchmark (Seam vs a raw SQL queue vs apalis-postgres) and crash-safety harness.
#[derive(Debug, Parser)]
#[command(name = "seam-bench", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run`, accepted without the subcommand too.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the benchmark (the default): throughput, raw SQL ceiling, apalis-postgres,
    /// latency, large history and worker memory. Prints a table, then one JSON line.
    Run(RunArgs),
    /// Be one worker process serving a workload until SIGTERM/SIGINT.
    Worker(WorkerArgs),
    /// Crash-safety harness.
    Chaos(ChaosArgs),
}

/// Where the PostgreSQL server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PgMode {
    /// `--database-url` / `DATABASE_URL` if set, else the local cluster in `./.seam/pg`.
    Auto,
    /// A throwaway cluster in a temporary directory, removed at the end.
    Fresh,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Workflow runs (3 steps each) per throughput measurement; shortens every part.
    #[arg(long, default_value_t = 20_000)]
    pub runs: u64,
    /// Worker process counts to measure Seam (and the raw loop) with; the best counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,
    /// Jobs in flight per worker process.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Connection pool size of each worker process (and of each raw loop).
    #[arg(long, default_value_t = 16)]
    pub max_connections: u32,
    /// Leave out apalis-postgres.
    #[arg(long)]
    pub skip_apalis: bool,
    /// Leave out the large-history measurement.
    #[arg(long)]
    pub skip_scale: bool,
    /// Leave out the latency measurement.
    #[arg(long)]
    pub skip_latency: bool,
    /// Finished runs in the large history (default 50 x runs).
    #[arg(long)]
    pub history: Option<u64>,
    /// Waiting runs in the large history (default 5 x runs).
    #[arg(long)]
    pub waiting: Option<u64>,
    /// Runs started one at a time for the latency part (default runs/25, 20..=200).
    #[arg(long)]
    pub latency_runs: Option<u64>,
    /// Server to use (a role that may CREATE DATABASE). Default: DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// `auto`: the URL above, else the local cluster in ./.seam/pg. `fresh`: a throwaway
    /// cluster, removed at the end (ignores the URL).
    #[arg(long, value_enum, default_value_t = PgMode::Auto)]
    pub pg: PgMode,
    /// Keep the benchmark's databases instead of dropping them at the end.
    #[arg(long)]
    pub keep_databases: bool,
}

/// Which workflows a worker process registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// The benchmark's workflows (3 no-op task steps; a wait for the large history).
    Noop,
    /// The crash-safety harness's workflows.
    Chaos,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Workflows to serve.
    #[arg(long, value_enum)]
    pub suite: Suite,
    /// Jobs in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Queues to serve (default: every queue of the suite's workflows).
    #[arg(long, value_delimiter = ',')]
    pub queues: Vec<String>,
    /// Connection pool size.
    #[arg(long, default_value_t = 16)]
    pub max_connections: u32,
    /// Worker name shown by `seam workers`.
    #[arg(long, default_value = "seam-bench")]
    pub name: String,
    /// Database to work on.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}
