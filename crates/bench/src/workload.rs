//! The benchmark's workflows: a chain of three no-op task steps (what is measured), and a
//! run waiting for a signal with a far deadline (what fills the large history's waiting
//! runs). Both use one queue, so waiting runs' timers sit in the same claim index.

use std::time::Duration;

use seam_engine::{Client, StartOptions, Step, Transition, Workflow};
use sqlx::PgPool;

/// Queue of every benchmark step.
pub const QUEUE: &str = "bench";
/// Name of the measured workflow.
pub const CHAIN: &str = "bench_chain";
/// Name of the waiting workflow.
pub const WAITING: &str = "bench_wait";
/// Steps per chain run.
pub const STEPS: u64 = 3;

/// `bench_chain` v1: steps `a`, `b`, `c`, each returning at once.
pub fn chain() -> Workflow {
    let noop = |name: &str| Step::task(name, |_ctx| async { Transition::next(()) });
    Workflow::builder(CHAIN, 1)
        .queue(QUEUE)
        .step(noop("a"))
        .step(noop("b"))
        .step(noop("c"))
        .build()
        .expect("a valid workflow")
}

/// `bench_wait` v1: `prepare`, then wait up to 30 days for signal `approve`, then `finish`.
pub fn waiting() -> Workflow {
    Workflow::builder(WAITING, 1)
        .queue(QUEUE)
        .step(Step::task("prepare", |_ctx| async { Transition::next(()) }))
        .step(Step::wait("approval", "approve").deadline(Duration::from_secs(30 * 24 * 3600)))
        .step(Step::task("finish", |_ctx| async {
            Transition::complete(())
        }))
        .build()
        .expect("a valid workflow")
}

/// What `seam-bench worker --suite noop` serves.
pub fn noop_suite() -> Vec<Workflow> {
    vec![chain(), waiting()]
}

/// Starts `n` chain runs through the engine's client, `tasks` transactions at once, each
/// committing every 1,000 starts. Not timed: this is set-up.
pub async fn start_chains(pool: &PgPool, n: u64, tasks: u64) -> anyhow::Result<()> {
    let client = Client::new(pool.clone());
    let wf = chain();
    client.register(&wf).await?;
    let per_task = n.div_ceil(tasks.max(1));
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks.max(1) {
        let (client, wf) = (client.clone(), wf.clone());
        let from = t * per_task;
        let to = ((t + 1) * per_task).min(n);
        set.spawn(async move {
            let mut i = from;
            while i < to {
                let end = (i + 1000).min(to);
                let mut tx = client.pool().begin().await?;
                for k in i..end {
                    client
                        .start_in_tx(&mut tx, &wf, k, StartOptions::default())
                        .await?;
                }
                tx.commit().await?;
                i = end;
            }
            anyhow::Ok(())
        });
    }
    while let Some(res) = set.join_next().await {
        res??;
    }
    Ok(())
}
