//! Worker processes: spawn this binary with `worker`, watch them, read their peak memory,
//! and stop them with SIGTERM (SIGKILL after a grace period).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How a set of worker processes is started.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub url: String,
    pub concurrency: usize,
    pub max_connections: u32,
}

/// Running worker processes.
pub struct WorkerProcs {
    children: Vec<Child>,
}

impl WorkerProcs {
    /// Spawns `count` processes of `seam-bench worker --suite noop`.
    pub fn spawn(spec: &WorkerSpec, count: usize) -> anyhow::Result<WorkerProcs> {
        let exe = std::env::current_exe().context("finding the seam-bench executable")?;
        let mut children = Vec::with_capacity(count);
        for i in 0..count {
            let child = Command::new(&exe)
                .arg("worker")
                .args(["--suite", "noop"])
                .args(["--concurrency", &spec.concurrency.to_string()])
                .args(["--max-connections", &spec.max_connections.to_string()])
                .args(["--name", &format!("bench-{i}")])
                .env("DATABASE_URL", &spec.url)
                .env(
                    "RUST_LOG",
                    std::env::var("SEAM_BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("spawning a worker process")?;
            children.push(child);
        }
        Ok(WorkerProcs { children })
    }

    /// Fails if a worker exited (they only exit when told to).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("a worker process exited early ({status})");
            }
        }
        Ok(())
    }

    /// The largest peak resident set (VmHWM) among the workers, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.children
            .iter()
            .filter_map(|c| c.id())
            .filter_map(vm_hwm_kib)
            .max()
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        for child in &self.children {
            if let Some(pid) = child.id() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
        }
        let mut unclean = 0;
        for child in &mut self.children {
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(_) => unclean += 1,
                Err(_) => {
                    unclean += 1;
                    let _ = child.kill().await;
                }
            }
        }
        if unclean > 0 {
            eprintln!("warning: {unclean} worker process(es) did not stop cleanly");
        }
        Ok(())
    }
}

/// Peak resident set size of process `pid` (`VmHWM` in `/proc/<pid>/status`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
