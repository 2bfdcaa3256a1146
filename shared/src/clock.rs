//! Time, injectable: handlers ask the state's clock, tests advance a fake one.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::store::Timestamp;

/// A source of the current time in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that stands still until advanced (for expiry tests).
#[derive(Debug)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    /// A fake clock at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start))
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}
