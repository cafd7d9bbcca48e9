//! The receive queue and batched receive (datasheet 7.1): poll the DD bit of the write-back
//! descriptors, hand whole frames over, post fresh buffers, move the tail once per batch.
//!
//! The walk and the ring of posted buffers are the ones the 82599 uses too ([`crate::adv`]),
//! over the 82576's own descriptor layout (its RXE error bit sits elsewhere).

use tock_registers::interfaces::Writeable;

use crate::Result;
use crate::adv::RxBuffers;
use crate::config::QueueCounters;
use crate::error::IdleBatches;
use crate::memory::{DmaAllocator, Packet};
use crate::regs::Bus;
use crate::regs::igb::{self, AdvRxDesc, Registers};
use crate::ring::RingSize;

/// The receive queue: its ring with the posted buffers and their pool ([`RxBuffers`], which it
/// dereferences to), the queue, and the health check's count.
pub(super) struct RxRing {
    pub(super) queue: igb::RxQueue,
    pub(super) buffers: RxBuffers<AdvRxDesc>,
    idle: IdleBatches,
}

impl std::ops::Deref for RxRing {
    type Target = RxBuffers<AdvRxDesc>;
    fn deref(&self) -> &Self::Target {
        &self.buffers
    }
}

impl RxRing {
    /// The memory of receive queue `queue`: a ring of `size` descriptors at RDBAL's alignment,
    /// a pool of `pool_size` buffers of `buffer_size` bytes, and a buffer posted in every
    /// descriptor in the read format (7.1.5.1).
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: igb::RxQueue,
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
                igb::RING_BASE_ALIGN,
                pool_size,
                buffer_size,
                nic_buffer,
            )?,
            idle: IdleBatches::default(),
        })
    }

    /// Receives up to `max` packets into `out` ([`RxBuffers::receive`]); returns how many, and
    /// whether the health check is due (an empty batch, at [`IdleBatches`]' cadence).
    #[inline]
    pub(super) fn rx_batch<B: Bus, E: Extend<Packet>>(
        &mut self,
        regs: &Registers<B>,
        counters: &QueueCounters,
        out: &mut E,
        max: usize,
    ) -> Result<(usize, bool)> {
        let batch = self.buffers.receive(out, max)?;
        if let Some(tail) = batch.tail {
            // 7.1.8: the tail moves to the last descriptor processed (the fence was issued).
            regs.rdt(self.queue).set(tail);
            counters.add(batch.received as u64, batch.bytes, batch.errors);
        }
        Ok((batch.received, self.idle.record(batch.tail.is_some())))
    }
}
