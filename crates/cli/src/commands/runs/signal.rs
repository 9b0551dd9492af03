//! `seam runs signal RUN NAME [--payload JSON] [--reason TEXT]`: send a signal as the operator.

use serde_json::json;

use crate::args::runs::SignalArgs;
use crate::commands::Exit;
use crate::context::Ctx;
use crate::error::Result;
use crate::outln;

/// Sends the signal; prints its id.
pub async fn run(ctx: &Ctx, args: SignalArgs) -> Result<Exit> {
    let pool = ctx.connect().await?;
    let id = ctx.resolve(&pool, &args.run).await?;
    let op = ctx.operator(&pool);
    let signal = op
        .signal(id, &args.name, args.payload.clone(), args.reason.as_deref())
        .await?;
    pool.close().await;
    if ctx.out.json {
        ctx.out.print_json(&json!({
            "run_id": id,
            "signal": args.name,
            "signal_id": signal,
            "sent_by": op.actor(),
        }))?;
    } else {
        outln!(
            "sent signal '{}' (#{signal}) to run {id} as {}",
            args.name,
            op.actor()
        )?;
        eprintln!("follow it with: seam runs watch {id}");
    }
    Ok(Exit::Ok)
}
