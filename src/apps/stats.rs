//! The apps' statistics output: once a second one rate line per device, and a totals line per
//! device when the app ends.
//!
//! ```text
//! [0000:03:00.0] RX: 14.88 Mpps 10000 Mbit/s | TX: 14.88 Mpps 10000 Mbit/s
//! [0000:03:00.0] total over 10.00 s: RX 148809523 packets 8928571380 bytes, 0 dropped, 0 errors | TX 148809523 packets 8928571380 bytes, 0 errors
//! ```
//!
//! Rates come from the differences of [`Device::stats`](crate::Device::stats) between two
//! lines. Mbit/s counts what a frame occupies on the line, as ixy does: its bytes as the device
//! counts them plus 20 bytes of preamble, start-of-frame delimiter and inter-frame gap.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::Stats;

/// Bytes a frame costs on the line beyond the bytes the device counts: 7 bytes of preamble,
/// 1 of start-of-frame delimiter and 12 of inter-frame gap (IEEE 802.3).
pub const WIRE_OVERHEAD: u64 = 20;

/// How often the apps print rate lines.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Million packets per second for `packets` in `elapsed` (0 for an empty interval).
pub fn mpps(packets: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        packets as f64 / secs / 1e6
    } else {
        0.0
    }
}

/// Mbit/s on the line for `packets` frames of `bytes` in total in `elapsed`, counting
/// [`WIRE_OVERHEAD`] bytes per frame.
pub fn mbit(packets: u64, bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (bytes as f64 + (packets * WIRE_OVERHEAD) as f64) * 8.0 / secs / 1e6
    } else {
        0.0
    }
}

/// The rate line of device `name` for the counts in `delta`, gathered over `elapsed`:
/// `[name] RX: 0.85 Mpps 571 Mbit/s | TX: 0.85 Mpps 571 Mbit/s`.
pub fn rate_line(name: &str, delta: &Stats, elapsed: Duration) -> String {
    format!(
        "[{name}] RX: {:.2} Mpps {:.0} Mbit/s | TX: {:.2} Mpps {:.0} Mbit/s",
        mpps(delta.rx_packets, elapsed),
        mbit(delta.rx_packets, delta.rx_bytes, elapsed),
        mpps(delta.tx_packets, elapsed),
        mbit(delta.tx_packets, delta.tx_bytes, elapsed),
    )
}

/// The totals line of device `name`: what `total` counted over `elapsed`, followed by
/// `extras` (what the app itself counted), each after a ` | `.
pub fn totals_line(name: &str, total: &Stats, elapsed: Duration, extras: &[String]) -> String {
    let mut line = format!(
        "[{name}] total over {:.2} s: RX {} packets {} bytes, {} dropped, {} errors | TX {} packets {} bytes, {} errors",
        elapsed.as_secs_f64(),
        total.rx_packets,
        total.rx_bytes,
        total.rx_dropped,
        total.rx_errors,
        total.tx_packets,
        total.tx_bytes,
        total.tx_errors,
    );
    for extra in extras {
        line.push_str(" | ");
        line.push_str(extra);
    }
    line
}

/// Follows one device's statistics: remembers where the app started and where the last rate
/// line left off.
#[derive(Clone, Debug)]
pub struct Meter {
    name: String,
    first: Stats,
    started: Instant,
    last: Stats,
    last_at: Instant,
    /// When the next rate line is due: on the second after the start, however late the loop
    /// got to the previous one.
    next_due: Instant,
}

impl Meter {
    /// Starts following device `name`, whose counters read `stats` at `now`.
    pub fn new(name: impl Into<String>, stats: Stats, now: Instant) -> Self {
        Self {
            name: name.into(),
            first: stats,
            started: now,
            last: stats,
            last_at: now,
            next_due: now + INTERVAL,
        }
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a rate line is due at `now`: one per [`INTERVAL`] since the start (a line
    /// printed late does not delay the next one).
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next_due
    }

    /// The rate line since the previous call (or since [`Meter::new`]); `stats` and `now` become
    /// the start of the next interval.
    pub fn rate_line(&mut self, stats: Stats, now: Instant) -> String {
        let line = rate_line(
            &self.name,
            &stats.since(&self.last),
            now.saturating_duration_since(self.last_at),
        );
        self.last = stats;
        self.last_at = now;
        self.next_due += INTERVAL;
        if self.next_due <= now {
            // The loop fell more than a whole interval behind: skip the missed lines.
            self.next_due = now + INTERVAL;
        }
        line
    }

    /// What the device counted since the meter started.
    pub fn total(&self, stats: Stats) -> Stats {
        stats.since(&self.first)
    }

    /// The totals line since the meter started, with the app's own counts in `extras`.
    pub fn totals_line(&self, stats: Stats, now: Instant, extras: &[String]) -> String {
        totals_line(
            &self.name,
            &self.total(stats),
            now.saturating_duration_since(self.started),
            extras,
        )
    }
}

/// Where an app's lines go: standard output, or standard error when standard output carries
/// data (`rixy-pcap <dev> -`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Console {
    /// Prints `line` and flushes it at once, so that a supervising script sees it live. A
    /// closed stream is not an error here: the app keeps doing its work.
    pub fn line(self, line: &str) {
        let _ = match self {
            Console::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush())
            }
            Console::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
        };
    }
}

/// A clock for polling loops that does not read the time on every turn: [`CoarseClock::poll`]
/// reads it on every `every`-th call only. Apps check their stop conditions and print their rate
/// lines when it gives them the time.
#[derive(Clone, Debug)]
pub struct CoarseClock {
    calls: u32,
    every: u32,
}

impl CoarseClock {
    /// Turns of a polling loop between two reads of the clock: at line rate a turn moves a
    /// batch (some microseconds), so a clock read (some 20 ns) every 8 turns costs well under
    /// 1 %, and even a slow loop (the simulator in a debug build: milliseconds per turn) keeps
    /// its lines and its `--duration` within a few tens of milliseconds.
    pub const DEFAULT_EVERY: u32 = 8;

    /// A clock read every `every` calls (at least 1).
    pub fn new(every: u32) -> Self {
        Self {
            calls: 0,
            every: every.max(1),
        }
    }

    /// The time on every `every`-th call, `None` on the others.
    #[inline]
    pub fn poll(&mut self) -> Option<Instant> {
        self.calls += 1;
        if self.calls < self.every {
            return None;
        }
        self.calls = 0;
        Some(Instant::now())
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new(Self::DEFAULT_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_rate_of_minimum_frames_is_ten_gigabit() {
        // 14.88 Mpps of 64-byte frames (60 bytes + FCS) fill 10 Gbit/s with the overhead.
        let delta = Stats {
            rx_packets: 14_880_952,
            rx_bytes: 14_880_952 * 64,
            tx_packets: 850_000,
            tx_bytes: 850_000 * 64,
            ..Stats::default()
        };
        assert_eq!(
            rate_line("0000:00:04.0", &delta, Duration::from_secs(1)),
            "[0000:00:04.0] RX: 14.88 Mpps 10000 Mbit/s | TX: 0.85 Mpps 571 Mbit/s"
        );
        let half = rate_line("sim:1", &delta, Duration::from_secs(2));
        assert_eq!(
            half,
            "[sim:1] RX: 7.44 Mpps 5000 Mbit/s | TX: 0.42 Mpps 286 Mbit/s"
        );
    }

    #[test]
    fn empty_intervals_print_zeros() {
        assert_eq!(
            rate_line("sim:0", &Stats::default(), Duration::ZERO),
            "[sim:0] RX: 0.00 Mpps 0 Mbit/s | TX: 0.00 Mpps 0 Mbit/s"
        );
    }

    #[test]
    fn totals_line_lists_everything_and_the_extras() {
        let total = Stats {
            rx_packets: 10,
            rx_bytes: 640,
            tx_packets: 9,
            tx_bytes: 576,
            rx_dropped: 2,
            rx_errors: 1,
            tx_errors: 3,
        };
        assert_eq!(
            totals_line(
                "sim:0",
                &total,
                Duration::from_millis(1500),
                &["sent: 9".into(), "wire: 9 frames".into()]
            ),
            "[sim:0] total over 1.50 s: RX 10 packets 640 bytes, 2 dropped, 1 errors | TX 9 packets 576 bytes, 3 errors | sent: 9 | wire: 9 frames"
        );
    }

    #[test]
    fn meter_reports_differences() {
        let t0 = Instant::now();
        let start = Stats {
            rx_packets: 100,
            rx_bytes: 6400,
            ..Stats::default()
        };
        let mut m = Meter::new("sim:0", start, t0);
        let later = Stats {
            rx_packets: 1_000_100,
            rx_bytes: 6400 + 64_000_000,
            ..Stats::default()
        };
        assert!(!m.due(t0 + Duration::from_millis(999)));
        assert!(m.due(t0 + Duration::from_secs(1)));
        let line = m.rate_line(later, t0 + Duration::from_millis(1300));
        assert!(!m.due(t0 + Duration::from_millis(1999)));
        assert!(m.due(t0 + Duration::from_secs(2)));
        assert_eq!(
            line,
            "[sim:0] RX: 0.77 Mpps 517 Mbit/s | TX: 0.00 Mpps 0 Mbit/s"
        );
        // Far behind: the missed lines are skipped.
        m.rate_line(later, t0 + Duration::from_millis(4500));
        assert!(!m.due(t0 + Duration::from_millis(5499)));
        assert!(m.due(t0 + Duration::from_millis(5500)));
        assert_eq!(m.total(later).rx_packets, 1_000_000);
        assert!(
            m.totals_line(later, t0 + Duration::from_secs(2), &[])
                .starts_with("[sim:0] total over 2.00 s: RX 1000000 packets 64000000 bytes")
        );
    }

    #[test]
    fn coarse_clock_reads_the_time_every_n_calls() {
        let mut c = CoarseClock::new(4);
        for _ in 0..3 {
            for _ in 0..3 {
                assert_eq!(c.poll(), None);
            }
            assert!(c.poll().is_some());
        }
        let mut every = CoarseClock::new(0);
        assert!(every.poll().is_some() && every.poll().is_some());
    }
}
