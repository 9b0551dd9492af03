//! Workflow definitions in Rust: steps, handlers, transitions, retry policies.

mod context;
mod retry;
mod step;
mod transition;
mod wait;
mod workflow;

pub(crate) use context::SharedTx;
pub use context::{StepContext, TxGuard};
pub use retry::RetryPolicy;
pub use step::{
    BoxFuture, ChildFailure, ChildSpec, DEFAULT_TIMEOUT, OnExhausted, OnTimeout, Step, StepKind,
    StepSpec,
};
pub use transition::{ErrorClass, ResultExt, StepError, Transition};
pub use wait::{Signal, WaitDecision, WaitView};
pub use workflow::{DEFAULT_QUEUE, Workflow, WorkflowBuilder, pin};
