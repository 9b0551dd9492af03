//! Children steps: fan-out, join, and child failure.

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
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seam.runs WHERE parent_run_id = $1 AND finished_at IS NULL",
    )
    .bind(id.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(live, 0);
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
