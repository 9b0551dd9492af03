//! `seam demo` and `seam dev --reset` on a fresh machine: no DATABASE_URL, so they start
//! their own PostgreSQL under ./.seam/pg (here: in a scratch directory).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{Running, command, run};

/// A scratch working directory, removed (with any relocated cluster) at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "seam-cli-local-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let pointer = self.0.join(".seam/pg/seam-cluster-location");
        if let Ok(real) = std::fs::read_to_string(&pointer) {
            let _ = std::fs::remove_dir_all(real.trim());
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn local(dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = command(args);
    cmd.env_remove("DATABASE_URL")
        .env("RUST_LOG", "off")
        .current_dir(dir);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_and_dev_run_on_a_fresh_machine_without_database_url() {
    let scratch = Scratch::new();
    let out = run(local(&scratch.0, &["demo"])).await;
    out.ok()
        .err_has("starting PostgreSQL in")
        .err_has("All demo runs settled")
        .out_has("hello-order@1")
        .out_has("failed")
        .out_has("approval@1")
        .out_has("fanout@1");
    assert_eq!(out.stdout.matches("completed").count(), 3, "{}", out.stdout);
    assert!(scratch.0.join(".seam/pg").exists());

    // `seam dev --reset` wipes that cluster, starts a fresh one, and stops it on Ctrl-C.
    let mut dev = Running::spawn(local(
        &scratch.0,
        &["dev", "--reset", "--poll-interval", "50ms"],
    ));
    dev.wait_line("Ctrl-C stops everything.", Duration::from_secs(60))
        .await;
    let shown = dev.seen.join("\n");
    assert!(shown.contains("local cluster in"), "{shown}");
    assert!(
        shown.contains("applied 0001_engine.sql"),
        "a fresh cluster is migrated: {shown}"
    );
    let url = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("export DATABASE_URL='"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("export line")
        .to_string();
    let mut list = command(&["--json", "runs", "list"]);
    list.env("DATABASE_URL", &url);
    let listed = run(list).await;
    assert_eq!(
        listed.ok().json(),
        serde_json::json!([]),
        "the reset wiped the demo runs"
    );
    let out = dev.interrupt().await;
    out.ok()
        .err_has("reset: removed")
        .err_has("PostgreSQL stopped");
}
