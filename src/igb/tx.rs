//! The transmit queue and batched transmit (datasheet 7.2): clean completed batches, place new
//! packets in advanced data descriptors, move the tail once per batch.
//!
//! The bookkeeping (one RS per batch, a packet slot per descriptor) is the one the 82599 uses
//! too ([`crate::adv`]), over the 82576's descriptor layout.

use std::collections::VecDeque;

use tock_registers::interfaces::Writeable;

use crate::Result;
use crate::adv::TxSlots;
use crate::config::QueueCounters;
use crate::error::IdleBatches;
use crate::memory::{DmaAllocator, DmaDomain, Packet};
use crate::regs::Bus;
use crate::regs::igb::{self, AdvTxDesc, MIN_TX_PAYLEN, Registers};
use crate::ring::RingSize;

// 7.1.5 and 7.2.2.3: the 82576's advanced receive and transmit descriptors, as the shared
// code reads and writes them (RXE is bit 31 of the write-back's status; `registers/igb.toml`).
crate::adv::advanced_descriptors!(crate::regs::igb, MIN_TX_PAYLEN);

/// The transmit queue: its ring with the packets in flight ([`TxSlots`], which it
/// dereferences to), the queue, and the health check's count.
pub(super) struct TxRing {
    pub(super) queue: igb::TxQueue,
    pub(super) slots: TxSlots<AdvTxDesc>,
    idle: IdleBatches,
}

impl std::ops::Deref for TxRing {
    type Target = TxSlots<AdvTxDesc>;
    fn deref(&self) -> &Self::Target {
        &self.slots
    }
}

impl TxRing {
    /// The memory of transmit queue `queue`: a zeroed ring of `size` descriptors.
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: igb::TxQueue,
        size: RingSize,
    ) -> Result<Self> {
        Ok(TxRing {
            queue,
            slots: TxSlots::new(dma, size, igb::RING_BASE_ALIGN)?,
            idle: IdleBatches::default(),
        })
    }

    /// Sends packets from the front of `packets` ([`TxSlots::send`]); returns how many it took
    /// and whether the health check is due (a batch that took nothing, at [`IdleBatches`]'
    /// cadence).
    #[inline]
    pub(super) fn tx_batch<B: Bus>(
        &mut self,
        regs: &Registers<B>,
        counters: &QueueCounters,
        domain: DmaDomain,
        name: &str,
        packets: &mut VecDeque<Packet>,
    ) -> Result<(usize, bool)> {
        // 7.2.3: at most N-1 descriptors are the device's.
        let batch = self.slots.send(packets, domain, name)?;
        if let Some(tail) = batch.tail {
            regs.tdt(self.queue).set(tail);
        }
        if batch.taken > 0 {
            counters.add(batch.taken as u64 - batch.errors, batch.bytes, batch.errors);
        }
        Ok((batch.taken, self.idle.record(batch.taken > 0)))
    }
}
