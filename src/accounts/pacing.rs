//! Outbound pacing, pure: per-account concurrency, minimum spacing and requests per minute, and
//! a rolling-minute counter for the global cap. The pool holds these under its lock and does
//! the waiting ([`super::pool::Pool::acquire`]).
//!
//! `pingora-limits` is the usual crate for rate estimation, but it is not a dependency and an
//! estimate is not what is wanted here: a limit of 10 per minute must never let 11 through. So
//! this is an exact sliding log of start times, bounded by the limit itself.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use super::settings::PacingLimits;

/// The window of a requests-per-minute limit.
pub const MINUTE: Duration = Duration::from_secs(60);

/// A configured limit above this is treated as this, which bounds the log's memory.
const MAX_RPM: u32 = 100_000;

/// Why a request cannot start yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A time-based limit frees up after this long.
    For(Duration),
    /// Every concurrency slot is taken; one frees up when a request ends.
    ForRelease,
}

impl Wait {
    /// The longer of two waits; a release wait counts as unknown (longest).
    pub fn max(self, other: Wait) -> Wait {
        match (self, other) {
            (Wait::ForRelease, _) | (_, Wait::ForRelease) => Wait::ForRelease,
            (Wait::For(a), Wait::For(b)) => Wait::For(a.max(b)),
        }
    }
}

/// Start times of the last minute, at most `limit` of them.
#[derive(Debug, Clone)]
pub struct RateWindow {
    limit: u32,
    starts: VecDeque<Instant>,
}

impl RateWindow {
    pub fn new(limit: u32) -> Self {
        RateWindow {
            limit: limit.min(MAX_RPM),
            starts: VecDeque::new(),
        }
    }

    /// `None` when another start fits now, else how long until the oldest one leaves.
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        while self
            .starts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= MINUTE)
        {
            self.starts.pop_front();
        }
        if self.starts.len() < self.limit as usize {
            return None;
        }
        let oldest = *self.starts.front()?;
        Some((oldest + MINUTE).saturating_duration_since(now))
    }

    pub fn record(&mut self, now: Instant) {
        self.starts.push_back(now);
        while self.starts.len() > self.limit as usize {
            self.starts.pop_front();
        }
    }

    /// Starts in the last minute (as of the last [`RateWindow::wait`]).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

/// The pacing state of one account.
#[derive(Clone)]
pub struct Pacer {
    limits: PacingLimits,
    in_flight: u32,
    /// The earliest next start allowed by `min_interval` (jitter included).
    next_start: Option<Instant>,
    window: Option<RateWindow>,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("limits", &self.limits)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    pub fn new(limits: PacingLimits) -> Self {
        Pacer {
            limits,
            in_flight: 0,
            next_start: None,
            window: limits.rpm.filter(|&n| n > 0).map(RateWindow::new),
        }
    }

    pub fn limits(&self) -> &PacingLimits {
        &self.limits
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Whether a request may start at `now`; if not, what it waits for.
    pub fn check(&mut self, now: Instant) -> Result<(), Wait> {
        let mut wait: Option<Wait> = None;
        let mut add = |w: Wait| wait = Some(wait.map_or(w, |old: Wait| old.max(w)));
        if self
            .limits
            .max_concurrent
            .is_some_and(|max| self.in_flight >= max)
        {
            add(Wait::ForRelease);
        }
        if let Some(next) = self.next_start.filter(|&t| t > now) {
            add(Wait::For(next - now));
        }
        if let Some(d) = self.window.as_mut().and_then(|w| w.wait(now)) {
            add(Wait::For(d));
        }
        wait.map_or(Ok(()), Err)
    }

    /// Records a start at `now`; `jitter` is added to this gap (drawn by the caller).
    pub fn start(&mut self, now: Instant, jitter: Duration) {
        self.in_flight = self.in_flight.saturating_add(1);
        if !self.limits.min_interval.is_zero() {
            self.next_start = Some(now + self.limits.min_interval + jitter);
        }
        if let Some(w) = self.window.as_mut() {
            w.record(now);
        }
    }

    /// A request started with [`Pacer::start`] ended.
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: Option<u32>, gap_ms: u64, rpm: Option<u32>) -> PacingLimits {
        PacingLimits {
            max_concurrent: max,
            min_interval: Duration::from_millis(gap_ms),
            min_interval_jitter: Duration::ZERO,
            rpm,
        }
    }

    #[test]
    fn no_limits_never_wait() {
        let t = Instant::now();
        let mut p = Pacer::new(PacingLimits::default());
        for _ in 0..1_000 {
            assert_eq!(p.check(t), Ok(()));
            p.start(t, Duration::ZERO);
        }
        assert_eq!(p.in_flight(), 1_000);
    }

    #[test]
    fn concurrency_waits_for_a_release() {
        let t = Instant::now();
        let mut p = Pacer::new(limits(Some(2), 0, None));
        p.start(t, Duration::ZERO);
        p.start(t, Duration::ZERO);
        assert_eq!(p.check(t), Err(Wait::ForRelease));
        p.finish();
        assert_eq!(p.check(t), Ok(()));
        p.finish();
        p.finish(); // an extra release does not underflow
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn min_interval_spaces_starts_with_jitter() {
        let t = Instant::now();
        let mut p = Pacer::new(limits(None, 100, None));
        p.start(t, Duration::from_millis(20));
        assert_eq!(p.check(t), Err(Wait::For(Duration::from_millis(120))));
        assert_eq!(
            p.check(t + Duration::from_millis(50)),
            Err(Wait::For(Duration::from_millis(70)))
        );
        assert_eq!(p.check(t + Duration::from_millis(120)), Ok(()));
    }

    #[test]
    fn rpm_is_a_sliding_minute() {
        let t = Instant::now();
        let mut p = Pacer::new(limits(None, 0, Some(3)));
        for s in 0..3 {
            let now = t + Duration::from_secs(s * 10);
            assert_eq!(p.check(now), Ok(()));
            p.start(now, Duration::ZERO);
        }
        // The first start (at 0 s) leaves the window at 60 s.
        assert_eq!(
            p.check(t + Duration::from_secs(30)),
            Err(Wait::For(Duration::from_secs(30)))
        );
        assert_eq!(p.check(t + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn the_longest_wait_wins_and_release_beats_time() {
        assert_eq!(
            Wait::For(Duration::from_secs(1)).max(Wait::For(Duration::from_secs(2))),
            Wait::For(Duration::from_secs(2))
        );
        assert_eq!(
            Wait::For(Duration::from_secs(1)).max(Wait::ForRelease),
            Wait::ForRelease
        );
        let t = Instant::now();
        let mut p = Pacer::new(limits(Some(1), 100, Some(1)));
        p.start(t, Duration::ZERO);
        assert_eq!(p.check(t), Err(Wait::ForRelease));
        p.finish();
        assert_eq!(p.check(t), Err(Wait::For(MINUTE)));
    }

    #[test]
    fn the_window_log_is_bounded_by_the_limit() {
        let t = Instant::now();
        let mut w = RateWindow::new(5);
        for _ in 0..100 {
            w.record(t);
        }
        assert_eq!(w.len(), 5);
        let mut huge = RateWindow::new(u32::MAX);
        assert_eq!(huge.limit, MAX_RPM);
        assert_eq!(huge.wait(t), None);
    }
}
