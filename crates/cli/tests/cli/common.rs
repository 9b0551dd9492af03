//! Fixtures: a migrated database per test, the `seam` binary run against it, an in-process
//! worker serving the built-in examples, and pollers with deadlines.

use std::process::Stdio;
use std::time::Duration;

use seam_engine::store::runs::RunRow;
use seam_engine::store::{events, runs};
use seam_engine::{RunId, RunStatus, Worker, WorkerHandle};
use seam_pgkit::TestDb;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `seam` binary under test.
pub const SEAM: &str = env!("CARGO_BIN_EXE_seam");

/// How long a poll waits before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// One test's world: its database and a pool on it.
pub struct Env {
    pub db: TestDb,
    pub pool: PgPool,
}

/// What one run of the binary printed, and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit code `code`; returns self for chaining.
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
    /// Asserts success.
    pub fn ok(&self) -> &Self {
        self.code(0)
    }
    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
    /// Asserts stdout contains `text`.
    pub fn out_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    /// Asserts stderr contains `text`.
    pub fn err_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}\n--- stdout\n{}",
            self.stderr,
            self.stdout
        );
        self
    }
}

fn template_name() -> String {
    format!("seam_tpl_{}", seam_engine::store::migrate::fingerprint())
}

/// A fresh, migrated database (with the examples' table).
pub async fn setup() -> Env {
    let db = TestDb::from_template(&template_name(), |url| async move {
        let pool = PgPool::connect(&url).await.map_err(|e| e.to_string())?;
        seam_engine::migrate(&pool)
            .await
            .map_err(|e| e.to_string())?;
        pool.close().await;
        Ok(())
    })
    .await
    .expect("test database");
    let pool = db.pool().await;
    seam_cli::examples::prepare(&pool)
        .await
        .expect("examples table");
    Env { db, pool }
}

/// A command for the binary with a clean, non-interactive environment.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(SEAM);
    cmd.args(args)
        .env("SEAM_ACTOR", "tester")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs the binary to its end.
pub async fn run(mut cmd: Command) -> Out {
    let out = cmd.output().await.expect("run seam");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `seam ARGS` without any database configured.
pub async fn seam_without_db(args: &[&str]) -> Out {
    let mut cmd = command(args);
    cmd.env_remove("DATABASE_URL");
    run(cmd).await
}

impl Env {
    /// Runs `seam ARGS` against this test's database.
    pub async fn seam(&self, args: &[&str]) -> Out {
        run(self.command(args)).await
    }

    /// A command on this test's database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = command(args);
        cmd.env("DATABASE_URL", self.db.url());
        cmd
    }

    /// A worker in this process serving every example, tuned for tests.
    pub fn worker(&self) -> WorkerHandle {
        let mut b = Worker::builder(self.pool.clone())
            .name("test-worker")
            .concurrency(8)
            .poll_interval(Duration::from_millis(50))
            .shutdown_grace(Duration::from_secs(2))
            .maintenance(false);
        for wf in seam_cli::examples::all().expect("examples") {
            b = b.workflow(&wf);
        }
        b.build().expect("worker").start()
    }

    /// Starts a run with `seam runs start`; returns its id.
    pub async fn start(&self, workflow: &str, input: &str) -> RunId {
        let out = self
            .seam(&["runs", "start", workflow, "--input", input])
            .await;
        out.ok();
        out.stdout.trim().parse().expect("a run id on stdout")
    }

    /// Reads a run.
    pub async fn run_row(&self, id: RunId) -> RunRow {
        let mut conn = self.pool.acquire().await.unwrap();
        runs::get(&mut conn, id).await.unwrap().expect("run exists")
    }

    /// Waits until the run satisfies `cond`.
    pub async fn wait_for(&self, id: RunId, cond: impl Fn(&RunRow) -> bool) -> RunRow {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let row = self.run_row(id).await;
            if cond(&row) {
                return row;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {id} never got there: it is {} at {:?} ({:?})",
                row.status,
                row.current_step,
                row.error
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the run is in `status`.
    pub async fn wait_status(&self, id: RunId, status: RunStatus) -> RunRow {
        self.wait_for(id, |r| r.status == status).await
    }

    /// Waits until the run has a dead job.
    pub async fn wait_dead_job(&self, id: RunId) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut conn = self.pool.acquire().await.unwrap();
            let jobs = seam_engine::store::jobs::for_run(&mut conn, id)
                .await
                .unwrap();
            if jobs.iter().any(|j| j.state == seam_engine::JobState::Dead) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no dead job in {id}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The kinds and actors of the run's events, in order.
    pub async fn events(&self, id: RunId) -> Vec<(String, String)> {
        let mut conn = self.pool.acquire().await.unwrap();
        events::for_run(&mut conn, id, 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.actor))
            .collect()
    }

    /// Runs SQL on the test database (to set up wedged states).
    pub async fn sql(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Drops the database.
    pub async fn done(self) {
        self.pool.close().await;
        self.db.drop_database().await;
    }
}

/// A child `seam` whose stdout is read line by line.
pub struct Running {
    pub child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub seen: Vec<String>,
}

impl Running {
    /// Spawns `cmd` with stdout and stderr piped, in its own process group (as a terminal
    /// runs a foreground command).
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn seam");
        let stdout = child.stdout.take().expect("stdout piped");
        Running {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads stdout until a line contains `text` (fails after `patience`).
    pub async fn wait_line(&mut self, text: &str, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.next_line()).await;
            match next {
                Ok(Ok(Some(line))) => {
                    let hit = line.contains(text);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                _ => panic!(
                    "no line with {text:?} on stdout; saw:\n{}\n--- stderr\n{}",
                    self.seen.join("\n"),
                    self.stderr_so_far().await
                ),
            }
        }
    }

    async fn stderr_so_far(&mut self) -> String {
        let _ = self.child.start_kill();
        let mut s = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut s)).await;
        }
        s
    }

    /// Sends SIGINT to the process group, as Ctrl-C in a terminal does, and waits for the
    /// exit; returns the exit code, the rest of stdout and all of stderr.
    pub async fn interrupt(self) -> Out {
        let pid = self.child.id().expect("child running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-INT", "--", &format!("-{pid}")])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -INT {pid} failed");
        self.finish().await
    }

    /// Waits for the exit (at most 30 s).
    pub async fn finish(self) -> Out {
        let Running {
            mut child,
            mut lines,
            mut seen,
        } = self;
        let mut stderr = child.stderr.take().expect("stderr piped");
        let read_err = async {
            use tokio::io::AsyncReadExt;
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        };
        let read_out = async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line);
            }
        };
        let (status, err, ()) = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(child.wait(), read_err, read_out)
        })
        .await
        .expect("seam exits within 30 s");
        Out {
            code: status.expect("wait").code().unwrap_or(-1),
            stdout: seen.join("\n"),
            stderr: err,
        }
    }
}
