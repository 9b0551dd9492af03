//! `seam migrate`: apply the engine's migrations (idempotent) and say what was applied.

use serde_json::json;

use super::Exit;
use crate::context::Ctx;
use crate::error::Result;
use crate::outln;

/// Applies pending migrations; prints each one applied, or that none was needed.
pub async fn run(ctx: &Ctx) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let applied = seam_engine::migrate(&pool).await?;
    let present = seam_engine::store::migrate::applied(&pool).await?;
    pool.close().await;
    if ctx.out.json {
        let applied: Vec<_> = applied
            .iter()
            .map(|m| json!({ "version": m.version, "name": m.name }))
            .collect();
        ctx.out
            .print_json(&json!({ "applied": applied, "versions": present }))?;
        return Ok(Exit::Ok);
    }
    for m in &applied {
        outln!("applied {:04} {}", m.version, m.name)?;
    }
    if applied.is_empty() {
        let latest = present.last().copied().unwrap_or(0);
        outln!(
            "up to date: {} migration(s) already applied (latest {latest:04})",
            present.len()
        )?;
    }
    Ok(Exit::Ok)
}
