//! `seam doctor`, `seam queues`, `seam workers`, `seam worker` and `seam dev` (on
//! DATABASE_URL).

use std::collections::BTreeSet;
use std::time::Duration;

use seam_engine::RunStatus;
use serde_json::Value;

use crate::common::{Running, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_is_healthy_on_a_quiet_database() {
    let env = setup().await;
    env.seam(&["doctor"])
        .await
        .ok()
        .out_has("healthy: no stuck runs");
    let v = env.seam(&["--json", "doctor"]).await.ok().json();
    assert_eq!(v["healthy"], true);
    assert_eq!(v["findings"], serde_json::json!([]));
    env.done().await;
}

/// Every rule of the shared stuck definition, each set up for real or by moving the clock
/// back in SQL; `seam doctor` and `seam runs list --stuck` agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_each_kind_of_wedged_run_and_says_how_to_fix_it() {
    let env = setup().await;
    let worker = env.worker();
    let dead = env
        .start("flaky-import", r#"{"feed":"rates","broken":true}"#)
        .await;
    let overdue = env.start("approval", "{}").await;
    let paused = env.start("approval", "{}").await;
    env.wait_dead_job(dead).await;
    env.wait_status(overdue, RunStatus::Waiting).await;
    env.wait_status(paused, RunStatus::Waiting).await;
    env.seam(&[
        "runs",
        "pause",
        &paused.to_string(),
        "--reason",
        "legal hold",
    ])
    .await
    .ok();
    worker.shutdown().await.unwrap();

    let unserved = env.start("hello-order", "{}").await;
    let lost = env.start("hello-order", "{}").await;
    let comp = env.start("hello-order", "{}").await;
    env.sql(&format!(
        "UPDATE seam.jobs SET state = 'running', lease_token = gen_random_uuid(),
                lease_expires_at = now() - interval '5 minutes', worker_id = gen_random_uuid(),
                started_at = now() - interval '6 minutes'
         WHERE run_id = '{lost}';
         DELETE FROM seam.jobs WHERE run_id = '{overdue}' AND kind = 'timer';
         UPDATE seam.runs SET wait_deadline = now() - interval '1 hour' WHERE id = '{overdue}';
         UPDATE seam.events SET at = now() - interval '2 hours'
         WHERE run_id = '{paused}' AND kind = 'operator.pause';
         DELETE FROM seam.jobs WHERE run_id = '{comp}';
         UPDATE seam.runs SET status = 'compensation_failed', error = 'refund API down'
         WHERE id = '{comp}';"
    ))
    .await;

    let out = env.seam(&["--json", "doctor"]).await;
    let v = out.code(1).json();
    let found: BTreeSet<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(!f["why"].as_str().unwrap().is_empty());
            assert!(!f["fix"].as_array().unwrap().is_empty(), "{f}");
            (
                f["run_id"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (dead, "dead_job"),
        (overdue, "overdue_wait"),
        (paused, "long_pause"),
        (unserved, "unserved"),
        (lost, "expired_lease"),
        (comp, "compensation_failed"),
    ]
    .into_iter()
    .map(|(id, r)| (id.to_string(), r.to_string()))
    .collect();
    assert_eq!(found, expected);

    let human = env.seam(&["doctor"]).await;
    human
        .code(1)
        .out_has("6 stuck run(s) need a human (0 live worker(s))")
        .out_has("no live worker serves queue 'default'")
        .out_has("lease expired")
        .out_has("its deadline passed")
        .out_has("by operator:tester: legal hold")
        .out_has(&format!("seam runs resume {paused}"))
        .out_has(&format!("seam runs signal {overdue} approve"))
        .out_has(&format!("seam runs cancel {comp} --no-compensate"));

    let listed = env
        .seam(&["--json", "runs", "list", "--stuck"])
        .await
        .ok()
        .json();
    let ids: BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let expected_ids: BTreeSet<String> = expected.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, expected_ids);

    // The bulk form takes --stuck too: resume the long-paused run.
    env.seam(&["runs", "resume", "--stuck", "--reason", "hold lifted"])
        .await
        .ok()
        .out_has(&paused.to_string());
    assert_eq!(env.run_row(paused).await.status, RunStatus::Waiting);
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_and_workers_show_load_and_liveness() {
    let env = setup().await;
    env.seam(&["queues"]).await.ok().err_has("no queues yet");
    let worker = env.worker();
    let done = env.start("hello-order", "{}").await;
    env.wait_status(done, RunStatus::Completed).await;
    let parked = env.start("flaky-import", r#"{"broken":true}"#).await;
    env.wait_dead_job(parked).await;

    let queues = env.seam(&["--json", "queues"]).await.ok().json();
    let q = |name: &str| -> Value {
        queues
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == name)
            .cloned()
            .unwrap()
    };
    assert!(q("default")["completed"].as_i64().unwrap() >= 3);
    assert_eq!(q("default")["workers"], 1);
    assert_eq!(q("imports")["dead"], 1);
    assert_eq!(q("imports")["failed"], 2);
    env.seam(&["queues"])
        .await
        .ok()
        .out_has("QUEUE")
        .out_has("imports")
        .out_has("OLDEST READY");

    let workers = env.seam(&["--json", "workers"]).await.ok().json();
    assert_eq!(workers[0]["name"], "test-worker");
    assert_eq!(workers[0]["state"], "live");
    assert!(
        workers[0]["pins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "hello-order@1")
    );
    env.seam(&["workers"])
        .await
        .ok()
        .out_has("test-worker")
        .out_has("live");

    worker.shutdown().await.unwrap();
    let workers = env.seam(&["--json", "workers"]).await.ok().json();
    assert_eq!(workers[0]["state"], "stopped");
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_command_serves_runs_and_stops_on_ctrl_c() {
    let env = setup().await;
    let mut cmd = env.command(&["worker", "--poll-interval", "50ms", "--name", "cli-worker"]);
    cmd.env("RUST_LOG", "off");
    let worker = Running::spawn(cmd);
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    env.seam(&["runs", "signal", &id.to_string(), "approve"])
        .await
        .ok();
    env.wait_status(id, RunStatus::Completed).await;
    let listed = env.seam(&["--json", "workers"]).await.ok().json();
    assert_eq!(listed[0]["name"], "cli-worker");
    let out = worker.interrupt().await;
    out.ok()
        .err_has("serving queues default, imports")
        .err_has("worker stopped");
    let listed = env.seam(&["--json", "workers"]).await.ok().json();
    assert_eq!(listed[0]["state"], "stopped");
    env.seam(&["worker", "--workflow", "nope"])
        .await
        .code(2)
        .err_has("unknown workflow 'nope'");
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_on_database_url_prints_how_to_connect_and_stops_on_ctrl_c() {
    let env = setup().await;
    let mut cmd = env.command(&["dev", "--poll-interval", "50ms"]);
    cmd.env("RUST_LOG", "off");
    let mut dev = Running::spawn(cmd);
    dev.wait_line("Ctrl-C stops everything.", Duration::from_secs(20))
        .await;
    let shown = dev.seen.join("\n");
    assert!(shown.contains("(from DATABASE_URL)"), "{shown}");
    assert!(shown.contains("export DATABASE_URL="), "{shown}");
    assert!(shown.contains("flaky-import@1"), "{shown}");
    let id = env.start("fanout", r#"{"items":2}"#).await;
    env.wait_status(id, RunStatus::Completed).await;
    let out = dev.interrupt().await;
    out.ok().err_has("workers stopped");
    env.seam(&["dev", "--reset"])
        .await
        .code(2)
        .err_has("DATABASE_URL is set");
    env.done().await;
}
