//! Worker configuration and its builder.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;

use super::runtime::Worker;
use crate::definition::Workflow;
use crate::error::{EngineError, Result};
use crate::maintenance::RescuerConfig;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Name shown by `seam workers`.
    pub name: String,
    /// Queues served; empty = every queue the registered workflows use.
    pub queues: Vec<String>,
    /// Jobs executed at once. Size the pool to match: a transactional step holds a
    /// connection for its whole run, so a pool of `concurrency + 4` never starves; for
    /// non-transactional steps a few connections suffice (claims and completions are
    /// batched).
    pub concurrency: usize,
    /// Most jobs claimed by one query.
    pub batch_size: usize,
    /// Claim at least this often even without notifications.
    pub poll_interval: Duration,
    /// Lease length; heartbeats renew it every third of it.
    pub lease: Duration,
    /// On shutdown, how long in-flight jobs may take before they are released.
    pub shutdown_grace: Duration,
    /// Run the rescuer and retention cleaner in this process too.
    pub maintenance: bool,
    /// Finished runs older than this are pruned by the cleaner.
    pub retention: Duration,
    /// How often the rescuer looks for expired leases (with `maintenance`).
    pub rescue_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            name: "worker".into(),
            queues: Vec::new(),
            concurrency: 16,
            batch_size: 32,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            maintenance: true,
            retention: Duration::from_secs(7 * 24 * 3600),
            rescue_interval: RescuerConfig::default().interval,
        }
    }
}

impl WorkerConfig {
    /// Checks the numbers are usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(EngineError::InvalidArgument(format!("worker config: {m}")));
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1");
        }
        if self.lease < Duration::from_millis(300) {
            return bad("lease must be at least 300ms");
        }
        if self.poll_interval.is_zero() {
            return bad("poll_interval must be positive");
        }
        Ok(())
    }
}

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    pool: PgPool,
    config: WorkerConfig,
    workflows: Vec<Workflow>,
}

impl WorkerBuilder {
    pub(crate) fn new(pool: PgPool) -> Self {
        WorkerBuilder {
            pool,
            config: WorkerConfig::default(),
            workflows: Vec::new(),
        }
    }
    /// Registers a workflow version this worker can run.
    pub fn workflow(mut self, wf: &Workflow) -> Self {
        self.workflows.push(wf.clone());
        self
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }
    /// Worker name.
    pub fn name(mut self, name: &str) -> Self {
        self.config.name = name.to_string();
        self
    }
    /// Serve only these queues.
    pub fn queues<S: AsRef<str>>(mut self, queues: impl IntoIterator<Item = S>) -> Self {
        self.config.queues = queues.into_iter().map(|q| q.as_ref().to_string()).collect();
        self
    }
    /// Concurrency limit.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n;
        self
    }
    /// Lease length.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }
    /// Fallback poll interval.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.config.poll_interval = every;
        self
    }
    /// Grace period for in-flight jobs on shutdown.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }
    /// How often the rescuer runs (with maintenance on).
    pub fn rescue_interval(mut self, every: Duration) -> Self {
        self.config.rescue_interval = every;
        self
    }
    /// Run maintenance services in this process (default true).
    pub fn maintenance(mut self, on: bool) -> Self {
        self.config.maintenance = on;
        self
    }

    /// Validates and builds the worker.
    pub fn build(self) -> Result<Worker> {
        self.config.validate()?;
        if self.workflows.is_empty() {
            return Err(EngineError::InvalidArgument(
                "a worker needs at least one workflow".into(),
            ));
        }
        let mut registry = HashMap::new();
        for wf in self.workflows {
            registry.insert(wf.pin(), wf);
        }
        let mut config = self.config;
        if config.queues.is_empty() {
            let mut qs: Vec<String> = registry.values().flat_map(|w| w.queues()).collect();
            qs.sort();
            qs.dedup();
            config.queues = qs;
        }
        Ok(Worker::new(self.pool, config, registry))
    }
}
