//! Opening a device by address: the driver is chosen from the PCI vendor and device id.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::device::{Config, Link, MacAddress, Stats};
use crate::ixgbe::{self, Ixgbe};
use crate::memory::{DmaAllocator, HugePageAllocator, Mempool, Packet};
use crate::pci::{MappedBar, PciAddress, PciDevice};
use crate::regs::Mmio;
use crate::{Error, Result};

/// An opened network device: one call away from the application.
///
/// ```no_run
/// use std::collections::VecDeque;
///
/// let mut dev = rixy::open("0000:03:00.0", &rixy::Config::default())?;
/// let mut packets = VecDeque::new();
/// loop {
///     dev.rx_batch(0, &mut packets, 32)?;
///     for p in packets.iter_mut() {
///         p[0] ^= 1; // touch the data, as a forwarder does
///     }
///     dev.tx_batch(0, &mut packets)?;
///     packets.clear(); // what the ring could not take goes back to its pool
/// }
/// # Ok::<(), rixy::Error>(())
/// ```
pub struct Device {
    backend: Backend,
    dma: Rc<dyn DmaAllocator>,
}

enum Backend {
    /// An 82599 on a mapped BAR. The driver is declared before the mapping so that it is
    /// dropped (and stops the device's DMA) first.
    Ixgbe {
        driver: Ixgbe<Mmio>,
        _bar: MappedBar,
    },
}

/// Opens the device at `address`: a PCI address (`0000:03:00.0`, domain optional).
///
/// The device must be a network controller that a rixy driver drives; its kernel driver is
/// unbound. Real hardware needs root and huge pages (`ci/setup-hugepages`).
pub fn open(address: &str, config: &Config) -> Result<Device> {
    config.validate()?;
    let pci_address = PciAddress::parse(address)?;
    open_pci(pci_address, config)
}

fn open_pci(address: PciAddress, config: &Config) -> Result<Device> {
    let pci = PciDevice::open_in(&config.sysfs_root, address)?;
    pci.require_network_class()?;
    let (vendor, device) = (pci.vendor_id()?, pci.device_id()?);
    if vendor == ixgbe::INTEL_VENDOR_ID && ixgbe::DEVICE_IDS.contains(&device) {
        if let Some(driver) = pci.unbind_driver()? {
            log::info!("{address}: unbound kernel driver {driver}");
        }
        pci.enable_bus_master()?;
        let bar = pci.map_bar(0)?;
        // SAFETY: `bar` maps BAR0 for `bar.len()` bytes and lives in the same `Device` as the
        // driver, which is dropped first; device memory is only reached through the bus.
        let mmio = unsafe { Mmio::new(bar.virt(), bar.len()) };
        let dma: Rc<dyn DmaAllocator> = Rc::new(HugePageAllocator::with_dir(&config.hugepage_dir));
        let driver = Ixgbe::new(address.to_string(), mmio, &*dma, config)?;
        return Ok(Device {
            backend: Backend::Ixgbe { driver, _bar: bar },
            dma,
        });
    }
    Err(Error::UnsupportedDevice {
        address: address.to_string(),
        vendor,
        device,
    })
}

macro_rules! each_backend {
    ($self:expr, $d:ident => $body:expr) => {
        match $self {
            Backend::Ixgbe { driver: $d, .. } => $body,
        }
    };
}

impl Device {
    /// The device's address.
    pub fn name(&self) -> &str {
        each_backend!(&self.backend, d => d.name())
    }

    /// Receives up to `max` packets from receive queue `queue`, appending them to `out`;
    /// returns how many. `max` must be smaller than the receive ring.
    #[inline]
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        each_backend!(&mut self.backend, d => d.rx_batch(queue, out, max))
    }

    /// Sends packets from the front of `packets` on transmit queue `queue`; returns how many
    /// the ring took. The rest stay in `packets`, in order.
    #[inline]
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        each_backend!(&mut self.backend, d => d.tx_batch(queue, packets))
    }

    /// Running totals since the device was opened.
    pub fn stats(&mut self) -> Stats {
        each_backend!(&mut self.backend, d => d.stats())
    }

    /// Link state.
    pub fn link(&self) -> Link {
        each_backend!(&self.backend, d => d.link())
    }

    /// The device's MAC address.
    pub fn mac(&self) -> MacAddress {
        each_backend!(&self.backend, d => d.mac())
    }

    /// Sets the MAC address the device receives for.
    pub fn set_mac(&mut self, mac: MacAddress) -> Result<()> {
        each_backend!(&mut self.backend, d => d.set_mac(mac))
    }

    /// Turns promiscuous mode on or off.
    pub fn set_promisc(&mut self, on: bool) -> Result<()> {
        each_backend!(&mut self.backend, d => d.set_promisc(on))
    }

    /// Receive queues.
    pub fn rx_queues(&self) -> u16 {
        each_backend!(&self.backend, d => d.rx_queues())
    }

    /// Transmit queues.
    pub fn tx_queues(&self) -> u16 {
        each_backend!(&self.backend, d => d.tx_queues())
    }

    /// A new mempool in memory this device can reach by DMA, for packets an application
    /// builds itself (a generator's frames).
    pub fn mempool(&self, entries: usize, buffer_size: usize) -> Result<Rc<Mempool>> {
        Mempool::new(&*self.dma, entries, buffer_size)
    }
}
