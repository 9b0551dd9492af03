//! `local_database` with its own cluster in a temporary data directory.
//!
//! One test function doing everything in sequence: it starts and stops servers, so it
//! lives in its own test binary. Options are built explicitly (no environment changes).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use seam_pgkit::{LocalDatabase, LocalOptions, PgkitError, local_database};
use sqlx::{Connection, PgConnection};

fn scratch_dir(label: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("seam-pgkit-{label}-{}-{nanos}", std::process::id()))
}

fn options(data_dir: &Path) -> LocalOptions {
    LocalOptions {
        database_url: None,
        data_dir: data_dir.to_path_buf(),
        port: None,
    }
}

async fn current_database(url: &str) -> Result<String, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let name = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(name)
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Starts a cluster, reuses it, stops it, restarts it; returns the last (started) handle.
async fn exercise(data_dir: &Path) -> LocalDatabase {
    let first = local_database(&options(data_dir)).await.unwrap();
    assert!(first.started(), "a new cluster is started");
    assert_eq!(current_database(first.url()).await.unwrap(), "seam");

    let second = local_database(&options(data_dir)).await.unwrap();
    assert!(!second.started(), "a running cluster is reused");
    assert_eq!(second.url(), first.url());
    second.stop().await.unwrap(); // did not start it: must not stop it
    assert_eq!(current_database(first.url()).await.unwrap(), "seam");

    let url = first.url().to_string();
    first.stop().await.unwrap();
    assert!(current_database(&url).await.is_err(), "server is stopped");

    let third = local_database(&options(data_dir)).await.unwrap();
    assert!(third.started(), "a stopped cluster is started again");
    assert_eq!(third.url(), url, "on the port it had before");
    assert_eq!(current_database(third.url()).await.unwrap(), "seam");
    third
}

#[tokio::test]
async fn local_database_lifecycle() {
    // An unreachable DATABASE_URL is an error naming the URL, without its password.
    let bad = LocalOptions {
        database_url: Some("postgres://seam:hunter2@127.0.0.1:1/seam".into()),
        ..options(Path::new("unused"))
    };
    let err = local_database(&bad).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, PgkitError::Unreachable { .. }), "{message}");
    assert!(
        message.contains("postgres://seam:***@127.0.0.1:1/seam"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let scratch = scratch_dir("local");
    let data_dir = scratch.join("pg");
    let db = match local_database(&options(&data_dir)).await {
        Err(PgkitError::NoBinaries { .. }) if std::env::var_os("DATABASE_URL").is_some() => {
            eprintln!("skipping: no PostgreSQL server binaries here (DATABASE_URL is set)");
            return;
        }
        other => other.unwrap(),
    };
    db.stop().await.unwrap();
    let db = exercise(&data_dir).await;
    assert_eq!(db.data_dir(), Some(data_dir.as_path()));
    db.stop().await.unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();

    if is_root() {
        // A directory the PostgreSQL user cannot enter: the cluster goes under /tmp and a
        // pointer file leads the next call to it.
        let private = scratch_dir("private");
        std::fs::create_dir_all(&private).unwrap();
        let status = std::process::Command::new("chmod")
            .arg("700")
            .arg(&private)
            .status()
            .unwrap();
        assert!(status.success());
        let data_dir = private.join("pg");
        let db = exercise(&data_dir).await;
        let real = db.data_dir().unwrap().to_path_buf();
        assert!(
            real.to_string_lossy().starts_with("/tmp/seam-pg-"),
            "{}",
            real.display()
        );
        assert!(data_dir.join("seam-cluster-location").is_file());
        db.stop().await.unwrap();
        std::fs::remove_dir_all(&private).unwrap();
        std::fs::remove_dir_all(&real).unwrap();
    }
}
