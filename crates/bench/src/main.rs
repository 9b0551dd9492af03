//! `seam-bench`: Seam's benchmark and crash-safety harness.
//!
//! - `seam-bench [run] [--runs N] ...`: Seam vs a raw SQL queue vs apalis-postgres on one
//!   PostgreSQL server, plus latency, large-history throughput and worker memory; prints a
//!   table and a final JSON line (see `README.md`).
//! - `seam-bench worker --suite noop|chaos`: one worker process (spawned by the above).
//! - `seam-bench chaos`: the crash-safety harness.
//!
//! Figures go to stdout; progress and warnings to stderr.

mod chaos;
mod cli;
mod db;
mod parts;
mod procs;
mod report;
mod run;
mod stats;
mod worker;
mod workload;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};

/// A progress message (stderr).
pub fn progress(msg: impl AsRef<str>) {
    eprintln!("[seam-bench] {}", msg.as_ref());
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let outcome = match cli.command {
        None => run::run(cli.run).await,
        Some(Command::Run(args)) => run::run(args).await,
        Some(Command::Worker(args)) => worker::run(args).await,
        Some(Command::Chaos(args)) => chaos::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seam-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
