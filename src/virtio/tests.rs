//! The driver against a small model of a legacy virtio-net device, written from the
//! specification independently of the driver (its own register offsets and queue layout
//! arithmetic), so that the paths QEMU never takes are exercised too: rejected features, a
//! FAILED device, port IO errors, used entries that lie, notification suppression, devices
//! without ANY_LAYOUT, CTRL_RX or STATUS.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use super::*;
use crate::memory::{DeviceAddresses, DmaDomain, DmaRegion, PlainAllocator};

// Feature bits (5.1.3, 6).
const F_CSUM: u32 = 1 << 0;
const F_GUEST_CSUM: u32 = 1 << 1;
const F_MAC: u32 = 1 << 5;
const F_MRG_RXBUF: u32 = 1 << 15;
const F_STATUS: u32 = 1 << 16;
const F_CTRL_VQ: u32 = 1 << 17;
const F_CTRL_RX: u32 = 1 << 18;
const F_ANY_LAYOUT: u32 = 1 << 27;
/// What QEMU's virtio-net offers with a tap backend, more or less: everything.
const F_ALL: u32 = 0x3fff_ffff;

// Device status bits (2.1).
const S_ACKNOWLEDGE: u8 = 1;
const S_DRIVER: u8 = 2;
const S_DRIVER_OK: u8 = 4;
const S_FAILED: u8 = 0x80;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const USED_F_NO_NOTIFY: u16 = 1;
const AVAIL_F_NO_INTERRUPT: u16 = 1;
const HDR: usize = 10;

/// DMA memory whose device addresses are small fake numbers, so that they fit QUEUE_PFN, with a
/// table the model uses to reach the memory behind them: a DMA domain of its own.
#[derive(Clone)]
struct FakeDma {
    plain: PlainAllocator,
    next: Rc<Cell<u64>>,
    map: Rc<RefCell<Vec<(u64, usize, usize)>>>,
    domain: DmaDomain,
}

impl Default for FakeDma {
    fn default() -> Self {
        FakeDma {
            plain: PlainAllocator::new(),
            next: Rc::default(),
            map: Rc::default(),
            domain: DmaDomain::new_model(),
        }
    }
}

impl DmaAllocator for FakeDma {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        let region = self.plain.allocate(size, contiguous)?;
        let (virt, len) = (region.virt(), region.len());
        let base = 0x10_0000 + self.next.get();
        self.next
            .set(self.next.get() + (len as u64).next_multiple_of(0x20_0000));
        self.map
            .borrow_mut()
            .push((base, virt.as_ptr() as usize, len));
        // SAFETY: the memory belongs to `region`, which the new region keeps alive as its keeper;
        // the fake addresses are linear over it, and the model reaches them through `map`.
        Ok(unsafe {
            DmaRegion::from_shared(
                virt,
                len,
                DeviceAddresses::Linear { base },
                self.domain,
                true,
                Arc::new(region),
            )
        })
    }
}

#[derive(Clone, Copy, Default, Debug)]
struct QueueState {
    num: u16,
    pfn: u32,
    /// The device's next available entry to take.
    last_avail: u16,
}

/// One buffer of a descriptor chain: device address, length, flags.
type Buffer = (u64, u32, u16);

/// The model's state; the bus and the test share it.
#[derive(Default)]
struct State {
    host_features: u32,
    guest_features: u32,
    status: u8,
    status_writes: Vec<u8>,
    queue_sel: u16,
    queues: [QueueState; 3],
    mac: [u8; 6],
    net_status: u16,
    notifications: Vec<u16>,
    /// The device drops features it does not like from GUEST_FEATURES (as if rejecting them).
    reject_features: u32,
    /// The device sets FAILED when the driver sets DRIVER.
    fail_on_driver: bool,
    /// Port IO fails from now on.
    io_broken: bool,
    /// The device is gone from the bus: reads give all ones, writes go nowhere, and no access
    /// fails loudly (as port IO to a removed PCI device does).
    removed: bool,
    io_error: Option<std::io::ErrorKind>,
    /// Control commands received: class, command, argument.
    ctrl_commands: Vec<(u8, u8, u8)>,
    /// What the device answers control commands with.
    ctrl_ack: u8,
    dma: Option<FakeDma>,
}

impl State {
    /// The host pointer behind a device address range.
    fn ptr(&self, addr: u64, len: usize) -> *mut u8 {
        let map = self.dma.as_ref().unwrap().map.borrow();
        for &(base, virt, size) in map.iter() {
            if addr >= base && addr + len as u64 <= base + size as u64 {
                return (virt + (addr - base) as usize) as *mut u8;
            }
        }
        panic!("device address {addr:#x}+{len} is not DMA memory the driver allocated");
    }

    fn read(&self, addr: u64, out: &mut [u8]) {
        let p = self.ptr(addr, out.len());
        // SAFETY: `ptr` found the range inside a live allocation.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
    }

    fn write(&self, addr: u64, data: &[u8]) {
        let p = self.ptr(addr, data.len());
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    }

    fn u16_at(&self, addr: u64) -> u16 {
        let mut b = [0; 2];
        self.read(addr, &mut b);
        u16::from_le_bytes(b)
    }

    fn u32_at(&self, addr: u64) -> u32 {
        let mut b = [0; 4];
        self.read(addr, &mut b);
        u32::from_le_bytes(b)
    }

    fn u64_at(&self, addr: u64) -> u64 {
        let mut b = [0; 8];
        self.read(addr, &mut b);
        u64::from_le_bytes(b)
    }

    /// Where the parts of queue `q` are, computed from 2.4.2 independently of `layout.rs`.
    fn rings(&self, q: usize) -> (u64, u64, u64, u16) {
        let qs = self.queues[q];
        let n = u64::from(qs.num);
        let desc = u64::from(qs.pfn) << 12;
        let avail = desc + 16 * n;
        let used = (avail + 4 + 2 * n + 2).next_multiple_of(4096);
        (desc, avail, used, qs.num)
    }

    /// The next available chain of queue `q`: its head and its buffers (address, length,
    /// flags), or `None` when the driver has made nothing more available.
    fn take_avail(&mut self, q: usize) -> Option<(u16, Vec<Buffer>)> {
        let (desc, avail, _, n) = self.rings(q);
        let idx = self.u16_at(avail + 2);
        let last = self.queues[q].last_avail;
        if idx == last {
            return None;
        }
        let head = self.u16_at(avail + 4 + 2 * u64::from(last % n));
        self.queues[q].last_avail = last.wrapping_add(1);
        let mut chain = Vec::new();
        let mut i = head;
        loop {
            let d = desc + 16 * u64::from(i);
            let (addr, len, flags, next) = (
                self.u64_at(d),
                self.u32_at(d + 8),
                self.u16_at(d + 12),
                self.u16_at(d + 14),
            );
            chain.push((addr, len, flags));
            if flags & DESC_F_NEXT == 0 {
                break;
            }
            assert!(chain.len() <= usize::from(n), "descriptor loop");
            i = next;
        }
        Some((head, chain))
    }

    /// Puts a used entry in queue `q`, whatever it says.
    fn push_used(&mut self, q: usize, id: u32, len: u32) {
        let (_, _, used, n) = self.rings(q);
        let idx = self.u16_at(used + 2);
        let e = used + 4 + 8 * u64::from(idx % n);
        self.write(e, &id.to_le_bytes());
        self.write(e + 4, &len.to_le_bytes());
        self.write(used + 2, &idx.wrapping_add(1).to_le_bytes());
    }

    fn set_used_flags(&self, q: usize, flags: u16) {
        let (_, _, used, _) = self.rings(q);
        self.write(used, &flags.to_le_bytes());
    }

    fn avail_flags(&self, q: usize) -> u16 {
        let (_, avail, _, _) = self.rings(q);
        self.u16_at(avail)
    }

    /// Receives `frame` into the next receive buffer (5.1.6.4): a zero header, then the frame,
    /// across the chain's writable buffers. False if the driver posted nothing.
    fn deliver(&mut self, frame: &[u8]) -> bool {
        let Some((head, chain)) = self.take_avail(0) else {
            return false;
        };
        let mut bytes = vec![0u8; HDR];
        bytes.extend_from_slice(frame);
        let mut written = 0;
        for (addr, len, flags) in chain {
            assert_ne!(
                flags & DESC_F_WRITE,
                0,
                "receive buffer not device-writable"
            );
            let n = (len as usize).min(bytes.len() - written);
            self.write(addr, &bytes[written..written + n]);
            written += n;
        }
        assert_eq!(
            written,
            bytes.len(),
            "frame does not fit the receive buffer"
        );
        self.push_used(0, u32::from(head), written as u32);
        true
    }

    /// Sends everything the driver made available on the transmit queue; returns the frames
    /// (without header) and the descriptor lengths of each chain.
    fn transmit(&mut self) -> Vec<(Vec<u8>, Vec<u32>)> {
        let mut out = Vec::new();
        while let Some((head, chain)) = self.take_avail(1) {
            let mut bytes = Vec::new();
            let mut lens = Vec::new();
            for (addr, len, flags) in chain {
                assert_eq!(flags & DESC_F_WRITE, 0, "transmit buffer device-writable");
                let mut b = vec![0; len as usize];
                self.read(addr, &mut b);
                bytes.extend_from_slice(&b);
                lens.push(len);
            }
            assert!(
                bytes[..HDR].iter().all(|&b| b == 0),
                "header asks for something: {:?}",
                &bytes[..HDR]
            );
            self.push_used(1, u32::from(head), 0);
            out.push((bytes[HDR..].to_vec(), lens));
        }
        out
    }

    /// Handles the control queue (5.1.6.5): header, argument, ack.
    fn control(&mut self) {
        while let Some((head, chain)) = self.take_avail(2) {
            assert_eq!(
                chain.len(),
                3,
                "control command of {} descriptors",
                chain.len()
            );
            let mut hdr = [0u8; 2];
            self.read(chain[0].0, &mut hdr);
            let mut arg = [0u8; 1];
            self.read(chain[1].0, &mut arg);
            assert_ne!(chain[2].2 & DESC_F_WRITE, 0, "ack not writable");
            self.ctrl_commands.push((hdr[0], hdr[1], arg[0]));
            self.write(chain[2].0, &[self.ctrl_ack]);
            self.push_used(2, u32::from(head), 1);
        }
    }

    fn reg_read(&mut self, offset: usize, width: usize) -> u64 {
        let sel = usize::from(self.queue_sel);
        match (offset, width) {
            (0x00, 4) => u64::from(self.host_features),
            (0x04, 4) => u64::from(self.guest_features),
            (0x08, 4) => self.queues.get(sel).map_or(0, |q| u64::from(q.pfn)),
            (0x0c, 2) => self.queues.get(sel).map_or(0, |q| u64::from(q.num)),
            (0x0e, 2) => u64::from(self.queue_sel),
            (0x12, 1) => u64::from(self.status),
            (0x13, 1) => 0,
            (0x14..=0x19, 1) => u64::from(self.mac[offset - 0x14]),
            (0x1a, 2) => u64::from(self.net_status),
            _ => panic!("read of {width} bytes at {offset:#x}"),
        }
    }

    fn reg_write(&mut self, offset: usize, width: usize, value: u64) {
        match (offset, width) {
            (0x04, 4) => {
                let v = value as u32;
                assert_eq!(
                    v & !self.host_features,
                    0,
                    "driver acked features not offered"
                );
                self.guest_features = v & !self.reject_features;
            }
            (0x08, 4) => {
                if let Some(q) = self.queues.get_mut(usize::from(self.queue_sel)) {
                    q.pfn = value as u32;
                }
            }
            (0x0e, 2) => self.queue_sel = value as u16,
            (0x10, 2) => {
                self.notifications.push(value as u16);
                if value == 2 {
                    self.control();
                }
            }
            (0x12, 1) => {
                let v = value as u8;
                self.status_writes.push(v);
                if v == 0 {
                    // Reset (2.1): forget the queues.
                    self.status = 0;
                    self.guest_features = 0;
                    for q in &mut self.queues {
                        q.pfn = 0;
                        q.last_avail = 0;
                    }
                } else {
                    self.status = v;
                    if self.fail_on_driver && v & S_DRIVER != 0 {
                        self.status |= S_FAILED;
                    }
                }
            }
            (0x14..=0x19, 1) => self.mac[offset - 0x14] = value as u8,
            _ => panic!("write of {width} bytes at {offset:#x}"),
        }
    }
}

/// The bus the driver sees: the model's registers, with port-IO-like error latching.
#[derive(Clone)]
struct FakeBus(Rc<RefCell<State>>);

impl FakeBus {
    fn read(&self, offset: usize, width: usize) -> u64 {
        let mut s = self.0.borrow_mut();
        if s.io_broken {
            s.io_error = Some(std::io::ErrorKind::BrokenPipe);
            return u64::MAX;
        }
        if s.removed {
            return u64::MAX >> (64 - 8 * width);
        }
        s.reg_read(offset, width)
    }

    fn write(&self, offset: usize, width: usize, value: u64) {
        let mut s = self.0.borrow_mut();
        if s.io_broken {
            s.io_error = Some(std::io::ErrorKind::BrokenPipe);
            return;
        }
        if s.removed {
            return;
        }
        s.reg_write(offset, width, value);
    }
}

impl Bus for FakeBus {
    fn len(&self) -> usize {
        0x20
    }
    unsafe fn read8(&self, offset: usize) -> u8 {
        self.read(offset, 1) as u8
    }
    unsafe fn read16(&self, offset: usize) -> u16 {
        self.read(offset, 2) as u16
    }
    unsafe fn read32(&self, offset: usize) -> u32 {
        self.read(offset, 4) as u32
    }
    unsafe fn read64(&self, _: usize) -> u64 {
        panic!("no 64-bit registers in the legacy header")
    }
    unsafe fn write8(&self, offset: usize, value: u8) {
        self.write(offset, 1, value.into());
    }
    unsafe fn write16(&self, offset: usize, value: u16) {
        self.write(offset, 2, value.into());
    }
    unsafe fn write32(&self, offset: usize, value: u32) {
        self.write(offset, 4, value.into());
    }
    unsafe fn write64(&self, _: usize, _: u64) {
        panic!("no 64-bit registers in the legacy header")
    }
}

/// The model reaches the memory of its FakeDma, and no other.
impl DmaMaster for FakeBus {
    fn dma_domain(&self) -> DmaDomain {
        self.0.borrow().dma.as_ref().unwrap().domain
    }
}

impl CheckedBus for FakeBus {
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)> {
        self.0.borrow_mut().io_error.take().map(|k| (k, 1))
    }
}

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// A model offering `features`, with queues of 256, 256 and 64 entries.
fn device(features: u32) -> (Rc<RefCell<State>>, FakeDma) {
    let dma = FakeDma::default();
    let state = State {
        host_features: features,
        queues: [
            QueueState {
                num: 256,
                ..Default::default()
            },
            QueueState {
                num: 256,
                ..Default::default()
            },
            QueueState {
                num: 64,
                ..Default::default()
            },
        ],
        mac: MAC,
        net_status: 1,
        dma: Some(dma.clone()),
        ..Default::default()
    };
    (Rc::new(RefCell::new(state)), dma)
}

fn config() -> Config {
    Config {
        buffer_size: 2048,
        ..Config::default()
    }
}

fn open(features: u32) -> (Virtio<FakeBus>, Rc<RefCell<State>>) {
    let (state, dma) = device(features);
    let dev = Virtio::new("fake".into(), FakeBus(state.clone()), &dma, &config()).unwrap();
    (dev, state)
}

fn frame(seq: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seq).collect()
}

/// Packets holding `frames`, from a pool in the model's DMA memory (as an application's pool
/// would be in memory the device reaches).
fn packets(state: &Rc<RefCell<State>>, frames: &[Vec<u8>]) -> VecDeque<Packet> {
    let dma = state.borrow().dma.clone().unwrap();
    let pool = Mempool::new(&dma, frames.len().max(1), 2048).unwrap();
    frames
        .iter()
        .map(|f| {
            let mut p = pool.alloc().unwrap();
            p.set_len(f.len()).unwrap();
            p.copy_from_slice(f);
            p
        })
        .collect()
}

#[test]
fn negotiates_only_what_it_uses_and_starts_the_device() {
    let (dev, state) = open(F_ALL);
    let s = state.borrow();
    assert_eq!(
        s.guest_features,
        F_MAC | F_STATUS | F_CTRL_VQ | F_CTRL_RX | F_ANY_LAYOUT
    );
    assert_eq!(s.guest_features & (F_CSUM | F_GUEST_CSUM | F_MRG_RXBUF), 0);
    // 3.1.1: reset, ACKNOWLEDGE, DRIVER, then DRIVER_OK.
    assert_eq!(
        s.status_writes[..4],
        [
            0,
            S_ACKNOWLEDGE,
            S_ACKNOWLEDGE | S_DRIVER,
            S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK
        ]
    );
    assert!(s.queues.iter().all(|q| q.pfn != 0), "{:?}", s.queues);
    for q in 0..3 {
        assert_eq!(
            s.avail_flags(q),
            AVAIL_F_NO_INTERRUPT,
            "queue {q} asks for interrupts"
        );
    }
    // The receive queue is full and the device was told.
    let (_, avail, _, _) = s.rings(0);
    assert_eq!(s.u16_at(avail + 2), 256);
    assert_eq!(s.notifications.first(), Some(&0));
    // Promiscuous mode on, as the default config asks: class RX, command PROMISC, on.
    assert_eq!(s.ctrl_commands, [(0, 0, 1)]);
    drop(s);
    assert_eq!(
        dev.features(),
        Features {
            mac: true,
            status: true,
            ctrl_vq: true,
            ctrl_rx: true,
            any_layout: true
        }
    );
    assert_eq!(dev.mac(), MacAddress(MAC));
    assert_eq!(dev.rx_ring_size(0), Some(256));
    assert_eq!(dev.promisc(), Some(true));
    assert!(dev.link().up);
    state.borrow_mut().net_status = 0;
    assert!(!dev.link().up);
}

#[test]
fn never_requires_checksum_offload() {
    // What QEMU offers with a dgram or socket backend: no CSUM, no GUEST_CSUM.
    let (dev, state) = open(F_ALL & !(F_CSUM | F_GUEST_CSUM));
    assert_eq!(state.borrow().guest_features & (F_CSUM | F_GUEST_CSUM), 0);
    assert!(dev.features().ctrl_rx);
}

#[test]
fn ctrl_rx_is_not_taken_without_a_control_queue() {
    let (dev, state) = open(F_MAC | F_CTRL_RX | F_ANY_LAYOUT);
    assert_eq!(state.borrow().guest_features, F_MAC | F_ANY_LAYOUT);
    assert!(dev.ctrl.is_none());
    assert_eq!(
        state.borrow().queues[2].pfn,
        0,
        "control queue set up without CTRL_VQ"
    );
}

#[test]
fn rejected_features_fail_clearly_and_leave_the_device_reset() {
    let (state, dma) = device(F_ALL);
    state.borrow_mut().reject_features = F_CTRL_RX;
    let err = Virtio::new("fake".into(), FakeBus(state.clone()), &dma, &config())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("rejected the features"), "{msg}");
    let s = state.borrow();
    assert!(
        s.status_writes.iter().any(|w| w & S_FAILED != 0),
        "FAILED never set: {:?}",
        s.status_writes
    );
    assert_eq!(s.status, 0, "device not reset");
    assert!(s.queues.iter().all(|q| q.pfn == 0));
}

#[test]
fn a_failed_device_is_an_error() {
    let (state, dma) = device(F_ALL);
    state.borrow_mut().fail_on_driver = true;
    let msg = Virtio::new("fake".into(), FakeBus(state), &dma, &config())
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("DRIVER") && msg.contains("FAILED"), "{msg}");
}

#[test]
fn port_io_errors_stop_init() {
    let (state, dma) = device(F_ALL);
    state.borrow_mut().io_broken = true;
    let start = std::time::Instant::now();
    let msg = Virtio::new("fake".into(), FakeBus(state), &dma, &config())
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("port IO access(es) to BAR0 failed"), "{msg}");
    assert!(
        start.elapsed() < STEP_TIMEOUT,
        "waited for a device that cannot answer"
    );
}

#[test]
fn a_missing_queue_is_an_error() {
    let (state, dma) = device(F_ALL);
    state.borrow_mut().queues[1].num = 0;
    let msg = Virtio::new("fake".into(), FakeBus(state), &dma, &config())
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("queue 1 does not exist"), "{msg}");
    let (state, dma) = device(F_ALL);
    state.borrow_mut().queues[0].num = 100;
    let msg = Virtio::new("fake".into(), FakeBus(state), &dma, &config())
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("not a power of two"), "{msg}");
}

#[test]
fn receives_frames_without_their_header_and_counts_them() {
    for features in [F_ALL, F_ALL & !F_ANY_LAYOUT] {
        let (mut dev, state) = open(features);
        let frames: Vec<Vec<u8>> = (0..40)
            .map(|i| frame(i, 60 + usize::from(i) * 30))
            .collect();
        for f in &frames {
            assert!(state.borrow_mut().deliver(f));
        }
        let notes = state.borrow().notifications.len();
        let mut got = Vec::new();
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 32);
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 8);
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 0);
        let data: Vec<Vec<u8>> = got.iter().map(|p: &Packet| p.to_vec()).collect();
        assert_eq!(data, frames);
        drop(got);
        let stats = dev.stats();
        assert_eq!((stats.rx_packets, stats.rx_errors), (40, 0));
        assert_eq!(
            stats.rx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        // One notification per batch that posted buffers, none for the empty one.
        assert_eq!(state.borrow().notifications.len() - notes, 2);
        // Every buffer is posted, in a packet, or free.
        let pool = dev.rx_pool(0).unwrap();
        assert_eq!(pool.free_count() + dev.buffers_held(), pool.capacity());
    }
}

#[test]
fn used_entries_that_lie_are_counted_and_dropped() {
    let (mut dev, state) = open(F_ALL & !F_ANY_LAYOUT);
    {
        let mut s = state.borrow_mut();
        assert!(s.deliver(&frame(1, 64)));
        // An id that is not a head (heads are even with two descriptors per packet), one out
        // of range, the head just used a second time, and a length beyond the buffer.
        s.push_used(0, 1, 74);
        s.push_used(0, 9999, 74);
        s.push_used(0, 0, 74);
        let (head, _) = s.take_avail(0).unwrap();
        s.push_used(0, u32::from(head), 10 + 2048);
        // And one shorter than the header.
        let (head, _) = s.take_avail(0).unwrap();
        s.push_used(0, u32::from(head), 3);
        assert!(s.deliver(&frame(2, 64)));
    }
    let mut got = Vec::new();
    assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 2);
    assert_eq!(got[0].to_vec(), frame(1, 64));
    assert_eq!(got[1].to_vec(), frame(2, 64));
    let stats = dev.stats();
    assert_eq!((stats.rx_packets, stats.rx_errors), (2, 5));
    drop(got);
    let pool = dev.rx_pool(0).unwrap();
    assert_eq!(
        pool.free_count() + dev.buffers_held(),
        pool.capacity(),
        "a buffer leaked"
    );
}

#[test]
fn transmits_with_a_zero_header_one_notification_per_batch() {
    for (features, descs) in [(F_ALL, 1), (F_ALL & !F_ANY_LAYOUT, 2)] {
        let (mut dev, state) = open(features);
        let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(i, 60 + usize::from(i))).collect();
        let mut queue = packets(&state, &frames);
        let notes = state.borrow().notifications.len();
        assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 10);
        assert!(queue.is_empty());
        assert_eq!(state.borrow().notifications[notes..], [1]);
        assert_eq!(dev.tx_pending(0), 10);
        let sent = state.borrow_mut().transmit();
        assert_eq!(
            sent.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
            frames
        );
        for (f, lens) in &sent {
            assert_eq!(lens.len(), descs);
            if descs == 2 {
                assert_eq!(
                    lens[0] as usize, HDR,
                    "header not in a descriptor of its own"
                );
            } else {
                assert_eq!(lens[0] as usize, HDR + f.len());
            }
        }
        let stats = dev.stats();
        assert_eq!(stats.tx_packets, 10);
        assert_eq!(
            stats.tx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        assert_eq!(dev.tx_pending(0), 0);
    }
}

#[test]
fn no_notification_while_the_device_says_no_notify() {
    let (mut dev, state) = open(F_ALL);
    state.borrow().set_used_flags(1, USED_F_NO_NOTIFY);
    let notes = state.borrow().notifications.len();
    let mut queue = packets(&state, &[frame(1, 60), frame(2, 60)]);
    assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 2);
    assert_eq!(
        state.borrow().notifications.len(),
        notes,
        "notified despite NO_NOTIFY"
    );
    state.borrow().set_used_flags(1, 0);
    let mut queue = packets(&state, &[frame(3, 60)]);
    assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 1);
    assert_eq!(state.borrow().notifications[notes..], [1]);
    assert_eq!(state.borrow_mut().transmit().len(), 3);
}

#[test]
fn a_full_transmit_queue_keeps_the_rest_in_order() {
    let (mut dev, state) = open(F_ALL & !F_ANY_LAYOUT);
    // 256 entries, two descriptors per packet: 128 packets fit.
    let frames: Vec<Vec<u8>> = (0..150).map(|i| frame(i as u8, 60)).collect();
    let mut queue = packets(&state, &frames);
    let pool = queue[0].pool().clone();
    assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 128);
    assert_eq!(queue.len(), 22);
    assert_eq!(queue[0].to_vec(), frames[128]);
    assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 0);
    assert_eq!(state.borrow_mut().transmit().len(), 128);
    assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 22);
    assert_eq!(state.borrow_mut().transmit().len(), 22);
    assert_eq!(dev.stats().tx_packets, 150);
    assert_eq!(pool.free_count(), 150);
}

#[test]
fn promiscuous_mode_goes_through_the_control_queue() {
    let (mut dev, state) = open(F_ALL);
    dev.set_promisc(false).unwrap();
    dev.set_promisc(true).unwrap();
    assert_eq!(state.borrow().ctrl_commands[1..], [(0, 0, 0), (0, 0, 1)]);
    assert_eq!(dev.promisc(), Some(true));
    state.borrow_mut().ctrl_ack = 1;
    let msg = dev.set_promisc(false).unwrap_err().to_string();
    assert!(msg.contains("refused"), "{msg}");
    assert_eq!(dev.promisc(), Some(true));
}

#[test]
fn without_ctrl_rx_promiscuous_mode_is_a_clear_error() {
    let features = F_ALL & !F_CTRL_RX;
    let (mut dev, state) = open(features);
    assert!(state.borrow().ctrl_commands.is_empty());
    assert_eq!(dev.promisc(), None);
    let msg = dev.set_promisc(true).unwrap_err().to_string();
    assert!(msg.contains("VIRTIO_NET_F_CTRL_RX"), "{msg}");
    // Asking for filtering at open cannot be honoured either.
    let (state, dma) = device(features);
    let config = Config {
        promisc: false,
        ..config()
    };
    let msg = Virtio::new("fake".into(), FakeBus(state.clone()), &dma, &config)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("VIRTIO_NET_F_CTRL_RX"), "{msg}");
    assert_eq!(
        state.borrow().status,
        0,
        "device not reset after the failed open"
    );
}

#[test]
fn without_status_the_link_is_up() {
    let (dev, state) = open(F_ALL & !F_STATUS);
    state.borrow_mut().net_status = 0;
    assert!(dev.link().up);
}

#[test]
fn the_mac_address_is_read_and_written_in_the_config() {
    let (mut dev, state) = open(F_ALL);
    let new = MacAddress([0x02, 1, 2, 3, 4, 5]);
    dev.set_mac(new).unwrap();
    assert_eq!(state.borrow().mac, new.0);
    assert_eq!(dev.mac(), new);
    // Without the MAC feature the driver picks a locally administered unicast address.
    let (dev, state) = open(F_ALL & !F_MAC);
    let mac = dev.mac();
    assert_eq!(mac.0[0] & 0x03, 0x02, "{mac}");
    assert_eq!(state.borrow().mac, mac.0);
}

#[test]
fn wrong_queue_numbers_and_configs_are_errors() {
    let (mut dev, _state) = open(F_ALL);
    let mut out = Vec::new();
    assert!(matches!(
        dev.rx_batch(1, &mut out, 8),
        Err(Error::NoSuchQueue { queue: 1, .. })
    ));
    assert!(matches!(
        dev.tx_batch(1, &mut VecDeque::new()),
        Err(Error::NoSuchQueue { queue: 1, .. })
    ));
    let (state, dma) = device(F_ALL);
    let config = Config {
        rx_queues: 2,
        ..config()
    };
    let msg = Virtio::new("fake".into(), FakeBus(state), &dma, &config)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("one receive and one transmit queue"), "{msg}");
}

#[test]
fn dropping_the_driver_resets_the_device() {
    let (dev, state) = open(F_ALL);
    drop(dev);
    let s = state.borrow();
    assert_eq!(s.status, 0);
    assert_eq!(s.status_writes.last(), Some(&0));
    assert!(s.queues.iter().all(|q| q.pfn == 0));
}

#[test]
fn a_batch_larger_than_the_queue_holds_is_refused_and_takes_nothing() {
    // 256 receive entries: 256 packets at once with ANY_LAYOUT, 128 with two descriptors each.
    for (features, at_once) in [(F_ALL, 256), (F_ALL & !F_ANY_LAYOUT, 128)] {
        let (mut dev, state) = open(features);
        assert!(state.borrow_mut().deliver(&frame(1, 60)));
        let mut got = Vec::new();
        let err = dev.rx_batch(0, &mut got, at_once + 1).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BatchTooLarge { batch, ring: 256, max } if batch == at_once + 1 && max == at_once
            ),
            "{err}"
        );
        assert!(got.is_empty());
        // Nothing was taken: the frame is still there for a batch of the right size.
        assert_eq!(dev.rx_batch(0, &mut got, at_once).unwrap(), 1);
        assert_eq!(got[0].to_vec(), frame(1, 60));
        assert_eq!(dev.stats().rx_errors, 0);
    }
}

#[test]
fn buffer_sizes_outside_the_drivers_rule_are_refused_with_the_rule() {
    for (size, ok) in [
        (1024, false),
        (2048, true),
        (3000, false),
        (1 << 16, true),
        (1 << 22, false),
    ] {
        let (state, dma) = device(F_ALL);
        let config = Config {
            buffer_size: size,
            ..config()
        };
        match Virtio::new("fake".into(), FakeBus(state), &dma, &config) {
            Ok(dev) => {
                assert!(ok, "buffer size {size} was taken");
                assert_eq!(dev.rx_pool(0).unwrap().buffer_size(), size);
            }
            Err(err) => {
                assert!(!ok, "buffer size {size}: {err}");
                let msg = err.to_string();
                assert!(
                    msg.contains("use a power of two from 2048 to 2097152"),
                    "{msg}"
                );
            }
        }
    }
}

#[test]
fn packets_from_memory_the_device_does_not_reach_are_refused_and_kept() {
    let (mut dev, state) = open(F_ALL);
    let plain = Mempool::new(&PlainAllocator::new(), 4, 2048).unwrap();
    let other = Mempool::new(&FakeDma::default(), 4, 2048).unwrap();
    for foreign in [&plain, &other] {
        let mut queue = packets(&state, &[frame(1, 60), frame(2, 60)]);
        let mut p = foreign.alloc().unwrap();
        p.set_len(60).unwrap();
        queue.insert(1, p);
        let before: Vec<(u32, u32)> = queue
            .iter()
            .map(|p| (p.pool().id(), p.pool_index()))
            .collect();
        let notes = state.borrow().notifications.len();
        let err = dev.tx_batch(0, &mut queue).unwrap_err();
        assert!(
            matches!(&err, Error::ForeignDmaDomain { what, .. } if what.starts_with("packet 1 ")),
            "{err}"
        );
        let after: Vec<(u32, u32)> = queue
            .iter()
            .map(|p| (p.pool().id(), p.pool_index()))
            .collect();
        assert_eq!(after, before, "every packet stays, in order");
        assert_eq!(state.borrow().notifications.len(), notes, "no notification");
        assert_eq!(dev.tx_pending(0), 0, "nothing in flight");
        assert!(
            state.borrow_mut().transmit().is_empty(),
            "nothing was offered"
        );
    }
}

#[test]
fn an_allocator_the_device_does_not_reach_is_refused_at_open() {
    let (state, _dma) = device(F_ALL);
    let err = Virtio::new(
        "fake".into(),
        FakeBus(state.clone()),
        &PlainAllocator::new(),
        &config(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::ForeignDmaDomain { .. }), "{err}");
    // The device was left failed and reset, as after any init error.
    assert_eq!(state.borrow().status, 0);
}

/// Calls `batch` until it fails, at most `n` times.
fn first_error(n: usize, mut batch: impl FnMut() -> Result<usize>) -> Option<Error> {
    (0..n).find_map(|_| batch().err())
}

#[test]
fn a_removed_device_is_reported_by_empty_batches_and_dropped_without_waiting() {
    let (mut dev, state) = open(F_ALL);
    assert!(state.borrow_mut().deliver(&frame(1, 60)));
    let mut got = Vec::new();
    assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 1);
    state.borrow_mut().removed = true;
    // The first empty batch after traffic checks the status, and it reads 0xff.
    let e = dev.rx_batch(0, &mut got, 32).unwrap_err();
    assert!(
        matches!(&e, Error::DeviceRemoved { device } if device == "fake"),
        "{e}"
    );
    // Every batch after it says so at once; a transmit batch takes nothing.
    let mut queue = packets(&state, &[frame(2, 60)]);
    assert!(matches!(
        dev.tx_batch(0, &mut queue),
        Err(Error::DeviceRemoved { .. })
    ));
    assert_eq!(queue.len(), 1);
    let pool = dev.rx_pool(0).unwrap().clone();
    assert_eq!(
        pool.free_count() + dev.buffers_held() + got.len(),
        pool.capacity()
    );
    let start = std::time::Instant::now();
    drop(dev);
    assert!(
        start.elapsed() < STEP_TIMEOUT,
        "waited for a device that is gone"
    );
    assert_eq!(pool.free_count() + got.len(), pool.capacity());
}

#[test]
fn an_idle_device_that_is_removed_is_reported_within_the_check_interval() {
    let (mut dev, state) = open(F_ALL);
    let mut got = Vec::new();
    let mut nothing = VecDeque::new();
    for _ in 0..100 {
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 0);
        assert_eq!(dev.tx_batch(0, &mut nothing).unwrap(), 0);
    }
    state.borrow_mut().removed = true;
    let checks = crate::error::HEALTH_CHECK_EVERY as usize;
    let e = first_error(checks, || dev.rx_batch(0, &mut got, 32));
    assert!(matches!(e, Some(Error::DeviceRemoved { .. })), "{e:?}");
}

#[test]
fn a_device_reset_under_the_driver_is_reported_by_an_empty_batch() {
    let (mut dev, state) = open(F_ALL);
    // The device resets itself (as QEMU's does on a system reset): its status reads 0.
    state.borrow_mut().status = 0;
    let checks = crate::error::HEALTH_CHECK_EVERY as usize;
    let e = first_error(checks, || dev.tx_batch(0, &mut VecDeque::new())).unwrap();
    match &e {
        Error::DeviceReset { evidence, .. } => {
            assert!(evidence.contains("0x00, without DRIVER_OK"), "{evidence}")
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("open it again"), "{e}");
    assert!(matches!(
        dev.rx_batch(0, &mut Vec::new(), 32),
        Err(Error::DeviceReset { .. })
    ));
}

#[test]
fn a_device_that_gives_up_while_running_is_an_error() {
    let (mut dev, state) = open(F_ALL);
    state.borrow_mut().status |= S_FAILED;
    let e = dev.rx_batch(0, &mut Vec::new(), 32).unwrap_err();
    assert!(
        e.to_string().contains("FAILED or DEVICE_NEEDS_RESET"),
        "{e}"
    );
    let (mut dev, state) = open(F_ALL);
    state.borrow_mut().io_broken = true;
    let e = dev.rx_batch(0, &mut Vec::new(), 32).unwrap_err();
    assert!(e.to_string().contains("is the device still there"), "{e}");
}
