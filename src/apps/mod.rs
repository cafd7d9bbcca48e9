//! What rixy's applications share: `rixy-pktgen`, `rixy-fwd` and `rixy-pcap` (in `src/bin/`)
//! are thin loops over the public device API, and everything else they need lives here, where
//! it can be tested and reused (the QEMU payload checker reads captures with [`frame`]).
//!
//! - [`cli`]: the command lines of the three apps (clap) and their value parsers,
//! - [`frame`]: the UDP/IPv4 test frame pktgen sends, and its sequence number,
//! - [`pcap`]: a writer for classic pcap files,
//! - [`stats`]: the per-second rate lines and the totals line,
//! - [`stop`]: when to stop (Ctrl-C, SIGTERM, a duration).
//!
//! Every app reports failure the same way: one line `error: ...` on stderr and a non-zero exit
//! code ([`exit_code`]).

pub mod cli;
pub mod frame;
pub mod pcap;
pub mod stats;
pub mod stop;

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::{Device, Stats};
use stats::Meter;

/// Everything that can stop an app, with a message for its user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The device could not be opened or failed while running.
    #[error(transparent)]
    Device(#[from] crate::Error),

    /// The capture file cannot be created.
    #[error("cannot create the pcap file {}: {source}", path.display())]
    CreateCapture {
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },

    /// Writing the capture failed (disk full, pipe closed by an error, ...).
    #[error("cannot write the pcap file {}: {source}", path.display())]
    WriteCapture {
        /// The file (`-` for standard output).
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },

    /// A test frame size outside what Ethernet allows without jumbo frames.
    #[error(
        "a frame of {size} bytes is outside {}..={}: give a size in that range (without the 4-byte FCS)",
        frame::MIN_FRAME_LEN,
        frame::MAX_FRAME_LEN
    )]
    FrameSize {
        /// The size asked for.
        size: usize,
    },

    /// The signal handler for Ctrl-C could not be installed.
    #[error("cannot install the Ctrl-C handler: {0}")]
    Signal(String),

    /// A command line that parses but cannot work (the same device twice, ...).
    #[error("{0}")]
    Usage(String),
}

/// The result type of the apps.
pub type AppResult<T> = std::result::Result<T, AppError>;

/// Sends the library's log messages (`log` facade) to stderr, one line each: warnings and
/// errors always, informational ones (such as "unbound kernel driver") with `RIXY_LOG=info`.
pub fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::max_level()
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                eprintln!(
                    "rixy: {}: {}",
                    record.level().as_str().to_lowercase(),
                    record.args()
                );
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let level = match std::env::var("RIXY_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("info") => log::LevelFilter::Info,
        Ok("error") => log::LevelFilter::Error,
        _ => log::LevelFilter::Warn,
    };
    // A logger set already (by an embedding program) stays.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Turns an app's outcome into its exit code: success is 0; an error is printed as one line
/// `error: <message>` on stderr (never a backtrace or a debug dump) and the code is 1.
pub fn exit_code(result: AppResult<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let line = one_line(&error.to_string());
            // Nothing sensible is left to do if stderr is gone too.
            let _ = writeln!(std::io::stderr(), "error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// How long an app waits at the end for a device to send what its transmit ring still holds.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Waits until `device` has sent (or refused, counted in [`Stats::tx_errors`]) the `sent`
/// packets its transmit queue `queue` took since `meter` started, for at most `timeout`;
/// returns the device's statistics at the end. The device's counters count what really left,
/// so an app that read them right after its last [`Device::tx_batch`] would miss what is still
/// queued. Empty transmit batches keep the driver cleaning the ring meanwhile (and let a
/// simulated port run).
pub fn wait_until_sent(
    device: &mut Device,
    queue: u16,
    meter: &Meter,
    sent: u64,
    timeout: Duration,
) -> AppResult<Stats> {
    let deadline = Instant::now() + timeout;
    let mut nothing = VecDeque::new();
    loop {
        device.tx_batch(queue, &mut nothing)?;
        let stats = device.stats();
        let total = meter.total(stats);
        if total.tx_packets + total.tx_errors >= sent || Instant::now() >= deadline {
            return Ok(stats);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// For a simulated port, what its link partner received, as a totals-line part
/// (`wire: 1000 frames`); `None` on real hardware.
pub fn wire_extra(device: &Device) -> Option<String> {
    device
        .sim_wire()
        .map(|wire| format!("wire: {} frames {} bytes", wire.frames, wire.bytes))
}

/// `message` on a single line: line breaks (which some OS messages carry) become spaces.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_on_one_line() {
        assert_eq!(one_line("a\nb  c\r\n"), "a b c");
        let e = AppError::FrameSize { size: 20 };
        assert_eq!(
            e.to_string(),
            "a frame of 20 bytes is outside 60..=1514: give a size in that range (without the 4-byte FCS)"
        );
        let e = AppError::from(crate::Error::InvalidDeviceAddress {
            address: "nope".into(),
        });
        assert!(
            e.to_string()
                .starts_with("\"nope\" is not a device address")
        );
    }
}
