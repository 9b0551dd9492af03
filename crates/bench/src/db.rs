//! The PostgreSQL server the benchmark runs on, and one fresh database per part on it, so
//! that no part sees another's rows. Everything created here is dropped by [`Server::close`].

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use seam_pgkit::{LocalDatabase, LocalOptions, local_database, redact};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use crate::cli::{PgMode, RunArgs};

/// The server, and the databases the benchmark made on it.
pub struct Server {
    /// A database to run `CREATE DATABASE` from.
    admin_url: String,
    local: Option<LocalDatabase>,
    /// A `--pg fresh` cluster's requested data directory, removed at the end.
    fresh_dir: Option<PathBuf>,
    created: Mutex<Vec<String>>,
    keep: bool,
}

/// One database of the benchmark.
#[derive(Debug, Clone)]
pub struct BenchDb {
    pub name: String,
    pub url: String,
}

impl BenchDb {
    /// A pool of up to `max` connections.
    pub async fn pool(&self, max: u32) -> anyhow::Result<PgPool> {
        let opts: PgConnectOptions = self.url.parse()?;
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(opts.disable_statement_logging())
            .await
            .with_context(|| format!("connecting to {}", redact(&self.url)))
    }
}

impl Server {
    /// `--pg fresh`: a throwaway cluster; `auto`: the URL, else the local cluster.
    pub async fn open(args: &RunArgs) -> anyhow::Result<Server> {
        let (opts, fresh_dir) = match args.pg {
            PgMode::Fresh => {
                let dir =
                    std::env::temp_dir().join(format!("seam-bench-pg-{}", std::process::id()));
                let opts = LocalOptions {
                    database_url: None,
                    data_dir: dir.clone(),
                    port: None,
                };
                (opts, Some(dir))
            }
            PgMode::Auto => (
                LocalOptions {
                    database_url: args.database_url.clone().filter(|u| !u.trim().is_empty()),
                    ..LocalOptions::default()
                },
                None,
            ),
        };
        let local = local_database(&opts).await?;
        let admin_url = local.url().to_string();
        if split_url(&admin_url).is_none() {
            bail!("the database URL must look like postgres://user@host:port/db");
        }
        Ok(Server {
            admin_url,
            local: Some(local),
            fresh_dir,
            created: Mutex::default(),
            keep: args.keep_databases,
        })
    }

    /// The server URL, password hidden.
    pub fn describe(&self) -> String {
        redact(&self.admin_url)
    }

    async fn admin(&self) -> anyhow::Result<PgConnection> {
        let opts: PgConnectOptions = self.admin_url.parse()?;
        Ok(PgConnection::connect_with(&opts.disable_statement_logging()).await?)
    }

    /// Version and the settings that decide commit cost, for the report.
    pub async fn settings(&self) -> anyhow::Result<String> {
        let mut conn = self.admin().await?;
        let mut parts = Vec::new();
        for name in [
            "server_version",
            "fsync",
            "synchronous_commit",
            "shared_buffers",
            "max_connections",
        ] {
            let v: String = sqlx::query_scalar("SELECT current_setting($1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
            parts.push(format!("{name}={v}"));
        }
        let _ = conn.close().await;
        Ok(parts.join(" "))
    }

    /// A new, empty database named `seam_bench_<pid>_<label>`.
    pub async fn create(&self, label: &str) -> anyhow::Result<BenchDb> {
        self.create_from(label, None).await
    }

    /// A new database copied from `template` (which nobody may be connected to).
    pub async fn copy(&self, label: &str, template: &BenchDb) -> anyhow::Result<BenchDb> {
        self.create_from(label, Some(&template.name)).await
    }

    async fn create_from(&self, label: &str, template: Option<&str>) -> anyhow::Result<BenchDb> {
        let name = format!("seam_bench_{}_{label}", std::process::id());
        let mut conn = self.admin().await?;
        let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::query(AssertSqlSafe(drop)).execute(&mut conn).await?;
        let create = match template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        sqlx::query(AssertSqlSafe(create))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name} (the role needs CREATEDB)"))?;
        let _ = conn.close().await;
        self.created.lock().expect("poisoned").push(name.clone());
        let url = with_database(&self.admin_url, &name);
        Ok(BenchDb { name, url })
    }

    /// Drops a database now (ending its sessions).
    pub async fn drop_db(&self, db: &BenchDb) -> anyhow::Result<()> {
        if self.keep {
            return Ok(());
        }
        let mut conn = self.admin().await?;
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name);
        sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await?;
        let _ = conn.close().await;
        self.created
            .lock()
            .expect("poisoned")
            .retain(|n| n != &db.name);
        Ok(())
    }

    /// Drops every database made here (unless `--keep-databases`) and stops and removes a
    /// `--pg fresh` cluster.
    pub async fn close(mut self) {
        let names: Vec<String> = std::mem::take(&mut *self.created.lock().expect("poisoned"));
        if !self.keep && !names.is_empty() {
            match self.admin().await {
                Ok(mut conn) => {
                    for name in names {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await {
                            eprintln!("warning: could not drop database {name}: {e}");
                        }
                    }
                    let _ = conn.close().await;
                }
                Err(e) => eprintln!("warning: could not drop the benchmark databases: {e}"),
            }
        }
        let Some(local) = self.local.take() else {
            return;
        };
        let real_dir = local.data_dir().map(PathBuf::from);
        if let Err(e) = local.stop().await {
            eprintln!("warning: could not stop PostgreSQL: {e}");
        }
        if let Some(dir) = self.fresh_dir.take() {
            for d in [Some(dir.clone()), real_dir].into_iter().flatten() {
                let _ = std::fs::remove_dir_all(&d);
            }
            let _ = std::fs::remove_file(dir.with_extension("lock"));
        }
    }
}

/// `(before the path, the query string with its '?')` of a `postgres://` URL.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme_len = url.len() - rest.len();
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let head = &url[..scheme_len + authority_end];
    let tail = &rest[authority_end..];
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Some((head, query))
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    match split_url(url) {
        Some((head, query)) => format!("{head}/{name}{query}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_keeps_everything_but_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/seam?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(
            with_database("postgres://h/?host=/tmp", "x"),
            "postgres://h/x?host=/tmp"
        );
    }
}
