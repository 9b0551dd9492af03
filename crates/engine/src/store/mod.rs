//! All engine SQL, one module per table. Functions take a `&mut PgConnection` (usually a
//! transaction) and are named noun-then-verb: `jobs::claim`, `runs::save`.

pub mod definitions;
pub mod events;
pub mod executions;
pub mod inspect;
pub mod jobs;
pub mod migrate;
pub mod runs;
pub mod signals;
pub mod workers;

/// The channel workers LISTEN on; the payload is the queue name of a job ready now.
pub const JOBS_CHANNEL: &str = "seam_jobs";
