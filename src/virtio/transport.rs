//! The two ways a virtio PCI device is reached (VirtIO 1.0 4.1): the legacy interface, a header
//! of registers in I/O port BAR0 (4.1.4.8), and the modern one, structures in a memory BAR that
//! vendor-specific PCI capabilities point to (4.1.4). The net device logic (init, rx, tx, the
//! control queue) is written once, against [`Transport`].

use std::io::ErrorKind;

use tock_registers::interfaces::{Readable, Writeable};

use super::CheckedBus;
use crate::memory::DmaDomain;
use tock_registers::LocalRegisterCopy;

use crate::pci::Capability;
use crate::regs::pci::cap_header::CAP_ID;
use crate::regs::virtio::{
    LEGACY_CONFIG_OFFSET, LEGACY_CONFIG_OFFSET_MSIX, LEGACY_MSIX_OFFSET, QUEUE_PFN,
    QUEUE_PFN_SHIFT, Registers, VIRTIO_MSI_NO_VECTOR, virtio_net_config, virtio_net_legacy_config,
    virtio_pci_cap, virtio_pci_common_cfg, virtio_pci_legacy_msix, virtio_pci_notify_cap,
};
use crate::regs::{Bus, DmaMaster};

/// Where the three parts of a virtqueue are, as device addresses (2.4 split: descriptor table,
/// available ring, used ring; 1.1 2.7 packed: descriptor ring, driver and device event
/// suppression).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueAddrs {
    /// Descriptor table or ring.
    pub desc: u64,
    /// Driver area: available ring, or driver event suppression.
    pub driver: u64,
    /// Device area: used ring, or device event suppression.
    pub device: u64,
}

/// What the driver needs of a transport. Errors of a bus that cannot fail loudly are latched and
/// collected with [`Transport::take_error`].
pub trait Transport {
    /// True for the modern interface (VERSION_1 features, FEATURES_OK, explicit queue addresses).
    fn is_modern(&self) -> bool;
    /// The device status (2.1).
    fn status(&self) -> u8;
    /// Writes the device status; 0 resets the device.
    fn set_status(&self, status: u8);
    /// The features the device offers: 32 bits (legacy) or 64.
    fn device_features(&self) -> u64;
    /// Writes the features the driver accepts.
    fn set_driver_features(&self, features: u64);
    /// Reads back what the device took of them.
    fn driver_features(&self) -> u64;
    /// Selects queue `index` and reads its size (0: it does not exist) and whether it is in use.
    fn queue_size(&self, index: u16) -> (u16, bool);
    /// Gives the device queue `index` of `size` entries at `addrs` and enables it. An error
    /// (`Err(problem)`) when the device did not take it.
    fn set_queue(&mut self, index: u16, size: u16, addrs: QueueAddrs) -> Result<(), String>;
    /// Tells the device queue `index` has new available buffers.
    fn notify(&self, index: u16);
    /// The MAC address in the device config (5.1.4).
    fn mac(&self) -> [u8; 6];
    /// Writes the MAC address into the device config: only the legacy interface lets the driver
    /// (5.1.4, legacy); false when the transport cannot.
    fn write_mac(&self, mac: [u8; 6]) -> bool;
    /// The link status word's LINK_UP bit (5.1.4).
    fn link_up(&self) -> bool;
    /// The first access failure since the last call, and how many accesses failed.
    fn take_error(&self) -> Option<(ErrorKind, u64)>;
    /// The memory the device reaches by DMA.
    fn dma_domain(&self) -> DmaDomain;
    /// The queue layout the transport asks for: the legacy interface puts a split queue in one
    /// page-aligned run whose page number fits 32 bits (4.1.4.8).
    fn legacy_layout(&self) -> bool {
        !self.is_modern()
    }
    /// Tells the transport that MSI-X is now enabled in the function's configuration space (or
    /// not): the legacy header then has the vector registers and the device configuration
    /// moves (4.1.4.8). The modern interface is not affected.
    fn set_msix_enabled(&mut self, on: bool) {
        let _ = on;
    }
    /// Maps configuration changes to MSI-X vector `vector` ([`VIRTIO_MSI_NO_VECTOR`]: none) and
    /// reads it back (4.1.4.3 msix_config, 4.1.4.8 legacy CONFIG_VECTOR): an error
    /// (`Err(problem)`) when the device did not take it. A transport without MSI-X takes only
    /// `VIRTIO_MSI_NO_VECTOR`, which it need not write.
    fn set_config_vector(&mut self, vector: u16) -> Result<(), String> {
        no_msix(vector)
    }
    /// Maps queue `index`'s used buffer notifications to MSI-X vector `vector` (4.1.4.3
    /// queue_msix_vector, 4.1.4.8 legacy QUEUE_VECTOR), before the queue is set up (4.1.5.1.3),
    /// and reads it back: an error when the device did not take it.
    fn set_queue_vector(&mut self, index: u16, vector: u16) -> Result<(), String> {
        let _ = index;
        no_msix(vector)
    }
}

/// What a transport without MSI-X vectors answers: only "no vector" is possible.
fn no_msix(vector: u16) -> Result<(), String> {
    if vector == VIRTIO_MSI_NO_VECTOR {
        Ok(())
    } else {
        Err(format!(
            "MSI-X vector {vector} asked of a transport without MSI-X"
        ))
    }
}

/// The error of a vector the device read back differently: 4.1.4.3 says a device that cannot
/// map a vector reads [`VIRTIO_MSI_NO_VECTOR`].
fn vector_refused(what: &str, vector: u16, read: u16) -> String {
    if read == VIRTIO_MSI_NO_VECTOR {
        format!(
            "the device refused MSI-X vector {vector} for {what}: it reads back VIRTIO_MSI_NO_VECTOR (virtio 1.0, 4.1.4.3), so it has no room for the vector; give the device more vectors (QEMU: vectors=N on virtio-net-pci) or open it without Config::interrupts"
        )
    } else {
        format!(
            "the device did not take MSI-X vector {vector} for {what}: it reads back {read:#06x} (virtio 1.0, 4.1.4.3)"
        )
    }
}

/// The legacy interface: the registers of `registers/virtio.toml` on an I/O port BAR, and after
/// them the MSI-X vector registers (while MSI-X is enabled) and the device configuration, which
/// moves when MSI-X is enabled (4.1.4.8).
pub struct Legacy<B: CheckedBus> {
    regs: Registers<B>,
    /// MSI-X is enabled in the function's configuration space: the vector registers sit at
    /// [`LEGACY_MSIX_OFFSET`] and the device configuration at [`LEGACY_CONFIG_OFFSET_MSIX`].
    msix: bool,
}

impl<B: CheckedBus> Legacy<B> {
    /// The legacy header on `regs`, with MSI-X disabled on the function; whoever enables it
    /// says so ([`Transport::set_msix_enabled`]), since it moves the device configuration
    /// (4.1.4.8) and the driver cannot see it from the header.
    pub fn new(regs: Registers<B>) -> Self {
        Legacy { regs, msix: false }
    }

    /// Whether the transport places the device configuration for MSI-X enabled.
    pub fn msix(&self) -> bool {
        self.msix
    }

    /// The net device configuration (5.1.4) where the legacy header puts it now.
    fn config(&self) -> Option<virtio_net_legacy_config::View<Window<&B>>> {
        let at = if self.msix {
            LEGACY_CONFIG_OFFSET_MSIX
        } else {
            LEGACY_CONFIG_OFFSET
        };
        let window = Window::new(self.regs.bus(), at, virtio_net_legacy_config::SIZE)?;
        virtio_net_legacy_config::View::new(window).ok()
    }

    /// The MSI-X vector registers, while MSI-X is enabled.
    fn vectors(&self) -> Result<virtio_pci_legacy_msix::View<Window<&B>>, String> {
        if !self.msix {
            return Err("MSI-X vectors asked of a legacy device whose MSI-X is not enabled".into());
        }
        Window::new(
            self.regs.bus(),
            LEGACY_MSIX_OFFSET,
            virtio_pci_legacy_msix::SIZE,
        )
        .and_then(|w| virtio_pci_legacy_msix::View::new(w).ok())
        .ok_or_else(|| "the legacy BAR is too small for the MSI-X vector registers".into())
    }
}

impl<B: CheckedBus + DmaMaster> Transport for Legacy<B> {
    fn is_modern(&self) -> bool {
        false
    }
    fn status(&self) -> u8 {
        self.regs.device_status().get()
    }
    fn set_status(&self, status: u8) {
        self.regs.device_status().set(status);
    }
    fn device_features(&self) -> u64 {
        u64::from(self.regs.host_features().get())
    }
    fn set_driver_features(&self, features: u64) {
        // The legacy interface has 32 feature bits; the driver never asks for more here.
        self.regs.guest_features().set(features as u32);
    }
    fn driver_features(&self) -> u64 {
        u64::from(self.regs.guest_features().get())
    }
    fn queue_size(&self, index: u16) -> (u16, bool) {
        self.regs.queue_sel().set(index);
        let size = self.regs.queue_num().get();
        (size, self.regs.queue_pfn().read(QUEUE_PFN::PFN) != 0)
    }
    fn set_queue(&mut self, index: u16, _size: u16, addrs: QueueAddrs) -> Result<(), String> {
        // 4.1.4.8: the device learns only the page number; it derives the rings from the size it
        // chose itself. The queue's layout was checked to fit (`Virtqueue::new`).
        let pfn = u32::try_from(addrs.desc >> QUEUE_PFN_SHIFT)
            .map_err(|_| format!("queue {index} at {:#x} is above 16 TiB", addrs.desc))?;
        self.regs.queue_sel().set(index);
        self.regs.queue_pfn().set(pfn);
        if self.regs.queue_pfn().get() != pfn {
            return Err(format!("queue {index} did not take page number {pfn:#x}"));
        }
        Ok(())
    }
    #[inline]
    fn notify(&self, index: u16) {
        self.regs.queue_notify().set(index);
    }
    fn mac(&self) -> [u8; 6] {
        match self.config() {
            Some(c) => [
                c.mac0().get(),
                c.mac1().get(),
                c.mac2().get(),
                c.mac3().get(),
                c.mac4().get(),
                c.mac5().get(),
            ],
            None => [0; 6],
        }
    }
    fn write_mac(&self, mac: [u8; 6]) -> bool {
        let Some(c) = self.config() else {
            return false;
        };
        c.mac0().set(mac[0]);
        c.mac1().set(mac[1]);
        c.mac2().set(mac[2]);
        c.mac3().set(mac[3]);
        c.mac4().set(mac[4]);
        c.mac5().set(mac[5]);
        true
    }
    fn link_up(&self) -> bool {
        self.config()
            .is_some_and(|c| c.status().is_set(virtio_net_legacy_config::STATUS::LINK_UP))
    }
    fn take_error(&self) -> Option<(ErrorKind, u64)> {
        self.regs.bus().take_error()
    }
    fn dma_domain(&self) -> DmaDomain {
        self.regs.bus().dma_domain()
    }
    fn set_msix_enabled(&mut self, on: bool) {
        self.msix = on;
    }
    fn set_config_vector(&mut self, vector: u16) -> Result<(), String> {
        if !self.msix {
            return no_msix(vector);
        }
        let v = self.vectors()?;
        v.config_vector().set(vector);
        let read = v.config_vector().get();
        (read == vector)
            .then_some(())
            .ok_or_else(|| vector_refused("configuration changes", vector, read))
    }
    fn set_queue_vector(&mut self, index: u16, vector: u16) -> Result<(), String> {
        if !self.msix {
            return no_msix(vector);
        }
        // 4.1.4.8: QUEUE_VECTOR is the vector of the queue QUEUE_SEL selects.
        self.regs.queue_sel().set(index);
        let v = self.vectors()?;
        v.queue_vector().set(vector);
        let read = v.queue_vector().get();
        (read == vector)
            .then_some(())
            .ok_or_else(|| vector_refused(&format!("queue {index}"), vector, read))
    }
}

/// A window of `len` bytes at `base` of bus `B`: where a modern structure sits in its BAR.
#[derive(Clone, Debug)]
pub struct Window<B> {
    bus: B,
    base: usize,
    len: usize,
}

impl<B: Bus> Window<B> {
    /// The window, if it lies inside the bus.
    pub fn new(bus: B, base: usize, len: usize) -> Option<Self> {
        (base.checked_add(len)? <= bus.len()).then_some(Window { bus, base, len })
    }
}

macro_rules! window_access {
    ($r:ident, $w:ident, $t:ty) => {
        #[inline(always)]
        unsafe fn $r(&self, offset: usize) -> $t {
            // SAFETY: the caller keeps `offset` inside the window, which `new` placed inside the
            // bus; the base offsets of the structures are checked aligned where they are parsed.
            unsafe { self.bus.$r(self.base + offset) }
        }
        #[inline(always)]
        unsafe fn $w(&self, offset: usize, value: $t) {
            // SAFETY: as for the read.
            unsafe { self.bus.$w(self.base + offset, value) }
        }
    };
}

impl<B: Bus> Bus for Window<B> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }
    window_access!(read8, write8, u8);
    window_access!(read16, write16, u16);
    window_access!(read32, write32, u32);
    window_access!(read64, write64, u64);
}

/// Where the modern interface's structures are in the device's BAR, as its capabilities say
/// (4.1.4): each an offset and a length; the notification area also has its multiplier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModernLayout {
    /// The BAR all of them are in.
    pub bar: u8,
    /// Common configuration (4.1.4.3).
    pub common: (u32, u32),
    /// Notification area (4.1.4.4).
    pub notify: (u32, u32),
    /// `notify_off_multiplier` (4.1.4.4).
    pub notify_off_multiplier: u32,
    /// ISR status (4.1.4.5), if the device has one.
    pub isr: Option<(u32, u32)>,
    /// Device-specific configuration (4.1.4.6).
    pub device: (u32, u32),
}

/// The modern interface (4.1.4) on a bus over the BAR the capabilities point into.
pub struct Modern<B: Bus> {
    bus: B,
    common: virtio_pci_common_cfg::View<Window<B>>,
    device: virtio_net_config::View<Window<B>>,
    notify: Window<B>,
    multiplier: usize,
    /// Each set-up queue's notification address in the notification area.
    notify_at: Vec<(u16, usize)>,
    /// What keeps the BAR mapped while the bus is used (the sysfs mapping), if anything.
    _keep: Option<Box<dyn Send>>,
}

impl<B: Bus + Clone> Modern<B> {
    /// The transport over `bus` (the BAR `layout.bar`), with `keep` alive as long as it is. An
    /// error naming the structure that does not fit the BAR or is misaligned.
    pub fn new(bus: B, layout: &ModernLayout, keep: Option<Box<dyn Send>>) -> Result<Self, String> {
        let window = |what: &str, (offset, len): (u32, u32), need: usize, align: usize| {
            let (offset, len) = (offset as usize, len as usize);
            if len < need || !offset.is_multiple_of(align) {
                return Err(format!(
                    "the {what} structure at offset {offset:#x} of BAR {} is {len} bytes{}, it needs {need} at a multiple of {align} (virtio 1.0, 4.1.4)",
                    layout.bar,
                    if !offset.is_multiple_of(align) {
                        " and misaligned"
                    } else {
                        ""
                    }
                ));
            }
            Window::new(bus.clone(), offset, len).ok_or_else(|| {
                format!(
                    "the {what} structure at {offset:#x}+{len:#x} runs past the end of BAR {} ({:#x} bytes)",
                    layout.bar,
                    bus.len()
                )
            })
        };
        let common = window(
            "common configuration",
            layout.common,
            virtio_pci_common_cfg::SIZE,
            virtio_pci_common_cfg::ALIGN,
        )?;
        let device = window(
            "device configuration",
            layout.device,
            virtio_net_config::SIZE,
            virtio_net_config::ALIGN,
        )?;
        let notify = window("notification", layout.notify, 2, 2)?;
        let multiplier = layout.notify_off_multiplier as usize;
        // 4.1.4.4: "notify_off_multiplier ... an even power of 2, or 0".
        if multiplier != 0 && (!multiplier.is_power_of_two() || multiplier < 2) {
            return Err(format!(
                "notify_off_multiplier is {multiplier}: virtio 1.0, 4.1.4.4 asks for 0 or an even power of two"
            ));
        }
        let view_err = |e: crate::Error| e.to_string();
        Ok(Modern {
            common: virtio_pci_common_cfg::View::new(common).map_err(view_err)?,
            device: virtio_net_config::View::new(device).map_err(view_err)?,
            notify,
            multiplier,
            notify_at: Vec::new(),
            bus,
            _keep: keep,
        })
    }
}

impl<B: CheckedBus + DmaMaster + Clone> Transport for Modern<B> {
    fn is_modern(&self) -> bool {
        true
    }
    fn status(&self) -> u8 {
        self.common.device_status().get()
    }
    fn set_status(&self, status: u8) {
        self.common.device_status().set(status);
    }
    fn device_features(&self) -> u64 {
        // 4.1.4.3: DEVICE_FEATURE shows the 32 bits DEVICE_FEATURE_SELECT names.
        let c = &self.common;
        c.device_feature_select().set(0);
        let low = c.device_feature().get();
        c.device_feature_select().set(1);
        let high = c.device_feature().get();
        u64::from(high) << 32 | u64::from(low)
    }
    fn set_driver_features(&self, features: u64) {
        let c = &self.common;
        c.driver_feature_select().set(0);
        c.driver_feature().set(features as u32);
        c.driver_feature_select().set(1);
        c.driver_feature().set((features >> 32) as u32);
    }
    fn driver_features(&self) -> u64 {
        let c = &self.common;
        c.driver_feature_select().set(0);
        let low = c.driver_feature().get();
        c.driver_feature_select().set(1);
        let high = c.driver_feature().get();
        u64::from(high) << 32 | u64::from(low)
    }
    fn queue_size(&self, index: u16) -> (u16, bool) {
        let c = &self.common;
        c.queue_select().set(index);
        (c.queue_size().get(), c.queue_enable().get() != 0)
    }
    fn set_queue(&mut self, index: u16, size: u16, addrs: QueueAddrs) -> Result<(), String> {
        // 4.1.5.1.3: select, size, the three addresses, then enable. The MSI-X vector, if any,
        // was written before (`set_queue_vector`); NO_VECTOR is its reset value (4.1.4.3).
        let c = &self.common;
        c.queue_select().set(index);
        c.queue_size().set(size);
        c.queue_desc_lo().set(addrs.desc as u32);
        c.queue_desc_hi().set((addrs.desc >> 32) as u32);
        c.queue_driver_lo().set(addrs.driver as u32);
        c.queue_driver_hi().set((addrs.driver >> 32) as u32);
        c.queue_device_lo().set(addrs.device as u32);
        c.queue_device_hi().set((addrs.device >> 32) as u32);
        let off = usize::from(c.queue_notify_off().get()) * self.multiplier;
        // 4.1.4.4: the queue's notification address, which must lie in the area (2 bytes).
        if off.checked_add(2).is_none_or(|end| end > self.notify.len()) {
            return Err(format!(
                "queue {index}'s notification offset {off:#x} (queue_notify_off * {}) lies outside the {}-byte notification area",
                self.multiplier,
                self.notify.len()
            ));
        }
        if !off.is_multiple_of(2) {
            return Err(format!(
                "queue {index}'s notification offset {off:#x} is odd"
            ));
        }
        c.queue_enable().set(1);
        if c.queue_size().get() != size || c.queue_enable().get() != 1 {
            return Err(format!(
                "queue {index} did not take size {size} or did not enable (it reads size {}, enable {})",
                c.queue_size().get(),
                c.queue_enable().get()
            ));
        }
        self.notify_at.retain(|&(q, _)| q != index);
        self.notify_at.push((index, off));
        Ok(())
    }
    #[inline]
    fn notify(&self, index: u16) {
        // 4.1.4.4: the driver writes the queue's index (16 bits) at its notification address.
        if let Some(&(_, off)) = self.notify_at.iter().find(|&&(q, _)| q == index) {
            // SAFETY: `set_queue` checked that `off..off + 2` lies inside the notification area
            // and that `off` is even; the area's own base is even (checked in `new`).
            unsafe { self.notify.write16(off, index) };
        }
    }
    fn mac(&self) -> [u8; 6] {
        let d = &self.device;
        [
            d.mac0().get(),
            d.mac1().get(),
            d.mac2().get(),
            d.mac3().get(),
            d.mac4().get(),
            d.mac5().get(),
        ]
    }
    fn write_mac(&self, _mac: [u8; 6]) -> bool {
        // 5.1.4: without the legacy interface the mac field is read-only for the driver.
        false
    }
    fn link_up(&self) -> bool {
        self.device
            .status()
            .is_set(virtio_net_config::STATUS::LINK_UP)
    }
    fn take_error(&self) -> Option<(ErrorKind, u64)> {
        self.bus.take_error()
    }
    fn dma_domain(&self) -> DmaDomain {
        self.bus.dma_domain()
    }
    fn set_config_vector(&mut self, vector: u16) -> Result<(), String> {
        // 4.1.4.3: msix_config; 4.1.4.3.1: the device reads back NO_VECTOR if it could not map
        // the vector.
        let c = &self.common;
        c.msix_config().set(vector);
        let read = c.msix_config().get();
        (read == vector)
            .then_some(())
            .ok_or_else(|| vector_refused("configuration changes", vector, read))
    }
    fn set_queue_vector(&mut self, index: u16, vector: u16) -> Result<(), String> {
        // 4.1.5.1.3: select the queue, then write queue_msix_vector and read it back, before the
        // queue's addresses and enable.
        let c = &self.common;
        c.queue_select().set(index);
        c.queue_msix_vector().set(vector);
        let read = c.queue_msix_vector().get();
        (read == vector)
            .then_some(())
            .ok_or_else(|| vector_refused(&format!("queue {index}"), vector, read))
    }
}

/// Feature bits 32 to 63, as their fields in `registers/virtio.toml` name them.
pub(crate) fn high(
    features: u64,
) -> tock_registers::LocalRegisterCopy<u32, crate::regs::virtio::features_high::BITS::Register> {
    tock_registers::LocalRegisterCopy::new((features >> 32) as u32)
}

/// The bits of `value` as feature bits 32 to 63.
pub(crate) fn to_high(
    value: tock_registers::fields::FieldValue<
        u32,
        crate::regs::virtio::features_high::BITS::Register,
    >,
) -> u64 {
    u64::from(value.value) << 32
}

/// Finds the modern interface's structures among the capabilities `caps` of the configuration
/// space on `config` (4.1.4): the first capability of each type whose BAR is 0 to 5 (4.1.4.1:
/// other BAR values are reserved and ignored). `Ok(None)` when there is no common configuration
/// capability: a legacy-only device. An error when the capabilities are incomplete or malformed,
/// or the structures sit in more than one BAR.
pub fn find_modern<B: Bus>(
    config: &B,
    caps: &[Capability],
) -> Result<Option<ModernLayout>, String> {
    use virtio_pci_cap::CFG_TYPE::TYPE;
    let mut common = None;
    let mut notify = None;
    let mut isr = None;
    let mut device = None;
    for cap in caps.iter().filter(|c| {
        LocalRegisterCopy::<u8, CAP_ID::Register>::new(c.id)
            .matches_all(CAP_ID::ID::VENDOR_SPECIFIC)
    }) {
        let at = |len| {
            Window::new(config, cap.offset, len).ok_or_else(|| {
                format!(
                    "the vendor capability at {:#04x} runs past the end of configuration space",
                    cap.offset
                )
            })
        };
        let view =
            virtio_pci_cap::View::new(at(virtio_pci_cap::SIZE)?).map_err(|e| e.to_string())?;
        let len = usize::from(view.cap_len().get());
        let bar = view.bar().get();
        if len < virtio_pci_cap::SIZE {
            return Err(format!(
                "the virtio capability at {:#04x} says it is {len} bytes, less than the {} of struct virtio_pci_cap (virtio 1.0, 4.1.4)",
                cap.offset,
                virtio_pci_cap::SIZE
            ));
        }
        if bar > 5 {
            continue;
        }
        let place = (bar, view.offset().get(), view.length().get());
        match view.cfg_type().read_as_enum(TYPE) {
            Some(TYPE::Value::Common) if common.is_none() => common = Some(place),
            Some(TYPE::Value::Isr) if isr.is_none() => isr = Some(place),
            Some(TYPE::Value::Device) if device.is_none() => device = Some(place),
            Some(TYPE::Value::Notify) if notify.is_none() => {
                if len < virtio_pci_notify_cap::SIZE {
                    return Err(format!(
                        "the notification capability at {:#04x} is {len} bytes, less than the {} of struct virtio_pci_notify_cap (virtio 1.0, 4.1.4.4)",
                        cap.offset,
                        virtio_pci_notify_cap::SIZE
                    ));
                }
                let n = virtio_pci_notify_cap::View::new(at(virtio_pci_notify_cap::SIZE)?)
                    .map_err(|e| e.to_string())?;
                notify = Some((place, n.notify_off_multiplier().get()));
            }
            _ => {}
        }
    }
    let Some(common) = common else {
        return Ok(None);
    };
    let missing = |what: &str| {
        format!(
            "the device has a common configuration capability but no {what} capability (virtio 1.0, 4.1.4)"
        )
    };
    let (notify, multiplier) = notify.ok_or_else(|| missing("notification"))?;
    let device = device.ok_or_else(|| missing("device configuration"))?;
    for (what, (bar, ..)) in [("notification", notify), ("device configuration", device)]
        .into_iter()
        .chain(isr.map(|i| ("ISR", i)))
    {
        if bar != common.0 {
            return Err(format!(
                "the {what} structure is in BAR {bar}, the common configuration in BAR {}: rixy maps one BAR",
                common.0
            ));
        }
    }
    Ok(Some(ModernLayout {
        bar: common.0,
        common: (common.1, common.2),
        notify: (notify.1, notify.2),
        notify_off_multiplier: multiplier,
        isr: isr.map(|i| (i.1, i.2)),
        device: (device.1, device.2),
    }))
}

/// The transport of a virtio device opened through sysfs: the legacy header on I/O port BAR0,
/// or the modern structures on a mapped memory BAR (whose mapping the transport keeps).
pub enum PciTransport {
    /// A legacy-only device (no modern capabilities).
    Legacy(Legacy<crate::regs::PortIo>),
    /// A modern or transitional device with the VirtIO 1.0 capabilities.
    Modern(Modern<crate::regs::Mmio>),
}

macro_rules! each {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            PciTransport::Legacy($t) => $e,
            PciTransport::Modern($t) => $e,
        }
    };
}

impl Transport for PciTransport {
    fn is_modern(&self) -> bool {
        matches!(self, PciTransport::Modern(_))
    }
    fn status(&self) -> u8 {
        each!(self, t => t.status())
    }
    fn set_status(&self, status: u8) {
        each!(self, t => t.set_status(status))
    }
    fn device_features(&self) -> u64 {
        each!(self, t => t.device_features())
    }
    fn set_driver_features(&self, features: u64) {
        each!(self, t => t.set_driver_features(features))
    }
    fn driver_features(&self) -> u64 {
        each!(self, t => t.driver_features())
    }
    fn queue_size(&self, index: u16) -> (u16, bool) {
        each!(self, t => t.queue_size(index))
    }
    fn set_queue(&mut self, index: u16, size: u16, addrs: QueueAddrs) -> Result<(), String> {
        each!(self, t => t.set_queue(index, size, addrs))
    }
    #[inline]
    fn notify(&self, index: u16) {
        each!(self, t => t.notify(index))
    }
    fn mac(&self) -> [u8; 6] {
        each!(self, t => t.mac())
    }
    fn write_mac(&self, mac: [u8; 6]) -> bool {
        each!(self, t => t.write_mac(mac))
    }
    fn link_up(&self) -> bool {
        each!(self, t => t.link_up())
    }
    fn take_error(&self) -> Option<(ErrorKind, u64)> {
        each!(self, t => t.take_error())
    }
    fn dma_domain(&self) -> DmaDomain {
        each!(self, t => t.dma_domain())
    }
    fn set_msix_enabled(&mut self, on: bool) {
        each!(self, t => t.set_msix_enabled(on))
    }
    fn set_config_vector(&mut self, vector: u16) -> Result<(), String> {
        each!(self, t => t.set_config_vector(vector))
    }
    fn set_queue_vector(&mut self, index: u16, vector: u16) -> Result<(), String> {
        each!(self, t => t.set_queue_vector(index, vector))
    }
}

/// Whether the modern device whose structures `layout` places on `bus` offers
/// VIRTIO_F_ACCESS_PLATFORM (feature bit 33, VirtIO 1.1 6.1): its DMA then goes through the
/// platform's IOMMU, and the driver must hand it I/O virtual addresses. Read from the common
/// configuration's device features (4.1.4.3) without touching the device status, so it can be
/// asked before the driver starts (to choose the DMA addresses it will use). An error when the
/// structures do not fit the BAR.
pub fn offers_access_platform<B: CheckedBus + DmaMaster + Clone>(
    bus: B,
    layout: &ModernLayout,
) -> Result<bool, String> {
    let modern = Modern::new(bus, layout, None)?;
    let offered = modern.device_features();
    Ok(high(offered).is_set(crate::regs::virtio::features_high::BITS::ACCESS_PLATFORM))
}
