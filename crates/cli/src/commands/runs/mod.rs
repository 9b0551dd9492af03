//! `seam runs ...`: start, list, show, history, watch, and the repairs.

mod explain;
mod history;
mod list;
mod repair;
mod select;
mod show;
mod signal;
mod start;
mod watch;

pub use list::print_runs;

use repair::Action;

use super::Exit;
use crate::args::RunsCommand;
use crate::context::Ctx;
use crate::error::Result;

/// Runs one `seam runs` subcommand.
pub async fn run(ctx: &Ctx, command: RunsCommand) -> Result<Exit> {
    use RunsCommand as C;
    match command {
        C::Start(a) => start::run(ctx, a).await,
        C::List(a) => list::run(ctx, a).await,
        C::Show(a) => show::run(ctx, a).await,
        C::History(a) => history::run(ctx, a).await,
        C::Watch(a) => watch::run(ctx, a).await,
        C::Signal(a) => signal::run(ctx, a).await,
        C::Retry(a) => repair::run(ctx, &a.target, Action::Retry, None).await,
        C::Skip(a) => {
            let action = Action::Skip {
                step: a.step,
                output: a.output,
            };
            repair::run(ctx, &a.target, action, Some(&a.confirm)).await
        }
        C::CompleteWait(a) => {
            let action = Action::CompleteWait { output: a.output };
            repair::run(ctx, &a.target, action, None).await
        }
        C::FailWait(a) => repair::run(ctx, &a.target, Action::FailWait, Some(&a.confirm)).await,
        C::Rewind(a) => {
            let action = Action::Rewind { to: a.to };
            repair::run(ctx, &a.target, action, Some(&a.confirm)).await
        }
        C::Pause(a) => repair::run(ctx, &a.target, Action::Pause, None).await,
        C::Resume(a) => repair::run(ctx, &a.target, Action::Resume, None).await,
        C::Cancel(a) => {
            let action = Action::Cancel {
                compensate: !a.no_compensate,
            };
            repair::run(ctx, &a.target, action, Some(&a.confirm)).await
        }
    }
}
