//! Batched receive (VirtIO 1.0 3.2.2, 5.1.6.3, 5.1.6.4): take what the device put in the used
//! ring, check it, hand the packets over without their header, post fresh buffers, and notify
//! the device at most once per batch.

use super::transport::Transport;
use super::{RxQueue, Virtio};
use crate::Result;
use crate::memory::Packet;

impl<T: Transport> Virtio<T> {
    /// Receives up to `max` packets from receive queue `queue` (only 0 exists) into `out`;
    /// returns how many. `max` may not exceed the packets the queue holds at once (its size, or
    /// half of it without ANY_LAYOUT): a larger batch is [`Error::BatchTooLarge`].
    ///
    /// A used entry the driver cannot trust (its id names no buffer the driver posted, or its
    /// length is shorter than the header or longer than the buffer) is dropped and counted in
    /// [`Stats::rx_errors`]; the buffer, if there was one, goes back to the pool.
    ///
    /// A device that has gone away (its status reads all ones), was reset (DRIVER_OK clear) or
    /// gave up is reported once a batch comes back empty: [`Error::DeviceRemoved`],
    /// [`Error::DeviceReset`] or [`Error::DeviceFailed`], from then on for every batch.
    ///
    /// [`Stats::rx_errors`]: crate::Stats::rx_errors
    /// [`Error::BatchTooLarge`]: crate::Error::BatchTooLarge
    /// [`Error::DeviceRemoved`]: crate::Error::DeviceRemoved
    /// [`Error::DeviceReset`]: crate::Error::DeviceReset
    /// [`Error::DeviceFailed`]: crate::Error::DeviceFailed
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        if queue != 0 {
            return Err(self.no_queue("receive", queue));
        }
        self.failed()?;
        let rx = &mut self.rx;
        // One packet per chain of `chain` descriptors: the most the queue ever holds.
        let ring = rx.vq.size().get();
        crate::config::check_rx_batch(max, ring, ring / usize::from(self.chain))?;
        let totals = &mut self.totals;
        let mut received = 0;
        let mut used_entries = 0;
        while received < max {
            let Some(used) = rx.vq.pop_used() else {
                break;
            };
            used_entries += 1;
            let Ok(used) = used else {
                totals.rx_errors += 1;
                log::debug!(
                    "{}: a used descriptor that names no outstanding buffer",
                    self.name
                );
                continue;
            };
            // 2.4.8: `id` is the head of the chain the device used. Only a head the driver
            // posted and has not had back yet is believed.
            let head = usize::try_from(used.id)
                .ok()
                .filter(|&h| h < rx.posted.len());
            let Some((head, mut packet)) = head.and_then(|h| Some((h, rx.posted[h].take()?)))
            else {
                totals.rx_errors += 1;
                log::debug!(
                    "{}: used entry with id {} that is not outstanding",
                    self.name,
                    used.id
                );
                continue;
            };
            // `posted` is as long as the queue, whose size fits a u16.
            rx.free.push(head as u16);
            // 2.4.8: `len` is the bytes written into the buffer: the header, then the frame.
            let frame = (used.len as usize).checked_sub(self.hdr_len);
            // `set_len` refuses a length beyond the buffer.
            match frame {
                Some(len) if packet.set_len(len).is_ok() => {
                    totals.rx_packets += 1;
                    totals.rx_bytes += len as u64;
                    out.extend(Some(packet));
                    received += 1;
                }
                // Dropping the packet returns its buffer to the pool.
                _ => {
                    totals.rx_errors += 1;
                    log::debug!(
                        "{}: used entry with length {} for a buffer of {}",
                        self.name,
                        used.len,
                        packet.capacity()
                    );
                }
            }
        }
        if fill(rx, self.chain, self.hdr_len) > 0 && rx.vq.publish() {
            let index = rx.vq.index();
            self.notify(index)?;
        }
        if self.rx_idle.record(used_entries > 0) {
            self.check_health()?;
        }
        Ok(received)
    }
}

/// Posts fresh buffers on every free head while the pool has them (5.1.6.3: "the driver SHOULD
/// populate the receive queue(s) with buffers"); returns how many. The caller publishes them.
pub(super) fn fill(rx: &mut RxQueue, chain: u16, hdr_len: usize) -> usize {
    let mut posted = 0;
    while let Some(&head) = rx.free.last() {
        let Some(packet) = rx.pool.alloc() else {
            break;
        };
        // A ring without a descriptor for a free id (after a device lied about what it used)
        // takes nothing more; the packet goes back to the pool as it is dropped.
        if !post(rx, head, chain, hdr_len, packet) {
            break;
        }
        rx.free.pop();
        posted += 1;
    }
    posted
}

/// Describes `packet`'s buffer, header first, in the chain at `head`, device-writable, and puts
/// it in the available ring. The header sits in the headroom right before the data
/// (`Packet::headroom_mut`).
fn post(rx: &mut RxQueue, head: u16, chain: u16, hdr_len: usize, packet: Packet) -> bool {
    if !rx.vq.add_frame(
        head,
        chain,
        packet.device_addr(),
        packet.capacity(),
        hdr_len,
        true,
    ) {
        return false;
    }
    rx.posted[usize::from(head)] = Some(packet);
    true
}
