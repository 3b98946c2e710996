//! How big a prompt is, measured once per node without a tokenizer: a lower
//! bound (to skip a model only when the prompt certainly cannot fit) and an
//! upper bound (to reserve budget a call can never exceed).

use crate::runtime::bindings::types;

/// Tokens an image may cost at most (a high-detail image at the largest size
/// the major providers accept is well under this).
const IMAGE_TOKENS_MAX: u64 = 2_000;

/// A prompt's size in bytes of text and images.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptSize {
    text_bytes: u64,
    images: u64,
}

impl PromptSize {
    /// Measure every message of `request`.
    pub fn of(request: &types::ChatRequest) -> Self {
        let mut size = PromptSize::default();
        for part in request.messages.iter().flat_map(|m| m.content.iter()) {
            match part {
                types::ContentPart::Text(t) => size.text_bytes += t.len() as u64,
                types::ContentPart::Image(_) => size.images += 1,
            }
        }
        size
    }

    /// Fewest tokens the prompt can be: a token rarely covers more than 4 bytes.
    pub fn min_tokens(self) -> u64 {
        self.text_bytes / 4
    }

    /// Most tokens the prompt can be: a token covers at least one byte.
    pub fn max_tokens(self) -> u64 {
        self.text_bytes + self.images * IMAGE_TOKENS_MAX
    }
}
