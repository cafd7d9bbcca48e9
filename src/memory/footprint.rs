//! What a device's queues cost in DMA memory, counted from the regions its driver holds.
//!
//! # The footprint of a queue
//!
//! An 82599 receive queue holds a descriptor ring of `rx_ring_size` descriptors of 16 bytes
//! (datasheet 7.1.5) and a mempool of [`crate::Config::rx_mempool_size`] buffers of
//! `buffer_size` bytes; a transmit queue holds a ring of `tx_ring_size` 16-byte descriptors and no
//! pool (it sends the buffers of the application's pools). Each region is rounded up by its
//! allocator to its granule: the base page (4 KiB) for anonymous memory and the simulator, 2 MiB
//! for huge pages. With the defaults (rings of 512, a pool of 2 × 512 = 1024 buffers of
//! 4096 bytes) and 4 KiB pages:
//!
//! | part                 | bytes                        |
//! |----------------------|------------------------------|
//! | receive ring         | 512 × 16 = 8 KiB             |
//! | receive pool         | 1024 × 4096 = 4 MiB          |
//! | transmit ring        | 512 × 16 = 8 KiB             |
//! | one queue pair       | 4 MiB + 16 KiB = 4.02 MiB    |
//!
//! Memory grows linearly in the queue counts, the ring sizes and the pool size × buffer size;
//! [`crate::Config::memory_bound`] is that sum for a configuration, and
//! [`crate::Device::memory`] never exceeds it for an 82599. With huge pages each ring takes a
//! whole 2 MiB page, so a queue pair costs 8 MiB with the defaults.
//!
//! A legacy virtio-net device chooses its queue sizes itself (VirtIO 1.0 4.1.4.5.1.1): its
//! rings hold the descriptor table, the available and the used ring in one region, its pool has
//! at least two buffers per receive entry, and its control queue (when negotiated) is counted
//! with the transmit queue; the configuration bounds only the pool's buffer size there.

use std::fmt;

/// The DMA memory of one receive or transmit queue, as allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueMemory {
    /// Descriptors in the ring.
    pub ring_entries: usize,
    /// Bytes of the ring's region(s), with the allocator's rounding.
    pub ring_bytes: usize,
    /// Buffers in the queue's own mempool (0 for a transmit queue).
    pub pool_buffers: usize,
    /// Bytes of each buffer.
    pub buffer_size: usize,
    /// Bytes of the mempool's region, with the allocator's rounding (0 without a pool).
    pub pool_bytes: usize,
}

impl QueueMemory {
    /// Ring and pool bytes together.
    pub fn total(&self) -> usize {
        self.ring_bytes + self.pool_bytes
    }
}

/// The DMA memory a device holds, per queue ([`crate::Device::memory`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryFootprint {
    /// One entry per receive queue, in queue order.
    pub rx: Vec<QueueMemory>,
    /// One entry per transmit queue, in queue order.
    pub tx: Vec<QueueMemory>,
}

impl MemoryFootprint {
    /// Bytes of DMA memory over all queues.
    pub fn total(&self) -> usize {
        self.rx.iter().chain(&self.tx).map(QueueMemory::total).sum()
    }
}

/// `bytes` for people: `B`, `KiB` (whole) or `MiB` (two decimals).
pub fn format_bytes(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB {
        format!("{:.2} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

/// One part of the summary: `n x (ring R + pool P)`, grouping identical queues.
fn queues(out: &mut fmt::Formatter<'_>, what: &str, list: &[QueueMemory]) -> fmt::Result {
    write!(out, "{what}")?;
    let mut i = 0;
    while i < list.len() {
        let q = list[i];
        let same = list[i..].iter().take_while(|o| **o == q).count();
        let sep = if i == 0 { " " } else { " + " };
        write!(out, "{sep}{same} x (ring {}", format_bytes(q.ring_bytes))?;
        if q.pool_bytes > 0 {
            write!(out, " + pool {}", format_bytes(q.pool_bytes))?;
        }
        write!(out, ")")?;
        i += same;
    }
    Ok(())
}

/// `2 queues, rx 1 x (ring 8 KiB + pool 4.00 MiB), tx 1 x (ring 8 KiB), 4.02 MiB of DMA memory`.
impl fmt::Display for MemoryFootprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} queues, ", self.rx.len() + self.tx.len())?;
        queues(f, "rx", &self.rx)?;
        write!(f, ", ")?;
        queues(f, "tx", &self.tx)?;
        write!(f, ", {} of DMA memory", format_bytes(self.total()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes_and_summaries() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(8192), "8 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(4 << 20), "4.00 MiB");
        let rx = QueueMemory {
            ring_entries: 512,
            ring_bytes: 8192,
            pool_buffers: 1024,
            buffer_size: 4096,
            pool_bytes: 4 << 20,
        };
        let tx = QueueMemory {
            ring_entries: 512,
            ring_bytes: 8192,
            ..QueueMemory::default()
        };
        let m = MemoryFootprint {
            rx: vec![rx, rx],
            tx: vec![tx],
        };
        assert_eq!(m.total(), 2 * (8192 + (4 << 20)) + 8192);
        assert_eq!(
            m.to_string(),
            "3 queues, rx 2 x (ring 8 KiB + pool 4.00 MiB), tx 1 x (ring 8 KiB), 8.02 MiB of DMA memory"
        );
    }
}
