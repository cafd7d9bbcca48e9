//! Where the parts of one split virtqueue lie in memory, in the legacy layout (VirtIO 1.0
//! sections 2.4 and 4.1.4.8): the descriptor table, then the available ring, then, at the next
//! `LEGACY_QUEUE_ALIGN` boundary, the used ring. The device learns only the queue's first page
//! (`QUEUE_PFN`) and derives the rest from the queue size, so the driver must lay it out exactly
//! so. Every size here comes from `registers/virtio.toml`.

use crate::regs::virtio::{
    LEGACY_QUEUE_ALIGN, MAX_QUEUE_SIZE, virtq_avail, virtq_avail_elem, virtq_desc, virtq_event,
    virtq_used, virtq_used_elem,
};

/// Byte offsets of the parts of a legacy split virtqueue of `size` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtqLayout {
    /// Entries in the queue (a power of two).
    pub size: u16,
    /// The descriptor table (section 2.4.5), at the start.
    pub desc: usize,
    /// The available ring's header: flags and idx (section 2.4.6).
    pub avail: usize,
    /// The available ring's entries.
    pub avail_ring: usize,
    /// `used_event`, after the available ring's entries.
    pub used_event: usize,
    /// The used ring's header, at the first aligned offset after the available ring (2.4.8).
    pub used: usize,
    /// The used ring's entries.
    pub used_ring: usize,
    /// `avail_event`, after the used ring's entries.
    pub avail_event: usize,
    /// Bytes the whole queue needs, a multiple of the alignment.
    pub total: usize,
}

const fn align_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

impl VirtqLayout {
    /// The layout of a queue of `size` entries; `None` unless `size` is a power of two no
    /// larger than the specification allows (section 2.4: "Queue Size ... a power of 2").
    pub fn new(size: u16) -> Option<Self> {
        if !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return None;
        }
        let n = usize::from(size);
        let desc = 0;
        let avail = desc + virtq_desc::SIZE * n;
        let avail_ring = avail + virtq_avail::SIZE;
        let used_event = avail_ring + virtq_avail_elem::SIZE * n;
        let used = align_up(used_event + virtq_event::SIZE, LEGACY_QUEUE_ALIGN);
        let used_ring = used + virtq_used::SIZE;
        let avail_event = used_ring + virtq_used_elem::SIZE * n;
        let total = align_up(avail_event + virtq_event::SIZE, LEGACY_QUEUE_ALIGN);
        Some(Self {
            size,
            desc,
            avail,
            avail_ring,
            used_event,
            used,
            used_ring,
            avail_event,
            total,
        })
    }
}
