//! A transmit queue and batched transmit (datasheet 7.2): clean completed batches, place new
//! packets, and move the tail once per batch.

use std::collections::VecDeque;

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{Readable, Writeable};

use super::queue::Shared;
use crate::Result;
use crate::adv::{TxDescriptor, TxSlots};
use crate::error::IdleBatches;
use crate::memory::{DmaAllocator, Packet};
use crate::regs::Bus;
use crate::regs::ixgbe::adv_tx_desc::to_device::{CMD_TYPE_LEN, OLINFO_STATUS};
use crate::regs::ixgbe::adv_tx_desc::written_back::STATUS;
use crate::regs::ixgbe::{self, AdvTxDesc, MIN_TX_PAYLEN, Registers};
use crate::ring::RingSize;

/// The longest frame one descriptor carries: the smaller of what DTALEN and PAYLEN hold (7.2.3.2.4).
const MAX_TX_LEN: u32 = if CMD_TYPE_LEN::DTALEN::MASK < OLINFO_STATUS::PAYLEN::MASK {
    CMD_TYPE_LEN::DTALEN::MASK
} else {
    OLINFO_STATUS::PAYLEN::MASK
};

/// 7.2.3.2.4: the advanced data descriptor as the shared transmit path ([`crate::adv`])
/// writes it.
impl TxDescriptor for AdvTxDesc {
    const LENGTHS: std::ops::RangeInclusive<u32> = MIN_TX_PAYLEN..=MAX_TX_LEN;

    #[inline(always)]
    fn describe(view: &Self::View, addr: u64, len: u32, report: bool) {
        // `len` is within LENGTHS, so it fits DTALEN and PAYLEN whole (what `val_checked`
        // would check).
        let dtalen = FieldValue::<u32, CMD_TYPE_LEN::Register>::new(
            CMD_TYPE_LEN::DTALEN::MASK,
            CMD_TYPE_LEN::DTALEN::SHIFT,
            len,
        );
        let paylen = FieldValue::<u32, OLINFO_STATUS::Register>::new(
            OLINFO_STATUS::PAYLEN::MASK,
            OLINFO_STATUS::PAYLEN::SHIFT,
            len,
        );
        // A whole frame: end of packet and insert the FCS; RS on the batch's last descriptor.
        let mut command = CMD_TYPE_LEN::DTYP::DATA
            + CMD_TYPE_LEN::DEXT::SET
            + CMD_TYPE_LEN::EOP::SET
            + CMD_TYPE_LEN::IFCS::SET
            + dtalen;
        if report {
            command += CMD_TYPE_LEN::RS::SET;
        }
        view.to_device().buffer_addr().set(addr);
        view.to_device().cmd_type_len().write(command);
        view.to_device().olinfo_status().write(paylen);
    }

    #[inline(always)]
    fn done(view: &Self::View) -> bool {
        // 7.2.3.5.1: with WTHRESH = 0, DD is written back at once to each descriptor with RS.
        view.written_back().status().is_set(STATUS::DD)
    }
}

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
