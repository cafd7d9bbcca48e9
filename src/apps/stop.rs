//! When an app stops: on Ctrl-C (SIGINT), SIGTERM or SIGHUP, or when its `--duration` is over.
//! Either way the app leaves its loop, prints its totals and exits with code 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::apps::{AppError, AppResult};

/// The stop conditions of an app.
#[derive(Clone, Debug)]
pub struct Stop {
    signalled: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Stop {
    /// Stops on a signal. Installs the process's handler for SIGINT, SIGTERM and SIGHUP, so
    /// call it once per process, early (a signal while a device opens then stops the app as
    /// soon as it is open); the handler only sets a flag, which the app's loop polls.
    pub fn install() -> AppResult<Stop> {
        let stop = Stop::without_signals();
        let flag = Arc::clone(&stop.signalled);
        ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
            .map_err(|e| AppError::Signal(e.to_string()))?;
        Ok(stop)
    }

    /// Stops only when [`Stop::request`] is called or a deadline passes (for tests and
    /// embedders that handle signals themselves).
    pub fn without_signals() -> Stop {
        Stop {
            signalled: Arc::new(AtomicBool::new(false)),
            deadline: None,
        }
    }

    /// Also stops `duration` after `start` (if there is a duration): apps call this when their
    /// loop starts, so that the time to open devices does not count.
    pub fn run_for(&mut self, duration: Option<Duration>, start: Instant) {
        self.deadline = duration.map(|d| start + d);
    }

    /// Asks the app to stop, as a signal would.
    pub fn request(&self) {
        self.signalled.store(true, Ordering::Relaxed);
    }

    /// Whether a signal came.
    #[inline]
    pub fn signalled(&self) -> bool {
        self.signalled.load(Ordering::Relaxed)
    }

    /// Whether the app should stop at time `now`.
    #[inline]
    pub fn due(&self, now: Instant) -> bool {
        self.signalled() || self.deadline.is_some_and(|d| now >= d)
    }

    /// How long until the deadline (None without one).
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_and_request() {
        let t0 = Instant::now();
        let mut s = Stop::without_signals();
        assert!(!s.due(t0 + Duration::from_secs(1_000_000)));
        s.run_for(Some(Duration::from_secs(2)), t0);
        assert!(!s.due(t0));
        assert!(!s.due(t0 + Duration::from_millis(1999)));
        assert!(s.due(t0 + Duration::from_secs(2)));
        assert_eq!(s.remaining(t0), Some(Duration::from_secs(2)));
        let mut forever = Stop::without_signals();
        forever.run_for(None, t0);
        assert!(!forever.due(t0 + Duration::from_secs(1_000_000)));
        forever.clone().request();
        assert!(forever.due(t0) && forever.signalled());
    }
}
