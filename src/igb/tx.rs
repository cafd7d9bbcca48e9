//! The transmit queue and batched transmit (datasheet 7.2): clean completed batches, place new
//! packets in advanced data descriptors, move the tail once per batch.
//!
//! The bookkeeping (one RS per batch, a packet slot per descriptor) is the one the 82599 uses
//! too ([`crate::adv`]), over the 82576's descriptor layout.

use std::collections::VecDeque;

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{Readable, Writeable};

use crate::Result;
use crate::adv::{TxDescriptor, TxSlots};
use crate::config::QueueCounters;
use crate::error::IdleBatches;
use crate::memory::{DmaAllocator, DmaDomain, Packet};
use crate::regs::Bus;
use crate::regs::igb::adv_tx_desc::to_device::{CMD_TYPE_LEN, OLINFO_STATUS};
use crate::regs::igb::adv_tx_desc::written_back::STATUS;
use crate::regs::igb::{self, AdvTxDesc, MIN_TX_PAYLEN, Registers};
use crate::ring::RingSize;

/// The longest frame one descriptor carries: the smaller of what DTALEN and PAYLEN hold.
const MAX_TX_LEN: u32 = if CMD_TYPE_LEN::DTALEN::MASK < OLINFO_STATUS::PAYLEN::MASK {
    CMD_TYPE_LEN::DTALEN::MASK
} else {
    OLINFO_STATUS::PAYLEN::MASK
};

/// 7.2.2.3: the 82576's advanced data descriptor as the shared transmit path
/// ([`crate::adv`]) writes it.
impl TxDescriptor for AdvTxDesc {
    const LENGTHS: std::ops::RangeInclusive<u32> = MIN_TX_PAYLEN..=MAX_TX_LEN;

    #[inline(always)]
    fn describe(view: &Self::View, addr: u64, len: u32, report: bool) {
        // `len` is within LENGTHS, so it fits both fields whole.
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
        // 7.2.2.3: with TXDCTL.WTHRESH = 0 the device writes DD back to each descriptor with
        // RS once it is done with it.
        view.written_back().status().is_set(STATUS::DD)
    }
}

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
