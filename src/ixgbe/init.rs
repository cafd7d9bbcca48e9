//! Bringing an 82599 up, as one listing of the datasheet's initialisation flow: 4.6.3 (general
//! initialisation) and the sections it hands over to, 4.6.4 (link), 4.6.5 (statistics), 4.6.7
//! (receive) and 4.6.8 (transmit).
//!
//! Read [`Ixgbe::init`] from top to bottom: all memory first, then one comment per datasheet
//! step naming its section and saying what the datasheet asks, then the code that does it.
//! `init_rx` and `init_tx` follow it in the same style. A step rixy does differently or skips
//! is tagged `// DEPARTS <section>:` with the reason. The waits and the receive-enable
//! handshake the steps use close the file.

use std::time::Duration;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::filters::promisc_bits;
use super::rx::RxRing;
use super::tx::TxRing;
use super::{BUFFER_SIZES, DEFAULT_RSS_KEY, Ixgbe, RSS_TABLE_LEN};
use crate::Result;
use crate::config::Config;
use crate::memory::DmaAllocator;
use crate::regs::Bus;
use crate::regs::ixgbe::{
    self, AUTOC, CTRL, CTRL_EXT, DCA_RXCTRL, DMATXCTL, DTXMXSZRQ, EEC, EIMC, FCTRL, HLREG0, LINKS,
    MRQC, PacketBuffer, RDBAL, RDRXCTL, RTTDCS, RXCTRL, RXDCTL, RXPBSIZE, Registers, SECRXCTRL,
    SECRXSTAT, SRRCTL, STATUS, TDBAL, TXDCTL, TXPBSIZE, adv_rx_desc, adv_tx_desc,
};
use crate::ring::{MIN_DRIVER_RING, RingSize};

/// How long a datasheet step may take before the driver gives up on the device (driver
/// choice: every step the datasheet times is done in milliseconds).
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

// 8.2.3.8.1, 8.2.3.9.5: RDBAL and TDBAL hold a ring's base address from bit 7 up, so a ring
// starts on a RING_BASE_ALIGN boundary: `RxRing::new` and `TxRing::new` ask `DescRing` for it.
const _: () = assert!(
    1 << RDBAL::RDBAL::SHIFT == ixgbe::RING_BASE_ALIGN
        && 1 << TDBAL::TDBAL::SHIFT == ixgbe::RING_BASE_ALIGN
);
// 8.2.3.8.3, 8.2.3.9.7: RDLEN and TDLEN are multiples of RING_LEN_MULTIPLE bytes. Every ring
// the driver takes is a power of two of at least MIN_DRIVER_RING descriptors, so it is enough
// that the smallest is.
const _: () = assert!(
    (MIN_DRIVER_RING * adv_rx_desc::SIZE).is_multiple_of(ixgbe::RING_LEN_MULTIPLE)
        && (MIN_DRIVER_RING * adv_tx_desc::SIZE).is_multiple_of(ixgbe::RING_LEN_MULTIPLE)
);

/// TXDCTL prefetch and host thresholds (driver choice within 8.2.3.9.10): prefetch when fewer
/// than 36 descriptors are on chip, fetch in bursts of at least 8. PTHRESH + WTHRESH stays
/// within the on-chip descriptors, and HTHRESH is non-zero because PTHRESH is used. WTHRESH
/// stays 0 so the device writes DD back for every descriptor with RS, at once (7.2.3.5.1).
const TX_PTHRESH: u32 = 36;
const TX_HTHRESH: u32 = 8;
const TX_WTHRESH: u32 = 0;
const _: () = assert!(TX_PTHRESH + TX_WTHRESH <= ixgbe::TX_ONCHIP_DESC && TX_HTHRESH > 0);

impl<B: Bus> Ixgbe<B> {
    /// Brings the port up (4.6.3): memory, reset, link, statistics, receive, transmit, in the
    /// datasheet's order.
    pub(super) fn init<A: DmaAllocator + ?Sized>(
        &mut self,
        dma: &A,
        config: &Config,
        vectors: Option<Vec<crate::interrupt::Interrupt>>,
    ) -> Result<()> {
        // 8.2.3.8.7: the device writes at most BSIZEPACKET KB into a receive buffer. rixy gives
        // it the room after the headroom in whole KB, never more; BUFFER_SIZES, checked in
        // `new`, keeps that between a full frame and the field's 16 KB.
        let bsize_kb =
            BUFFER_SIZES.device_room(config.buffer_size) / ixgbe::BUFFER_SIZE_GRANULARITY;

        // Memory (4.6.7, 4.6.8): each ring, its buffers and their pool exist before a register
        // points at them. All of it is allocated here, before the first register write, so no
        // step below can fail for lack of memory.
        let rx_ring = RingSize::for_driver(config.rx_ring_size)?;
        for n in 0..usize::from(config.rx_queues) {
            self.rx.push(Some(RxRing::new(
                dma,
                ixgbe::RxQueue::try_from(n)?,
                rx_ring,
                config.rx_mempool_size(),
                config.buffer_size,
                bsize_kb * ixgbe::BUFFER_SIZE_GRANULARITY,
            )?));
        }
        let tx_ring = RingSize::for_driver(config.tx_ring_size)?;
        for n in 0..usize::from(config.tx_queues) {
            self.tx.push(Some(TxRing::new(
                dma,
                ixgbe::TxQueue::try_from(n)?,
                tx_ring,
            )?));
        }

        // DEPARTS 4.6.3.2: a step the flow does not have: wait for a reset rixy did not start.
        // The previous owner's close may have reset the device (rixy's own drop does), and a
        // device in reset drops every write. The driver cannot tell how long ago that reset
        // ended, so it also gives it the settling time of 4.6.3.2 before the first write.
        self.wait(
            "a reset already in progress (CTRL.RST clearing)",
            "is the device present and powered? a removed device reads all ones",
            STEP_TIMEOUT,
            |r| !r.ctrl().is_set(CTRL::RST),
        )?;
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_SETTLE_MS));

        // 4.6.3.1: the flow starts with every interrupt masked (EIMC) and the pending causes
        // cleared (EICR clears when read).
        self.disable_interrupts();

        // 4.6.3.2: a global reset puts the device in a known state. CTRL.RST resets the whole
        // device and CTRL.LRST the link; both clear themselves when done. 8.2.3.1.1: after
        // setting RST, wait about 1 ms before reading it or touching any other register;
        // 4.6.3.2: after the reset completes, wait at least 10 ms before configuring.
        // DEPARTS 4.6.3.2: no master disable first (CTRL.GIO_MASTER_DISABLE, then
        // STATUS.GIO_MASTER_ENABLE_STATUS reading 0), which drains the device's DMA requests
        // before a reset. At open nothing of rixy's is in flight: the device was reset at the
        // previous owner's close (waited for above) or stopped by the kernel driver's unbind.
        self.regs.ctrl().write(CTRL::RST::SET + CTRL::LRST::SET);
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_ACCESS_DELAY_MS));
        // A reset is done when RST and LRST read 0 and STATUS reads its reset value's
        // GIO_MASTER_ENABLE_STATUS (8.2.3.1.2; rixy never disables mastering): without the
        // last, a BAR whose memory decoding is off, which reads all zeros, would pass for a
        // reset device and fail later with a misleading error (QEMU's 82576 showed it).
        self.wait(
            "the global reset (CTRL.RST and CTRL.LRST clearing, STATUS.GIO_MASTER_ENABLE_STATUS reading 1)",
            "is the device present, powered and its memory decoding on? a removed device reads all ones, a BAR that is not decoded all zeros",
            STEP_TIMEOUT,
            |r| {
                let ctrl = r.ctrl().extract();
                !ctrl.is_set(CTRL::RST)
                    && !ctrl.is_set(CTRL::LRST)
                    && r.status().is_set(STATUS::GIO_MASTER_ENABLE_STATUS)
            },
        )?;
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_SETTLE_MS));

        // 4.6.3.1 again: the flow masks interrupts once more after the reset.
        self.disable_interrupts();

        // DEPARTS 8.2.3.1.3: CTRL_EXT.DRV_LOAD, which tells manageability firmware that a
        // driver owns the port, is never set. rixy assumes no firmware shares the port with it;
        // with such firmware the port would look driverless to it.

        // 4.6.3: configure nothing before the device has loaded its EEPROM settings (EEC.ARD)
        // and finished its DMA initialisation (RDRXCTL.DMAIDONE).
        self.wait(
            "the EEPROM auto-read (EEC.ARD)",
            "the device's EEPROM may be missing or corrupt",
            STEP_TIMEOUT,
            |r| r.eec().is_set(EEC::ARD),
        )?;
        self.wait(
            "DMA initialisation (RDRXCTL.DMAIDONE)",
            "the device did not finish its DMA initialisation after reset",
            STEP_TIMEOUT,
            |r| r.rdrxctl().is_set(RDRXCTL::DMAIDONE),
        )?;

        // 4.6.4: the link is set up through AUTOC (link mode, then a restart of
        // auto-negotiation); it comes up on its own afterwards.
        // DEPARTS 4.6.4: one fixed mode, 10 Gb/s serial, for every 82599 variant, with none of
        // the media-specific set-up (SFP+ module identification, KR/KX4 choice) Linux does:
        // the mode ixy programs, and the one the model implements.
        // DEPARTS 8.2.3.4.11: AUTOC is written without taking the software/firmware semaphore
        // (SWSM.SWESMBI, then SW_FW_SYNC.SW_MAC_CSR_SM) that guards it against manageability
        // firmware: the same assumption as DRV_LOAD above, that no firmware shares the port.
        self.regs
            .autoc()
            .modify(AUTOC::LMS::SERIAL_10G + AUTOC::PMA_PMD_10G::XAUI);
        self.regs.autoc().modify(AUTOC::RESTART_AN::SET);

        // 4.6.5: the statistics registers clear when read; reading them all once starts every
        // count from zero.
        self.stats();
        self.totals = Default::default();

        // 7.3: with interrupts, the vectors are set up before receive starts, so the first
        // frame already has its cause (`interrupts.rs`).
        if let Some(vectors) = vectors {
            self.init_interrupts(config, vectors)?;
        }

        // 4.6.7, then 4.6.8.
        self.init_rx(config, bsize_kb as u32)?;
        self.init_tx()?;

        // DEPARTS 4.6.3.1: the flow ends by enabling the interrupts the driver uses. rixy
        // polls, so every cause stays masked; with interrupts, a queue's vector is unmasked
        // only while the queue waits (`interrupts.rs`).

        self.wait_for_link(config.link_timeout);
        Ok(())
    }

    /// 4.6.3.1: masks every interrupt cause (the defined ones: bit 31 of EIMC is reserved) and
    /// clears the pending ones by reading EICR.
    fn disable_interrupts(&mut self) {
        self.regs.eimc().write(EIMC::CAUSES::SET);
        let _pending = self.regs.eicr().take();
    }

    /// 4.6.7: receive initialisation. Every queue's memory is already allocated, with a buffer
    /// in each descriptor.
    fn init_rx(&mut self, config: &Config, bsize_kb: u32) -> Result<()> {
        let regs = &self.regs;
        // Receive stays off while it is configured; it is enabled last.
        regs.rxctrl().modify(RXCTRL::RXEN::CLEAR);

        // 4.6.11.3.4: without DCB or virtualisation one packet buffer gets all the receive
        // packet buffer memory, the other seven none.
        for pb in PacketBuffer::all() {
            let size = if pb.get() == 0 {
                RXPBSIZE::SIZE::value::<{ ixgbe::RX_PACKET_BUFFER_KB }>()
            } else {
                RXPBSIZE::SIZE::CLEAR
            };
            regs.rxpbsize(pb).write(size);
        }

        // 4.6.7: CRC stripping is set in two places that must agree, HLREG0.RXCRCSTRP and
        // RDRXCTL.CRCSTRIP. 8.2.3.8.8: software clears RSCFRSTSIZE and sets RSCACKC and
        // FCOE_WRFIX.
        regs.hlreg0().modify(HLREG0::RXCRCSTRP::SET);
        regs.rdrxctl().modify(
            RDRXCTL::CRCSTRIP::SET
                + RDRXCTL::RSCFRSTSIZE::CLEAR
                + RDRXCTL::RSCACKC::SET
                + RDRXCTL::FCOE_WRFIX::SET,
        );

        // 4.6.7, 8.2.3.7.1: the receive filters are set while receive is off: broadcast
        // accepted (FCTRL.BAM), and every unicast and multicast address too in promiscuous mode
        // (UPE, MPE). Receive address 0 keeps the address the device loaded from its EEPROM.
        // DEPARTS 4.6.7: the multicast table array (MTA) is not zeroed, although a reset does
        // not clear it: rixy programs no multicast filter and leaves the table as it finds it.
        // Outside promiscuous mode a multicast frame whose hash bit is set in a stale table is
        // received.
        regs.fctrl()
            .modify(FCTRL::BAM::SET + promisc_bits(config.promisc));

        // 4.6.7: no-snoop stays off for all DMA (CTRL_EXT.NS_DIS) before queues are enabled.
        regs.ctrl_ext().modify(CTRL_EXT::NS_DIS::SET);

        for rx in self.rx.iter().flatten() {
            let queue = rx.queue;
            // 8.2.3.8.7: advanced descriptors with one buffer of BSIZEPACKET KB each, and frames
            // dropped when no descriptor is free rather than blocking the other queues.
            regs.srrctl(queue).write(
                SRRCTL::DESCTYPE::ADV_ONE_BUF
                    + SRRCTL::BSIZEPACKET::val_checked(bsize_kb)?
                    + SRRCTL::DROP_EN::SET,
            );
            // 8.2.3.8.1 to 8.2.3.8.3: the ring's base (RING_BASE_ALIGN-aligned, as `RxRing`
            // allocated it) and its length in bytes.
            let base = rx.ring.device_addr();
            regs.rdbal(queue).set(base as u32);
            regs.rdbah(queue).set((base >> 32) as u32);
            regs.rdlen(queue).set(rx.ring.bytes() as u32);
            // 8.2.3.8.4: the head (RDH, read-only) is 0 after the reset; the tail starts there
            // too, so the device owns nothing until the queue runs.
            regs.rdt(queue).set(0);
            // 4.6.7: bit 12 of DCA_RXCTRL (reserved, 1 after reset) is cleared.
            regs.dca_rxctrl(queue)
                .modify(DCA_RXCTRL::RESERVED_12::CLEAR);
        }

        // 7.1.2.8: with several queues RSS spreads frames over them; it is set up before
        // receive is enabled.
        self.init_rss()?;

        // 4.6.7: a queue is enabled (RXDCTL.ENABLE), and only once ENABLE reads back as 1 may
        // its tail move; the receive path as a whole is enabled after everything else.
        let queues: Vec<_> = (self.rx.iter().flatten())
            .map(|rx| (rx.queue, rx.ring.size().get() - 1))
            .collect();
        for (queue, last) in queues {
            self.start_rx_queue(queue, last)?;
        }
        self.set_receive(true)
    }

    /// 7.1.2.8: receive side scaling. With one receive queue it stays off (MRQC.MRQE = 0) and
    /// every frame goes to queue 0. With several, the key is [`DEFAULT_RSS_KEY`], the
    /// redirection table names the queues round-robin (entry i: queue i mod the queue count),
    /// and MRQC hashes IPv4 and IPv6 on their addresses, and TCP and UDP over either also on
    /// their ports (8.2.3.7.12). Key and table are written before MRQC turns RSS on.
    fn init_rss(&mut self) -> Result<()> {
        let queues = self.rx.len() as u16;
        if queues < 2 {
            self.regs.mrqc().write(MRQC::MRQE::NONE);
            return Ok(());
        }
        self.write_rss_key(&DEFAULT_RSS_KEY);
        let table: [u16; RSS_TABLE_LEN] = std::array::from_fn(|i| i as u16 % queues);
        self.write_rss_table(&table)?;
        self.regs.mrqc().write(
            MRQC::MRQE::RSS
                + MRQC::IPV4::SET
                + MRQC::TCP_IPV4::SET
                + MRQC::UDP_IPV4::SET
                + MRQC::IPV6::SET
                + MRQC::TCP_IPV6::SET
                + MRQC::UDP_IPV6::SET,
        );
        Ok(())
    }

    /// 4.6.7: enables receive queue `i`, waits for ENABLE to read 1, then hands the device
    /// every descriptor but the last (the device owns head..tail-1, 7.1.9).
    fn start_rx_queue(&mut self, queue: ixgbe::RxQueue, last: usize) -> Result<()> {
        self.regs.rxdctl(queue).modify(RXDCTL::ENABLE::SET);
        self.wait(
            "a receive queue to start (RXDCTL.ENABLE reading 1)",
            "the queue's ring registers may be invalid",
            STEP_TIMEOUT,
            |r| r.rxdctl(queue).is_set(RXDCTL::ENABLE),
        )?;
        self.regs.rdt(queue).set(last as u32);
        Ok(())
    }

    /// 4.6.8: transmit initialisation. Every queue's ring is already allocated.
    fn init_tx(&mut self) -> Result<()> {
        let regs = &self.regs;
        // 8.2.3.22.8: the device appends the CRC and pads short frames.
        regs.hlreg0()
            .modify(HLREG0::TXCRCEN::SET + HLREG0::TXPADEN::SET);

        // 4.6.8: the packet buffer sizes and the DMA read request size are set while the
        // transmit arbiter is disabled (RTTDCS.ARBDIS), which is enabled again afterwards.
        // 4.6.11.3.4: without DCB or virtualisation one packet buffer gets all the transmit
        // packet buffer memory.
        regs.rttdcs().modify(RTTDCS::ARBDIS::SET);
        for pb in PacketBuffer::all() {
            let size = if pb.get() == 0 {
                TXPBSIZE::SIZE::value::<{ ixgbe::TX_PACKET_BUFFER_KB }>()
            } else {
                TXPBSIZE::SIZE::CLEAR
            };
            regs.txpbsize(pb).write(size);
        }
        regs.dtxmxszrq().write(DTXMXSZRQ::MAX_BYTES_NUM_REQ::SET);
        regs.rttdcs().modify(RTTDCS::ARBDIS::CLEAR);

        for tx in self.tx.iter().flatten() {
            let queue = tx.queue;
            // 8.2.3.9.5 to 8.2.3.9.7: the ring's base and its length in bytes; 8.2.3.9.10: the
            // fetch thresholds.
            let base = tx.ring.device_addr();
            regs.tdbal(queue).set(base as u32);
            regs.tdbah(queue).set((base >> 32) as u32);
            regs.tdlen(queue).set(tx.ring.bytes() as u32);
            regs.txdctl(queue).write(
                TXDCTL::PTHRESH::value::<TX_PTHRESH>()
                    + TXDCTL::HTHRESH::value::<TX_HTHRESH>()
                    + TXDCTL::WTHRESH::value::<TX_WTHRESH>(),
            );
        }

        // 4.6.8: the transmit DMA is enabled (DMATXCTL.TE) before any queue is.
        self.regs.dmatxctl().modify(DMATXCTL::TE::SET);

        let queues: Vec<_> = self.tx.iter().flatten().map(|tx| tx.queue).collect();
        for queue in queues {
            // 4.6.8: a queue is enabled with an empty ring: TDH (read-only, 8.2.3.9.8) is 0
            // after the reset and TDT = TDH. Its tail moves only once ENABLE reads 1.
            self.regs.tdt(queue).set(0);
            self.regs.txdctl(queue).modify(TXDCTL::ENABLE::SET);
            self.wait(
                "a transmit queue to start (TXDCTL.ENABLE reading 1)",
                "the queue's ring registers may be invalid",
                STEP_TIMEOUT,
                |r| r.txdctl(queue).is_set(TXDCTL::ENABLE),
            )?;
        }
        Ok(())
    }

    /// 4.6.4: the link comes up on its own after auto-negotiation; wait for it, but open the
    /// device either way (a cable may be plugged in later).
    fn wait_for_link(&self, timeout: Duration) {
        let up = self.wait("the link to come up (LINKS.LINK_UP)", "", timeout, |r| {
            r.links().is_set(LINKS::LINK_UP)
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

    /// Turns the receive path on or off (4.6.7): on the 82599 RXCTRL.RXEN changes only while
    /// the security block's receive path is stopped (SECRXCTRL.RX_DIS set, then
    /// SECRXSTAT.SECRX_RDY reading 1), as Linux's `ixgbe_enable_rx_dma_82599` does too.
    pub(super) fn set_receive(&mut self, on: bool) -> Result<()> {
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

    /// Polls `done` on the registers until it holds, for at most `timeout`
    /// ([`crate::regs::poll_until`]): a device that never gets there is an error naming what it
    /// did not do, never a hang.
    fn wait(
        &self,
        what: &'static str,
        hint: &'static str,
        timeout: Duration,
        mut done: impl FnMut(&Registers<B>) -> bool,
    ) -> Result<()> {
        crate::regs::poll_until(&self.name, what, hint, timeout, || done(&self.regs))
    }
}
