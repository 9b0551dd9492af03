//! Children steps: fan-out, join, and child failure.

use std::sync::Arc;

use seam_engine::{ChildFailure, ChildSpec, RunStatus, Step, StepError, Transition, Workflow};
use serde_json::json;

use crate::common::*;

fn child() -> Workflow {
    Workflow::builder("cut-panel", 1)
        .step(Step::task("cut", |ctx| async move {
            let n: i64 = ctx.input()?;
            if n < 0 {
                return Err(StepError::fatal(format!("cannot cut {n} panels")));
            }
            Transition::next(n * 2)
        }))
        .build()
        .unwrap()
}

fn parent(child: &Workflow, on_failure: ChildFailure) -> Workflow {
    let c = child.clone();
    Workflow::builder("garment", 1)
        .step(
            Step::children("panels", move |ctx| {
                let c = c.clone();
                async move {
                    let sizes: Vec<i64> = ctx.input()?;
                    sizes.iter().map(|n| ChildSpec::new(&c, n)).collect()
                }
            })
            .on_child_failure(on_failure),
        )
        .step(Step::task("assemble", |ctx| async move {
            let results: Vec<serde_json::Value> = ctx.input()?;
            let total: i64 = results.iter().filter_map(|r| r["output"].as_i64()).sum();
            Transition::next(json!({ "children": results.len(), "total": total }))
        }))
        .build()
        .unwrap()
}

/// Children of `parent` that have not ended, in id order.
async fn live_children(env: &Env, parent: seam_engine::RunId) -> Vec<seam_engine::RunId> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM seam.runs WHERE parent_run_id = $1 AND finished_at IS NULL ORDER BY id",
    )
    .bind(parent.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    ids.into_iter().map(seam_engine::RunId).collect()
}

/// Child runs of any parent that have not ended.
async fn unended_children(env: &Env) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM seam.runs WHERE parent_run_id IS NOT NULL AND finished_at IS NULL",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn children_fan_out_and_the_parent_joins_their_outputs() {
    let env = setup().await;
    let c = child();
    let p = parent(&c, ChildFailure::FailParent);
    let w = worker(&env.pool, &[&p, &c]);
    let id = env.client.start(&p, vec![1, 2, 3]).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "children": 3, "total": 12 })));
    let kids: Vec<(String, String)> =
        sqlx::query_as("SELECT status, parent_step FROM seam.runs WHERE parent_run_id = $1")
            .bind(id.0)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(kids.len(), 3);
    assert!(
        kids.iter()
            .all(|(s, step)| s == "completed" && step == "panels")
    );
    let kinds = event_kinds(&env, id).await;
    assert!(kinds.contains(&"children.started".to_string()));
    assert_eq!(kinds.iter().filter(|k| *k == "child.ended").count(), 3);
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_failed_child_fails_the_parent_by_default() {
    let env = setup().await;
    let c = child();
    let p = parent(&c, ChildFailure::FailParent);
    let w = worker(&env.pool, &[&p, &c]);
    let id = env.client.start(&p, vec![1, -1, 3]).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("child run"),
        "{:?}",
        run.error
    );
    // No child is left running.
    assert!(live_children(&env, id).await.is_empty());
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_step_may_tolerate_failed_children() {
    let env = setup().await;
    let c = child();
    let p = parent(&c, ChildFailure::Continue);
    let w = worker(&env.pool, &[&p, &c]);
    let id = env.client.start(&p, vec![5, -1]).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "children": 2, "total": 10 })));
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn no_children_means_the_step_completes_at_once() {
    let env = setup().await;
    let c = child();
    let p = parent(&c, ChildFailure::FailParent);
    let w = worker(&env.pool, &[&p, &c]);
    let id = env
        .client
        .start(&p, Vec::<i64>::new())
        .await
        .unwrap()
        .run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "children": 0, "total": 0 })));
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Regression (found by CI): a parent that fails because one child failed cancels its other
/// children while holding its own row; a sibling ending at that moment held its own row and
/// waited for the parent's to tell it, so the two transactions deadlocked and the sibling's
/// completion was lost until its lease expired. A child's end must never wait on its parent's
/// row lock. Here the test holds the parent's row with the engine's run lock, as a
/// compensating parent does, and the child must still end (its last transaction also queues
/// a job for the parent, whose foreign key takes a key-share lock on the parent's row); then
/// the test can lock the child, as the parent's cascade does.
#[tokio::test]
async fn a_child_ends_while_its_parent_holds_its_own_row() {
    let env = setup().await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let c = Workflow::builder("gated-child", 1)
        .step(Step::task("work", move |_ctx| {
            let g = g.clone();
            async move {
                g.acquire().await.expect("open").forget();
                Transition::complete("done")
            }
        }))
        .build()
        .unwrap();
    let cc = c.clone();
    let p = Workflow::builder("gated-parent", 1)
        .step(Step::children("kids", move |_ctx| {
            let cc = cc.clone();
            async move { Ok(vec![ChildSpec::new(&cc, 1)?]) }
        }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&p, &c]);
    let id = env.client.start(&p, json!(null)).await.unwrap().run_id;
    let parent = wait_for(&env, id, |r| r.status == RunStatus::Waiting).await;
    assert_eq!(parent.current_step.as_deref(), Some("kids"));
    let kid: uuid::Uuid = sqlx::query_scalar("SELECT id FROM seam.runs WHERE parent_run_id = $1")
        .bind(id.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let kid = seam_engine::RunId(kid);
    wait_for_job(&env, kid, seam_engine::JobState::Running).await;

    let mut hold = env.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM seam.runs WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id.0)
        .execute(&mut *hold)
        .await
        .unwrap();
    gate.add_permits(1);
    // Fails (after 10 s) if the child's final transaction waits for the parent's row.
    let ended = wait_for(&env, kid, |r| r.status.is_terminal()).await;
    assert_status(&ended, RunStatus::Completed);
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *hold)
        .await
        .unwrap();
    sqlx::query("SELECT 1 FROM seam.runs WHERE id = $1 FOR NO KEY UPDATE")
        .bind(kid.0)
        .execute(&mut *hold)
        .await
        .expect("the child's row is free once it ended");
    hold.commit().await.unwrap();

    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Regression (found by CI): many parents, each failed by one child while its siblings end
/// at the same moment. Every parent must fail, promptly, with no child left running and no
/// completion lost to a deadlock.
#[tokio::test]
async fn parents_failed_by_a_child_while_siblings_end_concurrently() {
    let env = setup().await;
    let c = child();
    let p = parent(&c, ChildFailure::FailParent);
    let w = worker_with(&env.pool, &[&p, &c], |b| b.concurrency(32));
    let mut ids = Vec::new();
    for i in 0..24 {
        let mut sizes: Vec<i64> = (1..=6).collect();
        sizes[i % 6] = -1;
        ids.push(env.client.start(&p, sizes).await.unwrap().run_id);
    }
    for id in ids {
        let run = settle(&env, id).await;
        assert_status(&run, RunStatus::Failed);
    }
    assert_eq!(unended_children(&env).await, 0);
    let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM seam.jobs WHERE state = 'running'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        leased, 0,
        "a completion was lost and its job is still leased"
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Regression: an operator cancelling parents (with and without compensation) while their
/// children end on their own. The cascade locks children while the children's own final
/// transactions tell the parent; neither may deadlock the other, so every cancel succeeds
/// and no child is left running.
#[tokio::test]
async fn cancelling_parents_while_their_children_end() {
    let env = setup().await;
    let c = Workflow::builder("jittery-child", 1)
        .step(Step::task("work", |ctx| async move {
            let ms: u64 = ctx.input()?;
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Transition::complete(ms)
        }))
        .build()
        .unwrap();
    let cc = c.clone();
    let p = Workflow::builder("jittery-parent", 1)
        .step(Step::children("kids", move |ctx| {
            let cc = cc.clone();
            async move {
                let n: u64 = ctx.input()?;
                (0..6)
                    .map(|i| ChildSpec::new(&cc, (n * 7 + i * 3) % 25))
                    .collect()
            }
        }))
        .build()
        .unwrap();
    let w = worker_with(&env.pool, &[&p, &c], |b| b.concurrency(32));
    let op = seam_engine::Operator::new(env.pool.clone(), "carol");
    let mut ids = Vec::new();
    for n in 0..16u64 {
        ids.push(env.client.start(&p, n).await.unwrap().run_id);
    }
    for id in &ids {
        wait_for(&env, *id, |r| {
            r.status == RunStatus::Waiting || r.status.is_terminal()
        })
        .await;
    }
    for (i, id) in ids.iter().enumerate() {
        match op.cancel(*id, i % 2 == 0, "test").await {
            Ok(_) => {}
            // All its children ended first and the parent completed: nothing to cancel.
            Err(seam_engine::EngineError::NotAllowed { .. }) => {}
            Err(e) => panic!("cancel of {id} failed: {e}"),
        }
    }
    for id in ids {
        let run = settle(&env, id).await;
        assert!(
            matches!(run.status, RunStatus::Cancelled | RunStatus::Completed),
            "{id} ended {}",
            run.status
        );
    }
    assert_eq!(unended_children(&env).await, 0);
    w.shutdown().await.unwrap();
    env.done().await;
}

/// A child that reserves something (undone by its compensation), then waits to be confirmed.
fn confirmable_child(log: &Log) -> Workflow {
    let l = log.clone();
    Workflow::builder("reserve-panel", 1)
        .step(
            Step::task(
                "reserve",
                |ctx| async move { Transition::next(ctx.run_id().0) },
            )
            .compensate(move |ctx| {
                let l = l.clone();
                async move {
                    l.push(format!("release {}", ctx.run_id().0));
                    Ok(())
                }
            }),
        )
        .step(Step::wait("confirm", "confirm"))
        .build()
        .unwrap()
}

fn batch_parent(child: &Workflow) -> Workflow {
    let c = child.clone();
    Workflow::builder("panel-batch", 1)
        .step(Step::children("kids", move |_ctx| {
            let c = c.clone();
            async move { Ok(vec![ChildSpec::new(&c, 1)?, ChildSpec::new(&c, 2)?]) }
        }))
        .step(Step::task("done", |ctx| async move {
            let v: serde_json::Value = ctx.input()?;
            Transition::complete(v)
        }))
        .build()
        .unwrap()
}

async fn children_waiting(env: &Env, parent: seam_engine::RunId) -> Vec<seam_engine::RunId> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let live = live_children(env, parent).await;
        let mut waiting = 0;
        for id in &live {
            if env.client.run(*id).await.unwrap().status == RunStatus::Waiting {
                waiting += 1;
            }
        }
        if live.len() == 2 && waiting == 2 {
            return live;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "children never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Rewinding a parent off a children step must not leave the old children working beside
/// the new iteration's: they are cancelled and their effects compensated.
#[tokio::test]
async fn rewinding_a_parent_cancels_the_children_it_leaves_behind() {
    let env = setup().await;
    let log = Log::default();
    let c = confirmable_child(&log);
    let p = batch_parent(&c);
    let w = worker(&env.pool, &[&p, &c]);
    let id = env.client.start(&p, ()).await.unwrap().run_id;
    let old = children_waiting(&env, id).await;
    let op = seam_engine::Operator::new(env.pool.clone(), "carol");
    op.rewind(id, "kids", "redo the batch").await.unwrap();
    for kid in &old {
        assert_status(&settle(&env, *kid).await, RunStatus::Cancelled);
    }
    let mut released = log.entries();
    released.sort();
    let mut expected: Vec<String> = old.iter().map(|k| format!("release {}", k.0)).collect();
    expected.sort();
    assert_eq!(
        released, expected,
        "each old child's reservation undone once"
    );
    let new = children_waiting(&env, id).await;
    assert!(new.iter().all(|k| !old.contains(k)));
    for kid in &new {
        env.client.signal(*kid, "confirm", "ok").await.unwrap();
    }
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    let ev = history(&env, id).await;
    let rewound = ev
        .iter()
        .find(|e| e.kind == "operator.rewind")
        .expect("rewind event");
    assert_eq!(
        rewound.data.as_ref().unwrap()["children_cancelled"],
        json!(2)
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

/// Skipping a children step moves the parent on and cancels the children still working.
#[tokio::test]
async fn skipping_a_children_step_cancels_its_children() {
    let env = setup().await;
    let log = Log::default();
    let c = confirmable_child(&log);
    let p = batch_parent(&c);
    let w = worker(&env.pool, &[&p, &c]);
    let id = env.client.start(&p, ()).await.unwrap().run_id;
    let kids = children_waiting(&env, id).await;
    let op = seam_engine::Operator::new(env.pool.clone(), "carol");
    op.skip(id, "kids", json!("by hand"), "panels cut elsewhere")
        .await
        .unwrap();
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!("by hand")));
    for kid in &kids {
        assert_status(&settle(&env, *kid).await, RunStatus::Cancelled);
    }
    assert_eq!(log.entries().len(), 2);
    assert!(live_children(&env, id).await.is_empty());
    w.shutdown().await.unwrap();
    env.done().await;
}
