//! The command lines of `rixy-pktgen`, `rixy-fwd` and `rixy-pcap`, and the value parsers they
//! share. Every app takes devices by PCI address (`0000:03:00.0`) or as simulated ports
//! (`sim:0`), and prints `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::frame::{BASE_SRC_PORT, MAX_FLOWS, MAX_FRAME_LEN, MIN_FRAME_LEN, SEQ_OFFSET};
use crate::{Config, MacAddress};

/// What a device argument accepts, for `--help`.
const DEVICE_HELP: &str = "PCI address (0000:03:00.0) or simulated 82599 port (sim:0)";

/// Where devices are found, shared by every app. Only real hardware uses these.
#[derive(Clone, Debug, Args)]
pub struct DeviceOptions {
    /// Where hugetlbfs is mounted (real hardware only; see ci/setup-hugepages).
    #[arg(long, value_name = "DIR", default_value_os_t = Config::default().hugepage_dir)]
    pub hugepage_dir: PathBuf,

    /// The sysfs directory of PCI devices. Hidden from --help: rixy's tests point it at a fake
    /// tree to check the apps' errors without touching the machine's devices.
    #[arg(long, value_name = "DIR", default_value_os_t = Config::default().sysfs_root, hide = true)]
    pub sysfs_root: PathBuf,

    /// A driver mistake done on purpose on every simulated port right after it opens. Hidden
    /// from --help: rixy's tests use it to check that the apps show what the 82599 model
    /// reports ([`crate::apps::ModelWatch`]); refused for real hardware.
    #[arg(long, value_name = "MISTAKE", hide = true)]
    pub sim_inject: Option<SimMistake>,
}

/// How an app that receives waits when nothing arrives: spinning (the default, as ixy polls) or
/// sleeping on the receive queues' interrupts.
#[derive(Clone, Debug, Args)]
pub struct WaitOptions {
    /// Sleep on the receive queues' MSI-X interrupts while idle instead of spinning: poll while
    /// packets come, wait for an interrupt after a run of empty batches. Needs a device whose
    /// interrupts reach the process: an 82599 bound to vfio-pci, or a simulated port.
    #[arg(long)]
    pub interrupts: bool,

    /// With --interrupts, the 82599's interrupt throttle: at least this many microseconds
    /// between two interrupts of a queue (EITR); 0 turns it off; even, up to 1022.
    /// [default: 10]
    #[arg(long, value_name = "MICROSECONDS", requires = "interrupts")]
    pub itr: Option<u32>,
}

impl WaitOptions {
    /// `config` with these options.
    pub fn apply(&self, config: Config) -> Config {
        Config {
            interrupts: self.interrupts,
            itr_us: self.itr,
            ..config
        }
    }
}

/// A driver mistake `--sim-inject` makes on a simulated port, so that the model reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimMistake {
    /// Writes receive queue 0's head while the queue runs: a WARN (`head-written`), which the
    /// device ignores.
    Warn,
    /// Writes receive queue 0's tail beyond its ring: an ERROR (`tail-out-of-range`), which the
    /// device ignores.
    Error,
    /// Not a mistake but a device fault: the port falls off the bus right after it opens
    /// (surprise removal), so the app's batches fail with `DeviceRemoved`.
    Removed,
}

impl DeviceOptions {
    /// The default device configuration with these directories.
    pub fn config(&self) -> Config {
        Config {
            hugepage_dir: self.hugepage_dir.clone(),
            sysfs_root: self.sysfs_root.clone(),
            ..Config::default()
        }
    }
}

/// `rixy-pktgen <dev>`: sends test frames as fast as the device takes them, or at `--rate`.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "rixy-pktgen",
    version,
    about = "Send sequence-numbered 60-byte UDP/IPv4 frames, like ixy's pktgen",
    long_about = format!(
        "Send UDP/IPv4 frames (10.0.0.1:42 -> 10.0.0.2:1337, payload \"ixy\", valid IPv4 header \
         checksum, UDP checksum 0) from a pre-filled mempool. Each frame carries a 32-bit \
         sequence number, little-endian, at byte offset {SEQ_OFFSET} of the frame, counting up \
         from 0. With --flows N the frames are spread over N flows for receive side scaling: \
         frame k gets UDP source port {BASE_SRC_PORT} + (k mod N), nothing else changes. \
         Prints one rate line per second and a totals line on exit (Ctrl-C, --count or \
         --duration)."
    )
)]
pub struct PktgenArgs {
    /// The device to send on: a PCI address (0000:03:00.0) or a simulated 82599 port (sim:0).
    #[arg(value_name = "DEVICE", help = DEVICE_HELP)]
    pub device: String,

    /// Packets handed to the device per call.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,

    /// Send at most this many packets per second (paced in batches); unlimited by default.
    #[arg(long, value_name = "PPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,

    /// Stop after sending this many packets (and waiting until the device sent them).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Frame size in bytes, without the 4-byte FCS the NIC appends.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = MIN_FRAME_LEN as u16,
        value_parser = clap::value_parser!(u16).range(MIN_FRAME_LEN as i64..=MAX_FRAME_LEN as i64)
    )]
    pub size: u16,

    /// Transmit queue to send on (with --queues 1).
    #[arg(long, default_value_t = 0)]
    pub queue: u16,

    /// Send from this many threads, thread i on transmit queue i with a mempool of its own
    /// (82599 only). Thread i numbers its frames i, i + N, i + 2N, ...; the queues' frames
    /// interleave on the wire in no fixed order.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,

    /// Spread the frames over this many flows, so that a receiver's RSS spreads them over its
    /// queues: frame k gets UDP source port 42 + (k mod N); 1 to 65493.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_FLOWS))
    )]
    pub flows: u32,

    /// Destination MAC address. The default, broadcast, is accepted by every receiver without
    /// promiscuous mode.
    #[arg(long, value_name = "MAC", default_value = "ff:ff:ff:ff:ff:ff", value_parser = parse_mac)]
    pub dst_mac: MacAddress,

    /// Source MAC address [default: the device's own].
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    pub src_mac: Option<MacAddress>,

    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,

    /// Where devices are found.
    #[command(flatten)]
    pub devices: DeviceOptions,
}

/// `rixy-fwd <dev1> <dev2>`: forwards in both directions between two devices.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "rixy-fwd",
    version,
    about = "Forward packets in both directions between two devices, like ixy's forwarder",
    long_about = "Forward packets in both directions between two devices, like ixy's forwarder: \
        receive a batch on one device, read and write one byte of every packet (so the data is \
        really fetched), send the batch on the other device and free what its transmit ring \
        cannot take. Prints one rate line per device per second and a totals line per device \
        on exit (Ctrl-C or --duration)."
)]
pub struct FwdArgs {
    /// The first device: a PCI address (0000:03:00.0) or a simulated 82599 port (sim:0).
    #[arg(value_name = "DEVICE1", help = DEVICE_HELP)]
    pub device1: String,

    /// The second device.
    #[arg(value_name = "DEVICE2", help = DEVICE_HELP)]
    pub device2: String,

    /// Packets received per call (less than the receive ring size).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,

    /// Receive ring size of both devices: a power of two from 64 to 4096.
    #[arg(long, value_name = "DESCRIPTORS", default_value_t = 512)]
    pub rx_ring: u32,

    /// Transmit ring size of both devices: a power of two from 64 to 4096.
    #[arg(long, value_name = "DESCRIPTORS", default_value_t = 512)]
    pub tx_ring: u32,

    /// Queue pairs per device, each served by a thread of its own: thread i forwards receive
    /// queue i of one device to transmit queue i of the other, both ways. With more than one,
    /// the devices spread received flows over their queues by RSS (82599 only; 1 to 16).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,

    /// Stop after this many seconds (fractions allowed); an addition to ixy's forwarder, for
    /// scripts.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,

    /// How to wait when nothing arrives.
    #[command(flatten)]
    pub wait: WaitOptions,

    /// Where devices are found.
    #[command(flatten)]
    pub devices: DeviceOptions,
}

/// `rixy-pcap <dev> <file> [n]`: captures to a pcap file.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "rixy-pcap",
    version,
    about = "Capture packets from a device into a pcap file, like ixy's pcap",
    long_about = "Capture packets from a device (in promiscuous mode) into a classic pcap file \
        (Ethernet link type, microsecond timestamps) that tcpdump, tshark and Wireshark read. \
        Stops after N packets, on Ctrl-C or after --duration. Prints one rate line per second \
        and a totals line on exit: on standard output, or on standard error when the capture \
        goes to standard output."
)]
pub struct PcapArgs {
    /// The device to capture on: a PCI address (0000:03:00.0) or a simulated 82599 port (sim:0).
    #[arg(value_name = "DEVICE", help = DEVICE_HELP)]
    pub device: String,

    /// The pcap file to write (replaced if it exists); `-` for standard output.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Stop after capturing this many packets; without it, capture until Ctrl-C or --duration.
    #[arg(value_name = "N")]
    pub count: Option<u64>,

    /// Packets received per call (less than the receive ring size).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,

    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,

    /// How to wait when nothing arrives.
    #[command(flatten)]
    pub wait: WaitOptions,

    /// Where devices are found.
    #[command(flatten)]
    pub devices: DeviceOptions,
}

impl PcapArgs {
    /// Whether the capture goes to standard output.
    pub fn to_stdout(&self) -> bool {
        self.file.as_os_str() == "-"
    }
}

/// Parses a MAC address (`52:54:00:12:34:56`), for clap.
pub fn parse_mac(text: &str) -> Result<MacAddress, String> {
    text.parse().map_err(|_| {
        format!("{text:?} is not a MAC address: write six hex bytes, like 52:54:00:12:34:56")
    })
}

/// Parses a non-negative number of seconds (`10`, `0.5`), for clap.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a number of seconds from 0 up"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        PktgenArgs::command().debug_assert();
        FwdArgs::command().debug_assert();
        PcapArgs::command().debug_assert();
    }

    #[test]
    fn pktgen_defaults_and_options() {
        let a = PktgenArgs::try_parse_from(["rixy-pktgen", "sim:0"]).unwrap();
        assert_eq!(a.device, "sim:0");
        assert_eq!((a.batch, a.size, a.queue, a.flows), (32, 60, 0, 1));
        assert_eq!(
            (a.rate, a.count, a.src_mac, a.duration),
            (None, None, None, None)
        );
        assert_eq!(a.dst_mac, MacAddress([0xff; 6]));
        let config = a.devices.config();
        assert_eq!(config.hugepage_dir, Config::default().hugepage_dir);
        assert_eq!(config.sysfs_root, Config::default().sysfs_root);

        let a = PktgenArgs::try_parse_from([
            "rixy-pktgen",
            "0000:03:00.0",
            "--batch",
            "64",
            "--rate",
            "1000",
            "--count",
            "5",
            "--size",
            "1514",
            "--queue",
            "1",
            "--dst-mac",
            "02:00:00:00:00:01",
            "--src-mac",
            "02:00:00:00:00:02",
            "--duration",
            "1.5",
            "--flows",
            "65493",
        ])
        .unwrap();
        assert_eq!(
            (a.batch, a.rate, a.count, a.size, a.queue, a.flows),
            (64, Some(1000), Some(5), 1514, 1, 65_493)
        );
        assert_eq!(a.dst_mac, MacAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(a.src_mac, Some(MacAddress([2, 0, 0, 0, 0, 2])));
        assert_eq!(a.duration, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn pktgen_rejects_bad_values() {
        for bad in [
            &["--size", "59"][..],
            &["--size", "1515"],
            &["--batch", "0"],
            &["--rate", "0"],
            &["--dst-mac", "ff:ff"],
            &["--duration", "-1"],
            &["--count", "many"],
            &["--flows", "0"],
            &["--flows", "65494"],
            &["--flows", "-1"],
        ] {
            let mut argv = vec!["rixy-pktgen", "sim:0"];
            argv.extend_from_slice(bad);
            assert!(PktgenArgs::try_parse_from(&argv).is_err(), "{bad:?}");
        }
        assert!(PktgenArgs::try_parse_from(["rixy-pktgen"]).is_err());
    }

    #[test]
    fn fwd_and_pcap() {
        let f =
            FwdArgs::try_parse_from(["rixy-fwd", "sim:0", "sim:1", "--rx-ring", "1024"]).unwrap();
        assert_eq!((f.device1.as_str(), f.device2.as_str()), ("sim:0", "sim:1"));
        assert_eq!(
            (f.batch, f.rx_ring, f.tx_ring, f.duration),
            (32, 1024, 512, None)
        );
        assert!(FwdArgs::try_parse_from(["rixy-fwd", "sim:0"]).is_err());

        let p = PcapArgs::try_parse_from(["rixy-pcap", "sim:0", "-", "100"]).unwrap();
        assert!(p.to_stdout());
        assert_eq!(p.count, Some(100));
        let p = PcapArgs::try_parse_from(["rixy-pcap", "sim:0", "out.pcap", "--duration", "2"])
            .unwrap();
        assert!(!p.to_stdout());
        assert_eq!((p.count, p.duration), (None, Some(Duration::from_secs(2))));
        let p = PcapArgs::try_parse_from([
            "rixy-pcap",
            "sim:0",
            "x.pcap",
            "--hugepage-dir",
            "/huge",
            "--sysfs-root",
            "/fake",
        ])
        .unwrap();
        let config = p.devices.config();
        assert_eq!(
            (config.hugepage_dir.to_str(), config.sysfs_root.to_str()),
            (Some("/huge"), Some("/fake"))
        );
        assert!(
            !PcapArgs::command()
                .render_help()
                .to_string()
                .contains("sysfs")
        );
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds(" 2.25 "), Ok(Duration::from_millis(2250)));
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("-0.5").is_err());
        assert_eq!(
            parse_mac("02:00:00:00:00:0a"),
            Ok(MacAddress([2, 0, 0, 0, 0, 10]))
        );
        assert!(
            parse_mac("02:00:00:00:00")
                .unwrap_err()
                .contains("not a MAC address")
        );
    }
}
