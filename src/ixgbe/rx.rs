//! Batched receive (datasheet 7.1): poll the DD bit of the write-back descriptors, hand the
//! packets over, post fresh buffers, and move the tail once per batch.

use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::Ixgbe;
use crate::memory::Packet;
use crate::regs::Bus;
use crate::regs::ixgbe::adv_rx_desc::written_back::STATUS_ERROR;
use crate::{Error, Result};

impl<B: Bus> Ixgbe<B> {
    /// Receives up to `max` packets from receive queue `queue` into `out`; returns how many.
    ///
    /// A write-back the driver cannot trust (no EOP: a frame spread over several buffers, or a
    /// length beyond the buffer) is dropped and counted in [`Stats::rx_errors`], and its buffer
    /// goes back to the pool. `max` must be less than the ring size.
    ///
    /// [`Stats::rx_errors`]: crate::Stats::rx_errors
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        let Some(rx) = self.rx.get_mut(usize::from(queue)) else {
            return Err(self.no_rx_queue(queue));
        };
        let size = rx.ring.size();
        if max >= size.get() {
            return Err(Error::BatchTooLarge {
                batch: max,
                ring: size.get(),
            });
        }
        let mut received = 0;
        let mut consumed = 0;
        let mut index = rx.next;
        while consumed < max {
            let desc = rx.ring.get(index);
            // 7.1.6.2: the device sets DD in the write-back once the descriptor is done. The
            // driver polls memory, never RDH (which may run ahead of the write-back).
            let status = desc.written_back().status_error().extract();
            if !status.is_set(STATUS_ERROR::DD) {
                break;
            }
            // Read the rest of the write-back only after DD was seen set.
            fence(Ordering::Acquire);
            let length = usize::from(desc.written_back().pkt_len().get());
            // A fresh buffer replaces the received one before anything is handed out; with the
            // pool empty the descriptor waits for the next batch.
            let Some(fresh) = rx.pool.alloc() else {
                break;
            };
            // 7.1.6.1: the read format gives the device the buffer; a zero header address also
            // clears DD, which shares its bit.
            desc.to_device().pkt_addr().set(fresh.device_addr());
            desc.to_device().hdr_addr().set(0);
            let trusted = status.is_set(STATUS_ERROR::EOP) && length <= rx.nic_buffer;
            match rx.posted[index].replace(fresh) {
                Some(mut packet) if trusted => {
                    // The length fits the buffer (`nic_buffer` never exceeds it), so this holds.
                    if packet.set_len(length).is_ok() {
                        out.extend(Some(packet));
                        received += 1;
                    } else {
                        self.totals.rx_errors += 1;
                    }
                }
                // Dropping the packet returns its buffer to the pool.
                _ => self.totals.rx_errors += 1,
            }
            index = size.next(index);
            consumed += 1;
        }
        if consumed > 0 {
            // 7.1.9: the device owns head..tail-1; the tail moves to the last descriptor
            // processed, so the one after it stays the driver's and tail never meets head.
            let last = size.advance(index, size.get() - 1);
            rx.next = index;
            let queue = rx.queue;
            // The new buffer addresses must be visible before the tail hands them over.
            fence(Ordering::Release);
            self.regs.rdt(queue).set(last as u32);
        }
        Ok(received)
    }
}
