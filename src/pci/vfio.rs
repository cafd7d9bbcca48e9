//! PCI devices through VFIO (Linux Documentation/driver-api/vfio.rst): a device bound to the
//! `vfio-pci` kernel driver is reached through three files, with the IOMMU between the device
//! and memory.
//!
//! - The **container**, `/dev/vfio/vfio`: one IOMMU address space. rixy checks the API version
//!   (`VFIO_GET_API_VERSION`), picks the type-1 IOMMU (`VFIO_TYPE1v2_IOMMU`, else
//!   `VFIO_TYPE1_IOMMU`), reads its usable IOVA ranges (`VFIO_IOMMU_GET_INFO`'s capability
//!   chain) and maps DMA memory into it (`VFIO_IOMMU_MAP_DMA`, [`crate::memory::Iommu`]). All
//!   VFIO devices a process opens share one container ([`VfioContainer::shared`]), so a packet
//!   received on one can be sent on another.
//! - The **group**, `/dev/vfio/N`, N being the device's IOMMU group
//!   (`/sys/bus/pci/devices/ADDR/iommu_group`): usable only when every device in it is bound to
//!   vfio-pci (or to no driver): `VFIO_GROUP_GET_STATUS` says it is viable. Its owner is who may
//!   use the device: root hands it to a user (`ci/vfio-bind`), who then needs no root.
//! - The **device** (`VFIO_GROUP_GET_DEVICE_FD`): one file whose regions are the BARs, the ROM
//!   and config space, each at an offset of the file (`VFIO_DEVICE_GET_REGION_INFO`). A memory
//!   BAR is `mmap`ed from there ([`VfioDevice::map_bar`]); an I/O port BAR is read and written
//!   with `pread`/`pwrite` at its region's offset ([`VfioDevice::port_io`]); config space is
//!   region 7 ([`VfioDevice::config`]). MSI-X interrupts are delivered to eventfds
//!   (`VFIO_DEVICE_SET_IRQS`, [`VfioDevice::enable_msix`]).
//!
//! The ioctl numbers and structures are those of the Linux uapi header
//! `include/uapi/linux/vfio.h` ([`uapi`]); the tests check them against the installed header
//! when a C compiler and the header are there.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, Weak};

use tock_registers::interfaces::{Readable, Writeable};

use super::{ConfigFile, MappedBar, PciAddress, PciDevice};
use crate::error::{Error, Result};
use crate::memory::{DmaDomain, Iommu, IovaSpace};
use crate::regs::PortIo;
use crate::regs::pci::COMMAND;

/// Where Linux puts the VFIO container and group files.
pub const DEFAULT_VFIO_DIR: &str = "/dev/vfio";

/// The kernel driver that hands a PCI device to user space through VFIO.
pub const VFIO_PCI_DRIVER: &str = "vfio-pci";

/// The VFIO user-space API, as `include/uapi/linux/vfio.h` declares it: ioctl numbers, flags and
/// the structures the ioctls take, under their uapi names.
#[allow(non_camel_case_types, non_upper_case_globals)]
pub mod uapi {
    /// `VFIO_TYPE`: the ioctl type of every VFIO call, `';'`.
    pub const VFIO_TYPE: u32 = b';' as u32;
    /// `VFIO_BASE`: the number of the first VFIO ioctl.
    pub const VFIO_BASE: u32 = 100;

    /// `_IO(VFIO_TYPE, VFIO_BASE + n)`: VFIO ioctls carry no size or direction in their number
    /// (the structures say their size in `argsz`).
    const fn io(n: u32) -> u64 {
        ((VFIO_TYPE << 8) | (VFIO_BASE + n)) as u64
    }

    /// `VFIO_API_VERSION`: the version `VFIO_GET_API_VERSION` returns.
    pub const VFIO_API_VERSION: i32 = 0;
    /// `VFIO_TYPE1_IOMMU`: the type-1 IOMMU model.
    pub const VFIO_TYPE1_IOMMU: u64 = 1;
    /// `VFIO_TYPE1v2_IOMMU`: type 1, version 2 (unmaps exactly what was mapped).
    pub const VFIO_TYPE1v2_IOMMU: u64 = 3;

    /// `VFIO_GET_API_VERSION` (container).
    pub const VFIO_GET_API_VERSION: u64 = io(0);
    /// `VFIO_CHECK_EXTENSION` (container): whether an IOMMU type is offered.
    pub const VFIO_CHECK_EXTENSION: u64 = io(1);
    /// `VFIO_SET_IOMMU` (container).
    pub const VFIO_SET_IOMMU: u64 = io(2);
    /// `VFIO_GROUP_GET_STATUS` (group): [`vfio_group_status`].
    pub const VFIO_GROUP_GET_STATUS: u64 = io(3);
    /// `VFIO_GROUP_SET_CONTAINER` (group): takes a pointer to the container's fd.
    pub const VFIO_GROUP_SET_CONTAINER: u64 = io(4);
    /// `VFIO_GROUP_GET_DEVICE_FD` (group): takes the device's name, returns its fd.
    pub const VFIO_GROUP_GET_DEVICE_FD: u64 = io(6);
    /// `VFIO_DEVICE_GET_INFO` (device): [`vfio_device_info`].
    pub const VFIO_DEVICE_GET_INFO: u64 = io(7);
    /// `VFIO_DEVICE_GET_REGION_INFO` (device): [`vfio_region_info`].
    pub const VFIO_DEVICE_GET_REGION_INFO: u64 = io(8);
    /// `VFIO_DEVICE_GET_IRQ_INFO` (device): [`vfio_irq_info`].
    pub const VFIO_DEVICE_GET_IRQ_INFO: u64 = io(9);
    /// `VFIO_DEVICE_SET_IRQS` (device): [`vfio_irq_set`] followed by its data.
    pub const VFIO_DEVICE_SET_IRQS: u64 = io(10);
    /// `VFIO_IOMMU_GET_INFO` (container): [`vfio_iommu_type1_info`] and its capabilities.
    pub const VFIO_IOMMU_GET_INFO: u64 = io(12);
    /// `VFIO_IOMMU_MAP_DMA` (container): [`vfio_iommu_type1_dma_map`].
    pub const VFIO_IOMMU_MAP_DMA: u64 = io(13);
    /// `VFIO_IOMMU_UNMAP_DMA` (container): [`vfio_iommu_type1_dma_unmap`].
    pub const VFIO_IOMMU_UNMAP_DMA: u64 = io(14);

    /// `VFIO_GROUP_FLAGS_VIABLE`: every device of the group is bound to vfio or to nothing.
    pub const VFIO_GROUP_FLAGS_VIABLE: u32 = 1 << 0;
    /// `VFIO_DEVICE_FLAGS_PCI`: a vfio-pci device.
    pub const VFIO_DEVICE_FLAGS_PCI: u32 = 1 << 1;
    /// `VFIO_REGION_INFO_FLAG_READ`.
    pub const VFIO_REGION_INFO_FLAG_READ: u32 = 1 << 0;
    /// `VFIO_REGION_INFO_FLAG_WRITE`.
    pub const VFIO_REGION_INFO_FLAG_WRITE: u32 = 1 << 1;
    /// `VFIO_REGION_INFO_FLAG_MMAP`.
    pub const VFIO_REGION_INFO_FLAG_MMAP: u32 = 1 << 2;
    /// `VFIO_IRQ_INFO_EVENTFD`: the interrupt can signal an eventfd.
    pub const VFIO_IRQ_INFO_EVENTFD: u32 = 1 << 0;
    /// `VFIO_IRQ_SET_DATA_NONE`.
    pub const VFIO_IRQ_SET_DATA_NONE: u32 = 1 << 0;
    /// `VFIO_IRQ_SET_DATA_EVENTFD`: the data is one `s32` eventfd per vector.
    pub const VFIO_IRQ_SET_DATA_EVENTFD: u32 = 1 << 2;
    /// `VFIO_IRQ_SET_ACTION_TRIGGER`.
    pub const VFIO_IRQ_SET_ACTION_TRIGGER: u32 = 1 << 5;
    /// `VFIO_IOMMU_INFO_PGSIZES`: `iova_pgsizes` is valid.
    pub const VFIO_IOMMU_INFO_PGSIZES: u32 = 1 << 0;
    /// `VFIO_IOMMU_INFO_CAPS`: `cap_offset` is valid.
    pub const VFIO_IOMMU_INFO_CAPS: u32 = 1 << 1;
    /// `VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE`: the capability listing usable IOVA ranges.
    pub const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: u16 = 1;
    /// `VFIO_DMA_MAP_FLAG_READ`: the device may read the mapping.
    pub const VFIO_DMA_MAP_FLAG_READ: u32 = 1 << 0;
    /// `VFIO_DMA_MAP_FLAG_WRITE`: the device may write it.
    pub const VFIO_DMA_MAP_FLAG_WRITE: u32 = 1 << 1;

    /// `VFIO_PCI_CONFIG_REGION_INDEX`: config space (BARs 0–5 are regions 0–5, the ROM 6).
    pub const VFIO_PCI_CONFIG_REGION_INDEX: u32 = 7;
    /// `VFIO_PCI_MSIX_IRQ_INDEX`.
    pub const VFIO_PCI_MSIX_IRQ_INDEX: u32 = 2;

    /// `struct vfio_group_status`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_group_status {
        /// Size of the structure.
        pub argsz: u32,
        /// `VFIO_GROUP_FLAGS_*`.
        pub flags: u32,
    }

    /// `struct vfio_device_info`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_device_info {
        /// Size of the structure.
        pub argsz: u32,
        /// `VFIO_DEVICE_FLAGS_*`.
        pub flags: u32,
        /// Regions (for vfio-pci at least 9).
        pub num_regions: u32,
        /// Interrupt indexes.
        pub num_irqs: u32,
        /// Offset of the first capability.
        pub cap_offset: u32,
    }

    /// `struct vfio_region_info`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_region_info {
        /// Size of the structure.
        pub argsz: u32,
        /// `VFIO_REGION_INFO_FLAG_*`.
        pub flags: u32,
        /// The region asked about.
        pub index: u32,
        /// Offset of the first capability.
        pub cap_offset: u32,
        /// Bytes of the region (0: not implemented).
        pub size: u64,
        /// Offset of the region in the device file.
        pub offset: u64,
    }

    /// `struct vfio_irq_info`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_irq_info {
        /// Size of the structure.
        pub argsz: u32,
        /// `VFIO_IRQ_INFO_*`.
        pub flags: u32,
        /// The interrupt index asked about.
        pub index: u32,
        /// Vectors of that index.
        pub count: u32,
    }

    /// `struct vfio_irq_set`, without its trailing data.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_irq_set {
        /// Size of the structure and its data.
        pub argsz: u32,
        /// `VFIO_IRQ_SET_DATA_*` | `VFIO_IRQ_SET_ACTION_*`.
        pub flags: u32,
        /// The interrupt index.
        pub index: u32,
        /// The first vector.
        pub start: u32,
        /// Vectors.
        pub count: u32,
    }

    /// `struct vfio_iommu_type1_info`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_iommu_type1_info {
        /// Size of the structure and its capabilities.
        pub argsz: u32,
        /// `VFIO_IOMMU_INFO_*`.
        pub flags: u32,
        /// Bitmap of the IOMMU page sizes.
        pub iova_pgsizes: u64,
        /// Offset of the first capability.
        pub cap_offset: u32,
        /// Padding.
        pub pad: u32,
    }

    /// `struct vfio_info_cap_header`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_info_cap_header {
        /// Capability id.
        pub id: u16,
        /// Its version.
        pub version: u16,
        /// Offset of the next capability (0: none).
        pub next: u32,
    }

    /// `struct vfio_iommu_type1_info_cap_iova_range`, without its ranges.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_iommu_type1_info_cap_iova_range {
        /// The capability header.
        pub header: vfio_info_cap_header,
        /// Ranges that follow.
        pub nr_iovas: u32,
        /// Reserved.
        pub reserved: u32,
    }

    /// `struct vfio_iova_range`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_iova_range {
        /// First usable IOVA.
        pub start: u64,
        /// Last usable IOVA (inclusive).
        pub end: u64,
    }

    /// `struct vfio_iommu_type1_dma_map`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_iommu_type1_dma_map {
        /// Size of the structure.
        pub argsz: u32,
        /// `VFIO_DMA_MAP_FLAG_*`.
        pub flags: u32,
        /// Process virtual address.
        pub vaddr: u64,
        /// Device address.
        pub iova: u64,
        /// Bytes.
        pub size: u64,
    }

    /// `struct vfio_iommu_type1_dma_unmap`, without its trailing data.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct vfio_iommu_type1_dma_unmap {
        /// Size of the structure.
        pub argsz: u32,
        /// Flags (none used).
        pub flags: u32,
        /// Device address.
        pub iova: u64,
        /// Bytes.
        pub size: u64,
    }
}

use uapi::*;

/// `size_of::<T>()` as an `argsz`.
fn argsz<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// One ioctl on `fd` with an argument; the return value, or the error.
///
/// # Safety
/// `arg` must be what `request` expects (a pointer to a structure of the right layout and
/// `argsz`, or an integer).
unsafe fn ioctl(fd: &impl AsRawFd, request: u64, arg: libc::c_ulong) -> std::io::Result<i32> {
    // SAFETY: the caller passes the argument `request` expects.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An ioctl whose argument is a pointer to `value`, which the kernel may read and fill.
fn ioctl_ptr<T>(fd: &impl AsRawFd, request: u64, value: &mut T) -> std::io::Result<i32> {
    // SAFETY: every caller passes the uapi structure of `request`, with its `argsz` set to the
    // size of `value`, so the kernel reads and writes inside it.
    unsafe { ioctl(fd, request, value as *mut T as libc::c_ulong) }
}

/// A usable IOVA range, `(first, last)` with `last` inclusive.
pub type IovaRange = (u64, u64);

/// The IOMMU group of the device in sysfs directory `dir`: the number its `iommu_group` link
/// ends in.
pub fn iommu_group(dir: &Path, address: PciAddress) -> Result<u32> {
    let link = dir.join("iommu_group");
    let target = std::fs::read_link(&link).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::NoIommuGroup {
            address,
            link: link.clone(),
        },
        _ => Error::io("read the link", &link, e),
    })?;
    target
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .ok_or_else(|| Error::Io {
            what: "read an IOMMU group number from the link",
            path: link,
            source: std::io::Error::other(format!("it points to {}", target.display())),
        })
}

/// The devices in the IOMMU group of `device` other than itself that are bound to a driver
/// other than vfio-pci, as `address (driver)`: what makes a group not viable. Read from the
/// group's `devices` directory (`iommu_group/devices`) and each device's `driver` link under
/// the same sysfs root.
pub fn group_blockers(device: &PciDevice) -> Vec<String> {
    let devices = device.dir().join("iommu_group").join("devices");
    let mut names: Vec<String> = std::fs::read_dir(&devices)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let own = device.address().to_string();
    names
        .into_iter()
        .filter(|name| *name != own)
        .filter_map(|name| {
            let driver = driver_name(&device.root().join(&name))?;
            (driver != VFIO_PCI_DRIVER).then(|| format!("{name} ({driver})"))
        })
        .collect()
}

/// The name of the kernel driver bound to the device in sysfs directory `dir`, if any.
pub fn driver_name(dir: &Path) -> Option<String> {
    std::fs::read_link(dir.join("driver"))
        .ok()
        .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// This process's real user id.
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Opens group file `path` of `device` read-write, with the errors a user can act on: a missing
/// file (not bound to vfio-pci, or the modules not loaded), no permission (chown it), busy (in
/// use by another process).
pub fn open_group_file(path: &Path, address: PciAddress) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::VfioFileMissing {
                path: path.to_path_buf(),
                hint: format!(
                    "is {address} bound to vfio-pci? Bind it as root with `ci/vfio-bind {address} USER`"
                ),
            },
            ErrorKind::PermissionDenied => Error::VfioGroupPermission {
                path: path.to_path_buf(),
                address,
                uid: uid(),
            },
            _ if e.raw_os_error() == Some(libc::EBUSY) => Error::Vfio {
                device: address.to_string(),
                what: "opening the VFIO group",
                source: e,
                hint: format!(
                    "{} is in use by another process (another rixy, or a VM): stop it first",
                    path.display()
                ),
            },
            _ => Error::io("open the VFIO group file", path, e),
        })
}

/// The usable IOVA ranges `(first, last)` in the capability chain of a `VFIO_IOMMU_GET_INFO`
/// answer `info` (the whole buffer the kernel filled, `argsz` bytes), whose first capability is
/// at `cap_offset` (0: none). `None` when the chain has no IOVA-range capability. An error for a
/// chain that points outside the buffer, backwards (a loop), or a capability that does not fit.
pub fn parse_iova_ranges(info: &[u8], cap_offset: u32) -> Result<Option<Vec<IovaRange>>> {
    let bad = |problem: String| Error::Io {
        what: "read the IOMMU capabilities of",
        path: PathBuf::from(DEFAULT_VFIO_DIR).join("vfio"),
        source: std::io::Error::other(problem),
    };
    let header_len = std::mem::size_of::<vfio_info_cap_header>();
    let mut at = cap_offset as usize;
    let min = std::mem::size_of::<vfio_iommu_type1_info>();
    while at != 0 {
        if at < min || at + header_len > info.len() {
            return Err(bad(format!(
                "a capability at offset {at} lies outside the {}-byte answer",
                info.len()
            )));
        }
        let u16_at = |o: usize| u16::from_ne_bytes([info[o], info[o + 1]]);
        let u32_at = |o: usize| u32::from_ne_bytes(info[o..o + 4].try_into().unwrap_or([0; 4]));
        let u64_at = |o: usize| u64::from_ne_bytes(info[o..o + 8].try_into().unwrap_or([0; 8]));
        let id = u16_at(at);
        let next = u32_at(at + 4) as usize;
        if id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE {
            let fixed = std::mem::size_of::<vfio_iommu_type1_info_cap_iova_range>();
            if at + fixed > info.len() {
                return Err(bad(format!(
                    "the IOVA-range capability at offset {at} does not fit the answer"
                )));
            }
            let count = u32_at(at + header_len) as usize;
            let range_len = std::mem::size_of::<vfio_iova_range>();
            let ranges_at = at + fixed;
            if count
                .checked_mul(range_len)
                .and_then(|n| n.checked_add(ranges_at))
                .is_none_or(|end| end > info.len())
            {
                return Err(bad(format!(
                    "the IOVA-range capability at offset {at} lists {count} ranges, more than the answer holds"
                )));
            }
            let ranges = (0..count)
                .map(|i| {
                    let o = ranges_at + i * range_len;
                    (u64_at(o), u64_at(o + 8))
                })
                .collect();
            return Ok(Some(ranges));
        }
        if next != 0 && next <= at {
            return Err(bad(format!(
                "the capability at offset {at} points back to offset {next}"
            )));
        }
        at = next;
    }
    Ok(None)
}

/// A VFIO container: one IOMMU address space, which the groups of every VFIO device this
/// process opens join ([`VfioContainer::shared`]).
#[derive(Debug)]
pub struct VfioContainer {
    file: File,
    path: PathBuf,
    id: u64,
    state: Mutex<ContainerState>,
}

#[derive(Debug)]
struct ContainerState {
    /// The groups attached, by number, kept open as long as the container.
    groups: HashMap<u32, Arc<File>>,
    /// The IOMMU type set (after the first group joined).
    iommu: Option<u64>,
    /// Where rixy's IOVAs come from (known once the IOMMU is set).
    iova: IovaSpace,
    /// IOMMU page sizes (bitmap), once known.
    page_sizes: u64,
    /// Bytes mapped now.
    mapped: u64,
}

/// The containers of this process, by VFIO directory.
static CONTAINERS: Mutex<Vec<(PathBuf, Weak<VfioContainer>)>> = Mutex::new(Vec::new());

impl VfioContainer {
    /// The container of this process for the VFIO directory `dir` (`/dev/vfio`): the one already
    /// open if a device of this process still uses it, a new one otherwise.
    pub fn shared(dir: &Path) -> Result<Arc<VfioContainer>> {
        let mut all = CONTAINERS.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(container) = all
            .iter()
            .find(|(d, _)| d == dir)
            .and_then(|(_, weak)| weak.upgrade())
        {
            return Ok(container);
        }
        let container = Arc::new(VfioContainer::open(dir)?);
        all.push((dir.to_path_buf(), Arc::downgrade(&container)));
        Ok(container)
    }

    /// Opens a new container, `dir/vfio`, and checks its API version and that it offers a
    /// type-1 IOMMU.
    pub fn open(dir: &Path) -> Result<VfioContainer> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let path = dir.join("vfio");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::VfioFileMissing {
                    path: path.clone(),
                    hint: "the VFIO modules are not loaded: as root, `modprobe vfio-pci`".into(),
                },
                _ => Error::io("open the VFIO container", &path, e),
            })?;
        let fail = |what, source, hint: &str| Error::Vfio {
            device: path.display().to_string(),
            what,
            source,
            hint: hint.to_string(),
        };
        // SAFETY: VFIO_GET_API_VERSION takes no argument.
        let version = unsafe { ioctl(&file, VFIO_GET_API_VERSION, 0) }.map_err(|e| {
            fail(
                "VFIO_GET_API_VERSION",
                e,
                "is this the VFIO container device (/dev/vfio/vfio)?",
            )
        })?;
        if version != VFIO_API_VERSION {
            return Err(fail(
                "VFIO_GET_API_VERSION",
                std::io::Error::other(format!("version {version}, rixy speaks {VFIO_API_VERSION}")),
                "this kernel's VFIO is not one rixy knows",
            ));
        }
        Ok(VfioContainer {
            file,
            path,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: Mutex::new(ContainerState {
                groups: HashMap::new(),
                iommu: None,
                iova: IovaSpace::new(&[]),
                page_sizes: 0,
                mapped: 0,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ContainerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The IOMMU type to set: type 1 version 2 if offered, else type 1.
    fn iommu_type(&self) -> Result<u64> {
        for kind in [VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU] {
            // SAFETY: VFIO_CHECK_EXTENSION takes the extension number by value.
            if unsafe { ioctl(&self.file, VFIO_CHECK_EXTENSION, kind as libc::c_ulong) }
                .is_ok_and(|offered| offered > 0)
            {
                return Ok(kind);
            }
        }
        Err(Error::Vfio {
            device: self.path.display().to_string(),
            what: "VFIO_CHECK_EXTENSION",
            source: std::io::Error::other("neither VFIO_TYPE1v2_IOMMU nor VFIO_TYPE1_IOMMU"),
            hint: "load vfio_iommu_type1 (as root: `modprobe vfio_iommu_type1`)".into(),
        })
    }

    /// Attaches the group of `device` (file `group_file`, number `group`) unless it is attached
    /// already; the first group sets the IOMMU and reads its usable IOVA ranges.
    fn attach(&self, device: &PciDevice, group: u32, group_file: File) -> Result<Arc<File>> {
        let mut state = self.state();
        if let Some(file) = state.groups.get(&group) {
            return Ok(Arc::clone(file));
        }
        let address = device.address();
        let fail = |what, source, hint: String| Error::Vfio {
            device: address.to_string(),
            what,
            source,
            hint,
        };
        let mut status = vfio_group_status {
            argsz: argsz::<vfio_group_status>(),
            flags: 0,
        };
        ioctl_ptr(&group_file, VFIO_GROUP_GET_STATUS, &mut status).map_err(|e| {
            fail(
                "VFIO_GROUP_GET_STATUS",
                e,
                "is this a VFIO group file (/dev/vfio/N)?".into(),
            )
        })?;
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(Error::VfioGroupNotViable {
                address,
                group,
                others: group_blockers(device),
            });
        }
        let mut fd = self.file.as_raw_fd();
        ioctl_ptr(&group_file, VFIO_GROUP_SET_CONTAINER, &mut fd).map_err(|e| {
            fail(
                "VFIO_GROUP_SET_CONTAINER",
                e,
                "the group may belong to another container".into(),
            )
        })?;
        if state.iommu.is_none() {
            let kind = self.iommu_type()?;
            // SAFETY: VFIO_SET_IOMMU takes the IOMMU type by value.
            unsafe { ioctl(&self.file, VFIO_SET_IOMMU, kind as libc::c_ulong) }.map_err(|e| {
                let hint = if e.raw_os_error() == Some(libc::EPERM) {
                    "the IOMMU has no interrupt remapping (the kernel log says so): turn it on (QEMU: -device intel-iommu,intremap=on), or as root allow it anyway with `modprobe vfio_iommu_type1 allow_unsafe_interrupts=1`"
                } else {
                    "check the kernel log (dmesg) for the IOMMU's complaint"
                };
                fail("VFIO_SET_IOMMU", e, hint.into())
            })?;
            state.iommu = Some(kind);
            let (page_sizes, ranges) = self.iommu_info()?;
            state.page_sizes = page_sizes;
            state.iova = IovaSpace::new(&ranges.unwrap_or(vec![IovaSpace::DEFAULT_RANGE]));
            log::info!(
                "VFIO container #{}: IOMMU type {kind}, page sizes {page_sizes:#x}, usable IOVAs {:x?}",
                self.id,
                state.iova.ranges()
            );
        }
        let file = Arc::new(group_file);
        state.groups.insert(group, Arc::clone(&file));
        Ok(file)
    }

    /// `VFIO_IOMMU_GET_INFO`: the IOMMU page sizes and, if the kernel lists them, the usable
    /// IOVA ranges.
    fn iommu_info(&self) -> Result<(u64, Option<Vec<IovaRange>>)> {
        let fail = |source| Error::Vfio {
            device: self.path.display().to_string(),
            what: "VFIO_IOMMU_GET_INFO",
            source,
            hint: "check the kernel log (dmesg)".into(),
        };
        let mut info = vfio_iommu_type1_info {
            argsz: argsz::<vfio_iommu_type1_info>(),
            ..Default::default()
        };
        ioctl_ptr(&self.file, VFIO_IOMMU_GET_INFO, &mut info).map_err(fail)?;
        let page_sizes = if info.flags & VFIO_IOMMU_INFO_PGSIZES != 0 {
            info.iova_pgsizes
        } else {
            0
        };
        let fixed = argsz::<vfio_iommu_type1_info>();
        if info.argsz <= fixed {
            return Ok((page_sizes, None));
        }
        // The capabilities need a larger buffer: ask again with the size the kernel said
        // (8-byte words, so the structure at its start is aligned).
        let len = info.argsz as usize;
        let mut buffer = vec![0u64; len.div_ceil(8)];
        let header = buffer.as_mut_ptr().cast::<vfio_iommu_type1_info>();
        // SAFETY: the buffer is at least `len >= size_of::<vfio_iommu_type1_info>()` bytes,
        // 8-byte aligned; the kernel writes at most `argsz` bytes into it.
        unsafe {
            header.write(vfio_iommu_type1_info {
                argsz: info.argsz,
                ..Default::default()
            });
            ioctl(&self.file, VFIO_IOMMU_GET_INFO, header as libc::c_ulong).map_err(fail)?;
        }
        // SAFETY: the kernel filled the header at the buffer's start.
        let info = unsafe { header.read() };
        // SAFETY: the buffer's `len` bytes as bytes, read-only, while nothing else uses it.
        let bytes = unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast::<u8>(), len) };
        let ranges = if info.flags & VFIO_IOMMU_INFO_CAPS != 0 {
            parse_iova_ranges(bytes, info.cap_offset)?
        } else {
            None
        };
        Ok((page_sizes, ranges))
    }

    /// The container's IOMMU page sizes (a bitmap; 0 before a group joined).
    pub fn page_sizes(&self) -> u64 {
        self.state().page_sizes
    }

    /// The usable IOVA ranges rixy allocates from.
    pub fn iova_ranges(&self) -> Vec<(u64, u64)> {
        self.state().iova.ranges().to_vec()
    }

    /// Bytes mapped into the container now.
    pub fn mapped_bytes(&self) -> u64 {
        self.state().mapped
    }
}

/// The soft `RLIMIT_MEMLOCK` of this process, in bytes (`u64::MAX` for unlimited).
fn memlock_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the structure passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return u64::MAX;
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        limit.rlim_cur
    }
}

/// The error for a `VFIO_IOMMU_MAP_DMA` of `size` bytes at `iova` that failed with `source`,
/// `mapped` bytes being mapped already and `limit` the memlock limit: ENOMEM under a limit the
/// mapping exceeds is the limit's fault, and the error says what it must be.
pub fn map_error(iova: u64, size: usize, mapped: u64, limit: u64, source: std::io::Error) -> Error {
    let needed = mapped.saturating_add(size as u64);
    if source.raw_os_error() == Some(libc::ENOMEM) && limit != u64::MAX && needed > limit {
        Error::MemlockTooLow {
            size,
            mapped,
            needed,
            limit,
        }
    } else {
        Error::IommuMapRefused { iova, size, source }
    }
}

impl Iommu for VfioContainer {
    fn domain(&self) -> DmaDomain {
        DmaDomain::Iommu(self.id)
    }

    fn reserve_iova(&self, size: u64, align: u64) -> Result<u64> {
        let mut state = self.state();
        // Mappings are made in pages of at least the smallest IOMMU page.
        let smallest = if state.page_sizes == 0 {
            1
        } else {
            1u64 << state.page_sizes.trailing_zeros()
        };
        state
            .iova
            .allocate(size, align.max(smallest))
            .ok_or(Error::IovaSpaceExhausted { size })
    }

    unsafe fn map_dma(&self, vaddr: usize, iova: u64, size: usize) -> Result<()> {
        let mut map = vfio_iommu_type1_dma_map {
            argsz: argsz::<vfio_iommu_type1_dma_map>(),
            flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            vaddr: vaddr as u64,
            iova,
            size: size as u64,
        };
        let mut state = self.state();
        match ioctl_ptr(&self.file, VFIO_IOMMU_MAP_DMA, &mut map) {
            Ok(_) => {
                state.mapped += size as u64;
                Ok(())
            }
            Err(e) => Err(map_error(iova, size, state.mapped, memlock_limit(), e)),
        }
    }

    fn unmap_dma(&self, iova: u64, size: usize) -> Result<()> {
        let mut unmap = vfio_iommu_type1_dma_unmap {
            argsz: argsz::<vfio_iommu_type1_dma_unmap>(),
            flags: 0,
            iova,
            size: size as u64,
        };
        let mut state = self.state();
        ioctl_ptr(&self.file, VFIO_IOMMU_UNMAP_DMA, &mut unmap).map_err(|e| Error::Vfio {
            device: self.path.display().to_string(),
            what: "VFIO_IOMMU_UNMAP_DMA",
            source: e,
            hint: format!("{size} bytes at IOVA {iova:#x} stay mapped"),
        })?;
        state.mapped = state.mapped.saturating_sub(size as u64);
        Ok(())
    }
}

/// What `VFIO_DEVICE_GET_REGION_INFO` says of one region of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// The region's index (BAR number; 7 for config space).
    pub index: u32,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Bytes (0: not implemented).
    pub size: u64,
    /// Offset of the region in the device file.
    pub offset: u64,
}

impl Region {
    /// Whether the region may be `mmap`ed (a memory BAR; I/O port BARs may not).
    pub fn mappable(&self) -> bool {
        self.flags & VFIO_REGION_INFO_FLAG_MMAP != 0
    }
}

/// A PCI device opened through VFIO: its group is in this process's container, its regions are
/// reached through its device file. Keeps the container (and so every mapping of it) alive.
#[derive(Debug)]
pub struct VfioDevice {
    address: PciAddress,
    group: u32,
    file: File,
    regions: u32,
    irqs: u32,
    config: ConfigFile,
    /// Kept open as long as the device.
    _group_file: Arc<File>,
    container: Arc<VfioContainer>,
}

impl VfioDevice {
    /// Opens `device` (bound to vfio-pci) through VFIO: its group file under `vfio_dir`
    /// (`/dev/vfio`), this process's container, the device file.
    pub fn open(device: &PciDevice, vfio_dir: &Path) -> Result<VfioDevice> {
        let address = device.address();
        let group = iommu_group(device.dir(), address)?;
        let group_path = vfio_dir.join(group.to_string());
        let group_file = open_group_file(&group_path, address)?;
        let container = VfioContainer::shared(vfio_dir)?;
        let group_file = container.attach(device, group, group_file)?;
        let fail = |what, source, hint: &str| Error::Vfio {
            device: address.to_string(),
            what,
            source,
            hint: hint.to_string(),
        };
        let name = CString::new(address.to_string()).map_err(|_| {
            fail(
                "VFIO_GROUP_GET_DEVICE_FD",
                std::io::Error::other("address with a NUL"),
                "",
            )
        })?;
        // SAFETY: VFIO_GROUP_GET_DEVICE_FD takes a pointer to a NUL-terminated device name,
        // which `name` is and outlives the call.
        let fd = unsafe {
            ioctl(
                &*group_file,
                VFIO_GROUP_GET_DEVICE_FD,
                name.as_ptr() as libc::c_ulong,
            )
        }
        .map_err(|e| {
            fail(
                "VFIO_GROUP_GET_DEVICE_FD",
                e,
                "is the device in this IOMMU group and bound to vfio-pci?",
            )
        })?;
        // SAFETY: the ioctl returned a new file descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let mut info = vfio_device_info {
            argsz: argsz::<vfio_device_info>(),
            ..Default::default()
        };
        ioctl_ptr(&file, VFIO_DEVICE_GET_INFO, &mut info)
            .map_err(|e| fail("VFIO_DEVICE_GET_INFO", e, "check the kernel log (dmesg)"))?;
        if info.flags & VFIO_DEVICE_FLAGS_PCI == 0
            || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX
        {
            return Err(fail(
                "VFIO_DEVICE_GET_INFO",
                std::io::Error::other(format!(
                    "flags {:#x}, {} regions",
                    info.flags, info.num_regions
                )),
                "not a vfio-pci device",
            ));
        }
        let config_region = region_info(&file, address, VFIO_PCI_CONFIG_REGION_INDEX)?;
        let config_file = file
            .try_clone()
            .map_err(|e| fail("dup of the device file", e, ""))?;
        let config = ConfigFile::in_region(
            config_file,
            group_path.clone(),
            address,
            config_region.offset as usize,
        );
        log::info!("{address}: opened through VFIO (group {group})");
        Ok(VfioDevice {
            address,
            group,
            file,
            regions: info.num_regions,
            irqs: info.num_irqs,
            config,
            _group_file: group_file,
            container,
        })
    }

    /// The device's address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The device's IOMMU group.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// The container the device's group is in (its IOMMU address space).
    pub fn container(&self) -> &Arc<VfioContainer> {
        &self.container
    }

    /// Config space, through the config region (`VFIO_PCI_CONFIG_REGION_INDEX`).
    pub fn config(&self) -> &ConfigFile {
        &self.config
    }

    /// Sets the bus master bit of the command register (PCI 3.0, 6.2.2) through the config
    /// region, leaving the other bits alone.
    pub fn enable_bus_master(&self) -> Result<()> {
        let mut command = self.config.access(|c| c.command().extract())?;
        if !command.is_set(COMMAND::BUS_MASTER) {
            command.modify(COMMAND::BUS_MASTER::SET);
            self.config.access(|c| c.command().set(command.get()))?;
        }
        Ok(())
    }

    /// What the kernel says of region `index` (BAR 0–5, ROM 6, config 7).
    pub fn region(&self, index: u32) -> Result<Region> {
        if index >= self.regions {
            return Err(Error::IndexOutOfRange {
                what: "VFIO region",
                index: index as usize,
                count: self.regions as usize,
            });
        }
        region_info(&self.file, self.address, index)
    }

    fn bar_region(&self, bar: u8) -> Result<Region> {
        if bar > 5 {
            return Err(Error::BarUnusable {
                address: self.address,
                bar,
                problem: "PCI functions have BARs 0 to 5".into(),
            });
        }
        let region = self.region(bar.into())?;
        if region.size == 0 {
            return Err(Error::BarUnusable {
                address: self.address,
                bar,
                problem: "the device does not implement it (VFIO region of size 0)".into(),
            });
        }
        Ok(region)
    }

    /// Maps memory BAR `bar` read-write from the device file. An error for an I/O port BAR
    /// (which VFIO does not let be mapped) or one the device lacks.
    pub fn map_bar(&self, bar: u8) -> Result<MappedBar> {
        let region = self.bar_region(bar)?;
        if !region.mappable() {
            return Err(Error::BarNotMemoryMapped {
                address: self.address,
                bar,
                flags: u64::from(region.flags),
            });
        }
        let len = usize::try_from(region.size).map_err(|_| Error::BarUnusable {
            address: self.address,
            bar,
            problem: format!("{} bytes do not fit the address space", region.size),
        })?;
        // SAFETY: a new shared mapping of the region's range of the device file, at an address
        // of the kernel's choosing; it aliases no Rust memory. Checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                region.offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::Vfio {
                device: self.address.to_string(),
                what: "mmap of a BAR region",
                source: std::io::Error::last_os_error(),
                hint: format!("BAR{bar} could not be mapped"),
            });
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::BarUnusable {
            address: self.address,
            bar,
            problem: "mmap returned address 0".into(),
        })?;
        // SAFETY: `ptr..ptr+len` is the mapping made above, which the MappedBar owns alone.
        Ok(unsafe { MappedBar::from_raw(ptr, len) })
    }

    /// A port-IO bus over I/O port BAR `bar`: `pread`/`pwrite` on (a duplicate of) the device
    /// file at the region's offset, in domain `domain`. An error for a memory BAR.
    pub fn port_io(&self, bar: u8, domain: DmaDomain) -> Result<PortIo> {
        let region = self.bar_region(bar)?;
        if region.mappable() {
            return Err(Error::BarNotPortIo {
                address: self.address,
                bar,
                flags: u64::from(region.flags),
            });
        }
        let file = self.file.try_clone().map_err(|e| Error::Vfio {
            device: self.address.to_string(),
            what: "dup of the device file",
            source: e,
            hint: String::new(),
        })?;
        let len = usize::try_from(region.size).unwrap_or(usize::MAX);
        Ok(PortIo::in_region(file, region.offset, len).with_dma_domain(domain))
    }

    /// MSI-X vectors the device has (`VFIO_DEVICE_GET_IRQ_INFO` of the MSI-X index).
    pub fn msix_vectors(&self) -> Result<u32> {
        if VFIO_PCI_MSIX_IRQ_INDEX >= self.irqs {
            return Ok(0);
        }
        let mut info = vfio_irq_info {
            argsz: argsz::<vfio_irq_info>(),
            index: VFIO_PCI_MSIX_IRQ_INDEX,
            ..Default::default()
        };
        ioctl_ptr(&self.file, VFIO_DEVICE_GET_IRQ_INFO, &mut info).map_err(|e| Error::Vfio {
            device: self.address.to_string(),
            what: "VFIO_DEVICE_GET_IRQ_INFO",
            source: e,
            hint: "check the kernel log (dmesg)".into(),
        })?;
        Ok(if info.flags & VFIO_IRQ_INFO_EVENTFD != 0 {
            info.count
        } else {
            0
        })
    }

    /// Turns MSI-X on with `vectors` vectors (0 to `vectors - 1`), each signalling a new
    /// eventfd, returned in vector order (non-blocking, close-on-exec). The driver programs the
    /// device to raise vector i (ixgbe: IVAR; virtio: the queue's MSI-X vector) and waits on
    /// eventfd i (`read` returns the count of interrupts since the last read). An error naming
    /// the count the device has if it has fewer.
    pub fn enable_msix(&self, vectors: u32) -> Result<Vec<OwnedFd>> {
        let available = self.msix_vectors()?;
        check_vectors(&self.address.to_string(), vectors, available)?;
        let mut fds = Vec::with_capacity(vectors as usize);
        for _ in 0..vectors {
            // SAFETY: eventfd has no memory preconditions; the result is checked.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                return Err(Error::Os {
                    what: "eventfd for an MSI-X vector",
                    source: std::io::Error::last_os_error(),
                });
            }
            // SAFETY: a new descriptor nothing else owns.
            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let raw: Vec<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        self.set_irqs(
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            vectors,
            &raw,
        )?;
        Ok(fds)
    }

    /// Turns MSI-X off again (the eventfds stop being signalled).
    pub fn disable_msix(&self) -> Result<()> {
        self.set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, &[])
    }

    fn set_irqs(&self, flags: u32, count: u32, fds: &[i32]) -> Result<()> {
        // The structure and its data as 32-bit words, which is exactly their layout.
        let header = std::mem::size_of::<vfio_irq_set>() / 4;
        let mut words = vec![0u32; header + fds.len()];
        let set = vfio_irq_set {
            argsz: (words.len() * 4) as u32,
            flags,
            index: VFIO_PCI_MSIX_IRQ_INDEX,
            start: 0,
            count,
        };
        words[..header].copy_from_slice(&[set.argsz, set.flags, set.index, set.start, set.count]);
        for (word, fd) in words[header..].iter_mut().zip(fds) {
            *word = *fd as u32;
        }
        // SAFETY: `words` holds a vfio_irq_set followed by `count` eventfds, `argsz` bytes.
        unsafe {
            ioctl(
                &self.file,
                VFIO_DEVICE_SET_IRQS,
                words.as_mut_ptr() as libc::c_ulong,
            )
        }
        .map_err(|e| Error::Vfio {
            device: self.address.to_string(),
            what: "VFIO_DEVICE_SET_IRQS (MSI-X)",
            source: e,
            hint: "check the kernel log (dmesg)".into(),
        })?;
        Ok(())
    }
}

/// An error unless 1 to `available` vectors were asked for.
pub fn check_vectors(device: &str, asked: u32, available: u32) -> Result<()> {
    if available == 0 {
        return Err(Error::DeviceFailed {
            device: device.to_string(),
            problem: "the device has no MSI-X interrupts (VFIO offers none): use polling".into(),
        });
    }
    if asked == 0 || asked > available {
        return Err(Error::TooFewVectors {
            device: device.to_string(),
            needed: asked,
            available,
        });
    }
    Ok(())
}

fn region_info(file: &File, address: PciAddress, index: u32) -> Result<Region> {
    let mut info = vfio_region_info {
        argsz: argsz::<vfio_region_info>(),
        index,
        ..Default::default()
    };
    ioctl_ptr(file, VFIO_DEVICE_GET_REGION_INFO, &mut info).map_err(|e| Error::Vfio {
        device: address.to_string(),
        what: "VFIO_DEVICE_GET_REGION_INFO",
        source: e,
        hint: format!("region {index}"),
    })?;
    Ok(Region {
        index,
        flags: info.flags,
        size: info.size,
        offset: info.offset,
    })
}

/// VFIO delivers the device's MSI-X messages to eventfds ([`VfioDevice::enable_msix`]).
impl crate::interrupt::InterruptSource for VfioDevice {
    fn msix_vectors(&self) -> u16 {
        // A table holds at most 2048 entries (PCI 3.0, 6.8.2.3), so this never saturates.
        self.msix_vectors()
            .map_or(0, |n| u16::try_from(n).unwrap_or(u16::MAX))
    }

    fn enable_msix(&self, count: u16) -> Result<Vec<crate::interrupt::Interrupt>> {
        let fds = VfioDevice::enable_msix(self, u32::from(count))?;
        Ok(fds
            .into_iter()
            .map(crate::interrupt::Interrupt::from_fd)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uapi_layouts() {
        use std::mem::size_of;
        // The sizes the header gives (checked against the installed header in tests/vfio.rs).
        assert_eq!(size_of::<vfio_group_status>(), 8);
        assert_eq!(size_of::<vfio_device_info>(), 20);
        assert_eq!(size_of::<vfio_region_info>(), 32);
        assert_eq!(size_of::<vfio_irq_info>(), 16);
        assert_eq!(size_of::<vfio_irq_set>(), 20);
        assert_eq!(size_of::<vfio_iommu_type1_info>(), 24);
        assert_eq!(size_of::<vfio_info_cap_header>(), 8);
        assert_eq!(size_of::<vfio_iommu_type1_info_cap_iova_range>(), 16);
        assert_eq!(size_of::<vfio_iova_range>(), 16);
        assert_eq!(size_of::<vfio_iommu_type1_dma_map>(), 32);
        assert_eq!(size_of::<vfio_iommu_type1_dma_unmap>(), 24);
        assert_eq!(VFIO_GET_API_VERSION, 0x3b64);
        assert_eq!(VFIO_IOMMU_UNMAP_DMA, 0x3b72);
    }
}
