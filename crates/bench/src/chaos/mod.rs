//! The crash-safety harness (`seam-bench chaos`): real worker processes under SIGKILL,
//! SIGSTOP and a PostgreSQL restart, then an audit of every run.
//!
//! ```text
//! cargo run --release -p seam-bench -- chaos --runs 500      # short form (~1 min), in CI
//! cargo run --release -p seam-bench -- chaos --runs 20000 --duration-secs 540 --timeout-secs 900
//! ```
//! It starts its own throwaway PostgreSQL (so it may restart it), prints progress to
//! stderr, ends with one JSON line on stdout, and exits non-zero on any violation.

mod audit;
mod harness;
mod workload;

use std::time::Duration;

use clap::Args;
use seam_engine::{Worker, Workflow};

/// Options of `seam-bench chaos`.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Runs in the workload.
    #[arg(long, default_value_t = 500)]
    pub runs: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    /// Concurrency of each worker process.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Worker lease in milliseconds (SIGSTOP lasts longer than this).
    #[arg(long, default_value_t = 2_000)]
    pub lease_ms: u64,
    /// Spread the runs' signals over this many seconds, so the storm hits work in flight.
    #[arg(long, default_value_t = 40)]
    pub duration_secs: u64,
    /// Give up (and report the violations) after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Use this server instead of a throwaway one (then PostgreSQL is not restarted).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Internal: run as one of the harness's worker processes.
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// The workflows chaos worker processes serve.
pub fn workflows() -> Vec<Workflow> {
    workload::workflows()
}

/// Runs the harness (or, with `--worker`, one of its worker processes).
pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    if args.worker {
        return worker(args).await;
    }
    let report = harness::run(&args).await?;
    println!("{}", serde_json::to_string(&report)?);
    if report.violations() > 0 {
        anyhow::bail!("{} violation(s): see the report above", report.violations());
    }
    Ok(())
}

/// A worker process: serves the chaos workflow until SIGTERM, reconnecting by itself.
async fn worker(args: ChaosArgs) -> anyhow::Result<()> {
    let url = args
        .database_url
        .ok_or_else(|| anyhow::anyhow!("--worker needs --database-url"))?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&url)?;
    let wfs = workload::workflows();
    // PostgreSQL may be restarting while we start: keep trying to register.
    loop {
        let mut builder = Worker::builder(pool.clone());
        for wf in &wfs {
            builder = builder.workflow(wf);
        }
        let worker = builder
            .name("chaos")
            .concurrency(args.concurrency)
            .lease(Duration::from_millis(args.lease_ms))
            .poll_interval(Duration::from_millis(200))
            .shutdown_grace(Duration::from_secs(2))
            .build()?;
        match worker.run().await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "worker stopped with an error; starting again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
