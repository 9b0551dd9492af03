//! Runs the workload while killing, stopping and restarting things, then audits it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use seam_engine::{Client, EngineError, RunId, StartOptions};
use seam_pgkit::{LocalDatabase, LocalOptions, local_database, redact, with_database};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use super::ChaosArgs;
use super::audit::{self, Report};
use super::workload::{self, ChaosInput};

/// The PostgreSQL server under test: our own (restartable) or a given one.
struct Server {
    url: String,
    own: Option<(LocalOptions, Option<LocalDatabase>)>,
}

impl Server {
    async fn start(args: &ChaosArgs) -> anyhow::Result<Self> {
        if let Some(url) = &args.database_url {
            return Ok(Server {
                url: url.clone(),
                own: None,
            });
        }
        let opts = LocalOptions {
            database_url: None,
            data_dir: std::env::temp_dir().join(format!("seam-chaos-{}", std::process::id())),
            port: None,
        };
        let db = local_database(&opts).await.context("starting PostgreSQL")?;
        Ok(Server {
            url: db.url().to_string(),
            own: Some((opts, Some(db))),
        })
    }

    /// Stops PostgreSQL (fast shutdown), waits a moment, starts it again on the same port.
    async fn restart(&mut self) -> anyhow::Result<bool> {
        let Some((opts, db)) = &mut self.own else {
            return Ok(false);
        };
        if let Some(db) = db.take() {
            db.stop().await.context("stopping PostgreSQL")?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        *db = Some(
            local_database(opts)
                .await
                .context("restarting PostgreSQL")?,
        );
        Ok(true)
    }

    async fn stop(self) {
        if let Some((opts, Some(db))) = self.own {
            let dir = db.data_dir().map(PathBuf::from);
            let _ = db.stop().await;
            let _ = std::fs::remove_dir_all(dir.unwrap_or(opts.data_dir));
        }
    }
}

/// The worker processes.
struct Workers {
    args: Vec<String>,
    log: PathBuf,
    children: Vec<Child>,
}

impl Workers {
    fn spawn_one(&self) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        Ok(Command::new(std::env::current_exe()?)
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("CHAOS_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?)
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.children[i].id()
    }

    async fn kill_and_replace(&mut self, i: usize) -> anyhow::Result<()> {
        let _ = self.children[i].kill().await; // SIGKILL, then reaped
        self.children[i] = self.spawn_one()?;
        Ok(())
    }

    /// Restarts workers that exited by themselves; returns how many.
    fn supervise(&mut self) -> anyhow::Result<usize> {
        let mut exits = 0;
        for i in 0..self.children.len() {
            if let Ok(Some(_)) = self.children[i].try_wait() {
                exits += 1;
                self.children[i] = self.spawn_one()?;
            }
        }
        Ok(exits)
    }

    async fn shutdown(mut self) {
        for c in &self.children {
            if let Some(pid) = c.id() {
                signal(pid, "TERM");
            }
        }
        for c in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Runs the whole harness and returns the audited report.
pub async fn run(args: &ChaosArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.workers >= 2,
        "--workers must be at least 2 (one is stopped at a time)"
    );
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let mut server = Server::start(args).await?;
    let result = run_on(args, &mut server).await;
    server.stop().await;
    result
}

async fn run_on(args: &ChaosArgs, server: &mut Server) -> anyhow::Result<Report> {
    let name = format!("seam_chaos_{}", std::process::id());
    let admin = PgPool::connect(&server.url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    let url = with_database(&server.url, &name);
    eprintln!("chaos: database {}", redact(&url));
    let result = workload_under_chaos(args, server, &url).await;
    if let Ok(admin) = PgPool::connect(&server.url).await {
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
        admin.close().await;
    }
    result
}

async fn workload_under_chaos(
    args: &ChaosArgs,
    server: &mut Server,
    url: &str,
) -> anyhow::Result<Report> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        .connect(url)
        .await?;
    seam_engine::migrate(&pool).await?;
    sqlx::raw_sql(workload::SCHEMA).execute(&pool).await?;
    let wf = workload::workflow();
    let client = Client::new(pool.clone());
    let mut report = Report {
        runs: args.runs,
        ..Report::default()
    };

    let log = std::env::temp_dir().join(format!("seam-chaos-workers-{}.log", std::process::id()));
    let mut workers = Workers {
        args: vec![
            "chaos".into(),
            "--worker".into(),
            "--database-url".into(),
            url.to_string(),
            "--lease-ms".into(),
            args.lease_ms.to_string(),
            "--concurrency".into(),
            args.concurrency.to_string(),
        ],
        log: log.clone(),
        children: Vec::new(),
    };
    for _ in 0..args.workers {
        let child = workers.spawn_one()?;
        workers.children.push(child);
    }
    eprintln!(
        "chaos: {} worker processes (logs: {})",
        args.workers,
        log.display()
    );

    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.runs);
    for chunk in (0..args.runs).collect::<Vec<_>>().chunks(200) {
        let mut tx = pool.begin().await?;
        for &n in chunk {
            let input = ChaosInput {
                n,
                fail: n % 10 == 0,
                parcel_fails: n % 10 == 5,
            };
            let opts = StartOptions::idempotency_key(format!("chaos-{n}"));
            ids.push(client.start_in_tx(&mut tx, &wf, input, opts).await?.run_id);
        }
        tx.commit().await?;
    }
    eprintln!("chaos: started {} runs", ids.len());
    let pace = Duration::from_secs(args.duration_secs) / args.runs as u32;
    let signals = tokio::spawn(send_signals(client.clone(), ids, pace));

    let storm = storm(args, &pool, &mut workers, server, &mut report, started).await;
    workers.shutdown().await;
    signals.abort();
    storm?;
    report.elapsed_s = started.elapsed().as_secs_f64();
    // Leases of killed workers may still be running out; give the audit a settled table.
    audit::audit(&pool, &mut report).await?;
    pool.close().await;
    Ok(report)
}

/// Sends each run its `paid` signal, about `pace` apart, retrying while PostgreSQL is away.
async fn send_signals(client: Client, ids: Vec<RunId>, pace: Duration) {
    let start = Instant::now();
    for (k, id) in ids.into_iter().enumerate() {
        let due = start + pace * k as u32;
        tokio::time::sleep_until(due.into()).await;
        loop {
            match client
                .signal(id, "paid", serde_json::json!({ "amount": 1 }))
                .await
            {
                Ok(_) => break,
                Err(EngineError::NotAllowed { .. }) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

async fn terminal_count(pool: &PgPool) -> Option<usize> {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM seam.runs WHERE finished_at IS NOT NULL AND parent_run_id IS NULL",
    )
    .fetch_one(pool)
    .await
    .ok()
    .map(|n| n as usize)
}

async fn storm(
    args: &ChaosArgs,
    pool: &PgPool,
    workers: &mut Workers,
    server: &mut Server,
    report: &mut Report,
    started: Instant,
) -> anyhow::Result<()> {
    let lease = Duration::from_millis(args.lease_ms);
    let mut next_kill =
        Instant::now() + Duration::from_millis(rand::rng().random_range(1_000..3_000));
    let mut stopped: Option<(usize, Instant)> = None;
    let mut last_progress = Instant::now();
    let mut done = 0;
    let mut restarted = false;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = Instant::now();
        if let Some(n) = terminal_count(pool).await {
            if n != done {
                done = n;
                eprintln!(
                    "chaos: {done}/{} runs ended ({:.0}s, kills {}, stops {}, pg restarts {})",
                    args.runs,
                    started.elapsed().as_secs_f64(),
                    report.kills,
                    report.stops,
                    report.pg_restarts
                );
                last_progress = now;
            }
            if done >= args.runs {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(args.timeout_secs) {
            eprintln!("chaos: timed out; {} runs not ended", args.runs - done);
            break;
        }
        report.worker_exits += workers.supervise()?;
        if let Some((i, until)) = stopped
            && now >= until
        {
            if let Some(pid) = workers.pid(i) {
                signal(pid, "CONT");
            }
            stopped = None;
        }
        if report.stops == 0 && started.elapsed() > Duration::from_secs(3) {
            let i = rand::rng().random_range(0..workers.children.len());
            if let Some(pid) = workers.pid(i) {
                signal(pid, "STOP");
                // Past the lease and a rescuer pass, so others take its jobs over.
                stopped = Some((i, now + lease + Duration::from_secs(7)));
                report.stops += 1;
            }
        }
        if now >= next_kill {
            let live: Vec<usize> = (0..workers.children.len())
                .filter(|i| stopped.map(|(s, _)| s) != Some(*i))
                .collect();
            let i = live[rand::rng().random_range(0..live.len())];
            workers.kill_and_replace(i).await?;
            report.kills += 1;
            next_kill = now + Duration::from_millis(rand::rng().random_range(1_000..3_000));
        }
        let far_enough = done * 10 >= args.runs * 3 || started.elapsed() > Duration::from_secs(20);
        if !restarted && far_enough {
            restarted = true;
            eprintln!("chaos: restarting PostgreSQL");
            if server.restart().await? {
                report.pg_restarts += 1;
            }
        }
        if now.duration_since(last_progress) > Duration::from_secs(60) {
            eprintln!("chaos: no progress for 60 s");
            last_progress = now;
        }
    }
    if let Some((i, _)) = stopped
        && let Some(pid) = workers.pid(i)
    {
        signal(pid, "CONT");
    }
    Ok(())
}
