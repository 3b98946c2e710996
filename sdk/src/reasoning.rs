//! A chat request's `reasoning` in the two shapes providers take: a token
//! budget (Anthropic, Gemini, Qwen) or an effort (OpenAI). Each plugin maps
//! the one it is given to the one its provider takes with these, so every
//! plugin reads an effort as the same budget.

use crate::{Reasoning, ReasoningEffort};

/// The budget an effort stands for: Anthropic's minimum (1024) for `low`,
/// then 4× and 16× that.
pub fn budget_for(effort: ReasoningEffort) -> u32 {
    match effort {
        ReasoningEffort::Low => 1024,
        ReasoningEffort::Medium => 4096,
        ReasoningEffort::High => 16384,
    }
}

/// The effort a budget stands for: the largest whose budget it reaches
/// (`low` below that of `medium`).
pub fn effort_for(budget: u32) -> ReasoningEffort {
    match budget {
        b if b >= budget_for(ReasoningEffort::High) => ReasoningEffort::High,
        b if b >= budget_for(ReasoningEffort::Medium) => ReasoningEffort::Medium,
        _ => ReasoningEffort::Low,
    }
}

/// The budget `reasoning` asks for.
pub fn budget(reasoning: Reasoning) -> u32 {
    match reasoning {
        Reasoning::Effort(e) => budget_for(e),
        Reasoning::BudgetTokens(n) => n,
    }
}

/// The effort `reasoning` asks for, by its wire name (`low`, `medium`, `high`).
pub fn effort(reasoning: Reasoning) -> &'static str {
    let effort = match reasoning {
        Reasoning::Effort(e) => e,
        Reasoning::BudgetTokens(n) => effort_for(n),
    };
    match effort {
        ReasoningEffort::Low => "low",
        ReasoningEffort::Medium => "medium",
        ReasoningEffort::High => "high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efforts_and_budgets_map_both_ways() {
        for e in [ReasoningEffort::Low, ReasoningEffort::Medium, ReasoningEffort::High] {
            assert_eq!(effort_for(budget_for(e)), e);
        }
        assert_eq!(effort(Reasoning::BudgetTokens(10)), "low");
        assert_eq!(effort(Reasoning::BudgetTokens(5000)), "medium");
        assert_eq!(budget(Reasoning::Effort(ReasoningEffort::High)), 16384);
        assert_eq!(budget(Reasoning::BudgetTokens(2000)), 2000);
    }
}
