//! The types every rixy device shares, whatever drives it: its configuration ([`Config`]),
//! statistics ([`Stats`]), link state ([`Link`]) and MAC address ([`MacAddress`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::memory::{HEADROOM, HUGE_PAGE_SIZE, MIN_BUFFER_SIZE};
use crate::ring::RingSize;
use crate::{Error, Result};

/// The largest Ethernet frame rixy receives without jumbo frames: 1514 bytes of header and
/// payload plus a VLAN tag and the 4-byte FCS (IEEE 802.3).
pub const MAX_FRAME: usize = 1522;

/// How a device is set up when it is opened.
#[derive(Clone, Debug)]
pub struct Config {
    /// Receive queues (at least 1). With more than one, the 82599 spreads received frames
    /// over them by RSS (at most 16 queues); virtio-net has one.
    pub rx_queues: u16,
    /// Transmit queues (at least 1).
    pub tx_queues: u16,
    /// Descriptors per receive ring: a power of two from 64 to 4096.
    pub rx_ring_size: usize,
    /// Descriptors per transmit ring: a power of two from 64 to 4096.
    pub tx_ring_size: usize,
    /// Buffers in each receive queue's mempool; at least the ring size (0: twice the ring size).
    pub mempool_size: usize,
    /// Bytes per receive buffer, including 64 bytes of metadata and headroom: a power of two
    /// that the driver accepts ([`BufferSizes`]): 4096, 8192 or 16384 for the 82599
    /// ([`crate::ixgbe::BUFFER_SIZES`]), 2048 to 2 MiB for virtio-net
    /// ([`crate::virtio::BUFFER_SIZES`]). 4096 by default, which both accept.
    pub buffer_size: usize,
    /// Receive frames addressed to any MAC address.
    pub promisc: bool,
    /// How long to wait for the link at open; the device opens with its link down after that.
    pub link_timeout: Duration,
    /// Where hugetlbfs is mounted (real hardware only).
    pub hugepage_dir: PathBuf,
    /// The sysfs PCI device directory (real hardware only; tests point it elsewhere).
    pub sysfs_root: PathBuf,
    /// Where the VFIO container and group files are (`/dev/vfio`), for devices bound to
    /// vfio-pci (tests point it elsewhere).
    pub vfio_dir: PathBuf,
    /// Interrupts (off by default: polling is the fast path). With interrupts each receive
    /// queue gets an MSI-X vector of its own, and [`crate::RxQueue::wait`] and
    /// [`crate::Device::rx_wait`] sleep until packets arrive instead of spinning. A driver
    /// needs a way to deliver them: the simulated 82599 port (`rixy::sim`) has one, real
    /// hardware (an 82599, or virtio-net, whose one receive queue gets MSI-X vector 0) needs
    /// VFIO; a device mapped through sysfs refuses them ([`crate::Error::InterruptsNeedVfio`]).
    pub interrupts: bool,
    /// The 82599's interrupt throttle (EITR, datasheet 8.2.3.5.12): at least this many
    /// microseconds between two interrupts of a queue, with interrupts on. 0 to 1022 in steps
    /// of 2 (the register counts 2 µs units); 0 turns throttling off. `None` (the default) is
    /// [`DEFAULT_ITR_US`]. Other values are refused when the device opens, and so is any value
    /// for virtio-net, which has no throttle.
    pub itr_us: Option<u32>,
    /// Modern virtio-net: use packed virtqueues (VirtIO 1.1 2.7) when the device offers
    /// VIRTIO_F_RING_PACKED (QEMU: `packed=on`); false keeps split queues, for comparison. True
    /// by default. Legacy virtio and the 82599 ignore it.
    pub virtio_packed: bool,
}

/// The 82599's interrupt throttle when [`Config::itr_us`] says nothing: 10 µs, at most 100 000
/// interrupts per second and queue.
pub const DEFAULT_ITR_US: u32 = 10;

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
            vfio_dir: PathBuf::from(crate::pci::DEFAULT_VFIO_DIR),
            interrupts: false,
            itr_us: None,
            virtio_packed: true,
        }
    }
}

impl Config {
    /// Checks the configuration for a device whose driver takes buffers of `sizes`; the error
    /// says what to change. Drivers call this when they open a device.
    pub fn validate_for(&self, sizes: &BufferSizes) -> Result<()> {
        self.validate()?;
        sizes.check(self.buffer_size)
    }

    /// Checks what does not depend on the driver; the error says what to change. The buffer
    /// size depends on it: [`Config::validate_for`] checks that too.
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
        if self.mempool_size != 0 && self.mempool_size < self.rx_ring_size {
            return invalid(format!(
                "a mempool of {} buffers cannot fill a receive ring of {}: use at least the ring size, or 0 for twice it",
                self.mempool_size, self.rx_ring_size
            ));
        }
        Ok(())
    }

    /// The most DMA memory an 82599 opened with this configuration holds
    /// ([`crate::Device::memory`]), when its allocator rounds each region up to a multiple of
    /// `granule` bytes (a power of two: the base page, 4096, for anonymous memory and the
    /// simulator; [`crate::memory::HUGE_PAGE_SIZE`] for huge pages): per receive queue a ring of
    /// `rx_ring_size` 16-byte descriptors and a pool of [`Config::rx_mempool_size`] buffers of
    /// `buffer_size` bytes, per transmit queue a ring of `tx_ring_size` descriptors, each rounded
    /// up to the granule. Linear in every term; see [`crate::memory::MemoryFootprint`] for
    /// what the defaults cost. Saturates instead of overflowing.
    pub fn memory_bound(&self, granule: usize) -> usize {
        let granule = granule.max(1);
        let round = |bytes: usize| bytes.div_ceil(granule).saturating_mul(granule);
        let desc = <crate::regs::ixgbe::AdvRxDesc as crate::regs::Descriptor>::SIZE;
        let rx = round(self.rx_ring_size.saturating_mul(desc)).saturating_add(round(
            self.rx_mempool_size().saturating_mul(self.buffer_size),
        ));
        let tx_desc = <crate::regs::ixgbe::AdvTxDesc as crate::regs::Descriptor>::SIZE;
        let tx = round(self.tx_ring_size.saturating_mul(tx_desc));
        rx.saturating_mul(usize::from(self.rx_queues))
            .saturating_add(tx.saturating_mul(usize::from(self.tx_queues)))
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

/// The receive buffer sizes ([`Config::buffer_size`]) one driver can use: the powers of two
/// from `min` to `max`.
///
/// Each driver states its sizes once, as a constant made by [`BufferSizes::for_device`] from
/// what its device does with a receive buffer ([`crate::ixgbe::BUFFER_SIZES`],
/// [`crate::virtio::BUFFER_SIZES`]), and [`BufferSizes::check`] (through
/// [`Config::validate_for`]) is the one place a size is checked, with one message that lists
/// what the driver accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSizes {
    /// The driver, for messages.
    pub driver: &'static str,
    /// The device writes a buffer in steps of this many bytes (1: any length).
    pub granularity: usize,
    /// The most bytes the device may be told to write into one buffer.
    pub max_write: usize,
    /// The smallest size accepted.
    pub min: usize,
    /// The largest size accepted.
    pub max: usize,
}

impl BufferSizes {
    /// The sizes for a device that writes a received frame into a buffer after its
    /// [`HEADROOM`], in steps of `granularity` bytes (the room after the headroom rounded down
    /// to a step is what the device is told it may write), never more than `max_write` bytes:
    /// from the smallest power of two whose room holds a [`MAX_FRAME`]-byte frame to the
    /// largest whose room stays within `max_write` (and within one huge page, the mempool's
    /// limit).
    pub const fn for_device(
        driver: &'static str,
        granularity: usize,
        max_write: usize,
    ) -> BufferSizes {
        const fn room(size: usize, granularity: usize) -> usize {
            (size - HEADROOM) / granularity * granularity
        }
        let mut min = MIN_BUFFER_SIZE;
        while room(min, granularity) < MAX_FRAME {
            min *= 2;
        }
        let mut max = min;
        while max < HUGE_PAGE_SIZE && room(max * 2, granularity) <= max_write {
            max *= 2;
        }
        assert!(
            room(min, granularity) <= max_write,
            "no buffer size works for this device"
        );
        BufferSizes {
            driver,
            granularity,
            max_write,
            min,
            max,
        }
    }

    /// Whether `size` is one of the sizes.
    pub fn accepts(&self, size: usize) -> bool {
        size.is_power_of_two() && (self.min..=self.max).contains(&size)
    }

    /// The sizes, smallest first.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::successors(Some(self.min), |&s| (s < self.max).then(|| s * 2)).collect()
    }

    /// Bytes of a buffer of `size` the device may write: the room after the headroom, rounded
    /// down to the device's step.
    pub fn device_room(&self, size: usize) -> usize {
        size.saturating_sub(HEADROOM) / self.granularity * self.granularity
    }

    /// An error unless `size` is one of the sizes; it says which they are and why.
    pub fn check(&self, size: usize) -> Result<()> {
        if self.accepts(size) {
            return Ok(());
        }
        let sizes: Vec<String> = self.sizes().iter().map(|s| s.to_string()).collect();
        let choice = match &sizes[..] {
            [one] => one.clone(),
            [first @ .., last] if sizes.len() <= 4 => format!("{} or {last}", first.join(", ")),
            _ => format!("a power of two from {} to {}", self.min, self.max),
        };
        let steps = if self.granularity > 1 {
            format!(" in {}-byte steps", self.granularity)
        } else {
            String::new()
        };
        let limit = if self.max_write < HUGE_PAGE_SIZE {
            format!(
                ", and the device is told{steps} how much it may write into a buffer, at most {} bytes",
                self.max_write
            )
        } else {
            String::new()
        };
        Err(Error::InvalidConfig {
            problem: format!(
                "buffer size {size} does not work with {}: a buffer must be a power of two whose room after the {HEADROOM}-byte headroom holds a {MAX_FRAME}-byte frame{limit}: use {choice}",
                self.driver
            ),
        })
    }
}

/// The one rule for a receive batch, whatever the driver: at most `at_once` packets, the most a
/// ring of `ring` descriptors can hold for the driver at one time (an 82599 ring hands the device
/// at most `ring - 1`, 7.1.9; a virtqueue holds one packet per chain of descriptors). Asking for
/// more is an error, not a silently shorter batch.
pub(crate) fn check_rx_batch(batch: usize, ring: usize, at_once: usize) -> Result<()> {
    if batch > at_once {
        return Err(Error::BatchTooLarge {
            batch,
            ring,
            max: at_once,
        });
    }
    Ok(())
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

/// What one queue moved since the device was opened, as its driver counted it: the per-queue
/// view beside the device's [`Stats`] (whose packet and byte counts come from the device).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets received (a receive queue) or handed to the device (a transmit queue).
    pub packets: u64,
    /// Their bytes (without the FCS).
    pub bytes: u64,
    /// Packets dropped by the driver: a write-back it cannot trust (receive), a packet too
    /// short or too long for a descriptor (transmit).
    pub errors: u64,
    /// Times the driver told the device about new descriptors on this queue: the 82599's tail
    /// register writes (RDT, TDT), virtio's queue notifications (VirtIO 1.0 4.1.4.4, 4.1.4.8).
    /// Each is a write the device traps (a VM exit under virtualisation), so the notifications
    /// per packet are a transport's main cost.
    pub notifications: u64,
}

/// The counters of one queue: written by whoever serves the queue (one thread at a time: the
/// queue moves between the device and its handle, never shared), read by anyone. A cache line
/// each, so that the threads of neighbouring queues never write the same line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct QueueCounters {
    packets: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
    notifications: std::sync::atomic::AtomicU64,
}

impl QueueCounters {
    /// Adds a batch's counts. One writer at a time, so a load and a store do (no locked
    /// read-modify-write on the packet path).
    #[inline]
    pub(crate) fn add(&self, packets: u64, bytes: u64, errors: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.packets
            .store(self.packets.load(Relaxed) + packets, Relaxed);
        self.bytes.store(self.bytes.load(Relaxed) + bytes, Relaxed);
        if errors > 0 {
            self.errors
                .store(self.errors.load(Relaxed) + errors, Relaxed);
        }
    }

    /// Counts one notification (a tail write).
    #[inline]
    pub(crate) fn notified(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.notifications
            .store(self.notifications.load(Relaxed) + 1, Relaxed);
    }

    /// The counts so far.
    pub(crate) fn get(&self) -> QueueStats {
        use std::sync::atomic::Ordering::Relaxed;
        QueueStats {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            errors: self.errors.load(Relaxed),
            notifications: self.notifications.load(Relaxed),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_bound_is_the_documented_sum() {
        let d = Config::default();
        // One queue pair with the defaults: two rings of 512 × 16 bytes and 1024 buffers of 4 KiB.
        assert_eq!(d.memory_bound(4096), 512 * 16 + 1024 * 4096 + 512 * 16);
        // Huge pages: each ring takes a whole 2 MiB page, the 4 MiB pool two.
        let huge = crate::memory::HUGE_PAGE_SIZE;
        assert_eq!(d.memory_bound(huge), 4 * huge);
        // Linear in the queue counts...
        let four = Config {
            rx_queues: 4,
            tx_queues: 2,
            ..Config::default()
        };
        assert_eq!(four.memory_bound(4096), 4 * (8192 + (4 << 20)) + 2 * 8192);
        // ...and in the pool size × buffer size, rounded up to the granule.
        let odd = Config {
            rx_ring_size: 64,
            tx_ring_size: 64,
            mempool_size: 1000,
            buffer_size: 8192,
            ..Config::default()
        };
        assert_eq!(odd.memory_bound(4096), 4096 + 1000 * 8192 + 4096);
        assert_eq!(odd.memory_bound(1), 1024 + 1000 * 8192 + 1024);
        // Absurd values saturate instead of overflowing.
        let huge_pool = Config {
            mempool_size: usize::MAX,
            ..Config::default()
        };
        assert_eq!(huge_pool.memory_bound(4096), usize::MAX);
    }

    #[test]
    fn buffer_sizes_follow_from_what_the_device_writes() {
        // 82599: 1 KB steps up to 16 KB. 2048 leaves 1984 bytes, one whole KB: too little for a
        // frame; 32768 leaves 31 KB, more than BSIZEPACKET may give.
        let ixgbe = BufferSizes::for_device("x", 1024, 16 * 1024);
        assert_eq!(ixgbe.sizes(), [4096, 8192, 16384]);
        assert_eq!(
            [4096, 8192, 16384].map(|s| ixgbe.device_room(s)),
            [3072, 8192 - 1024, 16384 - 1024]
        );
        // Any length: 2048 leaves 1984 bytes, enough; the mempool stops at one huge page.
        let any = BufferSizes::for_device("y", 1, u32::MAX as usize);
        assert_eq!((any.min, any.max), (2048, HUGE_PAGE_SIZE));
        assert!(!any.accepts(3000) && !any.accepts(1024) && any.accepts(1 << 20));
        let msg = ixgbe.check(2048).unwrap_err().to_string();
        assert!(
            msg.contains("buffer size 2048 does not work with x"),
            "{msg}"
        );
        assert!(msg.ends_with("use 4096, 8192 or 16384"), "{msg}");
        assert!(msg.contains("at most 16384 bytes"), "{msg}");
        let msg = any.check(1024).unwrap_err().to_string();
        assert!(
            msg.ends_with("use a power of two from 2048 to 2097152"),
            "{msg}"
        );
        assert!(!msg.contains("at most"), "{msg}");
    }
}
