//! The chaos workload: workflows whose database effects can be counted afterwards.
//!
//! `chaos-order`: `reserve` (transactional, compensated) -> `payment` (wait for signal
//! `paid`) -> `cool` (sleep) -> `charge` (transactional, compensated) -> `pack` (children:
//! three `chaos-parcel` runs) -> `finish` (transactional). One run in ten fails for good at
//! `finish`; another one in ten has a parcel that fails for good, which fails the parent
//! while its sibling parcels are still ending. Either way `charge` and `reserve` are
//! compensated. `chaos-parcel` has one transactional step, `label`. Every effect and every
//! compensation inserts a row in its step's own transaction; the audit counts them.

use std::time::Duration;

use seam_engine::{
    ChildSpec, OnTimeout, RetryPolicy, Step, StepContext, StepError, Transition, Workflow,
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// The input of one chaos run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChaosInput {
    /// Sequence number in the workload.
    pub n: usize,
    /// The last step fails for good (one run in ten).
    pub fail: bool,
    /// One of the run's parcels fails for good (another one run in ten).
    #[serde(default)]
    pub parcel_fails: bool,
}

/// Parcels per order.
pub const PARCELS: usize = 3;

/// The input of one parcel (child run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParcelInput {
    /// Parcel number within its order.
    pub k: usize,
    /// Its `label` step fails for good.
    pub fail: bool,
}

/// Tables the steps write to; no unique constraints, so duplicates stay visible.
pub const SCHEMA: &str = "
    CREATE SCHEMA IF NOT EXISTS chaos;
    CREATE TABLE IF NOT EXISTS chaos.effects (
        run_id uuid NOT NULL, step text NOT NULL, attempt int NOT NULL,
        at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS chaos.compensations (
        run_id uuid NOT NULL, step text NOT NULL, at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS effects_run ON chaos.effects (run_id);
    CREATE INDEX IF NOT EXISTS compensations_run ON chaos.compensations (run_id);";

async fn effect(ctx: &StepContext) -> Result<(), StepError> {
    let mut tx = ctx.tx().await?;
    insert_effect(&mut tx, ctx).await
}

async fn insert_effect(conn: &mut PgConnection, ctx: &StepContext) -> Result<(), StepError> {
    sqlx::query("INSERT INTO chaos.effects (run_id, step, attempt) VALUES ($1, $2, $3)")
        .bind(ctx.run_id().0)
        .bind(ctx.step())
        .bind(ctx.attempt())
        .execute(conn)
        .await?;
    Ok(())
}

async fn compensation(ctx: StepContext) -> Result<(), StepError> {
    let mut tx = ctx.tx().await?;
    sqlx::query("INSERT INTO chaos.compensations (run_id, step) VALUES ($1, $2)")
        .bind(ctx.run_id().0)
        .bind(ctx.step())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn retry() -> RetryPolicy {
    RetryPolicy::attempts(25).backoff(Duration::from_millis(100), Duration::from_secs(2))
}

/// The child workflow: one parcel, labelled in one transactional step.
pub fn parcel_workflow() -> Workflow {
    Workflow::builder("chaos-parcel", 1)
        .queue("chaos")
        .step(
            Step::task("label", |ctx| async move {
                let p: ParcelInput = ctx.input()?;
                if p.fail {
                    return Err(StepError::fatal("the label printer jammed"));
                }
                effect(&ctx).await?;
                Transition::complete(p.k)
            })
            .transactional()
            .retry(retry())
            .timeout(Duration::from_secs(20)),
        )
        .build()
        .expect("valid chaos parcel workflow")
}

/// Every workflow the chaos workers serve.
pub fn workflows() -> Vec<Workflow> {
    vec![workflow(), parcel_workflow()]
}

/// The chaos workflow (the parent).
pub fn workflow() -> Workflow {
    let parcel = parcel_workflow();
    let task = |name: &str| {
        Step::task(name, |ctx| async move {
            effect(&ctx).await?;
            Transition::next(ctx.step())
        })
        .transactional()
        .retry(retry())
        .timeout(Duration::from_secs(20))
    };
    Workflow::builder("chaos-order", 1)
        .queue("chaos")
        .step(task("reserve").compensate(compensation))
        .step(
            Step::wait("payment", "paid")
                .deadline(Duration::from_secs(600))
                .on_timeout(OnTimeout::Fail)
                .retry(retry()),
        )
        .step(Step::sleep("cool", Duration::from_millis(300)).retry(retry()))
        .step(task("charge").compensate(compensation))
        .step(
            Step::children("pack", move |ctx| {
                let parcel = parcel.clone();
                async move {
                    let input: ChaosInput = ctx.run_input()?;
                    (0..PARCELS)
                        .map(|k| {
                            let fail = input.parcel_fails && k == 1;
                            ChildSpec::new(&parcel, ParcelInput { k, fail })
                        })
                        .collect()
                }
            })
            .retry(retry()),
        )
        .step(
            Step::task("finish", |ctx| async move {
                let input: ChaosInput = ctx.run_input()?;
                if input.fail {
                    return Err(StepError::fatal("the carrier refused the parcel"));
                }
                effect(&ctx).await?;
                Transition::complete(input.n)
            })
            .transactional()
            .retry(retry()),
        )
        .build()
        .expect("valid chaos workflow")
}
