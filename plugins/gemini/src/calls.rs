//! Tool call ids. Gemini matches a function response to its call by name and
//! usually sends no call id, while the contract needs one; and Gemini 3 wants
//! the call's `thoughtSignature` back with the call, a field the contract does
//! not have. So the id this plugin hands out is Gemini's own id (or a stable
//! made-up one) with the signature appended, and requests take it apart again.
//! Reference: https://ai.google.dev/gemini-api/docs/thought-signatures

/// Separates the id from the signature. Signatures are base64, which never
/// contains `#`.
const SIGNATURE_MARK: &str = "#sig=";

/// The documented placeholder for a call whose real signature is unknown (a
/// call from another provider, or a model that gave none), base64-encoded as
/// the REST API carries bytes. Gemini 3 refuses a replayed call without any.
pub const SKIP_SIGNATURE: &str = "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I="; // "skip_thought_signature_validator"

/// The id of a call the model made: `id` (or one made from `key`), plus its signature.
pub fn id(gemini_id: Option<&str>, key: u32, signature: Option<&str>) -> String {
    let mut id = match gemini_id.filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        None => format!("call_{key:08x}"),
    };
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        id.push_str(SIGNATURE_MARK);
        id.push_str(sig);
    }
    id
}

/// The id to send back to Gemini and the signature carried in `id`, if any.
pub fn split(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_MARK) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

/// A stable 32-bit key for a call (FNV-1a over its parts). The plugin keeps no
/// state between stream events, so this key is what tells two calls apart when
/// they arrive in different events: it serves as the stream index and as the
/// made-up id.
pub fn key(parts: &[&str]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_signature_and_give_it_back() {
        let made = id(None, key(&["now", "{}", "0"]), Some("CtQOAVSo+/="));
        let (bare, sig) = split(&made);
        assert!(bare.starts_with("call_") && bare.len() == 13, "{bare}");
        assert_eq!(sig, Some("CtQOAVSo+/="));
        assert_eq!(split("pyd_ai_1"), ("pyd_ai_1", None));
        assert_eq!(id(Some("abc"), 7, None), "abc");
        assert_ne!(key(&["a", "bc"]), key(&["ab", "c"]));
    }
}
