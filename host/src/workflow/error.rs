//! The errors a workflow can be rejected with, shaped so a user can fix every
//! problem in one edit instead of one per run.

use std::fmt;

/// One problem in a workflow file, located by its JSON path (`$.nodes[1].config.temperature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where the problem is, as a JSONPath-like string starting at `$`.
    pub path: String,
    /// What is wrong there, in words a workflow author understands.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// One problem with the inputs given for a run (not with the workflow file itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputIssue {
    /// The input's name, as given or declared.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for InputIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input \"{}\": {}", self.name, self.message)
    }
}

/// Why a workflow could not be loaded, or a run's inputs not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The text is not JSON at all; the position is the only useful locator.
    #[error("workflow is not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        /// 1-based line of the offending character.
        line: usize,
        /// 1-based column of the offending character.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// The JSON does not describe a valid workflow; every problem found, one per line.
    #[error("{}", Lines(.0))]
    Invalid(Vec<Issue>),
    /// The run's inputs do not fit the workflow's declarations; every problem found.
    #[error("{}", Lines(.0))]
    Inputs(Vec<InputIssue>),
}

impl WorkflowError {
    /// The located issues, when the error has any (empty for syntax and input errors).
    pub fn issues(&self) -> &[Issue] {
        match self {
            WorkflowError::Invalid(issues) => issues,
            _ => &[],
        }
    }
}

/// Displays a list one item per line, without building an intermediate string.
struct Lines<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for Lines<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_displays_one_issue_per_line() {
        let err = WorkflowError::Invalid(vec![
            Issue { path: "$.name".into(), message: "must not be empty".into() },
            Issue { path: "$.nodes[0].id".into(), message: "duplicate id".into() },
        ]);
        assert_eq!(err.to_string(), "$.name: must not be empty\n$.nodes[0].id: duplicate id");
        assert_eq!(err.issues().len(), 2);
    }

    #[test]
    fn inputs_and_syntax_display() {
        let err = WorkflowError::Inputs(vec![InputIssue { name: "n".into(), message: "is required".into() }]);
        assert_eq!(err.to_string(), "input \"n\": is required");
        assert!(err.issues().is_empty());
        let err = WorkflowError::Syntax { line: 3, column: 7, message: "expected `,`".into() };
        assert_eq!(err.to_string(), "workflow is not valid JSON (line 3, column 7): expected `,`");
    }
}
