//! The engine's error type.

use crate::ids::RunId;
use crate::state::RunStatus;

/// Result alias for engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A state name read from the database that this build does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {kind} '{value}'")]
pub struct UnknownState {
    /// Which enum was being parsed.
    pub kind: &'static str,
    /// The text that did not parse.
    pub value: String,
}

/// Everything that can go wrong in the engine's library API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A workflow definition is invalid.
    #[error("invalid workflow definition: {0}")]
    Definition(String),
    /// No run has this id.
    #[error("run {0} not found")]
    RunNotFound(RunId),
    /// The workflow or version is not registered anywhere.
    #[error("workflow {workflow} version {version} is not registered")]
    UnknownWorkflow {
        /// Workflow name.
        workflow: String,
        /// Definition version.
        version: i32,
    },
    /// The named step does not exist in the run's workflow.
    #[error("workflow {workflow} has no step '{step}'")]
    UnknownStep {
        /// Workflow name.
        workflow: String,
        /// The step asked for.
        step: String,
    },
    /// An operator action is not allowed in the run's current state.
    #[error("cannot {action} run {run} while it is {status}: {hint}")]
    NotAllowed {
        /// The action refused.
        action: &'static str,
        /// The run.
        run: RunId,
        /// Its status at the time.
        status: RunStatus,
        /// What the operator can do instead.
        hint: String,
    },
    /// The worker's lease on a job was lost; its result was not committed.
    #[error("lease on job {0} was lost; the result was discarded")]
    LeaseLost(i64),
    /// JSON (de)serialisation of inputs or outputs failed.
    #[error("json error: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value is not one this build understands.
    #[error(transparent)]
    UnknownState(#[from] UnknownState),
    /// A caller passed a value out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A migration's SQL differs from the version the database applied.
    #[error(
        "migration {version} ({name}) was changed after this database applied it; \
         restore the original file, or recreate the database (pre-release schemas are not upgraded)"
    )]
    MigrationChanged {
        /// Migration number.
        version: i32,
        /// File name.
        name: &'static str,
    },
    /// A migration failed.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// Migration number.
        version: i32,
        /// File name.
        name: &'static str,
        /// The database error.
        source: sqlx::Error,
    },
}
