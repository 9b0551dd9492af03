//! Operator actions: each allowed where it should be, refused with a clear error elsewhere,
//! and recorded in history with its actor and reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use seam_engine::{
    EngineError, JobKind, JobState, OnExhausted, Operator, RunStatus, Step, StepError, Transition,
    Workflow,
};
use serde_json::json;

use crate::common::*;

fn op(env: &Env) -> Operator {
    Operator::new(env.pool.clone(), "carol")
}

fn refused(err: EngineError, hint: &str) {
    match &err {
        EngineError::NotAllowed { .. } => {
            assert!(
                err.to_string().contains(hint),
                "'{err}' should say '{hint}'"
            )
        }
        other => panic!("expected NotAllowed, got {other:?}"),
    }
}

/// a -> flaky (parks when exhausted) -> c; `broken` decides whether flaky fails.
fn parked(broken: &Arc<AtomicBool>, log: &Log) -> Workflow {
    let b = broken.clone();
    let l = log.clone();
    Workflow::builder("parked", 1)
        .step(
            Step::task("a", |_| async { Transition::next("from-a") }).compensate(move |_| {
                let l = l.clone();
                async move {
                    l.push("undo a");
                    Ok(())
                }
            }),
        )
        .step(
            Step::task("flaky", move |_| {
                let b = b.clone();
                async move {
                    if b.load(Ordering::SeqCst) {
                        return Err(StepError::retryable("printer jammed"));
                    }
                    Transition::next("printed")
                }
            })
            .retry(fast_retry(2))
            .on_exhausted(OnExhausted::Park),
        )
        .step(Step::task("c", |ctx| async move {
            Transition::next(json!({ "got": ctx.input_value() }))
        }))
        .build()
        .unwrap()
}

async fn parked_run(env: &Env, wf: &Workflow) -> seam_engine::RunId {
    let id = env.client.start(wf, ()).await.unwrap().run_id;
    wait_for_job(env, id, JobState::Dead).await;
    id
}

#[tokio::test]
async fn retry_runs_a_dead_step_again_and_is_refused_without_one() {
    let env = setup().await;
    let broken = Arc::new(AtomicBool::new(true));
    let wf = parked(&broken, &Log::default());
    let w = worker(&env.pool, &[&wf]);
    let id = parked_run(&env, &wf).await;
    assert_status(&env.client.run(id).await.unwrap(), RunStatus::Running);
    broken.store(false, Ordering::SeqCst);
    op(&env).retry(id, "unjammed").await.unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "got": "printed" })));
    refused(op(&env).retry(id, "again").await.unwrap_err(), "rewind it");
    let waiting = Workflow::builder("w", 1)
        .step(Step::wait("w", "go"))
        .build()
        .unwrap();
    let w2 = worker(&env.pool, &[&waiting]);
    let wid = env.client.start(&waiting, ()).await.unwrap().run_id;
    wait_for(&env, wid, |r| r.status == RunStatus::Waiting).await;
    refused(
        op(&env).retry(wid, "nothing to retry").await.unwrap_err(),
        "no dead job",
    );
    w.shutdown().await.unwrap();
    w2.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn skip_moves_a_stuck_run_on_with_the_given_output() {
    let env = setup().await;
    let broken = Arc::new(AtomicBool::new(true));
    let wf = parked(&broken, &Log::default());
    let w = worker(&env.pool, &[&wf]);
    let id = parked_run(&env, &wf).await;
    refused(
        op(&env).skip(id, "a", json!(1), "wrong").await.unwrap_err(),
        "at step 'flaky'",
    );
    assert!(matches!(
        op(&env)
            .skip(id, "nope", json!(1), "typo")
            .await
            .unwrap_err(),
        EngineError::UnknownStep { .. }
    ));
    op(&env)
        .skip(id, "flaky", json!("hand-printed"), "printed by hand")
        .await
        .unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "got": "hand-printed" })));
    let trail = exec_trail(&env, id, JobKind::Step).await;
    assert!(trail.contains(&("flaky".to_string(), "skipped".to_string())));
    refused(
        op(&env).skip(id, "c", json!(1), "late").await.unwrap_err(),
        "has ended",
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn skip_of_a_failed_compensation_finishes_the_rollback() {
    let env = setup().await;
    let wf = Workflow::builder("undo-breaks", 1)
        .step(
            Step::task("a", |_| async { Transition::next(()) })
                .retry(fast_retry(1))
                .compensate(|_| async { Err(StepError::fatal("cannot undo")) }),
        )
        .step(Step::task("b", |_| async { Transition::fail("b failed") }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_status(&settle(&env, id).await, RunStatus::CompensationFailed);
    refused(
        op(&env).pause(id, "x").await.unwrap_err(),
        "retry or skip it",
    );
    refused(
        op(&env).cancel(id, true, "x").await.unwrap_err(),
        "cancel --no-compensate",
    );
    op(&env)
        .skip(id, "a", json!(null), "undone by hand in the ERP")
        .await
        .unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    let comps = exec_trail(&env, id, JobKind::Compensate).await;
    assert_eq!(
        comps.last().unwrap(),
        &("a".to_string(), "skipped".to_string())
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

fn gate() -> Workflow {
    Workflow::builder("gate", 1)
        .step(Step::task("a", |_| async { Transition::next("a") }))
        .step(Step::wait("gate", "open"))
        .step(Step::task("c", |ctx| async move {
            Transition::next(ctx.input_value().clone())
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn complete_wait_and_fail_wait_only_apply_to_a_waiting_run() {
    let env = setup().await;
    let wf = gate();
    let w = worker(&env.pool, &[&wf]);
    let a = env.client.start(&wf, ()).await.unwrap().run_id;
    let b = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for(&env, a, |r| r.status == RunStatus::Waiting).await;
    wait_for(&env, b, |r| r.status == RunStatus::Waiting).await;
    op(&env)
        .complete_wait(a, json!("opened by hand"), "sensor broken")
        .await
        .unwrap();
    let run = settle(&env, a).await;
    assert_eq!(run.output, Some(json!("opened by hand")));
    refused(
        op(&env).complete_wait(a, json!(1), "x").await.unwrap_err(),
        "wait or sleep",
    );
    op(&env).fail_wait(b, "gate will never open").await.unwrap();
    let run = settle(&env, b).await;
    assert_status(&run, RunStatus::Failed);
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("gate will never open")
    );
    refused(
        op(&env).fail_wait(b, "x").await.unwrap_err(),
        "wait or sleep",
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn rewind_restarts_an_ended_run_from_any_step() {
    let env = setup().await;
    let wf = gate();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    env.client.signal(id, "open", json!("first")).await.unwrap();
    assert_eq!(settle(&env, id).await.output, Some(json!("first")));

    let rewound = op(&env)
        .rewind(id, "gate", "customer re-opened the order")
        .await
        .unwrap();
    assert_status(&rewound, RunStatus::Waiting);
    assert_eq!(rewound.iteration, 1);
    assert!(rewound.finished_at.is_none() && rewound.output.is_none());
    env.client
        .signal(id, "open", json!("second"))
        .await
        .unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!("second")));
    let steps: Vec<(String, i32)> = execs(&env, id)
        .await
        .into_iter()
        .map(|e| (e.step, e.iteration))
        .collect();
    assert_eq!(steps.iter().filter(|(s, _)| s == "c").count(), 2);
    assert!(steps.contains(&("c".to_string(), 1)));
    assert!(matches!(
        op(&env).rewind(id, "zzz", "typo").await.unwrap_err(),
        EngineError::UnknownStep { .. }
    ));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn pause_holds_a_run_until_resume() {
    let env = setup().await;
    let wf = gate();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    let paused = op(&env).pause(id, "investigating").await.unwrap();
    assert_status(&paused, RunStatus::Paused);
    assert_eq!(paused.paused_from, Some(RunStatus::Waiting));
    refused(
        op(&env).pause(id, "again").await.unwrap_err(),
        "already paused",
    );
    refused(
        op(&env).rewind(id, "a", "x").await.unwrap_err(),
        "resume it first",
    );
    env.client.signal(id, "open", json!("go")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_status(&env.client.run(id).await.unwrap(), RunStatus::Paused);
    let held = job_rows(&env, id).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].state, JobState::Paused);
    let resumed = op(&env).resume(id, "all clear").await.unwrap();
    assert_status(&resumed, RunStatus::Waiting);
    let run = settle(&env, id).await;
    assert_eq!(run.output, Some(json!("go")));
    refused(
        op(&env).resume(id, "x").await.unwrap_err(),
        "only a paused run",
    );
    refused(op(&env).pause(id, "x").await.unwrap_err(), "has ended");
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_running_step_that_completes_while_paused_stays_held() {
    let env = setup().await;
    let wf = Workflow::builder("slow", 1)
        .step(Step::task("slow", |_| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Transition::next(1)
        }))
        .step(Step::task("next", |_| async { Transition::next(2) }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for_job(&env, id, JobState::Running).await;
    // Regression: the claim marks a run started in a statement of its own; a run paused
    // before that must still leave `pending` when its first step completes.
    sqlx::query("UPDATE seam.runs SET status = 'pending' WHERE id = $1")
        .bind(id.0)
        .execute(&env.pool)
        .await
        .unwrap();
    op(&env).pause(id, "hold").await.unwrap();
    let held = wait_for_job(&env, id, JobState::Paused).await;
    assert_eq!(held.step, "next");
    let run = env.client.run(id).await.unwrap();
    assert_status(&run, RunStatus::Paused);
    assert_eq!(run.paused_from, Some(RunStatus::Running));
    op(&env).resume(id, "go").await.unwrap();
    assert_eq!(settle(&env, id).await.output, Some(json!(2)));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn cancel_without_compensation_ends_the_run_as_it_is() {
    let env = setup().await;
    let log = Log::default();
    let broken = Arc::new(AtomicBool::new(true));
    let wf = parked(&broken, &log);
    let w = worker(&env.pool, &[&wf]);
    let id = parked_run(&env, &wf).await;
    let run = op(&env).cancel(id, false, "duplicate order").await.unwrap();
    assert_status(&run, RunStatus::Cancelled);
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("without compensation")
    );
    assert!(log.entries().is_empty(), "no compensation ran");
    assert!(
        job_rows(&env, id).await.is_empty(),
        "the dead job went with it"
    );
    refused(
        op(&env).cancel(id, false, "again").await.unwrap_err(),
        "already ended",
    );
    let ev = history(&env, id).await;
    let cancel = ev.iter().find(|e| e.kind == "operator.cancel").unwrap();
    assert_eq!(cancel.actor, "operator:carol");
    assert_eq!(cancel.reason.as_deref(), Some("duplicate order"));
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Failure mode: a run stuck `running` (or any live state) that no command can end.
/// Every non-terminal status accepts `cancel --no-compensate`.
#[tokio::test]
async fn every_live_status_can_be_ended_by_an_operator() {
    let env = setup().await;
    let wf = gate();
    let mut ids = Vec::new();
    // pending: no worker has taken it yet
    ids.push(env.client.start(&wf, ()).await.unwrap().run_id);
    let w = worker(&env.pool, &[&wf]);
    let waiting = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for(&env, waiting, |r| r.status == RunStatus::Waiting).await;
    ids.push(waiting);
    let paused = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for(&env, paused, |r| r.status == RunStatus::Waiting).await;
    op(&env).pause(paused, "x").await.unwrap();
    ids.push(paused);
    w.shutdown().await.unwrap();
    let running = env.client.start(&wf, ()).await.unwrap().run_id;
    sqlx::query("UPDATE seam.runs SET status = 'running' WHERE id = $1")
        .bind(running.0)
        .execute(&env.pool)
        .await
        .unwrap();
    ids.push(running);
    for id in ids {
        let run = op(&env).cancel(id, false, "end it").await.unwrap();
        assert_status(&run, RunStatus::Cancelled);
        assert!(job_rows(&env, id).await.is_empty());
    }
    env.done().await;
}

#[tokio::test]
async fn retry_requeues_a_job_whose_worker_died_without_waiting_for_a_rescuer() {
    let env = setup().await;
    let wf = gate();
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    // As if a worker claimed the first step and died: leased, lease expired, no rescuer.
    let lease = |ago: &'static str| {
        let sql = format!(
            "UPDATE seam.jobs SET state = 'running', lease_token = gen_random_uuid(),
                    lease_expires_at = now() {ago}, started_at = now()
             WHERE run_id = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .execute(&env.pool)
    };
    lease("+ interval '1 minute'").await.unwrap();
    refused(
        op(&env).retry(id, "too soon").await.unwrap_err(),
        "no expired lease",
    );
    lease("- interval '1 minute'").await.unwrap();
    op(&env).retry(id, "worker host died").await.unwrap();
    let job = &job_rows(&env, id).await[0];
    assert_eq!((job.state, job.attempt), (JobState::Ready, 2));
    assert!(job.lease_token.is_none());
    let w = worker(&env.pool, &[&wf]);
    wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    w.shutdown().await.unwrap();
    env.done().await;
}
