//! What the prompt monitor looks for in message text: a maintained table of
//! secret formats and payment card numbers, compiled once into one
//! [`RegexSet`], so a clean prompt costs one pass over its text.
//!
//! Sources: each provider's documented key format (AWS IAM access key ids,
//! GitHub's token prefixes, Slack's token types, Google API keys, OpenAI's
//! and Stripe's secret keys), RFC 7468 (PEM) and RFC 7519 (JWT), cross-checked
//! against the gitleaks default rule set. Add a rule here and nowhere else.

use super::Detector;
use regex::{Regex, RegexSet};
use std::sync::LazyLock;

/// One thing the monitor recognises.
pub struct Rule {
    /// Stable name: alerts, metrics and `[REDACTED:name]` use it.
    pub name: &'static str,
    pub detector: Detector,
    pattern: &'static str,
    /// A check a match must pass as well (the Luhn sum of a card number).
    verify: Option<fn(&str) -> bool>,
}

/// Every rule, in the order a hit is reported.
pub const RULES: &[Rule] = &[
    Rule {
        name: "aws_access_key_id",
        detector: Detector::Secrets,
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        verify: None,
    },
    Rule {
        name: "aws_secret_access_key",
        detector: Detector::Secrets,
        pattern: r#"(?i)\baws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}\b"#,
        verify: None,
    },
    Rule {
        name: "private_key",
        detector: Detector::Secrets,
        pattern: r"-----BEGIN [A-Z0-9 ]{0,32}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END [A-Z0-9 ]{0,32}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
        verify: None,
    },
    Rule { name: "github_token", detector: Detector::Secrets, pattern: r"\bgh[pousr]_[A-Za-z0-9]{36}\b", verify: None },
    Rule {
        name: "github_pat",
        detector: Detector::Secrets,
        pattern: r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        verify: None,
    },
    Rule { name: "slack_token", detector: Detector::Secrets, pattern: r"\bxox[abpr]-[A-Za-z0-9-]{10,}", verify: None },
    Rule { name: "google_api_key", detector: Detector::Secrets, pattern: r"\bAIza[0-9A-Za-z_-]{35}", verify: None },
    Rule {
        name: "openai_key",
        detector: Detector::Secrets,
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        verify: None,
    },
    Rule { name: "stripe_key", detector: Detector::Secrets, pattern: r"\b[rs]k_live_[A-Za-z0-9]{20,}", verify: None },
    Rule {
        name: "jwt",
        detector: Detector::Secrets,
        pattern: r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        verify: None,
    },
    // 13 to 19 digits, single spaces or dashes between them, Luhn-checked.
    Rule {
        name: "payment_card",
        detector: Detector::Cards,
        pattern: r"\b[0-9](?:[ -]?[0-9]){12,18}\b",
        verify: Some(luhn),
    },
];

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let patterns = RULES.iter().map(|r| r.pattern);
    Compiled {
        set: RegexSet::new(patterns).expect("the monitor's rules compile"),
        each: RULES.iter().map(|r| Regex::new(r.pattern).expect("the monitor's rules compile")).collect(),
    }
});

/// A rule's match in a text: byte range and the rule's index in [`RULES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub rule: usize,
}

/// Every match in `text` of the rules `wanted` accepts, appended to `out`.
/// One pass over the text finds which rules match at all; only those are
/// searched again for where.
pub fn scan(text: &str, wanted: impl Fn(&Rule) -> bool, out: &mut Vec<Found>) {
    let compiled = &*COMPILED;
    let matched = compiled.set.matches(text);
    if !matched.matched_any() {
        return;
    }
    for rule in matched.iter().filter(|&i| wanted(&RULES[i])) {
        for m in compiled.each[rule].find_iter(text) {
            if RULES[rule].verify.is_none_or(|check| check(m.as_str())) {
                out.push(Found { start: m.start(), end: m.end(), rule });
            }
        }
    }
}

/// Compile the rules now (the daemon does at start, so the first prompt
/// does not pay for it).
pub fn warm_up() {
    LazyLock::force(&COMPILED);
}

/// The Luhn checksum of the digits in `number` (separators ignored).
pub fn luhn(number: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for b in number.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        scan(text, |_| true, &mut out);
        out.iter().map(|f| RULES[f.rule].name).collect()
    }

    /// A value of a secret's shape: its prefix and an obviously fake body,
    /// joined at run time so that no key-shaped literal sits in the source.
    fn fake(prefix: &str, body: &str) -> String {
        format!("{prefix}{body}")
    }

    #[test]
    fn each_rule_finds_its_format_and_only_it() {
        let example = "EXAMPLE0".repeat(5);
        let cases = [
            // AWS's own documentation examples, never live keys.
            ("key AKIAIOSFODNN7EXAMPLE here", "aws_access_key_id"),
            ("ASIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key"),
            (&fake("-----BEGIN RSA PRIVATE", " KEY-----\nEXAMPLE\n-----END RSA PRIVATE KEY-----"), "private_key"),
            (&fake("-----BEGIN OPENSSH PRIVATE", " KEY-----\nEXAMPLE"), "private_key"),
            (&fake("ghp_", &example[..36]), "github_token"),
            (&format!("github_pat_{}_{}", "A".repeat(22), "b".repeat(59)), "github_pat"),
            (&fake("xoxb-", "EXAMPLE-FAKE"), "slack_token"),
            (&fake("AIza", &example[..35]), "google_api_key"),
            (&fake("sk-proj-", &example[..24]), "openai_key"),
            (&fake("sk_live_", &example[..24]), "stripe_key"),
            (&fake("eyJ", "EXAMPLEheader.eyJEXAMPLEclaims.EXAMPLEsignature"), "jwt"),
            ("card 4111 1111 1111 1111 exp", "payment_card"),
            ("4111-1111-1111-1111", "payment_card"),
            ("378282246310005", "payment_card"),
        ];
        for (text, rule) in cases {
            assert_eq!(names(text), vec![rule], "{text}");
        }
        for clean in [
            "AKIA lowercase akiafakefakefakefake",
            "4111 1111 1111 1112",
            "call 1234567890123456789012345",
            "sk-short",
            "the year 2024 and 12 apples",
            "",
        ] {
            assert!(names(clean).is_empty(), "{clean}: {:?}", names(clean));
        }
    }

    #[test]
    fn luhn_agrees_with_known_numbers() {
        assert!(luhn("4111111111111111") && luhn("5500 0000 0000 0004") && luhn("0"));
        assert!(!luhn("4111111111111112") && !luhn("1234-5678-9012-3456"));
    }
}
