//! The small legacy virtio-net device model the driver's unit tests run against, written from
//! the specification independently of the driver: its own register offsets, feature and status
//! bits and queue layout arithmetic.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::super::*;
use crate::memory::{DeviceAddresses, DmaDomain, DmaRegion, PlainAllocator};

// Feature bits (5.1.3, 6).
pub(super) const F_CSUM: u32 = 1 << 0;
pub(super) const F_GUEST_CSUM: u32 = 1 << 1;
pub(super) const F_MAC: u32 = 1 << 5;
pub(super) const F_MRG_RXBUF: u32 = 1 << 15;
pub(super) const F_STATUS: u32 = 1 << 16;
pub(super) const F_CTRL_VQ: u32 = 1 << 17;
pub(super) const F_CTRL_RX: u32 = 1 << 18;
pub(super) const F_ANY_LAYOUT: u32 = 1 << 27;
/// What QEMU's virtio-net offers with a tap backend, more or less: everything.
pub(super) const F_ALL: u32 = 0x3fff_ffff;

// Device status bits (2.1).
pub(super) const S_ACKNOWLEDGE: u8 = 1;
pub(super) const S_DRIVER: u8 = 2;
pub(super) const S_DRIVER_OK: u8 = 4;
pub(super) const S_FAILED: u8 = 0x80;

pub(super) const DESC_F_NEXT: u16 = 1;
pub(super) const DESC_F_WRITE: u16 = 2;
pub(super) const USED_F_NO_NOTIFY: u16 = 1;
pub(super) const AVAIL_F_NO_INTERRUPT: u16 = 1;
pub(super) const HDR: usize = 10;

/// DMA memory whose device addresses are small fake numbers, so that they fit QUEUE_PFN, with a
/// table the model uses to reach the memory behind them: a DMA domain of its own.
#[derive(Clone)]
pub(super) struct FakeDma {
    pub(super) plain: PlainAllocator,
    pub(super) next: Rc<Cell<u64>>,
    pub(super) map: Rc<RefCell<Vec<(u64, usize, usize)>>>,
    pub(super) domain: DmaDomain,
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
        let (virt, len, mapped) = (region.virt(), region.len(), region.mapped_len());
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
        }
        .with_shared_mapped_len(mapped))
    }
}

#[derive(Clone, Copy, Default, Debug)]
pub(super) struct QueueState {
    pub(super) num: u16,
    pub(super) pfn: u32,
    /// The device's next available entry to take.
    pub(super) last_avail: u16,
}

/// One buffer of a descriptor chain: device address, length, flags.
pub(super) type Buffer = (u64, u32, u16);

/// The model's state; the bus and the test share it.
#[derive(Default)]
pub(super) struct State {
    pub(super) host_features: u32,
    pub(super) guest_features: u32,
    pub(super) status: u8,
    pub(super) status_writes: Vec<u8>,
    pub(super) queue_sel: u16,
    pub(super) queues: [QueueState; 3],
    pub(super) mac: [u8; 6],
    pub(super) net_status: u16,
    pub(super) notifications: Vec<u16>,
    /// The device drops features it does not like from GUEST_FEATURES (as if rejecting them).
    pub(super) reject_features: u32,
    /// The device sets FAILED when the driver sets DRIVER.
    pub(super) fail_on_driver: bool,
    /// Port IO fails from now on.
    pub(super) io_broken: bool,
    /// The device is gone from the bus: reads give all ones, writes go nowhere, and no access
    /// fails loudly (as port IO to a removed PCI device does).
    pub(super) removed: bool,
    pub(super) io_error: Option<std::io::ErrorKind>,
    /// Control commands received: class, command, argument.
    pub(super) ctrl_commands: Vec<(u8, u8, u8)>,
    /// What the device answers control commands with.
    pub(super) ctrl_ack: u8,
    pub(super) dma: Option<FakeDma>,
    /// Register reads and writes the driver made (each one a port IO syscall and a VM exit on
    /// a real legacy device).
    pub(super) accesses: u64,
    /// Chains taken from the transmit queue and the descriptors they had.
    pub(super) tx_chains: u64,
    pub(super) tx_descs: u64,
    /// Emulate QEMU's transmit bottom half: a notification sets NO_NOTIFY until the device has
    /// drained the queue (`bh_run`).
    pub(super) bh: bool,
    pub(super) bh_pending: bool,
}

impl State {
    /// The host pointer behind a device address range.
    pub(super) fn ptr(&self, addr: u64, len: usize) -> *mut u8 {
        let map = self.dma.as_ref().unwrap().map.borrow();
        for &(base, virt, size) in map.iter() {
            if addr >= base && addr + len as u64 <= base + size as u64 {
                return (virt + (addr - base) as usize) as *mut u8;
            }
        }
        panic!("device address {addr:#x}+{len} is not DMA memory the driver allocated");
    }

    pub(super) fn read(&self, addr: u64, out: &mut [u8]) {
        let p = self.ptr(addr, out.len());
        // SAFETY: `ptr` found the range inside a live allocation.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
    }

    pub(super) fn write(&self, addr: u64, data: &[u8]) {
        let p = self.ptr(addr, data.len());
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    }

    pub(super) fn u16_at(&self, addr: u64) -> u16 {
        let mut b = [0; 2];
        self.read(addr, &mut b);
        u16::from_le_bytes(b)
    }

    pub(super) fn u32_at(&self, addr: u64) -> u32 {
        let mut b = [0; 4];
        self.read(addr, &mut b);
        u32::from_le_bytes(b)
    }

    pub(super) fn u64_at(&self, addr: u64) -> u64 {
        let mut b = [0; 8];
        self.read(addr, &mut b);
        u64::from_le_bytes(b)
    }

    /// Where the parts of queue `q` are, computed from 2.4.2 independently of `layout.rs`.
    pub(super) fn rings(&self, q: usize) -> (u64, u64, u64, u16) {
        let qs = self.queues[q];
        let n = u64::from(qs.num);
        let desc = u64::from(qs.pfn) << 12;
        let avail = desc + 16 * n;
        let used = (avail + 4 + 2 * n + 2).next_multiple_of(4096);
        (desc, avail, used, qs.num)
    }

    /// The next available chain of queue `q`: its head and its buffers (address, length,
    /// flags), or `None` when the driver has made nothing more available.
    pub(super) fn take_avail(&mut self, q: usize) -> Option<(u16, Vec<Buffer>)> {
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
    pub(super) fn push_used(&mut self, q: usize, id: u32, len: u32) {
        let (_, _, used, n) = self.rings(q);
        let idx = self.u16_at(used + 2);
        let e = used + 4 + 8 * u64::from(idx % n);
        self.write(e, &id.to_le_bytes());
        self.write(e + 4, &len.to_le_bytes());
        self.write(used + 2, &idx.wrapping_add(1).to_le_bytes());
    }

    pub(super) fn set_used_flags(&self, q: usize, flags: u16) {
        let (_, _, used, _) = self.rings(q);
        self.write(used, &flags.to_le_bytes());
    }

    pub(super) fn avail_flags(&self, q: usize) -> u16 {
        let (_, avail, _, _) = self.rings(q);
        self.u16_at(avail)
    }

    /// Receives `frame` into the next receive buffer (5.1.6.4): a zero header, then the frame,
    /// across the chain's writable buffers. False if the driver posted nothing.
    pub(super) fn deliver(&mut self, frame: &[u8]) -> bool {
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
    pub(super) fn transmit(&mut self) -> Vec<(Vec<u8>, Vec<u32>)> {
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

    /// One run of the emulated transmit bottom half: sends at most `budget` chains; once the
    /// queue is empty it turns notifications back on (and looks once more, as QEMU does, so
    /// that nothing made available meanwhile is missed).
    pub(super) fn bh_run(&mut self, budget: usize) -> usize {
        if !self.bh_pending {
            return 0;
        }
        let mut sent = 0;
        while sent < budget {
            let Some((head, chain)) = self.take_avail(1) else {
                break;
            };
            self.tx_chains += 1;
            self.tx_descs += chain.len() as u64;
            self.push_used(1, u32::from(head), 0);
            sent += 1;
        }
        if sent < budget {
            self.set_used_flags(1, 0);
            self.bh_pending = false;
        }
        sent
    }

    /// Handles the control queue (5.1.6.5): header, argument, ack.
    pub(super) fn control(&mut self) {
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

    pub(super) fn reg_read(&mut self, offset: usize, width: usize) -> u64 {
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

    pub(super) fn reg_write(&mut self, offset: usize, width: usize, value: u64) {
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
                if value == 1 && self.bh {
                    // QEMU (hw/net/virtio-net.c, tx=bh): the notification handler turns
                    // notifications off and schedules the flush.
                    self.set_used_flags(1, USED_F_NO_NOTIFY);
                    self.bh_pending = true;
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
pub(super) struct FakeBus(pub(super) Rc<RefCell<State>>);

impl FakeBus {
    pub(super) fn read(&self, offset: usize, width: usize) -> u64 {
        let mut s = self.0.borrow_mut();
        s.accesses += 1;
        if s.io_broken {
            s.io_error = Some(std::io::ErrorKind::BrokenPipe);
            return u64::MAX;
        }
        if s.removed {
            return u64::MAX >> (64 - 8 * width);
        }
        s.reg_read(offset, width)
    }

    pub(super) fn write(&self, offset: usize, width: usize, value: u64) {
        let mut s = self.0.borrow_mut();
        s.accesses += 1;
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
