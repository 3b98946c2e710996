//! The host-side contract types: always the newest contract version's, so the
//! rest of the host is written once, against one set of types. Plugins built
//! for older versions are adapted to them by their shim in [`super::contract`].

pub use super::contract::latest::LogLevel;
pub use super::contract::latest::types;
