//! Smoke test of the benchmark binary: a tiny run of every part (apalis-postgres only when
//! built with `--features apalis`) on the test server (`DATABASE_URL`, or seam-pgkit's
//! shared test cluster), checking the final JSON line. Takes well under a minute.

use std::time::{Duration, Instant};

use seam_pgkit::TestDb;
use serde_json::Value;

/// Keys the issue requires in the JSON line.
const KEYS: [&str; 9] = [
    "seam_steps_per_s",
    "raw_steps_per_s",
    "apalis_default_steps_per_s",
    "apalis_tuned_steps_per_s",
    "step_latency_p50_ms",
    "step_latency_p99_ms",
    "run_latency_p50_ms",
    "large_history_ratio",
    "worker_rss_mb",
];

#[tokio::test]
async fn a_tiny_run_reports_every_figure() {
    let db = TestDb::new().await.expect("a test database server");
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_seam-bench"))
        .args([
            "run",
            "--runs",
            "200",
            "--workers",
            "1",
            "--latency-runs",
            "20",
        ])
        .args(["--history", "2000", "--waiting", "200"])
        .args(["--database-url", db.url()])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the benchmark finishes")
        .expect("the benchmark runs");
    db.drop_database().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "seam-bench failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().expect("some output");
    let figures: Value = serde_json::from_str(last).expect("the last line is JSON");
    for key in KEYS {
        let value = figures.get(key).unwrap_or_else(|| panic!("no key {key}"));
        if key.starts_with("apalis") && !cfg!(feature = "apalis") {
            assert!(value.is_null(), "{key} without the apalis feature: {value}");
            continue;
        }
        let n = value.as_f64().unwrap_or_else(|| panic!("{key} = {value}"));
        assert!(n > 0.0, "{key} = {n}");
    }
    eprintln!("smoke run took {:.1}s", started.elapsed().as_secs_f64());
}
