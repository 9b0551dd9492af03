//! Pause and resume: a paused run's jobs are held; jobs already running finish, and what
//! they queue is held too.

use serde_json::json;

use super::Operator;
use crate::error::Result;
use crate::ids::RunId;
use crate::state::{JobState, RunStatus};
use crate::store::jobs;
use crate::store::runs::RunRow;

impl Operator {
    /// Pauses the run: nothing of it is claimed until it is resumed.
    pub async fn pause(&self, run: RunId, reason: &str) -> Result<RunRow> {
        let mut a = self.begin(run, "pause").await?;
        use RunStatus::*;
        a.require(
            &[Pending, Running, Waiting, Compensating],
            match a.run.status {
                Paused => "it is already paused",
                CompensationFailed => {
                    "nothing runs while a compensation is failed; retry or skip it"
                }
                _ => "the run has ended",
            },
        )?;
        let was = a.run.status;
        a.run.paused_from = Some(was);
        a.run.status = Paused;
        let held = jobs::move_state(&mut a.tx, run, JobState::Ready, JobState::Paused).await?;
        self.commit(a, reason, json!({ "was": was, "jobs_held": held }))
            .await
    }

    /// Resumes a paused run where it was.
    pub async fn resume(&self, run: RunId, reason: &str) -> Result<RunRow> {
        let mut a = self.begin(run, "resume").await?;
        a.require(&[RunStatus::Paused], "only a paused run can be resumed")?;
        let to = a.run.paused_from.take().unwrap_or(RunStatus::Running);
        a.run.status = to;
        let released = jobs::move_state(&mut a.tx, run, JobState::Paused, JobState::Ready).await?;
        self.commit(a, reason, json!({ "to": to, "jobs_released": released }))
            .await
    }
}
