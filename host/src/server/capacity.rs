//! How much the daemon takes at once and how long it waits for a client:
//! caps on connections and on requests in flight, and timeouts for a request
//! head, an idle kept-alive connection, a request body and a client that
//! reads nothing. Sockets opened and left silent (or sent half a request, or
//! never read from) are closed, and past a cap new work gets a 503 with
//! `Retry-After` that a client can retry, not a hang.

use crate::metrics::Load;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Connections past the cap that are still answered (503, or `/healthz`);
/// past these too, a new connection is closed at once.
const REFUSAL_SLOTS: usize = 64;

/// How long a connection past the cap may take to send its request head.
pub const REFUSAL_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The daemon's caps and timeouts (the flags of `llmnode serve`).
#[derive(Debug, Clone)]
pub struct Capacity {
    /// How long a request head may take to arrive: from a new connection's
    /// accept, or from the first byte of a later request on a kept-alive one.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// How long a request body may take to arrive whole, from its head.
    pub body_read_timeout: Duration,
    /// How long an answer may wait on a client that reads none of it.
    pub send_timeout: Duration,
    /// Client connections served at once.
    pub max_connections: u32,
    /// Requests answered at once, from their head until their answer is
    /// handed to the connection whole (a stream counts until it ends).
    pub max_in_flight: u32,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_in_flight: 256,
        }
    }
}

/// The permits behind the caps: taken by the accept loop and by each
/// request, counted by `/metrics`.
pub struct Slots {
    pub connections: Arc<Semaphore>,
    pub in_flight: Arc<Semaphore>,
    pub refusals: Arc<Semaphore>,
    max_connections: usize,
    max_in_flight: usize,
}

impl Slots {
    /// Permits for `capacity` (at least one of each).
    pub fn new(capacity: &Capacity) -> Self {
        let max_connections = (capacity.max_connections as usize).clamp(1, Semaphore::MAX_PERMITS);
        let max_in_flight = (capacity.max_in_flight as usize).clamp(1, Semaphore::MAX_PERMITS);
        Slots {
            connections: Arc::new(Semaphore::new(max_connections)),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            refusals: Arc::new(Semaphore::new(REFUSAL_SLOTS)),
            max_connections,
            max_in_flight,
        }
    }

    /// Connections open and requests in flight now.
    pub fn load(&self) -> Load {
        Load {
            connections: self.max_connections - self.connections.available_permits(),
            requests_in_flight: self.max_in_flight - self.in_flight.available_permits(),
            limits_fallback_admissions: 0,
        }
    }
}
