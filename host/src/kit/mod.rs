//! The plugin kit: what a provider integrator uses to ship a plugin without
//! reading the host's code. Scaffold a crate on the SDK ([`scaffold`]), build
//! it for `wasm32-wasip2` ([`compile`]), replay recorded fixtures through the
//! built component exactly as the host calls it ([`check`]), and install it
//! with the digest its author published ([`install`]).

pub mod call;
pub mod check;
pub mod compile;
mod error;
pub mod fixture;
pub mod install;
pub mod matcher;
pub mod scaffold;

pub use check::FixtureOutcome;
pub use error::KitError;
pub use install::Installed;
pub use matcher::Mismatch;
