//! The retention cleaner: deletes finished runs (with their jobs, executions, signals and
//! history) older than the retention age, in batches, and forgets long-silent workers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::error::Result;
use crate::store::{runs, workers};

/// Cleaner settings.
#[derive(Debug, Clone)]
pub struct CleanerConfig {
    /// Finished runs older than this are deleted.
    pub retention: Duration,
    /// How often to run.
    pub interval: Duration,
    /// Runs deleted per statement (keeps transactions short).
    pub batch: i64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            retention: Duration::from_secs(7 * 24 * 3600),
            interval: Duration::from_secs(60),
            batch: 1_000,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanerReport {
    /// Runs deleted.
    pub runs_deleted: u64,
    /// Worker rows deleted.
    pub workers_deleted: u64,
}

/// Prunes finished runs.
pub struct Cleaner {
    pool: PgPool,
    config: CleanerConfig,
}

impl Cleaner {
    /// A cleaner on `pool`.
    pub fn new(pool: PgPool, config: CleanerConfig) -> Self {
        Cleaner { pool, config }
    }

    /// Runs passes every `interval` until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.run_once(Utc::now()).await {
                tracing::warn!(error = %e, "cleaner pass failed");
            }
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }

    /// One pass, as of `now`: deletes batches until none is left.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<CleanerReport> {
        let cutoff = now
            - chrono::Duration::from_std(self.config.retention).unwrap_or(chrono::Duration::MAX);
        let mut report = CleanerReport::default();
        let mut conn = self.pool.acquire().await?;
        loop {
            let n = runs::delete_finished_before(&mut conn, cutoff, self.config.batch).await?;
            report.runs_deleted += n;
            if n < self.config.batch as u64 {
                break;
            }
        }
        report.workers_deleted = workers::delete_silent_before(&mut conn, cutoff).await?;
        if report.runs_deleted > 0 {
            tracing::info!(runs = report.runs_deleted, "pruned finished runs");
        }
        Ok(report)
    }
}
