//! The `llmnode` binary: the command line over the `llmnode` library.

mod cli;

/// mimalloc rather than glibc's allocator: a request allocates and frees many
/// small objects across tokio's worker threads, where glibc's arenas spent
/// about 9 % of the daemon's CPU under load (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
