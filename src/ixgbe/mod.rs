//! The Intel 82599 driver (ixgbe).
//!
//! Everything the driver knows of the hardware comes from `registers/ixgbe.toml`; the comments
//! cite the sections of the 82599 datasheet (revision 3.3) each step follows, and say in a line
//! what that section asks. The driver is generic over the bus its registers sit on: a mapped BAR
//! on real hardware, the behavioural model in `rixy::sim` in tests. It does not know which.
//!
//! # Reading order
//!
//! 1. `mod.rs` (this file): the [`Ixgbe`] struct, [`Ixgbe::new`], and the reset at close.
//! 2. `init.rs`: bringing the port up as one listing of the datasheet's initialisation flow
//!    (4.6.3 and the sections it points to): all memory first, then the device step by step,
//!    the receive filters before receive is enabled. The waits and the receive-enable
//!    handshake it uses sit at its end.
//! 3. `rx.rs`: a receive queue (`RxRing`: ring, posted buffers, pool) and the batched receive
//!    path [`Ixgbe::rx_batch`].
//! 4. `tx.rs`: a transmit queue (`TxRing`: ring, packets in flight) and the batched transmit
//!    path [`Ixgbe::tx_batch`].
//! 5. `filters.rs`: what the port accepts once it runs: its MAC address, promiscuous mode, and
//!    the RSS key and redirection table.
//! 6. `status.rs`: what the port reports: statistics, link, the health check of an idle
//!    queue, and which buffers the queues hold.
//! 7. `interrupts.rs`: with [`Config::interrupts`], an MSI-X vector per receive queue (GPIE,
//!    IVAR, EIAC, EIAM, EITR) and [`Ixgbe::rx_wait`], which sleeps until packets arrive.
//!
//! # Where rixy departs from the datasheet
//!
//! Every place where the driver does something other than the datasheet asks, or skips a step
//! of it, carries one comment of the same form, `// DEPARTS <section>: <what rixy does, and
//! why>`. `grep -rn '^ *// DEPARTS' src/ixgbe` lists them all.
//!
//! # Differences from ixy
//!
//! rixy follows ixy's `ixgbe.c` where ixy follows the datasheet. Where it does not, rixy does
//! what the datasheet asks:
//!
//! | Step | ixy | rixy | Datasheet |
//! |------|-----|------|-----------|
//! | Mask interrupts | writes all 32 bits of EIMC, bit 31 is reserved | writes the defined causes only | 4.6.3.1, 8.2.3.5.4 |
//! | Receive packet buffer 0 | 128 KB | all 512 KB ([`RX_PACKET_BUFFER_KB`](crate::regs::ixgbe::RX_PACKET_BUFFER_KB)) | 4.6.11.3.4 |
//! | RDRXCTL | leaves RSCFRSTSIZE, RSCACKC and FCOE_WRFIX at their reset values | clears RSCFRSTSIZE, sets RSCACKC and FCOE_WRFIX | 8.2.3.8.8 |
//! | Receive buffer size (SRRCTL.BSIZEPACKET) | 2 KB of a 2 KB buffer whose data starts 64 bytes in | the room after the headroom, in whole KB | 8.2.3.8.7 |
//! | Receive head | writes RDH = 0 after the queue is enabled (RDH is read-only) | never writes RDH | 8.2.3.8.4 |
//! | Receive enable | RXCTRL.RXEN before the queues are enabled, without the security-path handshake | RXEN last, inside SECRXCTRL.RX_DIS / SECRXSTAT.SECRX_RDY (as Linux's `ixgbe_enable_rx_dma_82599`) | 4.6.7 |
//! | Promiscuous mode at open | set after receive is enabled | set with the other receive filters, before receive is enabled | 8.2.3.7.1 |
//! | Transmit arbiter | only clears RTTDCS.ARBDIS | sets ARBDIS around the packet buffer and DMA request size set-up, then clears it | 4.6.8 |
//! | Transmit packet buffer 0 | 40 KB | all 160 KB ([`TX_PACKET_BUFFER_KB`](crate::regs::ixgbe::TX_PACKET_BUFFER_KB)) | 4.6.11.3.4 |
//! | DTXMXSZRQ | writes 0xFFFF, bits 15:12 are reserved | writes MAX_BYTES_NUM_REQ only | 8.2.3.9.1 |
//! | TXDCTL.WTHRESH | 4 | 0: DD is written back at once for each descriptor with RS, and only the last of a batch has RS | 7.2.3.5.1 |
//! | Transmit enable | overwrites all of DMATXCTL | sets DMATXCTL.TE only | 4.6.8 |
//! | Set the MAC address | clears RAH.AV, so the port stops accepting its own address once promiscuous mode is off | keeps RAH.AV set | 8.2.3.7.9 |
//!
//! The ixy column describes ixy's `src/driver/ixgbe.c` at commit 0e00605.

mod filters;
mod init;
mod interrupts;
mod queue;
mod rx;
mod status;
mod tx;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tock_registers::interfaces::Writeable;

use crate::config::{BufferSizes, Config, Stats};
use crate::interrupt::InterruptSource;
use crate::memory::{DmaAllocator, DmaDomain, InDomain, Packet};
use crate::regs::ixgbe::{self, CTRL, Registers};
use crate::regs::{Bus, DmaMaster};
use crate::{Error, Result};

pub use filters::{DEFAULT_RSS_KEY, RSS_KEY_LEN, RSS_MAX_QUEUES, RSS_TABLE_LEN};
pub use ixgbe::INTEL_VENDOR_ID;

pub use interrupts::MAX_ITR_US;
pub use queue::{RxHandle, TxHandle};

use queue::Shared;
use rx::RxRing;
use tx::TxRing;

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

/// An 82599 port on bus `B`, initialised and running.
pub struct Ixgbe<B: Bus> {
    name: String,
    regs: Registers<B>,
    /// The receive queues the port serves itself; `None` while a handle has it.
    rx: Vec<Option<RxRing>>,
    /// The transmit queues the port serves itself; `None` while a handle has it.
    tx: Vec<Option<TxRing>>,
    /// Totals of the clear-on-read counters so far, added to on every `stats()`.
    totals: Stats,
    /// The memory the device reaches by DMA: every ring and pool is in it, and a packet from a
    /// pool of another domain is never handed to the device.
    domain: DmaDomain,
    /// What the port shares with the handles of its queues: their counters, a failure found
    /// by a health check (every batch then fails), whether the port is closed.
    shared: Arc<Shared>,
}

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
        Self::with_interrupts(name, bus, dma, config, None)
    }

    /// As [`Ixgbe::new`], with the device's interrupts delivered through `interrupts` (the
    /// simulated port, or VFIO): with [`Config::interrupts`] each receive queue gets an MSI-X
    /// vector of its own, and [`Ixgbe::rx_wait`] waits for packets. Interrupts without a source
    /// are [`Error::InterruptsNeedVfio`]; more receive queues than the source has vectors,
    /// [`Error::TooFewVectors`]; a throttle EITR cannot hold ([`Config::itr_us`]),
    /// [`Error::InvalidConfig`]. All of it is checked before the device is touched.
    pub fn with_interrupts<A: DmaAllocator + ?Sized>(
        name: String,
        bus: B,
        dma: &A,
        config: &Config,
        interrupts: Option<&dyn InterruptSource>,
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
        let vectors = Self::interrupt_vectors(&name, config, interrupts)?;
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
            shared: Arc::new(Shared::new(String::new(), domain, 0, 0)),
        };
        dev.shared = Arc::new(Shared::new(
            dev.name.clone(),
            domain,
            config.rx_queues,
            config.tx_queues,
        ));
        dev.init(&dma, config, vectors)?;
        Ok(dev)
    }

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
    /// A queue whose handle was taken ([`Ixgbe::take_rx`]) and is still alive is
    /// [`Error::QueueTaken`].
    #[inline]
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        let q = usize::from(queue);
        if !matches!(self.rx.get(q), Some(Some(_))) {
            self.reclaim_rx(queue)?;
        }
        match self.rx.get_mut(q) {
            Some(Some(ring)) => ring.rx_batch(&self.regs, &self.shared, out, max),
            _ => Err(self.queue_taken("receive", queue)),
        }
    }

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
    /// when the driver is dropped. A queue whose handle is alive is [`Error::QueueTaken`].
    #[inline]
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        let q = usize::from(queue);
        if !matches!(self.tx.get(q), Some(Some(_))) {
            self.reclaim_tx(queue)?;
        }
        match self.tx.get_mut(q) {
            Some(Some(ring)) => ring.tx_batch(&self.regs, &self.shared, packets),
            _ => Err(self.queue_taken("transmit", queue)),
        }
    }

    /// Descriptors of transmit queue `queue` the device has not confirmed yet (0 for a queue
    /// a handle has).
    pub fn tx_pending(&self, queue: u16) -> usize {
        self.tx
            .get(usize::from(queue))
            .and_then(Option::as_ref)
            .map_or(0, |tx| tx.pending())
    }

    /// Takes receive queue `queue` out of the port, as a handle another thread can serve.
    /// Dropping the handle gives the queue back. An error if the port has no such queue, or
    /// its handle is out already ([`Error::QueueTaken`]).
    pub fn take_rx(&mut self, queue: u16) -> Result<RxHandle<B>>
    where
        B: Clone,
    {
        self.reclaim_rx(queue)?;
        let ring = self.rx[usize::from(queue)]
            .take()
            .ok_or_else(|| self.queue_taken("receive", queue))?;
        let regs = Registers::new(self.regs.bus().clone())?;
        Ok(RxHandle::new(ring, regs, Arc::clone(&self.shared)))
    }

    /// Takes transmit queue `queue` out of the port; see [`Ixgbe::take_rx`].
    pub fn take_tx(&mut self, queue: u16) -> Result<TxHandle<B>>
    where
        B: Clone,
    {
        self.reclaim_tx(queue)?;
        let ring = self.tx[usize::from(queue)]
            .take()
            .ok_or_else(|| self.queue_taken("transmit", queue))?;
        let regs = Registers::new(self.regs.bus().clone())?;
        Ok(TxHandle::new(ring, regs, Arc::clone(&self.shared)))
    }

    /// Makes sure the port holds receive queue `queue`, taking it back from a dropped handle
    /// if need be: an error if there is no such queue or its handle is alive.
    fn reclaim_rx(&mut self, queue: u16) -> Result<()> {
        let q = usize::from(queue);
        match self.rx.get(q) {
            None => Err(self.no_rx_queue(queue)),
            Some(Some(_)) => Ok(()),
            Some(None) => match self.shared.unpark_rx(q) {
                Some(ring) => {
                    self.rx[q] = Some(ring);
                    Ok(())
                }
                None => Err(self.queue_taken("receive", queue)),
            },
        }
    }

    /// Makes sure the port holds transmit queue `queue`; see [`Ixgbe::reclaim_rx`].
    fn reclaim_tx(&mut self, queue: u16) -> Result<()> {
        let q = usize::from(queue);
        match self.tx.get(q) {
            None => Err(self.no_tx_queue(queue)),
            Some(Some(_)) => Ok(()),
            Some(None) => match self.shared.unpark_tx(q) {
                Some(ring) => {
                    self.tx[q] = Some(ring);
                    Ok(())
                }
                None => Err(self.queue_taken("transmit", queue)),
            },
        }
    }

    fn queue_taken(&self, kind: &'static str, queue: u16) -> Error {
        Error::QueueTaken {
            device: self.name.clone(),
            kind,
            queue,
        }
    }
}

impl<B: Bus> Drop for Ixgbe<B> {
    /// Stops the device before its rings and buffers are freed: a global reset (datasheet
    /// 4.6.3.2) disables every queue and ends all DMA, so the device never writes into memory
    /// that has been handed back.
    fn drop(&mut self) {
        // Handles still out fail from now on; their rings go when they do, after this reset.
        self.shared.close();
        // DEPARTS 4.6.3.2: no master disable before this reset either, although the queues
        // may be moving data. The reset ends all DMA by itself, and the rings and buffers are
        // freed only after the 1 ms the device needs before it may be touched (8.2.3.1.1).
        self.regs.ctrl().write(CTRL::RST::SET);
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_ACCESS_DELAY_MS));
    }
}
