//! The client: start runs (idempotently, or inside your transaction), send signals, read
//! runs back.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::definition::Workflow;
use crate::error::{EngineError, Result};
use crate::ids::{Actor, RunId};
use crate::machine::{self, StartParams};
use crate::state::RunStatus;
use crate::store::{definitions, runs, runs::RunRow};

/// Options for starting a run.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Starting twice with the same key (per workflow) returns the first run.
    pub idempotency_key: Option<String>,
}

impl StartOptions {
    /// Options with an idempotency key.
    pub fn idempotency_key(key: impl Into<String>) -> Self {
        StartOptions {
            idempotency_key: Some(key.into()),
        }
    }
}

/// The result of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Started {
    /// The run.
    pub run_id: RunId,
    /// False when the idempotency key matched an existing run.
    pub created: bool,
}

/// Starts runs and sends signals. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pool: PgPool,
    actor: Actor,
    registered: Arc<Mutex<HashSet<String>>>,
}

impl Client {
    /// A client on `pool`, recorded in history as `api:client`.
    pub fn new(pool: PgPool) -> Self {
        Client {
            pool,
            actor: Actor::caller("client"),
            registered: Arc::default(),
        }
    }

    /// The same client, recorded in history as `actor`.
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// The pool it uses.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores the workflow's step specs (once per process and version), so operators' tools
    /// can drive its runs.
    pub async fn register(&self, wf: &Workflow) -> Result<()> {
        let pin = wf.pin();
        if self.registered.lock().expect("poisoned").contains(&pin) {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        definitions::upsert(&mut conn, wf.name(), wf.version(), wf.specs()).await?;
        self.registered.lock().expect("poisoned").insert(pin);
        Ok(())
    }

    /// Starts a run of `wf` with `input`.
    pub async fn start(&self, wf: &Workflow, input: impl Serialize) -> Result<Started> {
        self.start_with(wf, input, StartOptions::default()).await
    }

    /// Starts a run with options (idempotency key).
    pub async fn start_with(
        &self,
        wf: &Workflow,
        input: impl Serialize,
        opts: StartOptions,
    ) -> Result<Started> {
        let mut tx = self.pool.begin().await?;
        let started = self.start_in_tx(&mut tx, wf, input, opts).await?;
        tx.commit().await?;
        Ok(started)
    }

    /// Starts a run inside the caller's open transaction: the run exists only if the caller
    /// commits, together with the caller's own writes.
    pub async fn start_in_tx(
        &self,
        tx: &mut PgConnection,
        wf: &Workflow,
        input: impl Serialize,
        opts: StartOptions,
    ) -> Result<Started> {
        if let Some(key) = &opts.idempotency_key
            && key.is_empty()
        {
            return Err(EngineError::InvalidArgument(
                "idempotency key must not be empty".into(),
            ));
        }
        self.register(wf).await?;
        let input = serde_json::to_value(input)?;
        let (run_id, created) = machine::start_run(
            tx,
            StartParams {
                def: wf.def(),
                input: &input,
                idempotency_key: opts.idempotency_key.as_deref(),
                actor: &self.actor,
                parent: None,
            },
        )
        .await?;
        Ok(Started { run_id, created })
    }

    /// Sends signal `name` to a run. Stored even if the run is not waiting for it yet.
    pub async fn signal(&self, run: RunId, name: &str, payload: impl Serialize) -> Result<i64> {
        let payload = serde_json::to_value(payload)?;
        let mut tx = self.pool.begin().await?;
        let id = machine::deliver_signal(&mut tx, run, name, &payload, &self.actor, None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Reads a run.
    pub async fn run(&self, run: RunId) -> Result<RunRow> {
        let mut conn = self.pool.acquire().await?;
        runs::get(&mut conn, run)
            .await?
            .ok_or(EngineError::RunNotFound(run))
    }

    /// Polls until the run is terminal or needs an operator (`compensation_failed`), or
    /// `timeout` passes; returns the run as last read.
    pub async fn wait_until_settled(&self, run: RunId, timeout: Duration) -> Result<RunRow> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let row = self.run(run).await?;
            let settled = row.status.is_terminal() || row.status == RunStatus::CompensationFailed;
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(row);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The output of a completed run, typed.
    pub fn output_of<T: serde::de::DeserializeOwned>(row: &RunRow) -> Result<T> {
        Ok(serde_json::from_value(
            row.output.clone().unwrap_or(Value::Null),
        )?)
    }
}
