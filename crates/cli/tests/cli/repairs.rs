//! The repairs one by one: pause/resume, complete-wait, fail-wait, skip, cancel
//! --no-compensate, refusals, actors and confirmation.

use seam_engine::RunStatus;

use crate::common::setup;

fn has(events: &[(String, String)], kind: &str, actor: &str) -> bool {
    events.iter().any(|(k, a)| k == kind && a == actor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_are_recorded_with_the_actor() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    let run = id.to_string();
    env.seam(&[
        "runs", "pause", &run, "--reason", "audit", "--actor", "alice",
    ])
    .await
    .ok()
    .out_has("pause ok")
    .out_has("waiting -> paused");
    assert_eq!(env.run_row(id).await.status, RunStatus::Paused);
    env.seam(&["runs", "show", &run])
        .await
        .ok()
        .out_has("paused (from waiting)")
        .out_has("paused by operator:alice")
        .out_has(&format!("seam runs resume {run}"));
    env.seam(&["runs", "pause", &run, "--reason", "again"])
        .await
        .code(1)
        .err_has("cannot pause run")
        .err_has("already paused");
    env.seam(&["runs", "resume", &run, "--reason", "audit done"])
        .await
        .ok();
    assert_eq!(env.run_row(id).await.status, RunStatus::Waiting);
    let events = env.events(id).await;
    assert!(
        has(&events, "operator.pause", "operator:alice"),
        "{events:?}"
    );
    assert!(
        has(&events, "operator.resume", "operator:tester"),
        "{events:?}"
    );
    let history = env.seam(&["runs", "history", &run]).await;
    history
        .ok()
        .out_has("operator.pause")
        .out_has("audit")
        .out_has("operator:alice");
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_wait_ends_the_wait_with_an_output() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    env.seam(&[
        "runs",
        "complete-wait",
        &id.to_string(),
        "--output",
        r#"{"by":"phone"}"#,
        "--reason",
        "approved by phone",
    ])
    .await
    .ok();
    let row = env.wait_status(id, RunStatus::Completed).await;
    assert_eq!(row.output.unwrap()["approval"]["by"], "phone");
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_wait_needs_yes_without_a_terminal_then_compensates() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    let run = id.to_string();
    env.seam(&["runs", "fail-wait", &run, "--reason", "declined"])
        .await
        .code(1)
        .err_has("--yes");
    assert_eq!(env.run_row(id).await.status, RunStatus::Waiting);
    env.seam(&["runs", "fail-wait", &run, "--reason", "declined", "--yes"])
        .await
        .ok();
    let row = env.wait_status(id, RunStatus::Failed).await;
    assert!(row.error.unwrap().contains("declined"));
    let events = env.events(id).await;
    assert!(
        events.iter().any(|(k, _)| k == "compensation.completed"),
        "{events:?}"
    );
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_moves_a_parked_step_on_with_the_given_output() {
    let env = setup().await;
    let worker = env.worker();
    let id = env
        .start("flaky-import", r#"{"feed":"stock","broken":true}"#)
        .await;
    env.wait_dead_job(id).await;
    let run = id.to_string();
    env.seam(&[
        "runs", "skip", &run, "--step", "fetch", "--output", "{}", "--reason", "x", "--yes",
    ])
    .await
    .code(1)
    .err_has("the run is at step 'import', not 'fetch'");
    env.seam(&[
        "runs",
        "skip",
        &run,
        "--step",
        "import",
        "--output",
        r#"{"imported":7}"#,
        "--reason",
        "loaded by hand",
        "--yes",
    ])
    .await
    .ok();
    let row = env.wait_status(id, RunStatus::Completed).await;
    assert_eq!(row.output.unwrap()["imported"], 7);
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_actions_exit_1_with_the_engines_hint() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("hello-order", "{}").await;
    env.wait_status(id, RunStatus::Completed).await;
    let run = id.to_string();
    env.seam(&["runs", "retry", &run, "--reason", "x"])
        .await
        .code(1)
        .err_has("cannot retry run")
        .err_has("rewind it to a step instead");
    env.seam(&["runs", "resume", &run, "--reason", "x"])
        .await
        .code(1)
        .err_has("only a paused run can be resumed");
    env.seam(&[
        "runs", "rewind", &run, "--to", "nope", "--reason", "x", "--yes",
    ])
    .await
    .code(1)
    .err_has("has no step 'nope'");
    env.seam(&["runs", "signal", &run, "approve"])
        .await
        .code(1)
        .err_has("the run has ended");
    worker.shutdown().await.unwrap();
    env.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_without_compensation_ends_the_run_at_once() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    let out = env
        .seam(&[
            "--json",
            "runs",
            "cancel",
            &id.to_string(),
            "--no-compensate",
            "--reason",
            "test data",
            "--yes",
        ])
        .await;
    let v = out.ok().json();
    assert_eq!(v["runs"][0]["after"], "cancelled");
    assert_eq!(v["actor"], "operator:tester");
    let events = env.events(id).await;
    assert!(
        !events.iter().any(|(k, _)| k.starts_with("compensation.")),
        "{events:?}"
    );
    assert!(has(&events, "operator.cancel", "operator:tester"));
    worker.shutdown().await.unwrap();
    env.done().await;
}

/// Runs `seam ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
async fn on_a_terminal(
    env: &crate::common::Env,
    args: &[&str],
    input: &str,
    color: bool,
) -> crate::common::Out {
    use tokio::io::AsyncWriteExt;
    let line = std::iter::once(crate::common::SEAM)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = tokio::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("DATABASE_URL", env.db.url())
        .env("SEAM_ACTOR", "tester")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if color {
        cmd.env_remove("NO_COLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    let mut child = cmd.spawn().expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    drop(stdin);
    crate::common::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_is_asked_to_confirm_and_gets_colours() {
    let env = setup().await;
    let worker = env.worker();
    let id = env.start("approval", "{}").await;
    env.wait_status(id, RunStatus::Waiting).await;
    let run = id.to_string();
    let no = on_a_terminal(
        &env,
        &["runs", "cancel", &run, "--reason", "typo"],
        "n\n",
        false,
    )
    .await;
    no.code(1)
        .out_has("[y/N]")
        .out_has("aborted: nothing changed");
    assert_eq!(env.run_row(id).await.status, RunStatus::Waiting);
    let yes = on_a_terminal(
        &env,
        &["runs", "cancel", &run, "--reason", "withdrawn"],
        "y\n",
        false,
    )
    .await;
    yes.ok().out_has("cancel ok");
    env.wait_status(id, RunStatus::Cancelled).await;

    let colored = on_a_terminal(&env, &["runs", "list"], "", true).await;
    colored.ok().out_has("\x1b[");
    let mut piped = env.command(&["runs", "list"]);
    piped.env_remove("NO_COLOR");
    let plain = crate::common::run(piped).await;
    assert!(
        !plain.ok().stdout.contains('\x1b'),
        "no colours into a pipe"
    );
    worker.shutdown().await.unwrap();
    env.done().await;
}
