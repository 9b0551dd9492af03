//! What a handler returns: the next move of the run, or a classified error.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The outcome of a successful step: where the run goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Record `output` and go to the next step (or complete the run after the last one).
    Next(Value),
    /// Record `output` and jump to the named step, starting a new iteration (loops, redo).
    Goto {
        /// Target step name.
        step: String,
        /// This step's output.
        output: Value,
    },
    /// Complete the whole run now with this output.
    Complete(Value),
    /// Fail the run without retrying: compensations of succeeded steps run.
    Fail(String),
}

impl Transition {
    /// Go on to the next step with this output.
    pub fn next(output: impl Serialize) -> Result<Self, StepError> {
        Ok(Transition::Next(to_value(output)?))
    }
    /// Jump to `step` (a new iteration) with this output.
    pub fn goto(step: impl Into<String>, output: impl Serialize) -> Result<Self, StepError> {
        Ok(Transition::Goto {
            step: step.into(),
            output: to_value(output)?,
        })
    }
    /// Complete the run with this output.
    pub fn complete(output: impl Serialize) -> Result<Self, StepError> {
        Ok(Transition::Complete(to_value(output)?))
    }
    /// Fail the run (no retries) and compensate.
    pub fn fail(reason: impl Into<String>) -> Result<Self, StepError> {
        Ok(Transition::Fail(reason.into()))
    }
}

fn to_value(v: impl Serialize) -> Result<Value, StepError> {
    serde_json::to_value(v).map_err(|e| StepError::fatal(format!("output is not JSON: {e}")))
}

/// Whether a failed attempt may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again after backoff, while attempts remain.
    Retryable,
    /// Do not retry: compensate now.
    Fatal,
}

/// A step failure, classified where it happens.
///
/// Any `std::error::Error` converts into a *retryable* `StepError` with `?`; use
/// [`StepError::fatal`] or [`ResultExt::fatal`] for failures retrying cannot fix.
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    /// Retryable or fatal.
    pub class: ErrorClass,
    /// Human-readable cause, stored in the step execution and history.
    pub message: String,
}

impl StepError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        StepError {
            class: ErrorClass::Retryable,
            message: message.into(),
        }
    }
    /// A failure retrying cannot fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        StepError {
            class: ErrorClass::Fatal,
            message: message.into(),
        }
    }
    /// True when the error may be retried.
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for StepError {
    fn from(e: E) -> Self {
        StepError::retryable(e.to_string())
    }
}

/// Classify the error of any `Result` on the spot: `call().await.fatal()?`.
pub trait ResultExt<T> {
    /// Turn an error into a fatal step error.
    fn fatal(self) -> Result<T, StepError>;
    /// Turn an error into a retryable step error.
    fn retryable(self) -> Result<T, StepError>;
}

impl<T, E: fmt::Display> ResultExt<T> for Result<T, E> {
    fn fatal(self) -> Result<T, StepError> {
        self.map_err(|e| StepError::fatal(e.to_string()))
    }
    fn retryable(self) -> Result<T, StepError> {
        self.map_err(|e| StepError::retryable(e.to_string()))
    }
}
