//! Entering a step: queue its job, or set up its wait, timer or children.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Def, job_state_for};
use crate::definition::StepKind;
use crate::error::Result;
use crate::ids::Actor;
use crate::state::{JobKind, RunStatus};
use crate::store::events::{self, NewEvent};
use crate::store::jobs::{self, NewJob};
use crate::store::runs::RunRow;
use crate::store::signals;

/// Moves `run` into step `idx` with `input`, in the run's current iteration.
///
/// A wait's deadline timer is written here, in the same transaction that enters the wait,
/// and signals that arrived before the wait are picked up at once.
pub(crate) async fn enter_step(
    conn: &mut PgConnection,
    def: &Def,
    run: &mut RunRow,
    idx: usize,
    input: &Value,
    actor: &Actor,
) -> Result<()> {
    let spec = &def.specs[idx];
    // Only a run being started stays pending until a worker claims its first job.
    let starting = run.current_step.is_none() && run.status == RunStatus::Pending;
    run.current_step = Some(spec.name.clone());
    run.wait_signal = None;
    run.wait_deadline = None;
    let mut job = NewJob {
        run_id: run.id,
        kind: JobKind::Step,
        queue: &spec.queue,
        pin: &def.pin,
        step: &spec.name,
        iteration: run.iteration,
        max_attempts: spec.retry.max_attempts as i32,
        input,
        state: job_state_for(run),
        delay: Duration::ZERO,
    };
    match &spec.kind {
        StepKind::Task | StepKind::Children { .. } => {
            if !starting {
                run.set_status(RunStatus::Running);
            }
            jobs::insert(conn, &job).await?;
        }
        StepKind::Sleep { duration_ms } => {
            run.set_status(RunStatus::Waiting);
            job.kind = JobKind::Timer;
            job.delay = Duration::from_millis(*duration_ms);
            run.wait_deadline = Some(Utc::now() + job.delay);
            jobs::insert(conn, &job).await?;
            let e = NewEvent::new(run.id, "sleep.started", actor)
                .step(&spec.name, run.iteration)
                .data(json!({ "until": run.wait_deadline }));
            events::append(conn, &e).await?;
        }
        StepKind::Wait {
            signal,
            deadline_ms,
            ..
        } => {
            run.set_status(RunStatus::Waiting);
            run.wait_signal = Some(signal.clone());
            if let Some(ms) = deadline_ms {
                job.kind = JobKind::Timer;
                job.delay = Duration::from_millis(*ms);
                run.wait_deadline = Some(Utc::now() + job.delay);
                jobs::insert(conn, &job).await?;
            }
            let buffered = signals::has_pending(conn, run.id, signal).await?;
            if buffered {
                job.kind = JobKind::Signal;
                job.delay = Duration::ZERO;
                jobs::insert(conn, &job).await?;
            }
            let e = NewEvent::new(run.id, "wait.started", actor)
                .step(&spec.name, run.iteration)
                .data(json!({
                    "signal": signal,
                    "deadline": run.wait_deadline,
                    "buffered_signals": buffered,
                }));
            events::append(conn, &e).await?;
        }
    }
    Ok(())
}
