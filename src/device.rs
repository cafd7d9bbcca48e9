//! [`Device`] and [`open`]: a device opened by address, the driver chosen from the PCI vendor and
//! device id (or a simulated port for `sim:N`).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::{Config, Link, MacAddress, QueueStats, Stats};
use crate::igb::{self, Igb};
use crate::interrupt::InterruptSource;
use crate::ixgbe::{self, Ixgbe};
use crate::memory::{DmaAllocator, HugePageAllocator, MemoryFootprint, Mempool, Packet};
use crate::memory::{DmaDomain, IommuAllocator, IommuMode};
use crate::pci::{MappedBar, PciAddress, PciDevice, VFIO_PCI_DRIVER, VfioDevice};
use crate::regs::{Mmio, PortIo};
use crate::sim::{self, SimBar};
use crate::virtio::{self, Virtio};
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
///     // What the ring could not take goes back to its pool, in one go.
///     rixy::Mempool::free_bulk(packets.drain(..));
/// }
/// # Ok::<(), rixy::Error>(())
/// ```
pub struct Device {
    backend: Backend,
    dma: Arc<dyn DmaAllocator + Send + Sync>,
    /// A device opened through VFIO: its device file, group and container, which outlive the
    /// driver (declared after the backend, so dropped after it).
    vfio: Option<Arc<VfioDevice>>,
}

enum Backend {
    /// An 82599 on a mapped BAR. The driver is declared before the mapping so that it is
    /// dropped (and stops the device's DMA) first.
    Ixgbe {
        driver: Ixgbe<Mmio>,
        bar: Arc<MappedBar>,
    },
    /// An 82576 on a mapped BAR; the driver is dropped (and stops the device) first. Boxed: its
    /// two rings make it several times larger than the other variants.
    Igb {
        driver: Box<Igb<Mmio>>,
        _bar: Arc<MappedBar>,
    },
    /// A virtio-net device: legacy (its bus owns the port-IO resource file of BAR0) or modern
    /// (its transport owns the mapping of the BAR the capabilities point into). Boxed: the
    /// driver with its three queues is several times larger than the other variants.
    Virtio {
        driver: Box<Virtio<virtio::transport::PciTransport>>,
    },
    /// The same driver on a simulated 82599 port (`rixy::sim`).
    Sim {
        driver: Ixgbe<SimBar>,
        port: SimPort,
    },
}

/// What a simulated port needs besides its driver: the world it lives in, and how its time
/// advances.
struct SimPort {
    world: sim::World,
    port: sim::Port,
    clock: SimClock,
    sink: Option<sim::SinkHandle>,
}

/// How the simulated hardware's time advances. A real NIC runs alongside the driver; a
/// simulated one runs when the device API lets it, before each batch.
#[derive(Clone, Copy)]
enum SimClock {
    /// Virtual time follows the wall clock (`rixy::open("sim:N")`), so a line-rate source
    /// offers 10 Gbit/s in real time and the apps' rates mean something. After a pause (a
    /// slow batch, a stats line) at most [`MAX_CATCH_UP_STEPS`] steps are taken at once.
    Wall(std::time::Instant),
    /// The caller steps the world itself (tests, benchmarks): the device never does.
    Manual,
}

/// The most simulated time steps one batch call runs to catch up with the wall clock.
const MAX_CATCH_UP_STEPS: u32 = 64;

impl SimPort {
    #[inline]
    fn catch_up(&self) {
        catch_up(&self.world, self.clock);
    }
}

/// Runs `world` until its time reaches the wall clock, or [`MAX_CATCH_UP_STEPS`] steps.
#[inline]
fn catch_up(world: &sim::World, clock: SimClock) {
    if let SimClock::Wall(start) = clock {
        let now = start.elapsed();
        let mut steps = 0;
        while world.now() < now && steps < MAX_CATCH_UP_STEPS {
            world.step();
            steps += 1;
        }
    }
}

/// How long a wait on a simulated port whose time follows the wall clock (`sim:N`) sleeps
/// before it advances the simulation again: the latency of its interrupts.
pub const SIM_WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(1);

/// A wait for packets on a simulated port: `wait` with the whole timeout when the caller steps
/// the world, else slices of [`SIM_WAIT_SLICE`], the world caught up with the wall clock before
/// each.
fn sim_wait(
    world: &sim::World,
    clock: SimClock,
    timeout: std::time::Duration,
    mut wait: impl FnMut(std::time::Duration) -> Result<bool>,
) -> Result<bool> {
    if let SimClock::Manual = clock {
        return wait(timeout);
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        catch_up(world, clock);
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if wait(left.min(SIM_WAIT_SLICE))? {
            return Ok(true);
        }
        if left <= SIM_WAIT_SLICE {
            return Ok(false);
        }
    }
}

/// Waits until one of several receive queues, of one device or of several, has packets, or
/// `timeout` passes: `true` when one has (its next batch takes something), `false` on the
/// timeout. What [`Device::rx_wait`] does for one queue, for a forwarder that serves two
/// devices in one thread: every queue's interrupt is armed (or the wait ends at once when one
/// has packets already), the thread sleeps until any of them fires (`poll(2)`), then every
/// queue is disarmed. The devices need [`Config::interrupts`]; a queue without them is
/// [`Error::InterruptsOff`].
///
/// ```no_run
/// # use std::time::Duration;
/// let config = rixy::Config { interrupts: true, ..Default::default() };
/// let (mut a, mut b) = (rixy::open("0000:03:00.0", &config)?, rixy::open("0000:03:00.1", &config)?);
/// rixy::wait_any(&mut [(&mut a, 0), (&mut b, 0)], Duration::from_millis(10))?;
/// # Ok::<(), rixy::Error>(())
/// ```
pub fn wait_any(queues: &mut [(&mut Device, u16)], timeout: std::time::Duration) -> Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // Simulated ports on the wall clock run only when someone runs them: in slices.
        let mut sliced = false;
        for (dev, _) in queues.iter() {
            if let Some((world, clock)) = dev.wall_clock_world() {
                catch_up(world, clock);
                sliced = true;
            }
        }
        let mut fds = Vec::with_capacity(queues.len());
        let mut ready = false;
        for (dev, queue) in queues.iter_mut() {
            match dev.rx_arm(*queue) {
                Ok(Some(fd)) => fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                }),
                Ok(None) => {
                    ready = true;
                    break;
                }
                Err(e) => {
                    // What was armed is disarmed before the error goes up.
                    for (dev, queue) in queues.iter_mut().take(fds.len()) {
                        let _ = dev.rx_disarm(*queue);
                    }
                    return Err(e);
                }
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !ready && !left.is_zero() {
            let slice = if sliced {
                left.min(SIM_WAIT_SLICE)
            } else {
                left
            };
            // Rounded up, so that a wait never ends before its timeout.
            let ms = i32::try_from(slice.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
            // SAFETY: `fds` is a live array of `fds.len()` pollfd structures, each an open
            // eventfd the devices own for as long as they are borrowed here.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                let source = std::io::Error::last_os_error();
                if source.kind() != std::io::ErrorKind::Interrupted {
                    for (dev, queue) in queues.iter_mut().take(fds.len()) {
                        let _ = dev.rx_disarm(*queue);
                    }
                    return Err(Error::Os {
                        what: "poll on receive interrupts",
                        source,
                    });
                }
            }
        }
        let mut any = ready;
        for (dev, queue) in queues.iter_mut().take(fds.len()) {
            any |= dev.rx_disarm(*queue)?;
        }
        if any {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
    }
}

/// What a simulated port's link partner received from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimWire {
    /// Frames.
    pub frames: u64,
    /// Bytes (without the FCS).
    pub bytes: u64,
    /// Different UDP source ports among the IPv4/UDP frames: the flows of a generator that
    /// varies them (`rixy-pktgen --flows`).
    pub udp_src_ports: u32,
}

/// Opens the device at `address`: a PCI address (`0000:03:00.0`, domain optional).
///
/// The device must be a network controller that a rixy driver drives; its kernel driver is
/// unbound, and bound again if the device cannot be opened after that (the error says so).
/// Real hardware needs root and huge pages (`ci/setup-hugepages`).
///
/// `sim:N` opens simulated 82599 port N (0 to 255): no hardware and no root. Its link partner
/// is a traffic source sending sequence-numbered 60-byte UDP frames to the port's MAC address
/// (`02:00:5e:10:00:NN`) at 10 Gbit/s (with several receive queues spread over
/// [`SIM_FLOWS_PER_QUEUE`] flows per queue, UDP source ports 42 and up, for RSS), pausing while the port has no free receive descriptors
/// (as 802.3x flow control would), and a sink that counts what the port sends
/// ([`Device::sim_wire`]). The simulated time follows the wall clock. The ports of one thread
/// share one simulated host memory, so packets move freely between them; each port can be
/// opened once.
pub fn open(address: &str, config: &Config) -> Result<Device> {
    config.validate()?;
    if let Some(n) = address.strip_prefix("sim:") {
        let n: u8 = n.parse().map_err(|_| Error::InvalidDeviceAddress {
            address: address.to_string(),
        })?;
        return open_sim_port(n, config);
    }
    let pci_address = PciAddress::parse(address)?;
    open_pci(pci_address, config)
}

thread_local! {
    /// The simulated ports `sim:N` of this thread: one world, so that they share DMA memory as
    /// NICs share the host's (a packet received on one can be sent on another), and the port
    /// numbers opened so far.
    static SIM_PORTS: std::cell::RefCell<(Option<sim::World>, std::collections::HashMap<u8, sim::Port>)> =
        Default::default();
}

fn open_sim_port(n: u8, config: &Config) -> Result<Device> {
    let name = format!("sim:{n}");
    let (world, port) = SIM_PORTS.with_borrow_mut(|(world, ports)| {
        if ports.contains_key(&n) {
            return Err(Error::DeviceFailed {
                device: name.clone(),
                problem: "already open in this thread: a port is driven by one driver at a time"
                    .into(),
            });
        }
        let world = world.get_or_insert_with(sim::World::new).clone();
        let mut mac = sim::DEFAULT_MAC;
        mac[5] = n;
        let port = world.add_port(sim::PortConfig {
            mac,
            // The rings are what the driver counts as received; drops are counted apart.
            gprc_counts_drops: false,
            ..sim::PortConfig::default()
        });
        ports.insert(n, port.clone());
        Ok((world, port))
    })?;
    world.attach_source(
        &port,
        sim::SourceConfig {
            pace: sim::Pace::LineRateWithFlowControl,
            flows: sim_source_flows(config.rx_queues),
            ..sim::SourceConfig::default()
        },
    );
    let sink = world.attach_sink(&port, 0);
    let mut dev = Device::on_sim_port(&name, &world, &port, config)?;
    if let Backend::Sim { port, .. } = &mut dev.backend {
        port.clock = SimClock::Wall(std::time::Instant::now());
        port.sink = Some(sink);
    }
    Ok(dev)
}

/// The flows the link partner of a `sim:N` port sends: one for a port with one receive queue,
/// [`SIM_FLOWS_PER_QUEUE`] per receive queue otherwise, so that RSS has flows to spread.
fn sim_source_flows(rx_queues: u16) -> u32 {
    if rx_queues > 1 {
        SIM_FLOWS_PER_QUEUE * u32::from(rx_queues)
    } else {
        1
    }
}

/// Flows per receive queue from the link partner of a `sim:N` port with several queues.
pub const SIM_FLOWS_PER_QUEUE: u32 = 16;

/// The drivers rixy has for PCI devices.
enum PciDriver {
    Ixgbe,
    Igb,
    Virtio,
}

fn open_pci(address: PciAddress, config: &Config) -> Result<Device> {
    let pci = PciDevice::open_in(&config.sysfs_root, address)?;
    pci.require_network_class()?;
    let (vendor, device) = (pci.vendor_id()?, pci.device_id()?);
    let kind = if vendor == ixgbe::INTEL_VENDOR_ID && ixgbe::DEVICE_IDS.contains(&device) {
        PciDriver::Ixgbe
    } else if vendor == igb::INTEL_VENDOR_ID && igb::DEVICE_IDS.contains(&device) {
        PciDriver::Igb
    } else if vendor == virtio::VIRTIO_VENDOR_ID
        && (device == virtio::LEGACY_NET_DEVICE_ID || device == virtio::MODERN_NET_DEVICE_ID)
    {
        PciDriver::Virtio
    } else {
        return Err(Error::UnsupportedDevice {
            address: address.to_string(),
            vendor,
            device,
        });
    };
    // Everything that can be checked is checked before the device is taken from its kernel
    // driver: a machine without huge pages keeps its NIC.
    config.validate_for(match kind {
        PciDriver::Ixgbe => &ixgbe::BUFFER_SIZES,
        PciDriver::Igb => &igb::BUFFER_SIZES,
        PciDriver::Virtio => &virtio::BUFFER_SIZES,
    })?;
    // A device bound to vfio-pci is opened through VFIO, with the IOMMU (no root needed).
    if crate::pci::vfio::driver_name(pci.dir()).as_deref() == Some(VFIO_PCI_DRIVER) {
        return open_vfio(&pci, kind, config);
    }
    // Through sysfs the process unbinds the device and writes its config space: root's work
    // (a device bound to a kernel driver is refused first, with the way to VFIO).
    // A device mapped through sysfs cannot deliver interrupts to user space: refused before
    // the device is taken from its kernel driver.
    if config.interrupts {
        return Err(Error::InterruptsNeedVfio {
            device: pci.address().to_string(),
        });
    }
    require_unbindable(&pci)?;
    pci.require_writable_config()?;
    let hugepages = HugePageAllocator::with_dir(&config.hugepage_dir);
    hugepages.page_size()?;
    take_over(&pci, kind, Arc::new(hugepages), config)
}

/// Takes the device from its kernel driver and starts rixy's driver on it. If anything fails
/// after the unbind, the device goes back to the kernel driver it had, and the error says so
/// ([`Error::GivenBack`], or [`Error::NotGivenBack`] when that fails too).
fn take_over(
    pci: &PciDevice,
    kind: PciDriver,
    dma: Arc<dyn DmaAllocator + Send + Sync>,
    config: &Config,
) -> Result<Device> {
    let kernel_driver = pci.unbind_driver()?;
    let dma_domain = DmaDomain::Physical;
    if let Some(driver) = &kernel_driver {
        log::info!("{}: unbound kernel driver {driver}", pci.address());
    }
    // Whatever `start` built (a driver, a mapped BAR) is dropped, and so has stopped the
    // device, before the kernel driver gets it back.
    start(pci, kind, dma, dma_domain, config).map_err(|error| match kernel_driver {
        None => error,
        Some(driver) => give_back(pci, driver, error),
    })
}

/// Bus mastering, BAR access and the driver's initialisation, on a device rixy now owns
/// (through sysfs or VFIO: [`PciAccess`]), whose DMA reaches `dma_domain`.
fn start(
    pci: &impl PciAccess,
    kind: PciDriver,
    dma: Arc<dyn DmaAllocator + Send + Sync>,
    dma_domain: DmaDomain,
    config: &Config,
) -> Result<Device> {
    pci.enable_bus_master()?;
    let name = pci.address().to_string();
    let backend = match kind {
        PciDriver::Ixgbe => {
            let bar = pci.map_bar(0)?;
            // SAFETY: `bar` maps BAR0 for `bar.len()` bytes and lives in the same `Device` as
            // the driver, which is dropped first; device memory is only reached through the bus.
            let mmio = unsafe { Mmio::new(bar.virt(), bar.len()) }.with_dma_domain(dma_domain);
            let driver = Ixgbe::with_interrupts(name, mmio, &*dma, config, pci.interrupts())?;
            Backend::Ixgbe {
                driver,
                bar: Arc::new(bar),
            }
        }
        PciDriver::Igb if config.interrupts => {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{name}: the 82576 (igb) driver polls; it has no interrupts (Config::interrupts is for the 82599 and virtio-net)"
                ),
            });
        }
        PciDriver::Igb => {
            let bar = pci.map_bar(0)?;
            // SAFETY: as for the 82599 above: the mapping lives in the same `Device` as the
            // driver, which is dropped first.
            let mmio = unsafe { Mmio::new(bar.virt(), bar.len()) }.with_dma_domain(dma_domain);
            let driver = Box::new(Igb::new(name, mmio, &*dma, config)?);
            Backend::Igb {
                driver,
                _bar: Arc::new(bar),
            }
        }
        PciDriver::Virtio => {
            use virtio::transport::{Legacy, Modern, PciTransport};
            // VirtIO 1.0 4.1.4: a device with the modern capabilities (every 1041, and a
            // transitional 1000 unless QEMU's disable-modern=on) is driven through them;
            // a legacy-only one through its I/O port header.
            let caps = pci.config().capabilities()?;
            let layout = pci
                .config()
                .access(|c| virtio::find_modern(c.bus(), &caps))?
                .map_err(|problem| Error::DeviceFailed {
                    device: name.clone(),
                    problem,
                })?;
            let transport = match layout {
                Some(layout) => {
                    let bar = pci.map_bar(layout.bar)?;
                    // SAFETY: `bar` maps the BAR for `bar.len()` bytes; the transport keeps the
                    // mapping (it is handed over below) for as long as the bus is used, and
                    // device memory is only reached through the bus.
                    let mmio =
                        unsafe { Mmio::new(bar.virt(), bar.len()) }.with_dma_domain(dma_domain);
                    let modern =
                        Modern::new(mmio, &layout, Some(Box::new(bar))).map_err(|problem| {
                            Error::DeviceFailed {
                                device: name.clone(),
                                problem,
                            }
                        })?;
                    PciTransport::Modern(modern)
                }
                None if pci
                    .config()
                    .access(|c| tock_registers::interfaces::Readable::get(&c.device_id()))?
                    == virtio::MODERN_NET_DEVICE_ID =>
                {
                    return Err(Error::DeviceFailed {
                        device: name,
                        problem: "a modern-only virtio-net device (1af4:1041) without the VirtIO 1.0 PCI capabilities (virtio 1.0, 4.1.4)".into(),
                    });
                }
                None => {
                    // Legacy virtio: the registers are in I/O port space (BAR0), one
                    // pread/pwrite each.
                    let bus = pci.port_io(0, dma_domain)?;
                    PciTransport::Legacy(Legacy::new(crate::regs::virtio::Registers::new(bus)?))
                }
            };
            // With Config::interrupts the driver enables MSI-X through `pci.interrupts()` (VFIO)
            // and tells the transport, before it touches the device.
            let driver = Box::new(Virtio::with_interrupts(
                name,
                transport,
                &*dma,
                config,
                pci.interrupts(),
            )?);
            Backend::Virtio { driver }
        }
    };
    Ok(Device {
        backend,
        dma,
        vfio: None,
    })
}

/// `error`, with the device given back to kernel driver `driver` (or the reason it could not be).
fn give_back(pci: &PciDevice, driver: String, error: Error) -> Error {
    let address = pci.address();
    match pci.bind_driver(&driver) {
        Ok(()) => {
            log::info!("{address}: given back to kernel driver {driver}");
            Error::GivenBack {
                error: Box::new(error),
                address,
                driver,
            }
        }
        Err(bind_error) => Error::NotGivenBack {
            error: Box::new(error),
            address,
            driver,
            bind_error: Box::new(bind_error),
        },
    }
}

// ---- VFIO: the way in for a device bound to vfio-pci ----

/// What [`start`] needs of a PCI function, whichever way it was opened: through sysfs
/// ([`PciDevice`], as root) or through VFIO ([`VfioDevice`]).
trait PciAccess {
    /// The function's address.
    fn address(&self) -> PciAddress;
    /// Sets the bus master bit (PCI 3.0, 6.2.2).
    fn enable_bus_master(&self) -> Result<()>;
    /// Maps memory BAR `bar`.
    fn map_bar(&self, bar: u8) -> Result<MappedBar>;
    /// A port-IO bus over I/O port BAR `bar`, for a device that reaches `domain` by DMA.
    fn port_io(&self, bar: u8, domain: DmaDomain) -> Result<PortIo>;
    /// The function's configuration space.
    fn config(&self) -> &crate::pci::ConfigFile;
    /// Where the device's MSI-X interrupts reach this process: VFIO's eventfds; `None` through
    /// sysfs, which cannot deliver them.
    fn interrupts(&self) -> Option<&dyn InterruptSource> {
        None
    }
}

impl PciAccess for PciDevice {
    fn address(&self) -> PciAddress {
        PciDevice::address(self)
    }
    fn enable_bus_master(&self) -> Result<()> {
        PciDevice::enable_bus_master(self)
    }
    fn map_bar(&self, bar: u8) -> Result<MappedBar> {
        PciDevice::map_bar(self, bar)
    }
    fn port_io(&self, bar: u8, domain: DmaDomain) -> Result<PortIo> {
        let (file, len) = self.open_port_io(bar)?;
        Ok(PortIo::new(file, usize::try_from(len).unwrap_or(usize::MAX)).with_dma_domain(domain))
    }
    fn config(&self) -> &crate::pci::ConfigFile {
        PciDevice::config(self)
    }
}

impl PciAccess for VfioDevice {
    fn address(&self) -> PciAddress {
        VfioDevice::address(self)
    }
    fn interrupts(&self) -> Option<&dyn InterruptSource> {
        Some(self)
    }
    fn enable_bus_master(&self) -> Result<()> {
        VfioDevice::enable_bus_master(self)
    }
    fn map_bar(&self, bar: u8) -> Result<MappedBar> {
        VfioDevice::map_bar(self, bar)
    }
    fn port_io(&self, bar: u8, domain: DmaDomain) -> Result<PortIo> {
        VfioDevice::port_io(self, bar, domain)
    }
    fn config(&self) -> &crate::pci::ConfigFile {
        VfioDevice::config(self)
    }
}

/// How the DMA of a device of driver `kind` reaches memory when it is opened through VFIO:
/// [`IommuMode::Iova`] when the IOMMU translates it (IOVAs rixy chooses; no root, no
/// hugetlbfs), [`IommuMode::Physical`] when it bypasses the IOMMU (physical addresses; root and
/// huge pages), with the reason it bypasses.
///
/// This is the one place the choice is made. An 82599 is a PCIe function behind the IOMMU:
/// translated. Legacy virtio (and modern virtio without `VIRTIO_F_ACCESS_PLATFORM`, VirtIO 1.2
/// section 6.1) uses guest-physical addresses, bypassing the IOMMU. For modern virtio the
/// choice follows the device: read its offered features through the transport (VirtIO 1.2
/// 4.1.4.3, common configuration, before FEATURES_OK) and return `Iova` exactly when bit 33
/// (ACCESS_PLATFORM) is offered, which the driver must then accept.
fn vfio_dma_mode(
    kind: &PciDriver,
    pci: &impl PciAccess,
) -> Result<(IommuMode, Option<&'static str>)> {
    match kind {
        PciDriver::Ixgbe | PciDriver::Igb => Ok((IommuMode::Iova, None)),
        PciDriver::Virtio => Ok(match virtio_access_platform(pci)? {
            None => (
                IommuMode::Physical,
                Some("legacy virtio uses physical addresses, bypassing the IOMMU"),
            ),
            Some(false) => (
                IommuMode::Physical,
                Some(
                    "this modern virtio device does not offer VIRTIO_F_ACCESS_PLATFORM, so its DMA bypasses the IOMMU and uses physical addresses (in QEMU, iommu_platform=on gives it the feature)",
                ),
            ),
            Some(true) => (IommuMode::Iova, None),
        }),
    }
}

/// Where the virtio device `pci`'s modern structures are (4.1.4); `None` for a legacy-only
/// device.
fn virtio_layout(pci: &impl PciAccess) -> Result<Option<virtio::ModernLayout>> {
    let caps = pci.config().capabilities()?;
    pci.config()
        .access(|c| virtio::find_modern(c.bus(), &caps))?
        .map_err(|problem| Error::DeviceFailed {
            device: pci.address().to_string(),
            problem,
        })
}

/// The DMA mode [`vfio_dma_mode`] will choose, when the device's sysfs files already tell it
/// (before VFIO is opened, so that a device that needs root is refused before anything is
/// touched): an 82599, or a virtio device whose capabilities (readable in full only by root)
/// show it legacy-only. `None` when only the device's features, read through VFIO, can say.
fn vfio_dma_mode_known(
    kind: &PciDriver,
    pci: &PciDevice,
) -> Option<(IommuMode, Option<&'static str>)> {
    match kind {
        PciDriver::Ixgbe | PciDriver::Igb => vfio_dma_mode(kind, pci).ok(),
        PciDriver::Virtio => match virtio_layout(pci) {
            Ok(None) => vfio_dma_mode(kind, pci).ok(),
            _ => None,
        },
    }
}

/// Whether the virtio device `pci` offers VIRTIO_F_ACCESS_PLATFORM: `None` for a legacy-only
/// device (no VirtIO 1.0 capabilities, 4.1.4), else the feature bit, read from the common
/// configuration in the BAR the capabilities name ([`virtio::offers_access_platform`]) without
/// touching the device status.
fn virtio_access_platform(pci: &impl PciAccess) -> Result<Option<bool>> {
    let name = pci.address().to_string();
    let Some(layout) = virtio_layout(pci)? else {
        return Ok(None);
    };
    let bar = pci.map_bar(layout.bar)?;
    // SAFETY: `bar` maps the BAR for `bar.len()` bytes and outlives the bus, which is used only
    // inside this function; device memory is only reached through the bus.
    let mmio = unsafe { Mmio::new(bar.virt(), bar.len()) };
    let offered =
        virtio::offers_access_platform(mmio, &layout).map_err(|problem| Error::DeviceFailed {
            device: name,
            problem,
        })?;
    drop(bar);
    Ok(Some(offered))
}

/// An error unless this process can read physical addresses (pagemap shows them only to
/// root): what a device whose DMA bypasses the IOMMU needs. Checked before the device is
/// touched.
fn require_physical_addresses(device: &str, why: &str) -> Result<()> {
    let probe = Box::new(0u64);
    let virt = &*probe as *const u64 as usize;
    let pagemap = std::path::Path::new("/proc/self/pagemap");
    let readable = std::fs::File::open(pagemap)
        .ok()
        .is_some_and(|file| crate::memory::physical_address(&file, virt).is_ok());
    if readable {
        Ok(())
    } else {
        Err(Error::BypassNeedsRoot {
            device: device.to_string(),
            why: why.to_string(),
        })
    }
}

/// An error, before anything is touched, if the device is bound to a kernel driver this process
/// may not unbind (no root): it names the way in without root (vfio-pci).
fn require_unbindable(pci: &PciDevice) -> Result<()> {
    let Some(driver) = crate::pci::vfio::driver_name(pci.dir()) else {
        return Ok(());
    };
    let unbind = pci.dir().join("driver").join("unbind");
    let writable = std::fs::OpenOptions::new().write(true).open(&unbind);
    match writable {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(Error::DriverNotUnbindable {
                address: pci.address(),
                driver,
                unbind,
            })
        }
        _ => Ok(()),
    }
}

/// Opens a device bound to vfio-pci: its group joins this process's VFIO container, DMA memory
/// is mapped into the IOMMU ([`IommuAllocator`], in the mode [`vfio_dma_mode`] picks) and the
/// driver starts on the BAR the device file gives. Nothing is unbound, so nothing is given back
/// on failure: the device stays with vfio-pci.
fn open_vfio(pci: &PciDevice, kind: PciDriver, config: &Config) -> Result<Device> {
    let name = pci.address().to_string();
    let needs_root = |mode: IommuMode, bypass: Option<&str>| -> Result<()> {
        if mode == IommuMode::Physical {
            require_physical_addresses(&name, bypass.unwrap_or("its DMA bypasses the IOMMU"))?;
            HugePageAllocator::with_dir(&config.hugepage_dir).page_size()?;
        }
        Ok(())
    };
    let known = vfio_dma_mode_known(&kind, pci);
    if let Some((mode, bypass)) = known {
        needs_root(mode, bypass)?;
    }
    let vfio = Arc::new(VfioDevice::open(pci, &config.vfio_dir)?);
    // Otherwise the mode follows the device's features, read through VFIO (a modern virtio
    // device's ACCESS_PLATFORM): decided before any DMA memory exists or the driver resets it.
    let (mode, _) = match known {
        Some(known) => known,
        None => {
            let (mode, bypass) = vfio_dma_mode(&kind, &*vfio)?;
            needs_root(mode, bypass)?;
            (mode, bypass)
        }
    };
    let dma = IommuAllocator::new(
        Arc::clone(vfio.container()) as Arc<dyn crate::memory::Iommu>,
        mode,
        &config.hugepage_dir,
    );
    let domain = dma.domain();
    log::info!("{name}: DMA through the IOMMU in {mode:?} mode ({domain})");
    let mut device = start(&*vfio, kind, Arc::new(dma), domain, config)?;
    device.vfio = Some(vfio);
    Ok(device)
}

macro_rules! each_backend {
    ($self:expr, $d:ident => $body:expr) => {
        match $self {
            Backend::Ixgbe { driver: $d, .. } => $body,
            Backend::Igb { driver: $d, .. } => $body,
            Backend::Virtio { driver: $d } => $body,
            Backend::Sim { driver: $d, .. } => $body,
        }
    };
}

impl Device {
    /// Opens the ixgbe driver on a port of a simulated world the caller built (links, sources,
    /// sinks of its choosing). The caller advances the world with [`sim::World::step`]; the
    /// device never does.
    pub fn on_sim_port(
        name: &str,
        world: &sim::World,
        port: &sim::Port,
        config: &Config,
    ) -> Result<Device> {
        config.validate()?;
        let dma = port.dma();
        let driver =
            Ixgbe::with_interrupts(name.to_string(), port.bar(), &dma, config, Some(port))?;
        Ok(Device {
            backend: Backend::Sim {
                driver,
                port: SimPort {
                    world: world.clone(),
                    port: port.clone(),
                    clock: SimClock::Manual,
                    sink: None,
                },
            },
            dma: Arc::new(dma),
            vfio: None,
        })
    }

    /// For a device opened through VFIO (bound to vfio-pci): its VFIO handle, through which a
    /// driver turns on MSI-X interrupts with an eventfd per vector
    /// ([`VfioDevice::enable_msix`]). `None` for sysfs and simulated devices.
    pub fn vfio(&self) -> Option<&VfioDevice> {
        self.vfio.as_deref()
    }

    /// For a port opened as `sim:N`: what its link partner has received from it.
    pub fn sim_wire(&self) -> Option<SimWire> {
        match &self.backend {
            Backend::Sim { port, .. } => port.sink.as_ref().map(|s| SimWire {
                frames: s.frames(),
                bytes: s.bytes(),
                udp_src_ports: s.udp_src_ports(),
            }),
            _ => None,
        }
    }

    /// For a simulated port: the model behind it, whose [`sim::Port::reports`] say what the
    /// driver did that the datasheet forbids. `None` on real hardware.
    pub fn sim_port(&self) -> Option<&sim::Port> {
        match &self.backend {
            Backend::Sim { port, .. } => Some(&port.port),
            _ => None,
        }
    }

    /// The DMA memory the device holds, per queue: each ring's and each receive pool's region as
    /// the allocator made it (with its rounding). For an 82599 the total never exceeds
    /// [`Config::memory_bound`]; [`MemoryFootprint`] documents what a queue costs.
    pub fn memory(&self) -> MemoryFootprint {
        each_backend!(&self.backend, d => d.memory())
    }

    /// The mempool receive queue `queue` takes its buffers from.
    pub fn rx_pool(&self, queue: u16) -> Option<&Mempool> {
        each_backend!(&self.backend, d => d.rx_pool(queue))
    }

    /// Packets the device's queues hold (receive buffers posted, transmits not yet confirmed):
    /// with the applications' packets and the pools' free buffers, every buffer is accounted for.
    pub fn buffers_held(&self) -> usize {
        each_backend!(&self.backend, d => d.buffers_held())
    }

    /// The device address of every packet buffer the device's queues hold, found by walking
    /// their rings. With the pools' [`Mempool::free_buffer_addrs`] and the applications' packets,
    /// each buffer of a pool appears exactly once.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        each_backend!(&self.backend, d => d.held_buffer_addrs())
    }

    /// The device's address.
    pub fn name(&self) -> &str {
        each_backend!(&self.backend, d => d.name())
    }

    /// Receives up to `max` packets from receive queue `queue`, appending them to `out`;
    /// returns how many. `max` may not exceed what the receive ring holds at once (the ring
    /// size minus one on the 82599; a virtqueue's size, or half of it when each packet takes
    /// two descriptors): a larger batch is [`Error::BatchTooLarge`].
    #[inline]
    pub fn rx_batch<E: Extend<Packet>>(
        &mut self,
        queue: u16,
        out: &mut E,
        max: usize,
    ) -> Result<usize> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.rx_batch(queue, out, max),
            Backend::Igb { driver, .. } => driver.rx_batch(queue, out, max),
            Backend::Virtio { driver } => driver.rx_batch(queue, out, max),
            Backend::Sim { driver, port } => {
                port.catch_up();
                driver.rx_batch(queue, out, max)
            }
        }
    }

    /// Waits up to `timeout` for packets on receive queue `queue` instead of spinning: `true`
    /// when the next [`Device::rx_batch`] takes something, `false` when the timeout passed
    /// first. Returns at once if packets are waiting. Needs a device opened with
    /// [`Config::interrupts`] (else [`Error::InterruptsOff`]): a simulated 82599, or a real
    /// 82599 or virtio-net device bound to vfio-pci (MSI-X). Poll while busy, wait when idle:
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = rixy::Config { interrupts: true, link_timeout: Duration::ZERO, ..Default::default() };
    /// let mut dev = rixy::open("sim:7", &config)?;
    /// let mut batch = std::collections::VecDeque::new();
    /// for _ in 0..3 {
    ///     if dev.rx_batch(0, &mut batch, 32)? == 0 {
    ///         dev.rx_wait(0, Duration::from_millis(10))?;
    ///     }
    ///     rixy::Mempool::free_bulk(batch.drain(..));
    /// }
    /// # Ok::<(), rixy::Error>(())
    /// ```
    ///
    /// On a simulated port whose time follows the wall clock (`sim:N`), the wait advances the
    /// simulation while it sleeps, in slices of [`SIM_WAIT_SLICE`].
    pub fn rx_wait(&mut self, queue: u16, timeout: std::time::Duration) -> Result<bool> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.rx_wait(queue, timeout),
            Backend::Virtio { driver } => driver.rx_wait(queue, timeout),
            Backend::Igb { driver, .. } => Err(no_interrupts(driver.name(), queue)),
            Backend::Sim { driver, port } => sim_wait(&port.world, port.clock, timeout, |t| {
                driver.rx_wait(queue, t)
            }),
        }
    }

    /// See [`wait_any`]: `None` when the queue has packets, else the eventfd to poll, armed.
    fn rx_arm(&mut self, queue: u16) -> Result<Option<std::os::fd::RawFd>> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.rx_arm(queue),
            Backend::Sim { driver, .. } => driver.rx_arm(queue),
            Backend::Virtio { driver } => driver.rx_arm(queue),
            Backend::Igb { driver, .. } => Err(no_interrupts(driver.name(), queue)),
        }
    }

    /// See [`wait_any`]: disarms what [`Device::rx_arm`] armed; whether the queue has packets.
    fn rx_disarm(&mut self, queue: u16) -> Result<bool> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.rx_disarm(queue),
            Backend::Sim { driver, .. } => driver.rx_disarm(queue),
            Backend::Igb { driver, .. } => Err(no_interrupts(driver.name(), queue)),
            Backend::Virtio { driver } => driver.rx_disarm(queue),
        }
    }

    /// A simulated port whose time follows the wall clock: its world, to run while waiting.
    fn wall_clock_world(&self) -> Option<(&sim::World, SimClock)> {
        match &self.backend {
            Backend::Sim { port, .. } if matches!(port.clock, SimClock::Wall(_)) => {
                Some((&port.world, port.clock))
            }
            _ => None,
        }
    }

    /// Sends packets from the front of `packets` on transmit queue `queue`; returns how many
    /// the ring took. The rest stay in `packets`, in order.
    #[inline]
    pub fn tx_batch(&mut self, queue: u16, packets: &mut VecDeque<Packet>) -> Result<usize> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.tx_batch(queue, packets),
            Backend::Igb { driver, .. } => driver.tx_batch(queue, packets),
            Backend::Virtio { driver } => driver.tx_batch(queue, packets),
            Backend::Sim { driver, port } => {
                port.catch_up();
                driver.tx_batch(queue, packets)
            }
        }
    }

    /// Takes every queue out of the device as a handle that can be moved to the thread that
    /// serves it: receive queue i is `rx[i]`, transmit queue i is `tx[i]`. A handle serves its
    /// queue with no lock and nothing shared on the packet path; the device keeps its
    /// statistics, link, MAC and filters. Dropping a handle gives the queue back to the device
    /// (its batches then work again); dropping the device first stops it, and every handle's
    /// batches then fail with [`Error::DeviceClosed`].
    ///
    /// The 82599 (real and simulated) has handles; a virtio-net device and an 82576 have one
    /// queue pair, served through the device ([`Error::QueueHandlesUnsupported`]).
    ///
    /// ```no_run
    /// let mut dev = rixy::open("0000:03:00.0", &rixy::Config { rx_queues: 2, tx_queues: 2, ..Default::default() })?;
    /// let (rx, tx) = dev.take_queues()?;
    /// std::thread::scope(|s| {
    ///     for (mut rx, mut tx) in rx.into_iter().zip(tx) {
    ///         s.spawn(move || -> rixy::Result<()> {
    ///             let mut batch = std::collections::VecDeque::new();
    ///             loop {
    ///                 rx.rx_batch(&mut batch, 32)?;
    ///                 tx.tx_batch(&mut batch)?;
    ///                 rixy::Mempool::free_bulk(batch.drain(..));
    ///             }
    ///         });
    ///     }
    /// });
    /// # Ok::<(), rixy::Error>(())
    /// ```
    pub fn take_queues(&mut self) -> Result<(Vec<RxQueue>, Vec<TxQueue>)> {
        let mut rx = Vec::new();
        for q in 0..self.rx_queues() {
            rx.push(self.take_rx_queue(q)?);
        }
        let mut tx = Vec::new();
        for q in 0..self.tx_queues() {
            tx.push(self.take_tx_queue(q)?);
        }
        Ok((rx, tx))
    }

    /// The error for queue handles asked of a driver that serves its one queue pair itself.
    fn no_handles(&self) -> Error {
        let why = match &self.backend {
            Backend::Igb { .. } => "rixy's 82576 (igb) driver runs one queue pair",
            _ => "a virtio-net device has one queue pair",
        };
        Error::QueueHandlesUnsupported {
            device: self.name().to_string(),
            why,
        }
    }

    /// Takes receive queue `queue` out of the device as a handle; see [`Device::take_queues`].
    /// An error if there is no such queue or its handle is out already.
    pub fn take_rx_queue(&mut self, queue: u16) -> Result<RxQueue> {
        let inner = match &mut self.backend {
            Backend::Ixgbe { driver, bar } => RxInner::Ixgbe {
                handle: driver.take_rx(queue)?,
                _bar: Arc::clone(bar),
            },
            Backend::Sim { driver, port } => RxInner::Sim {
                handle: driver.take_rx(queue)?,
                world: port.world.clone(),
                clock: port.clock,
            },
            Backend::Virtio { .. } | Backend::Igb { .. } => return Err(self.no_handles()),
        };
        Ok(RxQueue { inner })
    }

    /// Takes transmit queue `queue` out of the device as a handle; see [`Device::take_queues`].
    pub fn take_tx_queue(&mut self, queue: u16) -> Result<TxQueue> {
        let inner = match &mut self.backend {
            Backend::Ixgbe { driver, bar } => TxInner::Ixgbe {
                handle: driver.take_tx(queue)?,
                _bar: Arc::clone(bar),
            },
            Backend::Sim { driver, port } => TxInner::Sim {
                handle: driver.take_tx(queue)?,
                world: port.world.clone(),
                clock: port.clock,
            },
            Backend::Virtio { .. } | Backend::Igb { .. } => return Err(self.no_handles()),
        };
        Ok(TxQueue { inner })
    }

    /// What receive queue `queue` received so far, counted by the driver (whether the device or
    /// a handle serves it). Over all queues the packets add up to what the device counts in
    /// [`Stats::rx_packets`] once nothing is in flight.
    pub fn rx_queue_stats(&self, queue: u16) -> Option<QueueStats> {
        each_backend!(&self.backend, d => d.rx_queue_stats(queue))
    }

    /// What transmit queue `queue` handed to the device so far, counted by the driver.
    pub fn tx_queue_stats(&self, queue: u16) -> Option<QueueStats> {
        each_backend!(&self.backend, d => d.tx_queue_stats(queue))
    }

    /// Sets the 40-byte key receive side scaling hashes with (82599 datasheet 7.1.2.8; the
    /// default is [`ixgbe::DEFAULT_RSS_KEY`]). An error on a device with one receive queue, where
    /// RSS is off, and on virtio-net, which has one.
    pub fn set_rss_key(&mut self, key: &[u8; ixgbe::RSS_KEY_LEN]) -> Result<()> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.set_rss_key(key),
            Backend::Sim { driver, .. } => driver.set_rss_key(key),
            Backend::Virtio { driver } => Err(no_rss(driver.name())),
            Backend::Igb { driver, .. } => Err(no_rss(driver.name())),
        }
    }

    /// Sets the RSS redirection table: entry `i` names the receive queue of the frames whose
    /// hash has `i` in its seven low bits (datasheet 8.2.3.7.15; round-robin over the queues by
    /// default). An entry naming a queue the device does not have is refused, and nothing is
    /// written. Errors as for [`Device::set_rss_key`].
    pub fn set_rss_table(&mut self, table: &[u16; ixgbe::RSS_TABLE_LEN]) -> Result<()> {
        match &mut self.backend {
            Backend::Ixgbe { driver, .. } => driver.set_rss_table(table),
            Backend::Sim { driver, .. } => driver.set_rss_table(table),
            Backend::Virtio { driver } => Err(no_rss(driver.name())),
            Backend::Igb { driver, .. } => Err(no_rss(driver.name())),
        }
    }

    /// The RSS redirection table in use, or `None` when RSS is off.
    pub fn rss_table(&self) -> Option<[u16; ixgbe::RSS_TABLE_LEN]> {
        match &self.backend {
            Backend::Ixgbe { driver, .. } => driver.rss_table(),
            Backend::Sim { driver, .. } => driver.rss_table(),
            Backend::Virtio { .. } | Backend::Igb { .. } => None,
        }
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
    pub fn mempool(&self, entries: usize, buffer_size: usize) -> Result<Mempool> {
        Mempool::new(&*self.dma, entries, buffer_size)
    }
}

/// The error for a wait on a queue of a driver that only polls.
fn no_interrupts(device: &str, queue: u16) -> Error {
    Error::InterruptsOff {
        device: device.to_string(),
        queue,
    }
}

/// The error for RSS asked of a virtio-net device or an 82576.
fn no_rss(device: &str) -> Error {
    Error::InvalidConfig {
        problem: format!(
            "{device}: the device runs one receive queue (virtio-net, or rixy's 82576 driver), so there is no receive side scaling to set; RSS is the 82599's"
        ),
    }
}

/// A receive queue taken out of its device ([`Device::take_queues`]), to be served by one
/// thread: `Send`, and nothing on its packet path is shared with other queues.
pub struct RxQueue {
    inner: RxInner,
}

enum RxInner {
    /// The handle is declared before the BAR it uses, so it is dropped first.
    Ixgbe {
        handle: ixgbe::RxHandle<Mmio>,
        _bar: Arc<MappedBar>,
    },
    /// A simulated port's queue advances the world before each batch, as the device does.
    Sim {
        handle: ixgbe::RxHandle<SimBar>,
        world: sim::World,
        clock: SimClock,
    },
}

/// A transmit queue taken out of its device; see [`RxQueue`].
pub struct TxQueue {
    inner: TxInner,
}

enum TxInner {
    Ixgbe {
        handle: ixgbe::TxHandle<Mmio>,
        _bar: Arc<MappedBar>,
    },
    Sim {
        handle: ixgbe::TxHandle<SimBar>,
        world: sim::World,
        clock: SimClock,
    },
}

impl std::fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxQueue")
            .field("queue", &self.queue())
            .finish()
    }
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxQueue")
            .field("queue", &self.queue())
            .finish()
    }
}

impl RxQueue {
    /// Receives up to `max` packets, appending them to `out`; returns how many. As
    /// [`Device::rx_batch`] for this queue; after the device was closed,
    /// [`Error::DeviceClosed`].
    #[inline]
    pub fn rx_batch<E: Extend<Packet>>(&mut self, out: &mut E, max: usize) -> Result<usize> {
        match &mut self.inner {
            RxInner::Ixgbe { handle, .. } => handle.rx_batch(out, max),
            RxInner::Sim {
                handle,
                world,
                clock,
            } => {
                catch_up(world, *clock);
                handle.rx_batch(out, max)
            }
        }
    }

    /// Waits up to `timeout` for packets, as [`Device::rx_wait`] does for this queue: `true`
    /// when the next batch takes something, `false` on the timeout.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<bool> {
        match &mut self.inner {
            RxInner::Ixgbe { handle, .. } => handle.wait(timeout),
            RxInner::Sim {
                handle,
                world,
                clock,
            } => sim_wait(world, *clock, timeout, |t| handle.wait(t)),
        }
    }

    /// The queue's number on its device.
    pub fn queue(&self) -> u16 {
        match &self.inner {
            RxInner::Ixgbe { handle, .. } => handle.queue(),
            RxInner::Sim { handle, .. } => handle.queue(),
        }
    }

    /// What the queue received so far.
    pub fn stats(&self) -> QueueStats {
        match &self.inner {
            RxInner::Ixgbe { handle, .. } => handle.stats(),
            RxInner::Sim { handle, .. } => handle.stats(),
        }
    }

    /// The pool the queue's buffers come from.
    pub fn pool(&self) -> &Mempool {
        match &self.inner {
            RxInner::Ixgbe { handle, .. } => handle.pool(),
            RxInner::Sim { handle, .. } => handle.pool(),
        }
    }

    /// The device address of every buffer the queue holds, found by walking its ring.
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        match &self.inner {
            RxInner::Ixgbe { handle, .. } => handle.held_buffer_addrs(),
            RxInner::Sim { handle, .. } => handle.held_buffer_addrs(),
        }
    }
}

impl TxQueue {
    /// Sends packets from the front of `packets`; returns how many the ring took. As
    /// [`Device::tx_batch`] for this queue; after the device was closed,
    /// [`Error::DeviceClosed`].
    #[inline]
    pub fn tx_batch(&mut self, packets: &mut VecDeque<Packet>) -> Result<usize> {
        match &mut self.inner {
            TxInner::Ixgbe { handle, .. } => handle.tx_batch(packets),
            TxInner::Sim {
                handle,
                world,
                clock,
            } => {
                catch_up(world, *clock);
                handle.tx_batch(packets)
            }
        }
    }

    /// The queue's number on its device.
    pub fn queue(&self) -> u16 {
        match &self.inner {
            TxInner::Ixgbe { handle, .. } => handle.queue(),
            TxInner::Sim { handle, .. } => handle.queue(),
        }
    }

    /// What the queue handed to the device so far.
    pub fn stats(&self) -> QueueStats {
        match &self.inner {
            TxInner::Ixgbe { handle, .. } => handle.stats(),
            TxInner::Sim { handle, .. } => handle.stats(),
        }
    }

    /// Descriptors the device has not confirmed yet.
    pub fn pending(&self) -> usize {
        match &self.inner {
            TxInner::Ixgbe { handle, .. } => handle.pending(),
            TxInner::Sim { handle, .. } => handle.pending(),
        }
    }

    /// The device address of every buffer the queue holds (sent, not confirmed yet).
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        match &self.inner {
            TxInner::Ixgbe { handle, .. } => handle.held_buffer_addrs(),
            TxInner::Sim { handle, .. } => handle.held_buffer_addrs(),
        }
    }
}

/// The fake sysfs tree of the integration tests, for the tests below.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod fake_sysfs;

#[cfg(test)]
mod tests {
    //! Giving a device back to its kernel driver when opening fails after the unbind, on the
    //! fake sysfs tree the integration tests use (nothing here touches the real /sys). The huge
    //! page check of `open_pci` comes before the unbind and cannot pass on a machine without
    //! hugetlbfs, so these tests enter at `take_over`, with the allocator `open_pci` would pass.

    use super::fake_sysfs::FakeSysfs;
    use super::*;

    const ADDR: &str = "0000:05:00.0";

    /// A device with these ids in a fake tree, bound to kernel driver `kdrv` if `bound`.
    fn fake(vendor: u16, device: u16, bound: bool) -> (FakeSysfs, PciDevice, Config) {
        let sysfs = FakeSysfs::new();
        sysfs.add(ADDR, vendor, device, 0x02);
        if bound {
            sysfs.bind(ADDR, "kdrv");
        }
        let pci = PciDevice::open_in(sysfs.root(), ADDR.parse().unwrap()).unwrap();
        let config = Config {
            sysfs_root: sysfs.root(),
            hugepage_dir: sysfs.dir().join("no-hugetlbfs"),
            link_timeout: std::time::Duration::ZERO,
            ..Config::default()
        };
        (sysfs, pci, config)
    }

    fn take_over_err(pci: &PciDevice, kind: PciDriver, config: &Config) -> Error {
        let dma = Arc::new(HugePageAllocator::with_dir(&config.hugepage_dir));
        match take_over(pci, kind, dma, config) {
            Ok(dev) => panic!("{} opened", dev.name()),
            Err(e) => e,
        }
    }

    #[test]
    fn a_device_whose_bar_is_unusable_goes_back_to_its_driver() {
        // A virtio device id on a memory BAR0: the port-IO BAR it needs is not there.
        let (sysfs, pci, config) = fake(0x1af4, 0x1000, true);
        let err = take_over_err(&pci, PciDriver::Virtio, &config);
        assert_eq!(sysfs.unbound("kdrv"), ADDR, "it was unbound");
        assert_eq!(sysfs.bound("kdrv"), ADDR, "and bound again");
        match &err {
            Error::GivenBack {
                error,
                address,
                driver,
            } => {
                assert!(
                    matches!(**error, Error::BarNotPortIo { bar: 0, .. }),
                    "{error}"
                );
                assert_eq!(
                    (address.to_string().as_str(), driver.as_str()),
                    (ADDR, "kdrv")
                );
            }
            other => panic!("{other}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("; 0000:05:00.0 was given back to its kernel driver kdrv"),
            "{msg}"
        );
    }

    /// Plain memory in the domain of a sysfs BAR (physical addresses): the driver allocates
    /// its rings from it before it touches the device, and no device is behind the fake BAR to
    /// use the addresses.
    struct PlainAsPhysical;

    impl DmaAllocator for PlainAsPhysical {
        fn allocate(&self, size: usize, contiguous: bool) -> Result<crate::memory::DmaRegion> {
            let region = crate::memory::PlainAllocator::new().allocate(size, contiguous)?;
            let (virt, len, contiguous) = (region.virt(), region.len(), region.is_contiguous());
            // SAFETY: the memory belongs to `region`, which the new region keeps alive as its
            // keeper; nothing reaches it by DMA (the BAR is a plain file).
            Ok(unsafe {
                crate::memory::DmaRegion::from_shared(
                    virt,
                    len,
                    crate::memory::DeviceAddresses::Identity,
                    crate::memory::DmaDomain::Physical,
                    contiguous,
                    std::sync::Arc::new(region),
                )
            })
        }
    }

    #[test]
    fn a_device_whose_driver_init_fails_goes_back_to_its_driver() {
        // An 82599 whose BAR0 is plain file memory: CTRL.RST never clears, so the reset times
        // out inside the driver's initialisation (after the rings are allocated, which needs
        // memory of the BAR's domain).
        let (sysfs, pci, config) = fake(0x8086, 0x10fb, true);
        let err = match take_over(&pci, PciDriver::Ixgbe, Arc::new(PlainAsPhysical), &config) {
            Ok(dev) => panic!("{} opened", dev.name()),
            Err(e) => e,
        };
        assert_eq!(sysfs.bound("kdrv"), ADDR);
        assert!(
            matches!(&err, Error::GivenBack { error, .. } if matches!(**error, Error::Timeout { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("global reset"), "{err}");
    }

    #[test]
    fn when_the_driver_will_not_take_it_back_the_error_says_so() {
        let (sysfs, pci, config) = fake(0x1af4, 0x1000, true);
        std::fs::remove_file(sysfs.dir().join("drivers/kdrv/bind")).unwrap();
        let err = take_over_err(&pci, PciDriver::Virtio, &config);
        assert_eq!(sysfs.unbound("kdrv"), ADDR);
        assert!(
            matches!(&err, Error::NotGivenBack { driver, bind_error, .. }
                if driver == "kdrv" && matches!(**bind_error, Error::Io { .. })),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("giving 0000:05:00.0 back to its kernel driver kdrv failed too"),
            "{msg}"
        );
        assert!(msg.contains("drivers/kdrv/bind"), "{msg}");
    }

    /// Writes QEMU's virtio capabilities (VirtIO 1.0 4.1.4: common configuration at 0, device
    /// configuration at 0x2000, notifications at 0x3000 with multiplier 4) into the fake
    /// device's configuration space, pointing into its memory BAR0.
    fn add_modern_caps(sysfs: &FakeSysfs) {
        use std::os::unix::fs::FileExt;
        let dir = sysfs.root().join(ADDR);
        let config = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("config"))
            .unwrap();
        // STATUS.CAPABILITIES_LIST, CAPABILITIES_PTR.
        config.write_all_at(&[0x10], 0x06).unwrap();
        config.write_all_at(&[0x40], 0x34).unwrap();
        let caps: [(u64, u8, u32, Option<u32>); 3] = [
            (0x40, 1, 0x0000, None),
            (0x50, 4, 0x2000, None),
            (0x60, 2, 0x3000, Some(4)),
        ];
        for (i, &(at, ty, off, mult)) in caps.iter().enumerate() {
            let next = caps.get(i + 1).map_or(0, |c| c.0 as u8);
            let mut b = vec![
                0x09,
                next,
                if mult.is_some() { 20 } else { 16 },
                ty,
                0,
                0,
                0,
                0,
            ];
            b.extend_from_slice(&off.to_le_bytes());
            b.extend_from_slice(&0x1000u32.to_le_bytes());
            if let Some(m) = mult {
                b.extend_from_slice(&m.to_le_bytes());
            }
            config.write_all_at(&b, at).unwrap();
        }
    }

    #[test]
    fn a_modern_only_device_without_its_capabilities_is_refused() {
        let (sysfs, pci, config) = fake(0x1af4, 0x1041, true);
        let err = take_over_err(&pci, PciDriver::Virtio, &config);
        assert_eq!(sysfs.bound("kdrv"), ADDR, "given back");
        assert!(
            err.to_string()
                .contains("without the VirtIO 1.0 PCI capabilities"),
            "{err}"
        );
    }

    #[test]
    fn a_device_with_the_modern_capabilities_is_driven_through_the_bar_they_name() {
        // A transitional id whose BAR0 is memory: the legacy path would refuse it (BarNotPortIo,
        // above); with the capabilities it is driven as modern, through the mapped BAR. The
        // BAR is plain file memory: the device offers no features, so VERSION_1 is missing.
        let (sysfs, pci, config) = fake(0x1af4, 0x1000, true);
        add_modern_caps(&sysfs);
        let err = take_over_err(&pci, PciDriver::Virtio, &config);
        assert!(err.to_string().contains("VIRTIO_F_VERSION_1"), "{err}");
        // With VERSION_1 in DEVICE_FEATURE (offset 4 of the common configuration, both
        // windows), the driver gets through FEATURES_OK to the queues, of which there are none.
        let bar = std::fs::OpenOptions::new()
            .write(true)
            .open(sysfs.root().join(ADDR).join("resource0"))
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&bar, &1u32.to_le_bytes(), 4).unwrap();
        let err = take_over_err(&pci, PciDriver::Virtio, &config);
        assert!(err.to_string().contains("queue 0 does not exist"), "{err}");
    }

    #[test]
    fn a_device_that_had_no_driver_gets_none() {
        let (sysfs, pci, config) = fake(0x1af4, 0x1000, false);
        let err = take_over_err(&pci, PciDriver::Virtio, &config);
        assert!(matches!(err, Error::BarNotPortIo { .. }), "{err}");
        assert!(!sysfs.dir().join("drivers").exists(), "no driver was bound");
    }
}
