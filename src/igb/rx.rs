//! The receive queue and batched receive (datasheet 7.1): poll the DD bit of the write-back
//! descriptors, hand whole frames over, post fresh buffers, move the tail once per batch.
//!
//! The walk is the one of `src/ixgbe/rx.rs` over the 82576's own descriptor layout (its RXE
//! error bit sits elsewhere); the ring memory and index arithmetic are shared.

use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use crate::config::QueueCounters;
use crate::error::IdleBatches;
use crate::memory::{DescRing, DmaAllocator, Mempool, Packet};
use crate::regs::Bus;
use crate::regs::igb::adv_rx_desc::written_back::STATUS_ERROR;
use crate::regs::igb::{self, AdvRxDesc, Registers};
use crate::ring::RingSize;
use crate::{Error, Result};

/// The receive queue: its descriptor ring, the packets posted to it and their pool.
pub(super) struct RxRing {
    pub(super) queue: igb::RxQueue,
    pub(super) ring: DescRing<AdvRxDesc>,
    /// The packet whose buffer descriptor `i` points to.
    pub(super) posted: Vec<Packet>,
    pub(super) pool: Mempool,
    /// Fresh buffers taken from the pool a batch at a time. Capacity: the ring size.
    spare: Vec<Packet>,
    /// The next descriptor the device will write back.
    next: usize,
    /// Bytes the device may write into one buffer (SRRCTL.BSIZEPACKET).
    pub(super) nic_buffer: usize,
    /// Inside a frame being dropped (the last descriptor seen had no EOP).
    dropping: bool,
    idle: IdleBatches,
}

impl RxRing {
    /// The memory of receive queue `queue`: a ring of `size` descriptors at RDBAL's alignment,
    /// a pool of `pool_size` buffers of `buffer_size` bytes, and a buffer posted in every
    /// descriptor in the read format (7.1.5.2).
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: igb::RxQueue,
        size: RingSize,
        pool_size: usize,
        buffer_size: usize,
        nic_buffer: usize,
    ) -> Result<Self> {
        let ring = DescRing::<AdvRxDesc>::new(dma, size, igb::RING_BASE_ALIGN)?;
        let pool = Mempool::new(dma, pool_size, buffer_size)?;
        let mut posted = Vec::with_capacity(size.get());
        for slot in 0..size.get() {
            let packet = pool.alloc().ok_or_else(|| Error::InvalidConfig {
                problem: format!(
                    "the receive mempool of {} buffers ran out filling a ring of {}",
                    pool.capacity(),
                    size
                ),
            })?;
            let desc = ring.get(slot);
            desc.to_device().pkt_addr().set(packet.device_addr());
            desc.to_device().hdr_addr().set(0);
            posted.push(packet);
        }
        Ok(RxRing {
            queue,
            ring,
            posted,
            pool,
            spare: Vec::with_capacity(size.get()),
            next: 0,
            nic_buffer,
            dropping: false,
            idle: IdleBatches::default(),
        })
    }

    /// The packets the queue holds: one posted in each descriptor, and the spares.
    pub(super) fn held(&self) -> impl Iterator<Item = &Packet> {
        self.posted.iter().chain(self.spare.iter())
    }

    /// Receives up to `max` packets into `out`; returns how many, and whether the health check
    /// is due (an empty batch, at [`IdleBatches`]' cadence).
    #[inline]
    pub(super) fn rx_batch<B: Bus, E: Extend<Packet>>(
        &mut self,
        regs: &Registers<B>,
        counters: &QueueCounters,
        out: &mut E,
        max: usize,
    ) -> Result<(usize, bool)> {
        let size = self.ring.size();
        // 7.1.8: the device owns head..tail-1, so the driver gets back at most size - 1.
        crate::config::check_rx_batch(max, size.get(), size.get() - 1)?;
        if self.spare.len() < max {
            let want = max - self.spare.len();
            self.pool.alloc_bulk(&mut self.spare, want);
        }
        let mut index = self.next;
        let (mut consumed, mut received, mut bytes, mut errors) = (0usize, 0usize, 0u64, 0u64);
        while consumed < max {
            let desc = self.ring.get(index);
            // 7.1.5.2: the device sets DD once it has written the descriptor back; the driver
            // polls memory, never RDH.
            let status = desc.written_back().status_error().extract();
            if !status.is_set(STATUS_ERROR::DD) {
                break;
            }
            // The rest of the write-back is read only after DD was seen set.
            fence(Ordering::Acquire);
            let length = usize::from(desc.written_back().pkt_len().get());
            let eop = status.is_set(STATUS_ERROR::EOP);
            let whole = eop
                && !self.dropping
                && !status.is_set(STATUS_ERROR::RXE)
                && length <= self.nic_buffer;
            if whole {
                // A fresh buffer replaces the received one first; with the pool empty the
                // descriptor waits for the next batch.
                let Some(fresh) = self.spare.pop() else {
                    break;
                };
                // 7.1.5.2: the read format hands the buffer over; a zero header address also
                // clears DD, which shares its bit.
                desc.to_device().pkt_addr().set(fresh.device_addr());
                desc.to_device().hdr_addr().set(0);
                let mut packet = std::mem::replace(&mut self.posted[index], fresh);
                index = size.next(index);
                consumed += 1;
                if packet.set_len(length).is_ok() {
                    received += 1;
                    bytes += length as u64;
                    out.extend(Some(packet));
                } else {
                    errors += 1;
                }
            } else {
                // Dropped: the same buffer goes back into the same descriptor.
                desc.to_device()
                    .pkt_addr()
                    .set(self.posted[index].device_addr());
                desc.to_device().hdr_addr().set(0);
                if !self.dropping {
                    errors += 1;
                }
                self.dropping = !eop;
                index = size.next(index);
                consumed += 1;
            }
        }
        if consumed > 0 {
            // 7.1.8: the tail moves to the last descriptor processed, so the one after it stays
            // the driver's and the tail never meets the head.
            let last = size.advance(index, size.get() - 1);
            self.next = index;
            // The new buffer addresses must be visible before the tail hands them over.
            fence(Ordering::Release);
            regs.rdt(self.queue).set(last as u32);
            counters.add(received as u64, bytes, errors);
        }
        Ok((received, self.idle.record(consumed > 0)))
    }
}
