//! A receive queue and batched receive (datasheet 7.1): poll the DD bit of the write-back
//! descriptors, hand the packets over, post fresh buffers, and move the tail once per batch.

use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::interrupts::RxInterrupt;
use super::queue::Shared;
use crate::error::IdleBatches;
use crate::memory::{DescRing, DmaAllocator, Mempool, Packet};
use crate::regs::Bus;
use crate::regs::ixgbe::adv_rx_desc::written_back::STATUS_ERROR;
use crate::regs::ixgbe::{self, AdvRxDesc, Registers};
use crate::ring::RingSize;
use crate::{Error, Result};

/// One receive queue: its descriptor ring, the packets posted to it and the pool they come from.
pub(super) struct RxRing {
    pub(super) queue: ixgbe::RxQueue,
    pub(super) ring: DescRing<AdvRxDesc>,
    /// The packet whose buffer descriptor `i` points to.
    pub(super) posted: Vec<Packet>,
    pub(super) pool: Mempool,
    /// Fresh buffers taken from the pool a batch at a time (one lock of the pool per batch),
    /// each replacing a received one in its descriptor. Capacity: the ring size.
    pub(super) spare: Vec<Packet>,
    /// The next descriptor the device will write back.
    pub(super) next: usize,
    /// Bytes the device may write into one buffer (SRRCTL.BSIZEPACKET).
    pub(super) nic_buffer: usize,
    /// Inside a frame being dropped: the last descriptor seen had no EOP, so the ones after it
    /// up to the next EOP belong to the same frame.
    pub(super) dropping: bool,
    /// Batches in a row that found nothing (for the health check).
    pub(super) idle: IdleBatches,
    /// The queue's interrupt vector, with interrupts on (`interrupts.rs`).
    pub(super) irq: Option<RxInterrupt>,
}

impl RxRing {
    /// The memory of receive queue `queue` (4.6.7: memory before any register is written): a ring of
    /// `size` descriptors at the base alignment RDBAL needs, a pool of `pool_size` buffers of
    /// `buffer_size` bytes, and a buffer posted in every descriptor in the read format
    /// (7.1.6.1). The device may write `nic_buffer` bytes into each (SRRCTL.BSIZEPACKET).
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: ixgbe::RxQueue,
        size: RingSize,
        pool_size: usize,
        buffer_size: usize,
        nic_buffer: usize,
    ) -> Result<Self> {
        let ring = DescRing::<AdvRxDesc>::new(dma, size, ixgbe::RING_BASE_ALIGN)?;
        let pool = Mempool::new(dma, pool_size, buffer_size)?;
        // Every descriptor gets a buffer; the tail will hand over all but the last (the device
        // owns head..tail-1, so at most N-1 descriptors are the device's, 7.1.9).
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
            irq: None,
        })
    }
}

impl RxRing {
    /// The packets the queue holds: one posted in each descriptor, and the spares.
    pub(super) fn held(&self) -> impl Iterator<Item = &Packet> {
        self.posted.iter().chain(self.spare.iter())
    }

    /// Receives up to `max` packets from this queue into `out`; returns how many. `regs` are
    /// the port's registers, `shared` what the port and its queue handles share.
    ///
    /// Only a frame the device wrote whole into one buffer is handed out. A write-back the
    /// driver cannot trust is dropped and counted once in the queue's errors: a frame spread
    /// over several descriptors (every descriptor up to and including the one with EOP goes,
    /// even across batches), a length beyond the buffer, or a MAC error. A dropped buffer goes
    /// straight back to its descriptor, so dropping never needs the pool. `max` must be less
    /// than the ring size.
    ///
    /// A device that has gone away or reset itself is reported once a batch comes back empty:
    /// [`Error::DeviceRemoved`] or [`Error::DeviceReset`], from then on for every batch of
    /// every queue.
    #[inline]
    pub(super) fn rx_batch<B: Bus, E: Extend<Packet>>(
        &mut self,
        regs: &Registers<B>,
        shared: &Shared,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        shared.check_running()?;
        let size = self.ring.size();
        // 7.1.9: the device owns head..tail-1, so the driver gets back at most size - 1.
        crate::config::check_rx_batch(max, size.get(), size.get() - 1)?;
        // Fresh buffers for every descriptor this batch may take, in one go.
        if self.spare.len() < max {
            let want = max - self.spare.len();
            self.pool.alloc_bulk(&mut self.spare, want);
        }
        let mut progress = Progress {
            index: self.next,
            consumed: 0,
            received: 0,
            bytes: 0,
            errors: 0,
            stopped: false,
        };
        let walk = Walk {
            rx: &mut *self,
            size,
            max,
            progress: &mut progress,
        };
        // One `extend` per batch: the packets go to the caller as the walk yields them.
        out.extend(walk);
        let Progress {
            index,
            consumed,
            received,
            bytes,
            errors,
            ..
        } = progress;
        if consumed > 0 {
            // 7.1.9: the device owns head..tail-1; the tail moves to the last descriptor
            // processed, so the one after it stays the driver's and tail never meets head.
            let last = size.advance(index, size.get() - 1);
            self.next = index;
            // The new buffer addresses must be visible before the tail hands them over.
            fence(Ordering::Release);
            regs.rdt(self.queue).set(last as u32);
            shared.rx_counters[self.queue.get()].notified();
            shared.rx_counters[self.queue.get()].add(received as u64, bytes, errors);
        }
        if self.idle.record(consumed > 0) {
            shared.check_rx_queue(regs, self.queue)?;
        }
        Ok(received)
    }
}

/// The walk of one receive batch over the written-back descriptors, yielding each whole frame
/// as a packet; it stops for good at the first descriptor it cannot take.
struct Walk<'a> {
    rx: &'a mut RxRing,
    size: RingSize,
    max: usize,
    progress: &'a mut Progress,
}

/// How far a [`Walk`] got.
struct Progress {
    /// The next descriptor to look at.
    index: usize,
    /// Descriptors taken from the device so far (received or dropped).
    consumed: usize,
    /// Packets yielded so far.
    received: usize,
    /// Their bytes.
    bytes: u64,
    /// Frames dropped so far.
    errors: u64,
    /// The walk met a descriptor it cannot take.
    stopped: bool,
}

impl Iterator for Walk<'_> {
    type Item = Packet;

    #[inline(always)]
    fn next(&mut self) -> Option<Packet> {
        while !self.progress.stopped && self.progress.consumed < self.max {
            let desc = self.rx.ring.get(self.progress.index);
            // 7.1.6.2: the device sets DD in the write-back once the descriptor is done. The
            // driver polls memory, never RDH (which may run ahead of the write-back).
            let status = desc.written_back().status_error().extract();
            if !status.is_set(STATUS_ERROR::DD) {
                self.progress.stopped = true;
                break;
            }
            // Read the rest of the write-back only after DD was seen set.
            fence(Ordering::Acquire);
            let length = usize::from(desc.written_back().pkt_len().get());
            let eop = status.is_set(STATUS_ERROR::EOP);
            // A whole frame: its only descriptor (EOP, and the one before ended a frame
            // too), no MAC error (RXE is valid with EOP), and no more bytes than
            // BSIZEPACKET allows (`nic_buffer` never exceeds the buffer).
            let whole = eop
                && !self.rx.dropping
                && !status.is_set(STATUS_ERROR::RXE)
                && length <= self.rx.nic_buffer;
            // 7.1.6.1: the read format gives the device a buffer; a zero header address
            // also clears DD, which shares its bit.
            if whole {
                // A fresh buffer replaces the received one before anything is handed
                // out; with the pool empty the descriptor waits for the next batch.
                let Some(fresh) = self.rx.spare.pop() else {
                    self.progress.stopped = true;
                    break;
                };
                desc.to_device().pkt_addr().set(fresh.device_addr());
                desc.to_device().hdr_addr().set(0);
                // SAFETY: `posted` holds one packet per descriptor (`new` fills all `size` of
                // them and nothing resizes it), and `index` is a ring index, below `size`.
                let slot = unsafe { self.rx.posted.get_unchecked_mut(self.progress.index) };
                let mut packet = std::mem::replace(slot, fresh);
                self.progress.index = self.size.next(self.progress.index);
                self.progress.consumed += 1;
                // The length fits the buffer (checked above), so this holds.
                if packet.set_len(length).is_ok() {
                    self.progress.received += 1;
                    self.progress.bytes += length as u64;
                    return Some(packet);
                }
                self.progress.errors += 1;
            } else {
                // Dropped: the buffer stays posted, the device gets it back in the same
                // descriptor (every descriptor holds a packet from init on).
                desc.to_device()
                    .pkt_addr()
                    .set(self.rx.posted[self.progress.index].device_addr());
                desc.to_device().hdr_addr().set(0);
                // The first descriptor of a bad frame counts it; a frame that goes on (no
                // EOP) keeps the descriptors after it dropped, up to its EOP.
                if !self.rx.dropping {
                    self.progress.errors += 1;
                }
                self.rx.dropping = !eop;
                self.progress.index = self.size.next(self.progress.index);
                self.progress.consumed += 1;
            }
        }
        None
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.max - self.progress.consumed))
    }
}
