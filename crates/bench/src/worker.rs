//! `seam-bench worker`: one Seam worker process, as an operator would run it (default
//! engine settings plus concurrency), until SIGTERM or SIGINT. The benchmark and the chaos
//! harness spawn this binary with `worker` to get real processes.

use std::time::Duration;

use anyhow::Context;
use seam_engine::Worker;
use seam_pgkit::redact;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::cli::{Suite, WorkerArgs};
use crate::{chaos, workload};

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    exit_with_parent();
    let opts: PgConnectOptions = args.database_url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(args.max_connections)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(opts.disable_statement_logging())
        .await
        .with_context(|| format!("connecting to {}", redact(&args.database_url)))?;
    let workflows = match args.suite {
        Suite::Noop => workload::noop_suite(),
        Suite::Chaos => chaos::workflows(),
    };
    let mut builder = Worker::builder(pool.clone())
        .name(&args.name)
        .concurrency(args.concurrency);
    for wf in &workflows {
        builder = builder.workflow(wf);
    }
    if !args.queues.is_empty() {
        builder = builder.queues(&args.queues);
    }
    builder.build()?.run().await?;
    pool.close().await;
    Ok(())
}

/// A worker spawned by a harness must not outlive it (a killed harness would leave workers
/// hammering the database): ask the kernel for SIGTERM when the parent goes.
fn exit_with_parent() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
        eprintln!("warning: could not set the parent-death signal: {e}");
    }
}
