//! Steps: their persisted spec (kind, queue, retry, timeout, compensation) and their builders.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::context::StepContext;
use super::retry::RetryPolicy;
use super::transition::{StepError, Transition};
use super::wait::{Signal, WaitDecision, WaitView};
use super::workflow::Workflow;

/// A boxed, sendable future, as handlers return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type TaskFn =
    Arc<dyn Fn(StepContext) -> BoxFuture<Result<Transition, StepError>> + Send + Sync>;
pub(crate) type CompensateFn =
    Arc<dyn Fn(StepContext) -> BoxFuture<Result<(), StepError>> + Send + Sync>;
pub(crate) type ChildrenFn =
    Arc<dyn Fn(StepContext) -> BoxFuture<Result<Vec<ChildSpec>, StepError>> + Send + Sync>;
pub(crate) type WaitFn = Arc<dyn Fn(&WaitView, &Signal) -> WaitDecision + Send + Sync>;

/// Default per-attempt timeout of a step.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What happens when a wait's deadline passes before a signal completes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OnTimeout {
    /// Fail the step; compensations run.
    Fail,
    /// Go to the named step (a new iteration).
    Goto {
        /// Target step.
        step: String,
    },
    /// Complete the wait with this output and continue.
    Continue {
        /// The wait's output.
        output: Value,
    },
}

/// What happens when a step's attempts are exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// Compensate the succeeded steps and end the run `failed` (the saga default).
    #[default]
    Compensate,
    /// Keep the run where it is with the job dead, for an operator to retry, skip or cancel.
    Park,
}

/// What a failed child does to its parent's children step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildFailure {
    /// The children step fails (fatally): the parent compensates.
    #[default]
    FailParent,
    /// The step completes anyway; its output lists each child's status.
    Continue,
}

/// The kind of a step, with what the engine needs to drive it without the handler code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// A handler run by a worker.
    Task,
    /// Completed from outside by a named signal, or by its deadline.
    Wait {
        /// Signal name this wait consumes.
        signal: String,
        /// How long to wait, in milliseconds; none waits forever.
        deadline_ms: Option<u64>,
        /// What the deadline does.
        on_timeout: OnTimeout,
    },
    /// A durable timer.
    Sleep {
        /// How long, in milliseconds.
        duration_ms: u64,
    },
    /// Starts child runs and waits for all of them.
    Children {
        /// What a failed child does.
        on_child_failure: ChildFailure,
    },
}

/// Everything about a step except its code: stored in `seam.definitions` so operators' tools
/// can drive any run without linking the workflow's handlers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    /// Unique within the workflow.
    pub name: String,
    /// Task, wait, sleep or children.
    #[serde(flatten)]
    pub kind: StepKind,
    /// Queue its jobs go to (workers serve queues).
    pub queue: String,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// Per-attempt timeout in milliseconds.
    pub timeout_ms: u64,
    /// True when the step has a compensation.
    pub has_compensation: bool,
    /// True when the handler takes the completion's transaction.
    pub transactional: bool,
    /// What exhausting its attempts does.
    pub on_exhausted: OnExhausted,
}

/// A child run a children step starts.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) workflow: Workflow,
    pub(crate) input: Value,
}

impl ChildSpec {
    /// A child run of `workflow` with this input.
    pub fn new(workflow: &Workflow, input: impl Serialize) -> Result<Self, StepError> {
        let input = serde_json::to_value(input)
            .map_err(|e| StepError::fatal(format!("child input is not JSON: {e}")))?;
        Ok(ChildSpec {
            workflow: workflow.clone(),
            input,
        })
    }
}

/// A step with its handlers: build one with [`Step::task`], [`Step::wait`], [`Step::sleep`] or
/// [`Step::children`], then refine it with the chained setters.
#[derive(Clone)]
pub struct Step {
    pub(crate) spec: StepSpec,
    pub(crate) queue_set: bool,
    pub(crate) task: Option<TaskFn>,
    pub(crate) children: Option<ChildrenFn>,
    pub(crate) wait: Option<WaitFn>,
    pub(crate) compensate: Option<CompensateFn>,
}

impl Step {
    fn new(name: &str, kind: StepKind) -> Self {
        Step {
            spec: StepSpec {
                name: name.to_string(),
                kind,
                queue: String::new(),
                retry: RetryPolicy::default(),
                timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64,
                has_compensation: false,
                transactional: false,
                on_exhausted: OnExhausted::Compensate,
            },
            queue_set: false,
            task: None,
            children: None,
            wait: None,
            compensate: None,
        }
    }

    /// A task step: `handler` runs on a worker and returns a [`Transition`].
    pub fn task<F, Fut>(name: &str, handler: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Transition, StepError>> + Send + 'static,
    {
        let mut step = Step::new(name, StepKind::Task);
        step.task = Some(Arc::new(move |ctx| Box::pin(handler(ctx))));
        step
    }

    /// A wait step completed by the signal `signal`. By default the first signal completes it
    /// with the signal's payload as output; see [`Step::on_signal`].
    pub fn wait(name: &str, signal: &str) -> Self {
        Step::new(
            name,
            StepKind::Wait {
                signal: signal.to_string(),
                deadline_ms: None,
                on_timeout: OnTimeout::Fail,
            },
        )
    }

    /// A durable timer of `duration`.
    pub fn sleep(name: &str, duration: Duration) -> Self {
        Step::new(
            name,
            StepKind::Sleep {
                duration_ms: duration.as_millis() as u64,
            },
        )
    }

    /// A children step: `spawn` returns the child runs to start; the step waits for all of
    /// them and outputs a JSON array of `{run_id, workflow, status, output, error}`.
    pub fn children<F, Fut>(name: &str, spawn: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ChildSpec>, StepError>> + Send + 'static,
    {
        let mut step = Step::new(
            name,
            StepKind::Children {
                on_child_failure: ChildFailure::FailParent,
            },
        );
        step.children = Some(Arc::new(move |ctx| Box::pin(spawn(ctx))));
        step
    }

    /// The queue this step's jobs go to (default: the workflow's queue).
    pub fn queue(mut self, queue: &str) -> Self {
        self.spec.queue = queue.to_string();
        self.queue_set = true;
        self
    }

    /// Attempts and backoff.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.spec.retry = policy;
        self
    }

    /// Per-attempt timeout: an attempt running longer is abandoned and counts as failed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.spec.timeout_ms = timeout.as_millis() as u64;
        self
    }

    /// The compensation that undoes this step when a later step fails or the run is
    /// cancelled. It receives this step's output as its input, runs as its own retried job.
    pub fn compensate<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        self.compensate = Some(Arc::new(move |ctx| Box::pin(handler(ctx))));
        self.spec.has_compensation = true;
        self
    }

    /// The handler (and compensation) get the transaction in which the completion commits,
    /// through [`StepContext::tx`]: their database writes happen exactly once.
    pub fn transactional(mut self) -> Self {
        self.spec.transactional = true;
        self
    }

    /// What exhausting the attempts does (default: compensate).
    pub fn on_exhausted(mut self, action: OnExhausted) -> Self {
        self.spec.on_exhausted = action;
        self
    }

    /// For a wait: give up after `deadline`, then do what [`Step::on_timeout`] says.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        if let StepKind::Wait { deadline_ms, .. } = &mut self.spec.kind {
            *deadline_ms = Some(deadline.as_millis() as u64);
        }
        self
    }

    /// For a wait: what its deadline does (default: fail and compensate).
    pub fn on_timeout(mut self, action: OnTimeout) -> Self {
        if let StepKind::Wait { on_timeout, .. } = &mut self.spec.kind {
            *on_timeout = action;
        }
        self
    }

    /// For a wait: decide on each signal whether the wait is over. The handler sees every
    /// signal received so far by this wait, the newest last.
    pub fn on_signal<F>(mut self, handler: F) -> Self
    where
        F: Fn(&WaitView, &Signal) -> WaitDecision + Send + Sync + 'static,
    {
        self.wait = Some(Arc::new(handler));
        self
    }

    /// For a children step: what a failed child does (default: fail the parent).
    pub fn on_child_failure(mut self, action: ChildFailure) -> Self {
        if let StepKind::Children { on_child_failure } = &mut self.spec.kind {
            *on_child_failure = action;
        }
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The persisted part of the step.
    pub fn spec(&self) -> &StepSpec {
        &self.spec
    }
}
