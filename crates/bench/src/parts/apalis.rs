//! apalis-postgres, the comparison peer: the same 3-step chains as apalis jobs, each job
//! pushing its successor through the storage. Workers run in this process (apalis workers
//! are tasks of one tokio runtime), on their own database.
//!
//! - `default`: `PostgresStorage::new(&pool).with_pubsub()` with `Config::default()`
//!   (batch of 10, task locking and result persistence on), one worker, a `PgPool` with
//!   sqlx's default 10 connections: the configuration its README shows.
//! - `tuned`: `batch_size(100)` and `lock_tasks(false)` (as its own `basic` example),
//!   handlers spawned onto the runtime (`parallelize(tokio::spawn)`), a 20 ms poll on top of
//!   the pubsub listener, [`TUNED_WORKERS`] workers sharing a pool of `--max-connections`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use futures::FutureExt;
use futures::future::{LocalBoxFuture, join_all};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::seam::Throughput;
use crate::db::Server;
use crate::workload::STEPS;

/// Worker instances of the tuned configuration.
pub const TUNED_WORKERS: usize = 2;

/// Poll interval of the tuned configuration (besides its pubsub listener).
const TUNED_POLL: Duration = Duration::from_millis(20);

/// Which configuration to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Default,
    Tuned,
}

/// One step of one chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChainStep {
    chain: u64,
    step: u64,
}

/// What each handler shares: where to push successors, and how many chains finished.
#[derive(Clone)]
struct Ctx {
    storage: PostgresStorage<ChainStep>,
    steps_done: Arc<AtomicU64>,
    chains_done: Arc<AtomicU64>,
}

async fn handle(job: ChainStep, ctx: Data<Ctx>) -> Result<(), BoxDynError> {
    if job.step < STEPS {
        let mut storage = ctx.storage.clone();
        let next = ChainStep {
            chain: job.chain,
            step: job.step + 1,
        };
        storage.push(next).await?;
    } else {
        ctx.chains_done.fetch_add(1, Ordering::Relaxed);
    }
    ctx.steps_done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn config(flavor: Flavor) -> Config {
    let queue = std::any::type_name::<ChainStep>();
    match flavor {
        Flavor::Default => Config::default().queue(queue),
        Flavor::Tuned => Config::default()
            .queue(queue)
            .batch_size(100)
            .lock_tasks(false),
    }
}

/// A measurement of apalis-postgres.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Steps done and time taken (until the last progress when it stalled).
    pub throughput: Throughput,
    /// True when apalis stopped making progress before the end.
    pub stalled: bool,
}

/// Measures one configuration on a fresh database of its own.
pub async fn measure(
    server: &Server,
    runs: u64,
    flavor: Flavor,
    max_connections: u32,
) -> anyhow::Result<Measured> {
    let label = match flavor {
        Flavor::Default => "apalis_default",
        Flavor::Tuned => "apalis_tuned",
    };
    let db = server.create(label).await?;
    let pool = match flavor {
        Flavor::Default => PgPool::connect(&db.url).await?,
        Flavor::Tuned => {
            PgPoolOptions::new()
                .max_connections(max_connections)
                .connect(&db.url)
                .await?
        }
    };
    PostgresStorage::setup(&pool).await?;
    let storage = PostgresStorage::<ChainStep>::new(&pool).with_config(config(flavor));
    seed(&storage, runs).await?;
    sqlx::query("ANALYZE apalis.jobs").execute(&pool).await?;

    let ctx = Ctx {
        storage: storage.clone(),
        steps_done: Arc::default(),
        chains_done: Arc::default(),
    };
    let instances = match flavor {
        Flavor::Default => 1,
        Flavor::Tuned => TUNED_WORKERS,
    };
    let started = Instant::now();
    let mut contexts = Vec::new();
    // Driven in this task rather than spawned: `parallelize(tokio::spawn)` makes the
    // worker future fail the `Send` check that `tokio::spawn` of the worker would need.
    let mut workers: Vec<LocalBoxFuture<'static, Result<(), WorkerError>>> = Vec::new();
    for i in 0..instances {
        let wctx = WorkerContext::new(&format!("{label}-{i}-{}", std::process::id()));
        contexts.push(wctx.clone());
        workers.push(match flavor {
            Flavor::Default => WorkerBuilder::new(&wctx)
                .backend(storage.clone().with_pubsub())
                .data(ctx.clone())
                .build(handle)
                .run()
                .boxed_local(),
            Flavor::Tuned => {
                let queue = storage.config().queue.to_string();
                let strategy = Strategy::new()
                    .stream(Pubsub::new(pool.clone(), queue))
                    .interval(TUNED_POLL);
                WorkerBuilder::new(&wctx)
                    .backend(storage.clone().poll_with_strategy(strategy))
                    .data(ctx.clone())
                    .parallelize(tokio::spawn)
                    .build(handle)
                    .run()
                    .boxed_local()
            }
        });
    }
    let mut all = join_all(workers).boxed_local();
    let outcome = tokio::select! {
        outcome = wait_until_done(&pool, &ctx, runs, started) => outcome,
        _ = &mut all => Err(anyhow::anyhow!("the apalis workers stopped before the work was done")),
    };
    for c in &contexts {
        let _ = c.stop();
    }
    // A stalled worker never finishes draining: give up on it after a while.
    let _ = tokio::time::timeout(Duration::from_secs(10), all).await;
    pool.close().await;
    server.drop_db(&db).await?;
    let ended = outcome?;
    Ok(Measured {
        throughput: Throughput {
            workers: instances,
            steps: ended.steps,
            elapsed: ended.elapsed,
            peak_rss_kib: None,
        },
        stalled: ended.stalled,
    })
}

/// Pushes the first step of every chain, 1,000 per transaction.
async fn seed(storage: &PostgresStorage<ChainStep>, runs: u64) -> anyhow::Result<()> {
    let mut storage = storage.clone();
    let mut chain = 0;
    while chain < runs {
        let end = (chain + 1000).min(runs);
        let batch: Vec<ChainStep> = (chain..end)
            .map(|c| ChainStep { chain: c, step: 1 })
            .collect();
        storage.push_bulk(batch).await?;
        chain = end;
    }
    Ok(())
}

/// How a measurement ended.
struct Ended {
    steps: u64,
    elapsed: Duration,
    stalled: bool,
}

/// How long without a single step before apalis counts as stalled.
const STALL: Duration = Duration::from_secs(30);

/// Waits until every chain's last handler ran, then until apalis has recorded every job
/// as `Done` (results are written back in batches). When no handler runs for [`STALL`]
/// (chains finish late, every chain's first step comes first, so this watches steps),
/// the measurement ends there: the steps done until the last progress, flagged stalled.
async fn wait_until_done(
    pool: &PgPool,
    ctx: &Ctx,
    runs: u64,
    started: Instant,
) -> anyhow::Result<Ended> {
    let mut last = (0, Instant::now());
    while ctx.chains_done.load(Ordering::Relaxed) < runs {
        let steps = ctx.steps_done.load(Ordering::Relaxed);
        if steps > last.0 {
            last = (steps, Instant::now());
        } else if last.1.elapsed() > STALL {
            crate::progress(format!(
                "  apalis stalled: no step ran for {}s after {steps} of {} steps",
                STALL.as_secs(),
                runs * STEPS
            ));
            return Ok(Ended {
                steps,
                elapsed: last.1 - started,
                stalled: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let expected = (runs * STEPS) as i64;
    for _ in 0..6000 {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'Done'),
                    count(*) FILTER (WHERE status IN ('Failed', 'Killed'))
             FROM apalis.jobs",
        )
        .fetch_one(pool)
        .await?;
        if failed > 0 {
            bail!("apalis: {failed} jobs failed");
        }
        if done >= expected {
            return Ok(Ended {
                steps: runs * STEPS,
                elapsed: started.elapsed(),
                stalled: false,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("apalis did not record every job done within 30s")
}
