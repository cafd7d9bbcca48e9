//! Packed virtqueues (VirtIO 1.1 section 2.7, VIRTIO_F_RING_PACKED): one ring of descriptors that
//! the driver writes available and the device overwrites used, told apart by two flag bits and a
//! wrap counter on each side, plus two event suppression structures (1.1 2.7.14) in place of the
//! split ring's flags and event indices.
//!
//! - **Available** (2.7.1, 2.7.13): the driver writes a descriptor's address, length and buffer id,
//!   then its flags with AVAIL equal to its wrap counter and USED the opposite. A batch becomes
//!   visible at once: the first descriptor's flags are written last, after a barrier (2.7.21.3.1:
//!   "the driver ... MUST perform a suitable memory barrier before the flags of the first
//!   descriptor are updated"), so the device never sees half a batch.
//! - **Used** (2.7.1): the device writes the buffer id and length into the next used position
//!   and sets AVAIL and USED both equal to its wrap counter. The driver's counter flips each time
//!   its position passes the end of the ring. A buffer of several descriptors is used once; the
//!   driver skips its other descriptors (2.7.9), so it remembers each id's chain length.
//! - **Notifications** (2.7.10, 2.7.14): the device's event suppression structure says ENABLE,
//!   DISABLE or (with VIRTIO_F_EVENT_IDX) DESC, a ring position and wrap counter to be told about;
//!   the driver's says DISABLE: rixy polls.
//! - **Defence**: a used descriptor whose id names no outstanding buffer, or that appears where
//!   the driver has nothing outstanding, is reported to the caller (which counts it), never
//!   trusted to index anything.

use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::queue::UsedElem;
use super::transport::QueueAddrs;
use crate::memory::{DescRing, DmaAllocator, DmaRegion};
use crate::regs::Descriptor;
use crate::regs::virtio::{
    MAX_PACKED_QUEUE_SIZE, PackedDesc, PackedEvent, packed_desc::FLAGS, packed_event,
};
use crate::ring::RingSize;
use crate::{Error, Result};

/// Asks the allocator under it for at least `bytes` (the ring, both event structures and the
/// scratch space in one region).
struct AtLeast<'a, A: ?Sized> {
    dma: &'a A,
    bytes: usize,
}

impl<A: DmaAllocator + ?Sized> DmaAllocator for AtLeast<'_, A> {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        self.dma.allocate(size.max(self.bytes), contiguous)
    }
}

/// Where a packed queue's parts are in its region: the descriptor ring, then the driver's and
/// the device's event suppression structures, then the scratch space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    /// Entries in the ring.
    pub size: u16,
    /// The driver event suppression structure.
    pub driver_event: usize,
    /// The device event suppression structure.
    pub device_event: usize,
    /// Bytes of the queue proper; scratch space starts here.
    pub total: usize,
}

impl PackedLayout {
    /// The layout of a ring of `size` entries; `None` for 0 or more than 1.1 2.7.10.1 allows.
    pub fn new(size: u16) -> Option<Self> {
        if size == 0 || size > MAX_PACKED_QUEUE_SIZE {
            return None;
        }
        let ring = PackedDesc::SIZE * usize::from(size);
        let driver_event = ring.next_multiple_of(PackedEvent::ALIGN);
        let device_event = driver_event + PackedEvent::SIZE;
        Some(PackedLayout {
            size,
            driver_event,
            device_event,
            total: (device_event + PackedEvent::SIZE).next_multiple_of(16),
        })
    }
}

/// The index arithmetic of a packed ring, apart from memory: positions and wrap counters on
/// both sides (1.1 2.7.1). Property-tested against a reference model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedIndex {
    size: u16,
    /// The next position the driver makes available.
    pub next_avail: u16,
    /// The driver's wrap counter (starts 1).
    pub avail_wrap: bool,
    /// The next position the device writes used, as the driver expects it.
    pub next_used: u16,
    /// The used wrap counter the driver expects there (starts 1).
    pub used_wrap: bool,
    /// Descriptors made available and not yet used.
    pub outstanding: u16,
}

impl PackedIndex {
    /// A fresh ring of `size` entries: both counters 1 (2.7.1: "initialized by the driver to
    /// 1").
    pub fn new(size: u16) -> Self {
        PackedIndex {
            size,
            next_avail: 0,
            avail_wrap: true,
            next_used: 0,
            used_wrap: true,
            outstanding: 0,
        }
    }

    /// Free descriptors.
    pub fn free(&self) -> u16 {
        self.size - self.outstanding
    }

    /// Takes the next available position; `None` when every descriptor is outstanding.
    pub fn take_avail(&mut self) -> Option<(u16, bool)> {
        if self.outstanding == self.size {
            return None;
        }
        let at = (self.next_avail, self.avail_wrap);
        self.next_avail += 1;
        if self.next_avail == self.size {
            self.next_avail = 0;
            self.avail_wrap = !self.avail_wrap;
        }
        self.outstanding += 1;
        Some(at)
    }

    /// Consumes `n` used descriptors (one buffer's chain) from the used position; false (and
    /// nothing changes) when fewer than `n` are outstanding.
    pub fn take_used(&mut self, n: u16) -> bool {
        if n == 0 || n > self.outstanding {
            return false;
        }
        self.outstanding -= n;
        let next = u32::from(self.next_used) + u32::from(n);
        if next >= u32::from(self.size) {
            self.next_used = (next - u32::from(self.size)) as u16;
            self.used_wrap = !self.used_wrap;
        } else {
            self.next_used = next as u16;
        }
        true
    }

    /// Whether a used descriptor with flags AVAIL `avail` and USED `used` at the used position
    /// is one the device has written this time round (2.7.1: both equal the used wrap counter).
    pub fn is_used(&self, avail: bool, used: bool) -> bool {
        self.outstanding > 0 && avail == used && used == self.used_wrap
    }

    /// Whether the device's event suppression asks for a notification now that the driver has
    /// made descriptors available up to its current position (1.1 2.7.10, 2.7.14). In DESC mode
    /// (with VIRTIO_F_EVENT_IDX) positions are compared in a linear count, the other wrap
    /// counter's being one ring earlier (as Linux's `virtqueue_kick_prepare_packed` does), and
    /// the driver notifies when the position the device named is available: made available in
    /// this batch (Linux's rule) or before it. The second half matters with QEMU (measured with
    /// 7.2): its transmit flush names the next position before it flushes and does not move it
    /// as it takes more (its split rings move avail_event at every pop), so the position it
    /// waits on is often one the driver made available before; by Linux's rule the driver then
    /// never notifies and the device sits idle with buffers available (a generator ran at a
    /// seventeenth of its rate). The extra notifications come only while the device has
    /// notifications on and has not taken what is available.
    pub fn wants_notification(&self, mode: EventMode) -> bool {
        match mode {
            EventMode::Enable => true,
            EventMode::Disable => false,
            EventMode::Desc { offset, wrap } => {
                let event = if wrap == self.avail_wrap {
                    i32::from(offset)
                } else {
                    i32::from(offset) - i32::from(self.size)
                };
                event < i32::from(self.next_avail)
            }
        }
    }
}

/// What an event suppression structure says (1.1 2.7.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventMode {
    /// Events always.
    Enable,
    /// No events.
    Disable,
    /// An event when the ring reaches position `offset` of wrap counter `wrap`.
    Desc {
        /// Ring position.
        offset: u16,
        /// Its wrap counter.
        wrap: bool,
    },
}

/// A packed virtqueue in one DMA region.
pub(crate) struct PackedQueue {
    index: u16,
    layout: PackedLayout,
    ring: DescRing<PackedDesc>,
    idx: PackedIndex,
    /// The first descriptor of the batch being built and the flags it gets at publish.
    first: Option<(u16, u16)>,
    /// The chain length of each buffer id while it is outstanding (0: not outstanding).
    chain_len: Vec<u16>,
    /// VIRTIO_F_EVENT_IDX: the device may ask for notifications at a position (DESC mode).
    event_idx: bool,
}

impl PackedQueue {
    /// Allocates queue `index` of `size` entries, with `scratch` bytes after it. The region is
    /// zeroed: no descriptor is available (flags 0 while the driver's counter is 1).
    pub(crate) fn new<A: DmaAllocator + ?Sized>(
        device: &str,
        index: u16,
        size: u16,
        dma: &A,
        scratch: usize,
        event_idx: bool,
    ) -> Result<Self> {
        // rixy's free-descriptor bookkeeping (RingSize) wants a power of two, which every device
        // rixy has met offers.
        let layout = PackedLayout::new(size)
            .filter(|_| size.is_power_of_two())
            .ok_or_else(|| Error::DeviceFailed {
                device: device.to_owned(),
                problem: format!(
                    "packed queue {index} has size {size}; rixy drives packed queues of a power of two up to {MAX_PACKED_QUEUE_SIZE} entries"
                ),
            })?;
        let bytes = layout.total + scratch;
        let ring = DescRing::new(
            &AtLeast { dma, bytes },
            RingSize::new(usize::from(size))?,
            PackedDesc::ALIGN,
        )?;
        let region = ring.region();
        if region.len() < bytes || !region.is_contiguous() {
            return Err(Error::InvalidMemoryRequest {
                problem: format!(
                    "packed virtqueue {index} needs {bytes} contiguous bytes, the DMA allocator gave {}",
                    region.len()
                ),
            });
        }
        let queue = PackedQueue {
            index,
            layout,
            ring,
            idx: PackedIndex::new(size),
            first: None,
            chain_len: vec![0; usize::from(size)],
            event_idx,
        };
        // 2.7.14 / 2.7.10: the driver polls, so it asks for no used buffer notifications.
        queue
            .driver_event()
            .flags()
            .write(packed_event::FLAGS::MODE::DISABLE);
        Ok(queue)
    }

    /// The queue's number.
    pub(crate) fn index(&self) -> u16 {
        self.index
    }

    /// Entries in the ring.
    pub(crate) fn size(&self) -> RingSize {
        self.ring.size()
    }

    /// The region behind the queue.
    pub(crate) fn region(&self) -> &DmaRegion {
        self.ring.region()
    }

    /// First byte after the queue proper.
    pub(crate) fn scratch_offset(&self) -> usize {
        self.layout.total
    }

    /// Where the three parts are (4.1.4.3: descriptor area, driver area, device area).
    pub(crate) fn addrs(&self) -> QueueAddrs {
        let base = self.ring.device_addr();
        QueueAddrs {
            desc: base,
            driver: base + self.layout.driver_event as u64,
            device: base + self.layout.device_event as u64,
        }
    }

    fn event(&self, offset: usize) -> packed_event::View<crate::regs::Mmio> {
        // SAFETY: both event structures lie inside `layout.total <= region.len()`, at offsets
        // that are multiples of 4 (PackedEvent::ALIGN) from a page-aligned base; the view is
        // used while `self` (and so the region) is borrowed.
        unsafe { PackedEvent::view(self.at(offset)) }
    }

    fn driver_event(&self) -> packed_event::View<crate::regs::Mmio> {
        self.event(self.layout.driver_event)
    }

    fn device_event(&self) -> packed_event::View<crate::regs::Mmio> {
        self.event(self.layout.device_event)
    }

    fn at(&self, offset: usize) -> NonNull<u8> {
        debug_assert!(offset < self.region().len());
        // SAFETY: callers pass offsets inside the region, one mapping.
        unsafe { self.region().virt().add(offset) }
    }

    /// Makes buffer `id`, a chain of `parts` (device address, length, device-writable), available
    /// in the next descriptors. The device sees it at the next [`PackedQueue::publish`]. False
    /// (and nothing written) if the ring has too few free descriptors or `id` is out of range
    /// or outstanding.
    pub(crate) fn add_chain(&mut self, id: u16, parts: &[(u64, usize, bool)]) -> bool {
        let n = parts.len();
        if n == 0
            || n > usize::from(self.idx.free())
            || self.chain_len.get(usize::from(id)).is_none_or(|&l| l != 0)
        {
            return false;
        }
        for (i, &(address, len, writable)) in parts.iter().enumerate() {
            // `free()` was checked above, so a position is there.
            let Some((slot, wrap)) = self.idx.take_avail() else {
                return false;
            };
            let desc = self.ring.get(usize::from(slot));
            desc.addr().set(address);
            desc.len().set(len as u32);
            desc.id().set(id);
            // 2.7.1: available when AVAIL equals the driver's wrap counter and USED does not.
            let flags = if wrap {
                FLAGS::AVAIL::SET + FLAGS::USED::CLEAR
            } else {
                FLAGS::AVAIL::CLEAR + FLAGS::USED::SET
            } + if writable {
                FLAGS::WRITE::SET
            } else {
                FLAGS::WRITE::CLEAR
            } + if i + 1 < n {
                FLAGS::NEXT::SET
            } else {
                FLAGS::NEXT::CLEAR
            };
            if self.first.is_none() {
                // The batch's first descriptor: its flags wait for `publish`.
                self.first = Some((slot, flags.value));
            } else {
                desc.flags().write(flags);
            }
        }
        self.chain_len[usize::from(id)] = n as u16;
        true
    }

    /// Makes the batch visible (its first descriptor's flags, after a barrier) and says whether
    /// the device wants a notification for it (2.7.10, 2.7.14).
    pub(crate) fn publish(&mut self) -> bool {
        let Some((slot, flags)) = self.first.take() else {
            return false;
        };
        // 2.7.21.3.1: everything else the batch wrote must be visible before the first flags.
        fence(Ordering::Release);
        self.ring.get(usize::from(slot)).flags().set(flags);
        // The flags must be visible before the device's event suppression is read (a store
        // then a load: only a full barrier orders them; 2.7.21.3.2 asks for it).
        fence(Ordering::SeqCst);
        let event = self.device_event();
        let mode = match event.flags().read_as_enum(packed_event::FLAGS::MODE) {
            Some(packed_event::FLAGS::MODE::Value::Disable) => EventMode::Disable,
            Some(packed_event::FLAGS::MODE::Value::Desc) if self.event_idx => EventMode::Desc {
                offset: event.desc().read(packed_event::DESC::OFFSET),
                wrap: event.desc().is_set(packed_event::DESC::WRAP),
            },
            // ENABLE, and what a device may not say (DESC without EVENT_IDX, the reserved value
            // 3): notify, which is never wrong.
            _ => EventMode::Enable,
        };
        self.idx.wants_notification(mode)
    }

    /// Whether the device has written the descriptor at the used position (2.7.1).
    #[inline]
    pub(crate) fn has_used(&self) -> bool {
        let flags = self
            .ring
            .get(usize::from(self.idx.next_used))
            .flags()
            .extract();
        self.idx
            .is_used(flags.is_set(FLAGS::AVAIL), flags.is_set(FLAGS::USED))
    }

    /// Turns used buffer notifications on or off in the driver event suppression structure
    /// (2.7.10, 2.7.14): on is DESC at the used position and its wrap counter with
    /// VIRTIO_F_EVENT_IDX (the device notifies when it writes that descriptor), ENABLE without;
    /// off is DISABLE.
    pub(crate) fn set_used_notifications(&mut self, on: bool) -> crate::Result<()> {
        let event = self.driver_event();
        if !on {
            event.flags().write(packed_event::FLAGS::MODE::DISABLE);
        } else if self.event_idx {
            let wrap = if self.idx.used_wrap {
                packed_event::DESC::WRAP::SET
            } else {
                packed_event::DESC::WRAP::CLEAR
            };
            // The position first: the mode makes it count (2.7.21.3.2's order for the device's
            // side, kept here).
            event
                .desc()
                .write(packed_event::DESC::OFFSET::val_checked(self.idx.next_used)? + wrap);
            fence(Ordering::Release);
            event.flags().write(packed_event::FLAGS::MODE::DESC);
        } else {
            event.flags().write(packed_event::FLAGS::MODE::ENABLE);
        }
        Ok(())
    }

    /// The next used buffer, if the device has written one (2.7.1, 2.7.9): `Ok` with its id and
    /// length, or `Err` with what the device wrote when the id names no outstanding buffer (the
    /// descriptor is skipped as one).
    pub(crate) fn pop_used(&mut self) -> Option<std::result::Result<UsedElem, UsedElem>> {
        let desc = self.ring.get(usize::from(self.idx.next_used));
        let flags = desc.flags().extract();
        if !self
            .idx
            .is_used(flags.is_set(FLAGS::AVAIL), flags.is_set(FLAGS::USED))
        {
            return None;
        }
        // The id and length were written before the flags (2.7.21.3): read them after.
        fence(Ordering::Acquire);
        let entry = UsedElem {
            id: u32::from(desc.id().get()),
            len: desc.len().get(),
        };
        match self.chain_len.get_mut(entry.id as usize) {
            Some(n) if *n != 0 && self.idx.take_used(*n) => {
                *n = 0;
                Some(Ok(entry))
            }
            _ => {
                // A lie: skip the one descriptor, keep the rest of the bookkeeping.
                self.idx.take_used(1);
                Some(Err(entry))
            }
        }
    }

    /// A bus over `len` bytes of the scratch space at `offset`.
    ///
    /// # Safety
    /// As [`super::queue::Virtqueue::scratch`].
    pub(crate) unsafe fn scratch(&self, offset: usize, len: usize) -> crate::regs::Mmio {
        // SAFETY: the caller keeps the window inside the region and within the queue's life.
        unsafe { crate::regs::Mmio::new(self.at(self.scratch_offset() + offset), len) }
    }

    /// Device address of byte `offset` of the scratch space.
    pub(crate) fn scratch_device_addr(&self, offset: usize) -> Option<u64> {
        self.region().device_addr(self.scratch_offset() + offset)
    }
}
