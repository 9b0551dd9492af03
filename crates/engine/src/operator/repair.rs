//! Retry a failed or dead job now; skip a step (or a failed compensation) with an output.

use serde_json::{Value, json};

use super::{Operator, operator_execution, reason_data};
use crate::definition::Transition;
use crate::error::Result;
use crate::ids::RunId;
use crate::machine;
use crate::state::{ExecutionStatus, JobKind, JobState, RunStatus};
use crate::store::executions;
use crate::store::jobs;
use crate::store::runs::RunRow;

impl Operator {
    /// Makes the run's dead jobs, jobs waiting out a retry backoff, and running jobs whose
    /// lease expired (their worker died and no rescuer has run) run now. A dead job gets a
    /// fresh allowance of its step's attempts. A `compensation_failed` run goes back
    /// to compensating.
    pub async fn retry(&self, run: RunId, reason: &str) -> Result<RunRow> {
        let mut a = self.begin(run, "retry").await?;
        require_repairable(&a)?;
        use RunStatus::*;
        let all = jobs::for_run(&mut a.tx, run).await?;
        let dead = all.iter().find(|j| j.state == JobState::Dead);
        let extra = dead
            .and_then(|j| a.def.spec(&j.step).ok())
            .map(|s| s.retry.max_attempts as i32)
            .unwrap_or(1);
        let moved = jobs::retry_now(&mut a.tx, run, extra).await?;
        if moved == 0 {
            return Err(a.refuse(
                "no dead job, no job waiting out a backoff and no expired lease; see `seam runs show`",
            ));
        }
        if a.run.status == CompensationFailed {
            a.run.set_status(Compensating);
        }
        self.commit(a, reason, json!({ "jobs": moved })).await
    }

    /// Skips `step` as if it had succeeded with `output` and moves the run on. `step` must be
    /// where the run is. In a compensating or `compensation_failed` run, skips that step's
    /// pending compensation instead and goes on with the next one.
    pub async fn skip(
        &self,
        run: RunId,
        step: &str,
        output: Value,
        reason: &str,
    ) -> Result<RunRow> {
        let mut a = self.begin(run, "skip").await?;
        require_repairable(&a)?;
        use RunStatus::*;
        a.def.index_of(step)?;
        let actor = self.actor.clone();
        if matches!(a.run.status, Compensating | CompensationFailed) {
            let jobs = jobs::for_run(&mut a.tx, run).await?;
            let Some(job) = jobs
                .iter()
                .find(|j| j.kind == JobKind::Compensate && j.step == step)
            else {
                return Err(a.refuse(format!("no compensation of step '{step}' is pending")));
            };
            let queue = job.queue.clone();
            let mut exec = operator_execution(
                run,
                JobKind::Compensate,
                &queue,
                step,
                job.iteration,
                ExecutionStatus::Skipped,
            );
            exec.output = Some(&output);
            executions::insert(&mut a.tx, &exec).await?;
            jobs::delete_for_run(&mut a.tx, run).await?;
            a.run.set_status(Compensating);
            machine::schedule_next_compensation(&mut a.tx, &a.def, &mut a.run, &actor).await?;
            return self
                .commit(a, reason, json!({ "compensation": step }))
                .await;
        }
        let current = a.current_step()?;
        if current != step {
            return Err(a.refuse(format!("the run is at step '{current}', not '{step}'")));
        }
        // Children still working for the skipped step are cancelled, with compensation.
        let why = format!("parent run {run} skipped step '{step}' by {actor}: {reason}");
        let children_cancelled = machine::cancel_children(&mut a.tx, &a.run, &why, &actor).await?;
        jobs::delete_for_run(&mut a.tx, run).await?;
        let queue = a.def.spec(step)?.queue.clone();
        let mut exec = operator_execution(
            run,
            JobKind::Step,
            &queue,
            step,
            a.run.iteration,
            ExecutionStatus::Skipped,
        );
        exec.output = Some(&output);
        executions::insert(&mut a.tx, &exec).await?;
        let data = reason_data(json!({
            "step": step,
            "output": output,
            "children_cancelled": children_cancelled,
        }));
        let t = Transition::Next(output);
        machine::advance(&mut a.tx, &a.def, &mut a.run, step, t, &actor).await?;
        self.commit(a, reason, data).await
    }
}

/// Retry and skip repair live runs that are not paused.
fn require_repairable(a: &super::Action) -> Result<()> {
    use RunStatus::*;
    a.require(
        &[Pending, Running, Waiting, Compensating, CompensationFailed],
        match a.run.status {
            Paused => "resume it first",
            _ => "the run has ended; rewind it to a step instead",
        },
    )
}
