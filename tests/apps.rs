//! The apps, run as the user runs them: `rixy-pktgen`, `rixy-fwd` and `rixy-pcap` started as
//! processes on simulated ports (`sim:N`) and on fake sysfs trees, their output and exit codes
//! checked, their captures read back by a pcap reader written here (independently of the
//! writer) and, when it is installed, by tshark.
//!
//! Nothing here touches the machine's real PCI devices: every PCI address goes to a fake sysfs
//! tree in a temporary directory (`--sysfs-root`).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::FakeSysfs;
use rixy::apps::pcap::PcapWriter;
use rixy::frame::{self, FrameSpec};

const PKTGEN: &str = env!("CARGO_BIN_EXE_rixy-pktgen");
const FWD: &str = env!("CARGO_BIN_EXE_rixy-fwd");
const PCAP: &str = env!("CARGO_BIN_EXE_rixy-pcap");

/// No app run here should take longer; a hung app fails its test instead of hanging CI.
const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Running the apps

/// Runs `bin` with `args` to completion (killing it after [`TIMEOUT`]).
fn run(bin: &str, args: &[&str]) -> Output {
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    finish(child, &format!("{bin} {}", args.join(" ")))
}

/// Waits for `child` (killing it after [`TIMEOUT`]) and collects its output.
fn finish(mut child: Child, what: &str) -> Output {
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {TIMEOUT:?}; stderr:\n{}",
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Reads a pipe to its end on a thread, so that a chatty child never blocks on a full pipe.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut buf).unwrap();
        }
        buf
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that an app succeeded, showing its output if not.
fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Asserts the failure contract: exit code 1, nothing on stdout, and exactly one line on stderr,
/// `error: ...`, that contains every one of `names` and no trace of a panic or a debug dump.
fn assert_one_line_error(out: &Output, names: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit status {}; stderr:\n{stderr}",
        out.status
    );
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    for name in names {
        assert!(line.contains(name), "{line:?} does not name {name:?}");
    }
    for sign in [
        "panicked",
        "RUST_BACKTRACE",
        "Os {",
        "kind:",
        "Error {",
        "Some(",
    ] {
        assert!(
            !line.contains(sign),
            "{line:?} looks like a panic or a debug dump"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The apps' output

/// One device's totals line, e.g. `[sim:0] total over 1.00 s: RX 10 packets 640 bytes, 0
/// dropped, 0 errors | TX 9 packets 576 bytes, 0 errors | sent: 9 | wire: 9 frames`.
#[derive(Debug)]
struct Totals {
    rx_packets: u64,
    tx_packets: u64,
    tx_errors: u64,
    /// The parts after the TX part.
    extras: Vec<String>,
}

impl Totals {
    /// The number in the extra part that starts with `label`, e.g. `"sent:"` or `"wire:"`.
    fn extra(&self, label: &str) -> Option<u64> {
        let part = self.extras.iter().find(|e| e.starts_with(label))?;
        number_after(part, label)
    }
}

/// The first number after `label` in `text`.
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The totals line of `device` in `output` (panics unless there is exactly one).
fn totals(output: &str, device: &str) -> Totals {
    let prefix = format!("[{device}] total over ");
    let lines: Vec<&str> = output.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "one totals line for {device} in:\n{output}");
    let parts: Vec<&str> = lines[0].split(" | ").collect();
    let num = |part: &str, label: &str| {
        number_after(part, label).unwrap_or_else(|| panic!("no {label:?} in {part:?}"))
    };
    Totals {
        rx_packets: num(parts[0], ": RX"),
        tx_packets: num(parts[1], "TX"),
        tx_errors: num(parts[1], "bytes,"),
        extras: parts[2..].iter().map(|s| s.to_string()).collect(),
    }
}

/// The rate lines of `device` in `output`.
fn rate_lines<'a>(output: &'a str, device: &str) -> Vec<&'a str> {
    let prefix = format!("[{device}] RX: ");
    output.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// Checks the shape of a rate line: `[dev] RX: 0.85 Mpps 571 Mbit/s | TX: 0.85 Mpps 571 Mbit/s`.
fn assert_rate_line(line: &str) {
    let (_, rest) = line.split_once("] ").expect(line);
    let words: Vec<&str> = rest.split(' ').collect();
    assert_eq!(words.len(), 11, "{line}");
    assert_eq!(
        (
            words[0], words[2], words[4], words[5], words[6], words[8], words[10]
        ),
        ("RX:", "Mpps", "Mbit/s", "|", "TX:", "Mpps", "Mbit/s"),
        "{line}"
    );
    for number in [words[1], words[7]] {
        let (_, decimals) = number.split_once('.').expect(line);
        assert_eq!(decimals.len(), 2, "{line}");
        number.parse::<f64>().expect(line);
    }
    words[3].parse::<u64>().expect(line);
    words[9].parse::<u64>().expect(line);
}

// ---------------------------------------------------------------------------------------------
// A pcap reader, written from the format description, independent of rixy's writer

#[derive(Debug)]
struct Capture {
    snaplen: u32,
    linktype: u32,
    records: Vec<Record>,
}

#[derive(Debug)]
struct Record {
    seconds: u32,
    micros: u32,
    original_len: u32,
    data: Vec<u8>,
}

/// Parses a classic pcap file (either byte order, microsecond timestamps).
fn read_pcap(bytes: &[u8]) -> Capture {
    assert!(bytes.len() >= 24, "{} bytes: no global header", bytes.len());
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let little = match magic {
        0xa1b2_c3d4 => true,
        0xd4c3_b2a1 => false,
        other => panic!("magic {other:#010x} is not microsecond pcap"),
    };
    let u16_at = |b: &[u8], at: usize| {
        let v = [b[at], b[at + 1]];
        if little {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], at: usize| {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if little {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    assert_eq!((u16_at(bytes, 4), u16_at(bytes, 6)), (2, 4), "version");
    let snaplen = u32_at(bytes, 16);
    let linktype = u32_at(bytes, 20);
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        assert!(at + 16 <= bytes.len(), "truncated record header at {at}");
        let captured = u32_at(bytes, at + 8) as usize;
        let original_len = u32_at(bytes, at + 12);
        assert!(captured <= snaplen as usize && captured as u32 <= original_len);
        let data = bytes
            .get(at + 16..at + 16 + captured)
            .unwrap_or_else(|| panic!("truncated record data at {at}"))
            .to_vec();
        records.push(Record {
            seconds: u32_at(bytes, at),
            micros: u32_at(bytes, at + 4),
            original_len,
            data,
        });
        at += 16 + captured;
    }
    Capture {
        snaplen,
        linktype,
        records,
    }
}

/// Checks a capture of test frames: Ethernet, snaplen 65535, `count` records of 60 bytes,
/// each a valid test frame, with strictly increasing sequence numbers and non-decreasing
/// timestamps.
fn assert_test_frames(capture: &Capture, count: usize) {
    assert_eq!((capture.snaplen, capture.linktype), (65_535, 1));
    assert_eq!(capture.records.len(), count);
    let mut last_seq: Option<u32> = None;
    let mut last_time = (0, 0);
    for (i, r) in capture.records.iter().enumerate() {
        assert_eq!((r.data.len(), r.original_len), (60, 60), "record {i}");
        assert!(r.micros < 1_000_000, "record {i}");
        assert!(
            (r.seconds, r.micros) >= last_time,
            "record {i}: time goes back"
        );
        last_time = (r.seconds, r.micros);
        let parsed = frame::parse(&r.data).unwrap_or_else(|e| panic!("record {i}: {e}"));
        if let Some(last) = last_seq {
            assert!(
                parsed.seq > last,
                "record {i}: sequence {} after {last}",
                parsed.seq
            );
        }
        last_seq = Some(parsed.seq);
    }
}

// ---------------------------------------------------------------------------------------------
// tshark

/// tshark's path, or `None` with the reason printed (the test then skips).
fn tshark() -> Option<&'static str> {
    match Command::new("tshark").arg("--version").output() {
        Ok(out) if out.status.success() => Some("tshark"),
        _ => {
            eprintln!(
                "skipped: tshark is not installed (Debian package tshark; ci/install-deps installs it)"
            );
            None
        }
    }
}

/// Decodes `file` with tshark, with IPv4 header checksum checking on; returns per frame: the
/// frame length, the EtherType, the IP protocol, the IPv4 checksum status (1 = good) and the UDP
/// ports.
fn tshark_decode(tshark: &str, file: &Path) -> Vec<Vec<String>> {
    let out = Command::new(tshark)
        .arg("-r")
        .arg(file)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=,",
        ])
        .args(["-e", "frame.len", "-e", "eth.type", "-e", "ip.proto"])
        .args([
            "-e",
            "ip.checksum.status",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn assert_tshark_sees_test_frames(tshark: &str, file: &Path, count: usize) {
    let frames = tshark_decode(tshark, file);
    assert_eq!(frames.len(), count, "tshark's frame count");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            f,
            &["60", "0x0800", "17", "1", "42", "1337"],
            "frame {i} as tshark decodes it: length, IPv4, UDP, good checksum, ports"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fake sysfs trees

const INTEL: u16 = 0x8086;
const X520: u16 = 0x10fb;
const NIC: u8 = 0x02;
const BRIDGE: u8 = 0x06;
const ADDR: &str = "0000:03:00.0";

/// Each app's arguments around one device address.
fn each_app(device: &str, dir: &Path) -> Vec<(&'static str, Vec<String>)> {
    let pcap_file = dir.join("capture.pcap").to_str().unwrap().to_string();
    vec![
        (PKTGEN, vec![device.to_string()]),
        (FWD, vec![device.to_string(), "sim:7".to_string()]),
        (PCAP, vec![device.to_string(), pcap_file]),
    ]
}

fn args_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// Bad input: every exit path gives one line that names the problem

#[test]
fn help_and_version() {
    for bin in [PKTGEN, FWD, PCAP] {
        let out = run(bin, &["--help"]);
        assert_success(bin, &out);
        let help = text(&out.stdout);
        assert!(
            help.contains("sim:0") && help.contains("--duration"),
            "{help}"
        );
        assert!(
            !help.contains("--sysfs-root") && !help.contains("--sim-inject"),
            "the test hooks stay hidden:\n{help}"
        );
        assert_success(bin, &run(bin, &["--version"]));
    }
    let help = text(&run(PKTGEN, &["--help"]).stdout);
    for option in [
        "--batch",
        "--rate",
        "--count",
        "--size",
        "--queue",
        "--dst-mac",
        "--src-mac",
        "--flows",
    ] {
        assert!(help.contains(option), "pktgen --help lacks {option}");
    }
    assert!(help.contains("source port 42 + (k mod N)"), "{help}");
    assert!(
        help.contains(&format!("offset {}", frame::SEQ_OFFSET)),
        "{help}"
    );
    let help = text(&run(FWD, &["--help"]).stdout);
    for option in ["--batch", "--rx-ring", "--tx-ring"] {
        assert!(help.contains(option), "fwd --help lacks {option}");
    }
}

#[test]
fn malformed_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    for address in ["nope", "0000:03:00", "sim:x", "0000:03:20.0"] {
        for (bin, args) in each_app(address, tmp.path()) {
            let out = run(bin, &args_of(&args));
            assert_one_line_error(&out, &[address, "address"]);
        }
    }
}

#[test]
fn absent_pci_device() {
    let sysfs = FakeSysfs::new();
    let tmp = tempfile::tempdir().unwrap();
    for (bin, mut args) in each_app(ADDR, tmp.path()) {
        args.extend(["--sysfs-root".to_string(), sysfs.root_arg()]);
        let out = run(bin, &args_of(&args));
        assert_one_line_error(&out, &["no PCI device 0000:03:00.0", "lspci"]);
    }
}

#[test]
fn device_that_is_not_a_nic() {
    let sysfs = FakeSysfs::new();
    sysfs.add(ADDR, INTEL, 0x0d57, BRIDGE);
    let tmp = tempfile::tempdir().unwrap();
    for (bin, mut args) in each_app(ADDR, tmp.path()) {
        args.extend(["--sysfs-root".to_string(), sysfs.root_arg()]);
        let out = run(bin, &args_of(&args));
        assert_one_line_error(&out, &[ADDR, "not 0x02 (network controller)"]);
    }
}

#[test]
fn nic_without_a_rixy_driver() {
    let sysfs = FakeSysfs::new();
    sysfs.add(ADDR, 0x1234, 0x5678, NIC);
    let out = run(PKTGEN, &[ADDR, "--sysfs-root", &sysfs.root_arg()]);
    assert_one_line_error(&out, &[ADDR, "no rixy driver", "1234:5678"]);
}

/// Without root, rixy cannot take a device from the kernel: here the fake device's config space
/// is writable by root only, as in the real sysfs, and the app runs as an unprivileged user
/// (dropping root with setpriv when the test runs as root).
#[test]
fn missing_privileges() {
    let sysfs = FakeSysfs::new();
    let dir = sysfs.add(ADDR, INTEL, X520, NIC);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("skipped: running as root and setpriv (util-linux) is not installed");
            return;
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", PKTGEN]);
        c
    } else {
        Command::new(PKTGEN)
    };
    command.args([ADDR, "--sysfs-root", &sysfs.root_arg()]);
    let out = command.output().unwrap();
    if text(&out.stderr).contains(PKTGEN) && !text(&out.stderr).starts_with("error: ") {
        eprintln!(
            "skipped: the unprivileged user cannot run {PKTGEN}: {}",
            text(&out.stderr)
        );
        return;
    }
    let config = dir.join("config");
    assert_one_line_error(
        &out,
        &["permission denied", config.to_str().unwrap(), "run as root"],
    );
}

/// Huge pages are checked before the device is touched: a fake 82599 with a huge page
/// directory that is no hugetlbfs mount fails with the mount named.
#[test]
fn missing_huge_pages() {
    let sysfs = FakeSysfs::new();
    sysfs.add(ADDR, INTEL, X520, NIC);
    let not_huge = tempfile::tempdir().unwrap();
    let dir = not_huge.path().to_str().unwrap();
    let out = run(
        PKTGEN,
        &[
            ADDR,
            "--sysfs-root",
            &sysfs.root_arg(),
            "--hugepage-dir",
            dir,
        ],
    );
    assert_one_line_error(
        &out,
        &["no hugetlbfs mounted at", dir, "ci/setup-hugepages"],
    );
}

#[test]
fn unwritable_pcap_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing_dir = tmp.path().join("no/such/dir/x.pcap");
    let is_dir = tmp.path().to_path_buf();
    for (path, problem) in [
        (missing_dir, "No such file or directory"),
        (is_dir, "Is a directory"),
    ] {
        // The file is opened before the device, so this needs no device at all.
        let p = path.to_str().unwrap();
        let out = run(PCAP, &["sim:0", p, "10"]);
        assert_one_line_error(&out, &["cannot create the pcap file", p, problem]);
    }
}

#[test]
fn configurations_that_cannot_work() {
    let out = run(FWD, &["sim:0", "sim:1", "--rx-ring", "100"]);
    assert_one_line_error(&out, &["ring size 100", "power of two"]);
    let out = run(FWD, &["0000:03:00.0", "03:00.0"]);
    assert_one_line_error(&out, &["03:00.0 is given twice"]);
}

#[test]
fn bad_options_are_usage_errors() {
    for (bin, args, names) in [
        (
            PKTGEN,
            &["sim:0", "--size", "59"][..],
            &["--size", "59"][..],
        ),
        (PKTGEN, &["sim:0", "--size", "1515"], &["--size"]),
        (
            PKTGEN,
            &["sim:0", "--dst-mac", "ff:ff"],
            &["not a MAC address"],
        ),
        (PKTGEN, &["sim:0", "--rate", "0"], &["--rate"]),
        (
            PKTGEN,
            &["sim:0", "--flows", "0"],
            &["--flows", "0", "1..=65493"],
        ),
        (
            PKTGEN,
            &["sim:0", "--flows", "65494"],
            &["--flows", "65494"],
        ),
        (FWD, &["sim:0"], &["DEVICE2"]),
        (
            FWD,
            &["sim:0", "sim:1", "--queues", "17"],
            &["--queues", "17"],
        ),
        (FWD, &["sim:0", "sim:1", "--queues", "0"], &["--queues"]),
        (PKTGEN, &["sim:0", "--queues", "65"], &["--queues", "65"]),
        (PCAP, &["sim:0", "x.pcap", "ten"], &["ten"]),
        (
            PCAP,
            &["sim:0", "x.pcap", "--duration", "soon"],
            &["soon", "seconds"],
        ),
    ] {
        let out = run(bin, args);
        let stderr = text(&out.stderr);
        // clap's convention: exit code 2, `error: ...` first, then a hint to --help.
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{first}");
        for name in names {
            assert!(stderr.contains(name), "{stderr:?} does not name {name:?}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// The frame and the pcap writer, checked from outside

#[test]
fn pcap_writer_output_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("frames.pcap");
    let mut writer = PcapWriter::new(fs::File::create(&path).unwrap()).unwrap();
    let spec = FrameSpec::default();
    for seq in 0..100u32 {
        let time = Duration::new(1_700_000_000 + u64::from(seq / 10), seq * 1000);
        writer
            .write_packet(time, &spec.to_vec(seq * 3).unwrap())
            .unwrap();
    }
    writer.into_inner().unwrap();
    let capture = read_pcap(&fs::read(&path).unwrap());
    assert_test_frames(&capture, 100);
    assert_eq!(capture.records[42].micros, 42);
    assert_eq!(frame::seq(&capture.records[42].data), Some(126));

    if let Some(tshark) = tshark() {
        assert_tshark_sees_test_frames(tshark, &path, 100);
        // And tshark notices a broken checksum, so "1" above means something.
        let mut bad = spec.to_vec(0).unwrap();
        bad[24] ^= 0xff;
        let bad_path = tmp.path().join("bad.pcap");
        let mut writer = PcapWriter::new(fs::File::create(&bad_path).unwrap()).unwrap();
        writer.write_packet(Duration::ZERO, &bad).unwrap();
        writer.into_inner().unwrap();
        assert_eq!(tshark_decode(tshark, &bad_path)[0][3], "0");
    }
}

// ---------------------------------------------------------------------------------------------
// On simulated ports

#[test]
fn pktgen_count_sends_exactly_that_many() {
    let out = run(PKTGEN, &["sim:0", "--count", "2000"]);
    assert_success("pktgen", &out);
    let t = totals(&text(&out.stdout), "sim:0");
    assert_eq!(t.extra("sent:"), Some(2000), "{t:?}");
    assert_eq!(t.tx_packets, 2000, "{t:?}");
    assert_eq!(t.tx_errors, 0, "{t:?}");
    assert_eq!(t.extra("wire:"), Some(2000), "{t:?}");
    // One flow: every frame has the test frame's source port.
    assert_eq!(t.extra("wire:").and(wire_src_ports(&t)), Some(1), "{t:?}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

/// The UDP source ports the link partner saw, from the `wire:` part of a totals line.
fn wire_src_ports(t: &Totals) -> Option<u64> {
    let part = t.extras.iter().find(|e| e.starts_with("wire:"))?;
    part.ends_with(" UDP source ports")
        .then(|| number_after(part, "bytes,"))
        .flatten()
}

#[test]
fn pktgen_flows_vary_the_source_port() {
    let out = run(PKTGEN, &["sim:2", "--flows", "4", "--count", "400"]);
    assert_success("pktgen --flows", &out);
    let t = totals(&text(&out.stdout), "sim:2");
    assert_eq!(t.extra("sent:"), Some(400), "{t:?}");
    assert_eq!((t.tx_packets, t.tx_errors), (400, 0), "{t:?}");
    // Counted by the simulated link partner, which reads every frame it receives.
    assert_eq!(t.extra("wire:"), Some(400), "{t:?}");
    assert_eq!(wire_src_ports(&t), Some(4), "{t:?}");
    // More flows than packets: as many ports as packets.
    let out = run(PKTGEN, &["sim:3", "--flows", "1000", "--count", "300"]);
    assert_success("pktgen --flows 1000", &out);
    assert_eq!(
        wire_src_ports(&totals(&text(&out.stdout), "sim:3")),
        Some(300)
    );
}

#[test]
fn pktgen_sizes_and_pacing() {
    let start = Instant::now();
    let out = run(
        PKTGEN,
        &[
            "sim:1", "--count", "300", "--rate", "1000", "--size", "1514", "--batch", "8",
        ],
    );
    let took = start.elapsed();
    assert_success("pktgen --rate", &out);
    let t = totals(&text(&out.stdout), "sim:1");
    assert_eq!((t.tx_packets, t.extra("wire:")), (300, Some(300)), "{t:?}");
    // 300 packets at 1000 per second cannot be sent in less than 0.299 s.
    assert!(took >= Duration::from_millis(299), "{took:?}");
}

#[test]
fn fwd_forwards_both_directions() {
    let out = run(FWD, &["sim:0", "sim:1", "--duration", "3"]);
    assert_success("fwd", &out);
    let stdout = text(&out.stdout);
    let dev = ["sim:0", "sim:1"];
    let t = [totals(&stdout, dev[0]), totals(&stdout, dev[1])];
    for i in 0..2 {
        let (this, other) = (&t[i], &t[1 - i]);
        let app_line = this
            .extras
            .iter()
            .find(|e| e.starts_with("app:"))
            .expect("app part");
        let received = number_after(app_line, "app:").unwrap();
        let sent = number_after(app_line, "received,").unwrap();
        let freed = number_after(app_line, &format!("sent to {},", dev[1 - i])).unwrap();
        // What the forwarder took from this device went out the other one or was freed...
        assert_eq!(received, sent + freed, "{app_line}");
        // ...and the other device sent all of it...
        assert_eq!(other.tx_packets, sent, "{} sent {other:?}", dev[1 - i]);
        assert!(other.tx_packets > 0, "nothing forwarded from {}", dev[i]);
        assert_eq!(other.extra("wire:"), Some(sent), "{other:?}");
        // ...and the device received at least that.
        assert!(this.rx_packets >= received, "{this:?}");
    }
    // The model has nothing to report about the driver, so nothing is printed about it.
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // Three seconds: at least two rate lines per device (the third may come just too late),
    // well-formed.
    for d in dev {
        let lines = rate_lines(&stdout, d);
        assert!(lines.len() >= 2, "{stdout}");
        lines.iter().for_each(|l| assert_rate_line(l));
    }
}

/// The per-queue packet counts of a `queues: RX a b .. TX c d ..` totals part.
fn queue_counts(t: &Totals) -> (Vec<u64>, Vec<u64>) {
    let part = t
        .extras
        .iter()
        .find(|e| e.starts_with("queues: RX "))
        .unwrap_or_else(|| panic!("no queues part in {t:?}"));
    let rest = part.strip_prefix("queues: RX ").unwrap();
    let (rx, tx) = rest.split_once(" TX ").expect("RX and TX counts");
    let nums = |s: &str| -> Vec<u64> { s.split(' ').map(|n| n.parse().unwrap()).collect() };
    (nums(rx), nums(tx))
}

#[test]
fn fwd_with_queues_forwards_on_every_queue() {
    let out = run(FWD, &["sim:4", "sim:5", "--queues", "2", "--duration", "2"]);
    assert_success("fwd --queues 2", &out);
    let stdout = text(&out.stdout);
    for (this, other) in [("sim:4", "sim:5"), ("sim:5", "sim:4")] {
        let t = totals(&stdout, this);
        let o = totals(&stdout, other);
        let (rx, tx) = queue_counts(&t);
        assert_eq!((rx.len(), tx.len()), (2, 2), "{t:?}");
        // RSS spread the link partner's flows over both receive queues.
        assert!(rx.iter().all(|&n| n > 0), "{this}: {rx:?}");
        // Each queue's packets went out the other device's queue of the same number.
        let (_, other_tx) = queue_counts(&o);
        let app = t.extras.iter().find(|e| e.starts_with("app:")).unwrap();
        let sent = number_after(app, "received,").unwrap();
        assert_eq!(
            other_tx.iter().sum::<u64>(),
            sent,
            "{other}: {other_tx:?} vs {app}"
        );
        assert_eq!(o.tx_packets, sent, "{o:?}");
        assert_eq!(o.extra("wire:"), Some(sent), "{o:?}");
    }
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn fwd_and_pcap_with_interrupts_on_simulated_ports() {
    for queues in ["1", "2"] {
        let out = run(
            FWD,
            &[
                "sim:4",
                "sim:5",
                "--interrupts",
                "--itr",
                "20",
                "--queues",
                queues,
                "--duration",
                "1",
            ],
        );
        assert_success("fwd --interrupts", &out);
        let stdout = text(&out.stdout);
        for (this, other) in [("sim:4", "sim:5"), ("sim:5", "sim:4")] {
            let t = totals(&stdout, this);
            let app = t.extras.iter().find(|e| e.starts_with("app:")).unwrap();
            let sent = number_after(app, "received,").unwrap();
            assert!(sent > 0, "{queues} queues: {app}");
            assert_eq!(totals(&stdout, other).extra("wire:"), Some(sent));
        }
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
    let out = run(PCAP, &["sim:6", "/dev/null", "500", "--interrupts"]);
    assert_success("pcap --interrupts", &out);
    assert_eq!(
        totals(&text(&out.stdout), "sim:6").extra("captured:"),
        Some(500)
    );
    // A throttle the 82599 cannot hold, and --itr without --interrupts.
    let out = run(FWD, &["sim:4", "sim:5", "--interrupts", "--itr", "3"]);
    assert_one_line_error(&out, &["3"]);
    let out = run(PCAP, &["sim:6", "/dev/null", "--itr", "20"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn pktgen_with_queues_sends_from_each() {
    let out = run(
        PKTGEN,
        &["sim:6", "--queues", "3", "--count", "1000", "--flows", "5"],
    );
    assert_success("pktgen --queues 3", &out);
    let t = totals(&text(&out.stdout), "sim:6");
    let (_, tx) = queue_counts(&t);
    // The count is shared out, and every packet went out.
    assert_eq!(tx, [334, 333, 333], "{t:?}");
    assert_eq!(t.extra("sent:"), Some(1000), "{t:?}");
    assert_eq!(
        (t.tx_packets, t.extra("wire:")),
        (1000, Some(1000)),
        "{t:?}"
    );
    assert_eq!(wire_src_ports(&t), Some(5), "{t:?}");
    // --queue names one queue; with several, thread i has queue i.
    let out = run(PKTGEN, &["sim:6", "--queues", "2", "--queue", "1"]);
    assert_one_line_error(&out, &["--queue 1", "--queues 2"]);
}

/// A supervising script sees each rate line when it is printed, not when the app exits.
#[test]
fn rate_lines_arrive_live() {
    let mut child = Command::new(FWD)
        .args(["sim:2", "sim:3", "--duration", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    // The memory lines come at start, before any rate line.
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        match line {
            Ok(l) if l.contains("] memory: ") => continue,
            other => break other,
        }
    };
    let still_running = child.try_wait().unwrap().is_none();
    // Then Ctrl-C: the app stops, prints its totals and exits with 0.
    // SAFETY: kill has no memory preconditions; the pid is our child's, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = wait_with_timeout(&mut child);
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    let first = first.expect("a rate line within 15 s");
    assert!(still_running, "the first line came only when the app ended");
    assert_rate_line(&first);
    assert!(status.success(), "{status}");
    assert_eq!(
        rest.iter().filter(|l| l.contains(" total over ")).count(),
        2,
        "{rest:?}"
    );
}

fn wait_with_timeout(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the app did not stop within {TIMEOUT:?} of SIGINT");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The model's findings reach the user: when a simulated port closes, every app prints on
/// stderr what the 82599 model reported about it (a count line, then each rule with its first
/// report) and fails when any report is an ERROR. The hidden `--sim-inject` makes the driver
/// mistake the model is to report.
#[test]
fn model_reports_are_shown_and_errors_fail_the_app() {
    let tmp = tempfile::tempdir().unwrap();
    for (mistake, rule, severity, code) in [
        ("warn", "head-written", "WARN", 0),
        ("error", "tail-out-of-range", "ERROR", 1),
    ] {
        for (bin, mut args) in each_app("sim:5", tmp.path()) {
            args.extend(["--duration", "0.2", "--sim-inject", mistake].map(String::from));
            let out = run(bin, &args_of(&args));
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{bin} {mistake}: {stderr}");
            let ports: &[&str] = if bin == FWD {
                &["sim:5", "sim:7"]
            } else {
                &["sim:5"]
            };
            let model_lines = stderr.lines().filter(|l| l.contains("] model: ")).count();
            assert_eq!(model_lines, 2 * ports.len(), "{bin}: {stderr}");
            for port in ports {
                let (errors, warnings) = if code == 1 { (1, 0) } else { (0, 1) };
                let count = format!(
                    "[{port}] model: 1 report(s) of 1 rule(s): {errors} ERROR, {warnings} WARN, 0 PEDANTIC"
                );
                assert!(
                    stderr.lines().any(|l| l == count),
                    "{bin}: {count:?} in\n{stderr}"
                );
                let first = format!("[{port}] model: 1 x {rule}, first: {severity} [{rule}]");
                assert!(
                    stderr
                        .lines()
                        .any(|l| l.starts_with(&first) && l.contains("Rx queue 0")),
                    "{bin}: {first:?} in\n{stderr}"
                );
            }
            let last = stderr.lines().last().unwrap_or_default();
            if code == 1 {
                assert!(
                    last.starts_with(&format!(
                        "error: the 82599 model reported {} ERROR(s)",
                        ports.len()
                    )) && ports.iter().all(|p| last.contains(&format!("{p}: {rule}"))),
                    "{bin}: {last}"
                );
            } else {
                assert!(!stderr.contains("error"), "{bin}: {stderr}");
            }
            // The app's own totals are all there.
            assert!(
                text(&out.stdout).contains("total over"),
                "{bin}: {}",
                text(&out.stdout)
            );
        }
    }
}

/// `--sim-inject` is for simulated ports: a PCI address is refused before it is opened.
#[test]
fn sim_inject_is_refused_for_real_hardware() {
    let sysfs = FakeSysfs::new();
    let tmp = tempfile::tempdir().unwrap();
    for (bin, mut args) in each_app(ADDR, tmp.path()) {
        args.extend(["--sim-inject", "error", "--sysfs-root", &sysfs.root_arg()].map(String::from));
        let out = run(bin, &args_of(&args));
        assert_one_line_error(&out, &["--sim-inject", "sim:N", ADDR]);
    }
}

#[test]
fn pcap_captures_test_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sim0.pcap");
    let out = run(PCAP, &["sim:0", path.to_str().unwrap(), "500"]);
    assert_success("pcap", &out);
    let t = totals(&text(&out.stdout), "sim:0");
    assert_eq!(t.extra("captured:"), Some(500), "{t:?}");
    assert!(t.rx_packets >= 500, "{t:?}");
    let capture = read_pcap(&fs::read(&path).unwrap());
    assert_test_frames(&capture, 500);
    // The simulated source sends what pktgen sends: the same frame byte for byte, to the port.
    let first = &capture.records[0].data;
    let parsed = frame::parse(first).unwrap();
    let spec = FrameSpec {
        dst_mac: parsed.dst_mac,
        src_mac: rixy::MacAddress(rixy::sim::TEST_SRC_MAC),
        ..FrameSpec::default()
    };
    assert_eq!(first[..], spec.to_vec(parsed.seq).unwrap()[..]);
    if let Some(tshark) = tshark() {
        assert_tshark_sees_test_frames(tshark, &path, 500);
    }
}

#[test]
fn pcap_to_stdout_keeps_stats_on_stderr() {
    let out = run(PCAP, &["sim:1", "-", "200"]);
    assert_success("pcap -", &out);
    assert_test_frames(&read_pcap(&out.stdout), 200);
    let stderr = text(&out.stderr);
    assert_eq!(totals(&stderr, "sim:1").extra("captured:"), Some(200));
}

#[test]
fn pcap_stops_after_its_duration() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("timed.pcap");
    let start = Instant::now();
    let out = run(
        PCAP,
        &["sim:0", path.to_str().unwrap(), "--duration", "1.2"],
    );
    assert!(start.elapsed() >= Duration::from_millis(1200));
    assert_success("pcap --duration", &out);
    let stdout = text(&out.stdout);
    let captured = totals(&stdout, "sim:0").extra("captured:").unwrap();
    assert!(captured > 0, "{stdout}");
    let capture = read_pcap(&fs::read(&path).unwrap());
    assert_test_frames(&capture, captured as usize);
    assert_eq!(rate_lines(&stdout, "sim:0").len(), 1, "{stdout}");
}

/// A device that falls off the bus while an app runs ends the app: each batch that comes back
/// empty lets the driver look, it finds the device gone, and the app prints one line naming the
/// device and exits with 1 (the hidden `--sim-inject removed` removes the simulated port right
/// after it opens).
#[test]
fn a_device_removed_while_running_ends_each_app_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (bin, mut args) in each_app("sim:6", tmp.path()) {
        args.extend(["--duration", "5", "--sim-inject", "removed"].map(String::from));
        let out = run(bin, &args_of(&args));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{bin}: not one line:\n{stderr}");
        assert!(
            lines[0].starts_with("error: sim:6: the device is gone"),
            "{bin}: {}",
            lines[0]
        );
    }
}

/// `rixy-fwd` prints one memory line per port before it forwards: the DMA memory of each queue
/// (rings of 16-byte descriptors, the receive pool of twice the ring in 4 KiB buffers) and the
/// process's resident memory, which holds both ports' pools (their buffers' metadata is written
/// when the pool is made, so every page of them is touched).
#[test]
fn fwd_prints_each_ports_memory() {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    for (args, rx_ring, tx_ring) in [
        (vec![], 512, 512),
        (vec!["--rx-ring", "1024", "--tx-ring", "64"], 1024, 64),
    ] {
        let mut all = vec!["sim:0", "sim:1", "--duration", "0.3"];
        all.extend(args);
        let out = run(FWD, &all);
        assert_success("fwd", &out);
        let stdout = text(&out.stdout);
        // Rings and pool as the simulator's allocator makes them: rounded up to 4 KiB pages.
        let page = |bytes: usize| bytes.div_ceil(4096) * 4096;
        let (rx_bytes, tx_bytes) = (page(rx_ring * 16), page(tx_ring * 16));
        let pool = 2 * rx_ring * 4096;
        let total = rx_bytes + pool + tx_bytes;
        let expected = format!(
            "memory: 2 queues, rx 1 x (ring {} KiB + pool {:.2} MiB), tx 1 x (ring {} KiB), {:.2} MiB of DMA memory; resident ",
            rx_bytes / KIB,
            pool as f64 / MIB as f64,
            tx_bytes / KIB,
            total as f64 / MIB as f64,
        );
        for dev in ["sim:0", "sim:1"] {
            let prefix = format!("[{dev}] memory: ");
            let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&prefix)).collect();
            assert_eq!(lines.len(), 1, "one memory line for {dev} in:\n{stdout}");
            let rest = lines[0].strip_prefix(&format!("[{dev}] ")).unwrap();
            let resident = rest
                .strip_prefix(&expected)
                .unwrap_or_else(|| panic!("{rest:?} is not {expected:?}..."));
            let mib: f64 = resident
                .strip_suffix(" MiB")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("resident {resident:?}"));
            assert!(mib * MIB as f64 >= 2.0 * pool as f64, "{rest}");
            // The totals line: app, notifications, wire.
            assert_eq!(totals(&stdout, dev).extras.len(), 3, "{stdout}");
        }
    }
}
