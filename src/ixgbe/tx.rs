//! Batched transmit (datasheet 7.2): clean completed descriptors in groups, place new packets,
//! and move the tail once per batch.

use std::collections::VecDeque;
use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::Ixgbe;
use crate::Result;
use crate::memory::Packet;
use crate::regs::Bus;
use crate::regs::ixgbe::adv_tx_desc::{
    READ_CMD_TYPE_LEN as CMD, READ_OLINFO_STATUS as OLINFO, WB_STATUS,
};
use crate::regs::ixgbe::{MIN_TX_PAYLEN, TXDCTL};

/// Descriptors are cleaned in groups of this many: only the last of each group asks for a
/// status write-back (RS), so one DD check frees a whole group. Ring sizes are powers of two of
/// at least 64, so groups never straddle the end of the ring.
pub(super) const CLEAN_BATCH: usize = 32;

impl<B: Bus> Ixgbe<B> {
    /// Sends packets from the front of `packets` on transmit queue `queue`; returns how many it
    /// took. Packets that do not fit the ring stay in `packets`, in order. A packet too short
    /// or too long for a descriptor is taken, dropped and counted in [`Stats::tx_errors`].
    ///
    /// [`Stats::tx_errors`]: crate::Stats::tx_errors
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        let Some(tx) = self.tx.get_mut(usize::from(queue)) else {
            return Err(self.no_tx_queue(queue));
        };
        let size = tx.ring.size();

        // 7.2.3.5.1: with WTHRESH = 0 the device writes DD back to each descriptor with RS once
        // it has read it; the group's buffers can then be freed.
        while size.distance(tx.clean, tx.next) >= CLEAN_BATCH {
            let last = size.advance(tx.clean, CLEAN_BATCH - 1);
            if !tx.ring.get(last).wb_status().is_set(WB_STATUS::DD) {
                break;
            }
            for k in 0..CLEAN_BATCH {
                tx.in_flight[size.advance(tx.clean, k)] = None;
            }
            tx.clean = size.advance(tx.clean, CLEAN_BATCH);
        }

        let mut taken = 0;
        let mut placed = 0;
        // 7.2.3.3: at most N-1 descriptors are handed over; the ring is full when the next
        // slot is the oldest one not cleaned.
        while size.next(tx.next) != tx.clean {
            let Some(packet) = packets.pop_front() else {
                break;
            };
            taken += 1;
            let length = packet.len();
            let (Ok(dtalen), Ok(paylen)) = (
                CMD::DTALEN::val_checked(length as u32),
                OLINFO::PAYLEN::val_checked(length as u32),
            ) else {
                self.totals.tx_errors += 1;
                continue;
            };
            if length < MIN_TX_PAYLEN as usize {
                self.totals.tx_errors += 1;
                continue;
            }
            let desc = tx.ring.get(tx.next);
            // 7.2.3.2.4: an advanced data descriptor for a whole frame in one buffer: end of
            // packet, insert the FCS, and ask for a write-back on the last of each group.
            let report = if size.mask(tx.next) % CLEAN_BATCH == CLEAN_BATCH - 1 {
                CMD::RS::SET
            } else {
                CMD::RS::CLEAR
            };
            desc.read_buffer_addr().set(packet.device_addr());
            desc.read_cmd_type_len().write(
                CMD::DTYP::DATA + CMD::DEXT::SET + CMD::EOP::SET + CMD::IFCS::SET + report + dtalen,
            );
            desc.read_olinfo_status().write(paylen);
            tx.in_flight[tx.next] = Some(packet);
            tx.next = size.next(tx.next);
            placed += 1;
        }
        if placed > 0 {
            let queue = tx.queue;
            // The descriptors must be visible before the tail hands them over (7.2.3.3).
            fence(Ordering::Release);
            self.regs.tdt(queue).set(tx.next as u32);
        }
        Ok(taken)
    }

    /// Whether transmit queue `queue` still has packets the device has not confirmed.
    pub fn tx_pending(&self, queue: u16) -> usize {
        self.tx
            .get(usize::from(queue))
            .map_or(0, |tx| tx.ring.size().distance(tx.clean, tx.next))
    }

    /// Whether TXDCTL.ENABLE reads 1 for a queue (for diagnostics).
    pub fn tx_queue_enabled(&self, queue: u16) -> bool {
        self.tx
            .get(usize::from(queue))
            .is_some_and(|tx| self.regs.txdctl(tx.queue).is_set(TXDCTL::ENABLE))
    }
}
