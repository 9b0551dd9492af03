//! One PostgreSQL cluster (data directory): where it lives, `initdb`, `pg_ctl start/stop`.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::PgkitError;
use crate::binaries::PgBinaries;
use crate::privilege::{RunAs, run, shell_quote, tail};

/// File in a requested data directory that points at the real cluster elsewhere.
pub(crate) const POINTER_FILE: &str = "seam-cluster-location";

/// File in the cluster directory that remembers the port it was last started on.
const PORT_FILE: &str = "seam.port";

/// The server log, inside the cluster directory.
const LOG_FILE: &str = "server.log";

/// The superuser `initdb` creates; trust authentication, local connections only.
pub(crate) const SUPERUSER: &str = "postgres";

/// Longest path the kernel accepts for a unix socket (`sun_path` is 108 bytes, minus NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A cluster directory plus the means to run PostgreSQL on it.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    dir: PathBuf,
    bins: PgBinaries,
    run_as: RunAs,
}

impl Cluster {
    /// Works out where the cluster for the requested (absolute) `data_dir` lives.
    ///
    /// Normally that is `data_dir` itself. When running as root and the PostgreSQL user
    /// cannot reach `data_dir` (e.g. it is under `/root`), the cluster goes to
    /// `/tmp/seam-pg-<hash>` and `data_dir/seam-cluster-location` records that path.
    pub(crate) async fn locate(
        data_dir: &Path,
        bins: PgBinaries,
        run_as: RunAs,
    ) -> Result<Self, PgkitError> {
        let pointer = data_dir.join(POINTER_FILE);
        let dir = if pointer.is_file() {
            let text = std::fs::read_to_string(&pointer)
                .map_err(|e| PgkitError::io(format!("reading {}", pointer.display()), e))?;
            let target = PathBuf::from(text.trim());
            tracing::info!(from = %data_dir.display(), to = %target.display(), "following cluster pointer");
            target
        } else {
            create_dir(data_dir)?;
            let parent = data_dir.parent().unwrap_or(Path::new("/"));
            if run_as.can_enter(parent).await {
                data_dir.to_path_buf()
            } else {
                let target = PathBuf::from(format!("/tmp/seam-pg-{:016x}", fnv1a(data_dir)));
                tracing::info!(
                    user = run_as.user().unwrap_or_default(),
                    unreachable = %parent.display(),
                    cluster = %target.display(),
                    "the PostgreSQL user cannot enter the data directory's parent; \
                     placing the cluster under /tmp and leaving a pointer file"
                );
                std::fs::write(&pointer, format!("{}\n", target.display()))
                    .map_err(|e| PgkitError::io(format!("writing {}", pointer.display()), e))?;
                target
            }
        };
        create_dir(&dir)?;
        Ok(Cluster { dir, bins, run_as })
    }

    /// The cluster directory (`PGDATA`).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process id and port from `postmaster.pid`, if a server seems to be running here.
    pub(crate) fn pid_file(&self) -> Option<(u32, u16)> {
        let text = std::fs::read_to_string(self.dir.join("postmaster.pid")).ok()?;
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let port = lines.nth(2)?.trim().parse().ok()?;
        Some((pid, port))
    }

    /// Removes `postmaster.pid` when its process is a zombie (dead, not yet reaped).
    ///
    /// `pg_ctl` and `postgres` take a zombie for a live server and would refuse to start;
    /// this happens in containers whose init reaps slowly (or never). Returns true if the
    /// file was removed.
    pub(crate) fn remove_zombie_pid_file(&self) -> bool {
        let Some((pid, port)) = self.pid_file() else {
            return false;
        };
        if !is_zombie(pid) {
            return false;
        }
        tracing::info!(pid, "removing lock files left by a dead server");
        // The unix socket's lock file names the same dead process.
        for name in [format!(".s.PGSQL.{port}.lock"), format!(".s.PGSQL.{port}")] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        std::fs::remove_file(self.dir.join("postmaster.pid")).is_ok()
    }

    /// True if `pg_ctl status` says a server is running on this cluster.
    pub(crate) async fn is_running(&self) -> bool {
        let cmd = self.pg_ctl(&["status".into()]);
        run(cmd).await.is_ok()
    }

    /// Runs `initdb` unless the directory already holds a cluster.
    pub(crate) async fn ensure_initialized(&self) -> Result<(), PgkitError> {
        if self.dir.join("PG_VERSION").is_file() {
            return Ok(());
        }
        let non_empty = std::fs::read_dir(&self.dir)
            .map_err(|e| PgkitError::io(format!("reading {}", self.dir.display()), e))?
            .next()
            .is_some();
        if non_empty {
            return Err(PgkitError::NotACluster {
                path: self.dir.display().to_string(),
            });
        }
        self.run_as.chown(&self.dir).await?;
        tracing::info!(dir = %self.dir.display(), "initdb: creating PostgreSQL cluster");
        let args: Vec<OsString> = vec![
            "-D".into(),
            self.dir.clone().into(),
            "-U".into(),
            SUPERUSER.into(),
            "--auth=trust".into(),
            "--encoding=UTF8".into(),
            "--no-locale".into(),
        ];
        let cmd = self
            .run_as
            .command(self.bins.program("initdb").as_os_str(), &args);
        run(cmd).await.map(drop)
    }

    /// The port to start on: `requested`, else the remembered one if still free (and
    /// `reuse` is true), else a fresh free one (which is then remembered).
    pub(crate) fn choose_port(
        &self,
        requested: Option<u16>,
        reuse: bool,
    ) -> Result<u16, PgkitError> {
        if let Some(port) = requested {
            return Ok(port);
        }
        let file = self.dir.join(PORT_FILE);
        let remembered = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse::<u16>().ok());
        if let Some(port) = remembered.filter(|p| reuse && port_is_free(*p)) {
            return Ok(port);
        }
        let port = free_port()?;
        std::fs::write(&file, format!("{port}\n"))
            .map_err(|e| PgkitError::io(format!("writing {}", file.display()), e))?;
        Ok(port)
    }

    /// `pg_ctl start` on 127.0.0.1:`port`, waiting until the server is ready.
    pub(crate) async fn start(&self, port: u16) -> Result<(), PgkitError> {
        self.run_as.chown(&self.dir).await?;
        let socket = format!("{}/.s.PGSQL.{port}", self.dir.display());
        let socket_dir = if socket.len() <= MAX_SOCKET_PATH {
            shell_quote(&self.dir.display().to_string())
        } else {
            tracing::info!("data directory path too long for a unix socket; TCP only");
            "''".to_string()
        };
        let server_opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={socket_dir} \
             -c max_connections=200"
        );
        let log = self.dir.join(LOG_FILE);
        tracing::info!(dir = %self.dir.display(), port, "pg_ctl start");
        let cmd = self.pg_ctl(&[
            "start".into(),
            "-w".into(),
            "-t".into(),
            "60".into(),
            "-l".into(),
            log.clone().into(),
            "-o".into(),
            server_opts.into(),
        ]);
        run(cmd).await.map(drop).map_err(|err| match err {
            PgkitError::Command {
                command,
                status,
                output,
            } => {
                let log_tail = std::fs::read_to_string(&log)
                    .map(|t| tail(&t, 10))
                    .unwrap_or_default();
                PgkitError::Command {
                    command,
                    status,
                    output: format!("{output}\nserver log {}:\n{log_tail}", log.display()),
                }
            }
            other => other,
        })
    }

    /// `pg_ctl stop -m fast`.
    pub(crate) async fn stop(&self) -> Result<(), PgkitError> {
        tracing::info!(dir = %self.dir.display(), "pg_ctl stop");
        let cmd = self.pg_ctl(&["stop".into(), "-w".into(), "-m".into(), "fast".into()]);
        run(cmd).await.map(drop)
    }

    /// A `pg_ctl -D <dir> <args>` command, run as the right user.
    fn pg_ctl(&self, args: &[OsString]) -> tokio::process::Command {
        let mut all: Vec<OsString> = vec!["-D".into(), self.dir.clone().into()];
        all.extend_from_slice(args);
        self.run_as
            .command(self.bins.program("pg_ctl").as_os_str(), &all)
    }
}

/// Waits up to `timeout` for a successful connection to `url`.
pub(crate) async fn wait_until_ready(
    url: &str,
    timeout: Duration,
) -> Result<sqlx::PgConnection, PgkitError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match crate::sql::connect(url, Duration::from_secs(2)).await {
            Ok(conn) => return Ok(conn),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                tracing::warn!(error = %e, "server did not accept connections");
                return Err(PgkitError::Timeout {
                    what: format!("PostgreSQL at {} to accept connections", crate::redact(url)),
                    seconds: timeout.as_secs(),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// True if process `pid` is a zombie (Linux `/proc`; false where that is unavailable).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name.trim_start().chars().next()
        })
        .is_some_and(|state| state == 'Z')
}

/// `create_dir_all` with a helpful error.
fn create_dir(dir: &Path) -> Result<(), PgkitError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| PgkitError::io(format!("creating {}", dir.display()), e))
}

/// True if nothing listens on 127.0.0.1:`port`.
fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port on 127.0.0.1 that is free right now (the OS picks it).
fn free_port() -> Result<u16, PgkitError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| PgkitError::io("finding a free TCP port on 127.0.0.1", e))
}

/// FNV-1a hash of a path: stable across Rust versions, unlike `DefaultHasher`.
pub(crate) fn fnv1a(path: &Path) -> u64 {
    fnv1a_bytes(path.as_os_str().as_encoded_bytes())
}

/// FNV-1a hash of some bytes.
pub(crate) fn fnv1a_bytes(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a_bytes(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_bytes(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn free_port_is_free() {
        let port = free_port().unwrap();
        assert!(port > 0);
        assert!(port_is_free(port));
    }
}
