//! Signals and the decisions a wait step makes on them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A named message sent to a run, stored when it arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Order of arrival.
    pub id: i64,
    /// Signal name.
    pub name: String,
    /// What was sent.
    pub payload: Value,
    /// Who sent it.
    pub sent_by: String,
    /// When it arrived.
    pub created_at: DateTime<Utc>,
}

/// What a wait handler can see when it decides.
#[derive(Debug, Clone)]
pub struct WaitView {
    /// The run's input.
    pub run_input: Value,
    /// Outputs of the steps completed so far, by step name.
    pub outputs: Value,
    /// Every signal this wait has received, in order, the one being decided on last.
    pub received: Vec<Signal>,
}

/// A wait handler's verdict on one signal.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitDecision {
    /// The wait is over: continue with this output.
    Complete(Value),
    /// Not yet: keep waiting for more signals (or the deadline).
    KeepWaiting,
    /// Jump to the named step (a new iteration) with this output.
    Goto {
        /// Target step.
        step: String,
        /// The wait's output.
        output: Value,
    },
    /// Fail the run and compensate.
    Fail(String),
}
