//! The rescuer: takes back jobs whose lease expired (their worker crashed, stalled or lost
//! the network). A job with attempts left is requeued with the attempt counted; one with
//! none left is dead, so a job that kills its worker every time is not retried forever.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::error::Result;
use crate::ids::Actor;
use crate::machine::{self, Def, GiveUp};
use crate::state::{ExecutionStatus, JobState};
use crate::store::events::{self, NewEvent};
use crate::store::executions::{self, NewExecution};
use crate::store::{jobs, runs};

/// Rescuer settings.
#[derive(Debug, Clone)]
pub struct RescuerConfig {
    /// How often to look.
    pub interval: Duration,
    /// Most jobs handled per pass.
    pub batch: i64,
}

impl Default for RescuerConfig {
    fn default() -> Self {
        RescuerConfig {
            interval: Duration::from_secs(5),
            batch: 500,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Jobs put back for another attempt.
    pub requeued: u64,
    /// Jobs marked dead (no attempts left).
    pub dead: u64,
}

/// Rescues jobs with expired leases.
pub struct Rescuer {
    pool: PgPool,
    config: RescuerConfig,
    actor: Actor,
}

impl Rescuer {
    /// A rescuer on `pool`.
    pub fn new(pool: PgPool, config: RescuerConfig) -> Self {
        Rescuer {
            pool,
            config,
            actor: Actor::system("rescuer"),
        }
    }

    /// Runs passes every `interval` until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.run_once(Utc::now()).await {
                tracing::warn!(error = %e, "rescuer pass failed");
            }
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }

    /// One pass: every job whose lease expired before `now`.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<RescueReport> {
        let mut report = RescueReport::default();
        let candidates = {
            let mut conn = self.pool.acquire().await?;
            jobs::expired(&mut conn, now, self.config.batch).await?
        };
        for candidate in candidates {
            match self.rescue(candidate.run_id, candidate.id, now).await? {
                Some(true) => report.requeued += 1,
                Some(false) => report.dead += 1,
                None => {}
            }
        }
        if report.requeued + report.dead > 0 {
            tracing::info!(
                requeued = report.requeued,
                dead = report.dead,
                "rescued jobs"
            );
        }
        Ok(report)
    }

    /// Rescues one job: Some(true) requeued, Some(false) dead, None if it was no longer
    /// expired (completed or heartbeated meanwhile: a completion that committed first wins).
    async fn rescue(
        &self,
        run_id: crate::ids::RunId,
        job_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>> {
        let mut tx = self.pool.begin().await?;
        let Some(mut run) = runs::lock(&mut tx, run_id).await? else {
            return Ok(None);
        };
        let Some(job) = jobs::lock(&mut tx, job_id).await? else {
            return Ok(None);
        };
        let still_expired =
            job.state == JobState::Running && job.lease_expires_at.is_some_and(|t| t < now);
        if !still_expired {
            return Ok(None);
        }
        let requeue = job.attempt < job.max_attempts;
        let status = if requeue {
            ExecutionStatus::Lost
        } else {
            ExecutionStatus::Dead
        };
        let error = format!(
            "lease expired at {}: worker {} stopped or stalled",
            job.lease_expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            job.worker_id.map(|w| w.to_string()).unwrap_or_default()
        );
        let exec = NewExecution {
            run_id,
            kind: job.kind,
            queue: &job.queue,
            step: &job.step,
            iteration: job.iteration,
            attempt: job.attempt,
            status,
            input: Some(&job.input),
            output: None,
            error: Some(&error),
            worker_id: job.worker_id,
            started_at: job.started_at,
        };
        executions::insert(&mut tx, &exec).await?;
        if requeue {
            jobs::requeue_expired(&mut tx, job.id).await?;
            let e = NewEvent::new(run_id, "attempt.lost", &self.actor)
                .step(&job.step, job.iteration)
                .attempt(job.attempt)
                .reason(Some(&error))
                .data(json!({ "job": job.id, "kind": job.kind }));
            events::append(&mut tx, &e).await?;
        } else {
            let def = Def::load(&mut tx, &run.workflow, run.version).await?;
            let action = machine::give_up_action(&def, &job, false);
            match action {
                GiveUp::Compensate => {} // begin_compensation drops the job
                GiveUp::Park | GiveUp::KillCompensation => {
                    jobs::kill_expired(&mut tx, job.id, &error).await?
                }
            }
            let why = format!("no attempts left after {} lost leases", job.attempt);
            machine::give_up(&mut tx, &def, &mut run, &job, action, &why, &self.actor).await?;
            runs::save(&mut tx, &run).await?;
        }
        tx.commit().await?;
        Ok(Some(requeue))
    }
}
