//! Bringing an 82576 up along the datasheet's initialisation chapter: 4.5.3 (the sequence),
//! 4.5.4 (interrupts masked), 4.5.5 (global reset and general configuration), 4.5.7 (link),
//! 4.5.8 (statistics), 4.5.9 (receive) and 4.5.10 (transmit).
//!
//! Read [`Igb::init`] from top to bottom: one comment per step naming its section and what it
//! asks, then the code. A step rixy does differently or skips is tagged `// DEPARTS`.

use std::time::Duration;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::rx::RxRing;
use super::tx::TxRing;
use super::{BUFFER_SIZES, Igb};
use crate::config::Config;
use crate::memory::DmaAllocator;
use crate::regs::Bus;
use crate::regs::igb::{
    self, CTRL, EECD, EIMC, IMC, MDIC, MRQC, RCTL, RXDCTL, Registers, SRRCTL, STATUS, TCTL, TXDCTL,
    adv_rx_desc, adv_tx_desc,
};
use crate::ring::{MIN_DRIVER_RING, RingSize};
use crate::{Error, Result};

/// How long a datasheet step may take before the driver gives up on the device (driver choice).
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

// 8.10.7, 8.12.12: RDLEN and TDLEN are multiples of RING_LEN_MULTIPLE bytes; every ring the
// driver takes is a power of two of at least MIN_DRIVER_RING descriptors.
const _: () = assert!(
    (MIN_DRIVER_RING * adv_rx_desc::SIZE).is_multiple_of(igb::RING_LEN_MULTIPLE)
        && (MIN_DRIVER_RING * adv_tx_desc::SIZE).is_multiple_of(igb::RING_LEN_MULTIPLE)
);

/// TCTL's collision threshold and distance (8.12.1: 0xF and, for full duplex, 0x3F; both only
/// matter in half duplex).
const TX_COLLISION_THRESHOLD: u32 = 0xF;
const TX_COLLISION_DISTANCE: u32 = 0x3F;

/// The memory of the port's queues (4.5.9, 4.5.10: the rings and buffers exist before a
/// register points at them), allocated before the device is touched.
pub(super) fn allocate<A: DmaAllocator + ?Sized>(
    dma: &A,
    config: &Config,
) -> Result<(RxRing, TxRing)> {
    // 8.10.2: the device writes at most BSIZEPACKET KB into a buffer: the room after the
    // headroom, in whole KB (BUFFER_SIZES keeps it between a full frame and 127 KB).
    let room = BUFFER_SIZES.device_room(config.buffer_size);
    let rx = RxRing::new(
        dma,
        igb::RxQueue::at::<0>(),
        RingSize::for_driver(config.rx_ring_size)?,
        config.rx_mempool_size(),
        config.buffer_size,
        room / igb::BUFFER_SIZE_GRANULARITY * igb::BUFFER_SIZE_GRANULARITY,
    )?;
    let tx = TxRing::new(
        dma,
        igb::TxQueue::at::<0>(),
        RingSize::for_driver(config.tx_ring_size)?,
    )?;
    Ok((rx, tx))
}

impl<B: Bus> Igb<B> {
    /// Brings the port up (4.5.3): interrupts masked, reset, link, statistics, receive,
    /// transmit, in the datasheet's order. The memory is already allocated.
    pub(super) fn init(&mut self, config: &Config) -> Result<()> {
        // 4.5.4: interrupts stay masked during initialisation (IMC, EIMC), pending causes
        // cleared (ICR clears when read).
        self.disable_interrupts();

        // 4.5.5: a software reset (CTRL.RST) puts the MAC, DMA and registers in a known state;
        // the bit clears itself. Software waits before it touches the device again. The reset
        // is done when RST reads 0 and the registers read their reset values: receive queue 0
        // comes out of every reset enabled (4.5.9: RXDCTL.ENABLE is set by default for queue
        // 0), which a device whose registers read 0 (memory decoding off) never shows.
        // DEPARTS 4.5.5: no master disable first (CTRL.GIO_MASTER_DISABLE, then
        // STATUS.GIO_MASTER_ENABLE reading 0). At open nothing of rixy's is in flight: the
        // device was reset at the previous owner's close or stopped by the kernel driver.
        self.regs.ctrl().modify(CTRL::RST::SET);
        std::thread::sleep(Duration::from_millis(igb::RESET_ACCESS_DELAY_MS));
        self.wait(
            "the software reset (CTRL.RST clearing, receive queue 0 reading enabled)",
            "is the device present, powered and its memory decoding on? a removed device reads all ones, a disabled BAR zeros",
            STEP_TIMEOUT,
            |r| !r.ctrl().is_set(CTRL::RST) && r.rxdctl(igb::RxQueue::at::<0>()).is_set(RXDCTL::ENABLE),
        )?;
        if self.removed() {
            return Err(Error::DeviceRemoved {
                device: self.name.clone(),
            });
        }

        // 4.5.4 again: the reset unmasks nothing, but the flow masks once more after it.
        self.disable_interrupts();

        // 4.5.5: after the reset the device reloads its EEPROM settings; EECD.AUTO_RD reads 1
        // once it has.
        // DEPARTS 4.5.5: a device whose AUTO_RD never sets is used anyway, after
        // AUTO_READ_TIMEOUT_MS, with a warning (Linux's igb does the same: a port without an
        // EEPROM never sets it). QEMU's igb never sets it.
        let auto_read = self.wait(
            "the EEPROM auto-read (EECD.AUTO_RD)",
            "",
            Duration::from_millis(igb::AUTO_READ_TIMEOUT_MS),
            |r| r.eecd().is_set(EECD::AUTO_RD),
        );
        if auto_read.is_err() {
            log::debug!(
                "{}: EECD.AUTO_RD still 0 {} ms after reset; going on with the settings the device has",
                self.name,
                igb::AUTO_READ_TIMEOUT_MS
            );
        }

        // DEPARTS 8.2.3: CTRL_EXT.DRV_LOAD, which tells manageability firmware a driver owns the
        // port, is never set: rixy assumes no firmware shares the port.

        // 4.5.7: copper link set-up: CTRL.SLU set and speed and duplex not forced, so the MAC
        // takes what the PHY negotiates; the PHY's auto-negotiation is (re)started through
        // MDIC (PHY control register: auto-negotiation enable and restart).
        // DEPARTS 4.5.7: no fiber or SerDes set-up, and the PHY is not reset: the copper
        // 82576 with its internal PHY is what the driver sets up.
        self.regs
            .ctrl()
            .modify(CTRL::SLU::SET + CTRL::FRCSPD::CLEAR + CTRL::FRCDPX::CLEAR);
        let pctrl = self.phy_read(igb::PHY_CONTROL)?;
        self.phy_write(
            igb::PHY_CONTROL,
            (pctrl | igb::PHY_CONTROL_AUTONEG_ENABLE | igb::PHY_CONTROL_RESTART_AUTONEG)
                & !igb::PHY_CONTROL_RESET,
        )?;

        // 4.5.8: the statistics registers clear when read; reading them all once starts every
        // count from zero.
        self.stats();
        self.totals = Default::default();

        // 4.5.9, then 4.5.10.
        self.init_rx(config)?;
        self.init_tx()?;

        // DEPARTS 4.5.4: the flow ends by enabling the interrupts the driver uses; rixy polls.
        self.wait_for_link(config.link_timeout);
        Ok(())
    }

    /// 4.5.4: masks every interrupt cause (IMC, EIMC) and clears the pending ones (ICR, EICR
    /// clear when read).
    fn disable_interrupts(&mut self) {
        self.regs.imc().write(IMC::CAUSES::SET);
        self.regs.eimc().write(EIMC::CAUSES::SET);
        let _pending = self.regs.icr().take();
        let _pending = self.regs.eicr().take();
    }

    /// 4.5.9: receive initialisation: the queue's ring and buffer layout, the filters, the
    /// queue enabled, then receive.
    fn init_rx(&mut self, config: &Config) -> Result<()> {
        let queue = self.rx.queue;
        // Receive stays off while it is configured; it is enabled last. 8.10.1: broadcast
        // accepted (BAM), every unicast and multicast address too in promiscuous mode (UPE,
        // MPE), the CRC stripped (SECRC), no loopback, no long packets.
        self.regs
            .rctl()
            .write(RCTL::BAM::SET + RCTL::SECRC::SET + super::status::promisc_bits(config.promisc));
        // DEPARTS 4.5.9: the multicast table (MTA) is not zeroed: rixy programs no multicast
        // filter and leaves the table as it finds it.
        // 8.10.21: one queue: no RSS, no VMDq.
        self.regs.mrqc().write(MRQC::MRQE::NONE);

        // 4.5.9.2: a queue's ring is set up while the queue is disabled. Queue 0 comes out of
        // reset enabled (8.10.10), so it is disabled first and the driver waits for ENABLE to
        // read 0.
        self.regs.rxdctl(queue).modify(RXDCTL::ENABLE::CLEAR);
        self.wait(
            "a receive queue to stop (RXDCTL.ENABLE reading 0)",
            "the device did not stop its receive queue",
            STEP_TIMEOUT,
            |r| !r.rxdctl(queue).is_set(RXDCTL::ENABLE),
        )?;
        // 8.10.2: advanced descriptors with one buffer of BSIZEPACKET KB, and frames dropped
        // when no descriptor is free rather than held in the packet buffer.
        let bsize_kb = (self.rx.nic_buffer / igb::BUFFER_SIZE_GRANULARITY) as u32;
        self.regs.srrctl(queue).write(
            SRRCTL::DESCTYPE::ADV_ONE_BUF
                + SRRCTL::BSIZEPACKET::val_checked(bsize_kb)?
                + SRRCTL::DROP_EN::SET,
        );
        // 8.10.5 to 8.10.7: the ring's base (RING_BASE_ALIGN-aligned) and length in bytes.
        let base = self.rx.ring.device_addr();
        self.regs.rdbal(queue).set(base as u32);
        self.regs.rdbah(queue).set((base >> 32) as u32);
        self.regs.rdlen(queue).set(self.rx.ring.bytes() as u32);
        // 8.10.9: the head is 0 after the reset; the tail starts there, so the device owns
        // nothing until the queue runs.
        self.regs.rdt(queue).set(0);

        // 4.5.9.2: the queue is enabled, and only once ENABLE reads 1 does its tail move: every
        // descriptor but the last is handed over (the device owns head..tail-1, 7.1.8).
        self.regs.rxdctl(queue).modify(RXDCTL::ENABLE::SET);
        self.wait(
            "a receive queue to start (RXDCTL.ENABLE reading 1)",
            "the queue's ring registers may be invalid",
            STEP_TIMEOUT,
            |r| r.rxdctl(queue).is_set(RXDCTL::ENABLE),
        )?;
        let last = self.rx.ring.size().get() - 1;
        self.regs.rdt(queue).set(last as u32);

        // 4.5.9: receive as a whole is enabled last.
        self.regs.rctl().modify(RCTL::EN::SET);
        Ok(())
    }

    /// 4.5.10: transmit initialisation.
    fn init_tx(&mut self) -> Result<()> {
        let queue = self.tx.queue;
        // 8.12.1: short frames padded (PSP), the collision parameters of full duplex; transmit
        // is enabled once the queue is set up.
        self.regs.tctl().write(
            TCTL::PSP::SET
                + TCTL::CT::val_checked(TX_COLLISION_THRESHOLD)?
                + TCTL::COLD::val_checked(TX_COLLISION_DISTANCE)?,
        );
        // 4.5.10.1: the ring is set up while the queue is disabled; queue 0 comes out of reset
        // enabled (8.12.15).
        self.regs.txdctl(queue).modify(TXDCTL::ENABLE::CLEAR);
        self.wait(
            "a transmit queue to stop (TXDCTL.ENABLE reading 0)",
            "the device did not stop its transmit queue",
            STEP_TIMEOUT,
            |r| !r.txdctl(queue).is_set(TXDCTL::ENABLE),
        )?;
        let base = self.tx.ring.device_addr();
        self.regs.tdbal(queue).set(base as u32);
        self.regs.tdbah(queue).set((base >> 32) as u32);
        self.regs.tdlen(queue).set(self.tx.ring.bytes() as u32);
        // 8.12.14: TDH is 0 after the reset and TDT = TDH: an empty ring.
        self.regs.tdt(queue).set(0);
        // 8.12.15: WTHRESH = 0, so DD is written back for each descriptor with RS at once;
        // then the queue is enabled and its tail moves only once ENABLE reads 1.
        self.regs
            .txdctl(queue)
            .write(TXDCTL::WTHRESH::CLEAR + TXDCTL::ENABLE::SET);
        self.wait(
            "a transmit queue to start (TXDCTL.ENABLE reading 1)",
            "the queue's ring registers may be invalid",
            STEP_TIMEOUT,
            |r| r.txdctl(queue).is_set(TXDCTL::ENABLE),
        )?;
        self.regs.tctl().modify(TCTL::EN::SET);
        Ok(())
    }

    /// 4.5.7: the link comes up once the PHY has negotiated; wait for it, but open the device
    /// either way (a cable may be plugged in later).
    fn wait_for_link(&self, timeout: Duration) {
        let up = self.wait("the link to come up (STATUS.LU)", "", timeout, |r| {
            r.status().is_set(STATUS::LU)
        });
        match up {
            Ok(()) => log::info!(
                "{}: link up at {} Mbit/s",
                self.name,
                self.link().speed_mbps
            ),
            Err(_) => log::warn!(
                "{}: link still down after {} ms",
                self.name,
                timeout.as_millis()
            ),
        }
    }

    /// 8.2.4: reads PHY register `register` through MDIC: one operation, then READY.
    fn phy_read(&self, register: u32) -> Result<u32> {
        let mdic = self.mdic(MDIC::OP::READ, register, 0)?;
        Ok(mdic & MDIC::DATA.mask << MDIC::DATA.shift)
    }

    /// 8.2.4: writes `value` to PHY register `register` through MDIC.
    fn phy_write(&self, register: u32, value: u32) -> Result<()> {
        self.mdic(MDIC::OP::WRITE, register, value).map(|_| ())
    }

    fn mdic(
        &self,
        op: tock_registers::fields::FieldValue<u32, MDIC::Register>,
        register: u32,
        data: u32,
    ) -> Result<u32> {
        self.regs.mdic().write(
            op + MDIC::REGADD::val_checked(register)?
                + MDIC::PHYADD::val_checked(igb::PHY_ADDRESS)?
                + MDIC::DATA::val_checked(data)?,
        );
        self.wait(
            "a PHY register access (MDIC.READY)",
            "the PHY did not answer",
            STEP_TIMEOUT,
            |r| r.mdic().is_set(MDIC::READY),
        )?;
        let mdic = self.regs.mdic().extract();
        if mdic.is_set(MDIC::ERROR) {
            return Err(Error::DeviceFailed {
                device: self.name.clone(),
                problem: format!(
                    "the PHY refused an access to its register {register} (MDIC.ERROR set): the port may not have the internal copper PHY rixy sets up"
                ),
            });
        }
        Ok(mdic.get())
    }

    /// Polls `done` on the registers until it holds, for at most `timeout`
    /// ([`crate::regs::poll_until`]): a device that never gets there is an error naming what it
    /// did not do, never a hang.
    pub(super) fn wait(
        &self,
        what: &'static str,
        hint: &'static str,
        timeout: Duration,
        mut done: impl FnMut(&Registers<B>) -> bool,
    ) -> Result<()> {
        crate::regs::poll_until(&self.name, what, hint, timeout, || done(&self.regs))
    }
}
