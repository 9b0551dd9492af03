//! The worker's main loop: claim while there are free slots, wake on NOTIFY or the
//! fallback poll, and shut down gracefully.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::config::{WorkerBuilder, WorkerConfig};
use super::{batch, execute, heartbeat};
use crate::definition::Workflow;
use crate::error::Result;
use crate::ids::{Actor, WorkerId};
use crate::maintenance::{Cleaner, CleanerConfig, Rescuer, RescuerConfig};
use crate::store::jobs::{self, ClaimParams};
use crate::store::{JOBS_CHANNEL, definitions, runs, workers};

/// A worker process's runtime. Build with [`Worker::builder`].
pub struct Worker {
    pub(crate) shared: Arc<Shared>,
}

/// State shared by the loop and every in-flight job.
pub(crate) struct Shared {
    pub pool: PgPool,
    pub config: WorkerConfig,
    pub registry: HashMap<String, Workflow>,
    pub pins: Vec<String>,
    pub id: WorkerId,
    pub actor: Actor,
    /// Leased jobs in flight: id -> lease token.
    pub in_flight: Mutex<HashMap<i64, Uuid>>,
    pub wake: Notify,
    /// Hands batchable completions to the completer task.
    pub completer: mpsc::Sender<batch::Pending>,
    completions: Mutex<Option<mpsc::Receiver<batch::Pending>>>,
}

/// Controls a worker started with [`Worker::start`].
pub struct WorkerHandle {
    id: WorkerId,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl WorkerHandle {
    /// The worker's id.
    pub fn id(&self) -> WorkerId {
        self.id
    }
    /// Graceful shutdown: stop claiming, let in-flight jobs finish within the grace period,
    /// release the rest. Returns when the worker has stopped.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(Ok(()))
    }
    /// Stops the worker abruptly, as a crash would: in-flight jobs keep their leases until
    /// those expire and the rescuer takes them back. Returns once the worker is gone.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl Worker {
    /// Starts building a worker on `pool`.
    pub fn builder(pool: PgPool) -> WorkerBuilder {
        WorkerBuilder::new(pool)
    }

    pub(crate) fn new(
        pool: PgPool,
        config: WorkerConfig,
        registry: HashMap<String, Workflow>,
    ) -> Self {
        let id = WorkerId(Uuid::new_v4());
        let mut pins: Vec<String> = registry.keys().cloned().collect();
        pins.sort();
        let (completer, completions) = mpsc::channel(batch::MAX_BATCH * 4);
        Worker {
            shared: Arc::new(Shared {
                pool,
                config,
                registry,
                pins,
                id,
                actor: Actor::worker(id),
                in_flight: Mutex::default(),
                wake: Notify::new(),
                completer,
                completions: Mutex::new(Some(completions)),
            }),
        }
    }

    /// This worker's id.
    pub fn id(&self) -> WorkerId {
        self.shared.id
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run(self) -> Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs in the background; control it through the handle.
    pub fn start(self) -> WorkerHandle {
        let (stop, mut rx) = watch::channel(false);
        let id = self.shared.id;
        let task = tokio::spawn(async move {
            self.run_until(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        });
        WorkerHandle { id, stop, task }
    }

    /// Runs until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let s = self.shared;
        register(&s).await?;
        tracing::info!(worker = %s.id, name = %s.config.name, queues = ?s.config.queues,
            pins = ?s.pins, concurrency = s.config.concurrency, "worker started");
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut services = JoinSet::new();
        services.spawn(listen(s.clone(), stop_rx.clone()));
        services.spawn(heartbeat::run(s.clone(), stop_rx.clone()));
        if let Some(rx) = s.completions.lock().expect("poisoned").take() {
            services.spawn(batch::run(s.clone(), rx, stop_rx.clone()));
        }
        if s.config.maintenance {
            let rescuer = Rescuer::new(
                s.pool.clone(),
                RescuerConfig {
                    interval: s.config.rescue_interval,
                    ..RescuerConfig::default()
                },
            );
            let cleaner = Cleaner::new(
                s.pool.clone(),
                CleanerConfig {
                    retention: s.config.retention,
                    ..CleanerConfig::default()
                },
            );
            services.spawn(rescuer.run(stop_rx.clone()));
            services.spawn(cleaner.run(stop_rx.clone()));
        }
        let mut tasks = JoinSet::new();
        claim_loop(&s, &mut tasks, shutdown).await;
        drain(&s, &mut tasks).await;
        let _ = stop_tx.send(true);
        while services.join_next().await.is_some() {}
        let mut conn = s.pool.acquire().await?;
        workers::stop(&mut conn, s.id).await?;
        tracing::info!(worker = %s.id, "worker stopped");
        Ok(())
    }
}

async fn register(s: &Shared) -> Result<()> {
    let mut conn = s.pool.acquire().await?;
    for wf in s.registry.values() {
        definitions::upsert(&mut conn, wf.name(), wf.version(), wf.specs()).await?;
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    workers::register(
        &mut conn,
        &workers::NewWorker {
            id: s.id,
            name: &s.config.name,
            host: &host,
            pid: std::process::id() as i32,
            queues: &s.config.queues,
            pins: &s.pins,
            concurrency: s.config.concurrency as i32,
        },
    )
    .await
}

/// How long a busy worker waits for more free slots so one claim takes several jobs.
const CLAIM_LINGER: Duration = Duration::from_millis(2);

async fn claim_loop(s: &Arc<Shared>, tasks: &mut JoinSet<()>, shutdown: impl Future<Output = ()>) {
    let concurrency = s.config.concurrency;
    let slots = Arc::new(Semaphore::new(concurrency));
    // A busy worker claims once at least this many slots are free (or the linger passed);
    // an idle one claims at once, so latency does not pay for batching.
    let min_batch = (concurrency / 4).clamp(1, s.config.batch_size);
    let mut linger_until: Option<tokio::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let free = slots.available_permits().min(s.config.batch_size);
        let busy = slots.available_permits() < concurrency;
        let now = tokio::time::Instant::now();
        let lingered = linger_until.is_some_and(|t| now >= t);
        let mut full_batch = false;
        if free > 0 && (!busy || free >= min_batch || lingered) {
            linger_until = None;
            match claim(s, free).await {
                Ok(claimed) => {
                    full_batch = claimed.len() == free;
                    for job in claimed {
                        let permit = slots.clone().try_acquire_owned().expect("counted free");
                        let s2 = s.clone();
                        tasks.spawn(async move {
                            execute::run_job(&s2, job).await;
                            drop(permit);
                            s2.wake.notify_one();
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying after the poll interval");
                }
            }
        } else if free > 0 && linger_until.is_none() {
            linger_until = Some(now + CLAIM_LINGER);
        }
        if full_batch && slots.available_permits() > 0 {
            continue;
        }
        let wait = linger_until
            .map(|t| t.saturating_duration_since(tokio::time::Instant::now()))
            .unwrap_or(s.config.poll_interval);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = s.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn claim(s: &Shared, limit: usize) -> Result<Vec<jobs::ClaimedJob>> {
    let mut conn = s.pool.acquire().await?;
    let claimed = jobs::claim(
        &mut conn,
        &ClaimParams {
            queues: &s.config.queues,
            pins: &s.pins,
            worker_id: s.id,
            now: None,
            lease: s.config.lease,
            limit: limit as i64,
        },
    )
    .await?;
    {
        let mut in_flight = s.in_flight.lock().expect("poisoned");
        for c in &claimed {
            if let Some(token) = c.job.lease_token {
                in_flight.insert(c.job.id, token);
            }
        }
    }
    let starting: Vec<Uuid> = claimed
        .iter()
        .filter(|c| c.run_status == "pending")
        .map(|c| c.job.run_id.0)
        .collect();
    if !starting.is_empty() {
        runs::mark_started(&mut conn, &starting).await?;
    }
    Ok(claimed)
}

/// Waits for in-flight jobs up to the grace period, then aborts and releases the rest.
async fn drain(s: &Shared, tasks: &mut JoinSet<()>) {
    let grace = tokio::time::sleep(s.config.shutdown_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            _ = &mut grace => {
                tracing::warn!(left = tasks.len(), "grace period over; releasing in-flight jobs");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    let left: Vec<(i64, Uuid)> = s.in_flight.lock().expect("poisoned").drain().collect();
    if left.is_empty() {
        return;
    }
    match s.pool.acquire().await {
        Ok(mut conn) => {
            for (id, token) in left {
                if let Err(e) = jobs::release_leased(&mut conn, id, token).await {
                    tracing::warn!(job = id, error = %e, "could not release job");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not release jobs; their leases will expire"),
    }
}

/// LISTENs for new ready jobs on our queues and wakes the claim loop.
async fn listen(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let mut listener = match PgListener::connect_with(&s.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; polling meanwhile");
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if let Err(e) = listener.listen(JOBS_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; polling meanwhile");
            continue;
        }
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                msg = listener.recv() => match msg {
                    Ok(n) => {
                        if s.config.queues.iter().any(|q| q == n.payload()) {
                            s.wake.notify_one();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        // Jobs may have arrived while we were deaf.
                        s.wake.notify_one();
                        break;
                    }
                }
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
