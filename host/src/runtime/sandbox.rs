//! The per-call store state: a WASI context that grants nothing, the memory
//! bound, and the plugin's one import, `log`.

use super::bindings::LogLevel;
use super::config::RuntimeConfig;
use crate::escape::Escaped;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Raised by the memory limiter; found again with `downcast_ref` to tell a
/// memory bomb from any other trap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes reached")]
pub(crate) struct MemoryLimitHit {
    pub limit: usize,
}

/// Everything one store owns.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    memory_limit: usize,
    table_elements_limit: usize,
    plugin: Arc<str>,
    log_lines_left: u32,
    log_lines_dropped: u32,
    max_log_line_bytes: usize,
}

impl Sandbox {
    /// A fresh state for one call into `plugin`.
    pub(crate) fn new(plugin: Arc<str>, config: &RuntimeConfig) -> Self {
        // No preopened directories, environment, arguments, network or stdin;
        // stdout and stderr go nowhere. Clocks and random numbers remain.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(4096)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(config.max_resource_handles);
        Sandbox {
            wasi,
            table,
            memory_limit: config.memory_limit_bytes,
            table_elements_limit: 100_000,
            plugin,
            log_lines_left: config.max_log_lines_per_call,
            log_lines_dropped: 0,
            max_log_line_bytes: config.max_log_line_bytes,
        }
    }

    /// The plugin's `log` import (every contract version's): a line to the
    /// host's log, within this call's budget of lines and bytes, escaped so a
    /// plugin can neither forge a log line nor drive the terminal.
    pub(crate) fn log_line(&mut self, level: LogLevel, message: &str) {
        if self.log_lines_left == 0 {
            self.log_lines_dropped = self.log_lines_dropped.saturating_add(1);
            return;
        }
        self.log_lines_left -= 1;
        let mut end = message.len().min(self.max_log_line_bytes);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let line = Escaped(&message[..end]);
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(target: "llmnode::plugin", plugin, "{line}"),
            LogLevel::Debug => tracing::debug!(target: "llmnode::plugin", plugin, "{line}"),
            LogLevel::Info => tracing::info!(target: "llmnode::plugin", plugin, "{line}"),
            LogLevel::Warn => tracing::warn!(target: "llmnode::plugin", plugin, "{line}"),
            LogLevel::Error => tracing::error!(target: "llmnode::plugin", plugin, "{line}"),
        }
    }

    /// Log lines the plugin tried to write past its budget in this call.
    pub(crate) fn log_lines_dropped(&self) -> u32 {
        self.log_lines_dropped
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime::ResourceLimiter for Sandbox {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            return Err(MemoryLimitHit { limit: self.memory_limit }.into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements_limit)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        32
    }

    fn memories(&self) -> usize {
        4
    }
}
