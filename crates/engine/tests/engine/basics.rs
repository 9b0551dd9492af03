//! Happy path, typed data flow, idempotent and transactional starts, version pinning.

use std::time::Duration;

use seam_engine::{JobKind, RunStatus, StartOptions, Step, Transition, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common::*;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    sku: String,
    qty: u32,
}

fn order_workflow() -> Workflow {
    Workflow::builder("order", 1)
        .step(Step::task("reserve", |ctx| async move {
            let order: Order = ctx.input()?;
            Transition::next(json!({ "reserved": order.qty }))
        }))
        .step(Step::task("price", |ctx| async move {
            let order: Order = ctx.run_input()?;
            let reserved: serde_json::Value = ctx.output("reserve")?;
            assert_eq!(
                reserved["reserved"], order.qty,
                "typed run input and earlier output"
            );
            Transition::next(order.qty * 10)
        }))
        .step(Step::task("confirm", |ctx| async move {
            let total: u64 = ctx.input()?;
            let order: Order = ctx.run_input()?;
            Transition::next(json!({ "sku": order.sku, "total": total }))
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn happy_path_runs_every_step_in_order_and_completes() {
    let env = setup().await;
    let wf = order_workflow();
    let w = worker(&env.pool, &[&wf]);
    let started = env
        .client
        .start(
            &wf,
            Order {
                sku: "tee".into(),
                qty: 3,
            },
        )
        .await
        .unwrap();
    assert!(started.created);
    let run = settle(&env, started.run_id).await;
    assert_status(&run, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "sku": "tee", "total": 30 })));
    assert_eq!(run.outputs["reserve"], json!({ "reserved": 3 }));
    assert!(run.finished_at.is_some());
    let trail = exec_trail(&env, run.id, JobKind::Step).await;
    let expected: Vec<(String, String)> = ["reserve", "price", "confirm"]
        .iter()
        .map(|s| (s.to_string(), "completed".to_string()))
        .collect();
    assert_eq!(trail, expected);
    let kinds = event_kinds(&env, run.id).await;
    assert_eq!(kinds.first().map(String::as_str), Some("run.started"));
    assert_eq!(kinds.last().map(String::as_str), Some("run.completed"));
    assert_eq!(kinds.iter().filter(|k| *k == "step.completed").count(), 3);
    assert!(
        job_rows(&env, run.id).await.is_empty(),
        "no job left behind"
    );
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn a_step_reading_a_missing_output_fails_with_a_clear_error() {
    let env = setup().await;
    let wf = Workflow::builder("bad-read", 1)
        .step(Step::task("only", |ctx| async move {
            let _: u32 = ctx.output("nope")?;
            Transition::next(())
        }))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&wf]);
    let id = env.client.start(&wf, ()).await.unwrap().run_id;
    let run = settle(&env, id).await;
    assert_status(&run, RunStatus::Failed);
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("step 'nope' has no output"),
        "{:?}",
        run.error
    );
    // A decode failure is fatal: exactly one attempt.
    assert_eq!(exec_trail(&env, id, JobKind::Step).await.len(), 1);
    w.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn idempotent_start_returns_the_same_run() {
    let env = setup().await;
    let wf = order_workflow();
    let input = Order {
        sku: "cap".into(),
        qty: 1,
    };
    let a = env
        .client
        .start_with(&wf, &input, StartOptions::idempotency_key("order-42"))
        .await
        .unwrap();
    let b = env
        .client
        .start_with(&wf, &input, StartOptions::idempotency_key("order-42"))
        .await
        .unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.run_id, b.run_id);
    let c = env
        .client
        .start_with(&wf, &input, StartOptions::idempotency_key("order-43"))
        .await
        .unwrap();
    assert_ne!(a.run_id, c.run_id);
    let err = env
        .client
        .start_with(&wf, &input, StartOptions::idempotency_key(""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must not be empty"));
    env.done().await;
}

#[tokio::test]
async fn concurrent_starts_with_one_key_make_one_run() {
    let env = setup().await;
    let wf = order_workflow();
    let starts = (0..12).map(|_| {
        let client = env.client.clone();
        let wf = wf.clone();
        tokio::spawn(async move {
            client
                .start_with(
                    &wf,
                    json!({"sku": "x", "qty": 1}),
                    StartOptions::idempotency_key("same"),
                )
                .await
                .unwrap()
        })
    });
    let results: Vec<_> = futures::future::join_all(starts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = results.iter().filter(|s| s.created).count();
    assert_eq!(created, 1, "exactly one start creates the run");
    assert!(results.iter().all(|s| s.run_id == results[0].run_id));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM seam.runs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM seam.jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "one first-step job, not one per start");
    env.done().await;
}

#[tokio::test]
async fn start_inside_a_rolled_back_transaction_leaves_no_run() {
    let env = setup().await;
    let wf = order_workflow();
    sqlx::query("CREATE TABLE orders (id int PRIMARY KEY)")
        .execute(&env.pool)
        .await
        .unwrap();

    let mut tx = env.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO orders VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let gone = env
        .client
        .start_in_tx(
            &mut tx,
            &wf,
            json!({"sku": "a", "qty": 1}),
            StartOptions::default(),
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        env.client.run(gone.run_id).await.is_err(),
        "run must not exist"
    );

    let mut tx = env.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO orders VALUES (2)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let kept = env
        .client
        .start_in_tx(
            &mut tx,
            &wf,
            json!({"sku": "b", "qty": 2}),
            StartOptions::default(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let orders: Vec<i32> = sqlx::query_scalar("SELECT id FROM orders ORDER BY id")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(orders, vec![2]);
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM seam.runs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(runs, 1);
    let w = worker(&env.pool, &[&wf]);
    assert_status(&settle(&env, kept.run_id).await, RunStatus::Completed);
    w.shutdown().await.unwrap();
    env.done().await;
}

fn versioned(version: i32, tag: &'static str) -> Workflow {
    Workflow::builder("pinned", version)
        .step(Step::task(
            "only",
            move |_| async move { Transition::next(tag) },
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_run_is_only_claimed_by_a_worker_with_its_version() {
    let env = setup().await;
    let v1 = versioned(1, "v1");
    let v2 = versioned(2, "v2");
    let run = env.client.start(&v1, ()).await.unwrap().run_id;
    let w2 = worker(&env.pool, &[&v2]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let still = env.client.run(run).await.unwrap();
    assert_status(&still, RunStatus::Pending);
    let w1 = worker(&env.pool, &[&v1]);
    let done = settle(&env, run).await;
    assert_status(&done, RunStatus::Completed);
    assert_eq!(done.output, Some(json!("v1")), "the v1 handler ran it");
    let v2_run = env.client.start(&v2, ()).await.unwrap().run_id;
    assert_eq!(settle(&env, v2_run).await.output, Some(json!("v2")));
    w1.shutdown().await.unwrap();
    w2.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn workers_register_their_queues_versions_and_definitions() {
    let env = setup().await;
    let wf = order_workflow();
    let w = worker(&env.pool, &[&wf]);
    let id = w.id();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (queues, pins): (Vec<String>, Vec<String>) =
        sqlx::query_as("SELECT queues, pins FROM seam.workers WHERE id = $1")
            .bind(id.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(queues, vec!["default".to_string()]);
    assert_eq!(pins, vec!["order@1".to_string()]);
    let steps: serde_json::Value =
        sqlx::query_scalar("SELECT steps FROM seam.definitions WHERE workflow = 'order'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(steps.as_array().unwrap().len(), 3);
    w.shutdown().await.unwrap();
    let stopped: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT stopped_at FROM seam.workers WHERE id = $1")
            .bind(id.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(stopped.is_some(), "a clean stop is recorded");
    env.done().await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_detects_an_edited_migration() {
    let env = setup().await;
    assert!(
        seam_engine::migrate(&env.pool).await.unwrap().is_empty(),
        "already applied"
    );
    sqlx::query("UPDATE seam.schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&env.pool)
        .await
        .unwrap();
    let err = seam_engine::migrate(&env.pool).await.unwrap_err();
    assert!(err.to_string().contains("was changed after"), "{err}");
    env.done().await;
}
