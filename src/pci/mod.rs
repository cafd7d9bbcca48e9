//! PCI devices through sysfs: addresses, config space, the network class check, unbinding the
//! kernel driver, bus mastering and BAR access; or, for a device bound to vfio-pci, through
//! VFIO ([`vfio`]: container, group, device, regions, MSI-X eventfds) with the IOMMU between
//! the device and memory.
//!
//! Linux exposes every PCI function as a directory `/sys/bus/pci/devices/DDDD:BB:DD.F`
//! (Documentation/PCI/sysfs-pci.rst) holding `config` (the configuration space, read and written
//! with `pread`/`pwrite`), `resource` (one line per BAR: start, end and flags in hex),
//! `resourceN` (BAR N: `mmap` it for a memory BAR, `pread`/`pwrite` it for an I/O port BAR) and
//! `driver` (a link to the bound driver, whose `unbind` file releases the device; the driver's
//! `bind` file, in `/sys/bus/pci/drivers/<driver>`, takes it back).
//!
//! The sysfs root is a parameter ([`PciDevice::open_in`]) so that tests work on a fake tree in a
//! temporary directory; [`PciDevice::open`] uses [`DEFAULT_SYSFS_ROOT`].
//!
//! A driver takes a device over in this order:
//!
//! ```no_run
//! use rixy::pci::{PciAddress, PciDevice};
//! let address: PciAddress = "0000:03:00.0".parse()?;
//! let dev = PciDevice::open(address)?;
//! dev.require_network_class()?; // refuse anything that is not a NIC before touching it
//! dev.unbind_driver()?;         // the kernel driver lets go
//! dev.enable_bus_master()?;     // the device may now do DMA
//! let bar0 = dev.map_bar(0)?;   // ixgbe: MMIO registers; legacy virtio: dev.open_port_io(0)
//! # drop(bar0);
//! # Ok::<(), rixy::Error>(())
//! ```
//!
//! Read in this order: [`address`](PciAddress) (`address.rs`), the sysfs directory of a function
//! (`sysfs.rs`: [`PciDevice`], its BARs and kernel driver), and its configuration space
//! (`config.rs`: [`ConfigFile`], the capability list and MSI-X), whose registers are declared in
//! `registers/pci.toml` and generated into [`crate::regs::pci`].

mod address;
mod config;
mod sysfs;
pub mod vfio;

pub use address::{PciAddress, PciAddressField, PciAddressProblem};
pub use config::{Capability, ConfigBus, ConfigFile, Msix};
pub use sysfs::{
    BarResource, DEFAULT_SYSFS_ROOT, IORESOURCE_IO, IORESOURCE_MEM, MappedBar, PciDevice,
};
pub use vfio::{DEFAULT_VFIO_DIR, VFIO_PCI_DRIVER, VfioContainer, VfioDevice};
