//! Bounded waiting for what a test cannot be told about: a container
//! reaching a state, a helper process going away, output appearing.

use std::time::{Duration, Instant};

/// How long to keep looking, and how often. Every wait has a deadline so a
/// broken engine fails the test instead of hanging the run; the deadline
/// is generous because the test machine may be busy with other builds.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    timeout: Duration,
    every: Duration,
}

impl Wait {
    /// Up to `secs` seconds, looking every 20 ms.
    pub const fn secs(secs: u64) -> Wait {
        Wait {
            timeout: Duration::from_secs(secs),
            every: Duration::from_millis(20),
        }
    }

    /// Looks every `ms` milliseconds instead: less often when each look
    /// runs burrow or has to give the container time to react, never (0)
    /// when the look itself blocks for a while.
    pub const fn every_ms(self, ms: u64) -> Wait {
        Wait {
            timeout: self.timeout,
            every: Duration::from_millis(ms),
        }
    }

    /// The first value `attempt` yields, or `None` once the time is up.
    /// The caller fails the test with what it knows (or cleans up first).
    pub fn for_some<T>(self, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(value) = attempt() {
                return Some(value);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(self.every);
        }
    }

    /// Whether `check` came to hold in time; the caller asserts it with a
    /// message that can show what was seen instead.
    pub fn until(self, mut check: impl FnMut() -> bool) -> bool {
        self.for_some(|| check().then_some(())).is_some()
    }

    /// Fails the test with "timed out waiting for `what`" unless `check`
    /// comes to hold in time.
    pub fn expect(self, what: &str, check: impl FnMut() -> bool) {
        assert!(self.until(check), "timed out waiting for {what}");
    }
}
