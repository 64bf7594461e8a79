//! The clock, behind a trait so tests and the scheduler can inject time.

use std::time::SystemTime;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 UTC text of a time.
pub fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// A clock that stands still until told otherwise: for tests, and for a
/// server run under a simulated time.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<SystemTime>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: SystemTime) -> Self {
        ManualClock(std::sync::Mutex::new(t))
    }

    /// Sets the time.
    pub fn set(&self, t: SystemTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Moves the time forward; `false`, and the time unchanged, when the
    /// result is past what a `SystemTime` can hold.
    pub fn advance(&self, d: std::time::Duration) -> bool {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match t.checked_add(d) {
            Some(n) => {
                *t = n;
                true
            }
            None => false,
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The system time of a timestamp.
pub fn system_time(t: jiff::Timestamp) -> SystemTime {
    let ns = t.as_nanosecond();
    let d = std::time::Duration::from_nanos(ns.unsigned_abs().min(u64::MAX as u128) as u64);
    if ns >= 0 {
        std::time::UNIX_EPOCH + d
    } else {
        std::time::UNIX_EPOCH - d
    }
}

/// What every [`Clock`] must do, for each implementation's tests: show a
/// time that RFC 3339 text and `jiff` can hold, after 2000 (a clock at
/// the epoch is a broken clock, and retention would expire everything
/// or nothing), never step back between two reads, move forward by at
/// least what `wait` lets pass, and answer from several threads at once.
/// `wait` lets time pass: a sleep for a real clock, an advance for a
/// manual one.
pub fn conformance(clock: &dyn Clock, wait: &dyn Fn(std::time::Duration)) {
    use std::time::{Duration, UNIX_EPOCH};
    let y2000 = UNIX_EPOCH + Duration::from_secs(946_684_800);
    let a = clock.now();
    assert!(a > y2000, "{clock:?} shows {a:?}, before 2000");
    let ts = jiff::Timestamp::try_from(a).expect("the time fits a jiff::Timestamp");
    assert_eq!(rfc3339(a), ts.to_string());
    assert!(unix_ms(a) > 946_684_800_000);
    let b = clock.now();
    assert!(b >= a, "{clock:?} stepped back between two reads");
    let step = Duration::from_millis(20);
    wait(step);
    let c = clock.now();
    let moved = c.duration_since(b).unwrap_or_default();
    assert!(
        moved >= step,
        "{clock:?} moved {moved:?} while {step:?} passed"
    );
    std::thread::scope(|s| {
        let reads: Vec<_> = (0..4).map(|_| s.spawn(|| clock.now())).collect();
        for r in reads {
            assert!(r.join().expect("a read from another thread") >= c);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_system_clock_conforms() {
        conformance(&SystemClock, &std::thread::sleep);
    }

    #[test]
    fn the_manual_clock_conforms() {
        let c = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_774_753_200));
        conformance(&c, &|d| assert!(c.advance(d)));
    }

    #[test]
    fn a_manual_clock_refuses_to_overflow() {
        let c = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_774_753_200));
        let before = c.now();
        assert!(!c.advance(Duration::MAX));
        assert_eq!(c.now(), before);
    }

    #[test]
    #[should_panic(expected = "before 2000")]
    fn a_clock_stuck_at_the_epoch_fails_the_suite() {
        let c = ManualClock::new(UNIX_EPOCH);
        conformance(&c, &|d| {
            c.advance(d);
        });
    }

    #[test]
    #[should_panic(expected = "moved")]
    fn a_clock_that_stands_still_fails_the_suite() {
        let c = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_774_753_200));
        conformance(&c, &|_| {});
    }
}
