//! Money as the host counts it: whole nano-dollars, so sums and budget
//! comparisons are exact and never drift past a cap.

/// Nano-dollars (1e-9 USD).
pub type Nanos = i64;

/// Nano-dollars per dollar.
const PER_USD: f64 = 1e9;

/// `usd` rounded to the nearest nano-dollar: what a cost is recorded as.
pub fn nanos(usd: f64) -> Nanos {
    (usd * PER_USD).round() as Nanos
}

/// `usd` rounded up: what a worst-case reservation holds, so rounding never
/// lets a call past a budget.
pub fn nanos_ceil(usd: f64) -> Nanos {
    (usd * PER_USD).ceil() as Nanos
}

/// `usd` rounded down: a cap, so rounding never raises it.
pub fn nanos_floor(usd: f64) -> Nanos {
    (usd * PER_USD).floor() as Nanos
}

/// Nano-dollars back to dollars, for display.
pub fn usd(n: Nanos) -> f64 {
    n as f64 / PER_USD
}
