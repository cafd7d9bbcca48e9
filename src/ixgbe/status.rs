//! What a running port reports: its name and queues, its statistics (datasheet 8.2.3.23), its
//! link (8.2.3.22.20), whether it is still there (the health check of an idle queue), and which
//! buffers its queues hold.

use std::rc::Rc;

use tock_registers::interfaces::Readable;

use super::Ixgbe;
use crate::config::{Link, Stats};
use crate::error::Failure;
use crate::memory::{DmaDomain, MemoryFootprint, Mempool, Packet, QueueMemory};
use crate::regs::Bus;
use crate::regs::ixgbe::{self, LINKS, RXDCTL, TXDCTL};
use crate::{Error, Result};

impl<B: Bus> Ixgbe<B> {
    /// The device's name (its PCI address or simulated port).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receive queues.
    pub fn rx_queues(&self) -> u16 {
        self.rx.len() as u16
    }

    /// Transmit queues.
    pub fn tx_queues(&self) -> u16 {
        self.tx.len() as u16
    }

    /// Descriptors in receive queue `queue`'s ring.
    pub fn rx_ring_size(&self, queue: u16) -> Option<usize> {
        self.rx.get(usize::from(queue)).map(|r| r.ring.size().get())
    }

    /// Descriptors in transmit queue `queue`'s ring.
    pub fn tx_ring_size(&self, queue: u16) -> Option<usize> {
        self.tx.get(usize::from(queue)).map(|r| r.ring.size().get())
    }

    /// The DMA memory of each queue, from the regions of its ring and pool
    /// ([`crate::memory::MemoryFootprint`]).
    pub fn memory(&self) -> MemoryFootprint {
        let rx = self.rx.iter().map(|r| QueueMemory {
            ring_entries: r.ring.size().get(),
            ring_bytes: r.ring.region().mapped_len(),
            pool_buffers: r.pool.capacity(),
            buffer_size: r.pool.buffer_size(),
            pool_bytes: r.pool.region().mapped_len(),
        });
        let tx = self.tx.iter().map(|t| QueueMemory {
            ring_entries: t.ring.size().get(),
            ring_bytes: t.ring.region().mapped_len(),
            ..QueueMemory::default()
        });
        MemoryFootprint {
            rx: rx.collect(),
            tx: tx.collect(),
        }
    }

    /// The mempool of receive queue `queue`.
    pub fn rx_pool(&self, queue: u16) -> Option<&Rc<Mempool>> {
        self.rx.get(usize::from(queue)).map(|r| &r.pool)
    }

    /// The memory the device reaches by DMA: packets sent on it must come from a pool of this
    /// domain.
    pub fn dma_domain(&self) -> DmaDomain {
        self.domain
    }

    /// Link state from LINKS (datasheet 8.2.3.22.20).
    pub fn link(&self) -> Link {
        if self.removed() {
            return Link::default();
        }
        let links = self.regs.links().extract();
        if !links.is_set(LINKS::LINK_UP) {
            return Link::default();
        }
        let speed_mbps = match links.read_as_enum(LINKS::LINK_SPEED) {
            Some(LINKS::LINK_SPEED::Value::Speed100m) => 100,
            Some(LINKS::LINK_SPEED::Value::Speed1g) => 1_000,
            Some(LINKS::LINK_SPEED::Value::Speed10g) => 10_000,
            None => 0,
        };
        Link {
            up: true,
            speed_mbps,
        }
    }

    /// Running totals: the clear-on-read statistics registers (datasheet 8.2.3.23) are read and
    /// added to software totals, so no count is lost between calls. A device that has fallen
    /// off the bus (every read all ones) adds nothing.
    pub fn stats(&mut self) -> Stats {
        if self.removed() {
            return self.totals;
        }
        let regs = &mut self.regs;
        let t = &mut self.totals;
        // Frames missed for lack of FIFO space (MPC) and dropped for lack of descriptors with
        // DROP_EN (QPRDC).
        let mut missed = 0u64;
        for pb in ixgbe::PacketBuffer::all() {
            missed += u64::from(regs.mpc(pb).take());
        }
        let mut no_descriptor = 0u64;
        for counter in ixgbe::StatCounter::all() {
            no_descriptor += u64::from(regs.qprdc(counter).take());
        }
        t.rx_dropped += missed + no_descriptor;
        // GPRC also counts frames later missed; Linux subtracts MPC from it ("hardware
        // counting issue"), and so does rixy.
        t.rx_packets += u64::from(regs.gprc().take()).saturating_sub(missed);
        t.tx_packets += u64::from(regs.gptc().take());
        // The octet counters are 36 bits: the low register first, then the high one, whose
        // read clears the counter.
        let gorc_low = u64::from(regs.gorcl().take());
        let gorc_high = u64::from(regs.gorch().take_local().read(ixgbe::GORCH::CNT_H));
        t.rx_bytes += gorc_low | gorc_high << 32;
        let gotc_low = u64::from(regs.gotcl().take());
        let gotc_high = u64::from(regs.gotch().take_local().read(ixgbe::GOTCH::CNT_H));
        t.tx_bytes += gotc_low | gotc_high << 32;
        self.totals
    }

    /// Whether the device has fallen off the bus: a removed PCIe device reads all ones, and
    /// STATUS never does otherwise (its reserved bits read 0).
    pub fn removed(&self) -> bool {
        self.regs.status().get() == u32::MAX
    }

    /// The health check of an empty receive batch: one read of RXDCTL, which a removed device
    /// answers with all ones (confirmed by STATUS) and a device that reset itself with ENABLE
    /// clear (8.2.3.8.6: a reset disables every queue; the driver never does after init).
    pub(super) fn check_rx_queue(&mut self, queue: ixgbe::RxQueue) -> Result<()> {
        let rxdctl = self.regs.rxdctl(queue).extract();
        let enabled = rxdctl.is_set(RXDCTL::ENABLE);
        self.check_queue(rxdctl.get(), enabled, ("receive", queue.get(), "RXDCTL"))
    }

    /// The health check of an empty transmit batch, on TXDCTL (8.2.3.9.10) as for receive.
    pub(super) fn check_tx_queue(&mut self, queue: ixgbe::TxQueue) -> Result<()> {
        let txdctl = self.regs.txdctl(queue).extract();
        let enabled = txdctl.is_set(TXDCTL::ENABLE);
        self.check_queue(txdctl.get(), enabled, ("transmit", queue.get(), "TXDCTL"))
    }

    /// What a read of a queue's control register says (`control`, its ENABLE bit `enabled`):
    /// all ones from a removed device, ENABLE clear after a reset. The last argument names the
    /// queue in the evidence: direction, number, register.
    fn check_queue(
        &mut self,
        control: u32,
        enabled: bool,
        (kind, queue, register): (&str, usize, &str),
    ) -> Result<()> {
        if control == u32::MAX && self.removed() {
            return Err(self.fail(Failure::Removed));
        }
        if !enabled {
            return Err(self.fail(Failure::Reset {
                evidence: format!("{kind} queue {queue} reads disabled ({register}.ENABLE = 0)"),
            }));
        }
        Ok(())
    }

    /// Remembers `failure` (every batch from now on reports it) and returns its error.
    fn fail(&mut self, failure: Failure) -> Error {
        let error = failure.error(&self.name);
        log::debug!("{error}");
        self.failure = Some(failure);
        error
    }

    /// Packets the queues hold for the device (receive buffers posted, transmits not cleaned).
    pub fn buffers_held(&self) -> usize {
        let rx: usize = self.rx.iter().map(|r| r.posted.len()).sum();
        let tx: usize = self.tx.iter().map(|t| t.in_flight.len()).sum();
        rx + tx
    }

    /// The device address of every packet buffer the queues hold (receive buffers posted,
    /// transmits not cleaned), found by walking each ring's slots: for accounting checks that
    /// must see which buffers are held, not only how many.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        let rx = self.rx.iter().flat_map(|r| r.posted.iter());
        let tx = self.tx.iter().flat_map(|t| t.in_flight.iter());
        rx.chain(tx).map(Packet::device_addr).collect()
    }

    pub(super) fn no_rx_queue(&self, queue: u16) -> Error {
        Error::NoSuchQueue {
            device: self.name.clone(),
            kind: "receive",
            queue,
            queues: self.rx_queues(),
        }
    }

    pub(super) fn no_tx_queue(&self, queue: u16) -> Error {
        Error::NoSuchQueue {
            device: self.name.clone(),
            kind: "transmit",
            queue,
            queues: self.tx_queues(),
        }
    }
}
