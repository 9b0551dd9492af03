//! Waits and signals, deadlines, sleeps, and goto loops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use seam_engine::{
    JobKind, JobState, OnTimeout, Operator, RunStatus, Step, Transition, WaitDecision, Workflow,
};
use serde_json::json;

use crate::common::*;

fn approval(deadline: Option<(Duration, OnTimeout)>) -> Workflow {
    let mut wait = Step::wait("approval", "approve");
    if let Some((d, then)) = deadline {
        wait = wait.deadline(d).on_timeout(then);
    }
    Workflow::builder("approval", 1)
        .step(Step::task("prepare", |_| async {
            Transition::next("draft")
        }))
        .step(wait)
        .step(Step::task("publish", |ctx| async move {
            let decision: serde_json::Value = ctx.input()?;
            Transition::next(json!({ "published_with": decision }))
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_signal_completes_the_wait_with_its_payload() {
    let env = setup().await;
    let wf = approval(None);
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let waiting = wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    assert_eq!(waiting.current_step.as_deref(), Some("approval"));
    assert_eq!(waiting.wait_signal.as_deref(), Some("approve"));
    env.client
        .signal(id, "approve", json!({"by": "ana"}))
        .await
        .unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "published_with": {"by": "ana"} })));
    let kinds = event_kinds(&env, id).await;
    for k in ["wait.started", "signal.received", "signal.consumed"] {
        assert!(kinds.contains(&k.to_string()), "{k} missing from {kinds:?}");
    }
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Failure mode reported by other engines' users: a signal sent before (or right as) the
/// workflow reaches its wait is dropped. Seam buffers it.
#[tokio::test]
async fn a_signal_sent_before_the_wait_is_kept_and_consumed_there() {
    let env = setup().await;
    let wf = approval(None);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    // No worker yet: the run has not reached its wait.
    env.client
        .signal(id, "approve", json!("early"))
        .await
        .unwrap();
    env.client.signal(id, "unrelated", json!(1)).await.unwrap();
    let w = worker(&env.pool, &[&wf]);
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "published_with": "early" })));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn signals_to_ended_or_missing_runs_are_refused() {
    let env = setup().await;
    let wf = approval(Some((Duration::from_millis(10), OnTimeout::Fail)));
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_status(&settle(&env, id).await, RunStatus::Failed);
    let err = env
        .client
        .signal(id, "approve", json!(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the run has ended"), "{err}");
    let missing = seam_engine::RunId::new();
    let err = env
        .client
        .signal(missing, "approve", json!(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let err = env.client.signal(id, " ", json!(1)).await.unwrap_err();
    assert!(err.to_string().contains("must not be empty"), "{err}");
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Failure mode: a waiting run whose deadline timer was never written waits forever.
/// Seam writes the timer in the transaction that enters the wait.
#[tokio::test]
async fn the_deadline_timer_exists_whenever_a_run_waits() {
    let env = setup().await;
    let wf = approval(Some((Duration::from_secs(3600), OnTimeout::Fail)));
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    let timers: Vec<_> = job_rows(&env, id)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::Timer)
        .collect();
    assert_eq!(timers.len(), 1);
    let deadline = run.wait_deadline.expect("deadline recorded on the run");
    let drift = (timers[0].run_at - deadline).num_milliseconds().abs();
    assert!(drift < 5_000, "timer at the deadline (drift {drift} ms)");
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_wait_deadline_fails_continues_or_jumps_as_configured() {
    let env = setup().await;
    let fail = approval(Some((Duration::from_millis(150), OnTimeout::Fail)));
    let cont = Workflow::builder("approval-default", 1)
        .step(Step::task("prepare", |_| async { Transition::next(()) }))
        .step(
            Step::wait("approval", "approve")
                .deadline(Duration::from_millis(150))
                .on_timeout(OnTimeout::Continue {
                    output: json!("auto-approved"),
                }),
        )
        .step(Step::task("publish", |ctx| async move {
            Transition::next(ctx.input_value().clone())
        }))
        .build()
        .unwrap();
    let jumps = Workflow::builder("approval-escalate", 1)
        .step(
            Step::wait("approval", "approve")
                .deadline(Duration::from_millis(150))
                .on_timeout(OnTimeout::Goto {
                    step: "escalate".into(),
                }),
        )
        .step(Step::task("publish", |_| async {
            Transition::complete("published")
        }))
        .step(Step::task("escalate", |_| async {
            Transition::complete("escalated")
        }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&fail, &cont, &jumps]);
    let a = env.client.start(&fail, ()).await.unwrap().run_id;
    let b = env.client.start(&cont, ()).await.unwrap().run_id;
    let c = env.client.start(&jumps, ()).await.unwrap().run_id;
    let a = settle(&env, a).await;
    assert_status(&a, RunStatus::Failed);
    assert!(a.error.as_deref().unwrap().contains("passed its deadline"));
    let b = settle(&env, b).await;
    assert_status(&b, RunStatus::Completed);
    assert_eq!(b.output, Some(json!("auto-approved")));
    let c = settle(&env, c).await;
    assert_eq!(c.output, Some(json!("escalated")));
    assert_eq!(c.iteration, 1, "a goto starts a new iteration");
    assert!(
        event_kinds(&env, c.id)
            .await
            .contains(&"wait.timed_out".to_string())
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_signal_after_the_deadline_fired_does_not_revive_the_wait() {
    let env = setup().await;
    let wf = approval(Some((Duration::from_millis(100), OnTimeout::Fail)));
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_status(&settle(&env, id).await, RunStatus::Failed);
    assert!(env.client.signal(id, "approve", json!(1)).await.is_err());
    assert_status(&env.client.run(id).await.unwrap(), RunStatus::Failed);
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_wait_handler_keeps_waiting_until_all_tasks_report() {
    let env = setup().await;
    let wf = Workflow::builder("tasks", 1)
        .step(
            Step::wait("all-done", "task_done").on_signal(|view, _signal| {
                let needed = view.run_input["tasks"].as_u64().unwrap() as usize;
                let mut seen: Vec<String> = view
                    .received
                    .iter()
                    .map(|s| s.payload["task"].as_str().unwrap().to_string())
                    .collect();
                seen.sort();
                seen.dedup();
                if seen.len() >= needed {
                    WaitDecision::Complete(json!(seen))
                } else {
                    WaitDecision::KeepWaiting
                }
            }),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env
        .client
        .start(&wf, json!({"tasks": 3}))
        .await
        .unwrap()
        .run_id;
    wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    for task in ["cut", "sew", "cut"] {
        env.client
            .signal(id, "task_done", json!({ "task": task }))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_status(&env.client.run(id).await.unwrap(), RunStatus::Waiting);
    env.client
        .signal(id, "task_done", json!({ "task": "print" }))
        .await
        .unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(["cut", "print", "sew"])));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_sleep_is_a_durable_timer() {
    let env = setup().await;
    let wf = Workflow::builder("nap", 1)
        .step(Step::task("before", |_| async { Transition::next(7) }))
        .step(Step::sleep("nap", Duration::from_millis(300)))
        .step(Step::task("after", |ctx| async move {
            let v: u32 = ctx.input()?;
            Transition::next(v + 1)
        }))
        .build()
        .unwrap();
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    // The first worker enters the sleep and is stopped; another wakes the run later.
    let w1 = worker(&env.pool, &[&wf]);
    let sleeping = wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    assert_eq!(sleeping.current_step.as_deref(), Some("nap"));
    w1.shutdown().await.unwrap();
    let timer = job_rows(&env, id).await;
    assert_eq!(timer.len(), 1);
    assert_eq!(timer[0].kind, JobKind::Timer);
    let w2 = worker(&env.pool, &[&wf]);
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(
        run.output,
        Some(json!(8)),
        "the sleep passes its input through"
    );
    let ex = execs(&env, id).await;
    let slept = ex[1].finished_at - ex[0].finished_at;
    assert!(
        slept >= chrono::Duration::milliseconds(290),
        "slept only {slept}"
    );
    w2.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_redo_loop_goes_back_three_times_then_finishes() {
    let env = setup().await;
    let keys = Log::default();
    let k = keys.clone();
    let reviews = Arc::new(AtomicU32::new(0));
    let r = reviews.clone();
    let wf = Workflow::builder("redo", 1)
        .step(Step::task("produce", move |ctx| {
            let k = k.clone();
            async move {
                k.push(ctx.idempotency_key());
                Transition::next(ctx.iteration())
            }
        }))
        .step(Step::task("review", move |_| {
            let r = r.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) < 3 {
                    Transition::goto("produce", "redo: seams crooked")
                } else {
                    Transition::next("approved")
                }
            }
        }))
        .step(Step::task("ship", |ctx| async move {
            Transition::next(json!({ "iteration": ctx.iteration() }))
        }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.iteration, 3);
    assert_eq!(run.output, Some(json!({ "iteration": 3 })));
    let produce: Vec<i32> = execs(&env, id)
        .await
        .into_iter()
        .filter(|e| e.step == "produce")
        .map(|e| e.iteration)
        .collect();
    assert_eq!(produce, vec![0, 1, 2, 3]);
    let mut distinct = keys.entries();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "each pass has its own idempotency key");
    assert_eq!(
        event_kinds(&env, id)
            .await
            .iter()
            .filter(|k| *k == "run.goto")
            .count(),
        3
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn cancelling_a_waiting_run_compensates_what_succeeded() {
    let env = setup().await;
    let log = Log::default();
    let l = log.clone();
    let wf = Workflow::builder("hold-then-wait", 1)
        .step(
            Step::task("hold-stock", |_| async { Transition::next("hold-5") }).compensate(
                move |ctx| {
                    let l = l.clone();
                    async move {
                        l.push(format!("released {}", ctx.input::<String>()?));
                        Ok(())
                    }
                },
            ),
        )
        .step(Step::wait("payment", "paid").deadline(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    let op = Operator::new(env.pool.clone(), "bob");
    let after = op
        .cancel(id, true, "customer changed their mind")
        .await
        .unwrap();
    assert_status(&after, RunStatus::Compensating);
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Cancelled);
    assert_eq!(log.entries(), vec!["released hold-5"]);
    assert!(
        job_rows(&env, id).await.is_empty(),
        "the deadline timer is gone too"
    );
    assert!(
        !job_rows(&env, id)
            .await
            .iter()
            .any(|j| j.state == JobState::Ready)
    );
    w.shutdown().await.unwrap();
    env.done().await;
}
