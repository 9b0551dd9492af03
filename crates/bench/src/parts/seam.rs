//! Seam throughput: N chain runs are created up front (not timed), then K worker processes
//! are spawned and the clock runs until every run has completed.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::db::{BenchDb, Server};
use crate::procs::{WorkerProcs, WorkerSpec};
use crate::workload::{self, STEPS};

/// One throughput measurement.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Worker processes (or loops) used.
    pub workers: usize,
    /// Steps executed.
    pub steps: u64,
    /// From start to the last completion.
    pub elapsed: Duration,
    /// Largest peak RSS of a worker process, KiB (Seam only).
    pub peak_rss_kib: Option<u64>,
}

impl Throughput {
    pub fn steps_per_s(&self) -> f64 {
        self.steps as f64 / self.elapsed.as_secs_f64()
    }
}

/// A migrated database holding `runs` pending chain runs, to copy for each measurement.
pub async fn seed(server: &Server, label: &str, runs: u64) -> anyhow::Result<BenchDb> {
    let db = server.create(label).await?;
    let pool = db.pool(8).await?;
    seam_engine::migrate(&pool).await?;
    let started = Instant::now();
    workload::start_chains(&pool, runs, 4).await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    crate::progress(format!(
        "  created {runs} runs in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(db)
}

/// Starts `runs` more pending chain runs in `db` (for another round on the same tables).
pub async fn add_runs(db: &BenchDb, runs: u64) -> anyhow::Result<()> {
    let pool = db.pool(8).await?;
    workload::start_chains(&pool, runs, 4).await?;
    sqlx::query("ANALYZE seam.runs, seam.jobs")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

/// Runs `workers` worker processes on `db` (holding `runs` pending chain runs) until no
/// run is pending or running.
pub async fn measure(
    db: &BenchDb,
    runs: u64,
    workers: usize,
    concurrency: usize,
    max_connections: u32,
) -> anyhow::Result<Throughput> {
    let pool = db.pool(2).await?;
    let spec = WorkerSpec {
        url: db.url.clone(),
        concurrency,
        max_connections,
    };
    let started = Instant::now();
    let mut procs = WorkerProcs::spawn(&spec, workers)?;
    let outcome = wait_until_done(&pool, &mut procs).await;
    let elapsed = started.elapsed();
    let peak_rss_kib = procs.peak_rss_kib();
    procs.stop(Duration::from_secs(20)).await?;
    outcome?;
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seam.runs
         WHERE workflow = $1 AND status NOT IN ('completed', 'pending', 'running')",
    )
    .bind(workload::CHAIN)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    if failed > 0 {
        bail!("{failed} benchmark runs did not complete");
    }
    Ok(Throughput {
        workers,
        steps: runs * STEPS,
        elapsed,
        peak_rss_kib,
    })
}

/// Polls every 20 ms (an index probe) until no run is pending or running; fails when a
/// worker dies or no step completes for a minute (checked once a second, from the newest
/// step execution's id: runs finish late, since every run's first step comes first).
async fn wait_until_done(pool: &sqlx::PgPool, procs: &mut WorkerProcs) -> anyhow::Result<()> {
    let mut last = (None, Instant::now());
    let mut checked = Instant::now();
    loop {
        let busy: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM seam.runs WHERE status IN ('pending', 'running'))",
        )
        .fetch_one(pool)
        .await?;
        if !busy {
            return Ok(());
        }
        procs.check_alive()?;
        if checked.elapsed() >= Duration::from_secs(1) {
            checked = Instant::now();
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT max(id) FROM seam.step_executions")
                    .fetch_one(pool)
                    .await?;
            if newest != last.0 {
                last = (newest, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(60) {
                bail!("no step completed for 60s");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
