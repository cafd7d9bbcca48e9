//! The virtio-net driver against QEMU's virtio-net, inside the QEMU guest that `tests/qemu.rs`
//! boots (`ci/qemu/payload` runs this binary there). Elsewhere every test prints
//! `skipped: <reason>` and returns; the host-side test fails if any of them skipped in the guest.
//!
//! The payload names the devices in two variables, each `ADDRESS=MAC[,ADDRESS=MAC]`:
//!
//! - `RIXY_VIRTIO_PAIR`: two NICs linked to each other, the first with QEMU's default features,
//!   the second without VIRTIO_F_ANY_LAYOUT (so its packets take two descriptors each);
//! - `RIXY_VIRTIO_BARE`: a NIC without CTRL_RX and STATUS, and without a link partner.
//!
//! The apps' end-to-end checks (pktgen, fwd, pcap) live in `tests/qemu.rs`; these check what
//! the apps cannot show: promiscuous filtering both ways, changing the MAC address, the features
//! negotiated, and the errors of a device without CTRL_RX.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rixy::frame::{self, FrameSpec};
use rixy::memory::HugePageAllocator;
use rixy::pci::PciDevice;
use rixy::regs::PortIo;
use rixy::virtio::transport::Legacy;
use rixy::virtio::{Features, Virtio};
use rixy::{Config, MacAddress, Mempool, Packet};

/// The tests share the guest's NICs: one at a time.
static NICS: Mutex<()> = Mutex::new(());

type Nic = Virtio<Legacy<PortIo>>;

/// Takes the NICs; a test that failed while holding them does not stop the others.
fn lock() -> std::sync::MutexGuard<'static, ()> {
    NICS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `ADDRESS=MAC` pairs from `var`, or why the tests cannot run here.
fn devices(var: &str, count: usize) -> Result<Vec<(String, MacAddress)>, String> {
    let value =
        std::env::var(var).map_err(|_| format!("{var} is not set: not inside the QEMU guest"))?;
    let list: Vec<(String, MacAddress)> = value
        .split(',')
        .map(|item| {
            let (address, mac) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("{var}: {item:?} is not ADDRESS=MAC"));
            (address.to_owned(), mac.parse().unwrap())
        })
        .collect();
    assert_eq!(
        list.len(),
        count,
        "{var} names {} devices, not {count}",
        list.len()
    );
    Ok(list)
}

macro_rules! require {
    ($var:expr, $count:expr) => {
        match devices($var, $count) {
            Ok(list) => list,
            Err(reason) => {
                println!("skipped: {reason}");
                return;
            }
        }
    };
}

/// What `rixy::open` does for a legacy virtio-net device, by hand: class check, unbind, bus
/// master, port-IO BAR0, huge-page DMA memory.
fn open(address: &str, config: &Config) -> rixy::Result<Nic> {
    let pci = PciDevice::open(address.parse()?)?;
    pci.require_network_class()?;
    pci.unbind_driver()?;
    pci.enable_bus_master()?;
    let (file, len) = pci.open_port_io(0)?;
    Virtio::new(
        address.to_owned(),
        PortIo::new(file, len as usize),
        &HugePageAllocator::new(),
        config,
    )
}

fn config(promisc: bool) -> Config {
    Config {
        promisc,
        ..Config::default()
    }
}

/// Test frames to `dst`, sequence numbers `first..first + n`.
fn frames(pool: &Mempool, dst: MacAddress, first: u32, n: u32) -> VecDeque<Packet> {
    let spec = FrameSpec {
        dst_mac: dst,
        ..FrameSpec::default()
    };
    (first..first + n)
        .map(|seq| {
            let mut p = pool.alloc().expect("the test pool is large enough");
            p.set_len(spec.len).unwrap();
            spec.write(&mut p, seq).unwrap();
            p
        })
        .collect()
}

/// Sends `n` frames to `dst` from `tx` in batches of 32 and returns the sequence numbers `rx`
/// got, in order. The link is a UDP socket, which drops what QEMU does not read in time, and
/// QEMU reads a receiving NIC's socket more slowly than it writes a sending NIC's: so when the
/// frames should arrive (`deliver`), each batch waits until they have (for at most a second)
/// before the next goes; when they should not, it waits a little after each batch. Either way
/// `rx` keeps receiving for a while at the end, to catch stragglers.
fn exchange(
    tx: &mut Nic,
    rx: &mut Nic,
    dst: MacAddress,
    first: u32,
    n: u32,
    deliver: bool,
) -> Vec<u32> {
    // Room for a full transmit queue (the device returns sent packets when it gets to them)
    // and the batch being built.
    let pool = Mempool::new(&HugePageAllocator::new(), 512, 2048).unwrap();
    let mut got = Vec::new();
    let mut received = Vec::new();
    let mut receive = |rx: &mut Nic, got: &mut Vec<u32>| {
        rx.rx_batch(0, &mut received, 64).unwrap();
        got.extend(received.drain(..).map(|p: Packet| frame::seq(&p).unwrap()));
    };
    let mut sent = 0;
    while sent < n {
        let batch = (n - sent).min(32);
        let mut queue = frames(&pool, dst, first + sent, batch);
        while !queue.is_empty() {
            tx.tx_batch(0, &mut queue).unwrap();
            receive(rx, &mut got);
        }
        sent += batch;
        let wait = if deliver {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(20)
        };
        let deadline = Instant::now() + wait;
        while !(deliver && got.len() >= sent as usize) && Instant::now() < deadline {
            tx.tx_batch(0, &mut VecDeque::new()).unwrap();
            receive(rx, &mut got);
        }
    }
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        receive(rx, &mut got);
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

#[test]
fn features_mac_link_and_queues_are_what_qemu_offers() {
    let pair = require!("RIXY_VIRTIO_PAIR", 2);
    let _nics = lock();
    let a = open(&pair[0].0, &config(true)).unwrap();
    let b = open(&pair[1].0, &config(true)).unwrap();
    let all = Features {
        mac: true,
        status: true,
        ctrl_vq: true,
        ctrl_rx: true,
        any_layout: true,
        ..Features::default()
    };
    assert_eq!(a.features(), all);
    assert_eq!(
        b.features(),
        Features {
            any_layout: false,
            ..all
        }
    );
    assert_eq!(a.mac(), pair[0].1);
    assert_eq!(b.mac(), pair[1].1);
    assert!(a.link().up && b.link().up);
    assert_eq!(
        (a.rx_ring_size(0), a.tx_ring_size(0)),
        (Some(256), Some(256))
    );
    assert_eq!(a.promisc(), Some(true));
}

#[test]
fn frames_cross_the_link_in_order_both_ways_and_the_stats_agree() {
    let pair = require!("RIXY_VIRTIO_PAIR", 2);
    let _nics = lock();
    let mut a = open(&pair[0].0, &config(true)).unwrap();
    let mut b = open(&pair[1].0, &config(true)).unwrap();
    let broadcast = MacAddress([0xff; 6]);
    // 2000 frames: the 256-entry queues wrap many times, and the free-running indices too.
    let n = 2000;
    let got = exchange(&mut a, &mut b, broadcast, 0, n, true);
    assert_eq!(
        got,
        (0..n).collect::<Vec<_>>(),
        "a -> b (b chains two descriptors per packet)"
    );
    let back = exchange(&mut b, &mut a, broadcast, n, n, true);
    assert_eq!(back, (n..2 * n).collect::<Vec<_>>(), "b -> a");
    let (sa, sb) = (a.stats(), b.stats());
    let bytes = u64::from(n) * frame::MIN_FRAME_LEN as u64;
    assert_eq!(
        (sa.tx_packets, sa.tx_bytes, sa.rx_packets, sa.rx_bytes),
        (u64::from(n), bytes, u64::from(n), bytes)
    );
    assert_eq!(
        (sb.tx_packets, sb.tx_bytes, sb.rx_packets, sb.rx_bytes),
        (u64::from(n), bytes, u64::from(n), bytes)
    );
    assert_eq!(
        (sa.rx_errors, sa.tx_errors, sb.rx_errors, sb.tx_errors),
        (0, 0, 0, 0)
    );
    // Nothing leaked: every receive buffer is posted or free.
    for nic in [&a, &b] {
        let pool = nic.rx_pool(0).unwrap();
        assert_eq!(pool.free_count() + nic.buffers_held(), pool.capacity());
    }
}

#[test]
fn promiscuous_mode_off_drops_frames_for_other_macs_on_accepts_them() {
    let pair = require!("RIXY_VIRTIO_PAIR", 2);
    let _nics = lock();
    let mut a = open(&pair[0].0, &config(true)).unwrap();
    let mut b = open(&pair[1].0, &config(false)).unwrap();
    assert_eq!(b.promisc(), Some(false));
    let other = MacAddress([0x02, 0xde, 0xad, 0xbe, 0xef, 0x01]);
    let filtered = exchange(&mut a, &mut b, other, 0, 100, false);
    assert!(
        filtered.is_empty(),
        "promiscuous mode off, yet {} frames for {other} arrived",
        filtered.len()
    );
    let own = exchange(&mut a, &mut b, pair[1].1, 100, 100, true);
    assert_eq!(
        own,
        (100..200).collect::<Vec<_>>(),
        "frames for b's own MAC"
    );
    b.set_promisc(true).unwrap();
    let accepted = exchange(&mut a, &mut b, other, 200, 100, true);
    assert_eq!(
        accepted,
        (200..300).collect::<Vec<_>>(),
        "promiscuous mode on"
    );
    b.set_promisc(false).unwrap();
    let filtered = exchange(&mut a, &mut b, other, 300, 100, false);
    assert!(
        filtered.is_empty(),
        "promiscuous mode off again, yet {} frames arrived",
        filtered.len()
    );
    assert_eq!(a.stats().tx_packets, 400);
    assert_eq!(b.stats().rx_packets, 200);
}

#[test]
fn a_new_mac_address_is_what_the_device_filters_for() {
    let pair = require!("RIXY_VIRTIO_PAIR", 2);
    let _nics = lock();
    let mut a = open(&pair[0].0, &config(true)).unwrap();
    let mut b = open(&pair[1].0, &config(false)).unwrap();
    let new = MacAddress([0x02, 0x00, 0x00, 0x00, 0x42, 0x42]);
    b.set_mac(new).unwrap();
    assert_eq!(b.mac(), new);
    let got = exchange(&mut a, &mut b, new, 0, 50, true);
    assert_eq!(got, (0..50).collect::<Vec<_>>(), "frames for the new MAC");
    let old = exchange(&mut a, &mut b, pair[1].1, 50, 50, false);
    assert!(
        old.is_empty(),
        "{} frames for the old MAC arrived",
        old.len()
    );
    b.set_mac(pair[1].1).unwrap();
    assert_eq!(b.mac(), pair[1].1);
}

#[test]
fn a_device_without_ctrl_rx_says_so() {
    let bare = require!("RIXY_VIRTIO_BARE", 1);
    let _nics = lock();
    let (address, mac) = &bare[0];
    // Asking for filtering cannot be honoured: open fails, naming the feature.
    let msg = open(address, &config(false)).err().unwrap().to_string();
    assert!(msg.contains("VIRTIO_NET_F_CTRL_RX"), "{msg}");
    // Promiscuous (the default) opens with a warning; switching is an error.
    let mut dev = open(address, &config(true)).unwrap();
    assert!(!dev.features().ctrl_rx && !dev.features().status && dev.features().ctrl_vq);
    assert_eq!(dev.mac(), *mac);
    assert_eq!(dev.promisc(), None);
    let msg = dev.set_promisc(false).unwrap_err().to_string();
    assert!(msg.contains("VIRTIO_NET_F_CTRL_RX"), "{msg}");
    // Without STATUS the link is taken to be up (5.1.4).
    assert!(dev.link().up);
}
