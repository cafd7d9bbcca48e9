//! What rixy's applications share: `rixy-pktgen`, `rixy-fwd` and `rixy-pcap` (in `src/bin/`)
//! are thin loops over the public device API, and everything else they need lives here, where
//! it can be tested and reused (the QEMU payload checker reads captures with [`pcap`]'s
//! constants). The test frame pktgen sends is not here but in [`crate::frame`]: the simulated
//! traffic source sends it too.
//!
//! This module and the three apps come with the cargo feature `apps` (on by default), which
//! brings clap and ctrlc; a program that only drives NICs depends on rixy with
//! `default-features = false` and gets the driver alone.
//!
//! - [`cli`]: the command lines of the three apps (clap) and their value parsers,
//! - [`pcap`]: a writer for classic pcap files,
//! - [`stats`]: the per-second rate lines and the totals line,
//! - [`stop`]: when to stop (Ctrl-C, SIGTERM, a duration).
//!
//! Every app reports failure the same way: one line `error: ...` on stderr and a non-zero exit
//! code ([`exit_code`]).
//!
//! On simulated ports (`sim:N`) every app also shows what the 82599 model reported about how
//! rixy's driver drove the port ([`ModelWatch`]), and fails when any report is an ERROR.

pub mod cli;
pub mod pcap;
pub mod stats;
pub mod stop;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::regs::ixgbe::{RegisterId, Registers, RxQueue};
use crate::sim::{self, Report, Severity};
use crate::{Config, Device, Stats};
use cli::{DeviceOptions, SimMistake};
use stats::Meter;

/// Everything that can stop an app, with a message for its user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The device could not be opened or failed while running, or the library refused a
    /// request (such as a test frame size outside Ethernet's, [`crate::Error::FrameSize`]).
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

    /// The signal handler for Ctrl-C could not be installed.
    #[error("cannot install the Ctrl-C handler: {0}")]
    Signal(String),

    /// A command line that parses but cannot work (the same device twice, ...).
    #[error("{0}")]
    Usage(String),

    /// The 82599 model saw the driver break a datasheet rule it rates ERROR (`sim:N` ports).
    #[error(
        "the 82599 model reported {errors} ERROR(s): {rules}; rixy's driver broke a datasheet rule (the `model:` lines above show the first report of each rule)"
    )]
    ModelErrors {
        /// How many ERROR reports, on all ports.
        errors: usize,
        /// The rules, per port (`sim:0: tail-out-of-range`).
        rules: String,
    },
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

/// The line an app prints once per device after opening it: the DMA memory of its queues
/// ([`Device::memory`], [`crate::MemoryFootprint`]'s summary) and the process's resident
/// memory so far ([`resident_bytes`]), e.g. `[sim:0] memory: 2 queues, rx 1 x (ring 8 KiB +
/// pool 4.00 MiB), tx 1 x (ring 8 KiB), 4.02 MiB of DMA memory; resident 6.20 MiB`.
pub fn memory_line(device: &Device) -> String {
    let resident = match resident_bytes() {
        Some(bytes) => crate::memory::format_bytes(bytes),
        None => "unknown".to_string(),
    };
    format!(
        "[{}] memory: {}; resident {resident}",
        device.name(),
        device.memory()
    )
}

/// The process's resident memory (`VmRSS` of `/proc/self/status`), in bytes; `None` where
/// the kernel does not say.
pub fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

/// `VmRSS:    6348 kB` from a `/proc/<pid>/status` text, in bytes.
fn parse_vm_rss(status: &str) -> Option<usize> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: usize = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Empty receive batches in a row after which an app with `--interrupts` sleeps on the queue's
/// interrupt: while packets come, it polls, as ixy does.
pub const IDLE_POLLS: u32 = 16;

/// The longest an app sleeps on an interrupt at once, so that its stop conditions and rate
/// lines stay timely.
pub const WAIT_SLICE: Duration = Duration::from_millis(10);

/// Counts empty receive batches in a row, to say when to sleep ([`IDLE_POLLS`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Idle {
    empty: u32,
}

impl Idle {
    /// Records a batch that received `got` packets; `true` when the queue has been idle long
    /// enough to wait for its interrupt.
    #[inline]
    pub fn should_wait(&mut self, got: usize) -> bool {
        if got > 0 {
            self.empty = 0;
            return false;
        }
        self.empty = self.empty.saturating_add(1);
        self.empty >= IDLE_POLLS
    }
}

/// How long an app waits at the end for a device to send what its transmit ring still holds.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Waits until `device` has sent (or refused, counted in [`Stats::tx_errors`]) the `sent`
/// packets its transmit queues took since `meter` started, for at most `timeout`; returns the
/// device's statistics at the end. The device's counters count what really left, so an app
/// that read them right after its last [`Device::tx_batch`] would miss what is still queued.
/// Empty transmit batches on every queue keep the driver cleaning the rings meanwhile (and let
/// a simulated port run); the queues' handles must be back with the device.
pub fn wait_until_sent(
    device: &mut Device,
    meter: &Meter,
    sent: u64,
    timeout: Duration,
) -> AppResult<Stats> {
    let deadline = Instant::now() + timeout;
    let mut nothing = VecDeque::new();
    loop {
        for queue in 0..device.tx_queues() {
            device.tx_batch(queue, &mut nothing)?;
        }
        let stats = device.stats();
        let total = meter.total(stats);
        if total.tx_packets + total.tx_errors >= sent || Instant::now() >= deadline {
            return Ok(stats);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// For a device with several queues, what each moved as the driver counted it, as a
/// totals-line part (`queues: RX 510 490 | TX 500 500`: queue 0 first); `None` with one
/// receive and one transmit queue, where the totals say it all.
pub fn queues_extra(device: &Device) -> Option<String> {
    if device.rx_queues() < 2 && device.tx_queues() < 2 {
        return None;
    }
    let rx: Vec<String> = (0..device.rx_queues())
        .filter_map(|q| device.rx_queue_stats(q))
        .map(|s| s.packets.to_string())
        .collect();
    let tx: Vec<String> = (0..device.tx_queues())
        .filter_map(|q| device.tx_queue_stats(q))
        .map(|s| s.packets.to_string())
        .collect();
    Some(format!("queues: RX {} TX {}", rx.join(" "), tx.join(" ")))
}

/// The notifications the driver gave the device, over all its queues, as a totals-line part
/// (`notifications: 1234`): virtio queue notifications (each an exit to the hypervisor), or
/// the 82599's tail writes.
pub fn notifications_extra(device: &Device) -> String {
    let rx: u64 = (0..device.rx_queues())
        .filter_map(|q| device.rx_queue_stats(q))
        .map(|s| s.notifications)
        .sum();
    let tx: u64 = (0..device.tx_queues())
        .filter_map(|q| device.tx_queue_stats(q))
        .map(|s| s.notifications)
        .sum();
    format!("notifications: {}", rx + tx)
}

/// For a simulated port, what its link partner received, as a totals-line part
/// (`wire: 1000 frames 60000 bytes, 1 UDP source ports`); `None` on real hardware.
pub fn wire_extra(device: &Device) -> Option<String> {
    device.sim_wire().map(|wire| {
        format!(
            "wire: {} frames {} bytes, {} UDP source ports",
            wire.frames, wire.bytes, wire.udp_src_ports
        )
    })
}

/// The simulated ports (`sim:N`) an app opened, watched for what the 82599 model reports about
/// how rixy's driver drives them (the model's [`sim::Report`]s).
///
/// The app opens its devices through [`ModelWatch::open`] and passes its outcome through
/// [`ModelWatch::finish`] when it ends, which prints on stderr, for every port with reports of
/// severity PEDANTIC or worse, a count line and one line per rule (how many reports, and the
/// first one), and turns the app's success into [`AppError::ModelErrors`] when any report is an
/// ERROR. A port without such reports prints nothing. INFO notes (deviations from the
/// datasheet's recommended flow that rixy makes by choice) are not printed; `RIXY_LOG=debug`
/// logs every report as the model makes it.
#[derive(Default)]
pub struct ModelWatch {
    ports: RefCell<Vec<(String, sim::Port)>>,
}

impl ModelWatch {
    /// Opens `address` ([`crate::open`]); a simulated port is watched from now on, and gets the
    /// mistake `--sim-inject` asks for. `--sim-inject` with real hardware is refused before
    /// anything is opened.
    pub fn open(
        &self,
        address: &str,
        config: &Config,
        options: &DeviceOptions,
    ) -> AppResult<Device> {
        if options.sim_inject.is_some() && !address.starts_with("sim:") {
            return Err(AppError::Usage(format!(
                "--sim-inject works on simulated ports (sim:N) only, not on {address}"
            )));
        }
        let device = crate::open(address, config)?;
        if let Some(port) = device.sim_port() {
            if let Some(mistake) = options.sim_inject {
                inject(port, mistake)?;
            }
            self.ports
                .borrow_mut()
                .push((device.name().to_string(), port.clone()));
        }
        Ok(device)
    }

    /// Prints what the model reported on every watched port (see [`ModelWatch`]) and returns
    /// `outcome`, or [`AppError::ModelErrors`] instead of success when a report is an ERROR.
    pub fn finish(&self, outcome: AppResult<()>) -> AppResult<()> {
        let mut errors = 0;
        let mut rules = Vec::new();
        let mut stderr = std::io::stderr().lock();
        for (name, port) in self.ports.borrow().iter() {
            let found = model_findings(name, &port.reports(), port.reports_dropped());
            for line in &found.lines {
                // Nothing sensible is left to do if stderr is gone.
                let _ = writeln!(stderr, "{line}");
            }
            if found.errors > 0 {
                errors += found.errors;
                rules.push(format!("{name}: {}", found.error_rules.join(", ")));
            }
        }
        match outcome {
            Ok(()) if errors > 0 => Err(AppError::ModelErrors {
                errors,
                rules: rules.join("; "),
            }),
            outcome => outcome,
        }
    }
}

/// Makes `mistake` on a simulated port's receive queue 0 (see [`SimMistake`]).
fn inject(port: &sim::Port, mistake: SimMistake) -> AppResult<()> {
    let bar = port.bar();
    let regs = Registers::new(bar.clone())?;
    let q = RxQueue::at::<0>();
    match mistake {
        SimMistake::Warn => {
            // RDH is read-only to software: there is no typed write, so the raw one.
            let head = port.register(RegisterId::RDH, 0);
            bar.write_raw(regs.rdh(q).offset(), head ^ 1);
        }
        SimMistake::Error => {
            use tock_registers::interfaces::Writeable;
            // No ring is that long: rixy's rings hold at most 4096 descriptors.
            regs.rdt(q).set(0xFFFF);
        }
        SimMistake::Removed => port.surprise_removal(),
    }
    Ok(())
}

/// What [`ModelWatch`] prints for one port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelFindings {
    /// The lines to print (none when there is nothing at PEDANTIC or worse).
    pub lines: Vec<String>,
    /// ERROR reports.
    pub errors: usize,
    /// The rules with an ERROR report.
    pub error_rules: Vec<&'static str>,
}

/// The summary of port `name`'s `reports` ([`sim::by_rule`]): a count line, then one line per
/// rule with its first report; `dropped` reports did not fit the model's log.
pub fn model_findings(name: &str, reports: &[Report], dropped: u64) -> ModelFindings {
    let shown: Vec<Report> = reports
        .iter()
        .filter(|r| r.severity <= Severity::Pedantic)
        .cloned()
        .collect();
    let mut found = ModelFindings::default();
    if shown.is_empty() && dropped == 0 {
        return found;
    }
    let rules = sim::by_rule(&shown);
    let count = |s: Severity| shown.iter().filter(|r| r.severity == s).count();
    found.errors = count(Severity::Error);
    found.error_rules = rules
        .iter()
        .filter(|r| r.worst == Severity::Error)
        .map(|r| r.rule)
        .collect();
    found.lines.push(format!(
        "[{name}] model: {} report(s) of {} rule(s): {} ERROR, {} WARN, {} PEDANTIC{}",
        shown.len(),
        rules.len(),
        found.errors,
        count(Severity::Warn),
        count(Severity::Pedantic),
        if dropped > 0 {
            format!(" (and {dropped} more the model did not keep)")
        } else {
            String::new()
        }
    ));
    for r in &rules {
        found.lines.push(format!(
            "[{name}] model: {} x {}, first: {}",
            r.count,
            r.rule,
            one_line(&r.first.to_string())
        ));
    }
    found
}

/// `message` on a single line: line breaks (which some OS messages carry) become spaces.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\trixy-fwd\nVmPeak:\t  20000 kB\nVmRSS:\t    6348 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(6348 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t  12 MB\n"), None);
        // This process has some resident memory, and less than its address space allows.
        let own = resident_bytes().expect("/proc/self/status has VmRSS on Linux");
        assert!(own > 0);
    }

    #[test]
    fn model_findings_show_violations_not_notes() {
        let report = |rule, severity| Report {
            severity,
            rule,
            register: Some("RDT"),
            value: Some(7),
            section: "4.6.7",
            access_index: 3,
            ring: None,
            detail: "what\nhappened".into(),
        };
        let info = [report("autoc-without-semaphore", Severity::Info)];
        assert_eq!(model_findings("sim:0", &info, 0), ModelFindings::default());
        let mixed = [
            report("autoc-without-semaphore", Severity::Info),
            report("head-written", Severity::Pedantic),
            report("tail-overrun", Severity::Error),
            report("tail-overrun", Severity::Error),
        ];
        let found = model_findings("sim:0", &mixed, 5);
        assert_eq!(found.errors, 2);
        assert_eq!(found.error_rules, ["tail-overrun"]);
        assert_eq!(
            found.lines,
            [
                "[sim:0] model: 3 report(s) of 2 rule(s): 2 ERROR, 0 WARN, 1 PEDANTIC (and 5 more the model did not keep)",
                "[sim:0] model: 2 x tail-overrun, first: ERROR [tail-overrun] (DS 4.6.7) RDT = 0x7 at access #3: what happened",
                "[sim:0] model: 1 x head-written, first: PEDANTIC [head-written] (DS 4.6.7) RDT = 0x7 at access #3: what happened",
            ]
        );
    }

    #[test]
    fn errors_print_on_one_line() {
        assert_eq!(one_line("a\nb  c\r\n"), "a b c");
        let e = AppError::from(crate::Error::FrameSize { size: 20 });
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
