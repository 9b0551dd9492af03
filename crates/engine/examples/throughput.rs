//! Quick throughput probe for engine development: N runs of a 3-step no-op workflow through
//! one in-process worker. The real, side-by-side benchmark is `seam-bench`.
//!
//! ```text
//! DATABASE_URL=... cargo run --release -p seam-engine --example throughput -- 5000 64
//! ```

use std::time::{Duration, Instant};

use seam_engine::{Client, StartOptions, Step, Transition, Worker, Workflow};
use seam_pgkit::TestDb;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5_000);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let db = TestDb::new().await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(40)
        .connect(db.url())
        .await?;
    seam_engine::migrate(&pool).await?;
    let noop = |name: &str| Step::task(name, |_| async { Transition::next(()) });
    let wf = Workflow::builder("noop3", 1)
        .step(noop("a"))
        .step(noop("b"))
        .step(noop("c"))
        .build()?;
    let client = Client::new(pool.clone());
    if std::env::var("PROBE_LATENCY").is_ok() {
        return latency(&pool, &client, &wf, runs).await;
    }
    let t = Instant::now();
    for chunk in (0..runs).collect::<Vec<_>>().chunks(500) {
        let mut tx = pool.begin().await?;
        for _ in chunk {
            client
                .start_in_tx(&mut tx, &wf, (), StartOptions::default())
                .await?;
        }
        tx.commit().await?;
    }
    eprintln!("created {runs} runs in {:?}", t.elapsed());
    let t = Instant::now();
    let worker = Worker::builder(pool.clone())
        .workflow(&wf)
        .concurrency(concurrency)
        .maintenance(false)
        .build()?
        .start();
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM seam.runs WHERE status = 'completed'")
                .fetch_one(&pool)
                .await?;
        if done as usize >= runs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{runs} runs, {} steps in {secs:.2}s: {:.0} steps/s",
        runs * 3,
        (runs * 3) as f64 / secs
    );
    worker.shutdown().await?;
    let raw = raw_chains(&pool, runs, concurrency).await?;
    println!(
        "raw SQL: {raw:.0} steps/s; seam/raw = {:.2}",
        (runs * 3) as f64 / secs / raw
    );
    pool.close().await;
    db.drop_database().await;
    Ok(())
}

/// The physical reference: 3-step chains through a minimal SKIP LOCKED loop.
async fn raw_chains(pool: &sqlx::PgPool, runs: usize, tasks: usize) -> anyhow::Result<f64> {
    sqlx::raw_sql(
        "CREATE TABLE raw_jobs (id bigserial PRIMARY KEY, chain int NOT NULL, step int NOT NULL,
                                state text NOT NULL DEFAULT 'ready', run_at timestamptz NOT NULL DEFAULT now());
         CREATE INDEX ON raw_jobs (run_at, id) WHERE state = 'ready';",
    )
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO raw_jobs (chain, step) SELECT g, 1 FROM generate_series(1, $1) g")
        .bind(runs as i32)
        .execute(pool)
        .await?;
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let pool = pool.clone();
        set.spawn(async move {
            loop {
                let jobs: Vec<(i64, i32, i32)> = sqlx::query_as(
                    "UPDATE raw_jobs SET state = 'running' WHERE id IN (
                         SELECT id FROM raw_jobs WHERE state = 'ready' ORDER BY run_at, id
                         LIMIT 4 FOR UPDATE SKIP LOCKED)
                     RETURNING id, chain, step",
                )
                .fetch_all(&pool)
                .await?;
                if jobs.is_empty() {
                    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM raw_jobs")
                        .fetch_one(&pool)
                        .await?;
                    if left == 0 {
                        return Ok::<_, sqlx::Error>(());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                for (id, chain, step) in jobs {
                    let mut tx = pool.begin().await?;
                    sqlx::query("DELETE FROM raw_jobs WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    if step < 3 {
                        sqlx::query("INSERT INTO raw_jobs (chain, step) VALUES ($1, $2)")
                            .bind(chain)
                            .bind(step + 1)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok((runs * 3) as f64 / t.elapsed().as_secs_f64())
}

/// Idle latency: runs started one at a time; gaps measured from the stored timestamps.
async fn latency(
    pool: &sqlx::PgPool,
    client: &Client,
    wf: &Workflow,
    runs: usize,
) -> anyhow::Result<()> {
    let worker = Worker::builder(pool.clone())
        .workflow(wf)
        .maintenance(false)
        .build()?
        .start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..runs {
        let id = client.start(wf, ()).await?.run_id;
        client
            .wait_until_settled(id, Duration::from_secs(10))
            .await?;
    }
    worker.shutdown().await?;
    let mut gaps: Vec<f64> = sqlx::query_scalar(
        "SELECT (extract(epoch FROM (b.started_at - a.finished_at)) * 1000)::float8
         FROM seam.step_executions a JOIN seam.step_executions b
           ON a.run_id = b.run_id AND b.id = (SELECT min(id) FROM seam.step_executions c
                                               WHERE c.run_id = a.run_id AND c.id > a.id)",
    )
    .fetch_all(pool)
    .await?;
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| gaps[((gaps.len() as f64 - 1.0) * q) as usize];
    println!(
        "step-to-step ms: p50 {:.2} p95 {:.2} p99 {:.2} (n={})",
        p(0.5),
        p(0.95),
        p(0.99),
        gaps.len()
    );
    Ok(())
}
