//! Delivering a signal: store it, and wake the wait that consumes it.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Def, job_state_for};
use crate::error::{EngineError, Result};
use crate::ids::{Actor, RunId};
use crate::state::{JobKind, RunStatus};
use crate::store::events::{self, NewEvent};
use crate::store::jobs::{self, NewJob};
use crate::store::{runs, signals};

/// Stores signal `name` for `run` and, when the run waits for it, queues the wait's signal
/// job. Locks the run first, so a signal racing a wait's start is never lost: either the
/// wait sees it buffered, or the signal sees the wait.
pub(crate) async fn deliver_signal(
    conn: &mut PgConnection,
    run_id: RunId,
    name: &str,
    payload: &Value,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<i64> {
    if name.trim().is_empty() {
        return Err(EngineError::InvalidArgument(
            "signal name must not be empty".into(),
        ));
    }
    let run = runs::lock(conn, run_id)
        .await?
        .ok_or(EngineError::RunNotFound(run_id))?;
    if run.status.is_terminal() {
        return Err(EngineError::NotAllowed {
            action: "signal",
            run: run_id,
            status: run.status,
            hint: "the run has ended; signals are only kept for live runs".into(),
        });
    }
    let id = signals::insert(conn, run_id, name, payload, actor.as_str()).await?;
    let waiting_for_it =
        run.effective_status() == RunStatus::Waiting && run.wait_signal.as_deref() == Some(name);
    if waiting_for_it && let Some(step) = run.current_step.as_deref() {
        let def = Def::load(conn, &run.workflow, run.version).await?;
        let spec = def.spec(step)?;
        let job = NewJob {
            run_id,
            kind: JobKind::Signal,
            queue: &spec.queue,
            pin: &def.pin,
            step,
            iteration: run.iteration,
            max_attempts: spec.retry.max_attempts as i32,
            input: &Value::Null,
            state: job_state_for(&run),
            delay: Duration::ZERO,
        };
        jobs::insert(conn, &job).await?;
    }
    let e = NewEvent::new(run_id, "signal.received", actor)
        .reason(reason)
        .data(json!({
            "signal": name,
            "id": id,
            "delivered": waiting_for_it,
        }));
    events::append(conn, &e).await?;
    Ok(id)
}
