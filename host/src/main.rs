//! The `llmnode` binary: the command line over the `llmnode` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
