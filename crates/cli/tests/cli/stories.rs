//! The operator stories of the CLI issue, end to end.

use seam_engine::RunStatus;
use serde_json::Value;

use crate::common::setup;

/// A run whose step failed permanently is found by `seam runs list --stuck` and
/// `seam doctor`, shown by `seam runs show` with its error, fixed with `seam runs retry`
/// (after fixing its cause), and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_a_failed_step_is_found_shown_retried_and_completes() {
    let env = setup().await;
    let worker = env.worker();
    let healthy = env.start("hello-order", "{}").await;
    let id = env
        .start("flaky-import", r#"{"feed":"prices","broken":true}"#)
        .await;
    env.wait_status(healthy, RunStatus::Completed).await;
    env.wait_dead_job(id).await;
    let run = id.to_string();

    let stuck = env
        .seam(&["--json", "runs", "list", "--stuck"])
        .await
        .ok()
        .json();
    let listed: Vec<&str> = stuck
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [run.as_str()]);
    assert_eq!(stuck[0]["stuck"][0]["reason"], "dead_job");
    env.seam(&["runs", "list", "--stuck"])
        .await
        .ok()
        .out_has("stuck (dead_job)");

    let doctor = env.seam(&["doctor"]).await;
    doctor
        .code(1)
        .out_has(&run)
        .out_has("dead_job")
        .out_has("feed 'prices' is broken upstream")
        .out_has(&format!("fix  seam runs retry {run} --reason"));
    let report = env.seam(&["--json", "doctor"]).await;
    let v = report.code(1).json();
    assert_eq!(v["healthy"], false);
    assert_eq!(v["findings"][0]["reason"], "dead_job");

    env.seam(&["runs", "show", &run])
        .await
        .ok()
        .out_has("stuck: step 'import' failed all 2 attempts and is parked")
        .out_has("feed 'prices' is broken upstream")
        .out_has("dead");

    // A retry before the cause is fixed gets fresh attempts, fails them, and parks again.
    env.seam(&["runs", "retry", &run, "--reason", "try again"])
        .await
        .ok();
    env.wait_dead_job(id).await;
    let shown = env
        .seam(&["--json", "runs", "show", &run])
        .await
        .ok()
        .json();
    assert_eq!(
        shown["jobs"][0]["attempt"], 4,
        "two fresh attempts were used"
    );

    env.sql("UPDATE seam_demo.switches SET state = 'ok' WHERE name = 'prices'")
        .await;
    env.seam(&["runs", "retry", &run, "--reason", "feed fixed upstream"])
        .await
        .ok()
        .out_has("retry ok");
    let row = env.wait_status(id, RunStatus::Completed).await;
    assert_eq!(row.output.unwrap()["imported"], 42);
    env.seam(&["doctor"]).await.ok().out_has("healthy");
    let events = env.events(id).await;
    assert!(events.contains(&("operator.retry".into(), "operator:tester".into())));
    worker.shutdown().await.unwrap();
    env.done().await;
}

/// A run waiting on a signal is completed with `seam runs signal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_a_waiting_run_is_completed_with_a_signal() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", r#"{"document":"fw26"}"#).await;
    env.wait_status(id, RunStatus::Waiting).await;
    let waiting = env
        .seam(&["--json", "runs", "list", "--status", "waiting"])
        .await
        .ok()
        .json();
    assert_eq!(waiting[0]["wait_signal"], "approve");
    let out = env
        .seam(&[
            "--json",
            "runs",
            "signal",
            &id.to_string(),
            "approve",
            "--payload",
            r#"{"by":"alice"}"#,
            "--reason",
            "approved by phone",
        ])
        .await;
    assert_eq!(out.ok().json()["sent_by"], "operator:tester");
    let reason: Option<String> = sqlx::query_scalar(
        "SELECT reason FROM seam.events WHERE run_id = $1 AND kind = 'signal.received'",
    )
    .bind(id.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(reason.as_deref(), Some("approved by phone"));
    let row = env.wait_status(id, RunStatus::Completed).await;
    assert_eq!(row.output.unwrap()["approval"]["by"], "alice");
    worker.shutdown().await.unwrap();
    env.done().await;
}

/// A run is rewound to an earlier step and finishes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_a_run_is_rewound_to_an_earlier_step_and_finishes_again() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("hello-order", r#"{"order":"A-9"}"#).await;
    env.wait_status(id, RunStatus::Completed).await;
    let run = id.to_string();
    env.seam(&[
        "runs",
        "rewind",
        &run,
        "--to",
        "charge_card",
        "--reason",
        "charge again",
        "--dry-run",
    ])
    .await
    .ok()
    .err_has("nothing changed");
    assert_eq!(env.run_row(id).await.iteration, 0);
    env.seam(&[
        "runs",
        "rewind",
        &run,
        "--to",
        "charge_card",
        "--reason",
        "charge again",
        "--yes",
    ])
    .await
    .ok()
    .out_has("completed -> running");
    let row = env
        .wait_for(id, |r| r.status == RunStatus::Completed && r.iteration == 1)
        .await;
    assert_eq!(row.output.unwrap()["tracking"], "TRK-A-9");
    let v = env
        .seam(&["--json", "runs", "show", &run])
        .await
        .ok()
        .json();
    let again: Vec<(String, i64)> = v["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["iteration"] == 1)
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_string(),
                e["attempt"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        again,
        [("charge_card".to_string(), 1), ("ship".to_string(), 1)]
    );
    let events = env.events(id).await;
    assert!(events.contains(&("operator.rewind".into(), "operator:tester".into())));
    worker.shutdown().await.unwrap();
    env.done().await;
}

/// A bulk cancel with `--dry-run` changes nothing; without it, every matched run is
/// compensated and ends cancelled, and unmatched runs are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_bulk_cancel_dry_run_changes_nothing_then_compensates_every_match() {
    let env = setup().await;
    let worker = env.worker();
    let mut matched = Vec::new();
    for doc in ["a", "b", "c"] {
        matched.push(
            env.start("approval", &format!(r#"{{"document":"{doc}"}}"#))
                .await,
        );
    }
    let other = env.start("hello-order", "{}").await;
    for id in &matched {
        env.wait_status(*id, RunStatus::Waiting).await;
    }
    env.wait_status(other, RunStatus::Completed).await;
    let filters = [
        "runs",
        "cancel",
        "--status",
        "waiting",
        "--workflow",
        "approval",
        "--reason",
        "season cancelled",
    ];

    let dry: Vec<&str> = filters.iter().copied().chain(["--dry-run"]).collect();
    let plan = env.seam(&dry).await;
    plan.ok()
        .err_has("dry run: would cancel (compensations run): 3 run(s)")
        .err_has("nothing changed");
    for id in &matched {
        plan.out_has(&id.0.simple().to_string()[..8]);
        assert_eq!(env.run_row(*id).await.status, RunStatus::Waiting);
    }
    let dry_json: Vec<&str> = ["--json"].into_iter().chain(dry.iter().copied()).collect();
    let v = env.seam(&dry_json).await.ok().json();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["runs"].as_array().unwrap().len(), 3);

    let no_yes = env.seam(&filters).await;
    no_yes.code(1).err_has("--yes");

    let go: Vec<&str> = ["--json"]
        .into_iter()
        .chain(filters.iter().copied())
        .chain(["--yes"])
        .collect();
    let v = env.seam(&go).await.ok().json();
    let results = v["runs"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(
        results
            .iter()
            .all(|r| r["ok"] == true && r["after"] == "compensating")
    );
    for id in &matched {
        env.wait_status(*id, RunStatus::Cancelled).await;
        let events = env.events(*id).await;
        let compensated = events
            .iter()
            .filter(|(k, _)| k == "compensation.completed")
            .count();
        assert_eq!(compensated, 1, "submit is compensated in {id}: {events:?}");
        assert!(events.contains(&("operator.cancel".into(), "operator:tester".into())));
    }
    assert_eq!(env.run_row(other).await.status, RunStatus::Completed);
    let left: Value = env
        .seam(&["--json", "runs", "list", "--status", "waiting"])
        .await
        .ok()
        .json();
    assert_eq!(left, serde_json::json!([]));
    worker.shutdown().await.unwrap();
    env.done().await;
}

/// A compensation that fails for good leaves the run `compensation_failed`; `seam doctor`
/// says so, and once the cause is fixed `seam runs retry` finishes the compensation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_a_failed_compensation_is_retried_after_the_cause_is_fixed() {
    let env = setup().await;
    env.sql("INSERT INTO seam_demo.switches (name, state) VALUES ('refunds', 'broken')")
        .await;
    let worker = env.worker();
    let id = env.start("hello-order", r#"{"undeliverable": true}"#).await;
    env.wait_status(id, RunStatus::CompensationFailed).await;
    let run = id.to_string();
    env.seam(&["doctor"])
        .await
        .code(1)
        .out_has("compensation_failed")
        .out_has("the compensation of step 'charge_card' failed all 2 attempts")
        .out_has(&format!(
            "seam runs skip {run} --step charge_card --output null"
        ));
    env.seam(&["runs", "show", &run])
        .await
        .ok()
        .out_has("↩ charge_card")
        .out_has("refund service is down");
    env.sql("UPDATE seam_demo.switches SET state = 'ok' WHERE name = 'refunds'")
        .await;
    env.seam(&["runs", "retry", &run, "--reason", "refunds back"])
        .await
        .ok()
        .out_has("compensation_failed -> compensating");
    let row = env.wait_status(id, RunStatus::Failed).await;
    assert!(row.error.unwrap().contains("carrier refused the address"));
    let events = env.events(id).await;
    let done = events
        .iter()
        .filter(|(k, _)| k == "compensation.completed")
        .count();
    assert_eq!(
        done, 2,
        "charge_card and reserve_stock compensated: {events:?}"
    );
    worker.shutdown().await.unwrap();
    env.done().await;
}
