//! Serving the example workflows in this process (`seam worker`, `seam dev`, `seam demo`),
//! and waiting for Ctrl-C.

use std::time::Duration;

use seam_engine::{Worker, Workflow};
use sqlx::PgPool;

use crate::args::WorkerTuning;
use crate::error::Result;

/// How long in-flight steps may take to finish on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Builds a worker for `workflows` as `tuning` says.
pub fn worker(
    pool: &PgPool,
    tuning: &WorkerTuning,
    workflows: &[Workflow],
    default_name: &str,
) -> Result<Worker> {
    let name = tuning
        .name
        .clone()
        .unwrap_or_else(|| format!("{default_name}-{}", std::process::id()));
    let mut b = Worker::builder(pool.clone())
        .name(&name)
        .concurrency(tuning.concurrency)
        .poll_interval(tuning.poll_interval)
        .shutdown_grace(SHUTDOWN_GRACE)
        .maintenance(!tuning.no_maintenance);
    if !tuning.queues.is_empty() {
        b = b.queues(&tuning.queues);
    }
    for wf in workflows {
        b = b.workflow(wf);
    }
    Ok(b.build()?)
}

/// `name@version` of each workflow, and the queues they use.
pub fn describe(workflows: &[Workflow], tuning: &WorkerTuning) -> (String, String) {
    let pins: Vec<String> = workflows.iter().map(|w| w.pin()).collect();
    let mut queues: Vec<String> = if tuning.queues.is_empty() {
        workflows.iter().flat_map(|w| w.queues()).collect()
    } else {
        tuning.queues.clone()
    };
    queues.sort();
    queues.dedup();
    (pins.join(", "), queues.join(", "))
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that arrives in between
/// (while a worker registers, say) is not lost and does not kill the process.
pub fn ctrl_c() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
