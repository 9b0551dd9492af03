//! `seam migrate` on an empty database, and commands on a database without the schema.

use seam_pgkit::TestDb;

use crate::common::{command, run};

#[tokio::test]
async fn migrate_applies_once_then_reports_up_to_date() {
    let db = TestDb::new().await.expect("empty database");
    let seam = |args: &'static [&'static str]| {
        let mut cmd = command(args);
        cmd.env("DATABASE_URL", db.url());
        run(cmd)
    };
    seam(&["runs", "list"])
        .await
        .code(1)
        .err_has("run `seam migrate`");
    seam(&["doctor"])
        .await
        .code(1)
        .out_has("run `seam migrate`");

    seam(&["migrate"])
        .await
        .ok()
        .out_has("applied 0001 0001_engine.sql");
    seam(&["migrate"]).await.ok().out_has("up to date");
    let json = seam(&["--json", "migrate"]).await;
    let v = json.ok().json();
    assert_eq!(v["applied"], serde_json::json!([]));
    assert_eq!(v["versions"], serde_json::json!([1]));

    seam(&["doctor"]).await.ok().out_has("healthy");
    db.drop_database().await;
}
