//! Batched transmit (VirtIO 1.0 3.2.1, 5.1.6.2): collect what the device has sent, write the
//! header in front of each new packet, describe it, and notify the device at most once per
//! batch.

use std::collections::VecDeque;
use std::ptr::NonNull;

use tock_registers::interfaces::Writeable;

use super::Virtio;
use super::transport::Transport;
use crate::Result;
use crate::memory::{Packet, USABLE_HEADROOM, check_domain};
use crate::regs::Descriptor;
use crate::regs::virtio::{NetHdr, NetHdrMrg, net_hdr, net_hdr_mrg};

impl<T: Transport> Virtio<T> {
    /// Sends packets from the front of `packets` on transmit queue `queue` (only 0 exists);
    /// returns how many it took. Packets that do not fit the queue stay in `packets`, in order.
    /// An empty packet is taken, dropped and counted in [`Stats::tx_errors`]. If one of the
    /// packets the queue could take comes from a pool in memory the device does not reach
    /// ([`Virtio::dma_domain`]), nothing is taken: the error names it and every packet stays in
    /// `packets`.
    ///
    /// A device that has gone away, was reset or gave up is reported once a batch takes nothing
    /// (the queue is full, or there was nothing to send), as [`Virtio::rx_batch`] does.
    ///
    /// [`Stats::tx_errors`]: crate::Stats::tx_errors
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        if queue != 0 {
            return Err(self.no_queue("transmit", queue));
        }
        self.failed()?;
        reap(self);
        // The packets this batch may take, at most one per free head, must all be in memory the
        // device reaches; otherwise nothing is taken.
        let offered = packets.len().min(self.tx.free.len());
        check_domain(&*packets, offered, self.domain, &self.name)?;
        let chain = self.chain;
        let hdr_len = self.hdr_len;
        let tx = &mut self.tx;
        let mut taken = 0;
        let mut placed = 0;
        while taken < offered {
            let Some(&head) = tx.free.last() else {
                break;
            };
            let Some(mut packet) = packets.pop_front() else {
                break;
            };
            taken += 1;
            if packet.is_empty() {
                self.totals.tx_errors += 1;
                continue;
            }
            write_header(&mut packet, hdr_len);
            if !tx.vq.add_frame(
                head,
                chain,
                packet.device_addr(),
                packet.len(),
                hdr_len,
                false,
            ) {
                // The ring has no descriptor left although the id was free (a device that lied
                // about what it used): the packet stays with the caller, first in line.
                packets.push_front(packet);
                taken -= 1;
                break;
            }
            tx.free.pop();
            tx.in_flight[usize::from(head)] = Some(packet);
            placed += 1;
        }
        if placed > 0 && tx.vq.publish() {
            let index = tx.vq.index();
            self.notify(index)?;
        }
        if self.tx_idle.record(taken > 0) {
            self.check_health()?;
        }
        Ok(taken)
    }
}

/// Takes back what the device has sent (3.2.2), freeing the packets and counting them. A used
/// entry that names no packet in flight is counted in `tx_errors` and otherwise ignored.
pub(super) fn reap<T: Transport>(dev: &mut Virtio<T>) {
    let tx = &mut dev.tx;
    while let Some(used) = tx.vq.pop_used() {
        let Ok(used) = used else {
            dev.totals.tx_errors += 1;
            log::debug!(
                "{}: a used descriptor that names no packet in flight",
                dev.name
            );
            continue;
        };
        let head = usize::try_from(used.id)
            .ok()
            .filter(|&h| h < tx.in_flight.len());
        match head.and_then(|h| Some((h, tx.in_flight[h].take()?))) {
            Some((head, packet)) => {
                dev.totals.tx_packets += 1;
                dev.totals.tx_bytes += packet.len() as u64;
                // `in_flight` is as long as the queue, whose size fits a u16.
                tx.free.push(head as u16);
            }
            None => {
                dev.totals.tx_errors += 1;
                log::debug!(
                    "{}: transmit used entry with id {} that is not in flight",
                    dev.name,
                    used.id
                );
            }
        }
    }
}

/// Writes a `virtio_net_hdr` of `hdr_len` bytes asking for nothing (no checksum, no
/// segmentation: 5.1.6.2; `num_buffers` 0 in the 12-byte form) into the headroom right before the
/// packet's data.
#[inline]
fn write_header(packet: &mut Packet, hdr_len: usize) {
    let headroom = packet.headroom_mut();
    let at = NonNull::from(&mut headroom[USABLE_HEADROOM - hdr_len..]).cast::<u8>();
    if hdr_len == NetHdrMrg::SIZE {
        // SAFETY: `at` points to the last hdr_len bytes of the packet's headroom, which the
        // packet owns and no device holds (it is not in flight yet); the slice borrow has ended,
        // so no Rust reference points into them while the view is used. Buffers start at
        // multiples of at least 128 bytes and the data at 64, so `at` is even, as the
        // header's ALIGN asks.
        let hdr = unsafe { NetHdrMrg::view(at) };
        hdr.flags()
            .write(net_hdr_mrg::FLAGS::NEEDS_CSUM::CLEAR + net_hdr_mrg::FLAGS::DATA_VALID::CLEAR);
        hdr.gso_type()
            .write(net_hdr_mrg::GSO_TYPE::TYPE::NONE + net_hdr_mrg::GSO_TYPE::ECN::CLEAR);
        hdr.hdr_len().set(0);
        hdr.gso_size().set(0);
        hdr.csum_start().set(0);
        hdr.csum_offset().set(0);
        hdr.num_buffers().set(0);
    } else {
        // SAFETY: as above, for the 10-byte form.
        let hdr = unsafe { NetHdr::view(at) };
        hdr.flags()
            .write(net_hdr::FLAGS::NEEDS_CSUM::CLEAR + net_hdr::FLAGS::DATA_VALID::CLEAR);
        hdr.gso_type()
            .write(net_hdr::GSO_TYPE::TYPE::NONE + net_hdr::GSO_TYPE::ECN::CLEAR);
        hdr.hdr_len().set(0);
        hdr.gso_size().set(0);
        hdr.csum_start().set(0);
        hdr.csum_offset().set(0);
    }
}
