//! virtio-net (VirtIO 1.0 section 5.1, network device) over PCI, through either transport
//! ([`transport`]): the modern interface (4.1.4: vendor capabilities locating the common
//! configuration, notification, ISR and device configuration structures in a memory BAR; device
//! [`MODERN_NET_DEVICE_ID`], or a transitional [`LEGACY_NET_DEVICE_ID`] that has them) or the
//! legacy one (4.1.4.8: a register header in I/O port BAR0). QEMU's `virtio-net-pci` is both, and
//! so how anyone can run rixy without an Intel NIC.
//!
//! Everything the driver knows of the device comes from `registers/virtio.toml`: the registers of
//! the legacy header, the modern structures and capabilities, the feature bits, the split and
//! packed virtqueue structures (through [`layout`], [`packed`] and typed views), the network
//! header and the control commands. The comments cite the specification's sections (1.0, and
//! 1.1 for packed rings).
//!
//! - **Transport and ring format** vary apart from the net logic: [`transport::Transport`] is
//!   what init, rx, tx and the control queue use; a queue is split (2.4, with
//!   VIRTIO_F_EVENT_IDX when negotiated: [`need_event`]) or packed (1.1 2.7,
//!   [`packed`]), as negotiated.
//!
//! - **Init** (3.1.1, legacy variant 3.1.2): reset, ACKNOWLEDGE, DRIVER, feature negotiation,
//!   queue setup, DRIVER_OK. Port IO cannot fail loudly through a register read, so the driver
//!   asks the bus ([`CheckedBus::take_error`]) after every step, and checks the device status for
//!   FAILED and DEVICE_NEEDS_RESET.
//! - **Features** (5.1.3): only what rixy uses, when offered: MAC, STATUS, CTRL_VQ, CTRL_RX, and
//!   the transport bit ANY_LAYOUT, which lets a packet and its header share one descriptor
//!   (without it the driver chains two, 5.1.6.6 legacy). Checksum offloads are never asked for:
//!   QEMU offers them only with tap-like backends, and a driver that demands them refuses to
//!   start anywhere else.
//! - **Queues**: receive queue 0, transmit queue 1, control queue 2 (5.1.2). Used buffer
//!   notifications are suppressed (VRING_AVAIL_F_NO_INTERRUPT or used_event, 2.4.7; DISABLE in a
//!   packed ring's driver event suppression, 1.1 2.7.10): the driver polls the used rings.
//! - **Interrupts** ([`Config::interrupts`], through VFIO): the receive queue on MSI-X vector 0,
//!   configuration changes and the other queues on none (4.1.4.3, legacy 4.1.4.8, where the
//!   vector registers move the device configuration). Notifications are enabled only while the
//!   receive queue waits ([`Virtio::rx_wait`], or [`Virtio::rx_arm`] and [`Virtio::rx_disarm`]
//!   around a `poll(2)` of several devices): `wait.rs`.
//! - **Packets**: the 10-byte `virtio_net_hdr` (5.1.6) lives in the mempool headroom right before
//!   the data, so header and frame form one run for the device and the application never sees
//!   the header.
//! - **Batches**: at most one notification per batch, none while the device sets
//!   VRING_USED_F_NO_NOTIFY (2.4.9); memory barriers where 3.2.1.3, 3.2.1.4 and 3.2.2 ask for them.
//! - **Defensive receive**: a used entry whose id is not a buffer the driver posted, or whose
//!   length exceeds the buffer, is counted in [`Stats::rx_errors`] and dropped, never trusted.
//! - **Promiscuous mode** through the control queue (5.1.6.5.1, VIRTIO_NET_CTRL_RX_PROMISC), MAC
//!   address from (and, legacy, to) the device config, link state from the status field,
//!   statistics in software.
//!
//! Reading order: `transport.rs` (the two interfaces), `init.rs` (bring-up, 3.1.1), `queue.rs`
//! (the split virtqueue, 2.4, and the queue of either format), `packed.rs` (1.1 2.7), `rx.rs`
//! and `tx.rs` (the batches), `ctrl.rs` (the control queue), then this file (the struct, status,
//! the health check on empty batches, the reset on drop). `tests/` holds a device model written
//! from the specification and the unit tests that run the driver against it.

mod ctrl;
mod init;
pub mod layout;
pub mod packed;
mod queue;
mod rx;
pub mod transport;
mod tx;
mod wait;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use crate::config::{BufferSizes, Config, Link, MacAddress, Stats};
use crate::error::{Failure, HEALTH_CHECK_EVERY};
use crate::memory::{
    DmaAllocator, DmaDomain, InDomain, MemoryFootprint, Mempool, Packet, QueueMemory,
};
use crate::regs::virtio::{
    CTRL_QUEUE, DEVICE_STATUS, GUEST_FEATURES, HOST_FEATURES, NetHdr, NetHdrMrg, RX_QUEUE,
    Registers, TX_QUEUE, VIRTIO_MSI_NO_VECTOR, features_high,
};
use crate::regs::{Bus, Descriptor, DmaMaster, MemBus, Mmio, PortIo};
use crate::{Error, Result};
use init::Step;
use queue::Vq;
use transport::{Legacy, Transport, high, to_high};

pub use crate::regs::virtio::{LEGACY_NET_DEVICE_ID, MODERN_NET_DEVICE_ID, VIRTIO_VENDOR_ID};
pub use queue::need_event;
pub use transport::{Modern, ModernLayout, Window, find_modern, offers_access_platform};

/// The receive buffer sizes the driver takes ([`Config::buffer_size`]): powers of two from 2048
/// to 2 MiB. The device writes the header (into the headroom) and the frame, any length up to
/// what the descriptor says (a 32-bit length, VirtIO 1.0 2.4.5), so the room after the headroom
/// must hold a full frame.
pub const BUFFER_SIZES: BufferSizes = BufferSizes::for_device("virtio-net", 1, u32::MAX as usize);

/// A register bus that may fail without a register read being able to say so: the driver asks
/// after each step of a sequence.
pub trait CheckedBus: Bus {
    /// The first failure since the last call, and how many accesses failed; `None` when every
    /// access since then went through.
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)>;
}

impl CheckedBus for PortIo {
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)> {
        PortIo::take_error(self)
    }
}

impl CheckedBus for Mmio {
    /// A memory access cannot fail; a device that has gone away reads all ones.
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)> {
        None
    }
}

impl CheckedBus for MemBus {
    /// Plain memory never fails.
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)> {
        None
    }
}

impl<B: CheckedBus + ?Sized> CheckedBus for &B {
    fn take_error(&self) -> Option<(std::io::ErrorKind, u64)> {
        (**self).take_error()
    }
}

/// The optional features the driver negotiated (5.1.3 and the transport bits of 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// VIRTIO_NET_F_MAC: the config space holds the MAC address.
    pub mac: bool,
    /// VIRTIO_NET_F_STATUS: the config space holds the link status.
    pub status: bool,
    /// VIRTIO_NET_F_CTRL_VQ: there is a control queue.
    pub ctrl_vq: bool,
    /// VIRTIO_NET_F_CTRL_RX: the control queue switches promiscuous mode (needs CTRL_VQ).
    pub ctrl_rx: bool,
    /// VIRTIO_F_ANY_LAYOUT: a packet's header and data may share one descriptor (legacy; the
    /// modern interface always allows it, 2.4.4).
    pub any_layout: bool,
    /// VIRTIO_F_VERSION_1: the modern interface.
    pub version_1: bool,
    /// VIRTIO_F_EVENT_IDX (VIRTIO_RING_F_EVENT_IDX): notifications when the other side's event
    /// index asks (2.4.7, 2.4.9); the modern interface only.
    pub event_idx: bool,
    /// VIRTIO_F_RING_PACKED: packed virtqueues (1.1 2.7); the modern interface only, and only
    /// while [`Config::virtio_packed`] allows it.
    pub packed: bool,
    /// VIRTIO_F_ACCESS_PLATFORM (1.1 6.1): the device's DMA goes through the platform's IOMMU;
    /// accepted only when the driver's DMA domain is one the IOMMU translates
    /// ([`DmaDomain::Iommu`]).
    pub access_platform: bool,
}

impl Features {
    /// What the driver accepts of what the device offers: nothing it does not use, and CTRL_RX
    /// only together with CTRL_VQ (5.1.3.1: "VIRTIO_NET_F_CTRL_RX Requires VIRTIO_NET_F_CTRL_VQ").
    ///
    /// The modern interface (`modern`) needs VIRTIO_F_VERSION_1. VIRTIO_F_ACCESS_PLATFORM (1.1
    /// 6.1: the device's DMA goes through the IOMMU) is accepted exactly when the memory the
    /// driver hands the device is in an IOMMU domain (`domain`, [`DmaDomain::Iommu`]: I/O virtual
    /// addresses rixy mapped through VFIO), and refused otherwise (physical addresses, which an
    /// IOMMU would translate into something else); an IOMMU domain with a device that does not
    /// offer it is refused too (its DMA bypasses the IOMMU, and the I/O virtual addresses mean
    /// nothing to it). Each is an error naming what changes it.
    fn choose(
        name: &str,
        offered: u64,
        modern: bool,
        config: &Config,
        domain: DmaDomain,
    ) -> Result<Self> {
        let low =
            tock_registers::LocalRegisterCopy::<u32, HOST_FEATURES::Register>::new(offered as u32);
        let hi = high(offered);
        let refuse = |problem: String| Error::DeviceFailed {
            device: name.to_owned(),
            problem,
        };
        if modern && !hi.is_set(features_high::BITS::VERSION_1) {
            return Err(refuse(format!(
                "the device has the modern PCI capabilities but does not offer VIRTIO_F_VERSION_1 (feature bit 32; offered {offered:#x}): rixy drives modern devices as VirtIO 1.0; in QEMU, do not set disable-modern=on, or give the device disable-legacy=off so that rixy drives it as legacy"
            )));
        }
        let iommu = matches!(domain, DmaDomain::Iommu(_));
        let access_platform = modern && hi.is_set(features_high::BITS::ACCESS_PLATFORM);
        if access_platform && !iommu {
            return Err(refuse(format!(
                "the device asks for VIRTIO_F_ACCESS_PLATFORM (feature bit 33): its DMA goes through an IOMMU, and rixy hands it addresses of {domain}; bind the device to vfio-pci so that rixy maps its memory into the IOMMU, or in QEMU set iommu_platform=off on the device"
            )));
        }
        if iommu && !access_platform {
            return Err(refuse(format!(
                "the driver's DMA memory is {domain}, but the device does not offer VIRTIO_F_ACCESS_PLATFORM (feature bit 33, offered {offered:#x}): its DMA bypasses the IOMMU and would not reach that memory; open it with physical addresses (as root) or, in QEMU, give it iommu_platform=on"
            )));
        }
        let ctrl_vq = low.is_set(HOST_FEATURES::CTRL_VQ);
        Ok(Features {
            mac: low.is_set(HOST_FEATURES::MAC),
            status: low.is_set(HOST_FEATURES::STATUS),
            ctrl_vq,
            ctrl_rx: ctrl_vq && low.is_set(HOST_FEATURES::CTRL_RX),
            // A legacy bit: with VERSION_1 a header and data may always share a descriptor.
            any_layout: !modern && low.is_set(HOST_FEATURES::ANY_LAYOUT),
            version_1: modern,
            event_idx: modern && low.is_set(HOST_FEATURES::RING_EVENT_IDX),
            packed: modern && config.virtio_packed && hi.is_set(features_high::BITS::RING_PACKED),
            access_platform,
        })
    }

    /// All the feature bits these features are: what the driver writes.
    fn bits(self) -> u64 {
        let on = |on: bool, v: tock_registers::fields::FieldValue<u32, features_high::BITS::Register>| {
            if on { to_high(v) } else { 0 }
        };
        u64::from(self.guest_features().value)
            | on(self.version_1, features_high::BITS::VERSION_1::SET)
            | on(self.packed, features_high::BITS::RING_PACKED::SET)
            | on(
                self.access_platform,
                features_high::BITS::ACCESS_PLATFORM::SET,
            )
    }

    /// The GUEST_FEATURES value for these features (bits 0 to 31).
    fn guest_features(self) -> tock_registers::fields::FieldValue<u32, GUEST_FEATURES::Register> {
        let bit = |on: bool, set, clear| if on { set } else { clear };
        bit(
            self.mac,
            GUEST_FEATURES::MAC::SET,
            GUEST_FEATURES::MAC::CLEAR,
        ) + bit(
            self.status,
            GUEST_FEATURES::STATUS::SET,
            GUEST_FEATURES::STATUS::CLEAR,
        ) + bit(
            self.ctrl_vq,
            GUEST_FEATURES::CTRL_VQ::SET,
            GUEST_FEATURES::CTRL_VQ::CLEAR,
        ) + bit(
            self.ctrl_rx,
            GUEST_FEATURES::CTRL_RX::SET,
            GUEST_FEATURES::CTRL_RX::CLEAR,
        ) + bit(
            self.any_layout,
            GUEST_FEATURES::ANY_LAYOUT::SET,
            GUEST_FEATURES::ANY_LAYOUT::CLEAR,
        ) + bit(
            self.event_idx,
            GUEST_FEATURES::RING_EVENT_IDX::SET,
            GUEST_FEATURES::RING_EVENT_IDX::CLEAR,
        )
    }
}

/// The receive queue: the virtqueue, the packet posted at each head descriptor, the free heads
/// and the pool fresh buffers come from.
struct RxQueue {
    vq: Vq,
    /// The packet whose buffer the chain at head `i` points to, while the device holds it.
    posted: Vec<Option<Packet>>,
    /// Head descriptors not posted.
    free: Vec<u16>,
    pool: Mempool,
}

/// The transmit queue: the virtqueue, the packet sent from each head descriptor and the free
/// heads.
struct TxQueue {
    vq: Vq,
    /// The packet the chain at head `i` sends, until the device returns it.
    in_flight: Vec<Option<Packet>>,
    /// Head descriptors not in flight.
    free: Vec<u16>,
}

/// A virtio-net device reached through transport `T` ([`Legacy`] or [`Modern`]), initialised
/// and running.
pub struct Virtio<T: Transport> {
    name: String,
    regs: T,
    features: Features,
    rx: RxQueue,
    tx: TxQueue,
    /// The control queue, when CTRL_VQ was negotiated.
    ctrl: Option<Vq>,
    /// Bytes of the `virtio_net_hdr` in front of every frame: 10 for the legacy interface
    /// without MRG_RXBUF, 12 (with `num_buffers`) for the modern one (5.1.6).
    hdr_len: usize,
    /// Descriptors per packet: 1 with ANY_LAYOUT, 2 (header, data) without. Head descriptors
    /// are the multiples of it.
    chain: u16,
    promisc: Option<bool>,
    totals: Stats,
    /// The memory the device reaches by DMA: the queues and pool are in it, and a packet from a
    /// pool of another domain is never handed to the device.
    domain: DmaDomain,
    /// Set once a health check finds the device gone, reset or failed; every batch then fails.
    failure: Option<Failure>,
    /// Receive and transmit batches in a row that found nothing (for the health check).
    rx_idle: IdleRun,
    tx_idle: IdleRun,
    /// Notifications sent for the receive and the transmit queue.
    rx_notifications: u64,
    tx_notifications: u64,
    /// The eventfd the receive queue's MSI-X vector signals, with [`Config::interrupts`].
    rx_irq: Option<crate::Interrupt>,
}

/// Empty batches in a row, for the health check. Unlike the 82599's (whose status read is one
/// MMIO load), virtio's check is not due on the first empty batch after work: on a legacy device
/// the status read is a port IO syscall and a VM exit, as dear as a notification, and a driver
/// faster than its device (every generator, every forwarder's transmit side) meets an empty
/// batch after nearly every batch that did something. Issue 13's count in the device model: a
/// status read every 8 packets sent against a device that flushes 8 frames every 4 turns, 400
/// times the notifications. The check runs once the device has done nothing for
/// [`HEALTH_CHECK_EVERY`] batches in a row, and every so many after that.
#[derive(Debug, Default)]
struct IdleRun(u32);

impl IdleRun {
    /// Records a batch that found work (`busy`) or none; returns whether the health check is
    /// due now.
    #[inline]
    fn record(&mut self, busy: bool) -> bool {
        if busy {
            self.0 = 0;
            false
        } else {
            self.0 = self.0.wrapping_add(1);
            self.0.is_multiple_of(HEALTH_CHECK_EVERY)
        }
    }
}

/// How long the device may take to reset or to answer a control command.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

impl<T: Transport> Virtio<T> {
    /// The device's name (its PCI address).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The memory the device reaches by DMA: packets sent on it must come from a pool of this
    /// domain.
    pub fn dma_domain(&self) -> DmaDomain {
        self.domain
    }

    /// The transport the driver reaches the device through.
    pub fn transport(&self) -> &T {
        &self.regs
    }

    /// The features negotiated.
    pub fn features(&self) -> Features {
        self.features
    }

    /// Receive queues: 1.
    pub fn rx_queues(&self) -> u16 {
        1
    }

    /// Transmit queues: 1.
    pub fn tx_queues(&self) -> u16 {
        1
    }

    /// Entries of receive queue `queue` (the size the device chose).
    pub fn rx_ring_size(&self, queue: u16) -> Option<usize> {
        (queue == 0).then(|| self.rx.vq.size().get())
    }

    /// Entries of transmit queue `queue`.
    pub fn tx_ring_size(&self, queue: u16) -> Option<usize> {
        (queue == 0).then(|| self.tx.vq.size().get())
    }

    /// The DMA memory of the receive and transmit queue: each virtqueue's region (descriptor
    /// table and both rings, VirtIO 1.0 2.4.2), the receive pool's region, and the control
    /// queue's region counted with the transmit queue when there is one.
    pub fn memory(&self) -> MemoryFootprint {
        let pool = &self.rx.pool;
        let ctrl = self.ctrl.as_ref().map_or(0, |c| c.region().mapped_len());
        MemoryFootprint {
            rx: vec![QueueMemory {
                ring_entries: self.rx.vq.size().get(),
                ring_bytes: self.rx.vq.region().mapped_len(),
                pool_buffers: pool.capacity(),
                buffer_size: pool.buffer_size(),
                pool_bytes: pool.region().mapped_len(),
            }],
            tx: vec![QueueMemory {
                ring_entries: self.tx.vq.size().get(),
                ring_bytes: self.tx.vq.region().mapped_len() + ctrl,
                ..QueueMemory::default()
            }],
        }
    }

    /// The receive queue's mempool.
    pub fn rx_pool(&self, queue: u16) -> Option<&Mempool> {
        (queue == 0).then_some(&self.rx.pool)
    }

    /// Packets the queues hold for the device (receive buffers posted, transmits not returned).
    pub fn buffers_held(&self) -> usize {
        self.rx.posted.iter().flatten().count() + self.tx.in_flight.iter().flatten().count()
    }

    /// The device address of every packet buffer the queues hold (receive buffers posted,
    /// transmits not returned), found by walking both queues' slots: for accounting checks that
    /// must see which buffers are held, not only how many.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        let rx = self.rx.posted.iter().flatten();
        let tx = self.tx.in_flight.iter().flatten();
        rx.chain(tx).map(Packet::device_addr).collect()
    }

    /// Link state: the status field's LINK_UP (5.1.4) when VIRTIO_NET_F_STATUS was negotiated;
    /// otherwise the link is up (5.1.4: without it "the link should be assumed active"). Virtio
    /// reports no speed, so `speed_mbps` is 0.
    pub fn link(&self) -> Link {
        let up = !self.features.status || self.regs.link_up();
        Link { up, speed_mbps: 0 }
    }

    /// The MAC address in the device config (5.1.4).
    pub fn mac(&self) -> MacAddress {
        MacAddress(self.regs.mac())
    }

    /// Sets the MAC address the device receives for and sends from. The legacy interface lets
    /// the driver write the config field (5.1.4, legacy: "mac is driver-writable which provided
    /// a way for drivers to update the MAC without negotiating VIRTIO_NET_F_CTRL_MAC_ADDR");
    /// the driver reads it back to make sure the device took it.
    pub fn set_mac(&mut self, mac: MacAddress) -> Result<()> {
        if !self.regs.write_mac(mac.0) {
            return Err(Error::DeviceFailed {
                device: self.name.clone(),
                problem: format!(
                    "cannot set MAC address {mac}: the modern interface makes the config field read-only (virtio 1.0, 5.1.4), and rixy does not use VIRTIO_NET_F_CTRL_MAC_ADDR"
                ),
            });
        }
        self.check_bus("writing the MAC address")?;
        let now = self.mac();
        if now != mac {
            return Err(Error::DeviceFailed {
                device: self.name.clone(),
                problem: format!(
                    "the device did not take MAC address {mac}: it reads {now} (does it offer VIRTIO_NET_F_CTRL_MAC_ADDR, which makes the config field read-only?)"
                ),
            });
        }
        Ok(())
    }

    /// Turns promiscuous mode on or off through the control queue (5.1.6.5.1). An error, naming
    /// the missing feature, on a device without VIRTIO_NET_F_CTRL_RX.
    pub fn set_promisc(&mut self, on: bool) -> Result<()> {
        ctrl::rx_mode(self, ctrl::RxMode::Promisc, on)?;
        self.promisc = Some(on);
        Ok(())
    }

    /// Whether promiscuous mode is on, if the driver has set it (a device without CTRL_RX
    /// filters as it chooses).
    pub fn promisc(&self) -> Option<bool> {
        self.promisc
    }

    /// Promiscuous mode as the configuration asks at open. Without CTRL_RX, asking for it on is
    /// only a warning (the device filters as it chooses; QEMU's is promiscuous after reset),
    /// asking for it off is an error: the driver cannot promise the filtering.
    fn apply_promisc(&mut self, on: bool) -> Result<()> {
        if !self.features.ctrl_rx && on {
            log::warn!(
                "{}: the device does not offer VIRTIO_NET_F_CTRL_RX, so promiscuous mode cannot be switched on; it filters as it defaults to",
                self.name
            );
            return Ok(());
        }
        self.set_promisc(on)
    }

    /// What receive queue `queue` (there is one, 0) received: the driver's own counts.
    pub fn rx_queue_stats(&self, queue: u16) -> Option<crate::QueueStats> {
        (queue == 0).then_some(crate::QueueStats {
            packets: self.totals.rx_packets,
            bytes: self.totals.rx_bytes,
            errors: self.totals.rx_errors,
            notifications: self.rx_notifications,
        })
    }

    /// What transmit queue `queue` (there is one, 0) handed to the device.
    pub fn tx_queue_stats(&self, queue: u16) -> Option<crate::QueueStats> {
        (queue == 0).then_some(crate::QueueStats {
            packets: self.totals.tx_packets,
            bytes: self.totals.tx_bytes,
            errors: self.totals.tx_errors,
            notifications: self.tx_notifications,
        })
    }

    /// Running totals, counted by the driver: packets and bytes as the application sees them
    /// (without the virtio-net header). Transmits count once the device has returned them, so
    /// this first collects the transmit queue's used entries. `rx_dropped` stays 0: a legacy
    /// device does not say what it dropped for lack of buffers.
    pub fn stats(&mut self) -> Stats {
        tx::reap(self);
        self.totals
    }

    /// Transmits the device has not returned yet.
    pub fn tx_pending(&self, queue: u16) -> usize {
        if queue == 0 {
            self.tx.in_flight.iter().flatten().count()
        } else {
            0
        }
    }

    /// An error naming `what` if a port access failed since the last check.
    fn check_bus(&self, what: &str) -> Result<()> {
        Step {
            name: &self.name,
            regs: &self.regs,
        }
        .check(what)
    }

    /// The health check of an empty batch: one read of the device status (2.1). A device that
    /// has gone away reads all ones (no status has every bit set: FAILED and DRIVER_OK together
    /// mean nothing); one that was reset reads without DRIVER_OK (4.1.4.8: a reset sets the
    /// status to 0); one that gave up sets FAILED or DEVICE_NEEDS_RESET.
    fn check_health(&mut self) -> Result<()> {
        let status = tock_registers::LocalRegisterCopy::<u8, DEVICE_STATUS::Register>::new(
            self.regs.status(),
        );
        let failure = if let Some((kind, count)) = self.regs.take_error() {
            Failure::Failed {
                problem: format!(
                    "reading the device status failed ({count} register access(es), {kind}): is the device still there?"
                ),
            }
        } else if status.get() == u8::MAX {
            Failure::Removed
        } else if status.is_set(DEVICE_STATUS::FAILED)
            || status.is_set(DEVICE_STATUS::DEVICE_NEEDS_RESET)
        {
            Failure::Failed {
                problem: format!(
                    "the device status reads {:#04x} (FAILED or DEVICE_NEEDS_RESET, virtio 1.0, 2.1): the device gave up; close it and open it again",
                    status.get()
                ),
            }
        } else if !status.is_set(DEVICE_STATUS::DRIVER_OK) {
            Failure::Reset {
                evidence: format!(
                    "the device status reads {:#04x}, without DRIVER_OK",
                    status.get()
                ),
            }
        } else {
            return Ok(());
        };
        let error = failure.error(&self.name);
        log::debug!("{error}");
        self.failure = Some(failure);
        Err(error)
    }

    /// The error of a failure found earlier, if there was one.
    fn failed(&self) -> Result<()> {
        match &self.failure {
            Some(failure) => Err(failure.error(&self.name)),
            None => Ok(()),
        }
    }

    /// Tells the device that queue `index` has new available entries (4.1.4.8 QUEUE_NOTIFY).
    /// Counted in the queue's [`crate::QueueStats::notifications`].
    fn notify(&mut self, index: u16) -> Result<()> {
        if index == RX_QUEUE {
            self.rx_notifications += 1;
        } else if index == TX_QUEUE {
            self.tx_notifications += 1;
        }
        self.doorbell(index)
    }

    /// Writes the notification for queue `index` (the control queue's are not counted).
    #[inline]
    fn doorbell(&self, index: u16) -> Result<()> {
        self.regs.notify(index);
        match self.regs.take_error() {
            None => Ok(()),
            Some((kind, _)) => Err(Error::DeviceFailed {
                device: self.name.clone(),
                problem: format!("notifying queue {index} failed: port IO error {kind}"),
            }),
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

impl<T: Transport> Drop for Virtio<T> {
    /// Resets the device before its queues and buffers are freed: a reset makes the device
    /// forget the queues (4.1.4.8: writing 0 to the status resets it), so it never writes into
    /// memory that has been handed back.
    fn drop(&mut self) {
        self.regs.set_status(0);
        if matches!(self.failure, Some(Failure::Removed)) {
            // Nothing there to wait for: the status would read all ones for ever.
            return;
        }
        // Wait (briefly) for the reset to be visible, unless the device cannot be reached at all.
        let start = Instant::now();
        while self.regs.status() != 0
            && self.regs.take_error().is_none()
            && start.elapsed() < STEP_TIMEOUT
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some((kind, _)) = self.regs.take_error() {
            log::warn!(
                "{}: resetting the device failed ({kind}); it may still use freed memory",
                self.name
            );
        }
    }
}
