//! A transmit queue and batched transmit (datasheet 7.2): clean completed batches, place new
//! packets, and move the tail once per batch.

use std::collections::VecDeque;

use tock_registers::interfaces::Writeable;

use super::queue::Shared;
use crate::Result;
use crate::adv::TxSlots;
use crate::error::IdleBatches;
use crate::memory::{DmaAllocator, Packet};
use crate::regs::Bus;
use crate::regs::ixgbe::{self, AdvTxDesc, MIN_TX_PAYLEN, Registers};
use crate::ring::RingSize;

// 7.1.6 and 7.2.3.2.4: the 82599's advanced receive and transmit descriptors, as the shared
// code reads and writes them (RXE is bit 29 of the write-back's status; `registers/ixgbe.toml`).
crate::adv::advanced_descriptors!(crate::regs::ixgbe, MIN_TX_PAYLEN);

/// One transmit queue: its ring with the packets in flight ([`TxSlots`], which it dereferences
/// to), the queue, and the health check's count.
pub(super) struct TxRing {
    pub(super) queue: ixgbe::TxQueue,
    pub(super) slots: TxSlots<AdvTxDesc>,
    /// Batches in a row that took nothing (for the health check).
    pub(super) idle: IdleBatches,
}

impl std::ops::Deref for TxRing {
    type Target = TxSlots<AdvTxDesc>;
    fn deref(&self) -> &Self::Target {
        &self.slots
    }
}

impl TxRing {
    /// The memory of transmit queue `queue` (4.6.8: memory before any register is written): a
    /// zeroed ring of `size` descriptors at the base alignment TDBAL needs.
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: ixgbe::TxQueue,
        size: RingSize,
    ) -> Result<Self> {
        Ok(TxRing {
            queue,
            slots: TxSlots::new(dma, size, ixgbe::RING_BASE_ALIGN)?,
            idle: IdleBatches::default(),
        })
    }

    /// Sends packets from the front of `packets` on this queue; returns how many it took.
    /// `regs` are the port's registers, `shared` what the port and its queue handles share.
    /// Packets that do not fit the ring stay in `packets`, in order. A packet too short or too
    /// long for a descriptor is taken, dropped and counted in the queue's errors. If one of the
    /// packets the ring could take comes from a pool in memory the device does not reach
    /// ([`Ixgbe::dma_domain`](super::Ixgbe::dma_domain)), nothing is taken: the error names it
    /// and every packet stays in `packets`. Only the last descriptor of a batch asks for a
    /// status write-back (RS, 7.2.3.5.1), so one DD check frees a whole batch.
    ///
    /// A device that has gone away or reset itself is reported once a batch takes nothing (the
    /// ring is full, or there was nothing to send): [`Error::DeviceRemoved`] or
    /// [`Error::DeviceReset`], from then on for every batch of every queue. The packets it
    /// holds are freed when the driver is dropped.
    ///
    /// [`Error::DeviceRemoved`]: crate::Error::DeviceRemoved
    /// [`Error::DeviceReset`]: crate::Error::DeviceReset
    #[inline]
    pub(super) fn tx_batch<B: Bus>(
        &mut self,
        regs: &Registers<B>,
        shared: &Shared,
        packets: &mut VecDeque<Packet>,
    ) -> Result<usize> {
        shared.check_running()?;
        // 7.2.3.3: at most N-1 descriptors are handed over.
        let batch = self.slots.send(packets, shared.domain, &shared.name)?;
        if let Some(tail) = batch.tail {
            regs.tdt(self.queue).set(tail);
            shared.tx_counters[self.queue.get()].notified();
        }
        if batch.taken > 0 {
            let sent = batch.taken as u64 - batch.errors;
            shared.tx_counters[self.queue.get()].add(sent, batch.bytes, batch.errors);
        }
        if self.idle.record(batch.taken > 0) {
            shared.check_tx_queue(regs, self.queue)?;
        }
        Ok(batch.taken)
    }
}
