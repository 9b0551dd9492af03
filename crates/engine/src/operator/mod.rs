//! Operator actions, the library API the `seam` CLI calls: retry, skip, complete or fail a
//! wait, rewind, pause, resume, cancel, signal. Each locks the run, refuses with a clear
//! [`EngineError::NotAllowed`] when the run's status does not allow it, and records an
//! `operator.<action>` history event with the actor and reason.
//!
//! Every non-terminal status has an exit:
//!
//! | status               | actions that move it                                        |
//! |----------------------|-------------------------------------------------------------|
//! | pending, running     | cancel, pause, rewind, skip; retry when a job is dead/backing off |
//! | waiting              | signal, complete-wait, fail-wait, cancel, pause, rewind, skip |
//! | compensating         | retry (skip backoff), skip a compensation, cancel --no-compensate, pause |
//! | compensation_failed  | retry, skip the compensation, cancel --no-compensate, rewind |
//! | paused               | resume, cancel                                              |
//! | completed, failed, cancelled | rewind                                              |
//!
//! An action that takes a parent off a children step (rewind, skip, cancel) also cancels the
//! child runs still working for that step, compensating them unless the cancel says not to.

mod cancel;
mod pause;
mod repair;
mod rewind;
mod wait;

use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{EngineError, Result};
use crate::ids::{Actor, RunId};
use crate::machine::{self, Def};
use crate::state::{ExecutionStatus, JobKind, RunStatus};
use crate::store::events::{self, NewEvent};
use crate::store::executions::NewExecution;
use crate::store::runs::{self, RunRow};

/// Runs operator actions as `actor`.
#[derive(Clone)]
pub struct Operator {
    pool: PgPool,
    actor: Actor,
}

/// An action in progress: the transaction, the locked run and its definition.
pub(crate) struct Action {
    tx: Transaction<'static, Postgres>,
    run: RunRow,
    def: Def,
    name: &'static str,
}

impl Operator {
    /// Operator actions recorded as `operator:<name>` in history.
    pub fn new(pool: PgPool, name: &str) -> Self {
        Operator {
            pool,
            actor: Actor::operator(name),
        }
    }

    /// The actor recorded in history.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    async fn begin(&self, run_id: RunId, name: &'static str) -> Result<Action> {
        let mut tx = self.pool.begin().await?;
        let run = runs::lock(&mut tx, run_id)
            .await?
            .ok_or(EngineError::RunNotFound(run_id))?;
        let def = Def::load(&mut tx, &run.workflow, run.version).await?;
        Ok(Action { tx, run, def, name })
    }

    async fn commit(&self, mut a: Action, reason: &str, data: Value) -> Result<RunRow> {
        let kind = format!("operator.{}", a.name);
        let e = NewEvent::new(a.run.id, &kind, &self.actor)
            .reason(Some(reason))
            .data(data);
        events::append(&mut a.tx, &e).await?;
        runs::save(&mut a.tx, &a.run).await?;
        a.tx.commit().await?;
        tracing::info!(run = %a.run.id, action = a.name, actor = %self.actor, reason, "operator action");
        Ok(a.run)
    }

    /// Sends a signal to a run, recorded with this operator as sender and the reason.
    pub async fn signal(
        &self,
        run: RunId,
        name: &str,
        payload: Value,
        reason: Option<&str>,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id = machine::deliver_signal(&mut tx, run, name, &payload, &self.actor, reason).await?;
        tx.commit().await?;
        Ok(id)
    }
}

impl Action {
    fn refuse(&self, hint: impl Into<String>) -> EngineError {
        EngineError::NotAllowed {
            action: self.name,
            run: self.run.id,
            status: self.run.status,
            hint: hint.into(),
        }
    }

    fn require(&self, allowed: &[RunStatus], hint: &str) -> Result<()> {
        if allowed.contains(&self.run.status) {
            Ok(())
        } else {
            Err(self.refuse(hint))
        }
    }

    fn current_step(&self) -> Result<String> {
        self.run
            .current_step
            .clone()
            .ok_or_else(|| self.refuse("the run is at no step"))
    }
}

/// The execution an operator's action stands in for (attempt 0, no worker); set its
/// output or error on the result.
fn operator_execution<'a>(
    run: RunId,
    kind: JobKind,
    queue: &'a str,
    step: &'a str,
    iteration: i32,
    status: ExecutionStatus,
) -> NewExecution<'a> {
    NewExecution {
        run_id: run,
        kind,
        queue,
        step,
        iteration,
        attempt: 0,
        status,
        input: None,
        output: None,
        error: None,
        worker_id: None,
        started_at: None,
    }
}

fn reason_data(extra: Value) -> Value {
    if extra.is_null() { json!({}) } else { extra }
}
