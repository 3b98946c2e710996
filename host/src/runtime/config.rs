//! Sandbox bounds and the wasmtime engine configuration that enforces them.

use std::time::Duration;

/// Bounds applied to every plugin call.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Linear memory a plugin instance may use.
    pub memory_limit_bytes: usize,
    /// Wall-clock CPU budget for one call into a plugin (enforced by epochs).
    pub cpu_deadline: Duration,
    /// How often the epoch advances; the deadline is rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Instances that may be live at once (the pooling allocator's size).
    /// An attempt holds one from building its request to reading its answer
    /// (a stream: to its end), so this bounds the attempts in flight; each
    /// costs address space (two 4 GiB reservations), not memory, until used.
    pub max_instances: u32,
    /// Log lines one call may emit before further lines are dropped.
    pub max_log_lines_per_call: u32,
    /// Longest log line kept, in bytes; longer lines are truncated.
    pub max_log_line_bytes: usize,
    /// Host-side resource handles (WASI streams and the like) one instance may hold.
    pub max_resource_handles: usize,
    /// Bytes of a reused instance slot's memory reset by `memset` rather than
    /// decommitted: fastest when they cover all one call touches. Costs up to
    /// this much resident memory per pool slot.
    pub keep_resident_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit_bytes: 64 << 20,
            cpu_deadline: Duration::from_millis(200),
            epoch_tick: Duration::from_millis(5),
            max_instances: 1024,
            max_log_lines_per_call: 64,
            max_log_line_bytes: 2048,
            max_resource_handles: 1024,
            keep_resident_bytes: 2 << 20,
        }
    }
}

impl RuntimeConfig {
    /// The deadline in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        let tick = self.epoch_tick.as_micros().max(1);
        (self.cpu_deadline.as_micros().div_ceil(tick)).max(1) as u64
    }

    /// The wasmtime configuration: Cranelift, component model, epoch interruption
    /// and a pooling allocator sized by `max_instances` and the memory bound.
    pub(crate) fn engine_config(&self) -> wasmtime::Config {
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        let n = self.max_instances;
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .total_stacks(n)
            .max_memories_per_component(2)
            .max_core_instances_per_component(16)
            .max_tables_per_component(16)
            .max_memory_size(self.memory_limit_bytes)
            .max_unused_warm_slots(n.min(32))
            // Reset a reused slot with memset instead of madvise: an madvise
            // interrupts every core running the process (TLB shootdown) and
            // the next call faults the pages back in. Measured with
            // `cargo bench --bench plugin_call`: 2 MiB (all a provider plugin
            // touches) beat 64 KiB and 1 MiB on both the single-call and the
            // loopback numbers.
            .linear_memory_keep_resident(self.keep_resident_bytes)
            .table_keep_resident(self.keep_resident_bytes)
            // Where the kernel can say which pages a call dirtied (Linux 6.7+
            // PAGEMAP_SCAN), reset only those rather than all of the above.
            .pagemap_scan(wasmtime::Enabled::Auto);

        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        config
    }
}
