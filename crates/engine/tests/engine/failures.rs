//! Retries with backoff, exhausted retries, fatal errors, compensation order and failure,
//! timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use seam_engine::{
    JobKind, JobState, Operator, RetryPolicy, RunStatus, Step, StepError, Transition, Workflow,
};

use crate::common::*;

#[tokio::test]
async fn a_flaky_step_is_retried_with_backoff_then_succeeds() {
    let env = setup().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let policy = RetryPolicy::attempts(5)
        .backoff(Duration::from_millis(200), Duration::from_secs(5))
        .jitter(0.0);
    let wf = Workflow::builder("flaky", 1)
        .step(
            Step::task("call", move |_| {
                let c = c.clone();
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) < 2 {
                        Err(StepError::retryable("upstream 503"))
                    } else {
                        Transition::next("ok")
                    }
                }
            })
            .retry(policy),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let ex = execs(&env, id).await;
    let statuses: Vec<String> = ex.iter().map(|e| e.status.to_string()).collect();
    assert_eq!(statuses, vec!["failed", "failed", "completed"]);
    assert_eq!(
        ex.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(ex[0].error.as_deref(), Some("upstream 503"));
    // Backoff honoured: 200 ms before attempt 2, 400 ms before attempt 3.
    let gap1 = ex[1].started_at.unwrap() - ex[0].finished_at;
    let gap2 = ex[2].started_at.unwrap() - ex[1].finished_at;
    assert!(
        gap1 >= chrono::Duration::milliseconds(190),
        "first backoff {gap1}"
    );
    assert!(
        gap2 >= chrono::Duration::milliseconds(390),
        "second backoff {gap2}"
    );
    let kinds = event_kinds(&env, id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "attempt.failed").count(), 2);
    w.shutdown().await.unwrap();
    env.done().await;
}

/// reserve (compensated) -> charge (compensated) -> ship (fails).
fn saga(log: &Log, ship_error: StepError, attempts: u32) -> Workflow {
    let (l1, l2, l3, l4, l5) = (
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
    );
    Workflow::builder("saga", 1)
        .step(
            Step::task("reserve", move |_| {
                let l = l1.clone();
                async move {
                    l.push("reserve");
                    Transition::next("r-1")
                }
            })
            .compensate(move |ctx| {
                let l = l2.clone();
                async move {
                    let id: String = ctx.input()?;
                    l.push(format!("undo reserve {id}"));
                    Ok(())
                }
            }),
        )
        .step(
            Step::task("charge", move |_| {
                let l = l3.clone();
                async move {
                    l.push("charge");
                    Transition::next("c-1")
                }
            })
            .compensate(move |ctx| {
                let l = l4.clone();
                async move {
                    let id: String = ctx.input()?;
                    l.push(format!("undo charge {id}"));
                    Ok(())
                }
            }),
        )
        .step(
            Step::task("ship", move |_| {
                let l = l5.clone();
                let e = ship_error.clone();
                async move {
                    l.push("ship");
                    Err::<Transition, _>(e)
                }
            })
            .retry(fast_retry(attempts)),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn exhausted_retries_compensate_succeeded_steps_in_reverse_order() {
    let env = setup().await;
    let log = Log::default();
    let wf = saga(&log, StepError::retryable("carrier down"), 3);
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("carrier down"));
    assert_eq!(
        log.entries(),
        vec![
            "reserve",
            "charge",
            "ship",
            "ship",
            "ship",
            "undo charge c-1",
            "undo reserve r-1"
        ]
    );
    let comps = exec_trail(&env, id, JobKind::Compensate).await;
    assert_eq!(
        comps,
        vec![
            ("charge".to_string(), "completed".to_string()),
            ("reserve".to_string(), "completed".to_string())
        ]
    );
    let kinds = event_kinds(&env, id).await;
    assert!(kinds.contains(&"run.compensating".to_string()));
    assert_eq!(kinds.last().unwrap(), "run.failed");
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_fatal_error_skips_the_remaining_retries() {
    let env = setup().await;
    let log = Log::default();
    let wf = saga(&log, StepError::fatal("address invalid"), 5);
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert_eq!(log.entries().iter().filter(|e| *e == "ship").count(), 1);
    assert_eq!(log.entries().last().unwrap(), "undo reserve r-1");
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn transition_fail_compensates_without_retry() {
    let env = setup().await;
    let log = Log::default();
    let l = log.clone();
    let wf = Workflow::builder("declines", 1)
        .step(
            Step::task("hold", |_| async { Transition::next(1) }).compensate(move |_| {
                let l = l.clone();
                async move {
                    l.push("release");
                    Ok(())
                }
            }),
        )
        .step(Step::task("decide", |_| async {
            Transition::fail("declined by policy")
        }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("declined by policy"));
    assert_eq!(log.entries(), vec!["release"]);
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_failing_compensation_needs_an_operator_whose_retry_finishes_it() {
    let env = setup().await;
    let broken = Arc::new(AtomicBool::new(true));
    let b = broken.clone();
    let log = Log::default();
    let l = log.clone();
    let wf = Workflow::builder("stuck-undo", 1)
        .step(
            Step::task("book", |_| async { Transition::next("slot-9") })
                .retry(fast_retry(2))
                .compensate(move |_| {
                    let b = b.clone();
                    let l = l.clone();
                    async move {
                        if b.load(Ordering::SeqCst) {
                            return Err(StepError::retryable("booking API down"));
                        }
                        l.push("unbooked");
                        Ok(())
                    }
                }),
        )
        .step(Step::task("fail", |_| async { Transition::fail("nope") }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::CompensationFailed);
    let dead = wait_for_job(&env, id, JobState::Dead).await;
    assert_eq!(dead.kind, JobKind::Compensate);
    assert_eq!(dead.last_error.as_deref(), Some("booking API down"));

    broken.store(false, Ordering::SeqCst);
    let op = Operator::new(env.pool.clone(), "alice");
    let after = op.retry(id, "booking API is back").await.unwrap();
    assert_status(&after, RunStatus::Compensating);
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert_eq!(log.entries(), vec!["unbooked"]);
    let ev = history(&env, id).await;
    let retry = ev
        .iter()
        .find(|e| e.kind == "operator.retry")
        .expect("retry recorded");
    assert_eq!(retry.actor, "operator:alice");
    assert_eq!(retry.reason.as_deref(), Some("booking API is back"));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_hung_handler_is_abandoned_at_its_timeout() {
    let env = setup().await;
    let wf = Workflow::builder("hangs", 1)
        .step(
            Step::task("hang", |_| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Transition::next(())
            })
            .timeout(Duration::from_millis(200))
            .retry(fast_retry(2)),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let started = tokio::time::Instant::now();
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert!(started.elapsed() < Duration::from_secs(10));
    let ex = execs(&env, id).await;
    assert_eq!(ex.len(), 2);
    assert!(ex.iter().all(|e| e.status.to_string() == "timed_out"));
    assert!(ex[0].error.as_deref().unwrap().contains("timed out"));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_panicking_handler_counts_as_a_failed_attempt() {
    let env = setup().await;
    let wf = Workflow::builder("panics", 1)
        .step(
            Step::task("boom", |_| async {
                if true {
                    panic!("index out of bounds");
                }
                Transition::next(())
            })
            .retry(fast_retry(2)),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    let ex = execs(&env, id).await;
    assert_eq!(ex.len(), 2);
    assert!(
        ex[0]
            .error
            .as_deref()
            .unwrap()
            .contains("panicked: index out of bounds")
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Regression: a jittered backoff has nanosecond precision, which a PostgreSQL interval
/// cannot encode; the retry used to fail to commit and the run hung until its lease expired.
#[tokio::test]
async fn a_jittered_backoff_is_stored_and_honoured() {
    let env = setup().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let policy = RetryPolicy::attempts(3)
        .backoff(Duration::from_millis(37), Duration::from_secs(1))
        .jitter(0.5);
    let wf = Workflow::builder("jitter", 1)
        .step(
            Step::task("call", move |_| {
                let c = c.clone();
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(StepError::retryable("once"));
                    }
                    Transition::next(())
                }
            })
            .retry(policy),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_status(&settle(&env, id).await, RunStatus::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    w.shutdown().await.unwrap();
    env.done().await;
}
