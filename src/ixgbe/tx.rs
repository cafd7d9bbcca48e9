//! A transmit queue and batched transmit (datasheet 7.2): clean completed batches, place new
//! packets, and move the tail once per batch.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{Ordering, fence};

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{Readable, Writeable};

use super::queue::Shared;
use crate::Result;
use crate::error::IdleBatches;
use crate::memory::{DescRing, DmaAllocator, Mempool, Packet, check_domain};
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

/// One transmit queue: its descriptor ring and the packets in flight.
pub(super) struct TxRing {
    pub(super) queue: ixgbe::TxQueue,
    pub(super) ring: DescRing<AdvTxDesc>,
    /// The packet of each descriptor, by descriptor index: those of `clean..next` hold the
    /// packets in flight, the others nothing. A slot per descriptor, so placing and cleaning
    /// a packet is one store and one load at the index the ring walk has anyway.
    slots: Box<[MaybeUninit<Packet>]>,
    /// The next free descriptor (TDT after the batch).
    pub(super) next: usize,
    /// The oldest descriptor not cleaned yet.
    pub(super) clean: usize,
    /// The last descriptor of every batch in flight, oldest first: only these ask for a status
    /// write-back (RS), so one DD check frees a whole batch. Capacity: the ring size, so it
    /// never grows on the transmit path.
    pub(super) marks: VecDeque<usize>,
    /// Batches in a row that took nothing (for the health check).
    pub(super) idle: IdleBatches,
}

impl TxRing {
    /// The memory of transmit queue `queue` (4.6.8: memory before any register is written): a zeroed
    /// ring of `size` descriptors at the base alignment TDBAL needs.
    pub(super) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        queue: ixgbe::TxQueue,
        size: RingSize,
    ) -> Result<Self> {
        Ok(TxRing {
            queue,
            ring: DescRing::new(dma, size, ixgbe::RING_BASE_ALIGN)?,
            slots: (0..size.get()).map(|_| MaybeUninit::uninit()).collect(),
            next: 0,
            clean: 0,
            marks: VecDeque::with_capacity(size.get()),
            idle: IdleBatches::default(),
        })
    }
}

impl TxRing {
    /// Sends packets from the front of `packets` on this queue; returns how many it took.
    /// `regs` are the port's registers, `shared` what the port and its queue handles share.
    /// Packets that do not fit the ring stay in `packets`, in order. A packet too short or too
    /// long for a descriptor is taken, dropped and counted in the queue's errors. If one of the
    /// packets the ring could take comes from a pool in memory the device does not reach
    /// ([`Ixgbe::dma_domain`](super::Ixgbe::dma_domain)), nothing is taken: the error names it
    /// and every packet stays in `packets`.
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
        let tx = self;
        let size = tx.ring.size();

        // 7.2.3.5.1: with WTHRESH = 0 the device writes DD back to each descriptor with RS once
        // it has fetched it. Only the last descriptor of each batch has RS: when its DD is set,
        // the whole batch has been read and its buffers can go back to their pools.
        while let Some(&mark) = tx.marks.front() {
            if !tx.ring.get(mark).written_back().status().is_set(STATUS::DD) {
                break;
            }
            let end = size.next(mark);
            // Descriptors clean..=mark hold the oldest packets in flight, one each; they go back
            // to their pools with one lock of each pool per batch, not one per packet.
            let (clean, slots) = (tx.clean, &mut tx.slots);
            let done = size.distance(clean, end);
            Mempool::free_bulk((0..done).map(|k| {
                // SAFETY: slot `clean + k` lies in clean..next, so it holds a packet placed by
                // an earlier batch and not read since; `clean` moves past it right after, so it
                // is never read again before a new packet is placed in it.
                unsafe { slots[size.advance(clean, k)].assume_init_read() }
            }));
            tx.clean = end;
            tx.marks.pop_front();
        }

        // The packets this batch may take, at most one per free descriptor, must all be in
        // memory the device reaches; otherwise nothing is taken.
        let free = size.get() - 1 - size.distance(tx.clean, tx.next);
        let offered = packets.len().min(free);
        check_domain(&*packets, offered, shared.domain, &shared.name)?;

        let mut last = None;
        let (mut errors, mut bytes) = (0u64, 0u64);
        // Kept in a local for the loop: `tx` is behind a reference, so the compiler would store
        // every update of `tx.next` to memory.
        let mut next = tx.next;
        let slots = &mut tx.slots[..];
        // 7.2.3.3: at most N-1 descriptors are handed over, so `offered <= free` descriptors from
        // `next` on are free and the ring never fills past the oldest one not cleaned.
        for packet in packets.drain(..offered) {
            // `len()` is at most the buffer's data capacity, far below `u32::MAX`.
            let length = packet.len() as u32;
            // One range check stands for both fields: a length in MIN_TX_PAYLEN..=MAX_TX_LEN
            // fits DTALEN and PAYLEN alike.
            if !(MIN_TX_PAYLEN..=MAX_TX_LEN).contains(&length) {
                errors += 1;
                continue;
            }
            bytes += u64::from(length);
            // `length <= MAX_TX_LEN` fits both fields whole (what `val_checked` would check).
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
            // 7.2.3.2.4: an advanced data descriptor holding a whole frame: end of packet and
            // insert the FCS. RS goes on the batch's last descriptor below.
            let command = CMD_TYPE_LEN::DTYP::DATA
                + CMD_TYPE_LEN::DEXT::SET
                + CMD_TYPE_LEN::EOP::SET
                + CMD_TYPE_LEN::IFCS::SET
                + dtalen;
            let desc = tx.ring.get(next);
            desc.to_device().buffer_addr().set(packet.device_addr());
            desc.to_device().cmd_type_len().write(command);
            desc.to_device().olinfo_status().write(paylen);
            // The slot is free: `next` is outside clean..next until this batch moves it.
            // SAFETY: `next` is a ring index, below the ring size, which is the slots' length.
            unsafe { slots.get_unchecked_mut(next) }.write(packet);
            last = Some((next, command));
            next = size.next(next);
        }
        tx.next = next;
        let taken = offered;
        if let Some((index, command)) = last {
            // The descriptor is still the driver's: the tail has not passed it yet.
            tx.ring
                .get(index)
                .to_device()
                .cmd_type_len()
                .write(command + CMD_TYPE_LEN::RS::SET);
            tx.marks.push_back(index);
            // The descriptors must be visible before the tail hands them over (7.2.3.3).
            fence(Ordering::Release);
            regs.tdt(tx.queue).set(tx.next as u32);
            shared.tx_counters[tx.queue.get()].notified();
        }
        if taken > 0 {
            shared.tx_counters[tx.queue.get()].add(taken as u64 - errors, bytes, errors);
        }
        if tx.idle.record(taken > 0) {
            shared.check_tx_queue(regs, tx.queue)?;
        }
        Ok(taken)
    }

    /// Descriptors the device has not confirmed yet.
    pub(super) fn pending(&self) -> usize {
        self.ring.size().distance(self.clean, self.next)
    }

    /// The packets in flight, oldest first.
    pub(super) fn in_flight(&self) -> impl Iterator<Item = &Packet> {
        let size = self.ring.size();
        (0..self.pending()).map(move |k| {
            // SAFETY: slots clean..next hold packets (see `slots`), and `&self` keeps them.
            unsafe { self.slots[size.advance(self.clean, k)].assume_init_ref() }
        })
    }
}

impl Drop for TxRing {
    /// The packets still in flight go back to their pools (the device was stopped first: the
    /// port resets before its rings go, 4.6.3.2).
    fn drop(&mut self) {
        let size = self.ring.size();
        let (clean, slots) = (self.clean, &mut self.slots);
        Mempool::free_bulk((0..size.distance(clean, self.next)).map(|k| {
            // SAFETY: as in `in_flight`; each packet is read once, and the ring goes with this
            // drop, so no slot is read again.
            unsafe { slots[size.advance(clean, k)].assume_init_read() }
        }));
    }
}
