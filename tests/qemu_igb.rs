//! rixy's 82576 (igb) driver and apps against QEMU's independent igb emulation: boots the guest
//! that `ci/qemu-igb/build-guest` builds (the VirtIO test guest with `ci/qemu-igb/payload`) under
//! QEMU 10 (`ci/qemu-igb/fetch-qemu`; Debian 12's QEMU 7.2 has no igb), and checks what comes
//! back.
//!
//! Ignored by a plain `cargo test`; `ci/qemu-igb/test` fetches QEMU, builds the guest and runs it.
//!
//! The machine: q35, four igb NICs linked in pairs by QEMU hubs (one hub per pair: frames stay
//! inside QEMU; no tap, no user networking) and a fifth without a partner, whose memory decoding
//! the payload turns off before rixy opens it. TCG unless `RIXY_QEMU_ACCEL=kvm`.
//!
//! Hubs, not the `-netdev dgram` UDP pairs of `tests/qemu.rs`: QEMU's igb sends when TDT is
//! written and the hub hands the frame to the partner in the same call, so a link does not
//! depend on QEMU's main loop reading a socket in time. Measured on a 2-core machine at load 6
//! (the payload took 134 s of wall time instead of 10): with UDP pairs both links lost frames
//! (9097 of 10000 captured); with hubs only the forwarder's input did (9242), where the
//! forwarder, starved of CPU, left its 512-descriptor ring full. So the forwarder runs with a
//! 4096-descriptor receive ring and the generator at 500 frames/s by default (at 1000/s one run
//! at load 5 still lost 245 frames on the way to the capture; at 500/s none did).
//!
//! What is checked on the host: the capture (exactly N valid test frames, strictly increasing
//! sequence numbers, the largest at most 2N), each app's device totals against the capture (the
//! 82576 counts octets from the destination address through the CRC: 64 per 60-byte frame,
//! 8.19.25 to 8.19.28), and the one-line errors for an absent address and for an igb whose
//! software reset never completes.
//!
//! Environment: `RIXY_QEMU10` (the QEMU 10 binary; default `target/qemu10/root/usr/bin/...`),
//! `RIXY_IGB_GUEST_DIR` (default `target/qemu-igb`), `RIXY_QEMU_COUNT` (frames, default 10000),
//! `RIXY_QEMU_RATE` (frames per second, default 500), `RIXY_QEMU_TIMEOUT` (seconds, 540).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rixy::apps::pcap::{GLOBAL_HEADER_LEN, LINKTYPE_ETHERNET, MAGIC, RECORD_HEADER_LEN};
use rixy::frame;

/// The guest's NICs: PCI slot, MAC address, link partner. `ci/qemu-igb/payload` names the same.
/// Every other slot: the SR-IOV virtual functions of an igb in slot s would sit in slots s + 16
/// and s + 17 (VF offset 0x80, stride 2), and QEMU reserves them even while no VF is enabled.
const NICS: [(&str, &str, Option<usize>); 5] = [
    ("04.0", "52:54:00:12:01:00", Some(1)),
    ("06.0", "52:54:00:12:01:01", Some(0)),
    ("08.0", "52:54:00:12:01:02", Some(3)),
    ("0a.0", "52:54:00:12:01:03", Some(2)),
    ("0c.0", "52:54:00:12:01:04", None),
];
const PKTGEN_DEV: &str = "0000:00:04.0";
const FWD_IN: &str = "0000:00:06.0";
const FWD_OUT: &str = "0000:00:08.0";
const PCAP_DEV: &str = "0000:00:0a.0";
/// The tests of `tests/igb_guest.rs`, which must all run and pass inside the guest.
const GUEST_TESTS: usize = 5;
/// Bytes the 82576 counts per 60-byte test frame: the frame and its 4-byte CRC.
const COUNTED_FRAME_LEN: u64 = frame::MIN_FRAME_LEN as u64 + 4;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid")),
        Err(_) => default,
    }
}

fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), PathBuf::from);
    manifest.join(target)
}

/// The QEMU 10 binary and the root it was unpacked into (`.../root/usr/bin/qemu-system-x86_64`).
fn qemu10() -> (PathBuf, PathBuf) {
    let binary = std::env::var_os("RIXY_QEMU10").map_or_else(
        || target_dir().join("qemu10/root/usr/bin/qemu-system-x86_64"),
        PathBuf::from,
    );
    let root = binary
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    (binary, root)
}

fn qemu_args(guest: &Path, run: &Path, accel: &str, count: u64, rate: u64) -> Vec<String> {
    let mut args: Vec<String> = [
        "-machine",
        "q35",
        "-accel",
        accel,
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "1024",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let file = |name: &str| run.join(name).display().to_string();
    args.extend([
        "-kernel".into(),
        guest.join("vmlinuz").display().to_string(),
    ]);
    args.extend([
        "-initrd".into(),
        guest.join("initramfs.gz").display().to_string(),
    ]);
    args.extend([
        "-append".into(),
        format!("console=ttyS0 panic=-1 rixy.count={count} rixy.rate={rate} rixy.hugepages=320"),
    ]);
    args.extend(["-serial".into(), format!("file:{}", file("console.log"))]);
    args.extend(["-serial".into(), format!("file:{}", file("results.txt"))]);
    for (i, (addr, mac, partner)) in NICS.iter().enumerate() {
        let mut device = format!("igb,addr={addr},mac={mac}");
        if let Some(p) = partner {
            // One hub per linked pair, numbered by its lower NIC.
            args.extend([
                "-netdev".into(),
                format!("hubport,id=link{i},hubid={}", i.min(*p)),
            ]);
            device.push_str(&format!(",netdev=link{i}"));
        }
        args.extend(["-device".into(), device]);
    }
    args
}

/// Unpacks the payload's output directory from the second serial port's text into `dir`.
fn unpack_results(results: &Path, dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(results).map_err(|e| format!("no results file: {e}"))?;
    let begin = text
        .find("RIXY-RESULTS-BEGIN")
        .ok_or("no RIXY-RESULTS-BEGIN marker")?;
    let end = text
        .find("RIXY-RESULTS-END")
        .ok_or("no RIXY-RESULTS-END marker: the transfer was cut")?;
    let body: String = text[begin + "RIXY-RESULTS-BEGIN".len()..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    // busybox's base64 wrote it; the host's decodes it.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("base64 -d | tar -xz -C \"$0\"")
        .arg(dir)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run base64 | tar: {e}"))?;
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes())
        .map_err(|e| e.to_string())?;
    drop(child.stdin.take());
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("base64 | tar failed: {status}"))
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|_| format!("<{name} missing>"))
}

fn exit_code(dir: &Path, name: &str) -> Option<i32> {
    read(dir, &format!("{name}.rc")).trim().parse().ok()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The counters of device `name`'s totals line:
/// `[name] total over T s: RX a packets b bytes, c dropped, d errors | TX e packets f bytes, g errors`.
fn totals(output: &str, name: &str) -> Option<[u64; 7]> {
    let line = output
        .lines()
        .find(|l| l.starts_with(&format!("[{name}] total over ")))?;
    let numbers: Vec<u64> = line
        .split_once(": ")?
        .1
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.parse().ok())
        .collect();
    numbers.get(..7)?.try_into().ok()
}

/// The frames of a classic pcap file as rixy-pcap writes it.
fn pcap_frames(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    if data.len() < GLOBAL_HEADER_LEN || u32_at(0) != MAGIC || u32_at(20) != LINKTYPE_ETHERNET {
        return Err(format!("{} bytes: not an Ethernet pcap file", data.len()));
    }
    let mut frames = Vec::new();
    let mut at = GLOBAL_HEADER_LEN;
    while at < data.len() {
        if at + RECORD_HEADER_LEN > data.len() {
            return Err(format!("record header cut at byte {at}"));
        }
        let (captured, original) = (u32_at(at + 8) as usize, u32_at(at + 12) as usize);
        let start = at + RECORD_HEADER_LEN;
        if captured != original || start + captured > data.len() {
            return Err(format!("record at byte {at} cut"));
        }
        frames.push(&data[start..start + captured]);
        at = start + captured;
    }
    Ok(frames)
}

#[test]
#[ignore = "boots a QEMU 10 guest for minutes: ci/qemu-igb/test fetches QEMU, builds the guest and runs this"]
fn igb_in_qemu() {
    let guest = std::env::var_os("RIXY_IGB_GUEST_DIR")
        .map_or_else(|| target_dir().join("qemu-igb"), PathBuf::from);
    assert!(
        guest.join("vmlinuz").is_file() && guest.join("initramfs.gz").is_file(),
        "no guest in {}: run ci/qemu-igb/build-guest first",
        guest.display()
    );
    let (qemu, root) = qemu10();
    assert!(
        qemu.is_file(),
        "no QEMU 10 at {}: run ci/qemu-igb/fetch-qemu",
        qemu.display()
    );
    let count: u64 = env_or("RIXY_QEMU_COUNT", 10_000);
    let rate: u64 = env_or("RIXY_QEMU_RATE", 500);
    let timeout = Duration::from_secs(env_or("RIXY_QEMU_TIMEOUT", 540));
    let accel = match std::env::var("RIXY_QEMU_ACCEL").as_deref() {
        Ok("kvm") => "kvm",
        _ => "tcg,thread=multi",
    };
    let work = tempfile::tempdir().unwrap();
    let run = work.path();
    let mut args = vec![
        "-L".to_string(),
        root.join("usr/share/qemu").display().to_string(),
    ];
    args.extend(qemu_args(&guest, run, accel, count, rate));
    let start = Instant::now();
    let mut child = Command::new(&qemu)
        .args(&args)
        .env(
            "QEMU_MODULE_DIR",
            root.join("usr/lib/x86_64-linux-gnu/qemu"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(run.join("qemu.stderr")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} ({e})", qemu.display()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "QEMU ({accel}) did not finish within {} s; console:\n{}",
                timeout.as_secs(),
                tail(&read(run, "console.log"), 40)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let console = read(run, "console.log");
    println!(
        "QEMU 10 ({accel}) exited {status} after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let out = run.join("out");
    if let Err(e) = unpack_results(&run.join("results.txt"), &out) {
        panic!(
            "no results from the guest ({e}); QEMU stderr:\n{}\nconsole:\n{}",
            tail(&read(run, "qemu.stderr"), 20),
            tail(&console, 60)
        );
    }
    println!("payload log:\n{}", read(&out, "payload.log"));
    println!("devices:\n{}", read(&out, "pci.txt"));

    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    check(
        status.success() && read(&out, "payload.rc").trim() == "0",
        format!("QEMU exited {status}, payload {}", read(&out, "payload.rc")),
    );

    // The tests that ran inside the guest: all passed, none skipped.
    let guest_tests = format!(
        "{}{}",
        read(&out, "igb_guest.out"),
        read(&out, "igb_guest.err")
    );
    let summary = guest_tests
        .lines()
        .find(|l| l.starts_with("test result: "))
        .unwrap_or("")
        .to_string();
    println!("guest tests (tests/igb_guest.rs): {summary}");
    check(
        exit_code(&out, "igb_guest") == Some(0)
            && summary.contains(&format!("{GUEST_TESTS} passed; 0 failed"))
            && !guest_tests.contains("skipped:"),
        format!(
            "guest tests igb_guest: exit {:?}, want {GUEST_TESTS} passed and none skipped:\n{}",
            exit_code(&out, "igb_guest"),
            tail(&guest_tests, 40)
        ),
    );

    // Bad input: one line on stderr, `error: ...`, saying what is wrong; a non-zero exit that
    // is not the payload's timeout.
    for (case, says) in [
        ("bad-absent", "no PCI device 0000:00:1e.0"),
        (
            "bad-reset",
            "the software reset (CTRL.RST clearing, receive queue 0 reading enabled) did not happen",
        ),
    ] {
        let err = read(&out, &format!("{case}.err"));
        println!("{case}: exit {:?}: {}", exit_code(&out, case), err.trim());
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        let rc = exit_code(&out, case);
        check(
            matches!(rc, Some(rc) if rc != 0 && rc != 124 && rc != 143)
                && lines.len() == 1
                && lines[0].starts_with("error: ")
                && lines[0].contains(says),
            format!(
                "{case}: exit {rc:?}, want != 0 and one line `error: ...{says}...`, got:\n{err}"
            ),
        );
    }

    // The capture: exactly N valid test frames, strictly increasing sequence numbers.
    let capture = std::fs::read(out.join("capture.pcap")).unwrap_or_default();
    let mut seqs = Vec::new();
    match pcap_frames(&capture) {
        Ok(frames) => {
            for (i, f) in frames.iter().enumerate() {
                match frame::parse(f) {
                    Ok(parsed) => seqs.push(parsed.seq),
                    Err(problem) => check(
                        false,
                        format!("captured frame {i} is not a test frame: {problem}"),
                    ),
                }
            }
        }
        Err(e) => check(false, format!("capture.pcap: {e}")),
    }
    check(
        seqs.len() as u64 == count,
        format!(
            "the capture holds {} valid test frames, want {count}",
            seqs.len()
        ),
    );
    let disorder = seqs.windows(2).position(|w| w[0] >= w[1]);
    check(
        disorder.is_none(),
        format!("sequence numbers not strictly increasing at frame {disorder:?}"),
    );
    let max = seqs.iter().copied().max().unwrap_or(0);
    check(
        u64::from(max) <= 2 * count,
        format!("largest sequence number {max} exceeds 2N"),
    );
    println!(
        "capture: {} frames, sequence {}..={max}",
        seqs.len(),
        seqs.first().copied().unwrap_or(0)
    );

    // The apps ran to completion, and the device counters agree with the capture.
    for app in ["pktgen", "fwd", "pcap"] {
        check(
            exit_code(&out, app) == Some(0),
            format!(
                "rixy-{app} exited {:?}: {}",
                exit_code(&out, app),
                tail(&read(&out, &format!("{app}.err")), 10)
            ),
        );
    }
    let n = seqs.len() as u64;
    // (app, device, received or sent, packets): packets exactly; octets at 64 per packet, less
    // at most one packet's worth per statistics read the app made while traffic flowed (a line
    // a second): QEMU's igb clears GORCL/GOTCL with the read of the high half without latching
    // them at the read of the low half, so the octets of a frame counted between the two reads
    // are lost (seen once in 10000 frames under load).
    for (app, dev, rx, packets) in [
        ("pktgen", PKTGEN_DEV, false, count),
        ("fwd", FWD_IN, true, n),
        ("fwd", FWD_OUT, false, n),
        ("pcap", PCAP_DEV, true, n),
    ] {
        let output = read(&out, &format!("{app}.out"));
        let got = totals(&output, dev);
        let reads = output
            .lines()
            .filter(|l| l.starts_with(&format!("[{dev}] RX:")))
            .count() as u64;
        println!("rixy-{app} {dev}: {got:?} ({reads} statistics lines)");
        let ok = got.is_some_and(|t| {
            let (p, b, others) = if rx {
                (t[0], t[1], [t[2], t[3], t[4], t[5], t[6]])
            } else {
                (t[4], t[5], [t[0], t[1], t[2], t[3], t[6]])
            };
            let full = p * COUNTED_FRAME_LEN;
            p == packets
                && others == [0; 5]
                && b <= full
                && (full - b).is_multiple_of(COUNTED_FRAME_LEN)
                && (full - b) / COUNTED_FRAME_LEN <= reads
        });
        check(
            ok,
            format!(
                "rixy-{app}'s totals for {dev}: {got:?}, want {} {packets} packets of {COUNTED_FRAME_LEN} counted bytes (less at most {reads} packets' bytes) and nothing else\n{}",
                if rx { "RX" } else { "TX" },
                tail(&output, 5)
            ),
        );
    }
    assert!(
        failures.is_empty(),
        "{} check(s) failed:\n- {}\nconsole:\n{}",
        failures.len(),
        failures.join("\n- "),
        tail(&console, 30)
    );
    println!("all checks passed");
}

#[test]
fn totals_lines_parse() {
    let out = "[0000:00:05.0] total over 3.50 s: RX 10000 packets 640000 bytes, 0 dropped, 0 errors | TX 0 packets 0 bytes, 0 errors\n";
    assert_eq!(
        totals(out, "0000:00:05.0"),
        Some([10000, 640000, 0, 0, 0, 0, 0])
    );
    assert_eq!(totals(out, "0000:00:06.0"), None);
}
