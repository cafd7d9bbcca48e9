//! PCI functions through sysfs: the directory of a function, its kernel driver, its BARs, and
//! the `config` file its configuration space is reached through ([`super::config`]).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use tock_registers::interfaces::{Readable, Writeable};

use super::{ConfigFile, PciAddress};
use crate::error::{Error, Result};
use crate::regs::pci::{BASE_CLASS, Bar, COMMAND};

/// Where Linux lists PCI devices.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys/bus/pci/devices";

/// `IORESOURCE_IO` in a sysfs `resource` line: the BAR is I/O port space
/// (include/linux/ioport.h).
pub const IORESOURCE_IO: u64 = 0x100;
/// `IORESOURCE_MEM` in a sysfs `resource` line: the BAR is memory space (include/linux/ioport.h).
pub const IORESOURCE_MEM: u64 = 0x200;

/// One line of a sysfs `resource` file: where a BAR sits and what kind it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarResource {
    /// First bus address of the BAR.
    pub start: u64,
    /// Last bus address of the BAR (inclusive).
    pub end: u64,
    /// Linux resource flags ([`IORESOURCE_IO`], [`IORESOURCE_MEM`], ...).
    pub flags: u64,
}

impl BarResource {
    /// Whether the BAR is memory space.
    pub fn is_memory(&self) -> bool {
        self.flags & IORESOURCE_MEM != 0
    }

    /// Whether the BAR is I/O port space.
    pub fn is_port_io(&self) -> bool {
        self.flags & IORESOURCE_IO != 0
    }

    /// Size in bytes (0 for a BAR the device does not implement).
    pub fn len(&self) -> u64 {
        if self.start == 0 && self.end == 0 {
            0
        } else {
            self.end.wrapping_sub(self.start).wrapping_add(1)
        }
    }

    /// Whether the device does not implement the BAR.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A PCI function found in sysfs, with its config space open.
#[derive(Debug)]
pub struct PciDevice {
    address: PciAddress,
    root: PathBuf,
    dir: PathBuf,
    config: ConfigFile,
    /// Config space opened read-only, for want of privileges: enough for VFIO, not for sysfs.
    read_only: bool,
}

impl PciDevice {
    /// Opens the device at `address` under [`DEFAULT_SYSFS_ROOT`]. Needs root.
    pub fn open(address: PciAddress) -> Result<PciDevice> {
        Self::open_in(DEFAULT_SYSFS_ROOT, address)
    }

    /// Opens the device at `address` under the sysfs directory `root` (a fake tree in tests).
    pub fn open_in(root: impl AsRef<Path>, address: PciAddress) -> Result<PciDevice> {
        let root = root.as_ref().to_path_buf();
        let dir = root.join(address.to_string());
        let no_device = || Error::NoSuchPciDevice {
            address,
            root: root.clone(),
        };
        if !dir.is_dir() {
            return Err(no_device());
        }
        let path = dir.join("config");
        // Without root, config space opens read-only (its header is readable by everyone):
        // enough to identify the device and reach it through VFIO, whose config region is
        // written instead.
        let mut read_only = false;
        let config = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .or_else(|e| match e.kind() {
                ErrorKind::PermissionDenied => {
                    read_only = true;
                    File::open(&path)
                }
                _ => Err(e),
            })
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => no_device(),
                _ => Error::io("open", &path, e),
            })?;
        Ok(PciDevice {
            address,
            root,
            dir,
            config: ConfigFile::new(config, path, address),
            read_only,
        })
    }

    /// For driving the device through sysfs (not VFIO), which writes its config space: the
    /// "run as root" error when it could only be opened read-only.
    pub fn require_writable_config(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::PermissionDenied {
                path: self.dir.join("config"),
            });
        }
        Ok(())
    }

    /// The device's address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The device's sysfs directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sysfs root the device was found under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The device's configuration space, read and written through the accessors generated from
    /// `registers/pci.toml`.
    pub fn config(&self) -> &ConfigFile {
        &self.config
    }

    /// The vendor ID.
    pub fn vendor_id(&self) -> Result<u16> {
        self.config.access(|c| c.vendor_id().get())
    }

    /// The device ID.
    pub fn device_id(&self) -> Result<u16> {
        self.config.access(|c| c.device_id().get())
    }

    /// The base class code.
    pub fn class_code(&self) -> Result<u8> {
        self.config.access(|c| c.base_class().get())
    }

    /// An error unless the device is a network controller (base class 02h): rixy refuses to
    /// unbind or program anything else.
    pub fn require_network_class(&self) -> Result<()> {
        let class = self.config.access(|c| c.base_class().extract())?;
        if class.matches_all(BASE_CLASS::CLASS::NETWORK) {
            Ok(())
        } else {
            Err(Error::NotANetworkDevice {
                address: self.address,
                class: class.get(),
            })
        }
    }

    /// Releases the device from its kernel driver, if one is bound, by writing the address to the
    /// driver's `unbind` file. Returns the driver's name, or `None` if no driver was bound.
    pub fn unbind_driver(&self) -> Result<Option<String>> {
        let driver = self.dir.join("driver");
        if std::fs::symlink_metadata(&driver).is_err() {
            return Ok(None);
        }
        let name = std::fs::read_link(&driver)
            .ok()
            .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "(unknown)".to_owned());
        let unbind = driver.join("unbind");
        log::info!("unbinding {} from kernel driver {name}", self.address);
        OpenOptions::new()
            .write(true)
            .open(&unbind)
            .and_then(|mut f| f.write_all(self.address.to_string().as_bytes()))
            .map_err(|e| Error::io("unbind the kernel driver via", &unbind, e))?;
        Ok(Some(name))
    }

    /// Gives the device to kernel driver `driver` by writing the address to the driver's `bind`
    /// file, `drivers/<driver>/bind` beside the sysfs devices directory
    /// (`/sys/bus/pci/drivers/<driver>/bind` for [`DEFAULT_SYSFS_ROOT`]): what undoes
    /// [`PciDevice::unbind_driver`] when rixy cannot drive the device after all.
    pub fn bind_driver(&self, driver: &str) -> Result<()> {
        let bus_dir = self.root.parent().unwrap_or(&self.root);
        let bind = bus_dir.join("drivers").join(driver).join("bind");
        log::info!("binding {} to kernel driver {driver}", self.address);
        OpenOptions::new()
            .write(true)
            .open(&bind)
            .and_then(|mut f| f.write_all(self.address.to_string().as_bytes()))
            .map_err(|e| Error::io("bind the kernel driver via", &bind, e))
    }

    /// Sets the bus master bit of the command register (PCI 3.0, 6.2.2) so the device may do
    /// DMA: read, modify, write, leaving the other bits alone.
    pub fn enable_bus_master(&self) -> Result<()> {
        let mut command = self.config.access(|c| c.command().extract())?;
        if !command.is_set(COMMAND::BUS_MASTER) {
            command.modify(COMMAND::BUS_MASTER::SET);
            self.config.access(|c| c.command().set(command.get()))?;
        }
        Ok(())
    }

    /// Line `bar` of the device's `resource` file.
    pub fn resource(&self, bar: u8) -> Result<BarResource> {
        self.check_bar_index(bar)?;
        let path = self.dir.join("resource");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let unusable = |problem: String| Error::BarUnusable {
            address: self.address,
            bar,
            problem,
        };
        let line = text
            .lines()
            .nth(bar.into())
            .ok_or_else(|| unusable(format!("{} has no line for it", path.display())))?;
        let mut numbers = line.split_whitespace().map(|word| {
            word.strip_prefix("0x")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        });
        match (numbers.next(), numbers.next(), numbers.next()) {
            (Some(Some(start)), Some(Some(end)), Some(Some(flags))) => {
                Ok(BarResource { start, end, flags })
            }
            _ => Err(unusable(format!(
                "cannot read line {line:?} of {}",
                path.display()
            ))),
        }
    }

    /// Maps memory BAR `bar` (`resourceN`) read-write. An error if it is an I/O port BAR or not
    /// implemented.
    pub fn map_bar(&self, bar: u8) -> Result<MappedBar> {
        let resource = self.resource(bar)?;
        if !resource.is_memory() {
            return Err(Error::BarNotMemoryMapped {
                address: self.address,
                bar,
                flags: resource.flags,
            });
        }
        let (file, len) = self.open_resource(bar)?;
        let len = usize::try_from(len).map_err(|_| Error::BarUnusable {
            address: self.address,
            bar,
            problem: format!("{len} bytes do not fit the address space"),
        })?;
        // SAFETY: a new shared mapping of the whole resource file at an address of the kernel's
        // choosing; it aliases no Rust memory. Checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::io(
                "mmap",
                &self.dir.join(format!("resource{bar}")),
                std::io::Error::last_os_error(),
            ));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::BarUnusable {
            address: self.address,
            bar,
            problem: "mmap returned address 0".into(),
        })?;
        Ok(MappedBar { ptr, len })
    }

    /// Opens I/O port BAR `bar` (`resourceN`) for `pread`/`pwrite` port access; returns the file
    /// and the BAR's length in bytes. An error if it is a memory BAR or not implemented.
    pub fn open_port_io(&self, bar: u8) -> Result<(File, u64)> {
        let resource = self.resource(bar)?;
        if !resource.is_port_io() {
            return Err(Error::BarNotPortIo {
                address: self.address,
                bar,
                flags: resource.flags,
            });
        }
        self.open_resource(bar)
    }

    fn open_resource(&self, bar: u8) -> Result<(File, u64)> {
        let path = self.dir.join(format!("resource{bar}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::BarUnusable {
                    address: self.address,
                    bar,
                    problem: format!(
                        "{} does not exist: the BAR is not implemented",
                        path.display()
                    ),
                },
                _ => Error::io("open", &path, e),
            })?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        if len == 0 {
            return Err(Error::BarUnusable {
                address: self.address,
                bar,
                problem: format!("{} is empty", path.display()),
            });
        }
        Ok((file, len))
    }

    fn check_bar_index(&self, bar: u8) -> Result<()> {
        if Bar::new(bar.into()).is_some() {
            Ok(())
        } else {
            Err(Error::BarUnusable {
                address: self.address,
                bar,
                problem: format!("PCI functions have BARs 0 to {}", Bar::COUNT - 1),
            })
        }
    }
}

/// A memory BAR mapped into the process, unmapped when dropped.
///
/// It hands out raw pointers only; the register buses perform the volatile accesses.
#[derive(Debug)]
pub struct MappedBar {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone and may be used and unmapped from any thread;
// it exposes only raw pointers, whose users must synchronise.
unsafe impl Send for MappedBar {}
// SAFETY: `&self` methods only read the pointer and length.
unsafe impl Sync for MappedBar {}

impl MappedBar {
    /// Takes over a mapping of a BAR (made by [`super::VfioDevice::map_bar`]).
    ///
    /// # Safety
    /// `ptr..ptr+len` must be a live `mmap` mapping that nothing else uses or unmaps.
    pub(super) unsafe fn from_raw(ptr: NonNull<u8>, len: usize) -> MappedBar {
        MappedBar { ptr, len }
    }

    /// The first byte of the BAR, as a non-null pointer.
    pub fn virt(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The first byte of the BAR, as a raw pointer.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is mapped (never true for a mapped BAR).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for MappedBar {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr+len` is the mapping `map_bar` made, owned by this value alone.
        if unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) } != 0 {
            log::warn!(
                "munmap of BAR at {:p} failed: {}",
                self.ptr,
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lengths() {
        let r = BarResource {
            start: 0xfe00_0000,
            end: 0xfe01_ffff,
            flags: 0x40200,
        };
        assert_eq!(r.len(), 0x20000);
        assert!(r.is_memory() && !r.is_port_io());
        let none = BarResource {
            start: 0,
            end: 0,
            flags: 0,
        };
        assert!(none.is_empty());
    }
}
