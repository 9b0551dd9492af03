//! Compensation: undo succeeded steps in reverse order, one retried job at a time.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Def, finish, job_state_for};
use crate::error::Result;
use crate::ids::Actor;
use crate::state::{JobKind, RunStatus};
use crate::store::events::{self, NewEvent};
use crate::store::executions;
use crate::store::jobs::{self, NewJob};
use crate::store::runs::{self, RunRow};

/// Starts compensating `run`: drops its jobs, cancels its active children (compensating
/// them too), and queues the first compensation. The run ends `target` (failed or
/// cancelled) once every compensation has run.
pub(crate) async fn begin_compensation(
    conn: &mut PgConnection,
    def: &Def,
    run: &mut RunRow,
    target: RunStatus,
    reason: &str,
    actor: &Actor,
) -> Result<()> {
    let why = format!("parent run {} is compensating", run.id);
    cancel_children(conn, run, &why, actor).await?;
    // After the children: one that ends at once may queue a (now pointless) join job here.
    jobs::delete_for_run(conn, run.id).await?;
    run.set_status(RunStatus::Compensating);
    run.compensation_target = Some(target);
    run.error = Some(reason.to_string());
    run.wait_signal = None;
    run.wait_deadline = None;
    let e = NewEvent::new(run.id, "run.compensating", actor)
        .reason(Some(reason))
        .data(json!({ "ends_as": target }));
    events::append(conn, &e).await?;
    schedule_next_compensation(conn, def, run, actor).await
}

/// Queues the next compensation, or ends the run when none is left.
pub(crate) async fn schedule_next_compensation(
    conn: &mut PgConnection,
    def: &Def,
    run: &mut RunRow,
    actor: &Actor,
) -> Result<()> {
    let steps = def.compensated_steps();
    let next = if steps.is_empty() {
        None
    } else {
        executions::next_to_compensate(conn, run.id, &steps).await?
    };
    let Some(next) = next else {
        let target = run.compensation_target.unwrap_or(RunStatus::Failed);
        return finish(conn, run, target, None, None, actor).await;
    };
    let spec = def.spec(&next.step)?;
    let input = next.output.unwrap_or(Value::Null);
    let job = NewJob {
        run_id: run.id,
        kind: JobKind::Compensate,
        queue: &spec.queue,
        pin: &def.pin,
        step: &next.step,
        iteration: next.iteration,
        max_attempts: spec.retry.max_attempts as i32,
        input: &input,
        state: job_state_for(run),
        delay: Duration::ZERO,
    };
    jobs::insert(conn, &job).await?;
    Ok(())
}

/// Cancels, with compensation, every child of `run` that has not ended; returns how many.
/// Used when the parent compensates, and when an operator moves it off a children step
/// (rewind, skip), so no child is left working for a step the parent has abandoned.
pub(crate) async fn cancel_children(
    conn: &mut PgConnection,
    run: &RunRow,
    reason: &str,
    actor: &Actor,
) -> Result<usize> {
    let mut cancelled = 0;
    // All of them locked before any ends: see `runs::lock_active_children`.
    for mut child in runs::lock_active_children(conn, run.id).await? {
        if child.status == RunStatus::Compensating {
            continue;
        }
        let child_def = Def::load(conn, &child.workflow, child.version).await?;
        Box::pin(begin_compensation(
            conn,
            &child_def,
            &mut child,
            RunStatus::Cancelled,
            reason,
            actor,
        ))
        .await?;
        runs::save(conn, &child).await?;
        cancelled += 1;
    }
    Ok(cancelled)
}
