//! What a running port accepts: its own MAC address (receive address register 0, datasheet
//! 8.2.3.7.8 and 8.2.3.7.9), every address (promiscuous mode, 8.2.3.7.1), and how receive side
//! scaling spreads frames over the receive queues (7.1.2.8). Filters change only while receive
//! is off (8.2.3.7.1): at open `init` sets them before it enables receive; here each change
//! turns receive off around it.

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use super::Ixgbe;
use crate::config::MacAddress;
use crate::regs::Bus;
use crate::regs::ixgbe::{FCTRL, RAH, RAL, RETA, RXCTRL, ReceiveAddress, Registers, Reta, RssKey};
use crate::{Error, Result};

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

/// The FCTRL bits of promiscuous mode (8.2.3.7.1): every unicast (UPE) and multicast (MPE)
/// address accepted, or only the filtered ones.
pub(super) fn promisc_bits(on: bool) -> FieldValue<u32, FCTRL::Register> {
    if on {
        FCTRL::UPE::SET + FCTRL::MPE::SET
    } else {
        FCTRL::UPE::CLEAR + FCTRL::MPE::CLEAR
    }
}

impl<B: Bus> Ixgbe<B> {
    /// The MAC address in receive address register 0 (datasheet 8.2.3.7.8, 8.2.3.7.9): RAL
    /// holds bytes 0 to 3, RAH bytes 4 and 5, lowest byte first.
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
        self.with_receive_disabled(|regs| {
            regs.ral(first).set(u32::from_le_bytes([b0, b1, b2, b3]));
            regs.rah(first).write(high + RAH::AV::SET);
        })
    }

    /// Whether promiscuous mode is on.
    pub fn promisc(&self) -> bool {
        self.regs.fctrl().is_set(FCTRL::UPE)
    }

    /// Receives frames for every address (FCTRL.UPE, MPE: datasheet 8.2.3.7.1) or only its
    /// own, broadcast and enabled multicast.
    pub fn set_promisc(&mut self, on: bool) -> Result<()> {
        self.with_receive_disabled(|regs| regs.fctrl().modify(promisc_bits(on)))
    }

    /// Runs `change` on the receive filters with receive off: 8.2.3.7.1 has software clear
    /// RXCTRL.RXEN before it changes a filter. RXEN is restored afterwards.
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

    pub(super) fn write_rss_key(&self, key: &[u8; RSS_KEY_LEN]) {
        for (word, bytes) in RssKey::all().zip(key.chunks_exact(4)) {
            let value = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            self.regs.rssrk(word).set(value);
        }
    }

    /// Writes the table, four entries per RETA register; an entry wider than its field is an
    /// error before anything is written.
    pub(super) fn write_rss_table(&self, table: &[u16; RSS_TABLE_LEN]) -> Result<()> {
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
}
