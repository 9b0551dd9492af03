//! # seam-engine
//!
//! A durable, saga-style workflow engine on PostgreSQL. A workflow is an ordered list of
//! named steps — tasks, waits for signals, durable sleeps, child-run fan-outs — each with a
//! queue, a retry policy, a timeout and an optional compensation. Workers claim steps from a
//! Postgres queue (`FOR UPDATE SKIP LOCKED`), under leases that every completion is fenced
//! by. When a step fails for good or a run is cancelled, the compensations of the steps that
//! succeeded run in reverse order. Every change is recorded in the run's history, and every
//! state has an operator exit ([`Operator`]).
//!
//! ## Quick start
//!
//! ```no_run
//! use seam_engine::{Client, Step, Transition, Worker, Workflow, migrate};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let pool = sqlx::PgPool::connect("postgres://localhost/seam").await?;
//! migrate(&pool).await?;
//!
//! let order = Workflow::builder("order", 1)
//!     .step(
//!         Step::task("reserve", |ctx| async move {
//!             let qty: u32 = ctx.input()?;
//!             Transition::next(qty)
//!         })
//!         .compensate(|_ctx| async { Ok(()) }), // release the reservation
//!     )
//!     .step(Step::wait("paid", "payment").deadline(std::time::Duration::from_secs(3600)))
//!     .step(Step::task("ship", |_ctx| async { Transition::complete("shipped") }))
//!     .build()?;
//!
//! let worker = Worker::builder(pool.clone()).workflow(&order).build()?.start();
//! let client = Client::new(pool);
//! let run = client.start(&order, 3).await?;
//! client.signal(run.run_id, "payment", serde_json::json!({"amount": 30})).await?;
//! worker.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! ## Layout
//! - [`definition`]: workflows, steps, transitions, retry policies, handler context.
//! - [`Client`]: start runs (idempotently, or in your transaction), send signals.
//! - [`Worker`]: the worker runtime.
//! - [`maintenance`]: the rescuer of expired leases and the retention cleaner.
//! - [`Operator`]: repair actions for stuck runs.
//! - [`store`]: all engine SQL, one module per table.

#![warn(missing_docs)]

mod client;
pub mod definition;
mod error;
mod ids;
mod machine;
pub mod maintenance;
mod operator;
mod state;
pub mod store;
mod worker;

pub use client::{Client, StartOptions, Started};
pub use definition::{
    ChildFailure, ChildSpec, OnExhausted, OnTimeout, ResultExt, RetryPolicy, Signal, Step,
    StepContext, StepError, Transition, WaitDecision, WaitView, Workflow,
};
pub use error::{EngineError, Result, UnknownState};
pub use ids::{Actor, JobId, RunId, WorkerId};
pub use operator::Operator;
pub use state::{ExecutionStatus, JobKind, JobState, RunStatus};
pub use worker::{Worker, WorkerBuilder, WorkerConfig, WorkerHandle};

/// Applies the engine's migrations (idempotent; safe from many processes at once).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<Vec<store::migrate::Migration>> {
    store::migrate::run(pool).await
}
