//! Semantic validation errors: what the schema cannot say, with the field path to fix.
//!
//! Why it exists: the CRD schema checks types, enums and ranges (and, on a real API server, a
//! few CEL rules), but rules such as "a COMMAND health check needs a command" or "cmd and args
//! exclude each other" are checked by the pure `validate()` functions of the kinds. Controllers
//! call them before acting and report the result in an `InvalidSpec` condition, so a user sees
//! the field path and what to change rather than a task that never starts.

use std::fmt;

/// One problem with one field of a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field from the object's root, e.g. `spec.healthChecks[0].command`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A spec that cannot be acted upon: every problem found, in field order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidSpec(pub Vec<FieldError>);

/// Collects [`FieldError`]s while a validator walks a spec.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn into_result(self) -> Result<(), InvalidSpec> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(InvalidSpec(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_every_problem_with_its_path() {
        let mut errs = Errors::default();
        assert!(Errors::default().into_result().is_ok());
        errs.push("spec.cmd", "set cmd or args, not both");
        errs.push("spec.instances", "too many");
        let err = errs.into_result().unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.cmd: set cmd or args, not both; spec.instances: too many"
        );
    }
}
