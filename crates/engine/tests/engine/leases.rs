//! Leases, fencing, the rescuer, crashed and stalled workers, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use seam_engine::maintenance::{RescueReport, Rescuer, RescuerConfig};
use seam_engine::{JobState, OnExhausted, RunStatus, Step, Transition, Workflow};
use serde_json::json;
use tokio::sync::{Notify, mpsc};

use crate::common::*;

fn rescuer(env: &Env) -> Rescuer {
    Rescuer::new(env.pool.clone(), RescuerConfig::default())
}

/// As if the clock had moved past every current lease.
fn later() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(30)
}

/// The first attempt hangs forever (as in a worker that died mid-step), later ones succeed.
/// Keyed on the attempt, not on calls: a worker may be killed before it calls the handler.
fn hangs_once() -> Workflow {
    Workflow::builder("hangs-once", 1)
        .step(Step::task("work", move |ctx| async move {
            if ctx.attempt() == 1 {
                std::future::pending::<()>().await;
            }
            Transition::next(json!({ "attempt": ctx.attempt() }))
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_worker_that_dies_mid_step_is_replaced_after_its_lease_expires() {
    let env = setup().await;
    let wf = hangs_once();
    let w1 = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let job = wait_for_job(&env, id, JobState::Running).await;
    assert_eq!(job.worker_id, Some(w1.id().0));
    w1.kill().await; // dropped without completing
    let report = rescuer(&env).run_once(later()).await.unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 1,
            dead: 0
        }
    );
    let w2 = worker(&env.pool, &[&wf]);
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "attempt": 2 })));
    let ex = execs(&env, id).await;
    let trail: Vec<(i32, String)> = ex
        .iter()
        .map(|e| (e.attempt, e.status.to_string()))
        .collect();
    assert_eq!(trail, vec![(1, "lost".into()), (2, "completed".into())]);
    assert_eq!(ex[1].worker_id, Some(w2.id().0));
    assert!(
        event_kinds(&env, id)
            .await
            .contains(&"attempt.lost".to_string())
    );
    w2.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_commit() {
    let env = setup().await;
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    let wf = Workflow::builder("stalls", 1)
        .step(Step::task("work", move |ctx| {
            let g = g.clone();
            async move {
                if ctx.attempt() == 1 {
                    g.notified().await; // stalled, e.g. a long GC pause or SIGSTOP
                }
                Transition::next(json!({ "attempt": ctx.attempt() }))
            }
        }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for_job(&env, id, JobState::Running).await;
    assert_eq!(rescuer(&env).run_once(later()).await.unwrap().requeued, 1);
    let run = settle(&env, id).await;
    assert_eq!(run.output, Some(json!({ "attempt": 2 })));
    gate.notify_one(); // the stalled attempt wakes up and tries to complete
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = env.client.run(id).await.unwrap();
    assert_eq!(
        run.output,
        Some(json!({ "attempt": 2 })),
        "stale result was discarded"
    );
    let completed = event_kinds(&env, id)
        .await
        .iter()
        .filter(|k| *k == "step.completed")
        .count();
    assert_eq!(completed, 1);
    let attempts: Vec<i32> = execs(&env, id).await.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, vec![1, 2], "attempt 1 recorded once, as lost");
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Failure mode: the recovery process re-runs a job whose completion already committed.
#[tokio::test]
async fn a_rescuer_cannot_undo_a_completion_that_committed() {
    let env = setup().await;
    let wf = Workflow::builder("quick", 1)
        .step(Step::task("work", |_| async { Transition::next(1) }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_status(&settle(&env, id).await, RunStatus::Completed);
    let report = rescuer(&env).run_once(later()).await.unwrap();
    assert_eq!(report, RescueReport::default());
    assert_status(&env.client.run(id).await.unwrap(), RunStatus::Completed);
    assert_eq!(execs(&env, id).await.len(), 1);
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_transactional_steps_writes_roll_back_when_its_completion_is_fenced_out() {
    let env = setup().await;
    sqlx::query("CREATE TABLE effects (run_id uuid, attempt int)")
        .execute(&env.pool)
        .await
        .unwrap();
    let gate = Arc::new(Notify::new());
    let (tx, mut inserted) = mpsc::unbounded_channel::<i32>();
    let g = gate.clone();
    let wf = Workflow::builder("tx-step", 1)
        .step(
            Step::task("write", move |ctx| {
                let (g, tx) = (g.clone(), tx.clone());
                async move {
                    sqlx::query("INSERT INTO effects VALUES ($1, $2)")
                        .bind(ctx.run_id().0)
                        .bind(ctx.attempt())
                        .execute(&mut *ctx.tx().await?)
                        .await?;
                    tx.send(ctx.attempt()).unwrap();
                    if ctx.attempt() == 1 {
                        g.notified().await;
                    }
                    Transition::next(ctx.attempt())
                }
            })
            .transactional(),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_eq!(inserted.recv().await, Some(1));
    assert_eq!(rescuer(&env).run_once(later()).await.unwrap().requeued, 1);
    assert_eq!(inserted.recv().await, Some(2));
    let run = settle(&env, id).await;
    assert_eq!(run.output, Some(json!(2)));
    gate.notify_one();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows: Vec<i32> = sqlx::query_scalar("SELECT attempt FROM effects")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, vec![2], "the fenced attempt's insert was rolled back");
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_transactional_step_that_fails_leaves_no_writes() {
    let env = setup().await;
    sqlx::query("CREATE TABLE effects (attempt int)")
        .execute(&env.pool)
        .await
        .unwrap();
    let wf = Workflow::builder("tx-fails", 1)
        .step(
            Step::task("write", |ctx| async move {
                sqlx::query("INSERT INTO effects VALUES ($1)")
                    .bind(ctx.attempt())
                    .execute(&mut *ctx.tx().await?)
                    .await?;
                if ctx.attempt() < 2 {
                    return Err(seam_engine::StepError::retryable("flaky"));
                }
                Transition::next(())
            })
            .transactional()
            .retry(fast_retry(3)),
        )
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    assert_status(&settle(&env, id).await, RunStatus::Completed);
    let rows: Vec<i32> = sqlx::query_scalar("SELECT attempt FROM effects")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, vec![2]);
    w.shutdown().await.unwrap();
    env.done().await;
}

fn kills_its_worker(on_exhausted: OnExhausted) -> Workflow {
    Workflow::builder("poison", 1)
        .step(
            Step::task("work", |_| async {
                std::future::pending::<()>().await;
                Transition::next(())
            })
            .retry(fast_retry(2))
            .on_exhausted(on_exhausted),
        )
        .build()
        .unwrap()
}

/// Failure mode: a job that crashes its worker is picked up, crashes the next one, and so on
/// forever. Seam counts lost leases as attempts and kills the job at max attempts.
#[tokio::test]
async fn a_job_that_kills_its_worker_every_time_ends_dead_not_retried_forever() {
    let env = setup().await;
    let wf = kills_its_worker(OnExhausted::Compensate);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let mut reports = Vec::new();
    for _ in 0..2 {
        let w = worker(&env.pool, &[&wf]);
        wait_for_job(&env, id, JobState::Running).await;
        w.kill().await;
        reports.push(rescuer(&env).run_once(later()).await.unwrap());
    }
    assert_eq!(
        reports[0],
        RescueReport {
            requeued: 1,
            dead: 0
        }
    );
    assert_eq!(
        reports[1],
        RescueReport {
            requeued: 0,
            dead: 1
        }
    );
    let run = env.client.run(id).await.unwrap();
    assert_status(&run, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("lost leases"),
        "{:?}",
        run.error
    );
    let trail: Vec<String> = execs(&env, id)
        .await
        .iter()
        .map(|e| e.status.to_string())
        .collect();
    assert_eq!(trail, vec!["lost", "dead"]);
    assert_eq!(
        rescuer(&env).run_once(later()).await.unwrap(),
        RescueReport::default()
    );
    env.done().await;
}

#[tokio::test]
async fn a_parked_poison_job_stays_dead_for_an_operator() {
    let env = setup().await;
    let wf = kills_its_worker(OnExhausted::Park);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    for _ in 0..2 {
        let w = worker(&env.pool, &[&wf]);
        wait_for_job(&env, id, JobState::Running).await;
        w.kill().await;
        rescuer(&env).run_once(later()).await.unwrap();
    }
    let run = env.client.run(id).await.unwrap();
    assert_status(&run, RunStatus::Running);
    let jobs = job_rows(&env, id).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Dead);
    assert!(
        event_kinds(&env, id)
            .await
            .contains(&"step.dead".to_string())
    );
    // A worker does not pick a dead job up again.
    let w = worker(&env.pool, &[&wf]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(job_rows(&env, id).await[0].state, JobState::Dead);
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn heartbeats_keep_a_long_step_leased() {
    let env = setup().await;
    let wf = Workflow::builder("long", 1)
        .step(Step::task("work", |ctx| async move {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            Transition::next(ctx.attempt())
        }))
        .build()
        .unwrap();
    let w = worker_with(&env.pool, &[&wf], |b| b.lease(Duration::from_millis(600)));
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for_job(&env, id, JobState::Running).await;
    let r = rescuer(&env);
    for _ in 0..8 {
        assert_eq!(
            r.run_once(Utc::now()).await.unwrap(),
            RescueReport::default()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let run = settle(&env, id).await;
    assert_eq!(run.output, Some(json!(1)), "finished in its first attempt");
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_work_and_releases_what_overruns() {
    let env = setup().await;
    let wf = Workflow::builder("shutdown", 1)
        .step(Step::task("short", |_| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Transition::next(())
        }))
        .step(Step::task("long", |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Transition::next(())
        }))
        .build()
        .unwrap();
    let w = worker_with(&env.pool, &[&wf], |b| {
        b.shutdown_grace(Duration::from_secs(2))
    });
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    wait_for_job(&env, id, JobState::Running).await;
    w.shutdown().await.unwrap();
    let ex = execs(&env, id).await;
    assert_eq!(
        ex.len(),
        1,
        "the in-flight step finished before the worker stopped"
    );
    assert_eq!(ex[0].step, "short");
    let jobs = job_rows(&env, id).await;
    assert_eq!(
        (jobs[0].step.as_str(), jobs[0].state),
        ("long", JobState::Ready)
    );

    let w = worker_with(&env.pool, &[&wf], |b| {
        b.shutdown_grace(Duration::from_millis(200))
    });
    wait_for_job(&env, id, JobState::Running).await;
    let t = tokio::time::Instant::now();
    w.shutdown().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    let jobs = job_rows(&env, id).await;
    assert_eq!(jobs[0].state, JobState::Ready, "released, not left leased");
    assert_eq!(jobs[0].attempt, 1, "a release is not a failed attempt");
    assert!(
        jobs[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("shutting down")
    );
    env.done().await;
}

/// A completion that cannot commit (here its transaction was aborted by the handler; in the
/// field a deadlock victim or a dropped connection) hands its job to the rescuer at once
/// instead of leaving it leased for the whole lease.
#[tokio::test]
async fn a_completion_that_cannot_commit_is_handed_back_at_once() {
    let env = setup().await;
    let wf = Workflow::builder("aborts-its-tx", 1)
        .step(
            Step::task("write", |ctx| async move {
                if ctx.attempt() == 1 {
                    // The statement fails and the handler swallows it: the transaction the
                    // completion must commit in is now aborted.
                    let _ = sqlx::query("SELECT 1/0")
                        .execute(&mut *ctx.tx().await?)
                        .await;
                }
                Transition::next(ctx.attempt())
            })
            .transactional()
            .retry(fast_retry(3)),
        )
        .build()
        .unwrap();
    let w = worker_with(&env.pool, &[&wf], |b| b.lease(Duration::from_secs(600)));
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let expired: bool = sqlx::query_scalar(
            "SELECT coalesce(bool_or(lease_expires_at <= now()), false) FROM seam.jobs
             WHERE run_id = $1 AND state = 'running'",
        )
        .bind(id.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
        if expired {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed completion kept its 10-minute lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let soon = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(rescuer(&env).run_once(soon).await.unwrap().requeued, 1);
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!(2)));
    w.shutdown().await.unwrap();
    env.done().await;
}
