//! What a handler sees: its input, the run's input, earlier outputs, and (for transactional
//! steps) the transaction its completion commits in.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::transition::StepError;
use crate::ids::{RunId, WorkerId};

pub(crate) type SharedTx = Arc<Mutex<Option<Transaction<'static, Postgres>>>>;

/// The context of one attempt of a step (or of its compensation).
#[derive(Clone)]
pub struct StepContext {
    pub(crate) run_id: RunId,
    pub(crate) workflow: Arc<str>,
    pub(crate) version: i32,
    pub(crate) step: Arc<str>,
    pub(crate) iteration: i32,
    pub(crate) attempt: i32,
    pub(crate) worker_id: WorkerId,
    pub(crate) compensation: bool,
    pub(crate) input: Arc<Value>,
    pub(crate) run_input: Arc<Value>,
    pub(crate) outputs: Arc<Value>,
    pub(crate) tx: Option<SharedTx>,
}

impl StepContext {
    /// The run this attempt belongs to.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }
    /// The workflow name.
    pub fn workflow(&self) -> &str {
        &self.workflow
    }
    /// The workflow definition version the run is pinned to.
    pub fn version(&self) -> i32 {
        self.version
    }
    /// This step's name.
    pub fn step(&self) -> &str {
        &self.step
    }
    /// How many gotos and rewinds the run has taken (0 on the first pass).
    pub fn iteration(&self) -> i32 {
        self.iteration
    }
    /// This attempt's number, from 1.
    pub fn attempt(&self) -> i32 {
        self.attempt
    }
    /// The worker running the attempt.
    pub fn worker_id(&self) -> WorkerId {
        self.worker_id
    }
    /// True inside a compensation handler.
    pub fn is_compensation(&self) -> bool {
        self.compensation
    }

    /// A key that is the same for every attempt of this step in this iteration:
    /// `run/step/iteration`. Pass it to external services so a retried attempt does not
    /// repeat an effect. Compensations get `run/step/iteration/compensate`.
    pub fn idempotency_key(&self) -> String {
        let base = format!("{}/{}/{}", self.run_id, self.step, self.iteration);
        if self.compensation {
            base + "/compensate"
        } else {
            base
        }
    }

    /// This step's input, typed: the previous step's output (the run's input for the first
    /// step; for a compensation, the compensated step's output).
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        decode(&self.input, "step input")
    }
    /// This step's input as JSON.
    pub fn input_value(&self) -> &Value {
        &self.input
    }
    /// The run's input, typed.
    pub fn run_input<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        decode(&self.run_input, "run input")
    }
    /// The latest output of an earlier step, typed. A fatal error if the step has no output.
    pub fn output<T: DeserializeOwned>(&self, step: &str) -> Result<T, StepError> {
        match self.outputs.get(step) {
            Some(v) => decode(v, &format!("output of step '{step}'")),
            None => Err(StepError::fatal(format!("step '{step}' has no output yet"))),
        }
    }
    /// Outputs of every completed step, by name.
    pub fn outputs(&self) -> &Value {
        &self.outputs
    }

    /// The transaction in which this step's completion will commit. Only for steps built with
    /// [`Step::transactional`](super::Step::transactional). Hold the guard only while you use
    /// it: `sqlx::query(..).execute(&mut *ctx.tx().await?).await?`.
    pub async fn tx(&self) -> Result<TxGuard, StepError> {
        let Some(tx) = &self.tx else {
            return Err(StepError::fatal(format!(
                "step '{}' is not transactional; build it with .transactional()",
                self.step
            )));
        };
        let guard = tx.clone().lock_owned().await;
        if guard.is_none() {
            return Err(StepError::fatal(
                "the step's transaction is already finished",
            ));
        }
        Ok(TxGuard(guard))
    }
}

fn decode<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, StepError> {
    T::deserialize(value).map_err(|e| StepError::fatal(format!("cannot decode {what}: {e}")))
}

/// Exclusive use of a transactional step's transaction; derefs to a `PgConnection`.
pub struct TxGuard(OwnedMutexGuard<Option<Transaction<'static, Postgres>>>);

impl Deref for TxGuard {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.0.as_ref().expect("checked when the guard was made")
    }
}

impl DerefMut for TxGuard {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.0.as_mut().expect("checked when the guard was made")
    }
}
