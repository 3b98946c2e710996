//! Target for the workflow parser and validator: any text is either a
//! workflow whose plan covers every node, or an error that says where.

use crate::workflow::{Workflow, WorkflowError};

/// Parse and validate `data`; plan what validates.
pub fn workflow(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Workflow::parse(text) {
        Ok(wf) => {
            let plan = wf.plan();
            let mut order = plan.order.clone();
            order.sort_unstable();
            assert!(order.iter().copied().eq(0..wf.nodes.len()), "the plan does not run every node exactly once");
            let _ = wf.resolve_input_values(serde_json::Map::new());
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            if let WorkflowError::Invalid(_) = &e {
                assert!(!e.issues().is_empty(), "an invalid workflow with no issue named");
            }
        }
    }
}
