//! The run state machine. Each function takes a locked [`RunRow`], changes it in memory,
//! writes jobs, executions and history in the caller's transaction, and leaves the caller to
//! `runs::save` the row and commit. It needs only step specs, never handler code, so workers,
//! the rescuer and operator actions share it.

mod advance;
mod compensate;
mod enter;
mod exhausted;
mod finish;
mod signal;
mod start;

pub(crate) use advance::{advance, input_for};
pub(crate) use compensate::{begin_compensation, cancel_children, schedule_next_compensation};
pub(crate) use enter::enter_step;
pub(crate) use exhausted::{GiveUp, give_up, give_up_action};
pub(crate) use finish::finish;
pub(crate) use signal::deliver_signal;
pub(crate) use start::{StartParams, start_run};

use sqlx::PgConnection;

use crate::definition::{StepSpec, pin};
use crate::error::{EngineError, Result};
use crate::state::JobState;
use crate::store::{definitions, runs::RunRow};

/// The parts of a workflow definition the state machine needs.
#[derive(Debug, Clone)]
pub(crate) struct Def {
    pub workflow: String,
    pub version: i32,
    pub pin: String,
    pub specs: Vec<StepSpec>,
}

impl Def {
    /// Loads the specs registered for a run's workflow version.
    pub async fn load(conn: &mut PgConnection, workflow: &str, version: i32) -> Result<Self> {
        let specs = definitions::get(conn, workflow, version)
            .await?
            .ok_or_else(|| EngineError::UnknownWorkflow {
                workflow: workflow.to_string(),
                version,
            })?;
        Ok(Def {
            workflow: workflow.to_string(),
            version,
            pin: pin(workflow, version),
            specs,
        })
    }

    pub fn index_of(&self, step: &str) -> Result<usize> {
        self.specs
            .iter()
            .position(|s| s.name == step)
            .ok_or_else(|| EngineError::UnknownStep {
                workflow: self.workflow.clone(),
                step: step.to_string(),
            })
    }

    pub fn spec(&self, step: &str) -> Result<&StepSpec> {
        Ok(&self.specs[self.index_of(step)?])
    }

    pub fn compensated_steps(&self) -> Vec<String> {
        self.specs
            .iter()
            .filter(|s| s.has_compensation)
            .map(|s| s.name.clone())
            .collect()
    }
}

/// Jobs of a paused run are inserted paused, so nothing of it is claimed until resume.
pub(crate) fn job_state_for(run: &RunRow) -> JobState {
    if run.status == crate::state::RunStatus::Paused {
        JobState::Paused
    } else {
        JobState::Ready
    }
}
