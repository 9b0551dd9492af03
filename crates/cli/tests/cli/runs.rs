//! `seam runs start | list | show | history | watch`.

use std::time::Duration;

use seam_engine::RunStatus;
use serde_json::Value;

use crate::common::{Running, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_prints_the_run_id_and_honours_idempotency_keys() {
    let env = setup().await;
    let first = env
        .seam(&[
            "runs",
            "start",
            "hello-order",
            "--input",
            r#"{"order":"A-7"}"#,
            "--idempotency-key",
            "k-7",
        ])
        .await;
    first.ok().err_has("started hello-order@1 run");
    let again = env
        .seam(&[
            "--json",
            "runs",
            "start",
            "hello-order",
            "--idempotency-key",
            "k-7",
        ])
        .await;
    let v = again.ok().json();
    assert_eq!(v["run_id"].as_str().unwrap(), first.stdout.trim());
    assert_eq!(v["created"], false);
    let row = env.run_row(first.stdout.trim().parse().unwrap()).await;
    assert_eq!(row.status, RunStatus::Pending);
    assert_eq!(row.created_by, "operator:tester");
    assert_eq!(row.input["order"], "A-7");
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_by_status_workflow_age_and_limit_newest_first() {
    let env = setup().await;
    let old = env.start("hello-order", "{}").await;
    let a = env.start("approval", "{}").await;
    let b = env.start("approval", "{}").await;
    env.sql(&format!(
        "UPDATE seam.runs SET created_at = now() - interval '3 hours' WHERE id = '{old}'"
    ))
    .await;
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = env.seam(&["--json", "runs", "list"]).await;
    assert_eq!(ids(all.ok().json()), [b, a, old].map(|i| i.to_string()));
    let approvals = env
        .seam(&[
            "--json",
            "runs",
            "list",
            "--workflow",
            "approval",
            "--limit",
            "1",
        ])
        .await;
    assert_eq!(ids(approvals.ok().json()), [b.to_string()]);
    let aged = env
        .seam(&["--json", "runs", "list", "--older-than", "2h"])
        .await;
    assert_eq!(ids(aged.ok().json()), [old.to_string()]);
    let none = env
        .seam(&["--json", "runs", "list", "--status", "completed,failed"])
        .await;
    assert_eq!(ids(none.ok().json()), Vec::<String>::new());
    let table = env.seam(&["runs", "list", "--status", "pending"]).await;
    table
        .ok()
        .out_has("RUN")
        .out_has(&a.0.simple().to_string()[..8])
        .out_has("approval@1");
    env.seam(&["runs", "list", "--status", "paused"])
        .await
        .ok()
        .err_has("no runs match");
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_explains_a_waiting_run_and_accepts_an_id_prefix() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", r#"{"document":"lookbook"}"#).await;
    env.wait_status(id, RunStatus::Waiting).await;
    let prefix = &id.0.simple().to_string()[..8];
    let human = env.seam(&["runs", "show", prefix]).await;
    human
        .ok()
        .out_has(&id.to_string())
        .out_has("approval@1")
        .out_has("waits at step 'approve' for signal 'approve'")
        .out_has("Steps")
        .out_has("submit")
        .out_has("Wait")
        .out_has("deadline")
        .out_has("History")
        .out_has("run.started")
        .out_has("Next")
        .out_has(&format!("seam runs signal {id} approve"));
    let v = env
        .seam(&["--json", "runs", "show", &id.to_string()])
        .await
        .ok()
        .json();
    assert_eq!(v["run"]["status"], "waiting");
    assert_eq!(v["wait"]["signal"], "approve");
    assert!(v["wait"]["deadline"].is_string());
    assert_eq!(
        v["definition"],
        serde_json::json!(["submit", "approve", "publish"])
    );
    assert_eq!(v["executions"][0]["step"], "submit");
    assert_eq!(v["executions"][0]["status"], "completed");
    assert!(
        v["next"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("complete-wait"))
    );
    assert_eq!(v["stuck"], serde_json::json!([]));
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_of_an_unknown_run_exits_1_with_a_message() {
    let env = setup().await;
    let missing = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
    env.seam(&["runs", "show", missing])
        .await
        .code(1)
        .err_has(&format!("run {missing} not found"));
    env.seam(&["runs", "show", "3f2a1b4c"])
        .await
        .code(1)
        .err_has("no run id starts with 3f2a1b4c");
    env.seam(&["runs", "history", missing])
        .await
        .code(1)
        .err_has("not found");
    env.seam(&["runs", "watch", missing])
        .await
        .code(1)
        .err_has("not found");
    env.seam(&["runs", "retry", missing, "--reason", "x"])
        .await
        .code(1)
        .err_has("not found");
    env.sql(
        "INSERT INTO seam.runs (id, workflow, version, status, input, created_by) VALUES
           ('abcdef01-0000-4000-8000-000000000001', 'hello-order', 1, 'pending', '{}', 'test'),
           ('abcdef01-1000-4000-8000-000000000002', 'hello-order', 1, 'pending', '{}', 'test')",
    )
    .await;
    env.seam(&["runs", "show", "abcdef01"])
        .await
        .code(1)
        .err_has("ambiguous");
    env.seam(&["runs", "show", "abcdef01-0"])
        .await
        .ok()
        .out_has("abcdef01-0000-4000-8000-000000000001");
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_lists_children_with_their_states() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("fanout", r#"{"items": 3}"#).await;
    let row = env.wait_status(id, RunStatus::Completed).await;
    assert_eq!(row.output.unwrap()["total"], 12);
    let v = env
        .seam(&["--json", "runs", "show", &id.to_string()])
        .await
        .ok()
        .json();
    let children = v["children"].as_array().unwrap();
    assert_eq!(children.len(), 3);
    assert!(
        children
            .iter()
            .all(|c| c["status"] == "completed" && c["workflow"] == "fanout-item")
    );
    let human = env.seam(&["runs", "show", &id.to_string()]).await;
    human.ok().out_has("Children").out_has("fanout-item@1");
    let child = children[0]["id"].as_str().unwrap();
    env.seam(&["runs", "show", child])
        .await
        .ok()
        .out_has(&format!("parent    {id}"));
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follow_prints_events_with_actors_until_the_run_ends() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    let mut follow = Running::spawn(env.command(&["runs", "history", &id.to_string(), "--follow"]));
    follow
        .wait_line("wait.started", Duration::from_secs(10))
        .await;
    env.seam(&[
        "runs",
        "signal",
        &id.to_string(),
        "approve",
        "--payload",
        r#"{"by":"ops"}"#,
    ])
    .await
    .ok()
    .out_has("sent signal 'approve'");
    let out = follow.finish().await;
    out.ok()
        .out_has("signal.received")
        .out_has("operator:tester")
        .out_has("run.completed")
        .out_has("worker:");
    let v = env
        .seam(&["--json", "runs", "history", &id.to_string()])
        .await
        .ok()
        .json();
    let kinds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run.started"));
    assert_eq!(kinds.last(), Some(&"run.completed"));
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_progress_and_exits_with_the_runs_outcome() {
    let env = setup().await;
    let worker = env.worker();
    let ok = env.start("hello-order", "{}").await;
    let out = env
        .seam(&["runs", "watch", &ok.to_string(), "--interval", "50ms"])
        .await;
    out.ok()
        .out_has("3/3")
        .out_has("completed in")
        .out_has("TRK-A-1001");
    let bad = env.start("hello-order", r#"{"undeliverable": true}"#).await;
    let out = env
        .seam(&[
            "--json",
            "runs",
            "watch",
            &bad.to_string(),
            "--interval",
            "50ms",
        ])
        .await;
    out.code(1);
    let last: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "failed");
    worker.shutdown().await.unwrap();
    env.done().await;
}
