//! What one attempt asks of its connection's limits: the most tokens it can
//! use and the most it can cost. The prompt's upper bound plus the answer's
//! (`max_tokens`, else the model's maximum output from the plugin's table),
//! priced at the dearest input rate. A budgeted connection (or API token)
//! refuses a call it cannot bound or price rather than let it spend blind.

use super::prompt_size::PromptSize;
use super::route::ResolvedConnection;
use crate::error_class::ErrorClass;
use crate::limits::{Ask, LimitKey, Limits, Refusal};
use crate::money::nanos_ceil;
use crate::usage::Prices;

/// Answer tokens assumed for TPM when neither the node nor the model bounds
/// the answer (an unbudgeted connection; the real count replaces it after).
pub const UNBOUNDED_ANSWER_TOKENS: u64 = 4_096;

/// The worst case of one attempt of `model` through `route`, for a caller
/// whose token has `token_limits` (its budget must hold too).
pub fn ask(
    route: &ResolvedConnection,
    token_limits: Option<(&LimitKey, &Limits)>,
    model: &str,
    prompt: PromptSize,
    max_tokens: Option<u32>,
    prices: Option<&Prices>,
) -> Result<Ask, Refusal> {
    let provider = &route.connection.provider;
    let info = route.plugin.model(model);
    let answer = max_tokens.or_else(|| info.and_then(|m| m.max_output_tokens)).map(u64::from);
    // Whose budget needs the worst case priced: the connection's, else the token's.
    let budgeted = match route.connection.limits.daily_budget_usd {
        Some(_) => Some(&route.key),
        None => token_limits.filter(|(_, l)| l.daily_budget_usd.is_some()).map(|(k, _)| k),
    };
    let refuse = |message: String| Refusal { message, retry_after: None, class: ErrorClass::QuotaExceeded };
    let prices = match (prices, budgeted) {
        (Some(p), _) => p,
        (None, Some(budgeted)) => {
            return Err(refuse(format!(
                "{budgeted} has a daily budget, but model `{model}` has no price, so the budget \
                 cannot hold; price it with `llmnode prices set --provider {provider} --model {model} \
                 --input USD_PER_MTOK --output USD_PER_MTOK`"
            )));
        }
        (None, None) => {
            return Ok(Ask { tokens: prompt.max_tokens() + answer.unwrap_or(UNBOUNDED_ANSWER_TOKENS), cost: 0 });
        }
    };
    let answer = match (answer, budgeted) {
        (Some(n), _) => n,
        (None, Some(budgeted)) => {
            return Err(refuse(format!(
                "{budgeted} has a daily budget, but nothing bounds the answer of model `{model}` \
                 (the plugin lists no maximum output for it): set `max_tokens` on the node"
            )));
        }
        (None, None) => UNBOUNDED_ANSWER_TOKENS,
    };
    let input = prompt.max_tokens();
    let cost = if budgeted.is_some() {
        nanos_ceil((input as f64 * prices.dearest_input() + answer as f64 * prices.dearest_output()) / 1_000_000.0)
    } else {
        0
    };
    Ok(Ask { tokens: input + answer, cost })
}
