//! Rewind a run to any step: a new iteration starts there, with that step's original input.

use serde_json::json;

use super::Operator;
use crate::error::Result;
use crate::ids::RunId;
use crate::machine;
use crate::state::RunStatus;
use crate::store::jobs;
use crate::store::runs::RunRow;

impl Operator {
    /// Restarts the run at `step` in a new iteration. Works on ended runs too (repair from
    /// any step). Compensations that already ran are not undone. Child runs still working
    /// for the step being left are cancelled, with compensation.
    pub async fn rewind(&self, run: RunId, step: &str, reason: &str) -> Result<RunRow> {
        let mut a = self.begin(run, "rewind").await?;
        use RunStatus::*;
        match a.run.status {
            Compensating => {
                return Err(a.refuse(
                    "compensations are running; let them finish, or cancel --no-compensate first",
                ));
            }
            Paused => return Err(a.refuse("resume it first")),
            _ => {}
        }
        let idx = a.def.index_of(step)?;
        if a.run.parent_run_id.is_some() && a.run.status.is_terminal() {
            return Err(
                a.refuse("a child run that ended is owned by its parent; rewind the parent")
            );
        }
        let actor = self.actor.clone();
        // Children still working for the step being left would race the new iteration's
        // (and repeat its effects): cancel them, compensating what they did.
        let why = format!("parent run {run} was rewound to '{step}' by {actor}: {reason}");
        let children_cancelled = machine::cancel_children(&mut a.tx, &a.run, &why, &actor).await?;
        jobs::delete_for_run(&mut a.tx, run).await?;
        let from = a.run.current_step.clone();
        a.run.status = Running;
        a.run.finished_at = None;
        a.run.output = None;
        a.run.error = None;
        a.run.compensation_target = None;
        a.run.iteration += 1;
        let input = machine::input_for(&a.def, &a.run, idx);
        machine::enter_step(&mut a.tx, &a.def, &mut a.run, idx, &input, &actor).await?;
        let data = json!({
            "from": from,
            "to": step,
            "iteration": a.run.iteration,
            "children_cancelled": children_cancelled,
        });
        self.commit(a, reason, data).await
    }
}
