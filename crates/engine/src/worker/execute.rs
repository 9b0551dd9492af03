//! Executing one claimed job: build the context, run the handler under its timeout in its
//! own task (so a panic is caught and a hung handler abandoned), then complete it.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Postgres, Transaction};
use tracing::Instrument;

use super::batch::{self, Outcome};
use super::complete;
use super::runtime::Shared;
use crate::definition::{BoxFuture, SharedTx, Step, StepContext, StepError};
use crate::error::{EngineError, Result};
use crate::state::{ExecutionStatus, JobKind};
use crate::store::jobs::ClaimedJob;

/// A handler's failure with how the attempt ended (failed or timed out).
pub(crate) type Failure = (StepError, ExecutionStatus);

/// Runs one job to its fenced completion; never panics, logs what went wrong.
pub(crate) async fn run_job(s: &Arc<Shared>, c: ClaimedJob) {
    let span = tracing::info_span!(
        "seam.step",
        run_id = %c.job.run_id,
        workflow = %c.job.pin,
        step = %c.job.step,
        iteration = c.job.iteration,
        attempt = c.job.attempt,
        kind = %c.job.kind,
    );
    async {
        let result = process(s, &c).await;
        s.in_flight.lock().expect("poisoned").remove(&c.job.id);
        match result {
            Ok(()) => tracing::debug!("job done"),
            Err(EngineError::LeaseLost(id)) => {
                tracing::warn!(job = id, "lease lost before completion; result discarded")
            }
            Err(e) => {
                tracing::error!(error = %e, "completing the job failed; the rescuer will retry it");
                expire_lease(s, &c).await;
            }
        }
    }
    .instrument(span)
    .await
}

/// Hands a job whose completion failed to the rescuer now rather than after its lease.
async fn expire_lease(s: &Shared, c: &ClaimedJob) {
    let Some(token) = c.job.lease_token else {
        return;
    };
    let res = async {
        let mut conn = s.pool.acquire().await?;
        crate::store::jobs::expire_leased(&mut conn, c.job.id, token).await
    }
    .await;
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not end the lease early; it will expire by itself");
    }
}

async fn process(s: &Arc<Shared>, c: &ClaimedJob) -> Result<()> {
    let Some(wf) = s.registry.get(&c.job.pin) else {
        let e = StepError::fatal(format!("no definition {} in this worker", c.job.pin));
        return complete::failure(s, None, c, (e, ExecutionStatus::Failed)).await;
    };
    let Some(step) = wf.step(&c.job.step) else {
        let e = StepError::fatal(format!(
            "workflow {} has no step '{}'",
            wf.pin(),
            c.job.step
        ));
        return complete::failure(s, Some(wf), c, (e, ExecutionStatus::Failed)).await;
    };
    match c.job.kind {
        JobKind::Step => {
            if let Some(task) = step.task.clone() {
                let (res, tx) = call(s, c, step, false, move |ctx| task(ctx)).await;
                match res {
                    Ok(t) => {
                        if tx.is_none()
                            && let Some((output, next)) = batch::batchable(wf, c, &t)
                        {
                            match batch::submit(&s.completer, c, output, next).await {
                                Outcome::Done => return Ok(()),
                                Outcome::LeaseLost => return Err(EngineError::LeaseLost(c.job.id)),
                                Outcome::Fallback => {}
                            }
                        }
                        complete::transition(s, wf, c, t, tx).await
                    }
                    Err(f) => complete::failure(s, Some(wf), c, f).await,
                }
            } else if let Some(spawn) = step.children.clone() {
                let (res, tx) = call(s, c, step, false, move |ctx| spawn(ctx)).await;
                match res {
                    Ok(children) => complete::spawned(s, wf, c, children, tx).await,
                    Err(f) => complete::failure(s, Some(wf), c, f).await,
                }
            } else {
                let e = StepError::fatal(format!("step '{}' has nothing to run", c.job.step));
                complete::failure(s, Some(wf), c, (e, ExecutionStatus::Failed)).await
            }
        }
        JobKind::Compensate => {
            let res = match step.compensate.clone() {
                Some(comp) => call(s, c, step, true, move |ctx| comp(ctx)).await,
                None => (Ok(()), None),
            };
            match res {
                (Ok(()), tx) => complete::compensated(s, wf, c, tx).await,
                (Err(f), _) => complete::failure(s, Some(wf), c, f).await,
            }
        }
        JobKind::Signal | JobKind::Timer | JobKind::Join => complete::internal(s, wf, c).await,
    }
}

/// Runs `handler` for the job with its timeout; returns its result and, for transactional
/// steps, the transaction to complete in.
async fn call<T: Send + 'static>(
    s: &Shared,
    c: &ClaimedJob,
    step: &Step,
    compensation: bool,
    handler: impl FnOnce(StepContext) -> BoxFuture<std::result::Result<T, StepError>>,
) -> (
    std::result::Result<T, Failure>,
    Option<Transaction<'static, Postgres>>,
) {
    let tx: Option<SharedTx> = if step.spec.transactional {
        match s.pool.begin().await {
            Ok(tx) => Some(Arc::new(tokio::sync::Mutex::new(Some(tx)))),
            Err(e) => {
                let err =
                    StepError::retryable(format!("could not open the step's transaction: {e}"));
                return (Err((err, ExecutionStatus::Failed)), None);
            }
        }
    } else {
        None
    };
    let ctx = StepContext {
        run_id: c.job.run_id,
        workflow: Arc::from(c.job.pin.split('@').next().unwrap_or_default()),
        version: c
            .job
            .pin
            .rsplit('@')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        step: Arc::from(c.job.step.as_str()),
        iteration: c.job.iteration,
        attempt: c.job.attempt,
        worker_id: s.id,
        compensation,
        input: Arc::new(c.job.input.clone()),
        run_input: Arc::new(c.run_input.clone()),
        outputs: Arc::new(c.run_outputs.clone()),
        tx: tx.clone(),
    };
    let timeout = Duration::from_millis(step.spec.timeout_ms);
    let mut handle = AbortOnDrop(tokio::spawn(handler(ctx).in_current_span()));
    let res = match tokio::time::timeout(timeout, &mut handle.0).await {
        Ok(Ok(r)) => r.map_err(|e| (e, ExecutionStatus::Failed)),
        Ok(Err(join)) => {
            let msg = panic_message(join);
            Err((
                StepError::retryable(format!("handler panicked: {msg}")),
                ExecutionStatus::Failed,
            ))
        }
        Err(_) => {
            handle.0.abort();
            let _ = (&mut handle.0).await;
            let e = StepError::retryable(format!("timed out after {timeout:?}"));
            Err((e, ExecutionStatus::TimedOut))
        }
    };
    let tx = match tx {
        Some(shared) => match tokio::time::timeout(Duration::from_secs(5), shared.lock()).await {
            Ok(mut guard) => guard.take(),
            Err(_) => {
                let e = StepError::retryable("the step's transaction is still held by its handler");
                return (Err((e, ExecutionStatus::Failed)), None);
            }
        },
        None => None,
    };
    (res, tx)
}

/// Aborts the handler's task if the job's future is dropped (worker killed, grace over).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if !join.is_panic() {
        return "task cancelled".into();
    }
    let payload = join.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}
