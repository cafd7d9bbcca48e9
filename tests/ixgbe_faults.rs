//! Device faults driven through the ixgbe driver: receive write-backs the model gets wrong on
//! purpose (`Port::bad_write_backs`), a device that falls off the bus (`Port::surprise_removal`)
//! and one that resets itself while running (`Port::spontaneous_reset`), and a frame with a bad
//! FCS. Each ends in a dropped and counted frame or a clear error, with every buffer back where
//! it belongs.

use std::collections::VecDeque;
use std::time::Duration;

use rixy::frame::{self, FrameSpec};
use rixy::sim::{BadWriteBack, Port, PortConfig, Severity, World};
use rixy::{Config, Device, Error, MacAddress, Mempool, Packet};

const RING: usize = 64;
/// SRRCTL.BSIZEPACKET for the default 4096-byte buffers: 4032 bytes after the headroom, in
/// 1 KiB steps.
const NIC_BUFFER: u16 = 3072;
/// Empty batches a health check may take to come round (the driver checks on the first empty
/// batch after traffic and then every 64th).
const CHECK_WITHIN: usize = 64;

fn config() -> Config {
    Config {
        rx_ring_size: RING,
        tx_ring_size: RING,
        link_timeout: Duration::from_millis(200),
        ..Config::default()
    }
}

fn setup() -> (World, Port, Device) {
    let world = World::new();
    let port = world.add_port(PortConfig {
        gprc_counts_drops: false,
        ..PortConfig::default()
    });
    let dev = Device::on_sim_port("p", &world, &port, &config()).expect("init");
    (world, port, dev)
}

/// A 60-byte test frame to `port` carrying `seq`.
fn frame_to(port: &Port, seq: u32) -> Vec<u8> {
    FrameSpec {
        dst_mac: MacAddress(port.mac()),
        ..FrameSpec::default()
    }
    .to_vec(seq)
    .unwrap()
}

fn seqs(packets: &[Packet]) -> Vec<u32> {
    packets.iter().map(|p| frame::seq(p).unwrap()).collect()
}

/// Three counts kept apart: the pool's free buffers, the test's packets and the driver's
/// rings. Together they are the pool.
#[track_caller]
fn assert_accounted(pool: &Mempool, held: usize, dev: &Device) {
    let (free, rings) = (pool.free_count(), dev.buffers_held());
    assert_eq!(
        free + held + rings,
        pool.capacity(),
        "free {free} + held {held} + rings {rings}"
    );
}

/// After the driver is gone, the pool has everything back but what the test holds.
#[track_caller]
fn assert_all_back(pool: &Mempool, held: usize) {
    assert_eq!(pool.free_count() + held, pool.capacity());
}

#[track_caller]
fn assert_no_errors(port: &Port) {
    let found = port.reports_at_least(Severity::Warn);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_frame_split_over_several_descriptors_is_dropped_whole_and_counted_once() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    port.bad_write_backs(BadWriteBack::Split(3), 1);
    port.inject_frame(&frame_to(&port, 1), true);
    port.inject_frame(&frame_to(&port, 2), true);
    world.step();
    assert_eq!(
        port.stats_snapshot().rx_descriptors,
        4,
        "3 + 1 written back"
    );
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(seqs(&got), [2], "the chain's last piece is no frame");
    assert_eq!(got[0].len(), 60);
    assert_eq!(dev.stats().rx_errors, 1, "one frame, one error");
    assert_accounted(&pool, got.len(), &dev);
    // The dropped buffers are posted again: the ring keeps receiving, all the way round.
    for seq in 0..3 * RING as u32 {
        port.inject_frame(&frame_to(&port, 100 + seq), true);
        world.step();
        got.clear();
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 1);
        assert_eq!(seqs(&got), [100 + seq]);
    }
    assert_accounted(&pool, got.len(), &dev);
    assert_no_errors(&port);
    drop(dev);
    assert_all_back(&pool, got.len());
}

#[test]
fn a_chain_cut_by_the_end_of_a_batch_is_still_dropped_whole() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    port.bad_write_backs(BadWriteBack::Split(5), 1);
    port.inject_frame(&frame_to(&port, 1), true);
    port.inject_frame(&frame_to(&port, 2), true);
    world.step();
    let mut got = Vec::new();
    // Two descriptors per batch: the chain ends in the third batch, the good frame follows.
    let per_batch: Vec<usize> = (0..4)
        .map(|_| dev.rx_batch(0, &mut got, 2).unwrap())
        .collect();
    assert_eq!(per_batch, [0, 0, 1, 0]);
    assert_eq!(seqs(&got), [2]);
    assert_eq!(dev.stats().rx_errors, 1);
    assert_accounted(&pool, got.len(), &dev);
    assert_no_errors(&port);
}

#[test]
fn a_missing_eop_joins_the_next_frame_to_a_chain_that_is_dropped() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    port.bad_write_backs(BadWriteBack::NoEop, 1);
    port.inject_frame(&frame_to(&port, 1), true);
    port.inject_frame(&frame_to(&port, 2), true);
    world.step();
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 32).unwrap();
    // The device said frame 1 goes on into the next descriptor: the driver cannot tell that
    // descriptor holds frame 2, so both go, as one bad frame.
    assert!(got.is_empty(), "{:?}", seqs(&got));
    assert_eq!(dev.stats().rx_errors, 1);
    port.inject_frame(&frame_to(&port, 3), true);
    world.step();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(seqs(&got), [3], "the next frame with EOP is whole");
    assert_accounted(&pool, got.len(), &dev);
}

#[test]
fn a_length_beyond_the_buffer_is_dropped_and_one_up_to_it_is_believed() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    for len in [NIC_BUFFER + 1, u16::MAX, NIC_BUFFER] {
        port.bad_write_backs(BadWriteBack::Length(len), 1);
    }
    for seq in 1..=4 {
        port.inject_frame(&frame_to(&port, seq), true);
    }
    world.step();
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(seqs(&got), [3, 4]);
    // A length within BSIZEPACKET cannot be told from a real one: it is handed over as it is.
    assert_eq!(got[0].len(), usize::from(NIC_BUFFER));
    assert_eq!(got[1].len(), 60);
    assert_eq!(dev.stats().rx_errors, 2);
    assert_accounted(&pool, got.len(), &dev);
}

#[test]
fn a_mac_error_in_the_write_back_is_dropped_and_counted() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    port.bad_write_backs(BadWriteBack::MacError, 2);
    for seq in 1..=3 {
        port.inject_frame(&frame_to(&port, seq), true);
    }
    world.step();
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(seqs(&got), [3]);
    assert_eq!(dev.stats().rx_errors, 2);
    assert_accounted(&pool, got.len(), &dev);
}

#[test]
fn dropping_a_bad_frame_needs_no_buffer_from_the_pool() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    let mut taken = Vec::new();
    while let Some(p) = pool.alloc() {
        taken.push(p);
    }
    port.bad_write_backs(BadWriteBack::Split(2), 1);
    port.inject_frame(&frame_to(&port, 1), true);
    port.inject_frame(&frame_to(&port, 2), true);
    world.step();
    let mut got = Vec::new();
    assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 0);
    assert_eq!(dev.stats().rx_errors, 1, "dropped with the pool empty");
    // The good frame waits for a buffer to replace its own.
    taken.truncate(1);
    assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 1);
    assert_eq!(seqs(&got), [2]);
    assert_accounted(&pool, got.len() + taken.len(), &dev);
}

#[test]
fn bad_write_backs_can_be_cancelled() {
    let (world, port, mut dev) = setup();
    port.bad_write_backs(BadWriteBack::MacError, 5);
    port.inject_frame(&frame_to(&port, 1), true);
    world.step();
    assert_eq!(port.bad_write_backs_pending(), 4);
    port.clear_bad_write_backs();
    assert_eq!(port.bad_write_backs_pending(), 0);
    port.inject_frame(&frame_to(&port, 2), true);
    world.step();
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(seqs(&got), [2]);
    assert_eq!(dev.stats().rx_errors, 1);
}

#[test]
fn a_frame_with_a_bad_fcs_never_reaches_the_driver() {
    let (world, port, mut dev) = setup();
    port.inject_frame(&frame_to(&port, 1), false);
    port.inject_frame(&frame_to(&port, 2), true);
    world.step();
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 32).unwrap();
    // The MAC drops it (FCTRL.SBP is off) and counts it in CRCERRS: no descriptor is used.
    assert_eq!(seqs(&got), [2]);
    assert_eq!(port.stats_snapshot().rx_descriptors, 1);
    let stats = dev.stats();
    assert_eq!((stats.rx_packets, stats.rx_errors), (1, 0));
}

/// Calls `batch` until it fails, at most `n` times; the error, or a panic naming `what`.
#[track_caller]
fn first_error(what: &str, n: usize, mut batch: impl FnMut() -> rixy::Result<usize>) -> Error {
    for _ in 0..n {
        if let Err(e) = batch() {
            return e;
        }
    }
    panic!("{what}: no error after {n} batches")
}

#[test]
fn surprise_removal_is_reported_by_receive_and_transmit_batches() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    let tx_pool = dev.mempool(2 * RING, 2048).unwrap();
    let mut got = Vec::new();
    // Idle for a while first: the health check does not wait for traffic.
    for _ in 0..100 {
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 0);
    }
    port.surprise_removal();
    world.step();
    let e = first_error("rx after removal", CHECK_WITHIN, || {
        dev.rx_batch(0, &mut got, 32)
    });
    assert!(
        matches!(&e, Error::DeviceRemoved { device } if device == "p"),
        "{e}"
    );
    let message = e.to_string();
    assert!(message.starts_with("p: the device is gone"), "{message}");
    assert!(!message.contains('\n'));
    // From then on every batch says so at once, and a transmit batch takes nothing.
    let mut outgoing: VecDeque<Packet> = (0..10)
        .map(|seq| {
            let mut p = tx_pool.alloc().unwrap();
            p.set_len(60).unwrap();
            FrameSpec::default().write(&mut p, seq).unwrap();
            p
        })
        .collect();
    assert!(matches!(
        dev.tx_batch(0, &mut outgoing),
        Err(Error::DeviceRemoved { .. })
    ));
    assert_eq!(outgoing.len(), 10);
    assert!(matches!(
        dev.rx_batch(0, &mut got, 32),
        Err(Error::DeviceRemoved { .. })
    ));
    assert_accounted(&pool, got.len(), &dev);
    drop(dev);
    assert_all_back(&pool, got.len());
    drop(outgoing);
    assert_all_back(&tx_pool, 0);
}

#[test]
fn a_removed_device_fills_its_transmit_ring_and_then_says_so() {
    let (world, port, mut dev) = setup();
    let tx_pool = dev.mempool(4 * RING, 2048).unwrap();
    port.surprise_removal();
    world.step();
    let mut outgoing: VecDeque<Packet> = VecDeque::new();
    let e = first_error("tx after removal", 2 * CHECK_WITHIN, || {
        while outgoing.len() < 32 {
            let Some(mut p) = tx_pool.alloc() else { break };
            p.set_len(60).unwrap();
            outgoing.push_back(p);
        }
        world.step();
        dev.tx_batch(0, &mut outgoing)
    });
    assert!(matches!(e, Error::DeviceRemoved { .. }), "{e}");
    // The ring took what it had room for (N-1), the rest stayed with the caller.
    assert_eq!(dev.buffers_held(), RING + RING - 1);
    drop(dev);
    drop(outgoing);
    assert_all_back(&tx_pool, 0);
}

#[test]
fn a_spontaneous_reset_is_reported_and_a_reopened_driver_runs_again() {
    let (world, port, mut dev) = setup();
    let pool = dev.rx_pool(0).unwrap().clone();
    for seq in 0..5 {
        port.inject_frame(&frame_to(&port, seq), true);
    }
    world.step();
    port.spontaneous_reset();
    for _ in 0..3 {
        world.step();
    }
    assert!(port.link_up(), "the reset is over");
    // What the device wrote before the reset is still received; then the reset is reported.
    let mut got = Vec::new();
    let e = first_error("rx after reset", CHECK_WITHIN, || {
        dev.rx_batch(0, &mut got, 32)
    });
    assert_eq!(seqs(&got), [0, 1, 2, 3, 4]);
    match &e {
        Error::DeviceReset { device, evidence } => {
            assert_eq!(device, "p");
            assert!(evidence.contains("RXDCTL.ENABLE = 0"), "{evidence}");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("open it again"), "{e}");
    assert!(matches!(
        dev.tx_batch(0, &mut VecDeque::new()),
        Err(Error::DeviceReset { .. })
    ));
    assert_accounted(&pool, got.len(), &dev);
    drop(dev);
    assert_all_back(&pool, got.len());

    // Opened again, the port runs. (Time passes first, so that the reset the dropped driver
    // started is over and settled (4.6.3.2: 10 ms) before the new one writes its first
    // register.)
    world.step();
    std::thread::sleep(Duration::from_millis(11));
    port.clear_reports();
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).expect("reopen");
    got.clear();
    for seq in 10..15 {
        port.inject_frame(&frame_to(&port, seq), true);
    }
    world.step();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(seqs(&got), [10, 11, 12, 13, 14]);
    assert_no_errors(&port);
}

#[test]
fn a_reset_found_by_an_empty_transmit_batch_names_the_transmit_queue() {
    let (world, port, mut dev) = setup();
    port.spontaneous_reset();
    world.step();
    let e = first_error("tx after reset", CHECK_WITHIN, || {
        dev.tx_batch(0, &mut VecDeque::new())
    });
    assert!(
        matches!(&e, Error::DeviceReset { evidence, .. } if evidence.contains("TXDCTL.ENABLE = 0")),
        "{e}"
    );
}

/// A register window whose reads are all 0 and whose writes vanish: a BAR with its memory
/// decoding off, as PCIe (and QEMU) answers one.
struct ZeroBus;

impl rixy::regs::Bus for ZeroBus {
    fn len(&self) -> usize {
        0x20000
    }
    unsafe fn read8(&self, _: usize) -> u8 {
        0
    }
    unsafe fn read16(&self, _: usize) -> u16 {
        0
    }
    unsafe fn read32(&self, _: usize) -> u32 {
        0
    }
    unsafe fn read64(&self, _: usize) -> u64 {
        0
    }
    unsafe fn write8(&self, _: usize, _: u8) {}
    unsafe fn write16(&self, _: usize, _: u16) {}
    unsafe fn write32(&self, _: usize, _: u32) {}
    unsafe fn write64(&self, _: usize, _: u64) {}
}

impl rixy::regs::DmaMaster for ZeroBus {
    fn dma_domain(&self) -> rixy::memory::DmaDomain {
        rixy::memory::DmaDomain::Virtual
    }
}

/// Found with QEMU's independent 82576 (issue 15): registers that read all zeros passed the
/// 82599 driver's reset wait (CTRL.RST and LRST read 0), and the open failed later blaming the
/// EEPROM. A reset is now done only when STATUS also reads its reset value's
/// GIO_MASTER_ENABLE_STATUS, so the error names the reset and memory decoding.
#[test]
fn a_bar_that_reads_zeros_is_a_reset_that_never_completes() {
    let config = Config {
        link_timeout: Duration::ZERO,
        ..Config::default()
    };
    let err = rixy::ixgbe::Ixgbe::new(
        "zeros".into(),
        ZeroBus,
        &rixy::memory::PlainAllocator::new(),
        &config,
    )
    .err()
    .expect("an 82599 whose registers read 0 opened");
    assert!(
        matches!(&err, Error::Timeout { what, .. } if what.contains("global reset")),
        "{err}"
    );
    assert!(err.to_string().contains("memory decoding"), "{err}");
}
