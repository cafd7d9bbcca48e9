//! Bringing an 82599 up: datasheet 4.6.3 (general initialisation), 4.6.4 (link), 4.6.5
//! (statistics), 4.6.7 (receive) and 4.6.8 (transmit).
//!
//! Where ixy got a step wrong (the research notes list them), this does what the datasheet says
//! and the comment says what differs.

use std::time::Duration;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::{BUFFER_SIZES, Ixgbe, RxRing, STEP_TIMEOUT, TxRing};
use crate::config::Config;
use crate::memory::{DmaAllocator, Mempool};
use crate::regs::Bus;
use crate::regs::ixgbe::{
    self, AUTOC, CTRL, CTRL_EXT, DCA_RXCTRL, DMATXCTL, DTXMXSZRQ, EEC, EIMC, FCTRL, HLREG0, LINKS,
    MRQC, PacketBuffer, RDRXCTL, RETA, RTTDCS, RXCTRL, RXDCTL, RXPBSIZE, Reta, RssKey, SRRCTL,
    TXDCTL, TXPBSIZE,
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

/// Bytes of the RSS hash key: RSSRK holds it in ten 32-bit words, first byte lowest (datasheet
/// 8.2.3.7.14).
pub const RSS_KEY_LEN: usize = RssKey::COUNT * 4;
/// Entries of the RSS redirection table: RETA holds four per register (8.2.3.7.15), and the
/// hash's seven low bits pick one (7.1.2.8).
pub const RSS_TABLE_LEN: usize = Reta::COUNT * 4;
/// Most receive queues RSS can spread frames over: a redirection table entry is 4 bits wide.
pub const RSS_MAX_QUEUES: u16 = 1 << RETA::ENTRY0::BITS;

/// The hash key rixy programs when a port opens with several receive queues: the key of the
/// datasheet's RSS verification suite (7.1.2.8.3), which Microsoft's RSS specification
/// publishes with the expected hash of sample flows and DPDK's ixgbe driver also uses by
/// default. With it, the queue a flow lands on can be checked against published values.
///
/// It is not symmetric: the two directions of one connection may land on different queues. An
/// application that needs both on one queue sets a key whose bytes repeat with a period of two
/// (for example `0x6d, 0x5a` twenty times), which hashes a flow and its reverse alike, with
/// [`Ixgbe::set_rss_key`].
pub const DEFAULT_RSS_KEY: [u8; RSS_KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

impl<B: Bus> Ixgbe<B> {
    pub(super) fn init<A: DmaAllocator + ?Sized>(
        &mut self,
        dma: &A,
        config: &Config,
    ) -> Result<()> {
        // 8.2.3.8.7: the NIC writes at most BSIZEPACKET KB into a buffer: the room after the
        // headroom in whole KB, never more (ixy gave the NIC 2 KB of a 2 KB buffer whose data
        // starts 64 bytes in). BUFFER_SIZES, checked in `new`, keeps it from a full frame to
        // the field's 16 KB.
        let bsize_kb =
            BUFFER_SIZES.device_room(config.buffer_size) / ixgbe::BUFFER_SIZE_GRANULARITY;

        // 4.6.3.2: a reset the driver did not start may still be running: the previous
        // owner's close resets the device (rixy's drop does), and a device in reset drops
        // every write. Wait for CTRL.RST to read 0 and give the device the 10 ms it needs after
        // a reset before the first write; the driver cannot tell how long ago it ended.
        self.wait(
            "a reset already in progress (CTRL.RST clearing)",
            "is the device present and powered? a removed device reads all ones",
            STEP_TIMEOUT,
            |r| !r.ctrl().is_set(CTRL::RST),
        )?;
        std::thread::sleep(Duration::from_millis(ixgbe::RESET_SETTLE_MS));

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

        // 7.1.2.8: several queues are fed by RSS, set up before receive is enabled.
        self.init_rss()?;

        // 4.6.7: each queue gets its buffers, is enabled, and only once ENABLE reads back as 1
        // does its tail move. ixy enabled RXEN before the queues; the datasheet enables the
        // receive path "only after all other settings are done".
        for i in 0..self.rx.len() {
            self.start_rx_queue(i)?;
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

    /// Sets the 40-byte Toeplitz key RSS hashes with (datasheet 7.1.2.8, RSSRK 8.2.3.7.14).
    /// Frames already received stay on their queues; the next ones are spread by the new key.
    /// An error if the device was opened with one receive queue (RSS is off then).
    pub fn set_rss_key(&mut self, key: &[u8; RSS_KEY_LEN]) -> Result<()> {
        self.rss_on()?;
        self.write_rss_key(key);
        Ok(())
    }

    /// Sets the redirection table (RETA, datasheet 8.2.3.7.15): entry `i` names the receive
    /// queue of the frames whose RSS hash has `i` in its seven low bits. Every entry must name
    /// one of the device's receive queues; otherwise nothing is written and the error names the
    /// first entry that does not.
    pub fn set_rss_table(&mut self, table: &[u16; RSS_TABLE_LEN]) -> Result<()> {
        let queues = self.rss_on()?;
        if let Some((entry, &queue)) = table.iter().enumerate().find(|&(_, &q)| q >= queues) {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{}: RSS redirection table entry {entry} names receive queue {queue}, but the device has {queues} receive queues (0 to {}); the table was left as it was: name only those",
                    self.name,
                    queues - 1
                ),
            });
        }
        self.write_rss_table(table)
    }

    /// The RSS hash key in use, or `None` when RSS is off (one receive queue).
    pub fn rss_key(&self) -> Option<[u8; RSS_KEY_LEN]> {
        self.rss_on().ok()?;
        let mut key = [0u8; RSS_KEY_LEN];
        for (word, bytes) in RssKey::all().zip(key.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&self.regs.rssrk(word).get().to_le_bytes());
        }
        Some(key)
    }

    /// The redirection table in use, or `None` when RSS is off (one receive queue).
    pub fn rss_table(&self) -> Option<[u16; RSS_TABLE_LEN]> {
        self.rss_on().ok()?;
        let mut table = [0u16; RSS_TABLE_LEN];
        for (reg, entries) in Reta::all().zip(table.chunks_exact_mut(4)) {
            let reta = self.regs.reta(reg).extract();
            for (entry, field) in
                entries
                    .iter_mut()
                    .zip([RETA::ENTRY0, RETA::ENTRY1, RETA::ENTRY2, RETA::ENTRY3])
            {
                *entry = reta.read(field) as u16;
            }
        }
        Some(table)
    }

    /// The receive queue count, if RSS spreads frames over them; an error saying how to get
    /// RSS otherwise.
    fn rss_on(&self) -> Result<u16> {
        let queues = self.rx_queues();
        if queues < 2 {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{}: RSS spreads received frames over several receive queues, and the device was opened with {queues}: open it with 2 to {RSS_MAX_QUEUES} receive queues to set the RSS key or table",
                    self.name
                ),
            });
        }
        Ok(queues)
    }

    fn write_rss_key(&self, key: &[u8; RSS_KEY_LEN]) {
        for (word, bytes) in RssKey::all().zip(key.chunks_exact(4)) {
            let value = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            self.regs.rssrk(word).set(value);
        }
    }

    /// Writes the table, four entries per RETA register; an entry wider than its field is an
    /// error before anything is written.
    fn write_rss_table(&self, table: &[u16; RSS_TABLE_LEN]) -> Result<()> {
        let mut values = Vec::with_capacity(Reta::COUNT);
        for four in table.chunks_exact(4) {
            let field = |i: usize| u32::from(four[i]);
            values.push(
                RETA::ENTRY0::val_checked(field(0))?
                    + RETA::ENTRY1::val_checked(field(1))?
                    + RETA::ENTRY2::val_checked(field(2))?
                    + RETA::ENTRY3::val_checked(field(3))?,
            );
        }
        for (reg, value) in Reta::all().zip(values) {
            self.regs.reta(reg).write(value);
        }
        Ok(())
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
            desc.to_device().pkt_addr().set(packet.device_addr());
            desc.to_device().hdr_addr().set(0);
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
