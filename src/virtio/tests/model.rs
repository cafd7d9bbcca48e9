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

pub(super) const S_FEATURES_OK: u8 = 8;

// Feature bits above 31 and the event index bit (6; 1.1 6).
pub(super) const F_EVENT_IDX: u64 = 1 << 29;
pub(super) const F_VERSION_1: u64 = 1 << 32;
pub(super) const F_ACCESS_PLATFORM: u64 = 1 << 33;
pub(super) const F_RING_PACKED: u64 = 1 << 34;
/// What QEMU 7.2 offers on a modern NIC on a hub (VERSION_1, EVENT_IDX, INDIRECT, MAC, STATUS,
/// CTRL_VQ, CTRL_RX, ...), from /work/shared/vfio-notes.md.
pub(super) const F_QEMU_MODERN: u64 = 0x1_30bf_8024;

// Packed descriptor flags (1.1 2.7.1).
pub(super) const P_AVAIL: u16 = 1 << 7;
pub(super) const P_USED: u16 = 1 << 15;

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
    /// Modern interface (4.1.4.3): the size the driver wrote, the three addresses, enabled.
    pub(super) size: u16,
    pub(super) desc: u64,
    pub(super) driver: u64,
    pub(super) device: u64,
    pub(super) enable: u16,
    /// Packed ring, device side (1.1 2.7.1): next position to read and its wrap counter, next
    /// used position and its wrap counter.
    pub(super) p_avail: u16,
    pub(super) p_avail_wrap: bool,
    pub(super) p_used: u16,
    pub(super) p_used_wrap: bool,
    /// The queue's MSI-X vector (4.1.4.3 queue_msix_vector, 4.1.4.8 QUEUE_VECTOR); `None` is
    /// VIRTIO_MSI_NO_VECTOR, the reset value.
    pub(super) vector: Option<u16>,
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
    /// The flush turns notifications on before it runs (QEMU's virtio_net_tx_complete: on,
    /// then flush, and off again only if the flush filled its burst), so a packed ring's DESC
    /// position is where the device was before the flush.
    pub(super) enable_before_flush: bool,
    /// The modern interface (4.1.4): 64 feature bits, FEATURES_OK, queue addresses.
    pub(super) modern: bool,
    pub(super) features64: u64,
    pub(super) driver_features64: u64,
    pub(super) dfselect: u32,
    pub(super) gfselect: u32,
    /// The device clears FEATURES_OK when the driver sets it (refuses the features).
    pub(super) refuse_features_ok: bool,
    /// Chain lengths of the packed buffers the device holds, by (queue, id).
    pub(super) packed_chains: std::collections::HashMap<(usize, u16), u16>,
    /// Every notification write in the notification area, as (offset, value).
    pub(super) notify_writes: Vec<(usize, u16)>,
    /// MSI-X (PCI 3.0 6.8.2): the vectors the function has, whether the host enabled it (which
    /// moves the legacy device config from 0x14 to 0x18, 4.1.4.8), the eventfds its messages
    /// signal (as VFIO's), the configuration vector (`None`: NO_VECTOR) and every vector write
    /// as (what, value): 0xffff for the config vector, the queue index otherwise.
    pub(super) msix_count: u16,
    pub(super) msix_enabled: bool,
    pub(super) irqs: Vec<crate::Interrupt>,
    pub(super) config_vector: Option<u16>,
    pub(super) vector_writes: Vec<(u16, u16)>,
    /// The device cannot map any vector: it reads back NO_VECTOR (4.1.4.3).
    pub(super) refuse_vectors: bool,
    /// MSI-X messages sent, by queue.
    pub(super) msix_messages: [u64; 3],
}

/// VIRTIO_MSI_NO_VECTOR (4.1.4.3).
pub(super) const NO_VECTOR: u16 = 0xffff;

impl State {
    /// What a vector register takes of `value`: NO_VECTOR, or a vector the function has while
    /// MSI-X is enabled (QEMU's msix_vector_use fails otherwise, and the register reads
    /// NO_VECTOR).
    fn take_vector(&self, value: u64) -> Option<u16> {
        let v = value as u16;
        (v != NO_VECTOR && !self.refuse_vectors && self.msix_enabled && v < self.msix_count)
            .then_some(v)
    }

    fn write_queue_vector(&mut self, value: u64) {
        let sel = self.queue_sel;
        self.vector_writes.push((sel, value as u16));
        let v = self.take_vector(value);
        if let Some(q) = self.queues.get_mut(usize::from(sel)) {
            q.vector = v;
        }
    }

    fn write_config_vector(&mut self, value: u64) {
        self.vector_writes.push((NO_VECTOR, value as u16));
        self.config_vector = self.take_vector(value);
    }

    fn queue_vector(&self) -> u64 {
        let v = self
            .queues
            .get(usize::from(self.queue_sel))
            .and_then(|q| q.vector);
        u64::from(v.unwrap_or(NO_VECTOR))
    }

    fn event_idx(&self) -> bool {
        self.driver_features64 & F_EVENT_IDX != 0
            || u64::from(self.guest_features) & F_EVENT_IDX != 0
    }

    /// Whether the driver wants a used buffer notification after the device moved split queue
    /// `q`'s used index from `old` to `new` (2.4.7.2: with EVENT_IDX when the index passes
    /// used_event, without it unless VRING_AVAIL_F_NO_INTERRUPT is set).
    fn split_wants_interrupt(&self, q: usize, old: u16, new: u16) -> bool {
        if self.event_idx() {
            assert_eq!(
                self.avail_flags(q),
                0,
                "2.4.7.1: with VIRTIO_F_EVENT_IDX the driver must set the available ring's flags to 0"
            );
            let event = self.used_event(q);
            new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
        } else {
            self.avail_flags(q) & AVAIL_F_NO_INTERRUPT == 0
        }
    }

    /// Whether the driver wants one after the device wrote used descriptors at the positions
    /// `written` (position, wrap counter) of packed queue `q` (1.1 2.7.10, 2.7.14: ENABLE,
    /// DISABLE, or DESC naming one of them).
    fn packed_wants_interrupt(&self, q: usize, written: &[(u16, bool)]) -> bool {
        let driver = self.queues[q].driver;
        let off_wrap = self.u16_at(driver);
        match self.u16_at(driver + 2) & 3 {
            0 => true,
            1 => false,
            2 => {
                assert!(self.event_idx(), "DESC mode without VIRTIO_F_EVENT_IDX");
                written
                    .iter()
                    .any(|&(pos, wrap)| off_wrap == pos | (u16::from(wrap) << 15))
            }
            m => panic!("driver event suppression mode {m} is reserved"),
        }
    }

    /// Whether the device, using one more buffer on queue `q` now, would send a notification:
    /// the driver's suppression as the device reads it.
    pub(super) fn would_interrupt(&self, q: usize) -> bool {
        if self.packed() {
            let qs = self.queues[q];
            self.packed_wants_interrupt(q, &[(qs.p_used, qs.p_used_wrap)])
        } else {
            let (_, _, used, _) = self.rings(q);
            let idx = self.u16_at(used + 2);
            self.split_wants_interrupt(q, idx, idx.wrapping_add(1))
        }
    }

    /// Sends queue `q`'s MSI-X message if it has a vector and MSI-X is enabled (INTx is not
    /// modelled: without MSI-X nothing happens).
    fn raise(&mut self, q: usize) {
        let Some(v) = self.queues[q].vector else {
            return;
        };
        if !self.msix_enabled {
            return;
        }
        self.irqs[usize::from(v)].signal();
        self.msix_messages[q] += 1;
    }
}

/// The function's MSI-X as VFIO gives it: eventfds the model signals.
pub(super) struct FakeMsix(pub(super) Rc<RefCell<State>>);

impl crate::InterruptSource for FakeMsix {
    fn msix_vectors(&self) -> u16 {
        self.0.borrow().msix_count
    }
    fn enable_msix(&self, count: u16) -> Result<Vec<crate::Interrupt>> {
        let mut s = self.0.borrow_mut();
        if count > s.msix_count {
            return Err(Error::TooFewVectors {
                device: "fake".into(),
                needed: u32::from(count),
                available: u32::from(s.msix_count),
            });
        }
        let irqs = (0..count)
            .map(|_| crate::Interrupt::new())
            .collect::<Result<Vec<_>>>()?;
        s.irqs = irqs.iter().map(|i| i.try_clone()).collect::<Result<_>>()?;
        s.msix_enabled = true;
        Ok(irqs)
    }
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
        if self.modern {
            return (qs.desc, qs.driver, qs.device, qs.size);
        }
        let n = u64::from(qs.num);
        let desc = u64::from(qs.pfn) << 12;
        let avail = desc + 16 * n;
        let used = (avail + 4 + 2 * n + 2).next_multiple_of(4096);
        (desc, avail, used, qs.num)
    }

    /// The next available chain of queue `q`: its head and its buffers (address, length,
    /// flags), or `None` when the driver has made nothing more available.
    pub(super) fn take_avail(&mut self, q: usize) -> Option<(u16, Vec<Buffer>)> {
        if self.packed() {
            return self.take_avail_packed(q);
        }
        let (desc, avail, _, n) = self.rings(q);
        let idx = self.u16_at(avail + 2);
        let last = self.queues[q].last_avail;
        if idx == last {
            return None;
        }
        let head = self.u16_at(avail + 4 + 2 * u64::from(last % n));
        self.queues[q].last_avail = last.wrapping_add(1);
        if self.bh && self.driver_features64 & F_EVENT_IDX != 0 {
            // QEMU's virtqueue_split_pop moves avail_event with every buffer it takes.
            self.set_avail_event(q, last.wrapping_add(1));
        }
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
        if self.packed() {
            return self.push_used_packed(q, id as u16, len);
        }
        let (_, _, used, n) = self.rings(q);
        let idx = self.u16_at(used + 2);
        let e = used + 4 + 8 * u64::from(idx % n);
        self.write(e, &id.to_le_bytes());
        self.write(e + 4, &len.to_le_bytes());
        self.write(used + 2, &idx.wrapping_add(1).to_le_bytes());
        if self.split_wants_interrupt(q, idx, idx.wrapping_add(1)) {
            self.raise(q);
        }
    }

    /// Bytes of the net header: 12 with VERSION_1 (5.1.6: num_buffers is always there without
    /// the legacy interface), 10 for legacy without MRG_RXBUF.
    pub(super) fn hdr(&self) -> usize {
        if self.modern { HDR + 2 } else { HDR }
    }

    /// Whether the driver negotiated packed rings (bit 34).
    pub(super) fn packed(&self) -> bool {
        self.modern && self.driver_features64 & F_RING_PACKED != 0
    }

    /// The next available packed buffer of queue `q` (1.1 2.7.1, 2.7.6): its id and buffers.
    pub(super) fn take_avail_packed(&mut self, q: usize) -> Option<(u16, Vec<Buffer>)> {
        let qs = self.queues[q];
        let mut at = qs.p_avail;
        let mut wrap = qs.p_avail_wrap;
        let mut chain = Vec::new();
        let id = loop {
            let d = qs.desc + 16 * u64::from(at);
            let flags = self.u16_at(d + 14);
            let avail = flags & P_AVAIL != 0;
            let used = flags & P_USED != 0;
            // Available: AVAIL equals the device's wrap counter, USED does not.
            if avail != wrap || used == wrap {
                assert!(
                    chain.is_empty(),
                    "a chain that ends in a descriptor not available"
                );
                return None;
            }
            chain.push((self.u64_at(d), self.u32_at(d + 8), flags));
            let id = self.u16_at(d + 12);
            at += 1;
            if at == qs.size {
                at = 0;
                wrap = !wrap;
            }
            assert!(chain.len() <= usize::from(qs.size), "descriptor loop");
            if flags & DESC_F_NEXT == 0 {
                break id;
            }
        };
        self.queues[q].p_avail = at;
        self.queues[q].p_avail_wrap = wrap;
        self.packed_chains.insert((q, id), chain.len() as u16);
        Some((id, chain))
    }

    /// Writes a used descriptor for buffer `id` at queue `q`'s used position (1.1 2.7.1) and
    /// skips the buffer's chain (a buffer the device does not hold counts as one descriptor).
    pub(super) fn push_used_packed(&mut self, q: usize, id: u16, len: u32) {
        let qs = self.queues[q];
        let n = self.packed_chains.remove(&(q, id)).unwrap_or(1);
        let d = qs.desc + 16 * u64::from(qs.p_used);
        self.write(d + 8, &len.to_le_bytes());
        self.write(d + 12, &id.to_le_bytes());
        let flags: u16 = if qs.p_used_wrap { P_AVAIL | P_USED } else { 0 };
        self.write(d + 14, &flags.to_le_bytes());
        let mut next = qs.p_used + n;
        let mut wrap = qs.p_used_wrap;
        if next >= qs.size {
            next -= qs.size;
            wrap = !wrap;
        }
        self.queues[q].p_used = next;
        self.queues[q].p_used_wrap = wrap;
        // The positions the buffer's chain covered, each with its wrap counter.
        let written: Vec<(u16, bool)> = (0..n)
            .map(|i| {
                let at = qs.p_used + i;
                if at >= qs.size {
                    (at - qs.size, !qs.p_used_wrap)
                } else {
                    (at, qs.p_used_wrap)
                }
            })
            .collect();
        if self.packed_wants_interrupt(q, &written) {
            self.raise(q);
        }
    }

    /// The packed device event suppression structure of queue `q` (1.1 2.7.14): offset|wrap
    /// and flags.
    pub(super) fn set_device_event(&self, q: usize, desc: u16, flags: u16) {
        let dev = self.queues[q].device;
        self.write(dev, &desc.to_le_bytes());
        self.write(dev + 2, &flags.to_le_bytes());
    }

    /// The packed driver event suppression flags of queue `q`.
    pub(super) fn driver_event_flags(&self, q: usize) -> u16 {
        self.u16_at(self.queues[q].driver + 2)
    }

    /// Split ring with EVENT_IDX: the device's avail_event (after the used ring, 2.4.8).
    pub(super) fn set_avail_event(&self, q: usize, event: u16) {
        let (_, _, used, n) = self.rings(q);
        self.write(used + 4 + 8 * u64::from(n), &event.to_le_bytes());
    }

    /// Split ring with EVENT_IDX: the driver's used_event (after the available ring, 2.4.6).
    pub(super) fn used_event(&self, q: usize) -> u16 {
        let (_, avail, _, n) = self.rings(q);
        self.u16_at(avail + 4 + 2 * u64::from(n))
    }

    /// The available index of split queue `q`.
    pub(super) fn avail_idx(&self, q: usize) -> u16 {
        let (_, avail, _, _) = self.rings(q);
        self.u16_at(avail + 2)
    }

    /// The modern interface's BAR (layout of QEMU 7.2's: common at 0, ISR at 0x1000, device
    /// config at 0x2000, notifications at 0x3000 with multiplier 4; 4.1.4.3 offsets).
    pub(super) fn bar_read(&mut self, offset: usize, width: usize) -> u64 {
        let sel = usize::from(self.queue_sel);
        let q = self.queues.get(sel).copied().unwrap_or_default();
        match (offset, width) {
            (0x00, 4) => u64::from(self.dfselect),
            (0x04, 4) => match self.dfselect {
                0 => self.features64 & 0xffff_ffff,
                1 => self.features64 >> 32,
                _ => 0,
            },
            (0x08, 4) => u64::from(self.gfselect),
            (0x0c, 4) => match self.gfselect {
                0 => self.driver_features64 & 0xffff_ffff,
                1 => self.driver_features64 >> 32,
                _ => 0,
            },
            (0x10, 2) => u64::from(self.config_vector.unwrap_or(NO_VECTOR)),
            (0x12, 2) => 3,
            (0x14, 1) => u64::from(self.status),
            (0x15, 1) => 0,
            (0x16, 2) => u64::from(self.queue_sel),
            (0x18, 2) => u64::from(if q.enable != 0 || q.size != 0 {
                q.size
            } else {
                q.num
            }),
            (0x1a, 2) => self.queue_vector(),
            (0x1c, 2) => u64::from(q.enable),
            (0x1e, 2) => sel as u64,
            (0x1000, 1) => 0,
            (0x2000..=0x2005, 1) => u64::from(self.mac[offset - 0x2000]),
            (0x2006, 2) => u64::from(self.net_status),
            _ => panic!("modern read of {width} bytes at {offset:#x}"),
        }
    }

    pub(super) fn bar_write(&mut self, offset: usize, width: usize, value: u64) {
        let sel = usize::from(self.queue_sel);
        let q_enabled = |s: &Self| s.queues.get(sel).map_or(0, |q| q.enable);
        let set = |s: &mut Self, f: &mut dyn FnMut(&mut QueueState)| {
            if let Some(q) = s.queues.get_mut(sel) {
                f(q)
            }
        };
        let lo = |old: u64| (old & !0xffff_ffff) | (value & 0xffff_ffff);
        let hi = |old: u64| (old & 0xffff_ffff) | (value << 32);
        match (offset, width) {
            (0x00, 4) => self.dfselect = value as u32,
            (0x08, 4) => self.gfselect = value as u32,
            (0x10, 2) => self.write_config_vector(value),
            (0x1a, 2) => {
                assert_eq!(
                    q_enabled(self),
                    0,
                    "queue_msix_vector written after queue_enable"
                );
                self.write_queue_vector(value)
            }
            (0x0c, 4) => {
                let shift = 32 * u64::from(self.gfselect.min(1));
                let mask = 0xffff_ffffu64 << shift;
                let v = (value << shift) & mask;
                assert_eq!(
                    v & !self.features64,
                    0,
                    "driver acked features not offered: {v:#x} of {:#x}",
                    self.features64
                );
                self.driver_features64 = (self.driver_features64 & !mask) | v;
            }
            (0x14, 1) => {
                let v = value as u8;
                self.status_writes.push(v);
                if v == 0 {
                    self.status = 0;
                    self.driver_features64 = 0;
                    self.config_vector = None;
                    self.packed_chains.clear();
                    for q in &mut self.queues {
                        let num = q.num;
                        *q = QueueState {
                            num,
                            ..QueueState::default()
                        };
                        q.p_avail_wrap = true;
                        q.p_used_wrap = true;
                    }
                } else {
                    self.status = v;
                    if v & S_FEATURES_OK != 0 && self.refuse_features_ok {
                        self.status &= !S_FEATURES_OK;
                    }
                    if self.fail_on_driver && v & S_DRIVER != 0 {
                        self.status |= S_FAILED;
                    }
                }
            }
            (0x16, 2) => self.queue_sel = value as u16,
            (0x18, 2) => {
                let num = self.queues.get(sel).map_or(0, |q| q.num);
                assert!(value as u16 <= num, "queue size above the maximum");
                set(self, &mut |q| q.size = value as u16)
            }
            (0x1c, 2) => {
                assert_eq!(value, 1, "queue_enable takes only 1 (4.1.4.3.2)");
                set(self, &mut |q| q.enable = 1)
            }
            (0x20, 4) => set(self, &mut |q| q.desc = lo(q.desc)),
            (0x24, 4) => set(self, &mut |q| q.desc = hi(q.desc)),
            (0x28, 4) => set(self, &mut |q| q.driver = lo(q.driver)),
            (0x2c, 4) => set(self, &mut |q| q.driver = hi(q.driver)),
            (0x30, 4) => set(self, &mut |q| q.device = lo(q.device)),
            (0x34, 4) => set(self, &mut |q| q.device = hi(q.device)),
            (0x3000..=0x3fff, 2) => {
                let off = offset - 0x3000;
                let q = value as u16;
                // queue_notify_off is the queue index, times the multiplier 4.
                assert_eq!(off, 4 * usize::from(q), "notification at the wrong address");
                self.notify_writes.push((off, q));
                self.reg_write(0x10, 2, value);
            }
            _ => panic!("modern write of {width} bytes at {offset:#x}"),
        }
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
        let mut bytes = vec![0u8; self.hdr()];
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
            let hdr = self.hdr();
            assert!(
                bytes[..hdr].iter().all(|&b| b == 0),
                "header asks for something: {:?}",
                &bytes[..hdr]
            );
            self.push_used(1, u32::from(head), 0);
            out.push((bytes[hdr..].to_vec(), lens));
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
        if self.enable_before_flush {
            self.notifications_on(1);
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
        if sent < budget && self.enable_before_flush {
            // Notifications stay on, at the position named before the flush.
            self.bh_pending = false;
        } else if sent >= budget && self.enable_before_flush {
            self.notifications_off(1);
        } else if sent < budget {
            self.notifications_on(1);
            self.bh_pending = false;
            // QEMU flushes once more after turning notifications on: what the driver made
            // available meanwhile is not missed.
            if self.take_avail_peek(1) {
                self.notifications_off(1);
                self.bh_pending = true;
            }
        }
        sent
    }

    /// Turns the driver's notifications for queue `q` off: NO_NOTIFY (split without EVENT_IDX;
    /// with it QEMU leaves avail_event where it was) or DISABLE (packed).
    pub(super) fn notifications_off(&mut self, q: usize) {
        if self.packed() {
            let desc = self.u16_at(self.queues[q].device);
            self.set_device_event(q, desc, 1);
        } else {
            self.set_used_flags(q, USED_F_NO_NOTIFY);
        }
    }

    /// Turns them on: flags 0 and, with EVENT_IDX, avail_event at the next entry the device
    /// takes (split); ENABLE, or with EVENT_IDX DESC at the next position the device reads and
    /// its wrap counter (packed), as QEMU's virtio_queue_set_notification does.
    pub(super) fn notifications_on(&mut self, q: usize) {
        let event_idx = self.driver_features64 & F_EVENT_IDX != 0
            || u64::from(self.guest_features) & F_EVENT_IDX != 0;
        if self.packed() {
            let qs = self.queues[q];
            if event_idx {
                let off_wrap = qs.p_avail | (u16::from(qs.p_avail_wrap) << 15);
                self.set_device_event(q, off_wrap, 2);
            } else {
                self.set_device_event(q, 0, 0);
            }
        } else {
            self.set_used_flags(q, 0);
            if event_idx {
                let next = self.queues[q].last_avail;
                self.set_avail_event(q, next);
            }
        }
    }

    /// Whether queue `q` has an available buffer the device has not taken (without taking it).
    pub(super) fn take_avail_peek(&mut self, q: usize) -> bool {
        if self.packed() {
            let qs = self.queues[q];
            let flags = self.u16_at(qs.desc + 16 * u64::from(qs.p_avail) + 14);
            (flags & P_AVAIL != 0) == qs.p_avail_wrap && (flags & P_USED != 0) != qs.p_avail_wrap
        } else {
            let (_, avail, _, _) = self.rings(q);
            self.u16_at(avail + 2) != self.queues[q].last_avail
        }
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
            // 4.1.4.8: with MSI-X enabled the vectors at 0x14 and 0x16, the config from 0x18.
            (0x14, 2) if self.msix_enabled => u64::from(self.config_vector.unwrap_or(NO_VECTOR)),
            (0x16, 2) if self.msix_enabled => self.queue_vector(),
            (0x18..=0x1d, 1) if self.msix_enabled => u64::from(self.mac[offset - 0x18]),
            (0x1e, 2) if self.msix_enabled => u64::from(self.net_status),
            (0x14..=0x19, 1) if !self.msix_enabled => u64::from(self.mac[offset - 0x14]),
            (0x1a, 2) if !self.msix_enabled => u64::from(self.net_status),
            _ => panic!(
                "read of {width} bytes at {offset:#x} (MSI-X enabled: {})",
                self.msix_enabled
            ),
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
                if value == 1 && self.bh && !self.bh_pending {
                    // QEMU (hw/net/virtio-net.c, tx=bh): the notification handler turns
                    // notifications off and schedules the flush.
                    self.notifications_off(1);
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
                        q.vector = None;
                    }
                    self.config_vector = None;
                } else {
                    self.status = v;
                    if self.fail_on_driver && v & S_DRIVER != 0 {
                        self.status |= S_FAILED;
                    }
                }
            }
            (0x14, 2) if self.msix_enabled => self.write_config_vector(value),
            (0x16, 2) if self.msix_enabled => self.write_queue_vector(value),
            (0x18..=0x1d, 1) if self.msix_enabled => self.mac[offset - 0x18] = value as u8,
            (0x14..=0x19, 1) if !self.msix_enabled => self.mac[offset - 0x14] = value as u8,
            _ => panic!(
                "write of {width} bytes at {offset:#x} (MSI-X enabled: {})",
                self.msix_enabled
            ),
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

/// The modern interface's BAR: the model's registers at QEMU's offsets.
#[derive(Clone)]
pub(super) struct FakeBar(pub(super) Rc<RefCell<State>>);

impl FakeBar {
    fn read(&self, offset: usize, width: usize) -> u64 {
        let mut s = self.0.borrow_mut();
        s.accesses += 1;
        if s.removed {
            return u64::MAX >> (64 - 8 * width);
        }
        s.bar_read(offset, width)
    }

    fn write(&self, offset: usize, width: usize, value: u64) {
        let mut s = self.0.borrow_mut();
        s.accesses += 1;
        if s.removed {
            return;
        }
        s.bar_write(offset, width, value);
    }
}

impl Bus for FakeBar {
    fn len(&self) -> usize {
        0x4000
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
    unsafe fn read64(&self, offset: usize) -> u64 {
        panic!("64-bit read at {offset:#x}: 4.1.3.1 asks for 32-bit halves")
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
    unsafe fn write64(&self, offset: usize, _: u64) {
        panic!("64-bit write at {offset:#x}: 4.1.3.1 asks for 32-bit halves")
    }
}

impl DmaMaster for FakeBar {
    fn dma_domain(&self) -> DmaDomain {
        self.0.borrow().dma.as_ref().unwrap().domain
    }
}

impl CheckedBus for FakeBar {
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)> {
        None
    }
}

/// A configuration space (256 bytes) holding QEMU's virtio capabilities (4.1.4), written byte
/// by byte from the specification's struct layouts, and the capability list as the PCI walker
/// would give it.
pub(super) fn modern_config_space() -> (MemBus, Vec<crate::pci::Capability>) {
    let cfg = MemBus::new(256);
    let mut caps = Vec::new();
    // (offset, cfg_type, bar, offset in bar, length, extra notify multiplier)
    let list: [(usize, u8, u8, u32, u32, Option<u32>); 5] = [
        (0x40, 5, 0, 0, 0, None), // PCI cfg access, ignored
        (0x54, 1, 4, 0x0000, 0x1000, None),
        (0x64, 3, 4, 0x1000, 0x1000, None),
        (0x74, 4, 4, 0x2000, 0x1000, None),
        (0x84, 2, 4, 0x3000, 0x1000, Some(4)),
    ];
    for (i, &(at, ty, bar, off, len, mult)) in list.iter().enumerate() {
        let next = list.get(i + 1).map_or(0, |n| n.0 as u8);
        let cap_len = if mult.is_some() { 20 } else { 16 };
        let mut bytes = vec![0x09, next, cap_len, ty, bar, 0, 0, 0];
        bytes.extend_from_slice(&off.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        if let Some(m) = mult {
            bytes.extend_from_slice(&m.to_le_bytes());
        }
        cfg.poke(at, &bytes);
        caps.push(crate::pci::Capability {
            id: 0x09,
            offset: at,
        });
    }
    (cfg, caps)
}
