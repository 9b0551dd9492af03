//! `seam worker`: serve the example workflows built into `seam` until Ctrl-C.

use super::{Exit, serve};
use crate::args::WorkerArgs;
use crate::context::Ctx;
use crate::error::{CliError, Result};
use crate::examples;

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(ctx: &Ctx, args: WorkerArgs) -> Result<Exit> {
    let stop = serve::ctrl_c();
    let mut workflows = examples::all()?;
    if !args.workflows.is_empty() {
        for name in &args.workflows {
            if !examples::NAMES.contains(&name.as_str()) {
                return Err(CliError::Usage(format!(
                    "unknown workflow '{name}'; the built-in ones are {}",
                    examples::NAMES.join(", ")
                )));
            }
        }
        workflows.retain(|w| args.workflows.iter().any(|n| n == w.name()));
    }
    let url = ctx.database_url()?.to_string();
    let pool = ctx
        .connect_to(&url, args.worker.concurrency as u32 + 6)
        .await?;
    examples::prepare(&pool).await?;
    let worker = serve::worker(&pool, &args.worker, &workflows, "worker")?;
    let (pins, queues) = serve::describe(&workflows, &args.worker);
    eprintln!(
        "worker {} serving queues {queues} for {pins}; Ctrl-C stops it",
        worker.id()
    );
    worker.run_until(stop).await?;
    eprintln!("worker stopped");
    pool.close().await;
    Ok(Exit::Ok)
}
