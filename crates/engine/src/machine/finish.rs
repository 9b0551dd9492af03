//! Ending a run, and telling its parent in the same transaction.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Def, job_state_for};
use crate::error::Result;
use crate::ids::Actor;
use crate::state::{JobKind, RunStatus};
use crate::store::events::{self, NewEvent};
use crate::store::jobs::{self, NewJob};
use crate::store::runs::{self, RunRow};

/// Moves `run` to a terminal status, drops its jobs, records the event, and delivers the end
/// to its parent's children step (in this same transaction).
pub(crate) async fn finish(
    conn: &mut PgConnection,
    run: &mut RunRow,
    status: RunStatus,
    output: Option<Value>,
    error: Option<String>,
    actor: &Actor,
) -> Result<()> {
    debug_assert!(status.is_terminal());
    jobs::delete_for_run(conn, run.id).await?;
    run.set_status(status);
    run.output = output;
    if error.is_some() {
        run.error = error;
    }
    run.wait_signal = None;
    run.wait_deadline = None;
    run.finished_at = Some(Utc::now());
    let kind = match status {
        RunStatus::Completed => "run.completed",
        RunStatus::Failed => "run.failed",
        _ => "run.cancelled",
    };
    let e = NewEvent::new(run.id, kind, actor).reason(run.error.as_deref());
    events::append(conn, &e).await?;
    if run.parent_run_id.is_some() {
        notify_parent(conn, run, actor).await?;
    }
    Ok(())
}

/// Queues a join job on the parent when all its children at that step have ended, or when
/// this child failed (the parent may fail fast).
///
/// This never takes the parent's row lock. A parent that compensates holds its own row and
/// then locks each child to cancel it; a child ending at that moment holds its own row, so
/// waiting here for the parent's would close a deadlock cycle. Siblings ending at once are
/// serialised by an advisory lock on the parent instead, which only they take, so exactly
/// one of them sees every sibling ended. The parent is read without a lock: anything that
/// moves it off this step meanwhile also drops or ignores the join job queued here.
async fn notify_parent(conn: &mut PgConnection, child: &RunRow, actor: &Actor) -> Result<()> {
    let (Some(parent_id), Some(step), Some(iteration)) = (
        child.parent_run_id,
        child.parent_step.as_deref(),
        child.parent_iteration,
    ) else {
        return Ok(());
    };
    runs::serialize_child_ends(conn, parent_id).await?;
    let Some(parent) = runs::get(conn, parent_id).await? else {
        return Ok(());
    };
    let at_step = parent.effective_status() == RunStatus::Waiting
        && parent.current_step.as_deref() == Some(step)
        && parent.iteration == iteration;
    if !at_step {
        return Ok(());
    }
    let siblings = runs::children_of(conn, parent_id, step, iteration).await?;
    // The caller saves this child's row after we return, so count it as ended explicitly.
    let all_done = siblings
        .iter()
        .all(|s| s.id == child.id || s.status.is_terminal());
    let failed = child.status != RunStatus::Completed;
    let e = NewEvent::new(parent_id, "child.ended", actor)
        .step(step, iteration)
        .data(json!({ "child": child.id, "status": child.status, "all_done": all_done }));
    events::append(conn, &e).await?;
    if !all_done && !failed {
        return Ok(());
    }
    let def = Def::load(conn, &parent.workflow, parent.version).await?;
    let spec = def.spec(step)?;
    let job = NewJob {
        run_id: parent_id,
        kind: JobKind::Join,
        queue: &spec.queue,
        pin: &def.pin,
        step,
        iteration,
        max_attempts: spec.retry.max_attempts as i32,
        input: &Value::Null,
        state: job_state_for(&parent),
        delay: Duration::ZERO,
    };
    jobs::insert(conn, &job).await?;
    Ok(())
}
