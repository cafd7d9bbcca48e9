//! rixy's virtio-net driver and apps against QEMU's virtio-net: boots the guest that
//! `ci/qemu/build-guest` builds, lets `ci/qemu/payload` run inside it, and checks what comes back.
//!
//! Ignored by a plain `cargo test` (it boots a VM and takes minutes without KVM); `ci/qemu/test`
//! (which `ci/test` runs) builds the guest and runs it:
//!
//! ```sh
//! ci/qemu/build-guest && cargo test --test qemu -- --ignored --nocapture
//! ```
//!
//! ## The machine
//!
//! `-machine q35 -device intel-iommu,intremap=on`: an IOMMU with interrupt remapping, which
//! VFIO needs (the guest gets VFIO's modules from the kernel package, see
//! `ci/qemu/build-guest`). Virtio-net NICs of five flavours at fixed PCI addresses ([`NICS`]):
//! legacy (`disable-modern=on`, 1af4:1000), modern-only split (`disable-legacy=on`, 1af4:1041,
//! event index offered), modern-only packed (`packed=on`), modern-only split with
//! `event_idx=off`, and modern-only split with `iommu_platform=on` (the only flavour whose DMA
//! the IOMMU translates); and one PCI device that is not a NIC (virtio-rng). `ci/qemu/payload` names the fixed legacy
//! ones its other steps use. Links are `-netdev dgram` pairs on 127.0.0.1: UDP never blocks
//! QEMU when a receiver stops taking frames (stream and socket links deadlock it) and, unlike
//! a hub, loses nothing while the receiver keeps up, which pacing the generator (`rixy.rate`)
//! ensures. No tap, no user networking: nothing leaves the machine.
//!
//! ## The chains: one per flavour, and a mixed one
//!
//! The pktgen -> fwd -> pcap chain runs once per entry of [`CHAINS`], on that entry's four
//! NICs: `legacy`, `split`, `packed`, `split-no-event-idx` (all four NICs of that flavour) and
//! `mixed` (generator on a legacy NIC, forwarder from a packed NIC to a split one, capture on a
//! split one). Each chain gets the same checks ([`check_chain`]) and a verdict line of its own
//! (`chain split: FAILED (5 check(s)); pktgen 0a.0 (modern split) -> ...`), its failures
//! prefixed with its name. `RIXY_QEMU_CHAINS=legacy,mixed` runs only the chains named (comma
//! separated; default all); the others are listed as not run. A flavour is a line in `NICS`
//! and `CHAINS`; the payload runs whatever chains the kernel command line names.
//!
//! ## VFIO, interrupts, latency
//!
//! The chains after the flavours run over VFIO (the payload binds their NICs to vfio-pci with
//! `ci/vfio-bind` for the chain and unbinds them after it): `vfio-legacy` as root (legacy
//! virtio bypasses the IOMMU, so physical addresses), `vfio-iommu` as uid 1000 with
//! hugetlbfs unmounted on the `iommu_platform=on` NICs (IOVAs; the forwarder's logged queue
//! addresses are the evidence on the verdict line), and the forwarder with `--interrupts`
//! against the polling one on the legacy NICs: its CPU time at 1000 frames/s and idle
//! ([`compare_modes`]), its unpaced rate, and the round trip of single frames through it
//! (`examples/rixy-latency.rs`), printed as tables. Before the chains, the payload checks that
//! a user's run on a legacy NIC bound to vfio-pci is refused with the reason.

//! ## The accelerator
//!
//! KVM when it works, TCG (`-accel tcg,thread=multi -cpu max`) otherwise. A `/dev/kvm` that
//! opens does not prove KVM can run this guest: QEMU may quit at once (KVM refusing `-cpu
//! max`), or start and then run nothing at all (nested paravirtual KVM). So a KVM boot is given
//! up, QEMU killed and the guest booted under TCG at once, when QEMU exits before the guest is
//! up, when the console (the kernel's log) is still empty after 10 s, when the guest is not up
//! (`rixy-guest: up`) after 60 s, or when the run exceeds the timeout: a KVM that does not work
//! costs at most seconds when it is silent, and never fails the test. Under TCG a timeout fails.
//! The test prints `accelerator: kvm`, or `accelerator: tcg,thread=multi (KVM not used: why)`.
//! `RIXY_QEMU_BINARY=$PWD/tests/fake-qemu` runs the test as on a machine whose KVM hangs
//! silently (tests/fake-qemu says how); the fallback's own tests run it in `cargo test`.
//!
//! ## Results
//!
//! The guest's init script sends the payload's output directory as a gzipped tar, base64
//! between two marker lines, over the second serial port into a file here. Every check runs on
//! the host: each chain's capture (exactly N valid test frames, strictly increasing sequence
//! numbers, the largest at most 2N), the apps' totals lines against the capture, the apps' one-line errors on
//! bad device addresses, and the test binaries that ran inside the guest (which must not have
//! skipped).
//!
//! Environment: `RIXY_GUEST_DIR` (default `$CARGO_TARGET_DIR/qemu` or `target/qemu`),
//! `RIXY_QEMU_ACCEL` (`tcg` to skip trying KVM), `RIXY_QEMU_COUNT` (frames, default 10000),
//! `RIXY_QEMU_RATE` (frames per second, default 2000), `RIXY_QEMU_TIMEOUT` (seconds, default 540,
//! per boot), `RIXY_QEMU_BINARY` (default `qemu-system-x86_64`), `RIXY_QEMU_CHAINS` (the chains
//! to run, see above), `RIXY_QEMU_KEEP` (a directory to keep the run's files in).

use std::fmt::Write as _;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rixy::apps::pcap::{GLOBAL_HEADER_LEN, LINKTYPE_ETHERNET, MAGIC, RECORD_HEADER_LEN};
use rixy::frame;

/// The virtio-net flavours the guest's NICs come in (virtio 1.0+ spec: 4.1.2 the PCI device
/// ids, 2.7 split and 2.8 packed virtqueues, 2.7.7/2.7.10 event index): what QEMU is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// Legacy only (1af4:1000, I/O BAR): `disable-modern=on`.
    Legacy,
    /// Modern only (1af4:1041), split virtqueues, VIRTIO_F_EVENT_IDX offered (QEMU's default).
    Split,
    /// Modern only, VIRTIO_F_RING_PACKED offered (`packed=on`).
    Packed,
    /// Modern only, split virtqueues, no VIRTIO_F_EVENT_IDX (`event_idx=off`).
    SplitNoEventIdx,
    /// Modern only, split virtqueues, VIRTIO_F_ACCESS_PLATFORM offered (`iommu_platform=on`):
    /// its DMA goes through the IOMMU (the others' bypasses it).
    SplitIommu,
}

impl Flavour {
    /// The `virtio-net-pci` properties that make a NIC of this flavour.
    fn properties(self) -> &'static str {
        match self {
            Flavour::Legacy => "disable-modern=on",
            Flavour::Split => "disable-legacy=on",
            Flavour::Packed => "disable-legacy=on,packed=on",
            Flavour::SplitNoEventIdx => "disable-legacy=on,event_idx=off",
            Flavour::SplitIommu => "disable-legacy=on,iommu_platform=on",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flavour::Legacy => "legacy",
            Flavour::Split => "modern split",
            Flavour::Packed => "modern packed",
            Flavour::SplitNoEventIdx => "modern split, event_idx=off",
            Flavour::SplitIommu => "modern split, iommu_platform=on",
        }
    }
}

/// One of the guest's NICs.
struct Nic {
    /// PCI slot on bus 0 (`04.0` is `0000:00:04.0`).
    slot: &'static str,
    mac: &'static str,
    flavour: Flavour,
    /// The slot of the NIC at the other end of its link, if it has one.
    partner: Option<&'static str>,
    /// Extra `virtio-net-pci` properties.
    extra: &'static str,
}

const fn nic(
    slot: &'static str,
    mac: &'static str,
    flavour: Flavour,
    partner: Option<&'static str>,
    extra: &'static str,
) -> Nic {
    Nic {
        slot,
        mac,
        flavour,
        partner,
        extra,
    }
}

/// The guest's NICs. The first five are the legacy ones `ci/qemu/payload` names (the virtio
/// guest tests use 04.0, 05.0 and 09.0); the others are the sets the chains of the other
/// flavours use. Slot 08.0 holds the device that is not a NIC and 1e.0 stays empty (the
/// "absent device" case); on `q35` slot 1f holds the LPC bridge, SATA and SMBus.
const NICS: [Nic; 23] = [
    nic(
        "04.0",
        "52:54:00:12:00:00",
        Flavour::Legacy,
        Some("05.0"),
        "",
    ),
    nic(
        "05.0",
        "52:54:00:12:00:01",
        Flavour::Legacy,
        Some("04.0"),
        ",any_layout=off",
    ),
    nic(
        "06.0",
        "52:54:00:12:00:02",
        Flavour::Legacy,
        Some("07.0"),
        "",
    ),
    nic(
        "07.0",
        "52:54:00:12:00:03",
        Flavour::Legacy,
        Some("06.0"),
        "",
    ),
    nic(
        "09.0",
        "52:54:00:12:00:04",
        Flavour::Legacy,
        None,
        ",ctrl_rx=off,status=off",
    ),
    nic(
        "0a.0",
        "52:54:00:12:00:05",
        Flavour::Split,
        Some("0b.0"),
        "",
    ),
    nic(
        "0b.0",
        "52:54:00:12:00:06",
        Flavour::Split,
        Some("0a.0"),
        "",
    ),
    nic(
        "0c.0",
        "52:54:00:12:00:07",
        Flavour::Split,
        Some("0d.0"),
        "",
    ),
    nic(
        "0d.0",
        "52:54:00:12:00:08",
        Flavour::Split,
        Some("0c.0"),
        "",
    ),
    nic(
        "0e.0",
        "52:54:00:12:00:09",
        Flavour::Packed,
        Some("0f.0"),
        "",
    ),
    nic(
        "0f.0",
        "52:54:00:12:00:0a",
        Flavour::Packed,
        Some("0e.0"),
        "",
    ),
    nic(
        "10.0",
        "52:54:00:12:00:0b",
        Flavour::Packed,
        Some("11.0"),
        "",
    ),
    nic(
        "11.0",
        "52:54:00:12:00:0c",
        Flavour::Packed,
        Some("10.0"),
        "",
    ),
    nic(
        "12.0",
        "52:54:00:12:00:0d",
        Flavour::SplitNoEventIdx,
        Some("13.0"),
        "",
    ),
    nic(
        "13.0",
        "52:54:00:12:00:0e",
        Flavour::SplitNoEventIdx,
        Some("12.0"),
        "",
    ),
    nic(
        "14.0",
        "52:54:00:12:00:0f",
        Flavour::SplitNoEventIdx,
        Some("15.0"),
        "",
    ),
    nic(
        "15.0",
        "52:54:00:12:00:10",
        Flavour::SplitNoEventIdx,
        Some("14.0"),
        "",
    ),
    // The mixed chain: a legacy generator linked to a packed forwarder input; the forwarder
    // sends on the split chain's 0c.0, whose partner 0d.0 captures.
    nic(
        "16.0",
        "52:54:00:12:00:11",
        Flavour::Legacy,
        Some("17.0"),
        "",
    ),
    nic(
        "17.0",
        "52:54:00:12:00:12",
        Flavour::Packed,
        Some("16.0"),
        "",
    ),
    // The chain through the IOMMU, run by an unprivileged user.
    nic(
        "18.0",
        "52:54:00:12:00:13",
        Flavour::SplitIommu,
        Some("19.0"),
        "",
    ),
    nic(
        "19.0",
        "52:54:00:12:00:14",
        Flavour::SplitIommu,
        Some("18.0"),
        "",
    ),
    nic(
        "1a.0",
        "52:54:00:12:00:15",
        Flavour::SplitIommu,
        Some("1b.0"),
        "",
    ),
    nic(
        "1b.0",
        "52:54:00:12:00:16",
        Flavour::SplitIommu,
        Some("1a.0"),
        "",
    ),
];
/// The PCI device that is not a NIC.
const NON_NIC: &str = "08.0";
/// The slot that must stay empty: the payload's "absent device".
const ABSENT: &str = "1e.0";

/// A pktgen -> fwd -> pcap chain: `pktgen` sends over its link to `fwd_in`, rixy-fwd forwards
/// from `fwd_in` to `fwd_out`, which sends over its link to `pcap`. Each is a NIC slot. The
/// payload runs every chain the kernel command line names
/// (`rixy.chain=NAME/GEN/IN/OUT/PCAP/OPTS`) the same way, and [`check_chain`] checks each the
/// same way: a flavour is a line here. `opts` (`-`, or words joined by `+`) say how the payload
/// runs it: `vfio` (the NICs bound to vfio-pci for the chain), `user` (as an unprivileged user,
/// without hugetlbfs), `irq` (rixy-fwd --interrupts), `rate=N`, `count=N`, `idle=S` (the
/// forwarder's CPU time over S idle seconds first), `flood=S` (the generator unpaced for S
/// seconds), `latency=N` (rixy-latency's N round trips instead of pktgen and pcap);
/// ci/qemu/payload describes them.
struct Chain {
    name: &'static str,
    pktgen: &'static str,
    fwd_in: &'static str,
    fwd_out: &'static str,
    pcap: &'static str,
    opts: &'static str,
}

const fn chain(
    name: &'static str,
    [pktgen, fwd_in, fwd_out, pcap]: [&'static str; 4],
    opts: &'static str,
) -> Chain {
    Chain {
        name,
        pktgen,
        fwd_in,
        fwd_out,
        pcap,
        opts,
    }
}

/// The legacy NICs of the `legacy` chain, which the VFIO chains on legacy NICs use again (the
/// payload binds them to vfio-pci for such a chain and unbinds them after it).
const LEGACY: [&str; 4] = ["04.0", "05.0", "06.0", "07.0"];

/// The chains, in the order the guest runs them. `RIXY_QEMU_CHAINS=legacy,split` runs only
/// those named (default: all).
///
/// After the flavours over sysfs, the chains over VFIO (q35, intel-iommu): `vfio-legacy` as
/// root (legacy virtio bypasses the IOMMU: physical addresses), `vfio-iommu` as an unprivileged
/// user on NICs whose DMA the IOMMU translates; then the forwarder with interrupts against the
/// polling one: `irq-low` (1000 frames/s for 10 s; its CPU time against `vfio-legacy`'s, which
/// runs at the same rate: at 2000/s its polling forwarder over VFIO lost frames in two of three
/// runs on a loaded host, where the same NICs over sysfs lose none),
/// `flood-polling`, `flood-irq` and `flood-polling-again` (unpaced for 5 s: the rate with
/// interrupts against the lower of the two polling rates around it, which the host's load moves
/// by a factor of up to 4 between boots and less between neighbouring runs) and
/// `latency-polling` and `latency-irq` (round trips, one frame at a time).
const CHAINS: [Chain; 13] = [
    chain("legacy", LEGACY, "-"),
    chain("split", ["0a.0", "0b.0", "0c.0", "0d.0"], "-"),
    chain("packed", ["0e.0", "0f.0", "10.0", "11.0"], "-"),
    chain("split-no-event-idx", ["12.0", "13.0", "14.0", "15.0"], "-"),
    chain("mixed", ["16.0", "17.0", "0c.0", "0d.0"], "-"),
    chain("vfio-legacy", LEGACY, "vfio+idle=2+rate=1000+count=10000"),
    chain("vfio-iommu", ["18.0", "19.0", "1a.0", "1b.0"], "vfio+user"),
    chain("irq-low", LEGACY, "vfio+irq+idle=2+rate=1000+count=10000"),
    chain("flood-polling", LEGACY, "vfio+flood=5"),
    chain("flood-irq", LEGACY, "vfio+irq+flood=5"),
    chain("flood-polling-again", LEGACY, "vfio+flood=5"),
    chain("latency-polling", LEGACY, "vfio+latency=1000"),
    chain("latency-irq", LEGACY, "vfio+irq+latency=1000"),
];

/// What a chain's `opts` say, as the payload reads them.
#[derive(Debug, Default, PartialEq)]
struct Opts {
    vfio: bool,
    user: bool,
    irq: bool,
    rate: Option<u64>,
    count: Option<u64>,
    idle: Option<u64>,
    flood: Option<u64>,
    latency: Option<u64>,
}

impl Opts {
    fn parse(opts: &str) -> Result<Opts, String> {
        let mut o = Opts::default();
        for word in opts.split('+').filter(|w| *w != "-") {
            let number = |v: &str| {
                v.parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("{word}: not a positive number"))
            };
            match word.split_once('=') {
                None if word == "vfio" => o.vfio = true,
                None if word == "user" => o.user = true,
                None if word == "irq" => o.irq = true,
                Some(("rate", v)) => o.rate = Some(number(v)?),
                Some(("count", v)) => o.count = Some(number(v)?),
                Some(("idle", v)) => o.idle = Some(number(v)?),
                Some(("flood", v)) => o.flood = Some(number(v)?),
                Some(("latency", v)) => o.latency = Some(number(v)?),
                _ => return Err(format!("unknown chain option {word:?}")),
            }
        }
        if o.user && !o.vfio {
            return Err("user needs vfio: without VFIO only root opens a device".into());
        }
        if o.irq && !o.vfio {
            return Err("irq needs vfio: interrupts reach a process only through VFIO".into());
        }
        if o.flood.is_some() && o.latency.is_some() {
            return Err("flood and latency exclude each other".into());
        }
        Ok(o)
    }
}

fn nic_at(slot: &str) -> Option<&'static Nic> {
    NICS.iter().find(|n| n.slot == slot)
}

/// The PCI address the apps name a NIC by.
fn pci_address(slot: &str) -> String {
    format!("0000:00:{slot}")
}

impl Chain {
    /// What the chain runs on, for reports: `pktgen 04.0 (legacy) -> fwd 05.0 (legacy) -> ...`.
    fn describe(&self) -> String {
        let at = |slot: &str| {
            let flavour = nic_at(slot).map_or("no such NIC", |n| n.flavour.name());
            format!("{slot} ({flavour})")
        };
        format!(
            "pktgen {} -> fwd {} -> {} -> pcap {}",
            at(self.pktgen),
            at(self.fwd_in),
            at(self.fwd_out),
            at(self.pcap)
        )
    }

    /// The kernel command line word that has the payload run this chain.
    fn cmdline(&self) -> String {
        format!(
            "rixy.chain={}/{}/{}/{}/{}/{}",
            self.name, self.pktgen, self.fwd_in, self.fwd_out, self.pcap, self.opts
        )
    }

    fn opts(&self) -> Opts {
        Opts::parse(self.opts).unwrap_or_else(|e| panic!("chain {}: {e}", self.name))
    }
}

/// The chains `RIXY_QEMU_CHAINS` (comma-separated names; unset or empty: all) selects, or why
/// it selects none.
fn select_chains(names: Option<&str>) -> Result<Vec<&'static Chain>, String> {
    let Some(names) = names.filter(|n| !n.trim().is_empty()) else {
        return Ok(CHAINS.iter().collect());
    };
    let known = || CHAINS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
    let mut chosen: Vec<&'static Chain> = Vec::new();
    for name in names.split(',').map(str::trim) {
        let Some(c) = CHAINS.iter().find(|c| c.name == name) else {
            return Err(format!(
                "RIXY_QEMU_CHAINS names {name:?}, which is no chain (chains: {})",
                known()
            ));
        };
        if !chosen.iter().any(|d| d.name == name) {
            chosen.push(c);
        }
    }
    Ok(chosen)
}

/// Tests that must have run (and passed) inside the guest, by binary: how many, and the names
/// of those whose passing this test relies on.
const GUEST_TESTS: [(&str, usize, &[&str]); 2] = [
    (
        "hugepages",
        4,
        &[
            "device_addresses_come_from_pagemap",
            "mempool_buffers_sit_on_their_pages",
        ],
    ),
    (
        "virtio_guest",
        5,
        &[
            "features_mac_link_and_queues_are_what_qemu_offers",
            "frames_cross_the_link_in_order_both_ways_and_the_stats_agree",
            "promiscuous_mode_off_drops_frames_for_other_macs_on_accepts_them",
            "a_new_mac_address_is_what_the_device_filters_for",
            "a_device_without_ctrl_rx_says_so",
        ],
    ),
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid")),
        Err(_) => default,
    }
}

/// Where `ci/qemu/build-guest` put the kernel and the initramfs.
fn guest_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RIXY_GUEST_DIR") {
        return dir.into();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), PathBuf::from);
    manifest.join(target).join("qemu")
}

/// `n` free UDP ports on 127.0.0.1 (asked of the kernel, then released for QEMU to bind).
fn free_udp_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// QEMU's arguments for a run in `run` with accelerator `accel`, the guest running `chains`.
fn qemu_args(
    guest: &Path,
    run: &Path,
    accel: &str,
    (count, rate): (u64, u64),
    chains: &[&Chain],
) -> Vec<String> {
    let ports = free_udp_ports(NICS.len());
    // Each linked pair of NICs gets a pair of ports: a NIC sends from its own port to its
    // partner's.
    let port_of = |slot: &str| ports[NICS.iter().position(|n| n.slot == slot).unwrap()];
    let chain_words: String = chains.iter().map(|c| format!(" {}", c.cmdline())).collect();
    // q35 with Intel's IOMMU, interrupt remapping on (without it VFIO_SET_IOMMU fails);
    // KVM needs its interrupt controller split for remapping, TCG ignores the setting.
    let mut args: Vec<String> = [
        "-machine",
        "q35,kernel-irqchip=split",
        "-device",
        "intel-iommu,intremap=on",
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
        format!("console=ttyS0 panic=-1 rixy.count={count} rixy.rate={rate} rixy.hugepages=320{chain_words}"),
    ]);
    args.extend([
        "-serial".into(),
        format!("file:{}", run.join("console.log").display()),
    ]);
    args.extend([
        "-serial".into(),
        format!("file:{}", run.join("results.txt").display()),
    ]);
    for (i, nic) in NICS.iter().enumerate() {
        let mut device = format!(
            "virtio-net-pci,{},addr={},mac={}{}",
            nic.flavour.properties(),
            nic.slot,
            nic.mac,
            nic.extra
        );
        if let Some(p) = nic.partner {
            args.extend([
                "-netdev".into(),
                format!(
                    "dgram,id=link{i},local.type=inet,local.host=127.0.0.1,local.port={},remote.type=inet,remote.host=127.0.0.1,remote.port={}",
                    port_of(nic.slot),
                    port_of(p)
                ),
            ]);
            device.push_str(&format!(",netdev=link{i}"));
        }
        args.extend(["-device".into(), device]);
    }
    args.extend(["-device".into(), format!("virtio-rng-pci,addr={NON_NIC}")]);
    args
}

/// The accelerator QEMU falls back to: `-cpu max` under TCG runs anything rixy's binaries need.
const TCG: &str = "tcg,thread=multi";
/// What the guest's init prints once it runs: the guest is up.
const GUEST_UP: &str = "rixy-guest: up";

/// How to run QEMU: which binary, where KVM is opened, how long a boot may take. The real test
/// takes them from the environment; the tests of the accelerator fallback make their own.
struct Qemu {
    /// `RIXY_QEMU_BINARY`, by default `qemu-system-x86_64` from the PATH.
    binary: PathBuf,
    /// The KVM device (`/dev/kvm`); `None` when `RIXY_QEMU_ACCEL=tcg` rules KVM out.
    kvm: Option<PathBuf>,
    /// When a KVM boot is given up for TCG.
    kvm_limits: KvmLimits,
    /// `RIXY_QEMU_TIMEOUT`: the longest one boot may take.
    timeout: Duration,
    count: u64,
    rate: u64,
    /// `RIXY_QEMU_CHAINS`: the chains the guest runs.
    chains: Vec<&'static Chain>,
}

/// A KVM boot is given up (QEMU killed, the guest booted under TCG instead) when its console is
/// still empty after `first_output` or the guest is not up after `guest_up`. A working KVM
/// prints the kernel's first line well within a second and has the guest up within seconds;
/// a `/dev/kvm` that opens but cannot run this guest (nested paravirtual KVM) lets QEMU start
/// and then shows nothing, ever.
struct KvmLimits {
    first_output: Duration,
    guest_up: Duration,
}

impl Default for KvmLimits {
    fn default() -> KvmLimits {
        KvmLimits {
            first_output: Duration::from_secs(10),
            guest_up: Duration::from_secs(60),
        }
    }
}

impl Qemu {
    fn from_env() -> Qemu {
        Qemu {
            binary: std::env::var_os("RIXY_QEMU_BINARY")
                .map_or_else(|| "qemu-system-x86_64".into(), PathBuf::from),
            kvm: std::env::var("RIXY_QEMU_ACCEL")
                .map_or(true, |a| a != "tcg")
                .then(|| "/dev/kvm".into()),
            kvm_limits: KvmLimits::default(),
            timeout: Duration::from_secs(env_or("RIXY_QEMU_TIMEOUT", 540)),
            count: env_or("RIXY_QEMU_COUNT", 10_000),
            rate: env_or("RIXY_QEMU_RATE", 2_000),
            chains: select_chains(std::env::var("RIXY_QEMU_CHAINS").ok().as_deref())
                .unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// Why KVM cannot be tried, if it cannot.
    fn kvm_unusable(&self) -> Option<String> {
        let Some(device) = &self.kvm else {
            return Some("RIXY_QEMU_ACCEL=tcg".into());
        };
        let open = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(device);
        open.err()
            .map(|e| format!("{} does not open: {e}", device.display()))
    }
}

/// How a boot ended.
struct Boot {
    /// The accelerator the guest ran under.
    accel: &'static str,
    /// Why KVM was not used, when it was not.
    no_kvm: Option<String>,
    status: std::process::ExitStatus,
    /// The limit QEMU missed, when it was killed.
    killed: Option<String>,
    elapsed: Duration,
    console: String,
    stderr: String,
}

fn spawn(qemu: &Qemu, args: &[String], run: &Path) -> Child {
    Command::new(&qemu.binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(run.join("qemu.stderr")).unwrap())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}): run ci/install-deps as root",
                qemu.binary.display()
            )
        })
}

/// Boots once with `accel` and waits for QEMU to exit. It is killed when the boot takes longer
/// than `qemu.timeout` or, given `limits`, misses one of them.
fn boot_with(
    qemu: &Qemu,
    accel: &'static str,
    limits: Option<&KvmLimits>,
    guest: &Path,
    run: &Path,
) -> Boot {
    let console = || std::fs::read_to_string(run.join("console.log")).unwrap_or_default();
    for f in ["console.log", "results.txt"] {
        let _ = std::fs::remove_file(run.join(f));
    }
    let start = Instant::now();
    let mut child = spawn(
        qemu,
        &qemu_args(guest, run, accel, (qemu.count, qemu.rate), &qemu.chains),
        run,
    );
    // The limits stop mattering once the guest is up.
    let mut limits = limits;
    let mut killed = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let t = start.elapsed();
        if t > qemu.timeout {
            killed = Some(format!(
                "did not finish within {} s",
                qemu.timeout.as_secs()
            ));
        } else if let Some(l) = limits.filter(|l| t > l.first_output.min(l.guest_up)) {
            let text = console();
            if text.contains(GUEST_UP) {
                limits = None;
            } else if text.is_empty() && t > l.first_output {
                let s = l.first_output.as_secs();
                killed = Some(format!("printed nothing on the console within {s} s"));
            } else if t > l.guest_up {
                let s = l.guest_up.as_secs();
                killed = Some(format!("did not bring the guest up within {s} s"));
            }
        }
        if killed.is_some() {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Boot {
        accel,
        no_kvm: None,
        status,
        killed,
        elapsed: start.elapsed(),
        console: console(),
        stderr: std::fs::read_to_string(run.join("qemu.stderr")).unwrap_or_default(),
    }
}

/// Boots the guest: under KVM when the KVM device opens and KVM brings the guest up within its
/// limits and QEMU exits by itself; otherwise (KVM given up, QEMU quitting before the guest is
/// up, or `RIXY_QEMU_ACCEL=tcg`) under TCG, which is the last resort: a TCG timeout fails.
fn boot(qemu: &Qemu, guest: &Path, run: &Path) -> Boot {
    let no_kvm = match qemu.kvm_unusable() {
        Some(why) => why,
        None => {
            let kvm = boot_with(qemu, "kvm", Some(&qemu.kvm_limits), guest, run);
            let took = kvm.elapsed.as_secs_f64();
            match &kvm.killed {
                None if kvm.console.contains(GUEST_UP) => return kvm,
                None => format!(
                    "QEMU ended ({}) after {took:.1} s, before the guest was up: {}",
                    kvm.status,
                    kvm.stderr.lines().last().unwrap_or("")
                ),
                Some(why) => format!("QEMU {why}, killed after {took:.1} s"),
            }
        }
    };
    println!("KVM not used ({no_kvm}): booting under TCG");
    let tcg = boot_with(qemu, TCG, None, guest, run);
    if let Some(why) = &tcg.killed {
        panic!(
            "QEMU ({TCG}) {why} and was killed ({}); console:\n{}",
            tcg.status,
            tail(&tcg.console, 60)
        );
    }
    Boot {
        no_kvm: Some(no_kvm),
        ..tcg
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
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
    let archive = base64_decode(&body)?;
    std::fs::create_dir_all(dir).unwrap();
    let mut tar = Command::new("tar")
        .args(["-xz", "-C"])
        .arg(dir)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive).map_err(|e| e.to_string())?;
    drop(tar.stdin.take());
    let status = tar.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("tar failed: {status}"))
    }
}

/// Standard base64 (RFC 4648 section 4) with padding, as busybox's `base64` writes it.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("{:?} is not base64", c as char)),
        }
        .into())
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "{} base64 characters are not a multiple of 4",
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Ok(out)
}

/// The failures found so far: every check runs, and the test fails with all of them.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|_| format!("<{name} missing>"))
}

fn exit_code(dir: &Path, name: &str) -> Option<i32> {
    read(dir, &format!("{name}.rc")).trim().parse().ok()
}

/// `(passed, failed)` from a libtest summary line, and whether any test said it skipped.
fn test_summary(output: &str) -> (Option<(usize, usize)>, bool) {
    let summary = output.lines().find_map(|line| {
        let rest = line.strip_prefix("test result: ")?;
        let number = |word: &str| {
            rest.split(';').find_map(|part| {
                part.trim()
                    .strip_suffix(word)?
                    .trim()
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()
            })
        };
        Some((number("passed")?, number("failed")?))
    });
    (summary, output.lines().any(|l| l.contains("skipped:")))
}

/// The counters of device `name`'s totals line:
/// `[name] total over T s: RX a packets b bytes, c dropped, d errors | TX e packets f bytes, g errors`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    rx_packets: u64,
    rx_bytes: u64,
    rx_dropped: u64,
    rx_errors: u64,
    tx_packets: u64,
    tx_bytes: u64,
    tx_errors: u64,
}

fn totals(output: &str, name: &str) -> Option<Totals> {
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
    match numbers[..] {
        [
            rx_packets,
            rx_bytes,
            rx_dropped,
            rx_errors,
            tx_packets,
            tx_bytes,
            tx_errors,
            ..,
        ] => Some(Totals {
            rx_packets,
            rx_bytes,
            rx_dropped,
            rx_errors,
            tx_packets,
            tx_bytes,
            tx_errors,
        }),
        _ => None,
    }
}

/// The checks of one chain's outputs in `dir` (the payload's `chain-NAME`), as they were for
/// the one chain before there were flavours: the three apps exited 0; the capture holds
/// exactly `count` valid test frames with strictly increasing sequence numbers (so no
/// duplicates), the largest at most 2N; their devices' totals agree with the capture. Returns the
/// failures and a one-line account of the capture.
fn check_chain(dir: &Path, chain: &Chain, count: u64) -> (Vec<String>, String) {
    let mut c = Checks::default();
    // The apps ran to completion (first: when a device does not open, its app's error is
    // what the chain's verdict line shows).
    for app in ["pktgen", "fwd", "pcap"] {
        c.check(exit_code(dir, app) == Some(0), || {
            format!(
                "rixy-{app} exited {:?}: {}",
                exit_code(dir, app),
                app_error(dir, app)
            )
        });
    }
    let capture = std::fs::read(dir.join("capture.pcap")).unwrap_or_default();
    let mut seqs = Vec::new();
    match pcap_frames(&capture) {
        Ok(frames) => {
            for (i, f) in frames.iter().enumerate() {
                match frame::parse(f) {
                    Ok(parsed) => seqs.push(parsed.seq),
                    Err(problem) => c
                        .failures
                        .push(format!("captured frame {i} is not a test frame: {problem}")),
                }
            }
        }
        Err(e) => c.failures.push(format!("capture.pcap: {e}")),
    }
    c.check(seqs.len() as u64 == count, || {
        format!(
            "the capture holds {} valid test frames, want {count}",
            seqs.len()
        )
    });
    let disorder = seqs.windows(2).position(|w| w[0] >= w[1]);
    c.check(disorder.is_none(), || {
        let i = disorder.unwrap();
        format!(
            "sequence numbers not strictly increasing at frame {i}: {} then {}",
            seqs[i],
            seqs[i + 1]
        )
    });
    let max = seqs.iter().copied().max().unwrap_or(0);
    c.check(u64::from(max) <= 2 * count, || {
        format!("largest sequence number {max} exceeds 2N = {}", 2 * count)
    });
    let lost = seqs
        .first()
        .map_or(0, |&f| u64::from(max - f) + 1 - seqs.len() as u64);
    let account = format!(
        "capture: {} frames, sequence {}..={max}, {lost} missing in between",
        seqs.len(),
        seqs.first().copied().unwrap_or(0)
    );

    // Their devices' counters agree with the capture.
    let captured = seqs.len() as u64;
    let bytes = |packets: u64| packets * frame::MIN_FRAME_LEN as u64;
    let expect = [
        (
            "pktgen",
            chain.pktgen,
            Totals {
                tx_packets: count,
                tx_bytes: bytes(count),
                ..Totals::default()
            },
        ),
        (
            "fwd",
            chain.fwd_in,
            Totals {
                rx_packets: captured,
                rx_bytes: bytes(captured),
                ..Totals::default()
            },
        ),
        (
            "fwd",
            chain.fwd_out,
            Totals {
                tx_packets: captured,
                tx_bytes: bytes(captured),
                ..Totals::default()
            },
        ),
        (
            "pcap",
            chain.pcap,
            Totals {
                rx_packets: captured,
                rx_bytes: bytes(captured),
                ..Totals::default()
            },
        ),
    ];
    for (app, slot, want) in &expect {
        let dev = pci_address(slot);
        let output = read(dir, &format!("{app}.out"));
        let got = totals(&output, &dev);
        c.check(got.as_ref() == Some(want), || {
            format!(
                "rixy-{app}'s totals for {dev}: {got:?}, want {want:?}\n{}",
                tail(&output, 5)
            )
        });
    }
    let pcap_out = read(dir, "pcap.out");
    c.check(pcap_out.contains(&format!("captured: {captured}")), || {
        format!(
            "rixy-pcap does not report `captured: {captured}`:\n{}",
            tail(&pcap_out, 3)
        )
    });
    (c.failures, account)
}

/// The frames the payload's flood chains capture before their rixy-pcap stops
/// (`FLOOD_CAPTURE` in ci/qemu/payload): enough to check order, small enough for the serial port.
const FLOOD_CAPTURE: u64 = 2000;

/// The checks of a chain of any kind: [`check_chain`] for a chain that sends a count of frames,
/// the flood and latency checks for those, and for a chain over VFIO that each device opened
/// through VFIO in the mode it must (root: legacy virtio in physical mode; user: IOVAs, no
/// hugetlbfs, uid 1000).
fn check_any_chain(dir: &Path, chain: &Chain, default_count: u64) -> (Vec<String>, String) {
    let opts = chain.opts();
    let (mut failures, mut account) = if let Some(secs) = opts.flood {
        check_flood_chain(dir, chain, secs)
    } else if let Some(n) = opts.latency {
        check_latency_chain(dir, n)
    } else {
        check_chain(dir, chain, opts.count.unwrap_or(default_count))
    };
    if opts.vfio {
        let (f, evidence) = check_vfio(dir, chain, &opts);
        failures.extend(f);
        account.push_str(&evidence);
    }
    (failures, account)
}

/// For a chain over VFIO: every app says (RIXY_LOG=debug) that it opened its devices through
/// VFIO and in which DMA mode; the forwarder's queues are at physical addresses of its own
/// pages in physical mode and at none in IOVA mode (the evidence of the translation, returned
/// for the verdict line); an unprivileged chain ran as uid 1000, without hugetlbfs.
fn check_vfio(dir: &Path, chain: &Chain, opts: &Opts) -> (Vec<String>, String) {
    let mut c = Checks::default();
    let mode = if opts.user { "Iova" } else { "Physical" };
    let mut apps = vec![("fwd", chain.fwd_in), ("fwd", chain.fwd_out)];
    if opts.latency.is_none() {
        apps.extend([("pktgen", chain.pktgen), ("pcap", chain.pcap)]);
    }
    for (app, slot) in apps {
        let dev = pci_address(slot);
        let err = read(dir, &format!("{app}.err"));
        for want in [
            format!("{dev}: opened through VFIO"),
            format!("{dev}: DMA through the IOMMU in {mode} mode"),
        ] {
            c.check(err.contains(&want), || {
                format!("rixy-{app} does not log `{want}`:\n{}", tail(&err, 5))
            });
        }
    }
    let mut evidence = String::new();
    // The device addresses of the forwarder's queues (RIXY_LOG=debug) against the physical
    // pages of the forwarder, which the payload read from its pagemap as root while it ran: in
    // physical mode each queue sits on one of them (which shows the comparison works); with
    // IOVAs none does, so the device reached the queues only through the IOMMU's translation.
    // (rixy's IOVAs start at 1 MiB and each device's queues come before its pool, so they are
    // a few MiB up at most: guest-physical memory there is the kernel's DMA zone and image,
    // never a process's page, so a match by chance is not to be expected.)
    let fwd_err = read(dir, "fwd.err");
    let queues: Vec<u64> = fwd_err
        .lines()
        .filter(|l| l.contains(": queue ") && l.contains(" at 0x"))
        .filter_map(|l| u64::from_str_radix(l.rsplit(" at 0x").next()?.trim(), 16).ok())
        .collect();
    let pfns: std::collections::HashSet<u64> = read(dir, "fwd-pfns.txt")
        .lines()
        .filter_map(|l| u64::from_str_radix(l.trim(), 16).ok())
        .collect();
    if exit_code(dir, "fwd") == Some(0) {
        let on_own_pages = queues
            .iter()
            .filter(|&&a| pfns.contains(&(a >> 12)))
            .count();
        c.check(!queues.is_empty() && !pfns.is_empty(), || {
            format!(
                "no queue addresses logged by rixy-fwd ({}) or no physical pages read from its pagemap ({}): {}",
                queues.len(),
                pfns.len(),
                read(dir, "fwd-pfns.err")
            )
        });
        let want = if opts.user { 0 } else { queues.len() };
        c.check(on_own_pages == want, || {
            format!(
                "{on_own_pages} of the forwarder's {} queue addresses {queues:x?} are physical addresses of its own pages, want {want} ({mode} mode)",
                queues.len()
            )
        });
        write!(
            evidence,
            "; forwarder's queues at {} ({mode} mode), {on_own_pages} of them among its {} physical pages",
            queues
                .iter()
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(" "),
            pfns.len()
        )
        .unwrap();
    }
    if opts.user {
        let id = read(dir, "id.out");
        c.check(id.contains("uid=1000"), || {
            format!("the apps did not run as uid 1000: id says {id}")
        });
        let mounts = read(dir, "hugetlbfs-mounts.out");
        c.check(mounts.trim() == "0", || {
            format!("hugetlbfs was mounted during the unprivileged run: {mounts}")
        });
        write!(
            evidence,
            "; as {}, {}",
            id.split_whitespace().next().unwrap_or("?"),
            read(dir, "memlock.out")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        )
        .unwrap();
    }
    (c.failures, evidence)
}

/// The flood chain: the apps ran, the capture's first [`FLOOD_CAPTURE`] frames are test frames,
/// and the forwarder forwarded what it received (it sends every frame it takes: TX = RX). The
/// account gives the forwarded rate over the generator's `secs`. Their order is not checked:
/// the flood chains share their NICs with other chains, and an unpaced run leaves frames in
/// QEMU's link sockets (a receiver that stopped after its capture) which the next chain's
/// receivers get first.
fn check_flood_chain(dir: &Path, chain: &Chain, secs: u64) -> (Vec<String>, String) {
    let mut c = Checks::default();
    for app in ["pktgen", "fwd", "pcap"] {
        c.check(exit_code(dir, app) == Some(0), || {
            format!(
                "rixy-{app} exited {:?}: {}",
                exit_code(dir, app),
                app_error(dir, app)
            )
        });
    }
    let capture = std::fs::read(dir.join("capture.pcap")).unwrap_or_default();
    let seqs: Vec<u32> = pcap_frames(&capture)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| frame::parse(f).ok().map(|p| p.seq))
        .collect();
    c.check(seqs.len() as u64 == FLOOD_CAPTURE, || {
        format!(
            "the capture holds {} test frames, want {FLOOD_CAPTURE}",
            seqs.len()
        )
    });
    let fwd = read(dir, "fwd.out");
    let rx = totals(&fwd, &pci_address(chain.fwd_in));
    let tx = totals(&fwd, &pci_address(chain.fwd_out));
    let forwarded = tx.as_ref().map_or(0, |t| t.tx_packets);
    c.check(
        rx.as_ref().is_some_and(|r| r.rx_packets == forwarded) && forwarded > 0,
        || format!("the forwarder's totals: RX {rx:?}, TX {tx:?}; want TX = RX > 0"),
    );
    let sent =
        totals(&read(dir, "pktgen.out"), &pci_address(chain.pktgen)).map_or(0, |t| t.tx_packets);
    let account = format!(
        "generator sent {sent} in {secs} s, forwarder forwarded {forwarded} ({:.0}/s)",
        forwarded as f64 / secs as f64
    );
    (c.failures, account)
}

/// rixy-latency's summary line: samples, lost, median and 99th percentile in microseconds.
#[derive(Debug, PartialEq)]
struct Latency {
    samples: u64,
    lost: u64,
    median: f64,
    p99: f64,
}

fn latency_line(text: &str) -> Option<Latency> {
    let line = text.lines().find(|l| l.starts_with("latency: "))?;
    let value = |word: &str| -> Option<f64> {
        line.split(", ")
            .find_map(|part| part.trim_start_matches("latency: ").strip_prefix(word))?
            .trim()
            .trim_end_matches(" us")
            .trim_end_matches(" samples")
            .parse()
            .ok()
    };
    let samples = line
        .trim_start_matches("latency: ")
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some(Latency {
        samples,
        lost: value("lost ")? as u64,
        median: value("median ")?,
        p99: value("p99 ")?,
    })
}

/// The latency chain: rixy-latency and the forwarder ran, every one of the `n` frames came back.
fn check_latency_chain(dir: &Path, n: u64) -> (Vec<String>, String) {
    let mut c = Checks::default();
    c.check(exit_code(dir, "fwd") == Some(0), || {
        format!(
            "rixy-fwd exited {:?}: {}",
            exit_code(dir, "fwd"),
            app_error(dir, "fwd")
        )
    });
    let out = read(dir, "latency.out");
    let parsed = latency_line(&out);
    c.check(
        exit_code(dir, "latency") == Some(0)
            && parsed
                .as_ref()
                .is_some_and(|l| l.samples == n && l.lost == 0),
        || {
            format!(
                "rixy-latency exited {:?}, want {n} samples, none lost: {out}{}",
                exit_code(dir, "latency"),
                tail(&read(dir, "latency.err"), 5)
            )
        },
    );
    (c.failures, out.trim().to_string())
}

/// CPU time over a window: clock ticks of 1/100 s, and the window's length in seconds.
type CpuTime = (u64, f64);

/// The forwarder's CPU time from the payload's fwd.cpu: over the idle window and over the
/// traffic.
fn fwd_cpu(dir: &Path) -> (Option<CpuTime>, Option<CpuTime>) {
    let text = read(dir, "fwd.cpu");
    let get = |what: &str| {
        text.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == what).then_some(())?;
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
    };
    (get("idle"), get("traffic"))
}

/// The share of a core `(ticks, seconds)` is.
fn core_share((ticks, secs): CpuTime) -> f64 {
    ticks as f64 / 100.0 / secs
}

/// The forwarder with interrupts against the polling one, from the chains that ran: at a low
/// rate (`irq-low` against `vfio-legacy`) a small share of a core busy and idle, where polling
/// takes most of one; unpaced (`flood-irq` against `flood-polling`) at least
/// [`FLOOD_TOLERANCE`] of the polling rate. Returns the failures and the measured tables (CPU
/// per forwarded packet and per idle second; latency, median and p99, per mode).
fn compare_modes(out: &Path, chains: &[&Chain]) -> (Vec<String>, String) {
    let mut c = Checks::default();
    let ran = |name: &str| chains.iter().any(|c| c.name == name);
    let dir = |name: &str| out.join(format!("chain-{name}"));
    let mut text = String::new();
    if ran("vfio-legacy") && ran("irq-low") {
        let (poll_idle, poll_busy) = fwd_cpu(&dir("vfio-legacy"));
        let (irq_idle, irq_busy) = fwd_cpu(&dir("irq-low"));
        let forwarded = |name: &str| {
            let chain = CHAINS.iter().find(|c| c.name == name).unwrap();
            totals(&read(&dir(name), "fwd.out"), &pci_address(chain.fwd_out))
                .map_or(0, |t| t.tx_packets)
        };
        writeln!(
            text,
            "forwarder CPU (guest clock ticks; relative figures under TCG):\n\
             | mode | idle: share of a core | traffic: share of a core | CPU per forwarded packet |"
        )
        .unwrap();
        for (mode, name, idle, busy) in [
            ("polling", "vfio-legacy", poll_idle, poll_busy),
            ("interrupts", "irq-low", irq_idle, irq_busy),
        ] {
            if exit_code(&dir(name), "fwd") != Some(0) {
                writeln!(text, "| {mode} ({name}) | forwarder failed | | |").unwrap();
                continue;
            }
            let n = forwarded(name);
            writeln!(
                text,
                "| {mode} ({name}) | {} | {} | {} |",
                idle.map_or("?".into(), |i| format!("{:.3}", core_share(i))),
                busy.map_or("?".into(), |b| format!("{:.3}", core_share(b))),
                busy.filter(|_| n > 0).map_or("?".into(), |(t, _)| format!(
                    "{:.1} us",
                    t as f64 * 10_000.0 / n as f64
                )),
            )
            .unwrap();
        }
        match (poll_idle, poll_busy, irq_idle, irq_busy) {
            (Some(pi), Some(pb), Some(ii), Some(ib)) => {
                // Polling spins: most of a core whatever the traffic (the guest has two vCPUs
                // and the chain's three apps, so "most" is over a half).
                c.check(core_share(pi) > 0.5 && core_share(pb) > 0.5, || {
                    format!(
                        "the polling forwarder used {:.2} (idle) and {:.2} (traffic) of a core: it should spin",
                        core_share(pi),
                        core_share(pb)
                    )
                });
                // Sleeping, it uses next to nothing; at 1000 frames/s each frame wakes it (an
                // eventfd read, 16 empty polls, the re-arm: about 0.3 ms of emulated CPU under
                // TCG, so a third of a core was measured), well under the polling one's.
                c.check(
                    core_share(ii) < 0.1 && core_share(ib) < core_share(pb) / 2.0,
                    || {
                        format!(
                            "the forwarder with interrupts used {:.3} (idle, want < 0.1) and {:.3} (1000 frames/s, want < half of polling's {:.3}) of a core",
                            core_share(ii),
                            core_share(ib),
                            core_share(pb)
                        )
                    },
                );
            }
            other => c
                .failures
                .push(format!("no CPU times from the forwarders: {other:?}")),
        }
    }
    if ran("flood-polling") && ran("flood-irq") {
        let rate = |name: &str| {
            let chain = CHAINS.iter().find(|c| c.name == name).unwrap();
            let secs = chain.opts().flood.unwrap_or(1) as f64;
            totals(&read(&dir(name), "fwd.out"), &pci_address(chain.fwd_out))
                .map_or(0.0, |t| t.tx_packets as f64 / secs)
        };
        let (first, irq) = (rate("flood-polling"), rate("flood-irq"));
        let again = ran("flood-polling-again").then(|| rate("flood-polling-again"));
        let poll = again.map_or(first, |a| a.min(first));
        writeln!(
            text,
            "unpaced: polling forwarded {first:.0}/s{}, interrupts {irq:.0}/s ({:.0} % of {poll:.0}/s)",
            again.map_or(String::new(), |a| format!(" before and {a:.0}/s after")),
            100.0 * irq / poll.max(1.0)
        )
        .unwrap();
        c.check(poll > 0.0 && irq >= FLOOD_TOLERANCE * poll, || {
            format!(
                "unpaced, the forwarder with interrupts forwarded {irq:.0}/s, less than {:.0} % of polling's {poll:.0}/s",
                FLOOD_TOLERANCE * 100.0
            )
        });
    }
    if ran("latency-polling") || ran("latency-irq") {
        writeln!(
            text,
            "round trip through the forwarder, one frame at a time (relative under TCG):\n\
             | mode | samples | median | p99 |"
        )
        .unwrap();
        for (mode, name) in [
            ("polling", "latency-polling"),
            ("interrupts", "latency-irq"),
        ] {
            if let Some(l) = ran(name)
                .then(|| latency_line(&read(&dir(name), "latency.out")))
                .flatten()
            {
                writeln!(
                    text,
                    "| {mode} | {} | {:.1} us | {:.1} us |",
                    l.samples, l.median, l.p99
                )
                .unwrap();
            }
        }
    }
    (c.failures, text)
}

/// How much of the polling forwarder's unpaced rate the one with interrupts must reach. Under
/// TCG the two runs are seconds apart on a host shared with other work, and the rate is the
/// emulator's: a quarter off is noise there, not a lost interrupt (which halts a queue for a
/// 10 ms slice at a time and shows as a fraction of the rate).
const FLOOD_TOLERANCE: f64 = 0.75;

/// A legacy device bound to vfio-pci, its group given to uid 1000: that user's run is refused
/// with the reason (its DMA bypasses the IOMMU, physical addresses need root) in one line.
fn check_bypass_refused(out: &Path) -> Vec<String> {
    let mut c = Checks::default();
    c.check(exit_code(out, "bypass-bind") == Some(0), || {
        format!("ci/vfio-bind failed: {}", read(out, "bypass-bind.out"))
    });
    let err = read(out, "bypass-user.err");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let rc = exit_code(out, "bypass-user");
    c.check(
        matches!(rc, Some(rc) if rc != 0 && rc != 124 && rc != 143)
            && lines.len() == 1
            && lines[0].starts_with("error: ")
            && lines[0].contains("bypass")
            && lines[0].contains("shows only to root"),
        || format!("an unprivileged run on a legacy NIC bound to vfio-pci: exit {rc:?}, want != 0 and one line `error: ...bypass...shows only to root...` (BypassNeedsRoot), got:\n{err}"),
    );
    c.failures
}

/// What app `app` of a chain said on stderr: its `error: ...` line first (the library's log
/// lines, `rixy: ...`, come before it with RIXY_LOG), then the last lines.
fn app_error(dir: &Path, app: &str) -> String {
    let err = read(dir, &format!("{app}.err"));
    match err.lines().find(|l| l.starts_with("error: ")) {
        Some(line) => format!("{line}\n{}", tail(&err, 10)),
        None => tail(&err, 10),
    }
}

/// The frames of a classic pcap file as rixy-pcap writes it.
fn pcap_frames(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    if data.len() < GLOBAL_HEADER_LEN {
        return Err(format!("{} bytes: no pcap header", data.len()));
    }
    if u32_at(0) != MAGIC || u32_at(20) != LINKTYPE_ETHERNET {
        return Err(format!(
            "magic {:#x}, link type {}: not an Ethernet pcap file",
            u32_at(0),
            u32_at(20)
        ));
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
            return Err(format!(
                "record at byte {at}: {captured} of {original} bytes captured, file ends at {}",
                data.len()
            ));
        }
        frames.push(&data[start..start + captured]);
        at = start + captured;
    }
    Ok(frames)
}

#[test]
#[ignore = "boots a QEMU guest for minutes: ci/qemu/test (run by ci/test) builds the guest and runs this"]
fn virtio_in_qemu() {
    let guest = guest_dir();
    assert!(
        guest.join("vmlinuz").is_file() && guest.join("initramfs.gz").is_file(),
        "no guest in {}: run ci/qemu/build-guest first",
        guest.display()
    );
    let qemu = Qemu::from_env();
    let count = qemu.count;
    let work = tempfile::tempdir().unwrap();
    let run = work.path();
    let boot = boot(&qemu, &guest, run);
    let mut report = String::new();
    let up = boot.console.lines().find_map(|l| {
        l.split("rixy-guest: up after ")
            .nth(1)?
            .split(' ')
            .next()?
            .parse::<f64>()
            .ok()
    });
    let payload_time = boot.console.lines().find_map(|l| {
        let rest = l.split("payload exited ").nth(1)?;
        let (start, end) = rest
            .split_once(" after ")?
            .1
            .trim_end_matches(" s")
            .split_once(" .. ")?;
        Some(end.parse::<f64>().ok()? - start.parse::<f64>().ok()?)
    });
    // The line the README points to: which accelerator ran the guest, and why not KVM.
    writeln!(
        report,
        "accelerator: {}{}",
        boot.accel,
        boot.no_kvm
            .as_ref()
            .map_or(String::new(), |why| format!(" (KVM not used: {why})"))
    )
    .unwrap();
    writeln!(
        report,
        "QEMU ({}) exited {} after {:.1} s; guest up after {} s, payload {} s",
        boot.accel,
        boot.status,
        boot.elapsed.as_secs_f64(),
        up.map_or("?".into(), |t| format!("{t:.1}")),
        payload_time.map_or("?".into(), |t| format!("{t:.1}")),
    )
    .unwrap();
    println!("{report}");

    let out = run.join("out");
    if let Err(e) = unpack_results(&run.join("results.txt"), &out) {
        panic!(
            "no results from the guest ({e}); QEMU stderr:\n{}\nconsole:\n{}",
            tail(&boot.stderr, 20),
            tail(&boot.console, 60)
        );
    }
    println!("payload log:\n{}", read(&out, "payload.log"));
    // RIXY_QEMU_KEEP=DIR keeps the run (console, QEMU's stderr, the guest's outputs in out/).
    if let Some(dir) = std::env::var_os("RIXY_QEMU_KEEP") {
        std::fs::create_dir_all(&dir).unwrap();
        let copied = Command::new("cp")
            .arg("-r")
            .arg(format!("{}/.", run.display()))
            .arg(&dir)
            .status();
        println!("run kept in {}: {copied:?}", Path::new(&dir).display());
    }

    let mut c = Checks::default();
    c.check(boot.status.success(), || {
        format!("QEMU exited {}: {}", boot.status, tail(&boot.stderr, 5))
    });
    c.check(read(&out, "payload.rc").trim() == "0", || {
        format!("the payload exited {}", read(&out, "payload.rc").trim())
    });

    // The tests that ran inside the guest: all passed, none skipped.
    for (name, expected, named) in GUEST_TESTS {
        let output = format!(
            "{}{}",
            read(&out, &format!("{name}.out")),
            read(&out, &format!("{name}.err"))
        );
        let (summary, skipped) = test_summary(&output);
        let not_ok: Vec<&str> = named
            .iter()
            .copied()
            .filter(|t| !output.contains(&format!("test {t} ... ok")))
            .collect();
        c.check(
            exit_code(&out, name) == Some(0)
                && summary == Some((expected, 0))
                && !skipped
                && not_ok.is_empty(),
            || format!(
                "guest tests {name}: exit {:?}, summary {summary:?} (want {expected} passed), skipped: {skipped}, not ok: {not_ok:?}\n{}",
                exit_code(&out, name),
                tail(&output, 40)
            ),
        );
    }

    // Bad input: one line on stderr, `error: ...`, saying what is wrong; a non-zero exit.
    for app in ["rixy-pktgen", "rixy-fwd", "rixy-pcap"] {
        let absent = format!("no PCI device {}", pci_address(ABSENT));
        for (case, says) in [
            ("nonnic", "not 0x02 (network controller)"),
            ("absent", absent.as_str()),
            ("malformed", "invalid PCI address"),
        ] {
            let name = format!("bad-{app}-{case}");
            let err = read(&out, &format!("{name}.err"));
            let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            let rc = exit_code(&out, &name);
            c.check(
                matches!(rc, Some(rc) if rc != 0 && rc != 124 && rc != 143)
                    && lines.len() == 1
                    && lines[0].starts_with("error: ")
                    && lines[0].contains(says),
                || format!("{app} on the {case} device: exit {rc:?}, want != 0 and one line `error: ...{says}...` on stderr, got:\n{err}"),
            );
        }
    }

    // Each chain the guest was told to run: its checks, its verdict on a line of its own.
    let mut verdicts = String::new();
    for chain in &qemu.chains {
        let dir = out.join(format!("chain-{}", chain.name));
        let (failures, account) = if dir.is_dir() {
            check_any_chain(&dir, chain, count)
        } else {
            (
                vec!["the guest did not run it (no chain directory)".to_string()],
                String::new(),
            )
        };
        // A failed chain's line says its first failure (an app's one-line error, often).
        let verdict = match failures.first() {
            None => "passed".to_string(),
            Some(first) => {
                let first: String = first
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect();
                format!("FAILED ({} check(s), first: {first})", failures.len())
            }
        };
        writeln!(
            verdicts,
            "chain {}: {verdict}; {}; {account}",
            chain.name,
            chain.describe()
        )
        .unwrap();
        c.failures.extend(
            failures
                .into_iter()
                .map(|f| format!("chain {}: {f}", chain.name)),
        );
    }
    let skipped: Vec<&str> = CHAINS
        .iter()
        .filter(|c| !qemu.chains.iter().any(|d| d.name == c.name))
        .map(|c| c.name)
        .collect();
    if !skipped.is_empty() {
        writeln!(
            verdicts,
            "chains not run (RIXY_QEMU_CHAINS): {}",
            skipped.join(", ")
        )
        .unwrap();
    }
    println!("{verdicts}");
    report.push_str(&verdicts);

    // VFIO: the modules loaded; a device that bypasses the IOMMU is refused to a user.
    c.check(exit_code(&out, "modprobe-vfio") == Some(0), || {
        format!(
            "modprobe vfio_iommu_type1 vfio-pci: exit {:?}: {}",
            exit_code(&out, "modprobe-vfio"),
            read(&out, "modprobe-vfio.err")
        )
    });
    c.failures.extend(check_bypass_refused(&out));
    // Interrupts against polling, and the latency table, from the chains that ran.
    let (failures, measured) = compare_modes(&out, &qemu.chains);
    c.failures.extend(failures);
    println!("{measured}");
    report.push_str(&measured);

    if !c.failures.is_empty() {
        panic!(
            "{} check(s) failed:\n- {}\n\nconsole:\n{}\n\n{report}",
            c.failures.len(),
            c.failures.join("\n- "),
            tail(&boot.console, 30)
        );
    }
    println!("{report}all checks passed");
}

#[test]
fn the_nics_and_chains_make_a_machine_qemu_can_build() {
    // Slots: distinct, on the `q35` machine's bus 0 past the host bridge (00.0) and slot 01,
    // below the empty 1e and the LPC/SATA/SMBus functions at 1f; the non-NIC and the absent
    // slot are not NICs'.
    let slot_number = |slot: &str| {
        let (dev, func) = slot.split_once('.').unwrap();
        assert_eq!(func, "0", "{slot}");
        u8::from_str_radix(dev, 16).unwrap()
    };
    let mut slots: Vec<u8> = NICS.iter().map(|n| slot_number(n.slot)).collect();
    slots.push(slot_number(NON_NIC));
    assert!(slots.iter().all(|&s| (2..0x1e).contains(&s)), "{slots:x?}");
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), NICS.len() + 1, "two devices share a slot");
    assert!(nic_at(ABSENT).is_none() && slot_number(ABSENT) == 0x1e);
    let mut macs: Vec<&str> = NICS.iter().map(|n| n.mac).collect();
    macs.sort_unstable();
    macs.dedup();
    assert_eq!(macs.len(), NICS.len(), "two NICs share a MAC address");
    // Links go both ways.
    for n in &NICS {
        if let Some(p) = n.partner {
            let partner = nic_at(p).unwrap_or_else(|| panic!("{}'s partner {p} is no NIC", n.slot));
            assert_eq!(
                partner.partner,
                Some(n.slot),
                "{} -> {p} is one-way",
                n.slot
            );
        }
    }
    // Chains: distinct names the payload can split off; the generator's link reaches the
    // forwarder's input, the forwarder's output links to the capture.
    for (i, c) in CHAINS.iter().enumerate() {
        assert!(
            !c.name.is_empty()
                && !c.name.contains(['/', ' ', ','])
                && CHAINS[..i].iter().all(|d| d.name != c.name),
            "chain name {:?}",
            c.name
        );
        let partner = |slot: &str| nic_at(slot).and_then(|n| n.partner);
        assert_eq!(partner(c.pktgen), Some(c.fwd_in), "chain {}", c.name);
        assert_eq!(partner(c.fwd_out), Some(c.pcap), "chain {}", c.name);
        assert_ne!(c.fwd_in, c.fwd_out, "chain {}", c.name);
    }
    // Every flavour has a chain of its own, all four NICs of it; and the mixed chain has a
    // legacy generator and a forwarder from packed to split.
    let flavour = |slot: &str| nic_at(slot).unwrap().flavour;
    for f in [
        Flavour::Legacy,
        Flavour::Split,
        Flavour::Packed,
        Flavour::SplitNoEventIdx,
        Flavour::SplitIommu,
    ] {
        assert!(
            CHAINS
                .iter()
                .any(|c| [c.pktgen, c.fwd_in, c.fwd_out, c.pcap]
                    .iter()
                    .all(|&s| flavour(s) == f)),
            "no chain all {f:?}"
        );
    }
    assert!(CHAINS.iter().any(|c| flavour(c.pktgen) == Flavour::Legacy
        && flavour(c.fwd_in) == Flavour::Packed
        && flavour(c.fwd_out) == Flavour::Split));
    // Options the payload understands; an unprivileged chain only on NICs whose DMA the IOMMU
    // translates (elsewhere it is refused, which the payload's bypass step checks); the modes
    // compared have their reference chain: the same NICs, the same way in.
    for c in &CHAINS {
        let o = c.opts();
        let nics = [c.pktgen, c.fwd_in, c.fwd_out, c.pcap];
        if o.user {
            assert!(
                nics.iter().all(|&s| flavour(s) == Flavour::SplitIommu),
                "chain {}",
                c.name
            );
        }
    }
    let by_name = |name: &str| CHAINS.iter().find(|c| c.name == name).unwrap();
    for (irq, poll) in [
        ("irq-low", "vfio-legacy"),
        ("flood-irq", "flood-polling"),
        ("flood-irq", "flood-polling-again"),
        ("latency-irq", "latency-polling"),
    ] {
        let (i, p) = (by_name(irq), by_name(poll));
        assert!(i.opts().irq && !p.opts().irq && i.opts().vfio && p.opts().vfio);
        assert_eq!(
            [i.pktgen, i.fwd_in, i.fwd_out, i.pcap],
            [p.pktgen, p.fwd_in, p.fwd_out, p.pcap]
        );
    }
    assert!(
        by_name("irq-low").opts().idle.is_some() && by_name("vfio-legacy").opts().idle.is_some()
    );
    // The kernel command line, every chain on it, fits x86's 2048 bytes.
    let dir = Path::new("/nonexistent");
    let args = qemu_args(
        dir,
        dir,
        TCG,
        (10_000, 2_000),
        &CHAINS.iter().collect::<Vec<_>>(),
    );
    let append = &args[args.iter().position(|a| a == "-append").unwrap() + 1];
    assert!(append.len() < 2048, "{} bytes: {append}", append.len());
    for c in &CHAINS {
        assert!(append.contains(&c.cmdline()));
    }
}

#[test]
fn rixy_qemu_chains_selects_chains_by_name() {
    let names = |chains: Vec<&Chain>| chains.iter().map(|c| c.name).collect::<Vec<_>>();
    let all: Vec<&str> = CHAINS.iter().map(|c| c.name).collect();
    assert_eq!(names(select_chains(None).unwrap()), all);
    assert_eq!(names(select_chains(Some(" ")).unwrap()), all);
    assert_eq!(
        names(select_chains(Some("mixed, legacy,mixed")).unwrap()),
        ["mixed", "legacy"]
    );
    let err = select_chains(Some("legacy,modern")).err().unwrap();
    assert!(
        err.contains("\"modern\"") && err.contains("legacy, split, packed"),
        "{err}"
    );
}

#[test]
fn chain_options_parse_as_the_payload_reads_them() {
    assert_eq!(Opts::parse("-").unwrap(), Opts::default());
    assert_eq!(
        Opts::parse("vfio+user+irq+rate=1000+count=10000+idle=2").unwrap(),
        Opts {
            vfio: true,
            user: true,
            irq: true,
            rate: Some(1000),
            count: Some(10000),
            idle: Some(2),
            ..Opts::default()
        }
    );
    for (bad, says) in [
        ("user", "user needs vfio"),
        ("irq", "irq needs vfio"),
        ("vfio+fast", "unknown chain option \"fast\""),
        ("vfio+rate=0", "rate=0: not a positive number"),
        ("vfio+flood=5+latency=10", "exclude"),
    ] {
        let e = Opts::parse(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn latency_lines_and_cpu_files_parse() {
    let l = latency_line(
        "latency: 1000 samples, lost 0, late 2, min 80.5 us, median 120.0 us, p99 900.5 us, max 2000.0 us\n",
    )
    .unwrap();
    assert_eq!(
        l,
        Latency {
            samples: 1000,
            lost: 0,
            median: 120.0,
            p99: 900.5
        }
    );
    assert!(latency_line("error: no").is_none());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fwd.cpu"),
        "idle 190 2.01\ntraffic 12 10.5\n",
    )
    .unwrap();
    let (idle, traffic) = fwd_cpu(dir.path());
    assert_eq!(idle, Some((190, 2.01)));
    assert_eq!(traffic, Some((12, 10.5)));
    assert!((core_share((190, 2.0)) - 0.95).abs() < 1e-9);
}

#[test]
fn base64_round_trips() {
    assert_eq!(base64_decode("aXh5").unwrap(), b"ixy");
    assert_eq!(base64_decode("cml4eQ==").unwrap(), b"rixy");
    assert_eq!(base64_decode("cml4eTE=").unwrap(), b"rixy1");
    assert!(base64_decode("cml4e").is_err());
    assert!(base64_decode("cm!4eQ==").is_err());
}

#[test]
fn totals_lines_and_test_summaries_parse() {
    let out = "[0000:00:05.0] RX: 0.01 Mpps 5 Mbit/s | TX: 0.00 Mpps 0 Mbit/s\n\
               [0000:00:05.0] total over 3.50 s: RX 10000 packets 600000 bytes, 0 dropped, 0 errors | TX 0 packets 0 bytes, 0 errors\n\
               [0000:00:06.0] total over 3.50 s: RX 0 packets 0 bytes, 0 dropped, 1 errors | TX 9999 packets 599940 bytes, 2 errors | captured: 3\n";
    assert_eq!(
        totals(out, "0000:00:05.0"),
        Some(Totals {
            rx_packets: 10000,
            rx_bytes: 600000,
            ..Totals::default()
        })
    );
    assert_eq!(
        totals(out, "0000:00:06.0"),
        Some(Totals {
            rx_errors: 1,
            tx_packets: 9999,
            tx_bytes: 599940,
            tx_errors: 2,
            ..Totals::default()
        })
    );
    assert_eq!(totals(out, "0000:00:07.0"), None);
    let (summary, skipped) = test_summary(
        "test a ... ok\nskipped: not root\ntest result: ok. 4 passed; 0 failed; 0 ignored",
    );
    assert_eq!(summary, Some((4, 0)));
    assert!(skipped);
    assert_eq!(
        test_summary("test result: FAILED. 3 passed; 2 failed; 0 ignored").0,
        Some((3, 2))
    );
}

#[test]
fn pcap_files_are_read_as_rixy_pcap_writes_them() {
    let mut writer = rixy::apps::pcap::PcapWriter::new(Vec::new()).unwrap();
    let f = frame::FrameSpec::default().to_vec(7).unwrap();
    writer.write_packet(Duration::from_secs(1), &f).unwrap();
    writer
        .write_packet(Duration::from_secs(2), &f[..30])
        .unwrap();
    let data = writer.into_inner().unwrap();
    let frames = pcap_frames(&data).unwrap();
    assert_eq!(frames, [&f[..], &f[..30]]);
    assert_eq!(frame::parse(frames[0]).unwrap().seq, 7);
    assert!(pcap_frames(&data[..data.len() - 1]).is_err());
    assert!(pcap_frames(&[0; 10]).is_err());
}

/// The tests of the accelerator fallback run `tests/fake-qemu` in place of QEMU, acting for
/// KVM and for TCG as `kvm` and `tcg` say, with a plain file as the KVM device (it opens as a
/// working /dev/kvm does), the default KVM limits and a 60 s timeout, as `adjust` leaves them.
/// They get what `boot` returned and the accelerators QEMU was started with, in order.
fn boot_fake(kvm: &str, tcg: &str, adjust: impl FnOnce(&mut Qemu)) -> (Boot, Vec<String>) {
    let work = tempfile::tempdir().unwrap();
    let run = work.path();
    std::fs::write(run.join("fake-qemu.kvm"), kvm).unwrap();
    std::fs::write(run.join("fake-qemu.tcg"), tcg).unwrap();
    std::fs::write(run.join("kvm-device"), "").unwrap();
    let mut qemu = Qemu {
        binary: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-qemu"),
        kvm: Some(run.join("kvm-device")),
        kvm_limits: KvmLimits::default(),
        timeout: Duration::from_secs(60),
        count: 1,
        rate: 1,
        chains: CHAINS.iter().collect(),
    };
    adjust(&mut qemu);
    let boot = boot(&qemu, run, run);
    let calls = std::fs::read_to_string(run.join("calls")).unwrap_or_default();
    (boot, calls.lines().map(String::from).collect())
}

/// What a boot that fell back from KVM to TCG must show; returns why KVM was not used.
fn assert_fell_back_to_tcg(boot: &Boot, calls: &[String]) -> String {
    assert_eq!(calls, ["kvm", "tcg"]);
    assert_eq!(boot.accel, TCG);
    assert!(boot.status.success() && boot.killed.is_none());
    assert!(boot.console.contains(GUEST_UP), "{}", boot.console);
    boot.no_kvm.clone().expect("the reason KVM was not used")
}

#[test]
fn a_kvm_that_starts_and_then_shows_nothing_is_given_up_for_tcg_within_seconds() {
    let start = Instant::now();
    let (boot, calls) = boot_fake("hang", "boot", |_| {});
    let no_kvm = assert_fell_back_to_tcg(&boot, &calls);
    assert!(
        no_kvm.contains("printed nothing on the console within 10 s"),
        "{no_kvm}"
    );
    // Given up after the 10 s limit, not after the 60 s timeout.
    assert!(start.elapsed() < Duration::from_secs(40), "{no_kvm}");
}

#[test]
fn a_kvm_that_prints_but_never_brings_the_guest_up_is_given_up_for_tcg() {
    let (boot, calls) = boot_fake("talk-then-hang", "boot", |q| {
        q.kvm_limits = KvmLimits {
            first_output: Duration::from_secs(1),
            guest_up: Duration::from_secs(3),
        };
    });
    let no_kvm = assert_fell_back_to_tcg(&boot, &calls);
    assert!(
        no_kvm.contains("did not bring the guest up within 3 s"),
        "{no_kvm}"
    );
}

#[test]
fn a_kvm_boot_that_times_out_after_the_guest_is_up_falls_back_to_tcg() {
    let (boot, calls) = boot_fake("up-then-hang", "boot", |q| {
        q.timeout = Duration::from_secs(3);
    });
    let no_kvm = assert_fell_back_to_tcg(&boot, &calls);
    assert!(no_kvm.contains("did not finish within 3 s"), "{no_kvm}");
}

#[test]
fn a_kvm_that_quits_at_once_is_given_up_for_tcg() {
    let (boot, calls) = boot_fake("abort", "boot", |_| {});
    let no_kvm = assert_fell_back_to_tcg(&boot, &calls);
    assert!(
        no_kvm.contains("before the guest was up") && no_kvm.contains("failed to set MSR 0x10a"),
        "{no_kvm}"
    );
}

#[test]
fn without_a_kvm_device_that_opens_only_tcg_is_started() {
    for (kvm, says) in [
        (
            Some(PathBuf::from("/nonexistent/kvm")),
            "/nonexistent/kvm does not open",
        ),
        (None, "RIXY_QEMU_ACCEL=tcg"),
    ] {
        let (boot, calls) = boot_fake("boot", "boot", |q| q.kvm = kvm);
        assert_eq!(calls, ["tcg"]);
        assert_eq!(boot.accel, TCG);
        assert!(boot.no_kvm.as_ref().is_some_and(|w| w.contains(says)));
    }
}

#[test]
fn a_kvm_that_boots_the_guest_is_used() {
    let (boot, calls) = boot_fake("boot", "boot", |_| {});
    assert_eq!(calls, ["kvm"]);
    assert_eq!(boot.accel, "kvm");
    assert!(boot.no_kvm.is_none() && boot.killed.is_none());
}

#[test]
#[should_panic(expected = "QEMU (tcg,thread=multi) did not finish within 2 s and was killed")]
fn a_tcg_boot_that_times_out_fails() {
    boot_fake("abort", "hang", |q| q.timeout = Duration::from_secs(2));
}
