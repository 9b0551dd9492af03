//! The worker runtime: serves queues with a concurrency limit, claims jobs in batches,
//! heartbeats leases, completes every job fenced by its lease token, and shuts down
//! gracefully.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool, wf: seam_engine::Workflow) -> seam_engine::Result<()> {
//! use seam_engine::Worker;
//! let worker = Worker::builder(pool).workflow(&wf).concurrency(16).build()?;
//! worker.run().await // until SIGINT or SIGTERM
//! # }
//! ```

mod batch;
mod complete;
mod config;
mod execute;
mod heartbeat;
mod internal;
mod runtime;

pub use config::{WorkerBuilder, WorkerConfig};
pub use runtime::{Worker, WorkerHandle};
