//! Fixtures: an isolated database per test, fast workers, and readers of what the engine
//! stored.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use seam_engine::store::{events, executions, jobs, runs};
use seam_engine::{Client, RunId, RunStatus, Worker, WorkerHandle, Workflow};
use seam_pgkit::TestDb;
use sqlx::PgPool;

/// One test's world.
pub struct Env {
    pub db: TestDb,
    pub pool: PgPool,
    pub client: Client,
}

impl Env {
    /// Drops the test database.
    pub async fn done(self) {
        self.pool.close().await;
        self.db.drop_database().await;
    }
}

fn template_name() -> String {
    format!("seam_tpl_{}", seam_engine::store::migrate::fingerprint())
}

/// A fresh, migrated database.
pub async fn setup() -> Env {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let db = TestDb::from_template(&template_name(), |url| async move {
        let pool = PgPool::connect(&url).await.map_err(|e| e.to_string())?;
        seam_engine::migrate(&pool)
            .await
            .map_err(|e| e.to_string())?;
        pool.close().await;
        Ok(())
    })
    .await
    .expect("test database");
    let pool = db.pool().await;
    let client = Client::new(pool.clone());
    Env { db, pool, client }
}

/// A worker tuned for tests: fast polling, short lease, no background maintenance (tests
/// run the rescuer and cleaner by hand with an injected time).
pub fn worker(pool: &PgPool, wfs: &[&Workflow]) -> WorkerHandle {
    worker_with(pool, wfs, |b| b)
}

/// A test worker with extra builder settings.
pub fn worker_with(
    pool: &PgPool,
    wfs: &[&Workflow],
    tune: impl FnOnce(seam_engine::WorkerBuilder) -> seam_engine::WorkerBuilder,
) -> WorkerHandle {
    let mut b = Worker::builder(pool.clone())
        .concurrency(8)
        .poll_interval(Duration::from_millis(50))
        .lease(Duration::from_secs(2))
        .shutdown_grace(Duration::from_secs(2))
        .maintenance(false);
    for wf in wfs {
        b = b.workflow(wf);
    }
    tune(b).build().expect("worker").start()
}

/// Waits until the run is terminal or compensation_failed (10 s at most).
pub async fn settle(env: &Env, run: RunId) -> runs::RunRow {
    env.client
        .wait_until_settled(run, Duration::from_secs(10))
        .await
        .expect("read run")
}

/// Waits until `cond` holds for the run (10 s at most), returning the run.
pub async fn wait_for(env: &Env, run: RunId, cond: impl Fn(&runs::RunRow) -> bool) -> runs::RunRow {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = env.client.run(run).await.expect("read run");
        if cond(&row) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached; run is {} at {:?}",
            row.status,
            row.current_step
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the run has a job in `state` (10 s at most).
pub async fn wait_for_job(env: &Env, run: RunId, state: seam_engine::JobState) -> jobs::JobRow {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let all = job_rows(env, run).await;
        if let Some(j) = all.into_iter().find(|j| j.state == state) {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {state} job appeared"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn job_rows(env: &Env, run: RunId) -> Vec<jobs::JobRow> {
    let mut conn = env.pool.acquire().await.unwrap();
    jobs::for_run(&mut conn, run).await.unwrap()
}

pub async fn execs(env: &Env, run: RunId) -> Vec<executions::ExecutionRow> {
    let mut conn = env.pool.acquire().await.unwrap();
    executions::for_run(&mut conn, run).await.unwrap()
}

pub async fn history(env: &Env, run: RunId) -> Vec<events::EventRow> {
    let mut conn = env.pool.acquire().await.unwrap();
    events::for_run(&mut conn, run, 0, 10_000).await.unwrap()
}

pub async fn event_kinds(env: &Env, run: RunId) -> Vec<String> {
    history(env, run)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// `(step, status)` of every execution of the given kind, in order.
pub async fn exec_trail(
    env: &Env,
    run: RunId,
    kind: seam_engine::JobKind,
) -> Vec<(String, String)> {
    execs(env, run)
        .await
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.step, e.status.to_string()))
        .collect()
}

/// A shared, ordered log handlers write to.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub fn assert_status(row: &runs::RunRow, status: RunStatus) {
    assert_eq!(
        row.status, status,
        "run {} is {} (error: {:?})",
        row.id, row.status, row.error
    );
}

/// A retry policy with tiny, jitter-free backoff.
pub fn fast_retry(attempts: u32) -> seam_engine::RetryPolicy {
    seam_engine::RetryPolicy::attempts(attempts)
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .jitter(0.0)
}
