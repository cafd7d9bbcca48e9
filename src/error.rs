//! The one error type of rixy. Every message says what went wrong and, where there is one, what
//! the user can do about it.

use std::path::PathBuf;

/// Everything that can go wrong in rixy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A register window (BAR, port-IO resource) is smaller than the device's register space.
    #[error(
        "the {device} layout needs {needed:#x} bytes but its window has only {found:#x}: is this the right BAR or buffer?"
    )]
    BarTooSmall {
        /// Which device's register map was being placed on the window.
        device: &'static str,
        /// Bytes the register map needs.
        needed: usize,
        /// Bytes the window has.
        found: usize,
    },

    /// A field value does not fit the field it is meant for.
    #[error("value {value:#x} does not fit field {register}.{field} ({bits} bits)")]
    FieldOverflow {
        /// The register.
        register: &'static str,
        /// The field.
        field: &'static str,
        /// Width of the field in bits.
        bits: u32,
        /// The value that did not fit.
        value: u64,
    },

    /// A register-array index or other numbered item is out of range.
    #[error("{what} {index} is out of range: there are {count} (0 to {})", count - 1)]
    IndexOutOfRange {
        /// What was indexed.
        what: &'static str,
        /// The index given.
        index: usize,
        /// How many there are.
        count: usize,
    },

    /// A device did not reach a state the driver waited for.
    #[error("{device}: {what} did not happen within {waited_ms} ms: {hint}")]
    Timeout {
        /// The device (PCI address or sim:N).
        device: String,
        /// What the driver waited for, in datasheet terms.
        what: &'static str,
        /// How long it waited.
        waited_ms: u64,
        /// What the user can check.
        hint: &'static str,
    },

    /// A receive batch larger than the ring can ever deliver at once.
    #[error(
        "a batch of {batch} packets does not fit a ring of {ring} descriptors, which delivers at most {max} at once: ask for at most {max}"
    )]
    BatchTooLarge {
        /// The batch asked for.
        batch: usize,
        /// The ring size.
        ring: usize,
        /// The most packets the ring delivers at once.
        max: usize,
    },

    /// Opening a device failed after its kernel driver was unbound, and the device was given
    /// back to that driver.
    #[error("{error}; {address} was given back to its kernel driver {driver}")]
    GivenBack {
        /// Why the device could not be opened.
        error: Box<Error>,
        /// The device.
        address: crate::pci::PciAddress,
        /// The kernel driver it was given back to.
        driver: String,
    },

    /// Opening a device failed after its kernel driver was unbound, and giving the device back
    /// to that driver failed too.
    #[error(
        "{error}; giving {address} back to its kernel driver {driver} failed too ({bind_error}): the device has no driver now; as root, write {address} to the driver's bind file (/sys/bus/pci/drivers/{driver}/bind) or reboot"
    )]
    NotGivenBack {
        /// Why the device could not be opened.
        error: Box<Error>,
        /// The device.
        address: crate::pci::PciAddress,
        /// The kernel driver it could not be given back to.
        driver: String,
        /// Why binding it failed.
        bind_error: Box<Error>,
    },

    /// The device has gone away: its registers read all ones, as those of a PCIe device that
    /// was removed, powered off or has fallen off the bus do. Found by a receive or transmit
    /// batch that came back empty; every batch after it fails the same way.
    #[error(
        "{device}: the device is gone (its registers read all ones: it was removed, powered off or fell off the PCI bus); the packets it held are lost: check `lspci -D` and the kernel log, and open it again once it is back"
    )]
    DeviceRemoved {
        /// The device.
        device: String,
    },

    /// The device reset itself while it was running: its queues are stopped and the driver's
    /// configuration is gone. Found by a receive or transmit batch that came back empty; every
    /// batch after it fails the same way.
    #[error(
        "{device}: the device reset itself while running ({evidence}); its queues are stopped and its configuration is lost, and the packets it held are lost: close the device and open it again"
    )]
    DeviceReset {
        /// The device.
        device: String,
        /// What showed the reset, in register terms.
        evidence: String,
    },

    /// A queue number the device was not configured with.
    #[error("{device} has {queues} {kind} queues; queue {queue} does not exist")]
    NoSuchQueue {
        /// The device.
        device: String,
        /// "receive" or "transmit".
        kind: &'static str,
        /// The queue asked for.
        queue: u16,
        /// How many there are.
        queues: u16,
    },

    /// A queue whose handle was taken out of the device and is still alive: the handle serves
    /// it, and the device gets it back when the handle is dropped.
    #[error(
        "{kind} queue {queue} of {device} is served by its handle (Device::take_queues); drop the handle to serve it through the device again"
    )]
    QueueTaken {
        /// The device.
        device: String,
        /// "receive" or "transmit".
        kind: &'static str,
        /// The queue.
        queue: u16,
    },

    /// A queue handle used after its device was closed (dropped): the device was reset and
    /// moves no more packets; the handle's buffers go back to their pools when it is dropped.
    #[error("{device} was closed: its queue handles move no more packets; drop them")]
    DeviceClosed {
        /// The device.
        device: String,
    },

    /// Queue handles asked of a device whose driver serves its queues only itself.
    #[error(
        "{device}: {why}, served through the Device itself (Device::rx_batch, Device::tx_batch); queue handles are for the 82599"
    )]
    QueueHandlesUnsupported {
        /// The device.
        device: String,
        /// Why its driver has no handles.
        why: &'static str,
    },

    /// A queue asked to wait for packets ([`crate::RxQueue::wait`], [`crate::Device::rx_wait`])
    /// on a device opened without interrupts.
    #[error(
        "{device}: receive queue {queue} has no interrupt to wait for: open the device with Config::interrupts = true, or poll it with rx_batch"
    )]
    InterruptsOff {
        /// The device.
        device: String,
        /// The queue.
        queue: u16,
    },

    /// Interrupts asked of a device opened in a way that cannot deliver them to user space.
    #[error(
        "{device}: interrupts need the device opened through VFIO (bind it to vfio-pci); a device mapped through sysfs can only be polled: open it with Config::interrupts = false"
    )]
    InterruptsNeedVfio {
        /// The device.
        device: String,
    },

    /// More interrupt vectors asked for than the device (or its interrupt source) has.
    #[error(
        "{device} has {available} MSI-X vectors and {needed} were asked for (one per receive queue with interrupts): use at most {available} receive queues with interrupts, or none (in QEMU, virtio-net-pci's vectors= raises the count)"
    )]
    TooFewVectors {
        /// The device.
        device: String,
        /// Vectors needed.
        needed: u32,
        /// Vectors the device has.
        available: u32,
    },

    /// A configuration that cannot work.
    #[error("invalid configuration: {problem}")]
    InvalidConfig {
        /// What is wrong and what to use instead.
        problem: String,
    },

    /// A network device no rixy driver drives.
    #[error(
        "{address}: no rixy driver for network device {vendor:04x}:{device:04x}; rixy drives the Intel 82599 family (8086:10fb and its siblings) and virtio-net (1af4:1041 modern, 1af4:1000 transitional or legacy; in QEMU: virtio-net-pci)"
    )]
    UnsupportedDevice {
        /// The device's address.
        address: String,
        /// PCI vendor id.
        vendor: u16,
        /// PCI device id.
        device: u16,
    },

    /// A device address that is neither a PCI address nor a simulated port.
    #[error(
        "{address:?} is not a device address: give a PCI address (0000:03:00.0) or a simulated port (sim:0)"
    )]
    InvalidDeviceAddress {
        /// What was given.
        address: String,
    },

    /// The device refused or failed something the driver asked of it.
    #[error("{device}: {problem}")]
    DeviceFailed {
        /// The device.
        device: String,
        /// What happened.
        problem: String,
    },

    /// An I/O error on a file the driver needs (sysfs, hugetlbfs, pagemap, port IO).
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What rixy was doing.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A ring size that is not a power of two, or outside the range the caller accepts.
    #[error(
        "ring size {size} is not a power of two between {min} and {max}: pick one of 64, 128, 256, 512, 1024, 2048 or 4096 (virtio queues: the size the device reports)"
    )]
    InvalidRingSize {
        /// The size asked for.
        size: usize,
        /// Smallest size accepted.
        min: usize,
        /// Largest size accepted.
        max: usize,
    },

    /// The huge page directory is not a mounted hugetlbfs.
    #[error(
        "no hugetlbfs mounted at {}: run ci/setup-hugepages as root (or point rixy at another hugetlbfs mount)",
        path.display()
    )]
    HugetlbfsNotMounted {
        /// The directory that should be a hugetlbfs mount.
        path: PathBuf,
    },

    /// Not enough free huge pages for an allocation.
    #[error(
        "need {requested} free huge pages of {page_size} bytes but only {free} are free: reserve more with ci/setup-hugepages --pages N (as root) or stop other users of huge pages"
    )]
    NoFreeHugePages {
        /// Pages the allocation needs.
        requested: usize,
        /// Pages free (not yet used or reserved by anyone).
        free: usize,
        /// Size of one huge page in bytes.
        page_size: usize,
    },

    /// `/proc/self/pagemap` gave no physical frame for a page.
    #[error(
        "/proc/self/pagemap gave no physical frame for the page at {virt:#x}: reading physical addresses needs root (CAP_SYS_ADMIN); run as root"
    )]
    NoPhysicalAddress {
        /// Virtual address of the page.
        virt: usize,
    },

    /// A physically contiguous DMA allocation larger than one huge page.
    #[error(
        "a physically contiguous DMA allocation of {size} bytes does not fit in one {max}-byte huge page: split it into smaller allocations"
    )]
    ContiguousTooLarge {
        /// Bytes asked for.
        size: usize,
        /// Largest contiguous allocation possible (one huge page).
        max: usize,
    },

    /// An operating-system call on memory failed (mmap, mlock, munmap).
    #[error("{what} failed: {source}")]
    Os {
        /// What rixy was doing.
        what: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A DMA allocation or mempool request that cannot be satisfied as asked.
    #[error("invalid memory request: {problem}")]
    InvalidMemoryRequest {
        /// What is wrong with the request and what to ask for instead.
        problem: String,
    },

    /// A packet length beyond the capacity of its buffer.
    #[error(
        "packet length {len} exceeds the {capacity}-byte buffer: use a mempool with larger entries"
    )]
    PacketTooLong {
        /// Length asked for.
        len: usize,
        /// Bytes the buffer can hold.
        capacity: usize,
    },

    /// A test frame ([`crate::frame`]) size outside what Ethernet allows without jumbo frames.
    #[error(
        "a frame of {size} bytes is outside {}..={}: give a size in that range (without the 4-byte FCS)",
        crate::frame::MIN_FRAME_LEN,
        crate::frame::MAX_FRAME_LEN
    )]
    FrameSize {
        /// The size asked for.
        size: usize,
    },

    /// A raw buffer handed to a mempool it does not come from.
    #[error(
        "raw buffer {index} belongs to mempool #{owner}, not to mempool #{pool}: return buffers to the pool that allocated them"
    )]
    ForeignBuffer {
        /// Index of the buffer in its pool.
        index: u32,
        /// Id of the pool the buffer came from.
        owner: u32,
        /// Id of the pool it was handed to.
        pool: u32,
    },

    /// Memory a device cannot reach by DMA: a packet from a mempool of another DMA domain, or an
    /// allocator that gives such memory.
    #[error("{device} reaches {device_domain} by DMA, but {what} is in {memory_domain}: {hint}")]
    ForeignDmaDomain {
        /// The device.
        device: String,
        /// What the device reaches.
        device_domain: crate::memory::DmaDomain,
        /// What was refused.
        what: String,
        /// Where that memory is.
        memory_domain: crate::memory::DmaDomain,
        /// What to do instead.
        hint: &'static str,
    },

    /// A malformed PCI address.
    #[error(
        "invalid PCI address {address:?}: {problem}; expected DDDD:BB:DD.F in hex, e.g. 0000:03:00.0 (see lspci -D)"
    )]
    InvalidPciAddress {
        /// The text that was parsed.
        address: String,
        /// What is wrong with it.
        problem: crate::pci::PciAddressProblem,
    },

    /// No PCI device at an address.
    #[error("no PCI device {address} under {}: check the address with lspci -D", root.display())]
    NoSuchPciDevice {
        /// The address.
        address: crate::pci::PciAddress,
        /// The sysfs directory searched.
        root: PathBuf,
    },

    /// The process may not open a sysfs file it needs.
    #[error("permission denied on {}: run as root", path.display())]
    PermissionDenied {
        /// The file.
        path: PathBuf,
    },

    /// A PCI device whose class code is not "network controller".
    #[error(
        "PCI device {address} has class code {class:#04x}, not 0x02 (network controller): is this the right address? (see lspci -D)"
    )]
    NotANetworkDevice {
        /// The address.
        address: crate::pci::PciAddress,
        /// The class code found in config space.
        class: u8,
    },

    /// A BAR that is not memory-mapped where MMIO is needed.
    #[error(
        "BAR{bar} of PCI device {address} is not a memory BAR (resource flags {flags:#x}): this device needs port IO, or the address is wrong"
    )]
    BarNotMemoryMapped {
        /// The address.
        address: crate::pci::PciAddress,
        /// The BAR index.
        bar: u8,
        /// The flags from the sysfs `resource` file.
        flags: u64,
    },

    /// A BAR that is not an IO-port BAR where port IO is needed.
    #[error(
        "BAR{bar} of PCI device {address} is not an I/O port BAR (resource flags {flags:#x}): this device needs MMIO, or the address is wrong"
    )]
    BarNotPortIo {
        /// The address.
        address: crate::pci::PciAddress,
        /// The BAR index.
        bar: u8,
        /// The flags from the sysfs `resource` file.
        flags: u64,
    },

    /// A BAR that the device does not implement, or that sysfs describes in a way rixy cannot read.
    #[error("BAR{bar} of PCI device {address} is unusable: {problem}")]
    BarUnusable {
        /// The address.
        address: crate::pci::PciAddress,
        /// The BAR index.
        bar: u8,
        /// What is wrong.
        problem: String,
    },

    /// A capability list in configuration space (PCI 3.0, 6.7) that cannot be right: a pointer
    /// into the header, a loop, a capability that does not fit or names no BAR.
    #[error(
        "PCI device {address} has a malformed capability list: {problem}; its configuration space is broken or this is not a PCI function (see lspci -vv -s {address} as root)"
    )]
    BadPciCapabilities {
        /// The address.
        address: crate::pci::PciAddress,
        /// What is wrong, naming the offsets.
        problem: String,
    },

    /// A device bound to a kernel driver that this process may not unbind (and not to
    /// vfio-pci, which would let it in without root).
    #[error(
        "{address} is bound to kernel driver {driver}, which this user may not unbind ({}): run as root, or hand the device to vfio-pci as root with `ci/vfio-bind {address} USER` and run as USER",
        unbind.display()
    )]
    DriverNotUnbindable {
        /// The device.
        address: crate::pci::PciAddress,
        /// The kernel driver bound to it.
        driver: String,
        /// The driver's unbind file.
        unbind: PathBuf,
    },

    /// A device bound to vfio-pci whose sysfs directory names no IOMMU group.
    #[error(
        "{address} is bound to vfio-pci but {} does not exist: the device is in no IOMMU group; turn the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line; in QEMU: -machine q35 -device intel-iommu,intremap=on)",
        link.display()
    )]
    NoIommuGroup {
        /// The device.
        address: crate::pci::PciAddress,
        /// The missing `iommu_group` link.
        link: PathBuf,
    },

    /// A VFIO group file (`/dev/vfio/N`) or the container file (`/dev/vfio/vfio`) that is not
    /// there.
    #[error("{} does not exist: {hint}", path.display())]
    VfioFileMissing {
        /// The file.
        path: PathBuf,
        /// What to do.
        hint: String,
    },

    /// No permission on a VFIO group file.
    #[error(
        "permission denied on {}: as root, give the group to this user (uid {uid}): `chown {uid} {}`, or bind with `ci/vfio-bind {address} USER`",
        path.display(), path.display()
    )]
    VfioGroupPermission {
        /// The group file.
        path: PathBuf,
        /// The device.
        address: crate::pci::PciAddress,
        /// This process's user id.
        uid: u32,
    },

    /// A VFIO group some of whose devices are bound to host drivers: VFIO gives no device of it
    /// to user space.
    #[error(
        "IOMMU group {group} of {address} is not viable: other devices in it are bound to host drivers ({}); bind each of them to vfio-pci too (ci/vfio-bind ADDRESS) or unbind them, or move {address} to a slot of its own",
        others.join(", ")
    )]
    VfioGroupNotViable {
        /// The device.
        address: crate::pci::PciAddress,
        /// The group number.
        group: u32,
        /// The other devices of the group not bound to vfio-pci, as `address (driver)`.
        others: Vec<String>,
    },

    /// A VFIO call that failed.
    #[error("{device}: {what} failed: {source}; {hint}")]
    Vfio {
        /// The device (or the VFIO file).
        device: String,
        /// The call, by its uapi name.
        what: &'static str,
        /// The error the kernel returned.
        source: std::io::Error,
        /// What to do.
        hint: String,
    },

    /// Mapping DMA memory into the IOMMU failed because the locked-memory limit is too low: VFIO
    /// pins every mapped page and charges it to `RLIMIT_MEMLOCK`.
    #[error(
        "the IOMMU mapping of {size} bytes was refused: the locked-memory limit (RLIMIT_MEMLOCK) is {limit} bytes and rixy needs at least {needed} bytes locked ({mapped} mapped already); raise it to at least {needed} bytes (`ulimit -l {}` in KiB, or memlock in /etc/security/limits.conf)",
        needed.div_ceil(1024)
    )]
    MemlockTooLow {
        /// Bytes of this mapping.
        size: usize,
        /// Bytes the container had mapped before.
        mapped: u64,
        /// Bytes needed in all.
        needed: u64,
        /// The current soft limit.
        limit: u64,
    },

    /// The IOMMU refused a mapping for another reason.
    #[error(
        "the IOMMU refused to map {size} bytes at IOVA {iova:#x} (VFIO_IOMMU_MAP_DMA: {source}); the address may be outside what the IOMMU translates or overlap a mapping: report this with the IOMMU's usable ranges (dmesg)"
    )]
    IommuMapRefused {
        /// The IOVA.
        iova: u64,
        /// Bytes.
        size: usize,
        /// The error the kernel returned.
        source: std::io::Error,
    },

    /// No room left in the IOMMU's usable IOVA ranges.
    #[error(
        "no room for {size} more bytes in the IOMMU's usable I/O virtual address ranges: rixy does not reuse the addresses of freed memory; open fewer devices or pools in this process"
    )]
    IovaSpaceExhausted {
        /// Bytes asked for.
        size: u64,
    },

    /// A device whose DMA bypasses the IOMMU opened without root: it needs physical addresses,
    /// which only root can read.
    #[error(
        "{device}: {why}, so its DMA memory needs physical addresses, which /proc/self/pagemap shows only to root: run as root (with huge pages: ci/setup-hugepages), or use a device whose DMA the IOMMU translates (a real NIC behind the IOMMU; in QEMU virtio-net-pci,disable-legacy=on,iommu_platform=on)"
    )]
    BypassNeedsRoot {
        /// The device.
        device: String,
        /// Why its DMA bypasses the IOMMU.
        why: String,
    },
}

impl Error {
    /// An I/O error on `path` while doing `what`, with permission problems turned into the
    /// "run as root" error that tells the user what to do.
    pub fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Error::PermissionDenied {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                what,
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Why a running device stopped, as a driver's health check found it (on an empty batch). The
/// driver keeps it, so that every batch after it reports the same error without touching the
/// device again.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// Its registers read all ones.
    Removed,
    /// It reset itself: `evidence` names the register that showed it.
    Reset {
        /// What showed the reset, in register terms.
        evidence: String,
    },
    /// It gave up, or cannot be reached: `problem` says how.
    Failed {
        /// What happened.
        problem: String,
    },
}

impl Failure {
    /// The error for `device`.
    pub(crate) fn error(&self, device: &str) -> Error {
        let device = device.to_string();
        match self {
            Failure::Removed => Error::DeviceRemoved { device },
            Failure::Reset { evidence } => Error::DeviceReset {
                device,
                evidence: evidence.clone(),
            },
            Failure::Failed { problem } => Error::DeviceFailed {
                device,
                problem: problem.clone(),
            },
        }
    }
}

/// A driver's health check runs on an empty batch when this many empty batches in a row have
/// passed since the last one, and on the first: a device polled while idle next to a busy one
/// costs the busy one a register read per this many polls, not one per poll.
pub(crate) const HEALTH_CHECK_EVERY: u32 = 64;

/// Empty batches in a row on one queue, which decide when a driver's health check is due.
#[derive(Debug, Default)]
pub(crate) struct IdleBatches(u32);

impl IdleBatches {
    /// Records a batch that found work (`busy`) or none; returns whether the health check is
    /// due now: on the first empty batch after work, then every [`HEALTH_CHECK_EVERY`]th.
    #[inline]
    pub(crate) fn record(&mut self, busy: bool) -> bool {
        if busy {
            self.0 = 0;
            false
        } else {
            self.0 = self.0.wrapping_add(1);
            self.0 % HEALTH_CHECK_EVERY == 1
        }
    }
}

/// rixy's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
