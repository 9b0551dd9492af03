//! The raw SQL ceiling: the least a durable PostgreSQL queue can do for the same 3-step
//! chains. A loop shaped like Seam's (claim a batch with `FOR UPDATE SKIP LOCKED` while
//! slots are free, one task per job) completes each job in one single-statement
//! transaction that deletes it and inserts the chain's next step. No history, no run row,
//! no lease token, no NOTIFY: the physical reference for this database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::seam::Throughput;
use crate::db::{BenchDb, Server};
use crate::workload::STEPS;

/// Jobs claimed per query (Seam's default batch size).
const BATCH: usize = 32;

/// A database with table `raw_jobs` holding the first step of `runs` chains.
pub async fn seed(server: &Server, label: &str, runs: u64) -> anyhow::Result<BenchDb> {
    let db = server.create(label).await?;
    let pool = db.pool(2).await?;
    sqlx::raw_sql(
        "CREATE TABLE raw_jobs (
             id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             chain  integer     NOT NULL,
             step   integer     NOT NULL,
             state  text        NOT NULL DEFAULT 'ready',
             run_at timestamptz NOT NULL DEFAULT now(),
             locked_at timestamptz);
         CREATE INDEX raw_jobs_ready ON raw_jobs (run_at, id) WHERE state = 'ready';",
    )
    .execute(&pool)
    .await?;
    sqlx::query("INSERT INTO raw_jobs (chain, step) SELECT g, 1 FROM generate_series(1, $1) g")
        .bind(runs as i64)
        .execute(&pool)
        .await?;
    sqlx::query("ANALYZE raw_jobs").execute(&pool).await?;
    pool.close().await;
    Ok(db)
}

struct Shared {
    chains_done: AtomicU64,
    chains: u64,
}

/// Runs `loops` claim loops (each with its own pool, like a worker process) until every
/// chain has finished.
pub async fn measure(
    db: &BenchDb,
    runs: u64,
    loops: usize,
    concurrency: usize,
    max_connections: u32,
) -> anyhow::Result<Throughput> {
    let mut pools = Vec::with_capacity(loops);
    for _ in 0..loops {
        pools.push(db.pool(max_connections).await?);
    }
    let shared = Arc::new(Shared {
        chains_done: AtomicU64::new(0),
        chains: runs,
    });
    let started = Instant::now();
    let mut set = JoinSet::new();
    for pool in &pools {
        set.spawn(claim_loop(pool.clone(), shared.clone(), concurrency));
    }
    while let Some(res) = set.join_next().await {
        res??;
    }
    let elapsed = started.elapsed();
    for pool in pools {
        pool.close().await;
    }
    Ok(Throughput {
        workers: loops,
        steps: runs * STEPS,
        elapsed,
        peak_rss_kib: None,
    })
}

async fn claim_loop(pool: PgPool, shared: Arc<Shared>, concurrency: usize) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let wake = Arc::new(Notify::new());
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    while shared.chains_done.load(Ordering::Relaxed) < shared.chains {
        while let Some(res) = tasks.try_join_next() {
            res??;
        }
        let free = slots.available_permits().min(BATCH);
        let mut full_batch = false;
        if free > 0 {
            let jobs: Vec<(i64, i32)> = sqlx::query_as(
                "WITH picked AS (
                     SELECT id FROM raw_jobs WHERE state = 'ready' AND run_at <= now()
                     ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
                 UPDATE raw_jobs j SET state = 'running', locked_at = now()
                 FROM picked WHERE j.id = picked.id
                 RETURNING j.id, j.step",
            )
            .bind(free as i64)
            .fetch_all(&pool)
            .await?;
            full_batch = jobs.len() == free;
            for (id, step) in jobs {
                let permit = slots.clone().try_acquire_owned()?;
                let (pool, shared, wake) = (pool.clone(), shared.clone(), wake.clone());
                tasks.spawn(async move {
                    complete(&pool, id).await?;
                    if step as u64 == STEPS {
                        shared.chains_done.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                    wake.notify_one();
                    Ok(())
                });
            }
        }
        if full_batch && slots.available_permits() > 0 {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    while let Some(res) = tasks.join_next().await {
        res??;
    }
    Ok(())
}

/// Deletes the job and enqueues the chain's next step, in one statement (one transaction).
async fn complete(pool: &PgPool, id: i64) -> anyhow::Result<()> {
    sqlx::query(
        "WITH done AS (DELETE FROM raw_jobs WHERE id = $1 AND state = 'running'
                       RETURNING chain, step)
         INSERT INTO raw_jobs (chain, step) SELECT chain, step + 1 FROM done WHERE step < $2",
    )
    .bind(id)
    .bind(STEPS as i32)
    .execute(pool)
    .await?;
    Ok(())
}
