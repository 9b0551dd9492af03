//! `seam.jobs`: the queue. Claims lease rows with `FOR UPDATE SKIP LOCKED`; every change a
//! worker makes to its job is fenced by the lease token (zero rows = the lease was lost).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::JOBS_CHANNEL;
use crate::error::Result;
use crate::ids::{RunId, WorkerId};
use crate::state::{JobKind, JobState};

/// A job as stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct JobRow {
    /// Job id.
    pub id: i64,
    /// Its run.
    pub run_id: RunId,
    /// What to do.
    pub kind: JobKind,
    /// Queue it waits in.
    pub queue: String,
    /// `workflow@version` a worker must have.
    pub pin: String,
    /// Step it belongs to.
    pub step: String,
    /// Run iteration it belongs to.
    pub iteration: i32,
    /// Current attempt, from 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Handler input.
    pub input: Value,
    /// Ready, running, dead or paused.
    pub state: JobState,
    /// Not claimable before.
    pub run_at: DateTime<Utc>,
    /// Lease token while running.
    pub lease_token: Option<Uuid>,
    /// Lease expiry while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Worker holding the lease.
    pub worker_id: Option<Uuid>,
    /// When the current attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// Its run.
    pub run_id: RunId,
    /// What to do.
    pub kind: JobKind,
    /// Queue.
    pub queue: &'a str,
    /// `workflow@version`.
    pub pin: &'a str,
    /// Step.
    pub step: &'a str,
    /// Iteration.
    pub iteration: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Handler input.
    pub input: &'a Value,
    /// Ready or paused.
    pub state: JobState,
    /// Not claimable before the database's `now()` plus this.
    pub delay: Duration,
}

/// PostgreSQL intervals hold microseconds; a jittered backoff has nanoseconds.
fn interval(d: Duration) -> Duration {
    Duration::from_micros(d.as_micros().min(u64::MAX as u128) as u64)
}

/// Enqueues a job; wakes listening workers (on commit) when it is ready now.
pub async fn insert(conn: &mut PgConnection, job: &NewJob<'_>) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "WITH j AS (
             INSERT INTO seam.jobs (run_id, kind, queue, pin, step, iteration, max_attempts,
                                    input, state, run_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + $10)
             ON CONFLICT DO NOTHING
             RETURNING id, queue, state, run_at)
         SELECT id FROM j
         WHERE state <> 'ready' OR run_at > now() OR pg_notify($11, queue) IS NOT NULL",
    )
    .bind(job.run_id.0)
    .bind(job.kind.as_str())
    .bind(job.queue)
    .bind(job.pin)
    .bind(job.step)
    .bind(job.iteration)
    .bind(job.max_attempts)
    .bind(Json(job.input))
    .bind(job.state.as_str())
    .bind(interval(job.delay))
    .bind(JOBS_CHANNEL)
    .fetch_optional(conn)
    .await?
    .unwrap_or(0);
    Ok(id)
}

/// What a claim asks for.
#[derive(Debug, Clone)]
pub struct ClaimParams<'a> {
    /// Queues the worker serves.
    pub queues: &'a [String],
    /// `workflow@version` pins the worker can run.
    pub pins: &'a [String],
    /// The claiming worker.
    pub worker_id: WorkerId,
    /// The time to claim at; `None` is the database's `now()` (tests inject a time).
    pub now: Option<DateTime<Utc>>,
    /// Lease length.
    pub lease: Duration,
    /// Most jobs to claim.
    pub limit: i64,
}

/// A claimed job with what its handler needs from the run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    /// The job, now running under our lease.
    #[sqlx(flatten)]
    pub job: JobRow,
    /// The run's input.
    pub run_input: Value,
    /// The run's step outputs.
    pub run_outputs: Value,
    /// The run's status when claimed.
    pub run_status: String,
}

/// Claims up to `limit` ready jobs, oldest `run_at` first, in one statement.
pub async fn claim(conn: &mut PgConnection, p: &ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
    Ok(sqlx::query_as(
        "WITH picked AS (
             -- One index-ordered scan of jobs_claim per queue: cost stays flat however many
             -- jobs are due (a plain `queue = ANY(..) ORDER BY run_at` sorts them all).
             SELECT j.id FROM unnest($1::text[]) AS q(name)
             CROSS JOIN LATERAL (
                 SELECT id, run_at FROM seam.jobs
                 WHERE state = 'ready' AND queue = q.name AND run_at <= coalesce($3, now())
                   AND pin = ANY($2)
                 ORDER BY run_at, id
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED) j
             ORDER BY j.run_at, j.id
             LIMIT $4),
         claimed AS (
             UPDATE seam.jobs j
             SET state = 'running', lease_token = gen_random_uuid(),
                 lease_expires_at = coalesce($3, now()) + $5, worker_id = $6,
                 started_at = coalesce($3, now())
             FROM picked WHERE j.id = picked.id
             RETURNING j.*)
         SELECT c.*, r.input AS run_input, r.outputs AS run_outputs, r.status AS run_status
         FROM claimed c JOIN seam.runs r ON r.id = c.run_id
         ORDER BY c.run_at, c.id",
    )
    .bind(p.queues)
    .bind(p.pins)
    .bind(p.now)
    .bind(p.limit)
    .bind(interval(p.lease))
    .bind(p.worker_id.0)
    .fetch_all(conn)
    .await?)
}

/// Deletes a finished job if we still hold its lease. False = the lease was lost.
pub async fn delete_leased(conn: &mut PgConnection, id: i64, token: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM seam.jobs WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a failed job back for its next attempt after `delay`. False = the lease was lost.
pub async fn retry_leased(
    conn: &mut PgConnection,
    id: i64,
    token: Uuid,
    delay: Duration,
    error: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE seam.jobs SET state = 'ready', attempt = attempt + 1, run_at = now() + $3,
                last_error = $4, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(token)
    .bind(interval(delay))
    .bind(error)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a job we lease dead (attempts exhausted). False = the lease was lost.
pub async fn kill_leased(
    conn: &mut PgConnection,
    id: i64,
    token: Uuid,
    error: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE seam.jobs SET state = 'dead', last_error = $3,
                lease_token = NULL, lease_expires_at = NULL
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(token)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends our lease on a job now, so the rescuer's next pass counts the attempt and re-queues
/// the job (or ends it dead) instead of waiting out the whole lease. For a completion that
/// could not commit (a deadlock victim, a dropped connection). False = the lease was lost.
pub async fn expire_leased(conn: &mut PgConnection, id: i64, token: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE seam.jobs SET lease_expires_at = now()
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a job back without counting an attempt (graceful shutdown).
pub async fn release_leased(conn: &mut PgConnection, id: i64, token: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE seam.jobs SET state = 'ready', run_at = now(), lease_token = NULL,
                lease_expires_at = NULL, worker_id = NULL,
                last_error = 'released by a worker shutting down'
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(token)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends the leases of jobs we still hold; skips rows another transaction has locked
/// (they are being completed or changed by an operator). Returns the ids extended.
pub async fn heartbeat(
    conn: &mut PgConnection,
    ids: &[i64],
    tokens: &[Uuid],
    lease: Duration,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE seam.jobs SET lease_expires_at = now() + $3
         WHERE id IN (SELECT j.id FROM seam.jobs j
                      JOIN unnest($1::bigint[], $2::uuid[]) AS h(id, token)
                        ON j.id = h.id AND j.lease_token = h.token
                      WHERE j.state = 'running'
                      FOR UPDATE OF j SKIP LOCKED)
         RETURNING id",
    )
    .bind(ids)
    .bind(tokens)
    .bind(interval(lease))
    .fetch_all(conn)
    .await?)
}

/// Jobs whose lease expired before `now` (candidates for the rescuer).
pub async fn expired(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<JobRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM seam.jobs WHERE state = 'running' AND lease_expires_at < $1
         ORDER BY lease_expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Reads and locks one job.
pub async fn lock(conn: &mut PgConnection, id: i64) -> Result<Option<JobRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM seam.jobs WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Rescuer: requeue an expired job for another attempt, claimable at once.
pub async fn requeue_expired(conn: &mut PgConnection, id: i64) -> Result<()> {
    sqlx::query(
        "WITH j AS (
             UPDATE seam.jobs SET state = 'ready', attempt = attempt + 1, run_at = now(),
                    last_error = 'lease expired: the worker stopped or stalled',
                    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL
             WHERE id = $1 RETURNING queue)
         SELECT pg_notify($2, queue) FROM j",
    )
    .bind(id)
    .bind(JOBS_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rescuer: mark an expired job dead (no attempts left).
pub async fn kill_expired(conn: &mut PgConnection, id: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE seam.jobs SET state = 'dead', last_error = $2, lease_token = NULL,
                lease_expires_at = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every job of a run.
pub async fn for_run(conn: &mut PgConnection, run: RunId) -> Result<Vec<JobRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM seam.jobs WHERE run_id = $1 ORDER BY id")
            .bind(run.0)
            .fetch_all(conn)
            .await?,
    )
}

/// Deletes every job of a run (leased ones too: their workers are fenced out).
pub async fn delete_for_run(conn: &mut PgConnection, run: RunId) -> Result<()> {
    sqlx::query("DELETE FROM seam.jobs WHERE run_id = $1")
        .bind(run.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a run's jobs from one state to another (pause: ready -> paused; resume back).
pub async fn move_state(
    conn: &mut PgConnection,
    run: RunId,
    from: JobState,
    to: JobState,
) -> Result<u64> {
    let done = sqlx::query(
        "WITH j AS (UPDATE seam.jobs SET state = $3 WHERE run_id = $1 AND state = $2
                    RETURNING queue, state)
         SELECT count(*) FROM j WHERE state <> 'ready' OR pg_notify($4, queue) IS NOT NULL",
    )
    .bind(run.0)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(JOBS_CHANNEL)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Operator retry: makes a run's dead jobs, ready jobs waiting out a backoff, and running
/// jobs whose lease expired (their worker is gone) ready now. Dead jobs get
/// `extra_attempts` more attempts; an expired lease counts as an attempt but never uses
/// up the last one. Returns how many jobs moved.
pub async fn retry_now(conn: &mut PgConnection, run: RunId, extra_attempts: i32) -> Result<u64> {
    let rows: Vec<i64> = sqlx::query_scalar(
        "WITH j AS (
             UPDATE seam.jobs SET
                 max_attempts = CASE WHEN state = 'dead' THEN attempt + $2
                                     WHEN state = 'running' THEN greatest(max_attempts, attempt + 1)
                                     ELSE max_attempts END,
                 attempt = CASE WHEN state IN ('dead', 'running') THEN attempt + 1 ELSE attempt END,
                 last_error = CASE WHEN state = 'running'
                                   THEN 'lease expired; requeued by an operator'
                                   ELSE last_error END,
                 state = 'ready', run_at = now(),
                 lease_token = NULL, lease_expires_at = NULL, worker_id = NULL
             WHERE run_id = $1 AND (state = 'dead' OR (state = 'ready' AND run_at > now())
                                    OR (state = 'running' AND lease_expires_at < now()))
             RETURNING id, queue)
         SELECT id FROM j WHERE pg_notify($3, queue) IS NOT NULL",
    )
    .bind(run.0)
    .bind(extra_attempts)
    .bind(JOBS_CHANNEL)
    .fetch_all(conn)
    .await?;
    Ok(rows.len() as u64)
}

/// Deletes many finished jobs we still lease, in one statement; returns the ids deleted
/// (a missing id lost its lease).
pub async fn delete_leased_many(
    conn: &mut PgConnection,
    ids: &[i64],
    tokens: &[Uuid],
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "DELETE FROM seam.jobs j USING unnest($1::bigint[], $2::uuid[]) AS c(id, token)
         WHERE j.id = c.id AND j.lease_token = c.token AND j.state = 'running'
         RETURNING j.id",
    )
    .bind(ids)
    .bind(tokens)
    .fetch_all(conn)
    .await?)
}

/// Ready step jobs to enqueue in one statement (column arrays of equal length).
#[derive(Debug, Default)]
pub struct NewStepJobs {
    /// Runs.
    pub run_ids: Vec<Uuid>,
    /// Queues.
    pub queues: Vec<String>,
    /// Pins.
    pub pins: Vec<String>,
    /// Steps.
    pub steps: Vec<String>,
    /// Iterations.
    pub iterations: Vec<i32>,
    /// Attempts allowed.
    pub max_attempts: Vec<i32>,
    /// Inputs.
    pub inputs: Vec<Value>,
}

/// Enqueues many ready step jobs and wakes listening workers once per queue (on commit).
pub async fn insert_steps(conn: &mut PgConnection, jobs: &NewStepJobs) -> Result<()> {
    if jobs.run_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH j AS (
             INSERT INTO seam.jobs (run_id, kind, queue, pin, step, iteration, max_attempts,
                                    input, state, run_at)
             SELECT r, 'step', q, p, s, i, m, inp, 'ready', now()
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                         $7::jsonb[]) AS u(r, q, p, s, i, m, inp)
             RETURNING queue)
         SELECT pg_notify($8, queue) FROM (SELECT DISTINCT queue FROM j) q",
    )
    .bind(&jobs.run_ids)
    .bind(&jobs.queues)
    .bind(&jobs.pins)
    .bind(&jobs.steps)
    .bind(&jobs.iterations)
    .bind(&jobs.max_attempts)
    .bind(&jobs.inputs)
    .bind(JOBS_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}
