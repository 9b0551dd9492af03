//! The retention cleaner.

use chrono::Utc;
use seam_engine::maintenance::{Cleaner, CleanerConfig};
use seam_engine::{RunStatus, Step, Transition, Workflow};

use crate::common::*;

/// Failure mode: history tables grow forever. Finished runs are pruned after the retention
/// age, with their executions, signals and history; live runs are kept whatever their age.
#[tokio::test]
async fn finished_runs_are_pruned_after_the_retention_age() {
    let env = setup().await;
    let done = Workflow::builder("done", 1)
        .step(Step::task("x", |_| async { Transition::next(()) }))
        .build()
        .unwrap();
    let waits = Workflow::builder("waits", 1)
        .step(Step::wait("w", "never"))
        .build()
        .unwrap();
    let w = worker(&env.pool, &[&done, &waits]);
    let finished = env.client.start(&done, ()).await.unwrap().run_id;
    let live = env.client.start(&waits, ()).await.unwrap().run_id;
    assert_status(&settle(&env, finished).await, RunStatus::Completed);
    wait_for(&env, live, |r| r.status == RunStatus::Waiting).await;
    w.shutdown().await.unwrap();

    let cleaner = Cleaner::new(
        env.pool.clone(),
        CleanerConfig {
            retention: std::time::Duration::from_secs(3600),
            batch: 1,
            ..CleanerConfig::default()
        },
    );
    let now = cleaner.run_once(Utc::now()).await.unwrap();
    assert_eq!(now.runs_deleted, 0, "younger than the retention age");
    let later = cleaner
        .run_once(Utc::now() + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(later.runs_deleted, 1);
    assert!(env.client.run(finished).await.is_err());
    assert!(
        env.client.run(live).await.is_ok(),
        "live runs are never pruned"
    );
    for table in ["step_executions", "events", "jobs"] {
        let sql = format!("SELECT count(*) FROM seam.{table} WHERE run_id = $1");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(finished.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} rows of the pruned run remain");
    }
    env.done().await;
}

/// Inserts `n` runs that completed three hours ago.
async fn old_finished_runs(env: &Env, n: i64) -> Vec<uuid::Uuid> {
    sqlx::query_scalar(
        "INSERT INTO seam.runs (id, workflow, version, status, input, created_by, finished_at)
         SELECT gen_random_uuid(), 'done', 1, 'completed', 'null', 'test',
                now() - interval '3 hours'
         FROM generate_series(1, $1)
         RETURNING id",
    )
    .bind(n)
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

fn cleaner(env: &Env, batch: i64) -> Cleaner {
    Cleaner::new(
        env.pool.clone(),
        CleanerConfig {
            retention: std::time::Duration::from_secs(3600),
            batch,
            ..CleanerConfig::default()
        },
    )
}

/// Every worker runs a cleaner. One must not wait for a finished run another transaction
/// holds (an operator rewinding it, another cleaner deleting it): it skips it this pass.
#[tokio::test]
async fn the_cleaner_skips_runs_another_transaction_holds() {
    let env = setup().await;
    let ids = old_finished_runs(&env, 5).await;
    let mut hold = env.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM seam.runs WHERE id = $1 FOR NO KEY UPDATE")
        .bind(ids[0])
        .execute(&mut *hold)
        .await
        .unwrap();
    let pass = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        cleaner(&env, 100).run_once(Utc::now()),
    )
    .await
    .expect("the cleaner waited for a locked run")
    .unwrap();
    assert_eq!(pass.runs_deleted, 4);
    hold.commit().await.unwrap();
    assert_eq!(
        cleaner(&env, 100)
            .run_once(Utc::now())
            .await
            .unwrap()
            .runs_deleted,
        1,
        "the skipped run goes on the next pass"
    );
    env.done().await;
}

/// Cleaners of several workers pruning the same backlog at once all succeed, and together
/// delete every run exactly once.
#[tokio::test]
async fn concurrent_cleaners_share_the_backlog() {
    let env = setup().await;
    old_finished_runs(&env, 600).await;
    let passes = futures::future::join_all((0..4).map(|_| {
        let c = cleaner(&env, 25);
        async move { c.run_once(Utc::now()).await }
    }))
    .await;
    let mut deleted = 0;
    for p in passes {
        deleted += p.expect("a cleaner pass failed").runs_deleted;
    }
    assert_eq!(deleted, 600);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM seam.runs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    env.done().await;
}
