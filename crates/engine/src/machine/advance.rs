//! Applying a step's transition: next, goto, complete or fail.

use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Def, begin_compensation, enter_step, finish};
use crate::definition::{StepKind, Transition};
use crate::error::Result;
use crate::ids::Actor;
use crate::state::RunStatus;
use crate::store::events::{self, NewEvent};
use crate::store::jobs;
use crate::store::runs::RunRow;

/// Applies `transition`, returned by step `step`, to the locked `run`.
pub(crate) async fn advance(
    conn: &mut PgConnection,
    def: &Def,
    run: &mut RunRow,
    step: &str,
    transition: Transition,
    actor: &Actor,
) -> Result<()> {
    let idx = def.index_of(step)?;
    if !matches!(def.specs[idx].kind, StepKind::Task) {
        // Waits, sleeps and children may leave a timer or signal job behind.
        jobs::delete_for_run(conn, run.id).await?;
    }
    match transition {
        Transition::Next(output) => {
            run.record_output(step, &output);
            if idx + 1 < def.specs.len() {
                enter_step(conn, def, run, idx + 1, &output, actor).await
            } else {
                finish(conn, run, RunStatus::Completed, Some(output), None, actor).await
            }
        }
        Transition::Goto {
            step: target,
            output,
        } => {
            run.record_output(step, &output);
            let Ok(target_idx) = def.index_of(&target) else {
                let why = format!("step '{step}' went to unknown step '{target}'");
                return begin_compensation(conn, def, run, RunStatus::Failed, &why, actor).await;
            };
            run.iteration += 1;
            let e = NewEvent::new(run.id, "run.goto", actor)
                .step(step, run.iteration - 1)
                .data(json!({ "to": target, "iteration": run.iteration }));
            events::append(conn, &e).await?;
            enter_step(conn, def, run, target_idx, &output, actor).await
        }
        Transition::Complete(output) => {
            run.record_output(step, &output);
            finish(conn, run, RunStatus::Completed, Some(output), None, actor).await
        }
        Transition::Fail(reason) => {
            begin_compensation(conn, def, run, RunStatus::Failed, &reason, actor).await
        }
    }
}

/// The input a step gets when an operator rewinds to it: the output of the step before it,
/// or the run's input for the first step.
pub(crate) fn input_for(def: &Def, run: &RunRow, idx: usize) -> Value {
    if idx == 0 {
        return run.input.clone();
    }
    run.outputs
        .get(&def.specs[idx - 1].name)
        .cloned()
        .unwrap_or(Value::Null)
}
