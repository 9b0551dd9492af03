//! Failure mode reported by other engines' users: the database restarts while the engine is
//! recovering work from a crashed worker, and runs stay pending forever. Seam's workers and
//! rescuer reconnect by themselves and finish every run.
//!
//! This test owns a PostgreSQL cluster (started from the installed binaries by seam-pgkit)
//! so it can restart it.

use std::time::Duration;

use seam_engine::{Client, RunStatus, Step, Transition, Worker, Workflow};
use seam_pgkit::{LocalOptions, local_database};

fn workflow() -> Workflow {
    Workflow::builder("recovering", 1)
        .step(Step::task("first", |ctx| async move {
            if ctx.attempt() == 1 {
                std::future::pending::<()>().await; // its worker dies here
            }
            Transition::next(())
        }))
        .step(Step::task("second", |_| async { Transition::next(()) }))
        .step(Step::task("third", |_| async {
            Transition::complete("done")
        }))
        .build()
        .unwrap()
}

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or(-1)
}

#[tokio::test]
async fn a_postgres_restart_during_recovery_leaves_no_run_pending() {
    let dir = std::env::temp_dir().join(format!("seam-restart-test-{}", std::process::id()));
    let opts = LocalOptions {
        database_url: None,
        data_dir: dir.clone(),
        port: None,
    };
    let db = local_database(&opts).await.expect("own PostgreSQL");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(3))
        .connect(db.url())
        .await
        .unwrap();
    seam_engine::migrate(&pool).await.unwrap();
    let wf = workflow();
    let client = Client::new(pool.clone());
    let lease = Duration::from_millis(800);

    let crashing = Worker::builder(pool.clone())
        .workflow(&wf)
        .concurrency(32)
        .lease(lease)
        .maintenance(false)
        .build()
        .unwrap()
        .start();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(client.start(&wf, ()).await.unwrap().run_id);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count(
        &pool,
        "SELECT count(*) FROM seam.jobs WHERE state = 'running'",
    )
    .await
        < 20
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs were not all claimed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crashing.kill().await;

    // Recovery starts: a worker whose rescuer takes the expired leases back...
    let recovering = Worker::builder(pool.clone())
        .workflow(&wf)
        .lease(lease)
        .poll_interval(Duration::from_millis(100))
        .rescue_interval(Duration::from_millis(300))
        .build()
        .unwrap()
        .start();
    tokio::time::sleep(lease).await;
    // ...and the database restarts under it.
    db.stop().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db = local_database(&opts).await.expect("PostgreSQL again");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = count(
            &pool,
            "SELECT count(*) FROM seam.runs WHERE status = 'completed'",
        )
        .await;
        if done == 20 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done} of 20 runs completed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in ids {
        let run = client.run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
    }
    let leased = count(&pool, "SELECT count(*) FROM seam.jobs").await;
    assert_eq!(leased, 0, "no job left behind");
    recovering.shutdown().await.unwrap();
    pool.close().await;
    db.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
