//! What a running port reports: its name and queues, its statistics (datasheet 8.2.3.23), its
//! link (8.2.3.22.20), whether it is still there (the health check of an idle queue), and which
//! buffers its queues hold.

use tock_registers::interfaces::Readable;

use super::Ixgbe;
use crate::Error;
use crate::config::{Link, QueueStats, Stats};
use crate::memory::{DmaDomain, MemoryFootprint, Mempool, Packet, QueueMemory};
use crate::regs::Bus;
use crate::regs::ixgbe::{self, LINKS};

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
        self.rx
            .get(usize::from(queue))
            .and_then(Option::as_ref)
            .map(|r| r.ring.size().get())
    }

    /// Descriptors in transmit queue `queue`'s ring.
    pub fn tx_ring_size(&self, queue: u16) -> Option<usize> {
        self.tx
            .get(usize::from(queue))
            .and_then(Option::as_ref)
            .map(|r| r.ring.size().get())
    }

    /// The DMA memory of each queue, from the regions of its ring and pool
    /// ([`crate::memory::MemoryFootprint`]).
    pub fn memory(&self) -> MemoryFootprint {
        let rx = self.rx.iter().flatten().map(|r| QueueMemory {
            ring_entries: r.ring.size().get(),
            ring_bytes: r.ring.region().mapped_len(),
            pool_buffers: r.pool.capacity(),
            buffer_size: r.pool.buffer_size(),
            pool_bytes: r.pool.region().mapped_len(),
        });
        let tx = self.tx.iter().flatten().map(|t| QueueMemory {
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
    pub fn rx_pool(&self, queue: u16) -> Option<&Mempool> {
        self.rx
            .get(usize::from(queue))
            .and_then(Option::as_ref)
            .map(|r| &r.pool)
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
            return self.with_queue_counts();
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
        self.with_queue_counts()
    }

    /// The totals with the frames the queues dropped, which only the driver counts.
    fn with_queue_counts(&self) -> Stats {
        let mut t = self.totals;
        t.rx_errors = self.shared.rx_counters.iter().map(|c| c.get().errors).sum();
        t.tx_errors = self.shared.tx_counters.iter().map(|c| c.get().errors).sum();
        t
    }

    /// What receive queue `queue` has received so far, as its driver counted it (whoever
    /// serves it: the port or a handle).
    pub fn rx_queue_stats(&self, queue: u16) -> Option<QueueStats> {
        self.shared
            .rx_counters
            .get(usize::from(queue))
            .map(|c| c.get())
    }

    /// What transmit queue `queue` has sent so far, as its driver counted it.
    pub fn tx_queue_stats(&self, queue: u16) -> Option<QueueStats> {
        self.shared
            .tx_counters
            .get(usize::from(queue))
            .map(|c| c.get())
    }

    /// Whether the device has fallen off the bus: a removed PCIe device reads all ones, and
    /// STATUS never does otherwise (its reserved bits read 0).
    pub fn removed(&self) -> bool {
        super::queue::removed(&self.regs)
    }

    /// Packets the queues hold for the device (receive buffers posted or spare, transmits not
    /// cleaned), the queues of dropped handles included; not those of live handles.
    pub fn buffers_held(&self) -> usize {
        let rx: usize = self.rx.iter().flatten().map(|r| r.held().count()).sum();
        let tx: usize = self.tx.iter().flatten().map(|t| t.pending()).sum();
        rx + tx + self.shared.parked_buffer_addrs().len()
    }

    /// The device address of every packet buffer the queues hold (receive buffers posted or
    /// spare, transmits not cleaned; the queues of dropped handles included, not those of live
    /// ones, which say for themselves), found by walking each ring's slots: for accounting checks that
    /// must see which buffers are held, not only how many.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        let rx = self.rx.iter().flatten().flat_map(|r| r.held());
        let tx = self.tx.iter().flatten().flat_map(|t| t.in_flight());
        let mut addrs: Vec<u64> = rx.chain(tx).map(Packet::device_addr).collect();
        addrs.extend(self.shared.parked_buffer_addrs());
        addrs
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
