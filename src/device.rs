//! What every rixy device offers, whatever drives it: configuration, statistics, link state and
//! MAC addresses.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::memory::HEADROOM;
use crate::ring::RingSize;
use crate::{Error, Result};

/// The largest Ethernet frame rixy receives without jumbo frames: 1514 bytes of header and
/// payload plus a VLAN tag and the 4-byte FCS (IEEE 802.3).
pub const MAX_FRAME: usize = 1522;

/// How a device is set up when it is opened.
#[derive(Clone, Debug)]
pub struct Config {
    /// Receive queues (at least 1).
    pub rx_queues: u16,
    /// Transmit queues (at least 1).
    pub tx_queues: u16,
    /// Descriptors per receive ring: a power of two from 64 to 4096.
    pub rx_ring_size: usize,
    /// Descriptors per transmit ring: a power of two from 64 to 4096.
    pub tx_ring_size: usize,
    /// Buffers in each receive queue's mempool; at least the ring size (0: twice the ring size).
    pub mempool_size: usize,
    /// Bytes per packet buffer, including 64 bytes of metadata and headroom: a power of two.
    /// 4096 by default, because the 82599 sizes its receive buffers in 1 KiB steps
    /// (SRRCTL.BSIZEPACKET) and a full frame after the headroom needs two of them.
    pub buffer_size: usize,
    /// Receive frames addressed to any MAC address.
    pub promisc: bool,
    /// How long to wait for the link at open; the device opens with its link down after that.
    pub link_timeout: Duration,
    /// Where hugetlbfs is mounted (real hardware only).
    pub hugepage_dir: PathBuf,
    /// The sysfs PCI device directory (real hardware only; tests point it elsewhere).
    pub sysfs_root: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rx_queues: 1,
            tx_queues: 1,
            rx_ring_size: 512,
            tx_ring_size: 512,
            mempool_size: 0,
            buffer_size: 4096,
            promisc: true,
            link_timeout: Duration::from_secs(10),
            hugepage_dir: PathBuf::from("/mnt/huge"),
            sysfs_root: PathBuf::from("/sys/bus/pci/devices"),
        }
    }
}

impl Config {
    /// Checks the configuration; the error says what to change.
    pub fn validate(&self) -> Result<()> {
        let invalid = |problem: String| Err(Error::InvalidConfig { problem });
        if self.rx_queues == 0 || self.tx_queues == 0 {
            return invalid(format!(
                "{} receive and {} transmit queues: a device needs at least one of each",
                self.rx_queues, self.tx_queues
            ));
        }
        RingSize::for_driver(self.rx_ring_size)?;
        RingSize::for_driver(self.tx_ring_size)?;
        if !self.buffer_size.is_power_of_two() || self.buffer_size < HEADROOM + MAX_FRAME {
            return invalid(format!(
                "buffer size {} cannot hold a {MAX_FRAME}-byte frame after {HEADROOM} bytes of headroom: use a power of two of at least {}",
                self.buffer_size,
                (HEADROOM + MAX_FRAME).next_power_of_two()
            ));
        }
        if self.mempool_size != 0 && self.mempool_size < self.rx_ring_size {
            return invalid(format!(
                "a mempool of {} buffers cannot fill a receive ring of {}: use at least the ring size, or 0 for twice it",
                self.mempool_size, self.rx_ring_size
            ));
        }
        Ok(())
    }

    /// Buffers per receive mempool.
    pub fn rx_mempool_size(&self) -> usize {
        if self.mempool_size == 0 {
            2 * self.rx_ring_size
        } else {
            self.mempool_size
        }
    }
}

/// Running totals of a device since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received (as the device counts them).
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets the device dropped for lack of receive buffers or FIFO space.
    pub rx_dropped: u64,
    /// Packets the driver refused (a write-back it cannot trust: a frame spread over several
    /// descriptors, a length beyond the buffer, a MAC error), each counted once.
    pub rx_errors: u64,
    /// Packets the driver could not send (too short or too long for a descriptor).
    pub tx_errors: u64,
}

impl Stats {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            rx_packets: self.rx_packets.wrapping_sub(earlier.rx_packets),
            tx_packets: self.tx_packets.wrapping_sub(earlier.tx_packets),
            rx_bytes: self.rx_bytes.wrapping_sub(earlier.rx_bytes),
            tx_bytes: self.tx_bytes.wrapping_sub(earlier.tx_bytes),
            rx_dropped: self.rx_dropped.wrapping_sub(earlier.rx_dropped),
            rx_errors: self.rx_errors.wrapping_sub(earlier.rx_errors),
            tx_errors: self.tx_errors.wrapping_sub(earlier.tx_errors),
        }
    }
}

/// Link state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mbit/s (0 when down or unknown).
    pub speed_mbps: u32,
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for MacAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidConfig {
            problem: format!(
                "{s:?} is not a MAC address: write six hex bytes, like 52:54:00:12:34:56"
            ),
        };
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(out))
    }
}
