//! `seam.runs`: one row per workflow run. The state machine locks a run, changes the
//! [`RunRow`] in memory, and writes it back with [`save`] in the same transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::Result;
use crate::ids::RunId;
use crate::state::RunStatus;

/// A run as stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RunRow {
    /// Run id.
    pub id: RunId,
    /// Workflow name.
    pub workflow: String,
    /// Definition version the run is pinned to.
    pub version: i32,
    /// Current status.
    pub status: RunStatus,
    /// The run's input.
    pub input: Value,
    /// Latest output of each completed step.
    pub outputs: Value,
    /// Final output (completed runs).
    pub output: Option<Value>,
    /// Why it failed, was cancelled, or is compensating.
    pub error: Option<String>,
    /// The step the run is at (or last was at).
    pub current_step: Option<String>,
    /// Gotos and rewinds taken so far.
    pub iteration: i32,
    /// The signal a waiting run waits for.
    pub wait_signal: Option<String>,
    /// When the wait gives up.
    pub wait_deadline: Option<DateTime<Utc>>,
    /// Status to return to on resume.
    pub paused_from: Option<RunStatus>,
    /// Terminal status a compensation ends in.
    pub compensation_target: Option<RunStatus>,
    /// Parent run (children steps).
    pub parent_run_id: Option<RunId>,
    /// Parent's children step.
    pub parent_step: Option<String>,
    /// Parent's iteration at the children step.
    pub parent_iteration: Option<i32>,
    /// Caller-given key that made the start idempotent.
    pub idempotency_key: Option<String>,
    /// Who started it.
    pub created_by: String,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunRow {
    /// Moves the run to `status`. While the run is paused a non-terminal status is only
    /// remembered (it takes effect on resume); a terminal one ends the pause.
    pub fn set_status(&mut self, status: RunStatus) {
        if self.status == RunStatus::Paused && !status.is_terminal() && status != RunStatus::Paused
        {
            self.paused_from = Some(status);
            return;
        }
        self.status = status;
        if status != RunStatus::Paused {
            self.paused_from = None;
        }
    }

    /// The status that counts for routing work: `paused_from` while paused.
    pub fn effective_status(&self) -> RunStatus {
        self.paused_from.unwrap_or(self.status)
    }

    /// Records `output` as the latest output of `step`.
    pub fn record_output(&mut self, step: &str, output: &Value) {
        if !self.outputs.is_object() {
            self.outputs = Value::Object(Default::default());
        }
        self.outputs
            .as_object_mut()
            .expect("made an object above")
            .insert(step.to_string(), output.clone());
    }
}

/// A run to insert.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Fresh id.
    pub id: RunId,
    /// Workflow name.
    pub workflow: &'a str,
    /// Definition version.
    pub version: i32,
    /// Input.
    pub input: &'a Value,
    /// Optional idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Who starts it.
    pub created_by: &'a str,
    /// Parent run, step and iteration for children.
    pub parent: Option<(RunId, &'a str, i32)>,
}

/// Inserts a pending run; `None` when a run with the same idempotency key exists.
pub async fn insert(conn: &mut PgConnection, run: &NewRun<'_>) -> Result<Option<RunId>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO seam.runs (id, workflow, version, status, input, idempotency_key, created_by,
                                parent_run_id, parent_step, parent_iteration)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9)
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id",
    )
    .bind(run.id.0)
    .bind(run.workflow)
    .bind(run.version)
    .bind(Json(run.input))
    .bind(run.idempotency_key)
    .bind(run.created_by)
    .bind(run.parent.map(|p| p.0.0))
    .bind(run.parent.map(|p| p.1))
    .bind(run.parent.map(|p| p.2))
    .fetch_optional(conn)
    .await?;
    Ok(id.map(RunId))
}

/// The run started earlier with this idempotency key.
pub async fn find_by_key(
    conn: &mut PgConnection,
    workflow: &str,
    key: &str,
) -> Result<Option<RunId>> {
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM seam.runs WHERE workflow = $1 AND idempotency_key = $2")
            .bind(workflow)
            .bind(key)
            .fetch_optional(conn)
            .await?;
    Ok(id.map(RunId))
}

/// Reads a run.
pub async fn get(conn: &mut PgConnection, id: RunId) -> Result<Option<RunRow>> {
    Ok(sqlx::query_as("SELECT * FROM seam.runs WHERE id = $1")
        .bind(id.0)
        .fetch_optional(conn)
        .await?)
}

/// Reads and row-locks a run. Every change to a run starts here, so changes to one run are
/// serialised and always take the run's lock before any of its jobs'.
///
/// The lock is `FOR NO KEY UPDATE`, the lock an `UPDATE` of non-key columns takes: it keeps
/// other changers out but not the `FOR KEY SHARE` that inserting a job, event or execution
/// of this run takes on it. So a child ending can queue its parent's join job while the
/// parent's own transaction holds the parent (see `machine::finish`).
pub async fn lock(conn: &mut PgConnection, id: RunId) -> Result<Option<RunRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM seam.runs WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.0)
            .fetch_optional(conn)
            .await?,
    )
}

/// Writes back every field the state machine may change.
pub async fn save(conn: &mut PgConnection, run: &RunRow) -> Result<()> {
    sqlx::query(
        "UPDATE seam.runs SET status = $2, outputs = $3, output = $4, error = $5,
                current_step = $6, iteration = $7, wait_signal = $8, wait_deadline = $9,
                paused_from = $10, compensation_target = $11, finished_at = $12,
                updated_at = now()
         WHERE id = $1",
    )
    .bind(run.id.0)
    .bind(run.status.as_str())
    .bind(Json(&run.outputs))
    .bind(run.output.as_ref().map(Json))
    .bind(run.error.as_deref())
    .bind(run.current_step.as_deref())
    .bind(run.iteration)
    .bind(run.wait_signal.as_deref())
    .bind(run.wait_deadline)
    .bind(run.paused_from.map(|s| s.as_str()))
    .bind(run.compensation_target.map(|s| s.as_str()))
    .bind(run.finished_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks pending runs running once their first job is claimed. Skips runs another
/// transaction holds (they will move on at their first completion).
pub async fn mark_started(conn: &mut PgConnection, ids: &[Uuid]) -> Result<()> {
    sqlx::query(
        "UPDATE seam.runs SET status = 'running', updated_at = now()
         WHERE id IN (SELECT id FROM seam.runs WHERE id = ANY($1) AND status = 'pending'
                      FOR NO KEY UPDATE SKIP LOCKED)",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Children started by `parent` at `step` in `iteration`, oldest first.
pub async fn children_of(
    conn: &mut PgConnection,
    parent: RunId,
    step: &str,
    iteration: i32,
) -> Result<Vec<RunRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM seam.runs
         WHERE parent_run_id = $1 AND parent_step = $2 AND parent_iteration = $3
         ORDER BY created_at, id",
    )
    .bind(parent.0)
    .bind(step)
    .bind(iteration)
    .fetch_all(conn)
    .await?)
}

/// Serialises, until the end of the transaction, the ends of `parent`'s children with one
/// another, without touching the parent's row (which its own changes lock first).
pub async fn serialize_child_ends(conn: &mut PgConnection, parent: RunId) -> Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('seam.child-ends/' || $1::text, 0))",
    )
    .bind(parent.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads and locks, in one statement and in id order, every child run of `parent` that has
/// not ended. A cascade (a parent cancelling its children) locks them all this way before it
/// ends any: ending a child takes its parent's child-ends lock ([`serialize_child_ends`]),
/// and a transaction holding that lock must never wait for another child's row, which a
/// child ending on its own holds while it waits for the same lock. A child that ends while
/// we wait for its row is rechecked against the filter and left out.
pub async fn lock_active_children(conn: &mut PgConnection, parent: RunId) -> Result<Vec<RunRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM seam.runs WHERE parent_run_id = $1
           AND status NOT IN ('completed', 'failed', 'cancelled')
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(parent.0)
    .fetch_all(conn)
    .await?)
}

/// Deletes up to `limit` runs that ended before `cutoff` and whose parent (if any) ended
/// too; returns how many went. Their jobs, executions, signals and events go with them.
/// Skips rows another transaction holds, so the cleaners of many workers take disjoint
/// batches instead of queueing behind (or deadlocking with) one another.
pub async fn delete_finished_before(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM seam.runs WHERE id IN (
             SELECT r.id FROM seam.runs r
             LEFT JOIN seam.runs p ON p.id = r.parent_run_id
             WHERE r.finished_at < $1 AND (p.id IS NULL OR p.finished_at IS NOT NULL)
             ORDER BY r.finished_at LIMIT $2
             FOR UPDATE OF r SKIP LOCKED)",
    )
    .bind(cutoff)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Locks many runs in id order (so concurrent batches cannot deadlock) and returns
/// `(id, status, has_parent)` for each.
pub async fn lock_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, RunStatus, bool)>> {
    Ok(sqlx::query_as(
        "SELECT id, status, parent_run_id IS NOT NULL FROM seam.runs
         WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// Step results to apply to many runs in one statement (column arrays of equal length).
#[derive(Debug, Default)]
pub struct StepAdvances {
    /// Runs.
    pub run_ids: Vec<Uuid>,
    /// Step that completed.
    pub steps: Vec<String>,
    /// Its output.
    pub outputs: Vec<Value>,
    /// Next step, or None when the run completes with the output.
    pub next_steps: Vec<Option<String>>,
}

/// Records each step's output and moves each run to its next task step (`running`) or to
/// `completed` with that output.
pub async fn advance_many(conn: &mut PgConnection, a: &StepAdvances) -> Result<()> {
    sqlx::query(
        "UPDATE seam.runs r SET
             outputs = r.outputs || jsonb_build_object(u.step, u.output),
             current_step = coalesce(u.next, r.current_step),
             status = CASE WHEN u.next IS NULL THEN 'completed' ELSE 'running' END,
             output = CASE WHEN u.next IS NULL THEN u.output END,
             finished_at = CASE WHEN u.next IS NULL THEN now() END,
             updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[]) AS u(id, step, output, next)
         WHERE r.id = u.id",
    )
    .bind(&a.run_ids)
    .bind(&a.steps)
    .bind(&a.outputs)
    .bind(&a.next_steps)
    .execute(conn)
    .await?;
    Ok(())
}
