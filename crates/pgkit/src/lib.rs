//! Find or start a local PostgreSQL for Seam, and make throwaway databases for tests.
//!
//! Two entry points:
//!
//! * [`local_database`] — "the local default" database used by examples and `seam dev`:
//!   `DATABASE_URL` if it is set (it must be reachable; nothing is started in its place),
//!   otherwise a PostgreSQL cluster in `./.seam/pg` that is created (`initdb`) and started
//!   (`pg_ctl`) on demand, listening on 127.0.0.1 only, with a database named `seam`.
//! * [`TestDb`] — a fresh database per integration test, on `DATABASE_URL` or on a cluster
//!   shared by all test binaries in `<cargo target dir>/seam-test-pg`, optionally copied
//!   from a template database that holds your migrations ([`TestDb::from_template`]).
//!
//! # Quick start
//!
//! ```no_run
//! use seam_pgkit::{LocalOptions, TestDb, local_database, redact};
//!
//! # async fn example() -> Result<(), seam_pgkit::PgkitError> {
//! // An application or example: DATABASE_URL, or a local cluster in ./.seam/pg.
//! let db = local_database(&LocalOptions::default()).await?;
//! println!("database: {}", redact(db.url()));
//! let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
//! pool.close().await;
//! db.stop().await?; // stops the server only if this call started it
//!
//! // A test: its own database, dropped at the end.
//! let test_db = TestDb::new().await?;
//! let pool = test_db.pool().await;
//! sqlx::query("SELECT 1").execute(&pool).await.expect("query");
//! pool.close().await;
//! test_db.drop_database().await;
//! # Ok(()) }
//! ```
//!
//! # Finding PostgreSQL
//!
//! The server programs come from `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin`, else `PATH`. Without them, [`PgkitError::NoBinaries`]
//! explains how to install PostgreSQL or point `DATABASE_URL` at a server.
//!
//! # Running as root
//!
//! PostgreSQL refuses to run as root. When the effective uid is 0, `initdb` and `pg_ctl`
//! run through `runuser -u postgres --` (or `su`), as user `nobody` if there is no
//! `postgres` user, and the cluster directory is given to that user (`chown -R`). If that
//! user cannot enter the data directory's parent (e.g. it is under `/root`), the cluster is
//! placed in `/tmp/seam-pg-<hash of the data directory>` instead, and a file named
//! `seam-cluster-location` in the requested directory points there for the next call.
//!
//! Clusters use trust authentication for the superuser `postgres` and only listen on
//! 127.0.0.1 (plus a unix socket inside the cluster directory): they are for development
//! and tests, not for production.

#![warn(missing_docs)]

mod binaries;
mod cluster;
mod error;
mod local;
mod lock;
mod privilege;
mod sql;
mod template;
mod test_server;
mod testdb;
mod url;

pub use error::PgkitError;
pub use local::{DEFAULT_DATABASE, LocalDatabase, LocalOptions, local_database};
pub use testdb::TestDb;
pub use url::{redact, with_database};
