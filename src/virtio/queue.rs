//! One split virtqueue in the legacy layout (VirtIO 1.0 section 2.4), as the driver sees it: the
//! descriptor table, the available ring it writes and the used ring the device writes, all in one
//! physically contiguous DMA region whose first page number the device gets through QUEUE_PFN
//! (4.1.4.8).
//!
//! Every access to the queue memory goes through the typed views generated from
//! `registers/virtio.toml`: [`DescRing`] hands out `virtq_desc` views, the ring headers are
//! `virtq_avail` / `virtq_used` views over [`Mmio`] windows, and the ring entries are
//! `virtq_avail_elem` / `virtq_used_elem` views at the offsets [`VirtqLayout`] computes.

use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::layout::VirtqLayout;
use super::transport::QueueAddrs;
use crate::memory::{DescRing, DmaAllocator, DmaRegion};
use crate::regs::virtio::{
    LEGACY_QUEUE_ALIGN, QUEUE_PFN_SHIFT, VirtqAvailElem, VirtqDesc, VirtqEvent, VirtqUsedElem,
    virtq_avail, virtq_desc::FLAGS, virtq_used,
};
use crate::regs::{Descriptor, Mmio};
use crate::ring::RingSize;
use crate::{Error, Result};

/// Asks the allocator under it for at least `bytes`, whatever the caller asks: a [`DescRing`]
/// sizes its region for the descriptor table alone, while a legacy virtqueue needs the table, both
/// rings (and the driver's scratch space) in the same contiguous region.
struct AtLeast<'a, A: ?Sized> {
    dma: &'a A,
    bytes: usize,
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for AtLeast<'_, A> {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        self.dma.allocate(size.max(self.bytes), contiguous)
    }
}

/// One used-ring entry, as the device wrote it (2.4.8): not yet checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UsedElem {
    /// Head descriptor of the chain the device is done with.
    pub(crate) id: u32,
    /// Bytes the device wrote into the chain's device-writable buffers.
    pub(crate) len: u32,
}

/// The 16-bit event index test (2.4.7.2 and 2.4.9.2 of VirtIO 1.0; Linux's `vring_need_event`):
/// whether an index that moved from `old` to `new` has passed `event`, the index the other side
/// asked to hear about, counting in free-running 16-bit indices (so across their wrap-around):
/// `event` lies in `old..new`.
#[inline(always)]
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// A split virtqueue (2.4), in the legacy layout (which the modern interface accepts too).
pub(crate) struct Virtqueue {
    /// The queue's number (QUEUE_SEL, QUEUE_NOTIFY).
    index: u16,
    layout: VirtqLayout,
    /// The descriptor table, at the start of a region that also holds the rings.
    desc: DescRing<VirtqDesc>,
    /// The available ring's header (flags, idx).
    avail: virtq_avail::View<Mmio>,
    /// The used ring's header (flags, idx).
    used: virtq_used::View<Mmio>,
    /// The driver's copy of `avail.idx`: where the next available entry goes (free-running).
    avail_idx: u16,
    /// The next used entry the driver has not read yet (free-running).
    last_used: u16,
    /// `avail.idx` as the last publish left it.
    published: u16,
    /// VIRTIO_F_EVENT_IDX was negotiated: `avail_event` says when to notify (2.4.9.2), and the
    /// driver keeps `used_event` where the device never interrupts (2.4.7.2).
    event_idx: bool,
    /// `used_event` (after the available ring) and `avail_event` (after the used ring).
    used_event: Mmio,
    avail_event: Mmio,
}

impl Virtqueue {
    /// Allocates queue `index` of `size` entries (the size the device reported) from `dma`, with
    /// `scratch` more bytes after the used ring for the driver's own use (the control queue's
    /// command buffer). The region is zeroed, so both rings start empty.
    pub(crate) fn new<A: DmaAllocator + ?Sized>(
        device: &str,
        index: u16,
        size: u16,
        dma: &A,
        scratch: usize,
        legacy: bool,
        event_idx: bool,
    ) -> Result<Self> {
        let failed = |problem: String| Error::DeviceFailed {
            device: device.to_owned(),
            problem,
        };
        // 2.4: "Queue Size ... is a power of 2"; the device chooses it in the legacy interface.
        let layout = VirtqLayout::new(size).ok_or_else(|| {
            failed(format!(
                "queue {index} has size {size}, which is not a power of two of at most 32768 (virtio 1.0, 2.4)"
            ))
        })?;
        let ring_size = RingSize::new(usize::from(size))?;
        let bytes = layout.total + scratch;
        // 2.4: the descriptor table's own alignment (its layout's); the whole queue's page
        // alignment, which the legacy interface adds, is checked below with its own error.
        let desc = DescRing::new(&AtLeast { dma, bytes }, ring_size, VirtqDesc::ALIGN)?;
        let region = desc.region();
        if region.len() < bytes || !region.is_contiguous() {
            return Err(Error::InvalidMemoryRequest {
                problem: format!(
                    "virtqueue {index} needs {bytes} physically contiguous bytes, the DMA allocator gave {} ({})",
                    region.len(),
                    if region.is_contiguous() {
                        "contiguous"
                    } else {
                        "not contiguous"
                    }
                ),
            });
        }
        let base = desc.device_addr();
        // 4.1.4.8: the device learns only the page number, so the queue starts on a page; 2.4.2:
        // the used ring sits at the next LEGACY_QUEUE_ALIGN boundary from there. The modern
        // interface takes the three addresses as they are (4.1.4.3), so only their alignment
        // (2.4: 16, 2 and 4) matters there, which the page-aligned region gives.
        if base % LEGACY_QUEUE_ALIGN as u64 != 0
            || (legacy && u32::try_from(base >> QUEUE_PFN_SHIFT).is_err())
        {
            return Err(Error::InvalidMemoryRequest {
                problem: format!(
                    "virtqueue {index} at device address {base:#x} is not {LEGACY_QUEUE_ALIGN}-aligned below 16 TiB, which QUEUE_PFN needs (virtio 1.0, 4.1.4.8)"
                ),
            });
        }
        // SAFETY: `layout.avail + virtq_avail::SIZE` and `layout.used + virtq_used::SIZE` are at
        // most `layout.total <= region.len()`, so both windows lie inside the region, which
        // `desc` owns and keeps mapped as long as this queue lives (the windows are fields of
        // the same struct and are never handed out). `avail` is a multiple of 16 and `used` of
        // 4096 from a page-aligned base, so every word is aligned; the driver holds no Rust
        // references into the region. The event fields (2-byte windows) sit right after each ring's
        // entries (2.4.6, 2.4.8), inside `total`, at even offsets.
        let (avail, used, used_event, avail_event) = unsafe {
            (
                Mmio::new(region.virt().add(layout.avail), virtq_avail::SIZE),
                Mmio::new(region.virt().add(layout.used), virtq_used::SIZE),
                Mmio::new(region.virt().add(layout.used_event), VirtqEvent::SIZE),
                Mmio::new(region.virt().add(layout.avail_event), VirtqEvent::SIZE),
            )
        };
        let queue = Self {
            index,
            layout,
            avail: virtq_avail::View::new(avail)?,
            used: virtq_used::View::new(used)?,
            desc,
            avail_idx: 0,
            last_used: 0,
            published: 0,
            event_idx,
            used_event,
            avail_event,
        };
        if event_idx {
            // 2.4.7.2: with EVENT_IDX the device interrupts when the used index passes
            // used_event; one behind the next entry to read is never passed. The flags stay 0,
            // as 2.4.7.1 requires with EVENT_IDX.
            queue.set_used_event();
        } else {
            // 2.4.7.1: the driver polls, so it asks the device not to interrupt (a hint the
            // device may ignore; a waiting queue turns it off, `set_used_notifications`).
            queue
                .avail
                .flags()
                .write(virtq_avail::FLAGS::NO_INTERRUPT::SET);
        }
        Ok(queue)
    }

    /// The queue's number.
    pub(crate) fn index(&self) -> u16 {
        self.index
    }

    /// Entries in the queue.
    pub(crate) fn size(&self) -> RingSize {
        self.desc.size()
    }

    /// Where the three parts are, for the modern interface (4.1.4.3).
    pub(crate) fn addrs(&self) -> QueueAddrs {
        let base = self.desc.device_addr();
        QueueAddrs {
            desc: base + self.layout.desc as u64,
            driver: base + self.layout.avail as u64,
            device: base + self.layout.used as u64,
        }
    }

    /// Keeps `used_event` one behind the next used entry the driver reads: the device, which
    /// interrupts when its index passes used_event (2.4.7.2), then never does.
    #[inline(always)]
    fn set_used_event(&self) {
        // SAFETY: `used_event` is a 2-byte window at an even offset inside the region.
        let event = unsafe { VirtqEvent::view(self.used_event.base()) };
        event.idx().set(self.last_used.wrapping_sub(1));
    }

    /// Whether the device has put an entry in the used ring that the driver has not read.
    #[inline]
    pub(crate) fn has_used(&self) -> bool {
        self.used.idx().get() != self.last_used
    }

    /// Turns used buffer notifications (interrupts) on or off (2.4.7): with EVENT_IDX through
    /// `used_event` (2.4.7.2: on, the device interrupts once its used index passes the next
    /// entry the driver reads; off, one behind it, which the device never passes), without it
    /// through VRING_AVAIL_F_NO_INTERRUPT (2.4.7.1).
    pub(crate) fn set_used_notifications(&mut self, on: bool) {
        if self.event_idx {
            // SAFETY: `used_event` is a 2-byte window at an even offset inside the region.
            let event = unsafe { VirtqEvent::view(self.used_event.base()) };
            let at = if on {
                self.last_used
            } else {
                self.last_used.wrapping_sub(1)
            };
            event.idx().set(at);
        } else if on {
            self.avail
                .flags()
                .write(virtq_avail::FLAGS::NO_INTERRUPT::CLEAR);
        } else {
            self.avail
                .flags()
                .write(virtq_avail::FLAGS::NO_INTERRUPT::SET);
        }
    }

    /// Puts a chain of `parts` (device address, length, device-writable) at descriptors
    /// `head..head + parts.len()` in the next available slot.
    pub(crate) fn add_chain(&mut self, head: u16, parts: &[(u64, usize, bool)]) {
        for (i, &(address, len, writable)) in parts.iter().enumerate() {
            let desc = self.desc.get(usize::from(head) + i);
            desc.addr().set(address);
            desc.len().set(len as u32);
            let write = if writable {
                FLAGS::WRITE::SET
            } else {
                FLAGS::WRITE::CLEAR
            };
            let next = if i + 1 < parts.len() {
                FLAGS::NEXT::SET
            } else {
                FLAGS::NEXT::CLEAR
            };
            desc.flags().write(write + next);
            desc.next().set(head + i as u16 + 1);
        }
        self.push_avail(head);
    }

    /// Describes one frame in the chain at `head`: the `virtio_net_hdr` of `hdr_len` bytes
    /// right before the frame's `len` bytes at `data`. With `chain == 1` (ANY_LAYOUT) both sit in
    /// one descriptor; otherwise (5.1.6.6, legacy) the header has a descriptor of its own and the
    /// frame follows in `head + 1`. `device_writes`: a receive buffer (2.4.5, VIRTQ_DESC_F_WRITE)
    /// rather than one the device reads.
    pub(crate) fn describe_frame(
        &self,
        head: u16,
        chain: u16,
        data: u64,
        len: usize,
        hdr_len: usize,
        device_writes: bool,
    ) {
        let write = if device_writes {
            FLAGS::WRITE::SET
        } else {
            FLAGS::WRITE::CLEAR
        };
        let first = self.desc.get(usize::from(head));
        first.addr().set(data - hdr_len as u64);
        if chain == 1 {
            first.len().set((hdr_len + len) as u32);
            first.flags().write(write + FLAGS::NEXT::CLEAR);
        } else {
            first.len().set(hdr_len as u32);
            first.flags().write(write + FLAGS::NEXT::SET);
            first.next().set(head + 1);
            let rest = self.desc.get(usize::from(head) + 1);
            rest.addr().set(data);
            rest.len().set(len as u32);
            rest.flags().write(write + FLAGS::NEXT::CLEAR);
        }
    }

    /// The region behind the queue (for the control queue's scratch space after `total`).
    pub(crate) fn region(&self) -> &DmaRegion {
        self.desc.region()
    }

    /// First byte after the queue proper: where the scratch space starts.
    pub(crate) fn scratch_offset(&self) -> usize {
        self.layout.total
    }

    /// Puts the chain whose head is descriptor `head` in the next available slot (3.2.1.2). The
    /// device sees it only after [`Virtqueue::publish`].
    pub(crate) fn push_avail(&mut self, head: u16) {
        let slot = self.size().slot(self.avail_idx);
        // SAFETY: `slot < size`, so the entry lies inside the available ring, which `new` placed
        // inside the region (see there); VirtqAvailElem entries are 2 bytes at an even offset.
        let elem = unsafe { self.elem::<VirtqAvailElem>(self.layout.avail_ring, slot) };
        elem.id().set(head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
    }

    /// Makes every entry pushed since the last call visible to the device (3.2.1.3), and says
    /// whether the device wants a notification for them (3.2.1.4, 2.4.9): `false` while it has
    /// set VRING_USED_F_NO_NOTIFY.
    pub(crate) fn publish(&mut self) -> bool {
        // 3.2.1.3: "The driver MUST perform a suitable memory barrier before the idx update, to
        // ensure the device sees the most up-to-date copy": descriptors and ring entries are
        // written before the index that hands them over.
        fence(Ordering::Release);
        self.avail.idx().set(self.avail_idx);
        // 3.2.1.4: the index must be visible before the driver reads the device's flags, or it
        // could read a stale NO_NOTIFY and the device could go to sleep without seeing the
        // entries: a store followed by a load, which only a full barrier orders.
        fence(Ordering::SeqCst);
        let old = std::mem::replace(&mut self.published, self.avail_idx);
        if self.event_idx {
            // 2.4.9.2 (2.6.10 in 1.1): with EVENT_IDX the flags are ignored; the device wants a
            // notification once the index passes avail_event.
            // SAFETY: `avail_event` is a 2-byte window at an even offset inside the region.
            let event = unsafe { VirtqEvent::view(self.avail_event.base()) };
            need_event(event.idx().get(), self.avail_idx, old)
        } else {
            !self.used.flags().is_set(virtq_used::FLAGS::NO_NOTIFY)
        }
    }

    /// The next entry the device has put in the used ring, if there is one (3.2.2). Its content
    /// is the device's word: the caller checks it.
    pub(crate) fn pop_used(&mut self) -> Option<UsedElem> {
        let used_idx = self.used.idx().get();
        if used_idx == self.last_used {
            return None;
        }
        // 2.4.8 and 3.2.2: the device writes the entry before it moves idx; read the entry only
        // after idx was seen to move.
        fence(Ordering::Acquire);
        let slot = self.size().slot(self.last_used);
        // SAFETY: `slot < size`, so the entry lies inside the used ring, inside the region;
        // VirtqUsedElem entries are 8 bytes at 4-aligned offsets (`used` is page-aligned).
        let elem = unsafe { self.elem::<VirtqUsedElem>(self.layout.used_ring, slot) };
        let entry = UsedElem {
            id: elem.id().get(),
            len: elem.len().get(),
        };
        self.last_used = self.last_used.wrapping_add(1);
        if self.event_idx {
            self.set_used_event();
        }
        Some(entry)
    }

    /// A typed view of entry `slot` of the ring of `D`s starting at byte `offset` of the region.
    ///
    /// # Safety
    /// `offset + (slot + 1) * D::SIZE` must lie inside the region and `offset + slot * D::SIZE`
    /// must be aligned to `D::ALIGN`.
    unsafe fn elem<D: Descriptor>(&self, offset: usize, slot: usize) -> D::View {
        // SAFETY: the caller keeps the entry inside the region, which this queue owns; the view
        // is used at once, while `self` (and so the mapping) is borrowed.
        unsafe { D::view(self.at(offset + slot * D::SIZE)) }
    }

    /// The byte at `offset` of the region.
    fn at(&self, offset: usize) -> NonNull<u8> {
        debug_assert!(offset < self.region().len());
        // SAFETY: callers pass offsets inside the region (checked in debug builds), which is one
        // mapping.
        unsafe { self.region().virt().add(offset) }
    }

    /// A bus over `len` bytes of the scratch space at `offset` from its start.
    ///
    /// # Safety
    /// `scratch_offset() + offset + len` must not exceed the region, and the window must not be
    /// used after the queue is dropped.
    pub(crate) unsafe fn scratch(&self, offset: usize, len: usize) -> Mmio {
        // SAFETY: the caller keeps the window inside the region and within the queue's life; no
        // Rust reference points into DMA memory.
        unsafe { Mmio::new(self.at(self.scratch_offset() + offset), len) }
    }

    /// Device address of byte `offset` of the scratch space.
    pub(crate) fn scratch_device_addr(&self, offset: usize) -> Option<u64> {
        self.region().device_addr(self.scratch_offset() + offset)
    }
}

/// A virtqueue in either format: split (2.4) or packed (1.1 2.7), as negotiated.
pub(crate) enum Vq {
    Split(Virtqueue),
    Packed(super::packed::PackedQueue),
}

impl Vq {
    /// The queue's number.
    pub(crate) fn index(&self) -> u16 {
        match self {
            Vq::Split(q) => q.index(),
            Vq::Packed(q) => q.index(),
        }
    }

    /// Entries in the queue.
    pub(crate) fn size(&self) -> RingSize {
        match self {
            Vq::Split(q) => q.size(),
            Vq::Packed(q) => q.size(),
        }
    }

    /// The region behind the queue.
    pub(crate) fn region(&self) -> &DmaRegion {
        match self {
            Vq::Split(q) => q.region(),
            Vq::Packed(q) => q.region(),
        }
    }

    /// Where the queue's parts are, for the transport.
    pub(crate) fn addrs(&self) -> QueueAddrs {
        match self {
            Vq::Split(q) => q.addrs(),
            Vq::Packed(q) => q.addrs(),
        }
    }

    /// One frame at buffer id (split: head descriptor) `head`: its `hdr_len`-byte header right
    /// before its `len` bytes at `data`, in `chain` descriptors (packed and modern: always 1).
    /// False (nothing written) if a packed ring has no descriptor left for it.
    #[inline]
    #[must_use]
    pub(crate) fn add_frame(
        &mut self,
        head: u16,
        chain: u16,
        data: u64,
        len: usize,
        hdr_len: usize,
        device_writes: bool,
    ) -> bool {
        match self {
            Vq::Split(q) => {
                // Heads are handed out once each, and each owns its `chain` descriptors.
                q.describe_frame(head, chain, data, len, hdr_len, device_writes);
                q.push_avail(head);
                true
            }
            Vq::Packed(q) => q.add_chain(
                head,
                &[(data - hdr_len as u64, hdr_len + len, device_writes)],
            ),
        }
    }

    /// A chain of `parts` at buffer id (split: first descriptor) `head`; false if the queue
    /// cannot take it.
    pub(crate) fn add_chain(&mut self, head: u16, parts: &[(u64, usize, bool)]) -> bool {
        match self {
            Vq::Split(q) => {
                if usize::from(head) + parts.len() > q.size().get() {
                    return false;
                }
                q.add_chain(head, parts);
                true
            }
            Vq::Packed(q) => q.add_chain(head, parts),
        }
    }

    /// Makes what was added visible; whether the device wants a notification.
    #[inline]
    pub(crate) fn publish(&mut self) -> bool {
        match self {
            Vq::Split(q) => q.publish(),
            Vq::Packed(q) => q.publish(),
        }
    }

    /// The next used buffer: `Ok` as the device wrote it (the caller checks it), or `Err` for
    /// one the ring itself found to lie (a packed descriptor naming no outstanding id).
    #[inline]
    pub(crate) fn pop_used(&mut self) -> Option<std::result::Result<UsedElem, UsedElem>> {
        match self {
            Vq::Split(q) => q.pop_used().map(Ok),
            Vq::Packed(q) => q.pop_used(),
        }
    }

    /// Whether the device has used a buffer the driver has not taken.
    #[inline]
    pub(crate) fn has_used(&self) -> bool {
        match self {
            Vq::Split(q) => q.has_used(),
            Vq::Packed(q) => q.has_used(),
        }
    }

    /// Turns used buffer notifications on (the queue waits) or off (the driver polls).
    pub(crate) fn set_used_notifications(&mut self, on: bool) -> Result<()> {
        match self {
            Vq::Split(q) => {
                q.set_used_notifications(on);
                Ok(())
            }
            Vq::Packed(q) => q.set_used_notifications(on),
        }
    }

    /// A bus over `len` bytes of the scratch space at `offset`.
    ///
    /// # Safety
    /// As [`Virtqueue::scratch`].
    pub(crate) unsafe fn scratch(&self, offset: usize, len: usize) -> Mmio {
        match self {
            // SAFETY: the caller's promise, passed on.
            Vq::Split(q) => unsafe { q.scratch(offset, len) },
            // SAFETY: the caller's promise, passed on.
            Vq::Packed(q) => unsafe { q.scratch(offset, len) },
        }
    }

    /// Device address of byte `offset` of the scratch space.
    pub(crate) fn scratch_device_addr(&self, offset: usize) -> Option<u64> {
        match self {
            Vq::Split(q) => q.scratch_device_addr(offset),
            Vq::Packed(q) => q.scratch_device_addr(offset),
        }
    }
}
