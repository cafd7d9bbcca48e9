//! The 82599 model under any driver input: no sequence of register reads and writes, descriptor
//! contents, injected frames and faults may panic or hang it; it reports what is wrong and keeps
//! its own invariants. Regression cases first, then the property test that found most of them.
//!
//! Every test runs under a watchdog ([`within`]): a model that hangs inside one call cannot be
//! interrupted, so the watchdog prints what was running and ends the test process with a
//! failure instead of letting CI stall.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use rixy::memory::{DmaAllocator, DmaRegion};
use rixy::regs::ixgbe::{
    DMATXCTL, RXCTRL, RXDCTL, RegisterId, Registers, RxQueue, SRRCTL, TXDCTL, TxQueue, adv_rx_desc,
    adv_tx_desc,
};
use rixy::sim::{Direction, Port, PortConfig, Report, Severity, SimBar, World};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// How long one regression case or one property-test case may run before the watchdog calls it
/// a hang (each takes milliseconds in a debug build).
const CASE_LIMIT: Duration = Duration::from_secs(20);

/// Runs `f`; if it has not returned after `limit`, prints `what` and exits the process with a
/// failure (a hang inside the model cannot be interrupted from outside).
fn within<T>(limit: Duration, what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    let (done, wait) = mpsc::channel::<()>();
    let label = what();
    let dog = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            // Not eprintln!: the test harness captures that, and the process is about to end.
            let _ = writeln!(
                std::io::stderr(),
                "the model did not return within {limit:?}, it hangs: {label}"
            );
            std::process::exit(101);
        }
    });
    let out = f();
    drop(done);
    dog.join().expect("watchdog thread");
    out
}

const T0: TxQueue = TxQueue::at::<0>();
const Q0: RxQueue = RxQueue::at::<0>();

fn has(reports: &[Report], rule: &str, severity: Severity) -> bool {
    reports
        .iter()
        .any(|r| r.rule == rule && r.severity == severity)
}

fn write_bytes(r: &DmaRegion, off: usize, data: &[u8]) {
    assert!(off + data.len() <= r.len());
    // SAFETY: `off + data.len()` lies inside the live region (checked above); the model only
    // touches it inside our calls into it, on this thread.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), r.as_ptr().add(off), data.len()) };
}

/// A valid one-descriptor advanced TX data descriptor for `len` bytes at `addr`.
fn tx_desc(addr: u64, len: u32) -> [u8; 16] {
    use adv_tx_desc::{READ_CMD_TYPE_LEN as C, READ_OLINFO_STATUS as O};
    let cmd = (C::DTALEN::val_checked(len).unwrap()
        + C::DTYP::DATA
        + C::EOP::SET
        + C::IFCS::SET
        + C::RS::SET
        + C::DEXT::SET)
        .value;
    let oli = O::PAYLEN::val_checked(len).unwrap().value;
    let mut d = [0u8; 16];
    d[adv_tx_desc::READ_BUFFER_ADDR_OFFSET..][..8].copy_from_slice(&addr.to_le_bytes());
    d[adv_tx_desc::READ_CMD_TYPE_LEN_OFFSET..][..4].copy_from_slice(&cmd.to_le_bytes());
    d[adv_tx_desc::READ_OLINFO_STATUS_OFFSET..][..4].copy_from_slice(&oli.to_le_bytes());
    d
}

/// An advanced RX descriptor in the read format posting `addr`.
fn rx_desc(addr: u64) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[adv_rx_desc::READ_PKT_ADDR_OFFSET..][..8].copy_from_slice(&addr.to_le_bytes());
    d
}

/// Reads a register until `done` holds (Timing::Fast: a few reads).
fn poll_until(mut done: impl FnMut() -> bool) {
    for _ in 0..10 {
        if done() {
            return;
        }
    }
    panic!("a delayed bit did not flip within 10 reads");
}

// ---------------------------------------------------------------------------------------------
// Regression cases

/// Issue 10 item 1: a transmit tail at or beyond the ring size, written while the queue is
/// disabled, used to be stored and handed to the transmit loop once the queue ran; the loop
/// then chased a tail it could never reach. Now the enable reports it and the queue stops.
#[test]
fn tx_tail_beyond_ring_written_while_disabled_stops_the_queue() {
    within(
        CASE_LIMIT,
        || "TDT = ring size before enable".into(),
        || {
            let world = World::new();
            let port = world.add_port(PortConfig::default());
            let sink = world.attach_sink(&port, 0);
            let regs = Registers::new(port.bar()).unwrap();
            let dma = port.dma();
            let ring = dma.allocate(4096, true).unwrap();
            let bufs = dma.allocate(4096, true).unwrap();
            const N: u32 = 8;
            for i in 0..N as usize {
                let buf = bufs.device_addr(i * 256).unwrap();
                write_bytes(&ring, i * 16, &tx_desc(buf, 60));
            }
            let base = ring.device_addr(0).unwrap();
            regs.tdbal(T0).set(base as u32);
            regs.tdbah(T0).set((base >> 32) as u32);
            regs.tdlen(T0).set(N * 16);
            regs.tdt(T0).set(N);
            regs.dmatxctl().modify(DMATXCTL::TE::SET);
            regs.txdctl(T0).modify(TXDCTL::ENABLE::SET);
            poll_until(|| regs.txdctl(T0).is_set(TXDCTL::ENABLE));
            for _ in 0..4 {
                world.step();
            }
            let r = port.reports_at_least(Severity::Error);
            assert!(has(&r, "tail-out-of-range", Severity::Error), "{r:#?}");
            assert_eq!(sink.frames(), 0, "nothing was validly handed over");
            assert!(
                port.ring(Direction::Tx, 0).is_none(),
                "the queue stopped: {:?}",
                port.ring(Direction::Tx, 0)
            );

            // Disabled and enabled again with a valid tail, the queue runs.
            regs.txdctl(T0).modify(TXDCTL::ENABLE::CLEAR);
            regs.tdt(T0).set(3);
            regs.txdctl(T0).modify(TXDCTL::ENABLE::SET);
            poll_until(|| regs.txdctl(T0).is_set(TXDCTL::ENABLE));
            world.step();
            assert_eq!(sink.frames(), 3);
            let ring = port.ring(Direction::Tx, 0).expect("running");
            assert_eq!((ring.head, ring.tail, ring.len), (3, 3, N));
        },
    );
}

/// The receive side of item 1: a tail at or beyond the ring written before the enable is
/// reported, and no frame is written into descriptors that were never handed over.
#[test]
fn rx_tail_beyond_ring_written_while_disabled_stops_the_queue() {
    within(
        CASE_LIMIT,
        || "RDT beyond the ring before enable".into(),
        || {
            let world = World::new();
            let port = world.add_port(PortConfig::default());
            let regs = Registers::new(port.bar()).unwrap();
            let dma = port.dma();
            let ring = dma.allocate(4096, true).unwrap();
            let bufs = dma.allocate(8 * 2048, true).unwrap();
            const N: u32 = 8;
            for i in 0..N as usize {
                write_bytes(&ring, i * 16, &rx_desc(bufs.device_addr(i * 2048).unwrap()));
            }
            let base = ring.device_addr(0).unwrap();
            regs.srrctl(Q0)
                .modify(SRRCTL::DESCTYPE::ADV_ONE_BUF + SRRCTL::BSIZEPACKET::value::<2>());
            regs.rdbal(Q0).set(base as u32);
            regs.rdbah(Q0).set((base >> 32) as u32);
            regs.rdlen(Q0).set(N * 16);
            regs.rdt(Q0).set(N + 3);
            regs.rxdctl(Q0).modify(RXDCTL::ENABLE::SET);
            poll_until(|| regs.rxdctl(Q0).is_set(RXDCTL::ENABLE));
            regs.rxctrl().modify(RXCTRL::RXEN::SET);
            for _ in 0..3 {
                world.step();
            }
            port.inject_burst(2);
            world.step();
            let r = port.reports_at_least(Severity::Error);
            assert!(has(&r, "tail-out-of-range", Severity::Error), "{r:#?}");
            let c = port.stats_snapshot();
            assert_eq!(c.rx_frames, 0, "{c:?}");
            assert_eq!(c.rx_dropped_queue_disabled, 2, "{c:?}");
            assert!(port.ring(Direction::Rx, 0).is_none());
        },
    );
}

/// RDLEN/TDLEN hold the ring length in bits 19:0 (DS 8.2.3.8.3, 8.2.3.9.7): a length with
/// higher bits set is refused at enable, even when DMA memory that large exists (a ring of more
/// than 65 535 descriptors could not be addressed by the 16-bit tail).
#[test]
fn ring_length_beyond_its_field_is_refused() {
    within(
        CASE_LIMIT,
        || "RDLEN beyond bits 19:0".into(),
        || {
            let world = World::new();
            let port = world.add_port(PortConfig::default());
            let regs = Registers::new(port.bar()).unwrap();
            let len: u32 = 0x10_0080;
            let ring = port.dma().allocate(len as usize, true).unwrap();
            let base = ring.device_addr(0).unwrap();
            regs.srrctl(Q0)
                .modify(SRRCTL::DESCTYPE::ADV_ONE_BUF + SRRCTL::BSIZEPACKET::value::<2>());
            regs.rdbal(Q0).set(base as u32);
            regs.rdbah(Q0).set((base >> 32) as u32);
            regs.rdlen(Q0).set(len);
            regs.rxdctl(Q0).modify(RXDCTL::ENABLE::SET);
            poll_until(|| regs.rxdctl(Q0).is_set(RXDCTL::ENABLE));
            let r = port.reports_at_least(Severity::Error);
            assert!(has(&r, "ring-length-invalid", Severity::Error), "{r:#?}");
            assert!(port.ring(Direction::Rx, 0).is_none());
        },
    );
}
