//! Logging through the host (a plugin has no stdout or files).

pub use crate::bindings::llmnode::provider::host::LogLevel as Level;

/// Send one line to the host's log.
pub fn write(level: Level, message: &str) {
    crate::bindings::llmnode::provider::host::log(level, message);
}

/// Debug-level line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Warning-level line.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
