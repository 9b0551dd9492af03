//! Latency on an idle system: one worker process, chain runs started one at a time, each
//! waited for before the next. Measured from the engine's own rows (one clock, the host's):
//!
//! - step to step: a step execution's `started_at` (the claim statement's `now()`) minus
//!   the previous step execution's `finished_at` (`now()` of the completion transaction
//!   that enqueued it). `now()` is a transaction's start time, so this also counts the
//!   whole completion transaction including its commit: it over-states "commit to next
//!   start" by the completion's own duration, never under-states it.
//! - run: the run's `finished_at` (set in its last completion transaction) minus its
//!   `created_at` (`now()` of the start transaction).

use std::time::Duration;

use anyhow::bail;
use seam_engine::{Client, RunStatus};

use crate::db::Server;
use crate::procs::{WorkerProcs, WorkerSpec};
use crate::stats::Percentiles;
use crate::workload;

/// Latency figures, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub runs: u64,
    pub step: Percentiles,
    pub run: Percentiles,
}

/// Runs started, and completed, before measuring: every pooled connection of the worker
/// prepares its statements once, as a long-running worker has long done.
const WARM_UP: u64 = 64;

pub async fn measure(
    server: &Server,
    runs: u64,
    concurrency: usize,
    max_connections: u32,
) -> anyhow::Result<Latency> {
    let db = server.create("latency").await?;
    let pool = db.pool(4).await?;
    seam_engine::migrate(&pool).await?;
    let spec = WorkerSpec {
        url: db.url.clone(),
        concurrency,
        max_connections,
    };
    let mut procs = WorkerProcs::spawn(&spec, 1)?;
    let outcome = async {
        wait_for_worker(&pool, &mut procs).await?;
        let client = Client::new(pool.clone());
        let wf = workload::chain();
        let mut warm = Vec::new();
        for i in 0..WARM_UP {
            warm.push(client.start(&wf, i).await?.run_id);
        }
        for id in warm {
            client
                .wait_until_settled(id, Duration::from_secs(60))
                .await?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut measured = Vec::with_capacity(runs as usize);
        for i in 0..runs {
            let id = client.start(&wf, i).await?.run_id;
            let row = client
                .wait_until_settled(id, Duration::from_secs(30))
                .await?;
            if row.status != RunStatus::Completed {
                bail!("run {id} ended {}", row.status);
            }
            measured.push(id.0);
            // Let the worker go idle again (its claim loop back to waiting).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::Ok(measured)
    }
    .await;
    procs.stop(Duration::from_secs(20)).await?;
    let measured = outcome?;
    let step_ms: Vec<f64> = sqlx::query_scalar(
        "SELECT gap_ms FROM (
             SELECT (extract(epoch FROM started_at - lag(finished_at)
                                       OVER (PARTITION BY run_id ORDER BY id)) * 1000)::float8
                    AS gap_ms
             FROM seam.step_executions WHERE run_id = ANY($1) AND kind = 'step') g
         WHERE gap_ms IS NOT NULL",
    )
    .bind(&measured)
    .fetch_all(&pool)
    .await?;
    let run_ms: Vec<f64> = sqlx::query_scalar(
        "SELECT (extract(epoch FROM finished_at - created_at) * 1000)::float8
         FROM seam.runs WHERE id = ANY($1)",
    )
    .bind(&measured)
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    server.drop_db(&db).await?;
    let (Some(step), Some(run)) = (Percentiles::of(&step_ms), Percentiles::of(&run_ms)) else {
        bail!("no latency samples");
    };
    Ok(Latency { runs, step, run })
}

/// Waits until the worker has registered, then a moment for its LISTEN connection.
async fn wait_for_worker(pool: &sqlx::PgPool, procs: &mut WorkerProcs) -> anyhow::Result<()> {
    for _ in 0..1500 {
        procs.check_alive()?;
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM seam.workers WHERE stopped_at IS NULL")
                .fetch_one(pool)
                .await?;
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the worker did not register within 30s")
}
