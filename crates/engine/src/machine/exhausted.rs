//! A job that failed for good (attempts exhausted, fatal error, or lost too often): what
//! becomes of its run. Shared by workers and the rescuer.

use serde_json::json;
use sqlx::PgConnection;

use super::{Def, begin_compensation};
use crate::definition::OnExhausted;
use crate::error::Result;
use crate::ids::Actor;
use crate::state::{JobKind, RunStatus};
use crate::store::events::{self, NewEvent};
use crate::store::jobs::JobRow;
use crate::store::runs::RunRow;

/// What to do with a job that failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Keep the job dead; the run waits for an operator (`compensation_failed`).
    KillCompensation,
    /// Keep the job dead; the run stays where it is (step parked by its policy).
    Park,
    /// Drop the job and compensate the run.
    Compensate,
}

/// Decides how to give up on `job`. Fatal errors always compensate; exhausted retries follow
/// the step's `on_exhausted`.
pub(crate) fn give_up_action(def: &Def, job: &JobRow, fatal: bool) -> GiveUp {
    if job.kind == JobKind::Compensate {
        return GiveUp::KillCompensation;
    }
    let park = def
        .spec(&job.step)
        .map(|s| s.on_exhausted == OnExhausted::Park)
        .unwrap_or(false);
    if park && !fatal {
        GiveUp::Park
    } else {
        GiveUp::Compensate
    }
}

/// Applies the run side of giving up; the caller has already killed or deleted the job.
pub(crate) async fn give_up(
    conn: &mut PgConnection,
    def: &Def,
    run: &mut RunRow,
    job: &JobRow,
    action: GiveUp,
    error: &str,
    actor: &Actor,
) -> Result<()> {
    let data = json!({ "job": job.id, "kind": job.kind, "attempts": job.attempt });
    match action {
        GiveUp::KillCompensation => {
            run.set_status(RunStatus::CompensationFailed);
            let e = NewEvent::new(run.id, "compensation.dead", actor)
                .step(&job.step, job.iteration)
                .attempt(job.attempt)
                .reason(Some(error))
                .data(data);
            events::append(conn, &e).await
        }
        GiveUp::Park => {
            let e = NewEvent::new(run.id, "step.dead", actor)
                .step(&job.step, job.iteration)
                .attempt(job.attempt)
                .reason(Some(error))
                .data(data);
            events::append(conn, &e).await
        }
        GiveUp::Compensate => {
            let why = format!("step '{}' failed: {error}", job.step);
            begin_compensation(conn, def, run, RunStatus::Failed, &why, actor).await
        }
    }
}
