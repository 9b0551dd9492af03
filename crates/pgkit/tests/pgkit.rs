//! Integration tests for `redact` and `TestDb`, against a real PostgreSQL
//! (`DATABASE_URL`, or the shared local test cluster).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use seam_pgkit::{PgkitError, TestDb, redact};
use sqlx::PgPool;

/// A template name no other run uses.
fn unique_template(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "seam_tpl_{label}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

async fn database_exists(pool: &PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[test]
fn redact_hides_the_password_and_keeps_the_rest() {
    assert_eq!(
        redact("postgres://seam:hunter2@db.internal:6543/seam?sslmode=require"),
        "postgres://seam:***@db.internal:6543/seam?sslmode=require"
    );
    assert_eq!(
        redact("postgres://seam@127.0.0.1/seam"),
        "postgres://seam@127.0.0.1/seam"
    );
    assert!(!redact("postgres://u:hunter2@h/db?password=hunter2").contains("hunter2"));
}

#[tokio::test]
async fn test_db_is_usable_and_dropped() {
    let db = TestDb::new().await.unwrap();
    assert!(db.name().starts_with("seam_test_"));
    assert!(db.url().contains(db.name()));
    let pool = db.pool().await;
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(current, db.name());

    // Watch from another database on the same server.
    let observer = TestDb::new().await.unwrap();
    let observer_pool = observer.pool().await;
    assert!(database_exists(&observer_pool, db.name()).await);

    // drop_database must work even while the pool still holds connections.
    let name = db.name().to_string();
    db.drop_database().await;
    assert!(!database_exists(&observer_pool, &name).await);
    pool.close().await;

    observer_pool.close().await;
    observer.drop_database().await;
}

#[tokio::test]
async fn template_is_initialised_once() {
    let template = unique_template("once");
    let runs = Arc::new(AtomicUsize::new(0));
    let init = |runs: Arc<AtomicUsize>| {
        move |url: String| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let pool = PgPool::connect(&url).await.map_err(|e| e.to_string())?;
            sqlx::query("CREATE TABLE marker (id int PRIMARY KEY, note text NOT NULL)")
                .execute(&pool)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query("INSERT INTO marker VALUES (1, 'from template')")
                .execute(&pool)
                .await
                .map_err(|e| e.to_string())?;
            pool.close().await;
            Ok(())
        }
    };

    // Two at once, to exercise the advisory lock.
    let (a, b) = tokio::join!(
        TestDb::from_template(&template, init(runs.clone())),
        TestDb::from_template(&template, init(runs.clone())),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let c = TestDb::from_template(&template, init(runs.clone()))
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "init must run exactly once");

    let names: Vec<String> = vec![a.name().into(), b.name().into(), c.name().into()];
    assert_eq!(
        names.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    for db in [&a, &b, &c] {
        let pool = db.pool().await;
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM marker WHERE note = 'from template'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(rows, 1, "{} has the template's table", db.name());
        pool.close().await;
    }

    // Test databases are independent copies.
    let pool = a.pool().await;
    sqlx::query("INSERT INTO marker VALUES (2, 'only in a')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let pool = b.pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM marker")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    pool.close().await;

    for db in [a, b, c] {
        db.drop_database().await;
    }
    TestDb::drop_template(&template).await.unwrap();
}

#[tokio::test]
async fn failed_template_init_is_reported_and_retried() {
    let template = unique_template("fail");
    let err = TestDb::from_template(&template, |_url| async { Err("boom".to_string()) })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PgkitError::TemplateInit { message, .. } if message == "boom"),
        "{err}"
    );

    let db = TestDb::from_template(&template, |url| async move {
        let pool = PgPool::connect(&url).await.map_err(|e| e.to_string())?;
        sqlx::query("CREATE TABLE second_try (x int)")
            .execute(&pool)
            .await
            .map_err(|e| e.to_string())?;
        // Deliberately not closing the pool: leftover sessions must not break the copy.
        std::mem::forget(pool);
        Ok(())
    })
    .await
    .unwrap();
    let pool = db.pool().await;
    sqlx::query("SELECT x FROM second_try")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    db.drop_database().await;
    TestDb::drop_template(&template).await.unwrap();
}

#[tokio::test]
async fn long_template_names_are_refused() {
    let err = TestDb::from_template(&"x".repeat(64), |_| async { Ok(()) })
        .await
        .unwrap_err();
    assert!(matches!(err, PgkitError::InvalidName { .. }), "{err}");
}
