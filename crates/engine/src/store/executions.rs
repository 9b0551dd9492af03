//! `seam.step_executions`: one row per ended attempt of a job (step, compensation, signal,
//! timer, join), with its input, output, error, worker and timings.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::Result;
use crate::ids::RunId;
use crate::state::{ExecutionStatus, JobKind};

/// An execution as stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ExecutionRow {
    /// Row id (order of recording).
    pub id: i64,
    /// Its run.
    pub run_id: RunId,
    /// Job kind that ran.
    pub kind: JobKind,
    /// Queue the job ran from.
    pub queue: String,
    /// Step.
    pub step: String,
    /// Iteration.
    pub iteration: i32,
    /// Attempt.
    pub attempt: i32,
    /// How it ended.
    pub status: ExecutionStatus,
    /// Input given.
    pub input: Option<Value>,
    /// Output produced.
    pub output: Option<Value>,
    /// Error, if it failed.
    pub error: Option<String>,
    /// Worker that ran it.
    pub worker_id: Option<Uuid>,
    /// Start of the attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// End of the attempt.
    pub finished_at: DateTime<Utc>,
}

/// An execution to record.
#[derive(Debug, Clone)]
pub struct NewExecution<'a> {
    /// Its run.
    pub run_id: RunId,
    /// Job kind.
    pub kind: JobKind,
    /// Queue.
    pub queue: &'a str,
    /// Step.
    pub step: &'a str,
    /// Iteration.
    pub iteration: i32,
    /// Attempt.
    pub attempt: i32,
    /// How it ended.
    pub status: ExecutionStatus,
    /// Input.
    pub input: Option<&'a Value>,
    /// Output.
    pub output: Option<&'a Value>,
    /// Error.
    pub error: Option<&'a str>,
    /// Worker.
    pub worker_id: Option<Uuid>,
    /// Start.
    pub started_at: Option<DateTime<Utc>>,
}

/// Records an execution.
pub async fn insert(conn: &mut PgConnection, e: &NewExecution<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO seam.step_executions
             (run_id, kind, queue, step, iteration, attempt, status, input, output, error,
              worker_id, started_at)
         VALUES ($1, $2, $12, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.run_id.0)
    .bind(e.kind.as_str())
    .bind(e.step)
    .bind(e.iteration)
    .bind(e.attempt)
    .bind(e.status.as_str())
    .bind(e.input.map(Json))
    .bind(e.output.map(Json))
    .bind(e.error)
    .bind(e.worker_id)
    .bind(e.started_at)
    .bind(e.queue)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every execution of a run, in order.
pub async fn for_run(conn: &mut PgConnection, run: RunId) -> Result<Vec<ExecutionRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM seam.step_executions WHERE run_id = $1 ORDER BY id")
            .bind(run.0)
            .fetch_all(conn)
            .await?,
    )
}

/// A succeeded step whose compensation has yet to run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ToCompensate {
    /// Step.
    pub step: String,
    /// Iteration it succeeded in.
    pub iteration: i32,
    /// Its output (the compensation's input).
    pub output: Option<Value>,
}

/// The most recently succeeded execution among `steps` (those with a compensation) whose
/// compensation has not completed or been skipped: the next compensation to run.
pub async fn next_to_compensate(
    conn: &mut PgConnection,
    run: RunId,
    steps: &[String],
) -> Result<Option<ToCompensate>> {
    Ok(sqlx::query_as(
        "SELECT s.step, s.iteration, s.output FROM seam.step_executions s
         WHERE s.run_id = $1 AND s.kind = 'step' AND s.status = 'completed'
           AND s.step = ANY($2)
           AND NOT EXISTS (
               SELECT 1 FROM seam.step_executions c
               WHERE c.run_id = s.run_id AND c.kind = 'compensate'
                 AND c.status IN ('completed', 'skipped')
                 AND c.step = s.step AND c.iteration = s.iteration)
         ORDER BY s.id DESC LIMIT 1",
    )
    .bind(run.0)
    .bind(steps)
    .fetch_optional(conn)
    .await?)
}

/// Completed step executions to record in one statement (column arrays of equal length).
#[derive(Debug, Default)]
pub struct CompletedSteps {
    /// Runs.
    pub run_ids: Vec<Uuid>,
    /// Queues.
    pub queues: Vec<String>,
    /// Steps.
    pub steps: Vec<String>,
    /// Iterations.
    pub iterations: Vec<i32>,
    /// Attempts.
    pub attempts: Vec<i32>,
    /// Inputs.
    pub inputs: Vec<Value>,
    /// Outputs.
    pub outputs: Vec<Value>,
    /// Workers.
    pub worker_ids: Vec<Uuid>,
    /// Attempt starts.
    pub started_at: Vec<DateTime<Utc>>,
}

/// Records many completed step executions at once.
pub async fn insert_completed(conn: &mut PgConnection, e: &CompletedSteps) -> Result<()> {
    sqlx::query(
        "INSERT INTO seam.step_executions
             (run_id, kind, queue, step, iteration, attempt, status, input, output, worker_id,
              started_at)
         SELECT r, 'step', q, s, i, a, 'completed', inp, outp, w, st
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::int[], $6::jsonb[],
                     $7::jsonb[], $8::uuid[], $9::timestamptz[])
              AS u(r, q, s, i, a, inp, outp, w, st)",
    )
    .bind(&e.run_ids)
    .bind(&e.queues)
    .bind(&e.steps)
    .bind(&e.iterations)
    .bind(&e.attempts)
    .bind(&e.inputs)
    .bind(&e.outputs)
    .bind(&e.worker_ids)
    .bind(&e.started_at)
    .execute(conn)
    .await?;
    Ok(())
}
