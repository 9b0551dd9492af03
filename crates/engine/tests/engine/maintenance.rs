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
