//! The Intel 82599 driver (ixgbe).
//!
//! Everything the driver knows of the hardware comes from `registers/ixgbe.toml`; the comments
//! cite the sections of the 82599 datasheet (revision 3.3) each step follows. The driver is
//! generic over the bus its registers sit on: a mapped BAR on real hardware, the behavioural
//! model in `rixy::sim` in tests. It does not know which.

mod init;
mod rx;
mod tx;

use std::rc::Rc;
use std::time::{Duration, Instant};

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use crate::config::{BufferSizes, Config, Link, MacAddress, Stats};
use crate::error::Failure;
use crate::memory::{DmaAllocator, DmaDomain, InDomain, Mempool, Packet};
use crate::regs::ixgbe::{
    self, AdvRxDesc, AdvTxDesc, CTRL, FCTRL, LINKS, RAH, RAL, RXCTRL, RXDCTL, ReceiveAddress,
    Registers, SECRXCTRL, SECRXSTAT, TXDCTL,
};
use crate::regs::{Bus, DmaMaster};
use crate::ring::DescRing;
use crate::{Error, Result};

pub use init::{DEFAULT_RSS_KEY, RSS_KEY_LEN, RSS_MAX_QUEUES, RSS_TABLE_LEN};
pub use ixgbe::INTEL_VENDOR_ID;

/// The 82599-family device ids the driver accepts (PCI vendor [`INTEL_VENDOR_ID`]).
pub const DEVICE_IDS: &[u16] = &[
    ixgbe::DEVICE_ID_82599_KX4,
    ixgbe::DEVICE_ID_82599_COMBO_BACKPLANE,
    ixgbe::DEVICE_ID_82599_CX4,
    ixgbe::DEVICE_ID_82599_SFP,
    ixgbe::DEVICE_ID_82599_XAUI_LOM,
    ixgbe::DEVICE_ID_82599_SFP_EM,
    ixgbe::DEVICE_ID_82599_KX4_MEZZ,
    ixgbe::DEVICE_ID_82599_KR,
    ixgbe::DEVICE_ID_82599_T3_LOM,
    ixgbe::DEVICE_ID_82599_SFP_FCOE,
    ixgbe::DEVICE_ID_82599_BACKPLANE_FCOE,
    ixgbe::DEVICE_ID_82599_SFP_SF_QP,
    ixgbe::DEVICE_ID_82599_SFP_SF2,
    ixgbe::DEVICE_ID_82599_LS,
    ixgbe::DEVICE_ID_82599EN_SFP,
    ixgbe::DEVICE_ID_82599_QSFP_SF_QP,
];

/// The receive buffer sizes the driver takes ([`Config::buffer_size`]): 4096, 8192 or 16384.
/// The 82599 is told how much it may write into a buffer in 1 KB steps of SRRCTL.BSIZEPACKET,
/// from 1 KB to 16 KB (datasheet 8.2.3.8.7), and the room after the headroom must hold a full
/// frame.
pub const BUFFER_SIZES: BufferSizes = BufferSizes::for_device(
    "the 82599 (ixgbe)",
    ixgbe::BUFFER_SIZE_GRANULARITY,
    ixgbe::MAX_RX_BUFFER_KB * ixgbe::BUFFER_SIZE_GRANULARITY,
);

/// One receive queue: its descriptor ring, the packets posted to it and the pool they come from.
struct RxRing {
    queue: ixgbe::RxQueue,
    ring: DescRing<AdvRxDesc>,
    /// The packet whose buffer descriptor `i` points to.
    posted: Vec<Option<Packet>>,
    pool: Rc<Mempool>,
    /// The next descriptor the device will write back.
    next: usize,
    /// Bytes the device may write into one buffer (SRRCTL.BSIZEPACKET).
    nic_buffer: usize,
    /// Inside a frame being dropped: the last descriptor seen had no EOP, so the ones after it
    /// up to the next EOP belong to the same frame.
    dropping: bool,
    /// Batches in a row that found nothing (for the health check).
    idle: u32,
}

/// One transmit queue: its descriptor ring and the packets in flight.
struct TxRing {
    queue: ixgbe::TxQueue,
    ring: DescRing<AdvTxDesc>,
    /// The packet descriptor `i` sends, until it is cleaned.
    in_flight: Vec<Option<Packet>>,
    /// The next free descriptor (TDT after the batch).
    next: usize,
    /// The oldest descriptor not cleaned yet.
    clean: usize,
    /// The last descriptor of every batch in flight, oldest first: only these ask for a status
    /// write-back (RS), so one DD check frees a whole batch. Capacity: the ring size, so it
    /// never grows on the transmit path.
    marks: std::collections::VecDeque<usize>,
    /// Batches in a row that took nothing (for the health check).
    idle: u32,
}

/// An 82599 port on bus `B`, initialised and running.
pub struct Ixgbe<B: Bus> {
    name: String,
    regs: Registers<B>,
    rx: Vec<RxRing>,
    tx: Vec<TxRing>,
    /// Totals so far; the clear-on-read counters are added in on every `stats()`.
    totals: Stats,
    /// The memory the device reaches by DMA: every ring and pool is in it, and a packet from a
    /// pool of another domain is never handed to the device.
    domain: DmaDomain,
    /// Set once a health check finds the device gone or reset; every batch then fails.
    failure: Option<Failure>,
}

/// How long a datasheet step may take before the driver gives up on the device.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

impl<B: Bus> Ixgbe<B> {
    /// Resets and initialises the port whose registers are on `bus` (datasheet 4.6.3), with DMA
    /// memory from `dma`, which must be memory the device reaches (its bus's
    /// [`DmaMaster::dma_domain`]). `name` names the device in logs and errors.
    pub fn new<A: DmaAllocator + ?Sized>(
        name: String,
        bus: B,
        dma: &A,
        config: &Config,
    ) -> Result<Self>
    where
        B: DmaMaster,
    {
        config.validate_for(&BUFFER_SIZES)?;
        // 7.1.2.8: receive queues beyond the 16 a redirection table entry can name would never
        // receive a frame.
        if config.rx_queues > RSS_MAX_QUEUES
            || usize::from(config.tx_queues) > ixgbe::TxQueue::COUNT
        {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{name}: the 82599 spreads received frames over at most {RSS_MAX_QUEUES} receive queues (RSS) and has {} transmit queues; {} and {} were asked for",
                    ixgbe::TxQueue::COUNT,
                    config.rx_queues,
                    config.tx_queues
                ),
            });
        }
        let domain = bus.dma_domain();
        let dma = InDomain {
            alloc: dma,
            domain,
            device: name.clone(),
        };
        let regs = Registers::new(bus)?;
        let mut dev = Self {
            name,
            regs,
            rx: Vec::new(),
            tx: Vec::new(),
            totals: Stats::default(),
            domain,
            failure: None,
        };
        dev.init(&dma, config)?;
        Ok(dev)
    }

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

    /// The MAC address in receive address register 0 (datasheet 8.2.3.7.8, 8.2.3.7.9): RAL
    /// holds bytes 0 to 3, RAH bytes 4 and 5, lowest byte first.
    pub fn mac(&self) -> MacAddress {
        let first = ReceiveAddress::at::<0>();
        let low = self.regs.ral(first).read(RAL::RAL).to_le_bytes();
        let high = (self.regs.rah(first).read(RAH::RAH) as u16).to_le_bytes();
        MacAddress([low[0], low[1], low[2], low[3], high[0], high[1]])
    }

    /// Programs receive address register 0, keeping it valid (RAH.AV): ixy's `set_mac_addr`
    /// cleared AV, so the port stopped accepting its own address once promiscuous mode was off.
    pub fn set_mac(&mut self, mac: MacAddress) -> Result<()> {
        let first = ReceiveAddress::at::<0>();
        let [b0, b1, b2, b3, b4, b5] = mac.0;
        let high = RAH::RAH::val_checked(u32::from(u16::from_le_bytes([b4, b5])))?;
        self.with_receive_disabled(|regs| {
            regs.ral(first).set(u32::from_le_bytes([b0, b1, b2, b3]));
            regs.rah(first).write(high + RAH::AV::SET);
        })
    }

    /// Receives frames for every address (FCTRL.UPE, MPE: datasheet 8.2.3.7.1) or only its
    /// own, broadcast and enabled multicast.
    pub fn set_promisc(&mut self, on: bool) -> Result<()> {
        self.with_receive_disabled(|regs| {
            let promisc = if on {
                FCTRL::UPE::SET + FCTRL::MPE::SET
            } else {
                FCTRL::UPE::CLEAR + FCTRL::MPE::CLEAR
            };
            regs.fctrl().modify(promisc);
        })
    }

    /// Whether promiscuous mode is on.
    pub fn promisc(&self) -> bool {
        self.regs.fctrl().is_set(FCTRL::UPE)
    }

    /// Runs `change` on the receive filters with RXCTRL.RXEN cleared, as datasheet 8.2.3.7.1
    /// asks ("before receive filters are updated ... RXEN should be set to 0b"), then restores
    /// RXEN.
    fn with_receive_disabled(&mut self, change: impl FnOnce(&Registers<B>)) -> Result<()> {
        let was_on = self.regs.rxctrl().is_set(RXCTRL::RXEN);
        if was_on {
            self.set_receive(false)?;
        }
        change(&self.regs);
        if was_on {
            self.set_receive(true)?;
        }
        Ok(())
    }

    /// Turns the receive path on or off. On the 82599 RXCTRL.RXEN changes only while the
    /// security block's receive path is stopped (SECRXCTRL.RX_DIS, then SECRXSTAT.SECRX_RDY),
    /// as Linux's `ixgbe_enable_rx_dma_82599` does; ixy skipped the handshake.
    fn set_receive(&mut self, on: bool) -> Result<()> {
        self.regs.secrxctrl().modify(SECRXCTRL::RX_DIS::SET);
        self.wait(
            "the receive security path to stop (SECRXSTAT.SECRX_RDY)",
            "the device did not stop its receive path",
            STEP_TIMEOUT,
            |r| r.secrxstat().is_set(SECRXSTAT::SECRX_RDY),
        )?;
        let rxen = if on {
            RXCTRL::RXEN::SET
        } else {
            RXCTRL::RXEN::CLEAR
        };
        self.regs.rxctrl().modify(rxen);
        self.regs.secrxctrl().modify(SECRXCTRL::RX_DIS::CLEAR);
        Ok(())
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
    fn check_rx_queue(&mut self, queue: ixgbe::RxQueue) -> Result<()> {
        let rxdctl = self.regs.rxdctl(queue).extract();
        if rxdctl.get() == u32::MAX && self.removed() {
            return Err(self.fail(Failure::Removed));
        }
        if !rxdctl.is_set(RXDCTL::ENABLE) {
            return Err(self.fail(Failure::Reset {
                evidence: format!(
                    "receive queue {} reads disabled (RXDCTL.ENABLE = 0)",
                    queue.get()
                ),
            }));
        }
        Ok(())
    }

    /// The health check of an empty transmit batch, on TXDCTL (8.2.3.9.10) as for receive.
    fn check_tx_queue(&mut self, queue: ixgbe::TxQueue) -> Result<()> {
        let txdctl = self.regs.txdctl(queue).extract();
        if txdctl.get() == u32::MAX && self.removed() {
            return Err(self.fail(Failure::Removed));
        }
        if !txdctl.is_set(TXDCTL::ENABLE) {
            return Err(self.fail(Failure::Reset {
                evidence: format!(
                    "transmit queue {} reads disabled (TXDCTL.ENABLE = 0)",
                    queue.get()
                ),
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
        let rx: usize = self
            .rx
            .iter()
            .map(|r| r.posted.iter().flatten().count())
            .sum();
        let tx: usize = self
            .tx
            .iter()
            .map(|t| t.in_flight.iter().flatten().count())
            .sum();
        rx + tx
    }

    /// The memory the device reaches by DMA: packets sent on it must come from a pool of this
    /// domain.
    pub fn dma_domain(&self) -> DmaDomain {
        self.domain
    }

    /// The device address of every packet buffer the queues hold (receive buffers posted,
    /// transmits not cleaned), found by walking each ring's slots: for accounting checks that
    /// must see which buffers are held, not only how many.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        let rx = self.rx.iter().flat_map(|r| r.posted.iter().flatten());
        let tx = self.tx.iter().flat_map(|t| t.in_flight.iter().flatten());
        rx.chain(tx).map(Packet::device_addr).collect()
    }

    /// The mempool of receive queue `queue`.
    pub fn rx_pool(&self, queue: u16) -> Option<&Rc<Mempool>> {
        self.rx.get(usize::from(queue)).map(|r| &r.pool)
    }

    /// Polls `done` until it holds, sleeping between polls, for at most `timeout`; a device
    /// that never gets there is an error naming what it did not do, never a hang.
    fn wait(
        &self,
        what: &'static str,
        hint: &'static str,
        timeout: Duration,
        mut done: impl FnMut(&Registers<B>) -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(10);
        loop {
            if done(&self.regs) {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    device: self.name.clone(),
                    what,
                    waited_ms: timeout.as_millis() as u64,
                    hint,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(ixgbe::POLL_INTERVAL_MS));
        }
    }

    fn no_rx_queue(&self, queue: u16) -> Error {
        Error::NoSuchQueue {
            device: self.name.clone(),
            kind: "receive",
            queue,
            queues: self.rx_queues(),
        }
    }

    fn no_tx_queue(&self, queue: u16) -> Error {
        Error::NoSuchQueue {
            device: self.name.clone(),
            kind: "transmit",
            queue,
            queues: self.tx_queues(),
        }
    }
}

impl<B: Bus> Drop for Ixgbe<B> {
    /// Stops the device before its rings and buffers are freed: a global reset (datasheet
    /// 4.6.3.2) disables every queue and ends all DMA, so the device never writes into memory
    /// that has been handed back.
    fn drop(&mut self) {
        self.regs.ctrl().write(CTRL::RST::SET);
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_ACCESS_DELAY_MS));
    }
}
