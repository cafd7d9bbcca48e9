//! The Intel 82576 driver (igb).
//!
//! Everything the driver knows of the hardware comes from `registers/igb.toml`; the comments
//! cite the sections of the 82576 datasheet each step follows. Like [`crate::ixgbe`], the driver
//! is generic over the bus its registers sit on; unlike it, no model of the 82576 exists in
//! rixy: the device it is checked against is QEMU's independent emulation (`-device igb`,
//! `tests/qemu_igb.rs`).
//!
//! The 82576 shares the 82599's advanced descriptor formats and ring discipline, at other
//! offsets and with other bits: the write-back's RXE error bit is bit 31 here and bit 29 on the
//! 82599, so the descriptor layouts are declared apart in the two datasheet files. What is
//! truly the same is shared: the ring memory ([`crate::memory::DescRing`]), the index
//! arithmetic ([`crate::ring::RingSize`]) and the health-check cadence
//! (`IdleBatches` in `src/error.rs`).
//!
//! # Reading order
//!
//! 1. `mod.rs` (this file): the [`Igb`] struct, [`Igb::new`], the batch entry points and the
//!    reset at close.
//! 2. `init.rs`: bringing the port up along the datasheet's initialisation chapter (4.5):
//!    memory first, then reset, link, statistics, receive (4.5.9), transmit (4.5.10).
//! 3. `rx.rs`: the receive queue and the batched receive path.
//! 4. `tx.rs`: the transmit queue and the batched transmit path.
//! 5. `status.rs`: MAC address, promiscuous mode, statistics, link, the health check and the
//!    buffers the queues hold.
//!
//! # Where rixy departs from the datasheet
//!
//! Every such place carries a comment `// DEPARTS <section>: <what, and why>`;
//! `grep -rn '^ *// DEPARTS' src/igb` lists them.
//!
//! # What it does not do (yet)
//!
//! One receive and one transmit queue (no RSS, no VMDq, no SR-IOV); no queue handles
//! ([`crate::Device::take_queues`] refuses an 82576); no interrupts (polling only).

mod init;
mod rx;
mod status;
mod tx;

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use tock_registers::interfaces::Writeable;

use crate::config::{BufferSizes, Config, QueueCounters, Stats};
use crate::error::Failure;
use crate::memory::{DmaAllocator, DmaDomain, InDomain, Packet};
use crate::regs::igb::{self, CTRL, Registers};
use crate::regs::{Bus, DmaMaster};
use crate::{Error, Result};

pub use igb::INTEL_VENDOR_ID;

use rx::RxRing;
use tx::TxRing;

/// The 82576-family device ids the driver accepts (PCI vendor [`INTEL_VENDOR_ID`]).
pub const DEVICE_IDS: &[u16] = &[
    igb::DEVICE_ID_82576,
    igb::DEVICE_ID_82576_FIBER,
    igb::DEVICE_ID_82576_SERDES,
    igb::DEVICE_ID_82576_QUAD_COPPER,
    igb::DEVICE_ID_82576_QUAD_COPPER_ET2,
    igb::DEVICE_ID_82576_NS,
    igb::DEVICE_ID_82576_NS_SERDES,
    igb::DEVICE_ID_82576_SERDES_QUAD,
];

/// The receive buffer sizes the driver takes ([`Config::buffer_size`]): SRRCTL.BSIZEPACKET
/// counts in 1 KB units up to 127 KB (datasheet 8.10.2), and the room after the headroom must
/// hold a full frame.
pub const BUFFER_SIZES: BufferSizes = BufferSizes::for_device(
    "the 82576 (igb)",
    igb::BUFFER_SIZE_GRANULARITY,
    igb::MAX_RX_BUFFER_KB * igb::BUFFER_SIZE_GRANULARITY,
);

/// An 82576 port on bus `B`, initialised and running.
pub struct Igb<B: Bus> {
    name: String,
    regs: Registers<B>,
    rx: RxRing,
    tx: TxRing,
    /// Totals of the clear-on-read counters so far, added to on every `stats()`.
    totals: Stats,
    /// The memory the device reaches by DMA.
    domain: DmaDomain,
    /// Set once, by the first health check that finds the device gone or reset.
    failure: OnceLock<Failure>,
    rx_counters: QueueCounters,
    tx_counters: QueueCounters,
}

impl<B: Bus> Igb<B> {
    /// Resets and initialises the port whose registers are on `bus` (datasheet 4.5), with DMA
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
        if config.rx_queues != 1 || config.tx_queues != 1 {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{name}: rixy's 82576 (igb) driver runs one receive and one transmit queue (no RSS yet); {} and {} were asked for: open it with 1 and 1",
                    config.rx_queues, config.tx_queues
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
        // 4.5: all memory first, so that a failed allocation leaves the device untouched.
        let (rx, tx) = init::allocate(&dma, config)?;
        let mut dev = Igb {
            name,
            regs,
            rx,
            tx,
            totals: Stats::default(),
            domain,
            failure: OnceLock::new(),
            rx_counters: QueueCounters::default(),
            tx_counters: QueueCounters::default(),
        };
        dev.init(config)?;
        Ok(dev)
    }

    /// Receives up to `max` packets from receive queue `queue` (only 0) into `out`; returns how
    /// many. Only a frame the device wrote whole into one buffer is handed out; a write-back the
    /// driver cannot trust (a frame over several descriptors, a length beyond the buffer, an
    /// RXE error) is dropped and counted once in [`Stats::rx_errors`], its buffer going straight
    /// back to its descriptor. `max` must be less than the ring size.
    ///
    /// A device that has gone away or reset itself is reported once a batch comes back empty:
    /// [`Error::DeviceRemoved`] or [`Error::DeviceReset`], from then on for every batch.
    #[inline]
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        if queue != 0 {
            return Err(self.no_queue("receive", queue));
        }
        self.check_running()?;
        let (received, idle_check) = self.rx.rx_batch(&self.regs, &self.rx_counters, out, max)?;
        if idle_check {
            self.check_health("receive")?;
        }
        Ok(received)
    }

    /// Sends packets from the front of `packets` on transmit queue `queue` (only 0); returns
    /// how many it took. Packets that do not fit the ring stay in `packets`, in order. A packet
    /// too short or too long for a descriptor is taken, dropped and counted in
    /// [`Stats::tx_errors`]. If one of the packets the ring could take comes from a pool the
    /// device does not reach, nothing is taken and the error names it.
    ///
    /// A device that has gone away or reset itself is reported once a batch takes nothing:
    /// [`Error::DeviceRemoved`] or [`Error::DeviceReset`], from then on for every batch.
    #[inline]
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        if queue != 0 {
            return Err(self.no_queue("transmit", queue));
        }
        self.check_running()?;
        let (taken, idle_check) = self.tx.tx_batch(
            &self.regs,
            &self.tx_counters,
            self.domain,
            &self.name,
            packets,
        )?;
        if idle_check {
            self.check_health("transmit")?;
        }
        Ok(taken)
    }

    /// Descriptors of transmit queue `queue` the device has not confirmed yet.
    pub fn tx_pending(&self, queue: u16) -> usize {
        if queue == 0 { self.tx.pending() } else { 0 }
    }

    /// The error every batch gets once a health check found the device failed.
    #[inline]
    fn check_running(&self) -> Result<()> {
        match self.failure.get() {
            Some(failure) => Err(failure.error(&self.name)),
            None => Ok(()),
        }
    }

    fn no_queue(&self, kind: &'static str, queue: u16) -> Error {
        Error::NoSuchQueue {
            device: self.name.clone(),
            kind,
            queue,
            queues: 1,
        }
    }
}

impl<B: Bus> Drop for Igb<B> {
    /// Stops the device before its rings and buffers are freed: a software reset (CTRL.RST,
    /// datasheet 4.5.5) stops receive and transmit DMA, so the device never writes into memory
    /// that has been handed back.
    fn drop(&mut self) {
        // DEPARTS 4.5.5: no master disable (CTRL.GIO_MASTER_DISABLE, then
        // STATUS.GIO_MASTER_ENABLE reading 0) before this reset. The reset ends all DMA by
        // itself, and the rings and buffers are freed only after the delay it needs.
        self.regs.ctrl().write(CTRL::RST::SET);
        std::thread::sleep(Duration::from_millis(igb::RESET_ACCESS_DELAY_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::PlainAllocator;
    use crate::regs::MemBus;
    use tock_registers::interfaces::Readable;

    /// Registers that hold what was written and nothing else: CTRL.RST, once set, stays set,
    /// as on a device whose software reset never completes.
    fn stuck() -> MemBus {
        MemBus::new(Registers::<MemBus>::SIZE)
    }

    #[test]
    fn a_reset_that_never_completes_is_a_timeout_naming_it() {
        let config = Config {
            link_timeout: Duration::ZERO,
            ..Config::default()
        };
        let err = match Igb::new("igb-test".into(), stuck(), &PlainAllocator::new(), &config) {
            Ok(_) => panic!("a device whose CTRL.RST never clears opened"),
            Err(e) => e,
        };
        assert!(
            matches!(&err, Error::Timeout { what, .. } if what.starts_with("the software reset (CTRL.RST")),
            "{err}"
        );
    }

    /// A register window whose reads are all 0 and whose writes vanish: a BAR with its memory
    /// decoding off, as QEMU answers it (`tests/qemu_igb.rs` provokes the same in the guest).
    struct ZeroBus;

    impl Bus for ZeroBus {
        fn len(&self) -> usize {
            Registers::<MemBus>::SIZE
        }
        unsafe fn read8(&self, _: usize) -> u8 {
            0
        }
        unsafe fn read16(&self, _: usize) -> u16 {
            0
        }
        unsafe fn read32(&self, _: usize) -> u32 {
            0
        }
        unsafe fn read64(&self, _: usize) -> u64 {
            0
        }
        unsafe fn write8(&self, _: usize, _: u8) {}
        unsafe fn write16(&self, _: usize, _: u16) {}
        unsafe fn write32(&self, _: usize, _: u32) {}
        unsafe fn write64(&self, _: usize, _: u64) {}
    }

    impl DmaMaster for ZeroBus {
        fn dma_domain(&self) -> DmaDomain {
            DmaDomain::Virtual
        }
    }

    #[test]
    fn registers_that_read_zero_are_a_reset_that_never_completes() {
        // CTRL.RST reads 0 at once, but receive queue 0 never reads enabled, as it does after
        // every reset (4.5.9).
        let config = Config {
            link_timeout: Duration::ZERO,
            ..Config::default()
        };
        let err = match Igb::new("igb-test".into(), ZeroBus, &PlainAllocator::new(), &config) {
            Ok(_) => panic!("a device whose registers read 0 opened"),
            Err(e) => e,
        };
        assert!(
            matches!(&err, Error::Timeout { what, hint, .. } if what.starts_with("the software reset") && hint.contains("memory decoding")),
            "{err}"
        );
    }

    #[test]
    fn more_than_one_queue_is_refused_before_the_device_is_touched() {
        let bus = stuck();
        let config = Config {
            rx_queues: 2,
            ..Config::default()
        };
        let err = match Igb::new("igb-test".into(), &bus, &PlainAllocator::new(), &config) {
            Ok(_) => panic!("two receive queues were accepted"),
            Err(e) => e,
        };
        assert!(
            matches!(&err, Error::InvalidConfig { problem } if problem.contains("one receive and one transmit queue")),
            "{err}"
        );
        let regs = Registers::new(&bus).unwrap();
        assert_eq!(regs.ctrl().get(), 0, "CTRL was written");
    }
}
