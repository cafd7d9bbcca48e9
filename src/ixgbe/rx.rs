//! A receive queue and batched receive (datasheet 7.1): poll the DD bit of the write-back
//! descriptors, hand the packets over, post fresh buffers, and move the tail once per batch.

use tock_registers::interfaces::Writeable;

use super::interrupts::RxInterrupt;
use super::queue::Shared;
use crate::Result;
use crate::adv::RxBuffers;
use crate::error::IdleBatches;
use crate::memory::{DmaAllocator, Packet};
use crate::regs::Bus;
use crate::regs::ixgbe::{self, AdvRxDesc, Registers};
use crate::ring::RingSize;

/// One receive queue: its ring with the posted buffers and their pool ([`RxBuffers`], which
/// it dereferences to), and what is the 82599's own: the queue, the health check's count, the
/// interrupt vector.
pub(super) struct RxRing {
    pub(super) queue: ixgbe::RxQueue,
    pub(super) buffers: RxBuffers<AdvRxDesc>,
    /// Batches in a row that found nothing (for the health check).
    pub(super) idle: IdleBatches,
    /// The queue's interrupt vector, with interrupts on (`interrupts.rs`).
    pub(super) irq: Option<RxInterrupt>,
}

impl std::ops::Deref for RxRing {
    type Target = RxBuffers<AdvRxDesc>;
    fn deref(&self) -> &Self::Target {
        &self.buffers
    }
}

impl RxRing {
    /// The memory of receive queue `queue` (4.6.7: memory before any register is written): a
    /// ring of `size` descriptors at the base alignment RDBAL needs, a pool of `pool_size`
    /// buffers of `buffer_size` bytes, and a buffer posted in every descriptor in the read
    /// format (7.1.6.1). The device may write `nic_buffer` bytes into each
    /// (SRRCTL.BSIZEPACKET). The tail will hand over all but the last descriptor (the device
    /// owns head..tail-1, 7.1.9).
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: ixgbe::RxQueue,
        size: RingSize,
        pool_size: usize,
        buffer_size: usize,
        nic_buffer: usize,
    ) -> Result<Self> {
        Ok(RxRing {
            queue,
            buffers: RxBuffers::new(
                dma,
                size,
                ixgbe::RING_BASE_ALIGN,
                pool_size,
                buffer_size,
                nic_buffer,
            )?,
            idle: IdleBatches::default(),
            irq: None,
        })
    }

    /// Receives up to `max` packets from this queue into `out`; returns how many. `regs` are
    /// the port's registers, `shared` what the port and its queue handles share.
    ///
    /// Only a frame the device wrote whole into one buffer is handed out ([`RxBuffers::receive`]:
    /// a frame spread over several descriptors, a length beyond the buffer or a MAC error is
    /// dropped and counted once in the queue's errors). `max` must be less than the ring size.
    ///
    /// A device that has gone away or reset itself is reported once a batch comes back empty:
    /// [`Error::DeviceRemoved`] or [`Error::DeviceReset`], from then on for every batch of
    /// every queue.
    ///
    /// [`Error::DeviceRemoved`]: crate::Error::DeviceRemoved
    /// [`Error::DeviceReset`]: crate::Error::DeviceReset
    #[inline]
    pub(super) fn rx_batch<B: Bus, E: Extend<Packet>>(
        &mut self,
        regs: &Registers<B>,
        shared: &Shared,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        shared.check_running()?;
        let batch = self.buffers.receive(out, max)?;
        if let Some(tail) = batch.tail {
            // 7.1.9: the tail moves to the last descriptor processed (the fence was issued).
            regs.rdt(self.queue).set(tail);
            let counters = &shared.rx_counters[self.queue.get()];
            counters.notified();
            counters.add(batch.received as u64, batch.bytes, batch.errors);
        }
        if self.idle.record(batch.tail.is_some()) {
            shared.check_rx_queue(regs, self.queue)?;
        }
        Ok(batch.received)
    }
}
