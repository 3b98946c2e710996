//! Where prompt-cache breakpoints go. Providers that cache only where a request
//! marks the prompt (Anthropic, Bedrock) agree on the policy and differ only in
//! how a mark is written, so the policy lives here and each plugin writes marks
//! its own way.

use crate::{ChatRequest, ConnectionSettings, Role};

/// The breakpoints of one request, decided from the connection options
/// `prompt_caching` (`true` or `false`) and `cache_ttl_secs`, the request's
/// cache hint and its messages' `cache-breakpoint` flags:
/// - `false` on the connection or the hint: no breakpoints at all;
/// - otherwise every message flagged as a breakpoint gets one;
/// - an enabled hint or `prompt_caching = true` adds breakpoints after the
///   tools, after the system prompt (its last system message) and after the
///   conversation (its last other message), so the next turn reads everything
///   before its new messages from the cache.
///
/// Providers cap the breakpoints per request; the earliest beyond the cap are
/// dropped, since a later breakpoint caches a longer prefix that includes what
/// the earlier ones would have. "Earliest" follows the order providers read a
/// prompt in: tools, then system messages, then the conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CachePlan {
    /// A breakpoint after the last tool definition.
    pub tools: bool,
    /// One flag per request message: a breakpoint after it.
    pub messages: Vec<bool>,
    /// The lifetime asked for, in seconds (the hint's, else the connection's).
    pub ttl_seconds: Option<u32>,
}

impl CachePlan {
    /// The plan for `req` on `conn`, at most `max` breakpoints.
    pub fn new(req: &ChatRequest, conn: &ConnectionSettings, max: usize) -> Self {
        let option = conn.option("prompt_caching").map(|v| v.trim().to_ascii_lowercase());
        let connection = match option.as_deref() {
            Some("true" | "on" | "yes" | "1") => Some(true),
            Some("false" | "off" | "no" | "0") => Some(false),
            _ => None,
        };
        let hint = req.cache.as_ref().map(|h| h.enabled);
        let ttl_seconds = req
            .cache
            .as_ref()
            .and_then(|h| h.ttl_seconds)
            .or_else(|| conn.option("cache_ttl_secs").and_then(|v| v.trim().parse().ok()));
        if connection == Some(false) || hint == Some(false) {
            return CachePlan { tools: false, messages: vec![false; req.messages.len()], ttl_seconds };
        }
        let automatic = connection == Some(true) || hint == Some(true);
        let mut messages: Vec<bool> = req.messages.iter().map(|m| m.cache_breakpoint).collect();
        if automatic {
            let is_system = |i: &usize| req.messages[*i].role == Role::System;
            let last_system = (0..req.messages.len()).rev().find(is_system);
            let last_other = (0..req.messages.len()).rev().find(|i| !is_system(i));
            for i in [last_system, last_other].into_iter().flatten() {
                messages[i] = true;
            }
        }
        let mut plan = CachePlan { tools: automatic && !req.tools.is_empty(), messages, ttl_seconds };
        plan.keep_last(req, max);
        plan
    }

    /// Unmark the earliest breakpoints, in prompt order, until `max` remain.
    fn keep_last(&mut self, req: &ChatRequest, max: usize) {
        let system = |i: &usize| req.messages[*i].role == Role::System;
        let in_order = (0..self.messages.len()).filter(system).chain((0..self.messages.len()).filter(|i| !system(i)));
        let marked: Vec<usize> = in_order.filter(|i| self.messages[*i]).collect();
        let mut extra = (usize::from(self.tools) + marked.len()).saturating_sub(max);
        if extra > 0 && self.tools {
            self.tools = false;
            extra -= 1;
        }
        for i in marked.into_iter().take(extra) {
            self.messages[i] = false;
        }
    }

    /// True if a breakpoint goes after message `i` of the request.
    pub fn after(&self, i: usize) -> bool {
        self.messages.get(i).copied().unwrap_or(false)
    }

    /// True if entries should live an hour rather than the usual five
    /// minutes: both providers that take breakpoints offer just those two
    /// lifetimes, so any wish over five minutes gets the hour.
    pub fn wants_hour(&self) -> bool {
        self.ttl_seconds.is_some_and(|secs| secs > 300)
    }
}
