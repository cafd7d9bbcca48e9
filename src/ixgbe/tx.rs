//! Batched transmit (datasheet 7.2): clean completed batches, place new packets, and move the
//! tail once per batch.

use std::collections::VecDeque;
use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::Ixgbe;
use crate::Result;
use crate::error::health_check_due;
use crate::memory::{Packet, check_domain};
use crate::regs::Bus;
use crate::regs::ixgbe::MIN_TX_PAYLEN;
use crate::regs::ixgbe::adv_tx_desc::to_device::{CMD_TYPE_LEN, OLINFO_STATUS};
use crate::regs::ixgbe::adv_tx_desc::written_back::STATUS;

impl<B: Bus> Ixgbe<B> {
    /// Sends packets from the front of `packets` on transmit queue `queue`; returns how many it
    /// took. Packets that do not fit the ring stay in `packets`, in order. A packet too short
    /// or too long for a descriptor is taken, dropped and counted in [`Stats::tx_errors`].
    /// If one of the packets the ring could take comes from a pool in memory the device does
    /// not reach ([`Ixgbe::dma_domain`]), nothing is taken: the error names it and every packet
    /// stays in `packets`.
    ///
    /// A device that has gone away or reset itself is reported once a batch takes nothing (the
    /// ring is full, or there was nothing to send): [`Error::DeviceRemoved`] or
    /// [`Error::DeviceReset`], from then on for every batch. The packets it holds are freed
    /// when the driver is dropped.
    ///
    /// [`Stats::tx_errors`]: crate::Stats::tx_errors
    /// [`Error::DeviceRemoved`]: crate::Error::DeviceRemoved
    /// [`Error::DeviceReset`]: crate::Error::DeviceReset
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        if let Some(failure) = &self.failure {
            return Err(failure.error(&self.name));
        }
        let Some(tx) = self.tx.get_mut(usize::from(queue)) else {
            return Err(self.no_tx_queue(queue));
        };
        let size = tx.ring.size();

        // 7.2.3.5.1: with WTHRESH = 0 the device writes DD back to each descriptor with RS once
        // it has fetched it. Only the last descriptor of each batch has RS: when its DD is set,
        // the whole batch has been read and its buffers can go back to their pools.
        while let Some(&mark) = tx.marks.front() {
            if !tx.ring.get(mark).written_back().status().is_set(STATUS::DD) {
                break;
            }
            let end = size.next(mark);
            while tx.clean != end {
                tx.in_flight[tx.clean] = None;
                tx.clean = size.next(tx.clean);
            }
            tx.marks.pop_front();
        }

        // The packets this batch may take, at most one per free descriptor, must all be in
        // memory the device reaches; otherwise nothing is taken.
        let free = size.get() - 1 - size.distance(tx.clean, tx.next);
        let offered = packets.len().min(free);
        check_domain(&*packets, offered, self.domain, &self.name)?;

        let mut taken = 0;
        let mut last = None;
        // 7.2.3.3: at most N-1 descriptors are handed over; the ring is full when the next
        // slot is the oldest one not cleaned.
        while taken < offered && size.next(tx.next) != tx.clean {
            let Some(packet) = packets.pop_front() else {
                break;
            };
            taken += 1;
            let length = packet.len() as u32;
            let (Ok(dtalen), Ok(paylen)) = (
                CMD_TYPE_LEN::DTALEN::val_checked(length),
                OLINFO_STATUS::PAYLEN::val_checked(length),
            ) else {
                self.totals.tx_errors += 1;
                continue;
            };
            if length < MIN_TX_PAYLEN {
                self.totals.tx_errors += 1;
                continue;
            }
            // 7.2.3.2.4: an advanced data descriptor holding a whole frame: end of packet and
            // insert the FCS. RS goes on the batch's last descriptor below.
            let command = CMD_TYPE_LEN::DTYP::DATA
                + CMD_TYPE_LEN::DEXT::SET
                + CMD_TYPE_LEN::EOP::SET
                + CMD_TYPE_LEN::IFCS::SET
                + dtalen;
            let desc = tx.ring.get(tx.next);
            desc.to_device().buffer_addr().set(packet.device_addr());
            desc.to_device().cmd_type_len().write(command);
            desc.to_device().olinfo_status().write(paylen);
            tx.in_flight[tx.next] = Some(packet);
            last = Some((tx.next, command));
            tx.next = size.next(tx.next);
        }
        if let Some((index, command)) = last {
            // The descriptor is still the driver's: the tail has not passed it yet.
            tx.ring
                .get(index)
                .to_device()
                .cmd_type_len()
                .write(command + CMD_TYPE_LEN::RS::SET);
            tx.marks.push_back(index);
            let queue = tx.queue;
            // The descriptors must be visible before the tail hands them over (7.2.3.3).
            fence(Ordering::Release);
            self.regs.tdt(queue).set(tx.next as u32);
        }
        if taken > 0 {
            tx.idle = 0;
        } else {
            tx.idle = tx.idle.wrapping_add(1);
            if health_check_due(tx.idle) {
                let queue = tx.queue;
                self.check_tx_queue(queue)?;
            }
        }
        Ok(taken)
    }

    /// Descriptors of transmit queue `queue` the device has not confirmed yet.
    pub fn tx_pending(&self, queue: u16) -> usize {
        self.tx
            .get(usize::from(queue))
            .map_or(0, |tx| tx.ring.size().distance(tx.clean, tx.next))
    }
}
