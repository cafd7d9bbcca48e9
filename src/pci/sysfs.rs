//! PCI devices through sysfs: addresses, config space, the network class check, unbinding the
//! kernel driver, bus mastering and BAR access.
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

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where Linux lists PCI devices.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys/bus/pci/devices";

/// Offsets and bits of the PCI configuration space header (type 00h), from the PCI Local Bus
/// Specification, revision 3.0, section 6.1 "Configuration Space Organization" (figure 6-1).
/// Multi-byte registers are little-endian.
pub mod config_space {
    /// Vendor ID, 16 bits (6.2.1 "Device Identification").
    pub const VENDOR_ID: u64 = 0x00;
    /// Device ID, 16 bits (6.2.1).
    pub const DEVICE_ID: u64 = 0x02;
    /// Command register, 16 bits (6.2.2 "Device Control", figure 6-2).
    pub const COMMAND: u64 = 0x04;
    /// Status register, 16 bits (6.2.3 "Device Status").
    pub const STATUS: u64 = 0x06;
    /// Revision ID, 8 bits (6.2.1).
    pub const REVISION_ID: u64 = 0x08;
    /// Programming interface byte of the class code (6.2.1).
    pub const PROG_IF: u64 = 0x09;
    /// Sub-class byte of the class code (6.2.1).
    pub const SUBCLASS: u64 = 0x0A;
    /// Base class byte of the class code (6.2.1).
    pub const CLASS_CODE: u64 = 0x0B;
    /// Header type, 8 bits (6.2.1).
    pub const HEADER_TYPE: u64 = 0x0E;
    /// Base address register 0; BARs 1-5 follow every 4 bytes (6.2.5 "Base Addresses").
    pub const BAR0: u64 = 0x10;
    /// Subsystem vendor ID, 16 bits (6.2.4 "Miscellaneous Registers").
    pub const SUBSYSTEM_VENDOR_ID: u64 = 0x2C;
    /// Subsystem ID, 16 bits (6.2.4).
    pub const SUBSYSTEM_ID: u64 = 0x2E;

    /// Command bit 0: the device responds to I/O space accesses (6.2.2).
    pub const COMMAND_IO_SPACE: u16 = 1 << 0;
    /// Command bit 1: the device responds to memory space accesses (6.2.2).
    pub const COMMAND_MEMORY_SPACE: u16 = 1 << 1;
    /// Command bit 2: the device may master the bus, i.e. do DMA (6.2.2).
    pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
    /// Command bit 10: legacy INTx interrupts disabled (6.2.2).
    pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;

    /// Base class 02h, "network controller" (appendix D, "Class Codes").
    pub const CLASS_NETWORK: u8 = 0x02;

    /// Bytes of the header every function has (6.1): reads below this never fail on a device.
    pub const HEADER_SIZE: u64 = 64;
}

/// `IORESOURCE_IO` in a sysfs `resource` line: the BAR is I/O port space
/// (include/linux/ioport.h).
pub const IORESOURCE_IO: u64 = 0x100;
/// `IORESOURCE_MEM` in a sysfs `resource` line: the BAR is memory space (include/linux/ioport.h).
pub const IORESOURCE_MEM: u64 = 0x200;

/// Number of BARs of a type 00h header (6.2.5).
const BARS: u8 = 6;

/// A PCI function's address: domain (segment), bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    /// PCI domain (segment group).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device number, at most 0x1f.
    pub device: u8,
    /// Function number, at most 7.
    pub function: u8,
}

/// One part of a PCI address, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciAddressField {
    /// The domain, `DDDD`.
    Domain,
    /// The bus, `BB`.
    Bus,
    /// The device, `DD`.
    Device,
    /// The function, `F`.
    Function,
}

impl fmt::Display for PciAddressField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PciAddressField::Domain => "domain",
            PciAddressField::Bus => "bus",
            PciAddressField::Device => "device",
            PciAddressField::Function => "function",
        })
    }
}

/// What is wrong with a PCI address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PciAddressProblem {
    /// Nothing to parse.
    #[error("it is empty")]
    Empty,
    /// Spaces, tabs or newlines anywhere.
    #[error("it contains whitespace")]
    Whitespace,
    /// No `.F` at the end.
    #[error("the function number is missing (no '.')")]
    MissingFunction,
    /// A `.` before the device number.
    #[error("a '.' may only separate device and function")]
    MisplacedDot,
    /// Only one number before the `.`.
    #[error("bus and device must be separated by ':'")]
    MissingColon,
    /// More than three numbers before the `.`.
    #[error("too many ':'-separated parts")]
    TooManyColons,
    /// A part without digits.
    #[error("the {0} number is empty")]
    EmptyField(PciAddressField),
    /// A part with a character that is not a hex digit.
    #[error("the {field} number {text:?} is not hexadecimal")]
    NotHex {
        /// Which part.
        field: PciAddressField,
        /// Its text.
        text: String,
    },
    /// A part with more digits than it may have.
    #[error("the {field} number has more than {max_digits} hex digits")]
    TooLong {
        /// Which part.
        field: PciAddressField,
        /// How many digits it may have.
        max_digits: usize,
    },
    /// A device number above 0x1f (device numbers are 5 bits in a configuration address).
    #[error("device {0:#x} is above the maximum 0x1f")]
    DeviceOutOfRange(u8),
    /// A function number above 7 (function numbers are 3 bits).
    #[error("function {0} is above the maximum 7")]
    FunctionOutOfRange(u8),
}

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` (domain optional, all hex): the form `lspci -D` prints and sysfs
    /// names directories by.
    pub fn parse(text: &str) -> Result<PciAddress> {
        Self::parse_problem(text).map_err(|problem| Error::InvalidPciAddress {
            address: text.to_owned(),
            problem,
        })
    }

    fn parse_problem(text: &str) -> Result<PciAddress, PciAddressProblem> {
        use PciAddressField::*;
        use PciAddressProblem::*;
        if text.is_empty() {
            return Err(Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(Whitespace);
        }
        let (head, function) = text.rsplit_once('.').ok_or(MissingFunction)?;
        if head.contains('.') {
            return Err(MisplacedDot);
        }
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, device) = match parts[..] {
            [_] => return Err(MissingColon),
            [bus, device] => ("0", bus, device),
            [domain, bus, device] => (domain, bus, device),
            _ => return Err(TooManyColons),
        };
        let domain = hex_field(domain, Domain, 8)?;
        let bus = hex_field(bus, Bus, 2)? as u8;
        let device = hex_field(device, Device, 2)? as u8;
        let function = hex_field(function, Function, 1)? as u8;
        if device > 0x1f {
            return Err(DeviceOutOfRange(device));
        }
        if function > 7 {
            return Err(FunctionOutOfRange(function));
        }
        Ok(PciAddress {
            domain,
            bus,
            device,
            function,
        })
    }
}

/// Parses one hex part of at most `max_digits` digits (`from_str_radix` alone would accept a
/// leading `+`).
fn hex_field(
    text: &str,
    field: PciAddressField,
    max_digits: usize,
) -> Result<u32, PciAddressProblem> {
    if text.is_empty() {
        return Err(PciAddressProblem::EmptyField(field));
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PciAddressProblem::NotHex {
            field,
            text: text.to_owned(),
        });
    }
    if text.len() > max_digits {
        return Err(PciAddressProblem::TooLong { field, max_digits });
    }
    // At most 8 hex digits, all valid: this cannot fail.
    u32::from_str_radix(text, 16).map_err(|_| PciAddressProblem::TooLong { field, max_digits })
}

impl FromStr for PciAddress {
    type Err = Error;

    fn from_str(text: &str) -> Result<PciAddress> {
        PciAddress::parse(text)
    }
}

impl fmt::Display for PciAddress {
    /// The sysfs form, `0000:03:00.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

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
    config: File,
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
        let config = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => no_device(),
                _ => Error::io("open", &path, e),
            })?;
        Ok(PciDevice {
            address,
            root,
            dir,
            config,
        })
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

    fn read_config<const N: usize>(&self, offset: u64) -> Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.config
            .read_exact_at(&mut bytes, offset)
            .map_err(|e| Error::io("read PCI config space", &self.dir.join("config"), e))?;
        Ok(bytes)
    }

    /// Reads the config space byte at `offset`.
    pub fn config_read_u8(&self, offset: u64) -> Result<u8> {
        Ok(self.read_config::<1>(offset)?[0])
    }

    /// Reads the little-endian config space word at `offset`.
    pub fn config_read_u16(&self, offset: u64) -> Result<u16> {
        Ok(u16::from_le_bytes(self.read_config(offset)?))
    }

    /// Reads the little-endian config space dword at `offset`.
    pub fn config_read_u32(&self, offset: u64) -> Result<u32> {
        Ok(u32::from_le_bytes(self.read_config(offset)?))
    }

    /// Writes the little-endian config space word at `offset` (one `pwrite` of 2 bytes).
    pub fn config_write_u16(&self, offset: u64, value: u16) -> Result<()> {
        self.config
            .write_all_at(&value.to_le_bytes(), offset)
            .map_err(|e| Error::io("write PCI config space", &self.dir.join("config"), e))
    }

    /// The vendor ID.
    pub fn vendor_id(&self) -> Result<u16> {
        self.config_read_u16(config_space::VENDOR_ID)
    }

    /// The device ID.
    pub fn device_id(&self) -> Result<u16> {
        self.config_read_u16(config_space::DEVICE_ID)
    }

    /// The base class code.
    pub fn class_code(&self) -> Result<u8> {
        self.config_read_u8(config_space::CLASS_CODE)
    }

    /// An error unless the device is a network controller (base class 02h): rixy refuses to
    /// unbind or program anything else.
    pub fn require_network_class(&self) -> Result<()> {
        let class = self.class_code()?;
        if class == config_space::CLASS_NETWORK {
            Ok(())
        } else {
            Err(Error::NotANetworkDevice {
                address: self.address,
                class,
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
        let command = self.config_read_u16(config_space::COMMAND)?;
        if command & config_space::COMMAND_BUS_MASTER == 0 {
            self.config_write_u16(
                config_space::COMMAND,
                command | config_space::COMMAND_BUS_MASTER,
            )?;
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
        if bar < BARS {
            Ok(())
        } else {
            Err(Error::BarUnusable {
                address: self.address,
                bar,
                problem: format!("PCI functions have BARs 0 to {}", BARS - 1),
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
    fn parses_and_prints() {
        let a = PciAddress::parse("0000:03:00.1").unwrap();
        assert_eq!(
            a,
            PciAddress {
                domain: 0,
                bus: 3,
                device: 0,
                function: 1
            }
        );
        assert_eq!(a.to_string(), "0000:03:00.1");
        assert_eq!(
            PciAddress::parse("3:1f.7").unwrap().to_string(),
            "0000:03:1f.7"
        );
        assert_eq!(
            PciAddress::parse("10000:E1:00.0").unwrap().to_string(),
            "10000:e1:00.0"
        );
    }

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
