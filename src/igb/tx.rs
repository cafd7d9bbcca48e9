//! The transmit queue and batched transmit (datasheet 7.2): clean completed batches, place new
//! packets in advanced data descriptors, move the tail once per batch.
//!
//! The same bookkeeping as `src/ixgbe/tx.rs` (one RS per batch, a packet slot per descriptor)
//! over the 82576's descriptor layout.

use std::collections::VecDeque;
use std::sync::atomic::{Ordering, fence};

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{Readable, Writeable};

use crate::Result;
use crate::config::QueueCounters;
use crate::error::IdleBatches;
use crate::memory::{DescRing, DmaAllocator, DmaDomain, Mempool, Packet, check_domain};
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

/// The transmit queue: its descriptor ring and the packets in flight.
pub(super) struct TxRing {
    pub(super) queue: igb::TxQueue,
    pub(super) ring: DescRing<AdvTxDesc>,
    /// The packet of each descriptor in clean..next, by descriptor index.
    slots: Box<[Option<Packet>]>,
    /// The next free descriptor (TDT after the batch).
    next: usize,
    /// The oldest descriptor not cleaned yet.
    clean: usize,
    /// The last descriptor of every batch in flight, oldest first: only these carry RS.
    marks: VecDeque<usize>,
    idle: IdleBatches,
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
            ring: DescRing::new(dma, size, igb::RING_BASE_ALIGN)?,
            slots: (0..size.get()).map(|_| None).collect(),
            next: 0,
            clean: 0,
            marks: VecDeque::with_capacity(size.get()),
            idle: IdleBatches::default(),
        })
    }

    /// Sends packets from the front of `packets`; returns how many it took and whether the
    /// health check is due (a batch that took nothing, at [`IdleBatches`]' cadence).
    #[inline]
    pub(super) fn tx_batch<B: Bus>(
        &mut self,
        regs: &Registers<B>,
        counters: &QueueCounters,
        domain: DmaDomain,
        name: &str,
        packets: &mut VecDeque<Packet>,
    ) -> Result<(usize, bool)> {
        let size = self.ring.size();
        // 7.2.2.3: with TXDCTL.WTHRESH = 0 the device writes DD back to each descriptor with
        // RS once it is done with it; only a batch's last descriptor has RS.
        while let Some(&mark) = self.marks.front() {
            if !self
                .ring
                .get(mark)
                .written_back()
                .status()
                .is_set(STATUS::DD)
            {
                break;
            }
            let end = size.next(mark);
            let done = size.distance(self.clean, end);
            let (clean, slots) = (self.clean, &mut self.slots);
            Mempool::free_bulk((0..done).filter_map(|k| slots[size.advance(clean, k)].take()));
            self.clean = end;
            self.marks.pop_front();
        }

        let free = size.get() - 1 - size.distance(self.clean, self.next);
        let offered = packets.len().min(free);
        check_domain(&*packets, offered, domain, name)?;

        let mut last = None;
        let (mut errors, mut bytes) = (0u64, 0u64);
        let mut next = self.next;
        // 7.2.3: at most N-1 descriptors are the device's, so `offered <= free` descriptors
        // from `next` on are free.
        for packet in packets.drain(..offered) {
            let length = packet.len() as u32;
            if !(MIN_TX_PAYLEN..=MAX_TX_LEN).contains(&length) {
                errors += 1;
                continue;
            }
            bytes += u64::from(length);
            // `length <= MAX_TX_LEN` fits both fields whole.
            let dtalen = FieldValue::<u32, CMD_TYPE_LEN::Register>::new(
                CMD_TYPE_LEN::DTALEN::MASK,
                CMD_TYPE_LEN::DTALEN::SHIFT,
                length,
            );
            let paylen = FieldValue::<u32, OLINFO_STATUS::Register>::new(
                OLINFO_STATUS::PAYLEN::MASK,
                OLINFO_STATUS::PAYLEN::SHIFT,
                length,
            );
            // 7.2.2.3: an advanced data descriptor holding a whole frame: end of packet and
            // insert the FCS; RS goes on the batch's last descriptor below.
            let command = CMD_TYPE_LEN::DTYP::DATA
                + CMD_TYPE_LEN::DEXT::SET
                + CMD_TYPE_LEN::EOP::SET
                + CMD_TYPE_LEN::IFCS::SET
                + dtalen;
            let desc = self.ring.get(next);
            desc.to_device().buffer_addr().set(packet.device_addr());
            desc.to_device().cmd_type_len().write(command);
            desc.to_device().olinfo_status().write(paylen);
            self.slots[next] = Some(packet);
            last = Some((next, command));
            next = size.next(next);
        }
        // A packet refused for its length took no descriptor: clean..next stays dense.
        self.next = next;
        if let Some((index, command)) = last {
            self.ring
                .get(index)
                .to_device()
                .cmd_type_len()
                .write(command + CMD_TYPE_LEN::RS::SET);
            self.marks.push_back(index);
            // The descriptors must be visible before the tail hands them over.
            fence(Ordering::Release);
            regs.tdt(self.queue).set(self.next as u32);
        }
        if offered > 0 {
            counters.add(offered as u64 - errors, bytes, errors);
        }
        Ok((offered, self.idle.record(offered > 0)))
    }

    /// Descriptors the device has not confirmed yet.
    pub(super) fn pending(&self) -> usize {
        self.ring.size().distance(self.clean, self.next)
    }

    /// The packets in flight, oldest first.
    pub(super) fn in_flight(&self) -> impl Iterator<Item = &Packet> {
        let size = self.ring.size();
        (0..self.pending()).filter_map(move |k| self.slots[size.advance(self.clean, k)].as_ref())
    }
}
