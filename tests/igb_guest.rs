//! The 82576 driver against QEMU's igb, inside the QEMU guest that `tests/qemu_igb.rs` boots
//! (`ci/qemu-igb/payload` runs this binary there). Elsewhere every test prints
//! `skipped: <reason>` and returns; the host-side test fails if any of them skipped in the guest.
//!
//! `RIXY_IGB_PAIR` names two igb NICs linked to each other, `ADDRESS=MAC,ADDRESS=MAC`. The apps'
//! end-to-end checks live in `tests/qemu_igb.rs`; these check what the apps cannot show: the MAC
//! address and link the device reports, promiscuous filtering both ways, changing the MAC
//! address, the device's statistics against frames counted here, the refusals of queue handles
//! and RSS, and the health check of a device reset behind the driver's back.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rixy::frame::{self, FrameSpec};
use rixy::pci::PciDevice;
use rixy::regs::Mmio;
use rixy::regs::igb::{CTRL, Registers};
use rixy::{Config, Device, Error, MacAddress, Packet};
use tock_registers::interfaces::Writeable;

/// The tests share the guest's NICs: one at a time.
static NICS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    NICS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The linked pair, or why the tests cannot run here.
fn pair() -> Result<[(String, MacAddress); 2], String> {
    let value = std::env::var("RIXY_IGB_PAIR")
        .map_err(|_| "RIXY_IGB_PAIR is not set: not inside the QEMU guest".to_string())?;
    let list: Vec<(String, MacAddress)> = value
        .split(',')
        .map(|item| {
            let (address, mac) = item.split_once('=').expect("ADDRESS=MAC");
            (address.to_owned(), mac.parse().unwrap())
        })
        .collect();
    list.try_into()
        .map_err(|l: Vec<_>| format!("RIXY_IGB_PAIR names {} devices, not 2", l.len()))
}

macro_rules! require_pair {
    () => {
        match pair() {
            Ok(p) => p,
            Err(reason) => {
                println!("skipped: {reason}");
                return;
            }
        }
    };
}

fn config(promisc: bool) -> Config {
    Config {
        promisc,
        ..Config::default()
    }
}

/// Sends `n` test frames to `dst` (sequence numbers `first..`) from `tx`, in batches of 32,
/// and returns the sequence numbers `rx` got, in order. After each batch the receiver is
/// polled until the batch has arrived or `wait` has passed (QEMU moves frames over a UDP
/// socket, in its own time).
fn exchange(
    tx: &mut Device,
    rx: &mut Device,
    dst: MacAddress,
    first: u32,
    n: u32,
    wait: Duration,
) -> Vec<u32> {
    let pool = tx.mempool(512, 2048).unwrap();
    let spec = FrameSpec {
        dst_mac: dst,
        ..FrameSpec::default()
    };
    let mut got = Vec::new();
    let mut received: VecDeque<Packet> = VecDeque::new();
    let mut sent = 0;
    while sent < n {
        let batch = (n - sent).min(32);
        let mut queue: VecDeque<Packet> = (first + sent..first + sent + batch)
            .map(|seq| {
                let mut p = pool.alloc().expect("the test pool is large enough");
                p.set_len(spec.len).unwrap();
                spec.write(&mut p, seq).unwrap();
                p
            })
            .collect();
        while !queue.is_empty() {
            tx.tx_batch(0, &mut queue).unwrap();
        }
        sent += batch;
        let start = Instant::now();
        loop {
            rx.rx_batch(0, &mut received, 64).unwrap();
            got.extend(received.drain(..).map(|p| frame::seq(&p).unwrap()));
            if got.len() as u32 >= sent || start.elapsed() > wait {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

#[test]
fn mac_link_and_statistics_are_what_the_device_and_the_wire_say() {
    let [(a, mac_a), (b, mac_b)] = require_pair!();
    let _nics = lock();
    let mut tx = rixy::open(&a, &config(false)).unwrap();
    let mut rx = rixy::open(&b, &config(false)).unwrap();
    // QEMU loads receive address 0 with the NIC's `mac=` property.
    assert_eq!((tx.mac(), rx.mac()), (mac_a, mac_b));
    for dev in [&tx, &rx] {
        let link = dev.link();
        assert!(
            link.up && link.speed_mbps == 1000,
            "{}: {link:?}",
            dev.name()
        );
        assert_eq!((dev.rx_queues(), dev.tx_queues()), (1, 1));
    }
    let n = 500;
    let got = exchange(&mut tx, &mut rx, mac_b, 0, n, Duration::from_secs(1));
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    let (sent, received) = (tx.stats(), rx.stats());
    let len = frame::MIN_FRAME_LEN as u64;
    // The device counts octets with the CRC (8.19.25 to 8.19.28); the queues count the frames
    // the driver handed over, without it.
    assert_eq!(
        (sent.tx_packets, sent.tx_bytes),
        (u64::from(n), u64::from(n) * (len + 4))
    );
    assert_eq!(
        (received.rx_packets, received.rx_bytes),
        (u64::from(n), u64::from(n) * (len + 4))
    );
    assert_eq!(rx.rx_queue_stats(0).unwrap().bytes, u64::from(n) * len);
    assert_eq!(tx.tx_queue_stats(0).unwrap().packets, u64::from(n));
    // Clear on read: the totals do not grow without traffic.
    assert_eq!((tx.stats(), rx.stats()), (sent, received));
}

#[test]
fn promiscuous_mode_off_drops_frames_for_other_macs_on_accepts_them() {
    let [(a, _), (b, _)] = require_pair!();
    let _nics = lock();
    let mut tx = rixy::open(&a, &config(false)).unwrap();
    let mut rx = rixy::open(&b, &config(false)).unwrap();
    let other: MacAddress = "02:00:00:00:00:99".parse().unwrap();
    let got = exchange(&mut tx, &mut rx, other, 0, 64, Duration::from_millis(200));
    assert!(
        got.is_empty(),
        "received {} frames for another MAC",
        got.len()
    );
    rx.set_promisc(true).unwrap();
    let got = exchange(&mut tx, &mut rx, other, 64, 64, Duration::from_secs(1));
    assert_eq!(got, (64..128).collect::<Vec<_>>());
    rx.set_promisc(false).unwrap();
    let got = exchange(&mut tx, &mut rx, other, 128, 64, Duration::from_millis(200));
    assert!(
        got.is_empty(),
        "received {} frames after promiscuous mode went off",
        got.len()
    );
}

#[test]
fn a_new_mac_address_is_what_the_device_filters_for() {
    let [(a, _), (b, old)] = require_pair!();
    let _nics = lock();
    let mut tx = rixy::open(&a, &config(false)).unwrap();
    let mut rx = rixy::open(&b, &config(false)).unwrap();
    let new: MacAddress = "02:00:00:00:01:23".parse().unwrap();
    rx.set_mac(new).unwrap();
    assert_eq!(rx.mac(), new);
    let got = exchange(&mut tx, &mut rx, new, 0, 64, Duration::from_secs(1));
    assert_eq!(got, (0..64).collect::<Vec<_>>());
    let got = exchange(&mut tx, &mut rx, old, 64, 64, Duration::from_millis(200));
    assert!(
        got.is_empty(),
        "received {} frames for the old MAC",
        got.len()
    );
}

#[test]
fn queue_handles_rss_and_a_second_queue_are_refused() {
    let [(a, _), _] = require_pair!();
    let _nics = lock();
    let err = rixy::open(
        &a,
        &Config {
            rx_queues: 2,
            ..Config::default()
        },
    )
    .err()
    .expect("two receive queues were accepted");
    assert!(
        err.to_string()
            .contains("one receive and one transmit queue"),
        "{err}"
    );
    let mut dev = rixy::open(&a, &Config::default()).unwrap();
    let err = dev.take_queues().expect_err("queue handles were given");
    assert!(
        matches!(err, Error::QueueHandlesUnsupported { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("82576"), "{err}");
    let err = dev.set_rss_key(&[0; 40]).expect_err("an RSS key was taken");
    assert!(err.to_string().contains("no receive side scaling"), "{err}");
    assert!(dev.rss_table().is_none());
    // A queue the device does not have.
    let mut out = Vec::new();
    assert!(matches!(
        dev.rx_batch(1, &mut out, 8),
        Err(Error::NoSuchQueue { .. })
    ));
}

#[test]
fn a_device_reset_behind_the_drivers_back_is_reported_by_the_next_empty_batch() {
    let [(a, _), _] = require_pair!();
    let _nics = lock();
    let mut dev = rixy::open(&a, &Config::default()).unwrap();
    let mut out = Vec::new();
    assert_eq!(dev.rx_batch(0, &mut out, 8).unwrap(), 0);
    // Someone else resets the port: CTRL.RST through a second mapping of BAR0.
    let pci = PciDevice::open(a.parse().unwrap()).unwrap();
    let bar = pci.map_bar(0).unwrap();
    // SAFETY: `bar` maps BAR0 for `bar.len()` bytes and outlives `regs`.
    let regs = Registers::new(unsafe { Mmio::new(bar.virt(), bar.len()) }).unwrap();
    regs.ctrl().write(CTRL::RST::SET);
    std::thread::sleep(Duration::from_millis(10));
    // The next empty receive batch runs the health check (the first after work, then every
    // so many): keep polling until it has.
    let mut result = Ok(0);
    for _ in 0..100_000 {
        result = dev.rx_batch(0, &mut out, 8);
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("the reset was never noticed");
    assert!(
        matches!(&err, Error::DeviceReset { evidence, .. } if evidence.contains("RDLEN = 0x0")),
        "{err}"
    );
    // From then on every batch says so, transmit included.
    let mut none = VecDeque::new();
    assert!(matches!(
        dev.tx_batch(0, &mut none),
        Err(Error::DeviceReset { .. })
    ));
}
