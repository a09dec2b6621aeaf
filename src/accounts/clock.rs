//! Time for the pool: a [`Clock`] that tests can drive by hand, and jitter.
//!
//! Cool-downs and pacing run on the monotonic clock (`Instant`) so that a wall-clock jump cannot
//! end a cool-down early or freeze an account; the wall clock is only used to show deadlines
//! (RFC 3339) and to read Kiro's reset dates, which are wall-clock instants.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::time::now_millis;

/// Where the pool gets the time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Monotonic now.
    fn now(&self) -> Instant;
    /// Wall-clock now, in Unix milliseconds.
    fn wall_millis(&self) -> i64;
}

/// The real clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_millis(&self) -> i64 {
        now_millis()
    }
}

/// A clock that only moves when told to; both readings advance together.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    start_wall: i64,
    offset_ms: AtomicU64,
}

impl ManualClock {
    /// Starts at the real current time.
    pub fn new() -> Self {
        Self::at_wall(now_millis())
    }

    /// Starts with the wall clock at `wall_millis`.
    pub fn at_wall(wall_millis: i64) -> Self {
        ManualClock {
            start: Instant::now(),
            start_wall: wall_millis,
            offset_ms: AtomicU64::new(0),
        }
    }

    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    fn offset(&self) -> u64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.offset())
    }

    fn wall_millis(&self) -> i64 {
        self.start_wall
            .saturating_add(i64::try_from(self.offset()).unwrap_or(i64::MAX))
    }
}

/// A random duration in `[0, max)`. The random bits come from a v4 UUID (the OS generator):
/// plenty to spread timers and retries, and no extra crate.
pub fn jitter(max: Duration) -> Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let (hi, _) = uuid::Uuid::new_v4().as_u64_pair();
    Duration::from_millis(hi % max_ms)
}

/// Milliseconds of a duration as `i64`, saturating.
pub(crate) fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_both_readings() {
        let clock = ManualClock::at_wall(1_000);
        let t0 = clock.now();
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - t0, Duration::from_secs(90));
        assert_eq!(clock.wall_millis(), 91_000);
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..200 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
