//! Complete or fail a waiting step (wait or sleep) by hand.

use serde_json::{Value, json};

use super::{Operator, operator_execution};
use crate::definition::{StepKind, Transition};
use crate::error::Result;
use crate::ids::RunId;
use crate::machine;
use crate::state::{ExecutionStatus, JobKind, RunStatus};
use crate::store::executions;
use crate::store::runs::RunRow;

impl Operator {
    /// Ends the wait (or sleep) the run is in as if it had completed with `output`.
    pub async fn complete_wait(&self, run: RunId, output: Value, reason: &str) -> Result<RunRow> {
        let (mut a, step) = self.begin_wait(run, "complete_wait").await?;
        let queue = a.def.spec(&step)?.queue.clone();
        let status = ExecutionStatus::Completed;
        let mut exec =
            operator_execution(run, JobKind::Step, &queue, &step, a.run.iteration, status);
        exec.output = Some(&output);
        executions::insert(&mut a.tx, &exec).await?;
        let data = json!({ "step": step, "output": output });
        let actor = self.actor.clone();
        let t = Transition::Next(output);
        machine::advance(&mut a.tx, &a.def, &mut a.run, &step, t, &actor).await?;
        self.commit(a, reason, data).await
    }

    /// Fails the wait (or sleep) the run is in: compensations run, the run ends `failed`.
    pub async fn fail_wait(&self, run: RunId, reason: &str) -> Result<RunRow> {
        let (mut a, step) = self.begin_wait(run, "fail_wait").await?;
        let queue = a.def.spec(&step)?.queue.clone();
        let why = format!("wait '{step}' failed by an operator: {reason}");
        let status = ExecutionStatus::Failed;
        let mut exec =
            operator_execution(run, JobKind::Step, &queue, &step, a.run.iteration, status);
        exec.error = Some(&why);
        executions::insert(&mut a.tx, &exec).await?;
        let actor = self.actor.clone();
        let t = Transition::Fail(why);
        machine::advance(&mut a.tx, &a.def, &mut a.run, &step, t, &actor).await?;
        self.commit(a, reason, json!({ "step": step })).await
    }

    async fn begin_wait(&self, run: RunId, name: &'static str) -> Result<(super::Action, String)> {
        let a = self.begin(run, name).await?;
        a.require(
            &[RunStatus::Waiting],
            "only a run in a wait or sleep step can be completed or failed this way",
        )?;
        let step = a.current_step()?;
        let kind = &a.def.spec(&step)?.kind;
        if !matches!(kind, StepKind::Wait { .. } | StepKind::Sleep { .. }) {
            return Err(a.refuse(format!(
                "step '{step}' waits for child runs; end them, or skip the step"
            )));
        }
        Ok((a, step))
    }
}
