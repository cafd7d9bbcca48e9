//! What a running port accepts and reports: its MAC address (receive address 0, datasheet
//! 8.10.13 and 8.10.14), promiscuous mode (8.10.1), statistics (8.19), link (8.2.2), the
//! health check of an idle queue, and which buffers its queues hold.

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::Igb;
use crate::config::{Link, MacAddress, QueueStats, Stats};
use crate::error::Failure;
use crate::memory::{DmaDomain, MemoryFootprint, Mempool, Packet, QueueMemory};
use crate::regs::Bus;
use crate::regs::igb::{RAH, RAL, RCTL, ReceiveAddress, STATUS};
use crate::{Error, Result};

/// The RCTL bits of promiscuous mode (8.10.1): every unicast (UPE) and multicast (MPE)
/// address accepted, or only the filtered ones.
pub(super) fn promisc_bits(on: bool) -> FieldValue<u32, RCTL::Register> {
    if on {
        RCTL::UPE::SET + RCTL::MPE::SET
    } else {
        RCTL::UPE::CLEAR + RCTL::MPE::CLEAR
    }
}

impl<B: Bus> Igb<B> {
    /// The device's name (its PCI address).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receive queues (1).
    pub fn rx_queues(&self) -> u16 {
        1
    }

    /// Transmit queues (1).
    pub fn tx_queues(&self) -> u16 {
        1
    }

    /// The MAC address in receive address register 0: RAL holds bytes 0 to 3, RAH bytes 4
    /// and 5, lowest byte first (8.10.13, 8.10.14).
    pub fn mac(&self) -> MacAddress {
        let first = ReceiveAddress::at::<0>();
        let low = self.regs.ral(first).read(RAL::RAL).to_le_bytes();
        let high = (self.regs.rah(first).read(RAH::RAH) as u16).to_le_bytes();
        MacAddress([low[0], low[1], low[2], low[3], high[0], high[1]])
    }

    /// Programs receive address register 0 and keeps it valid (RAH.AV), so the port goes on
    /// accepting frames for its own address with promiscuous mode off.
    pub fn set_mac(&mut self, mac: MacAddress) -> Result<()> {
        let first = ReceiveAddress::at::<0>();
        let [b0, b1, b2, b3, b4, b5] = mac.0;
        let high = RAH::RAH::val_checked(u32::from(u16::from_le_bytes([b4, b5])))?;
        // 8.10.14: RAL first, then RAH with AV, so the entry is never valid half written.
        self.regs.rah(first).modify(RAH::AV::CLEAR);
        self.regs
            .ral(first)
            .set(u32::from_le_bytes([b0, b1, b2, b3]));
        self.regs.rah(first).write(high + RAH::AV::SET);
        Ok(())
    }

    /// Whether promiscuous mode is on.
    pub fn promisc(&self) -> bool {
        self.regs.rctl().is_set(RCTL::UPE)
    }

    /// Receives frames for every address (RCTL.UPE, MPE: 8.10.1) or only its own, broadcast
    /// and enabled multicast.
    pub fn set_promisc(&mut self, on: bool) -> Result<()> {
        self.regs.rctl().modify(promisc_bits(on));
        Ok(())
    }

    /// Link state from STATUS (8.2.2).
    pub fn link(&self) -> Link {
        if self.removed() {
            return Link::default();
        }
        let status = self.regs.status().extract();
        if !status.is_set(STATUS::LU) {
            return Link::default();
        }
        let speed_mbps = match status.read_as_enum(STATUS::SPEED) {
            Some(STATUS::SPEED::Value::Speed10) => 10,
            Some(STATUS::SPEED::Value::Speed100) => 100,
            Some(STATUS::SPEED::Value::Speed1000 | STATUS::SPEED::Value::Speed1000Alt) => 1_000,
            None => 0,
        };
        Link {
            up: true,
            speed_mbps,
        }
    }

    /// Running totals: the clear-on-read statistics registers (8.19) are read and added to
    /// software totals. The octet counters count each frame from its destination address
    /// through its CRC. A device that has fallen off the bus adds nothing.
    pub fn stats(&mut self) -> Stats {
        if !self.removed() {
            let regs = &mut self.regs;
            let t = &mut self.totals;
            let missed = u64::from(regs.mpc().take());
            let no_descriptor = u64::from(regs.rqdpc(self.rx.queue).take());
            t.rx_dropped += missed + no_descriptor;
            t.rx_packets += u64::from(regs.gprc().take());
            t.tx_packets += u64::from(regs.gptc().take());
            // 8.19.25 to 8.19.28: the low half first; the read of the high half clears both.
            let gorc_low = u64::from(regs.gorcl().get());
            t.rx_bytes += gorc_low | u64::from(regs.gorch().take()) << 32;
            let gotc_low = u64::from(regs.gotcl().get());
            t.tx_bytes += gotc_low | u64::from(regs.gotch().take()) << 32;
        }
        let mut t = self.totals;
        t.rx_errors = self.rx_counters.get().errors;
        t.tx_errors = self.tx_counters.get().errors;
        t
    }

    /// What the receive queue received so far, as the driver counted it.
    pub fn rx_queue_stats(&self, queue: u16) -> Option<QueueStats> {
        (queue == 0).then(|| self.rx_counters.get())
    }

    /// What the transmit queue sent so far, as the driver counted it.
    pub fn tx_queue_stats(&self, queue: u16) -> Option<QueueStats> {
        (queue == 0).then(|| self.tx_counters.get())
    }

    /// Whether the device has fallen off the bus: a removed PCIe device reads all ones, and
    /// STATUS never does otherwise.
    pub fn removed(&self) -> bool {
        self.regs.status().get() == u32::MAX
    }

    /// The memory the device reaches by DMA.
    pub fn dma_domain(&self) -> DmaDomain {
        self.domain
    }

    /// The health check of an empty batch: one read of the ring length the driver programmed
    /// (RDLEN or TDLEN of queue 0). A removed device answers all ones (confirmed by STATUS); a
    /// device that reset itself answers 0, the reset value (8.10.7, 8.12.12). RXDCTL.ENABLE,
    /// which the 82599 driver checks, would not show it here: a reset leaves queue 0 enabled
    /// on the 82576 (8.10.10).
    pub(super) fn check_health(&self, kind: &'static str) -> Result<()> {
        let (register, value, want) = match kind {
            "receive" => (
                "RDLEN",
                self.regs.rdlen(self.rx.queue).get(),
                self.rx.ring.bytes(),
            ),
            _ => (
                "TDLEN",
                self.regs.tdlen(self.tx.queue).get(),
                self.tx.ring.bytes(),
            ),
        };
        if value == u32::MAX && self.removed() {
            return Err(self.fail(Failure::Removed));
        }
        if value as usize != want {
            return Err(self.fail(Failure::Reset {
                evidence: format!(
                    "{kind} queue 0 reads {register} = {value:#x}, not the {want:#x} the driver set"
                ),
            }));
        }
        Ok(())
    }

    /// Remembers `failure` (every batch from now on reports it) and returns its error.
    fn fail(&self, failure: Failure) -> Error {
        self.failure.get_or_init(|| failure).error(&self.name)
    }

    /// The DMA memory of each queue ([`MemoryFootprint`]).
    pub fn memory(&self) -> MemoryFootprint {
        MemoryFootprint {
            rx: vec![QueueMemory {
                ring_entries: self.rx.ring.size().get(),
                ring_bytes: self.rx.ring.region().mapped_len(),
                pool_buffers: self.rx.pool.capacity(),
                buffer_size: self.rx.pool.buffer_size(),
                pool_bytes: self.rx.pool.region().mapped_len(),
            }],
            tx: vec![QueueMemory {
                ring_entries: self.tx.ring.size().get(),
                ring_bytes: self.tx.ring.region().mapped_len(),
                ..QueueMemory::default()
            }],
        }
    }

    /// The mempool of receive queue `queue`.
    pub fn rx_pool(&self, queue: u16) -> Option<&Mempool> {
        (queue == 0).then_some(&self.rx.pool)
    }

    /// Packets the queues hold (receive buffers posted or spare, transmits not cleaned).
    pub fn buffers_held(&self) -> usize {
        self.rx.held().count() + self.tx.pending()
    }

    /// The device address of every packet buffer the queues hold.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        self.rx
            .held()
            .chain(self.tx.in_flight())
            .map(Packet::device_addr)
            .collect()
    }
}
