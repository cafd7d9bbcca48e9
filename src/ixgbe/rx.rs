//! Batched receive (datasheet 7.1): poll the DD bit of the write-back descriptors, hand the
//! packets over, post fresh buffers, and move the tail once per batch.

use std::sync::atomic::{Ordering, fence};

use tock_registers::interfaces::{Readable, Writeable};

use super::Ixgbe;
use crate::Result;
use crate::error::health_check_due;
use crate::memory::Packet;
use crate::regs::Bus;
use crate::regs::ixgbe::adv_rx_desc::written_back::STATUS_ERROR;

impl<B: Bus> Ixgbe<B> {
    /// Receives up to `max` packets from receive queue `queue` into `out`; returns how many.
    ///
    /// Only a frame the device wrote whole into one buffer is handed out. A write-back the
    /// driver cannot trust is dropped and counted once in [`Stats::rx_errors`]: a frame spread
    /// over several descriptors (every descriptor up to and including the one with EOP goes,
    /// even across batches), a length beyond the buffer, or a MAC error. A dropped buffer goes
    /// straight back to its descriptor, so dropping never needs the pool. `max` must be less
    /// than the ring size.
    ///
    /// A device that has gone away or reset itself is reported once a batch comes back empty:
    /// [`Error::DeviceRemoved`] or [`Error::DeviceReset`], from then on for every batch.
    ///
    /// [`Stats::rx_errors`]: crate::Stats::rx_errors
    /// [`Error::DeviceRemoved`]: crate::Error::DeviceRemoved
    /// [`Error::DeviceReset`]: crate::Error::DeviceReset
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        if let Some(failure) = &self.failure {
            return Err(failure.error(&self.name));
        }
        let Some(rx) = self.rx.get_mut(usize::from(queue)) else {
            return Err(self.no_rx_queue(queue));
        };
        let size = rx.ring.size();
        // 7.1.9: the device owns head..tail-1, so the driver gets back at most size - 1.
        crate::config::check_rx_batch(max, size.get(), size.get() - 1)?;
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
            let eop = status.is_set(STATUS_ERROR::EOP);
            // A whole frame: its only descriptor (EOP, and the one before ended a frame too),
            // no MAC error (RXE is valid with EOP), and no more bytes than BSIZEPACKET allows
            // (`nic_buffer` never exceeds the buffer).
            let whole =
                eop && !rx.dropping && !status.is_set(STATUS_ERROR::RXE) && length <= rx.nic_buffer;
            // 7.1.6.1: the read format gives the device a buffer; a zero header address also
            // clears DD, which shares its bit.
            if whole {
                // A fresh buffer replaces the received one before anything is handed out;
                // with the pool empty the descriptor waits for the next batch.
                let Some(fresh) = rx.pool.alloc() else {
                    break;
                };
                desc.to_device().pkt_addr().set(fresh.device_addr());
                desc.to_device().hdr_addr().set(0);
                if let Some(mut packet) = rx.posted[index].replace(fresh) {
                    // The length fits the buffer (checked above), so this holds.
                    if packet.set_len(length).is_ok() {
                        out.extend(Some(packet));
                        received += 1;
                    } else {
                        self.totals.rx_errors += 1;
                    }
                }
            } else {
                // Dropped: the buffer stays posted, the device gets it back in the same
                // descriptor (every descriptor holds a packet from init on).
                let Some(buffer) = rx.posted[index].as_ref().map(Packet::device_addr) else {
                    break;
                };
                desc.to_device().pkt_addr().set(buffer);
                desc.to_device().hdr_addr().set(0);
                // The first descriptor of a bad frame counts it; a frame that goes on (no EOP)
                // keeps the descriptors after it dropped, up to its EOP.
                if !rx.dropping {
                    self.totals.rx_errors += 1;
                }
                rx.dropping = !eop;
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
            rx.idle = 0;
        } else {
            rx.idle = rx.idle.wrapping_add(1);
            if health_check_due(rx.idle) {
                let queue = rx.queue;
                self.check_rx_queue(queue)?;
            }
        }
        Ok(received)
    }
}
