//! A workflow definition: a name, a version and an ordered list of named steps.

use std::collections::HashSet;
use std::sync::Arc;

use super::step::{OnTimeout, Step, StepKind, StepSpec};
use crate::error::{EngineError, Result};
use crate::machine::Def;

/// Queue used by steps that do not name one, unless the workflow sets another.
pub const DEFAULT_QUEUE: &str = "default";

/// A validated, immutable workflow definition. Cheap to clone.
#[derive(Clone)]
pub struct Workflow(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) steps: Vec<Step>,
    /// Name, version, pin and specs, built once: the state machine borrows it.
    pub(crate) def: Def,
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("name", &self.0.def.workflow)
            .field("version", &self.0.def.version)
            .field("steps", &self.0.def.specs)
            .finish()
    }
}

impl Workflow {
    /// Start a definition: `Workflow::builder("order", 1).step(..).step(..).build()?`.
    pub fn builder(name: &str, version: i32) -> WorkflowBuilder {
        WorkflowBuilder {
            name: name.to_string(),
            version,
            queue: DEFAULT_QUEUE.to_string(),
            steps: Vec::new(),
        }
    }
    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.0.def.workflow
    }
    /// The definition version runs are pinned to.
    pub fn version(&self) -> i32 {
        self.0.def.version
    }
    /// `name@version`: what jobs are pinned to.
    pub fn pin(&self) -> String {
        self.0.def.pin.clone()
    }
    /// The persisted step specs, in order.
    pub fn specs(&self) -> &[StepSpec] {
        &self.0.def.specs
    }
    /// Every queue a step of this workflow uses.
    pub fn queues(&self) -> Vec<String> {
        let mut qs: Vec<String> = self.0.def.specs.iter().map(|s| s.queue.clone()).collect();
        qs.sort();
        qs.dedup();
        qs
    }
    /// What the state machine needs of this workflow.
    pub(crate) fn def(&self) -> &Def {
        &self.0.def
    }
    pub(crate) fn step(&self, name: &str) -> Option<&Step> {
        self.0.steps.iter().find(|s| s.spec.name == name)
    }
}

/// `workflow@version`.
pub fn pin(workflow: &str, version: i32) -> String {
    format!("{workflow}@{version}")
}

/// Builds a [`Workflow`].
pub struct WorkflowBuilder {
    name: String,
    version: i32,
    queue: String,
    steps: Vec<Step>,
}

impl WorkflowBuilder {
    /// Default queue for steps that do not set one.
    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = queue.to_string();
        self
    }

    /// Append a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Validate and freeze the definition.
    pub fn build(self) -> Result<Workflow> {
        let bad = |msg: String| Err(EngineError::Definition(format!("{}: {msg}", self.name)));
        if self.name.trim().is_empty() || self.name.contains('@') {
            return bad("workflow name must be non-empty and must not contain '@'".into());
        }
        if self.version < 1 {
            return bad(format!("version must be >= 1, got {}", self.version));
        }
        if self.steps.is_empty() {
            return bad("a workflow needs at least one step".into());
        }
        let mut names = HashSet::new();
        for step in &self.steps {
            let name = &step.spec.name;
            if name.trim().is_empty() {
                return bad("step names must be non-empty".into());
            }
            if !names.insert(name.clone()) {
                return bad(format!("step '{name}' is defined twice"));
            }
            if let Err(e) = step.spec.retry.validate() {
                return bad(format!("step '{name}': {e}"));
            }
            if step.spec.timeout_ms == 0 {
                return bad(format!("step '{name}': timeout must be positive"));
            }
        }
        for step in &self.steps {
            if let StepKind::Wait {
                on_timeout: OnTimeout::Goto { step: target },
                ..
            } = &step.spec.kind
                && !names.contains(target)
            {
                return bad(format!(
                    "step '{}': on_timeout goes to unknown step '{target}'",
                    step.spec.name
                ));
            }
        }
        let steps: Vec<Step> = self
            .steps
            .into_iter()
            .map(|mut s| {
                if !s.queue_set {
                    s.spec.queue = self.queue.clone();
                }
                s
            })
            .collect();
        let def = Def {
            pin: pin(&self.name, self.version),
            workflow: self.name,
            version: self.version,
            specs: steps.iter().map(|s| s.spec.clone()).collect(),
        };
        Ok(Workflow(Arc::new(Inner { steps, def })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Step, Transition};

    fn noop(name: &str) -> Step {
        Step::task(name, |_| async { Transition::next(()) })
    }

    #[test]
    fn duplicate_step_names_are_refused() {
        let err = Workflow::builder("w", 1)
            .step(noop("a"))
            .step(noop("a"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("defined twice"), "{err}");
    }

    #[test]
    fn empty_and_unversioned_workflows_are_refused() {
        assert!(Workflow::builder("w", 1).build().is_err());
        assert!(Workflow::builder("w", 0).step(noop("a")).build().is_err());
        assert!(Workflow::builder("a@b", 1).step(noop("a")).build().is_err());
    }

    #[test]
    fn timeout_goto_must_name_a_step() {
        let err = Workflow::builder("w", 1)
            .step(Step::wait("w", "go").on_timeout(OnTimeout::Goto {
                step: "nope".into(),
            }))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("unknown step 'nope'"), "{err}");
    }

    #[test]
    fn steps_inherit_the_workflow_queue_unless_set() {
        let wf = Workflow::builder("w", 2)
            .queue("q1")
            .step(noop("a"))
            .step(noop("b").queue("q2"))
            .build()
            .unwrap();
        assert_eq!(wf.specs()[0].queue, "q1");
        assert_eq!(wf.specs()[1].queue, "q2");
        assert_eq!(wf.queues(), vec!["q1".to_string(), "q2".to_string()]);
        assert_eq!(wf.pin(), "w@2");
    }
}
