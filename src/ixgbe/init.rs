//! Bringing an 82599 up: datasheet 4.6.3 (general initialisation), 4.6.4 (link), 4.6.5
//! (statistics), 4.6.7 (receive) and 4.6.8 (transmit).
//!
//! Where ixy got a step wrong (the research notes list them), this does what the datasheet says
//! and the comment says what differs.

use std::time::Duration;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::{Ixgbe, RxRing, STEP_TIMEOUT, TxRing};
use crate::device::{Config, MAX_FRAME};
use crate::memory::{DmaAllocator, HEADROOM, Mempool};
use crate::regs::Bus;
use crate::regs::ixgbe::{
    self, AUTOC, CTRL, CTRL_EXT, DCA_RXCTRL, DMATXCTL, DTXMXSZRQ, EEC, EIMC, FCTRL, HLREG0, LINKS,
    PacketBuffer, RDRXCTL, RTTDCS, RXCTRL, RXDCTL, RXPBSIZE, SRRCTL, TXDCTL, TXPBSIZE,
};
use crate::ring::{DescRing, RingSize};
use crate::{Error, Result};

/// Receive packet buffer 0 gets the whole 512 KB when DCB and virtualisation are off
/// (datasheet 4.6.11.3.4, "no DCB"): RXPBSIZE.SIZE counts KB.
const RX_PACKET_BUFFER_KB: u32 = 0x200;
/// Transmit packet buffer 0 gets the whole 160 KB in the same configuration.
const TX_PACKET_BUFFER_KB: u32 = 0xA0;
/// TXDCTL prefetch and host thresholds: prefetch when fewer than 36 descriptors are on chip,
/// fetch in bursts of at least 8 (datasheet 8.2.3.9.10; PTHRESH + WTHRESH stays within the 40
/// on-chip descriptors, and HTHRESH is non-zero because PTHRESH is used). WTHRESH stays 0 so
/// the device writes DD back for every descriptor with RS, at once (7.2.3.5.1).
const TX_PTHRESH: u32 = 36;
const TX_HTHRESH: u32 = 8;

impl<B: Bus> Ixgbe<B> {
    pub(super) fn init<A: DmaAllocator + ?Sized>(
        &mut self,
        dma: &A,
        config: &Config,
    ) -> Result<()> {
        // The NIC writes at most BSIZEPACKET KB into a buffer; it must never exceed the buffer
        // (ixy gave the NIC 2 KB of a 2 KB buffer whose data starts 64 bytes in).
        let data_capacity = config.buffer_size - HEADROOM;
        let granularity = ixgbe::BUFFER_SIZE_GRANULARITY;
        let bsize_kb = (data_capacity / granularity).min(SRRCTL::BSIZEPACKET::MASK as usize);
        if bsize_kb * granularity < MAX_FRAME {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{}: buffers of {} bytes leave {data_capacity} bytes after the headroom; the 82599 sizes receive buffers in {granularity}-byte steps, so it could only use {} bytes, less than a {MAX_FRAME}-byte frame: use a buffer size of 4096",
                    self.name,
                    config.buffer_size,
                    bsize_kb * granularity
                ),
            });
        }

        // 4.6.3.1: mask every interrupt (bit 31 of EIMC is reserved: ixy wrote it) and clear
        // pending causes.
        self.disable_interrupts();

        // 4.6.3.2: global reset. CTRL.RST resets the whole device, LRST the link; both clear
        // themselves when the reset is done. 8.2.3.1.1: wait about 1 ms before touching the
        // device again, and 4.6.3.2: at least 10 ms after it completes.
        self.regs.ctrl().write(CTRL::RST::SET + CTRL::LRST::SET);
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_ACCESS_DELAY_MS));
        self.wait(
            "the global reset (CTRL.RST and CTRL.LRST clearing)",
            "is the device present and powered? a removed device reads all ones",
            STEP_TIMEOUT,
            |r| {
                let ctrl = r.ctrl().extract();
                !ctrl.is_set(CTRL::RST) && !ctrl.is_set(CTRL::LRST)
            },
        )?;
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_SETTLE_MS));

        // 4.6.3.1 again: the reset re-enabled nothing, but the flow asks to mask after it too.
        self.disable_interrupts();

        // 4.6.3: wait for the EEPROM auto-read and for DMA initialisation before configuring.
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

        // 4.6.4: 10 Gb/s serial link, then restart auto-negotiation.
        self.regs
            .autoc()
            .modify(AUTOC::LMS::SERIAL_10G + AUTOC::PMA_PMD_10G::XAUI);
        self.regs.autoc().modify(AUTOC::RESTART_AN::SET);

        // 4.6.5: the statistics registers clear on read; start from zero.
        self.stats();
        self.totals = Default::default();

        self.init_rx(dma, config, bsize_kb as u32)?;
        self.init_tx(dma, config)?;

        // Receive filters change only while receive is off (8.2.3.7.1); ixy set promiscuous
        // mode after enabling receive.
        self.set_promisc(config.promisc)?;

        self.wait_for_link(config.link_timeout);
        Ok(())
    }

    fn disable_interrupts(&mut self) {
        self.regs.eimc().write(EIMC::CAUSES::SET);
        let _pending = self.regs.eicr().take();
    }

    /// 4.6.7: receive initialisation.
    fn init_rx<A: DmaAllocator + ?Sized>(
        &mut self,
        dma: &A,
        config: &Config,
        bsize_kb: u32,
    ) -> Result<()> {
        let regs = &self.regs;
        // Receive stays off while it is configured.
        regs.rxctrl().modify(RXCTRL::RXEN::CLEAR);

        // 4.6.11.3.4: without DCB all packet buffer space goes to buffer 0.
        for pb in PacketBuffer::all() {
            let size = if pb.get() == 0 {
                RXPBSIZE::SIZE::value::<RX_PACKET_BUFFER_KB>()
            } else {
                RXPBSIZE::SIZE::CLEAR
            };
            regs.rxpbsize(pb).write(size);
        }

        // 4.6.7: strip the CRC, and RDRXCTL.CRCStrip must match HLREG0.RXCRCSTRP. 8.2.3.8.8:
        // RSCFRSTSIZE is cleared and RSCACKC and FCOE_WRFIX are set by software (ixy left them).
        regs.hlreg0().modify(HLREG0::RXCRCSTRP::SET);
        regs.rdrxctl().modify(
            RDRXCTL::CRCSTRIP::SET
                + RDRXCTL::RSCFRSTSIZE::CLEAR
                + RDRXCTL::RSCACKC::SET
                + RDRXCTL::FCOE_WRFIX::SET,
        );

        // Accept broadcast frames (8.2.3.7.1).
        regs.fctrl().modify(FCTRL::BAM::SET);

        // 4.6.7: set CTRL_EXT.NS_DIS (no snoop disable) before enabling queues.
        regs.ctrl_ext().modify(CTRL_EXT::NS_DIS::SET);

        let ring_size = RingSize::for_driver(config.rx_ring_size)?;
        for n in 0..usize::from(config.rx_queues) {
            let queue = ixgbe::RxQueue::try_from(n)?;
            let ring = DescRing::new(dma, ring_size)?;
            let pool = Mempool::new(dma, config.rx_mempool_size(), config.buffer_size)?;
            let regs = &self.regs;
            // 8.2.3.8.7: advanced descriptors with one buffer, BSIZEPACKET KB each, and drop
            // frames when no descriptor is free rather than blocking the other queues.
            regs.srrctl(queue).write(
                SRRCTL::DESCTYPE::ADV_ONE_BUF
                    + SRRCTL::BSIZEPACKET::val_checked(bsize_kb)?
                    + SRRCTL::DROP_EN::SET,
            );
            // 8.2.3.8.1 to 8.2.3.8.3: ring base (128-byte aligned) and length in bytes.
            let base = ring.device_addr();
            regs.rdbal(queue).set(base as u32);
            regs.rdbah(queue).set((base >> 32) as u32);
            regs.rdlen(queue).set(ring.bytes() as u32);
            // The head (RDH, read-only: 8.2.3.8.4) is 0 after the reset; the tail starts there
            // too, so the device owns nothing until the queue runs.
            regs.rdt(queue).set(0);
            // 4.6.7: "clear bit 12 of the DCA_RXCTRL register" (reserved, resets to 1).
            regs.dca_rxctrl(queue)
                .modify(DCA_RXCTRL::RESERVED_12::CLEAR);
            self.rx.push(RxRing {
                queue,
                ring,
                posted: (0..ring_size.get()).map(|_| None).collect(),
                pool,
                next: 0,
                nic_buffer: bsize_kb as usize * ixgbe::BUFFER_SIZE_GRANULARITY,
                dropping: false,
                idle: 0,
            });
        }

        // 4.6.7: each queue gets its buffers, is enabled, and only once ENABLE reads back as 1
        // does its tail move. ixy enabled RXEN before the queues; the datasheet enables the
        // receive path "only after all other settings are done".
        for i in 0..self.rx.len() {
            self.start_rx_queue(i)?;
        }
        self.set_receive(true)
    }

    fn start_rx_queue(&mut self, i: usize) -> Result<()> {
        let rx = &mut self.rx[i];
        let size = rx.ring.size();
        // Post a buffer in every descriptor; the last one stays the driver's (the device owns
        // head..tail-1, so at most N-1 descriptors are handed over).
        for slot in 0..size.get() {
            let packet = rx.pool.alloc().ok_or_else(|| Error::InvalidConfig {
                problem: format!(
                    "the receive mempool of {} buffers ran out filling a ring of {}",
                    rx.pool.capacity(),
                    size
                ),
            })?;
            let desc = rx.ring.get(slot);
            desc.read_pkt_addr().set(packet.device_addr());
            desc.read_hdr_addr().set(0);
            rx.posted[slot] = Some(packet);
        }
        let queue = rx.queue;
        self.regs.rxdctl(queue).modify(RXDCTL::ENABLE::SET);
        self.wait(
            "a receive queue to start (RXDCTL.ENABLE reading 1)",
            "the queue's ring registers may be invalid",
            STEP_TIMEOUT,
            |r| r.rxdctl(queue).is_set(RXDCTL::ENABLE),
        )?;
        let last = size.get() - 1;
        self.regs.rdt(queue).set(last as u32);
        Ok(())
    }

    /// 4.6.8: transmit initialisation.
    fn init_tx<A: DmaAllocator + ?Sized>(&mut self, dma: &A, config: &Config) -> Result<()> {
        let regs = &self.regs;
        // CRC and padding of short frames by the NIC (8.2.3.22.8).
        regs.hlreg0()
            .modify(HLREG0::TXCRCEN::SET + HLREG0::TXPADEN::SET);

        // 4.6.8: with the transmit arbiter disabled, set packet buffer sizes and the DMA read
        // request size, then enable the arbiter again. ixy only cleared ARBDIS and wrote
        // reserved bits of DTXMXSZRQ.
        regs.rttdcs().modify(RTTDCS::ARBDIS::SET);
        for pb in PacketBuffer::all() {
            let size = if pb.get() == 0 {
                TXPBSIZE::SIZE::value::<TX_PACKET_BUFFER_KB>()
            } else {
                TXPBSIZE::SIZE::CLEAR
            };
            regs.txpbsize(pb).write(size);
        }
        regs.dtxmxszrq().write(DTXMXSZRQ::MAX_BYTES_NUM_REQ::SET);
        regs.rttdcs().modify(RTTDCS::ARBDIS::CLEAR);

        let ring_size = RingSize::for_driver(config.tx_ring_size)?;
        for n in 0..usize::from(config.tx_queues) {
            let queue = ixgbe::TxQueue::try_from(n)?;
            let ring = DescRing::new(dma, ring_size)?;
            let regs = &self.regs;
            // 8.2.3.9.5 to 8.2.3.9.7: ring base and length.
            let base = ring.device_addr();
            regs.tdbal(queue).set(base as u32);
            regs.tdbah(queue).set((base >> 32) as u32);
            regs.tdlen(queue).set(ring.bytes() as u32);
            regs.txdctl(queue).write(
                TXDCTL::PTHRESH::value::<TX_PTHRESH>()
                    + TXDCTL::HTHRESH::value::<TX_HTHRESH>()
                    + TXDCTL::WTHRESH::CLEAR,
            );
            self.tx.push(TxRing {
                queue,
                ring,
                in_flight: (0..ring_size.get()).map(|_| None).collect(),
                next: 0,
                clean: 0,
                marks: std::collections::VecDeque::with_capacity(ring_size.get()),
                idle: 0,
            });
        }

        // 4.6.8: DMATXCTL.TE before any queue is enabled. ixy overwrote the whole register.
        self.regs.dmatxctl().modify(DMATXCTL::TE::SET);

        for i in 0..self.tx.len() {
            let queue = self.tx[i].queue;
            // TDH (read-only, 8.2.3.9.8) is 0 after the reset; TDT = TDH: the ring is empty.
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
}
