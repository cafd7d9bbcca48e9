//! Bringing the device up (VirtIO 1.0 section 3.1.1, with the legacy variant of 3.1.2): reset,
//! ACKNOWLEDGE, DRIVER, feature negotiation, queue setup, DRIVER_OK. Port IO cannot fail loudly
//! through a register read, so every step asks the bus for an error and checks the device
//! status for FAILED and DEVICE_NEEDS_RESET.

use super::*;

impl<B: CheckedBus + DmaMaster> Virtio<Legacy<B>> {
    /// Resets and initialises the legacy device whose registers are on `bus` (3.1.1, 4.1.4.8),
    /// with DMA memory from `dma`. `name` names it in logs and errors.
    ///
    /// The device chooses its queue sizes in the legacy interface, so `config`'s ring sizes do
    /// not apply; it has one receive and one transmit queue. The receive mempool holds
    /// `config.rx_mempool_size()` buffers, at least twice the receive queue, of
    /// `config.buffer_size` bytes. `dma` must give memory the device reaches (its bus's
    /// [`DmaMaster::dma_domain`]).
    pub fn new<A: DmaAllocator + ?Sized>(
        name: String,
        bus: B,
        dma: &A,
        config: &Config,
    ) -> Result<Self> {
        let regs = Registers::new(bus)?;
        Virtio::with_transport(name, Legacy::new(regs), dma, config)
    }
}

impl<B: CheckedBus + DmaMaster + Clone> Virtio<Modern<B>> {
    /// Resets and initialises the modern device (VirtIO 1.0 4.1.4) whose structures `layout`
    /// places on `bus` (the BAR they are in), with DMA memory from `dma`; `keep` (the BAR's
    /// mapping) lives as long as the driver. Queue sizes are `config`'s ring sizes, or the
    /// device's maximum when that is smaller (4.1.4.3: the driver may shrink a queue).
    pub fn new_modern<A: DmaAllocator + ?Sized>(
        name: String,
        bus: B,
        layout: &ModernLayout,
        keep: Option<Box<dyn Send>>,
        dma: &A,
        config: &Config,
    ) -> Result<Self> {
        let transport = Modern::new(bus, layout, keep).map_err(|problem| Error::DeviceFailed {
            device: name.clone(),
            problem,
        })?;
        Virtio::with_transport(name, transport, dma, config)
    }
}

impl<T: Transport> Virtio<T> {
    /// Resets and initialises the device behind `regs` (3.1.1), without interrupts: a
    /// configuration asking for [`Config::interrupts`] is refused
    /// ([`Error::InterruptsNeedVfio`]); [`Virtio::with_interrupts`] takes them.
    pub fn with_transport<A: DmaAllocator + ?Sized>(
        name: String,
        regs: T,
        dma: &A,
        config: &Config,
    ) -> Result<Self> {
        Self::with_interrupts(name, regs, dma, config, None)
    }

    /// Resets and initialises the device behind `regs` (3.1.1). With [`Config::interrupts`],
    /// `source` (VFIO) gives the receive queue an MSI-X vector: MSI-X is enabled with one
    /// vector before the device is touched (on a legacy device that moves the device
    /// configuration, 4.1.4.8), the receive queue is mapped to vector 0 and configuration changes
    /// and the other queues to none, each read back (4.1.4.3: a device that cannot map a vector
    /// reads VIRTIO_MSI_NO_VECTOR, an error here). Errors: [`Error::InterruptsNeedVfio`] without
    /// a source, [`Error::TooFewVectors`] when the device has no MSI-X vector.
    pub fn with_interrupts<A: DmaAllocator + ?Sized>(
        name: String,
        regs: T,
        dma: &A,
        config: &Config,
        source: Option<&dyn crate::InterruptSource>,
    ) -> Result<Self> {
        config.validate_for(&BUFFER_SIZES)?;
        if config.rx_queues != 1 || config.tx_queues != 1 {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{name}: virtio-net has one receive and one transmit queue in rixy, not {} and {}: ask for 1 of each",
                    config.rx_queues, config.tx_queues
                ),
            });
        }
        if let Some(itr) = config.itr_us {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{name}: an interrupt throttle of {itr} µs: virtio-net has none (the device decides when to interrupt); leave Config::itr_us unset (--itr is for the 82599)"
                ),
            });
        }
        let rx_irq = if config.interrupts {
            let Some(source) = source else {
                return Err(Error::InterruptsNeedVfio { device: name });
            };
            let available = source.msix_vectors();
            if available < 1 {
                return Err(Error::TooFewVectors {
                    device: name,
                    needed: 1,
                    available: u32::from(available),
                });
            }
            // One vector, for the receive queue: the device interrupts for nothing else.
            source.enable_msix(1)?.into_iter().next()
        } else {
            None
        };
        let domain = regs.dma_domain();
        let dma = InDomain {
            alloc: dma,
            domain,
            device: name.clone(),
        };
        let mut regs = regs;
        if rx_irq.is_some() {
            regs.set_msix_enabled(true);
        }
        let parts = match Self::init(&name, &mut regs, &dma, config, rx_irq.is_some()) {
            Ok(parts) => parts,
            Err(err) => {
                // 3.1.1: "If any of these steps go irrecoverably wrong, the driver SHOULD set the
                // FAILED status bit to indicate that it has given up on the device". Then reset
                // it, so that it forgets the queues whose memory has been freed (it never had
                // DRIVER_OK, so it has not used them).
                regs.set_status(regs.status() | DEVICE_STATUS::FAILED::SET.value);
                regs.set_status(0);
                return Err(err);
            }
        };
        let mut dev = Self {
            name,
            regs,
            features: parts.features,
            rx: parts.rx,
            tx: parts.tx,
            ctrl: parts.ctrl,
            hdr_len: parts.hdr_len,
            chain: parts.chain,
            promisc: None,
            totals: Stats::default(),
            domain,
            failure: None,
            rx_idle: IdleRun::default(),
            tx_idle: IdleRun::default(),
            rx_notifications: 0,
            tx_notifications: 0,
            rx_irq,
        };
        // From here on an error drops `dev`, whose `Drop` resets the device before the queues
        // and buffers are freed.
        if let Err(err) = dev.start(config) {
            let failed = dev.regs.status() | DEVICE_STATUS::FAILED::SET.value;
            dev.regs.set_status(failed);
            return Err(err);
        }
        Ok(dev)
    }

    /// Steps 1 to 7 of 3.1.1 (with the legacy variations of 3.1.2 and 4.1.4.8 on a legacy
    /// transport).
    fn init<A: DmaAllocator + ?Sized>(
        name: &str,
        regs: &mut T,
        dma: &A,
        config: &Config,
        msix: bool,
    ) -> Result<Parts> {
        let modern = regs.is_modern();
        let step = Step { name, regs: &*regs };
        // 1. Reset. A legacy device resets at once when 0 is written; a modern one once the
        // status reads 0 (4.1.4.3.2).
        regs.set_status(0);
        step.wait_for("the device status to read 0 after a reset", || {
            regs.status() == 0
        })?;
        step.check("reset")?;
        // 2, 3. The driver has noticed the device and knows how to drive it.
        let acknowledge = DEVICE_STATUS::ACKNOWLEDGE::SET.value;
        let driver = acknowledge | DEVICE_STATUS::DRIVER::SET.value;
        regs.set_status(acknowledge);
        step.check("ACKNOWLEDGE")?;
        regs.set_status(driver);
        step.check("DRIVER")?;

        // 4. Feature negotiation.
        let offered = regs.device_features();
        step.check("reading the device features")?;
        let features = Features::choose(name, offered, modern, config, regs.dma_domain())?;
        let wanted = features.bits();
        regs.set_driver_features(wanted);
        step.check("writing the driver features")?;
        if modern {
            // 5, 6. FEATURES_OK, and the device's word that it takes them (3.1.1).
            let ok = driver | DEVICE_STATUS::FEATURES_OK::SET.value;
            regs.set_status(ok);
            step.check("FEATURES_OK")?;
            if regs.status() & DEVICE_STATUS::FEATURES_OK::SET.value == 0 {
                return Err(step.failed(format!(
                    "the device did not accept the features the driver asked for ({wanted:#x} of {offered:#x}): FEATURES_OK did not stay set (virtio 1.0, 3.1.1)"
                )));
            }
        } else {
            // The legacy interface has no FEATURES_OK (3.1.2); the driver reads the features
            // back to learn whether the device took what was written.
            let accepted = regs.driver_features();
            step.check("reading back the driver features")?;
            if accepted != wanted {
                return Err(step.failed(format!(
                    "the device rejected the features the driver asked for: wrote GUEST_FEATURES {wanted:#010x}, it reads {accepted:#010x} (HOST_FEATURES {offered:#010x})"
                )));
            }
        }
        log::info!(
            "{name}: {} interface, features {features:?} (offered {offered:#x})",
            if modern { "modern" } else { "legacy" }
        );

        // 7. Device-specific setup: the queues, then the receive buffers.
        let chain: u16 = if modern || features.any_layout { 1 } else { 2 };
        let hdr_len = if modern {
            NetHdrMrg::SIZE
        } else {
            NetHdr::SIZE
        };
        // 4.1.5.1.2: with MSI-X, configuration changes go to no vector (rixy does not watch
        // them); the queues' vectors are written as each is set up.
        if msix {
            let result = regs.set_config_vector(VIRTIO_MSI_NO_VECTOR);
            let step = Step { name, regs: &*regs };
            step.check("writing the MSI-X configuration vector")?;
            result.map_err(|problem| step.failed(problem))?;
        }
        // The receive queue on vector 0, the others on none.
        let vector = |index: u16| {
            msix.then_some(if index == RX_QUEUE {
                0
            } else {
                VIRTIO_MSI_NO_VECTOR
            })
        };
        let setup = |regs: &mut T, index: u16, want: usize, scratch: usize| {
            let queue = QueueWant {
                index,
                want,
                scratch,
                vector: vector(index),
            };
            setup_queue(name, regs, queue, dma, &features)
        };
        let rx_vq = setup(regs, RX_QUEUE, config.rx_ring_size, 0)?;
        let tx_vq = setup(regs, TX_QUEUE, config.tx_ring_size, 0)?;
        let ctrl = if features.ctrl_vq {
            Some(setup(
                regs,
                CTRL_QUEUE,
                usize::from(u16::MAX),
                ctrl::SCRATCH,
            )?)
        } else {
            None
        };
        let step = Step { name, regs: &*regs };
        let heads = |vq: &Vq| -> Result<Vec<u16>> {
            let size = vq.size().get();
            if size < usize::from(chain) {
                return Err(step.failed(format!(
                    "queue {} has {size} entries, too few for a packet of {chain} descriptors",
                    vq.index()
                )));
            }
            // Lowest first when popped.
            Ok((0..size as u16).step_by(usize::from(chain)).rev().collect())
        };
        let rx_free = heads(&rx_vq)?;
        let tx_free = heads(&tx_vq)?;
        let entries = config.rx_mempool_size().max(2 * rx_vq.size().get());
        let pool = Mempool::new(dma, entries, config.buffer_size)?;
        let mut parts = Parts {
            features,
            rx: RxQueue {
                posted: (0..rx_vq.size().get()).map(|_| None).collect(),
                vq: rx_vq,
                free: rx_free,
                pool,
            },
            tx: TxQueue {
                in_flight: (0..tx_vq.size().get()).map(|_| None).collect(),
                vq: tx_vq,
                free: tx_free,
            },
            ctrl,
            chain,
            hdr_len,
        };
        // Buffers are posted before DRIVER_OK and notified after it (3.1.1 step 7, then 8).
        let posted = rx::fill(&mut parts.rx, chain, hdr_len);
        log::debug!("{name}: {posted} receive buffers posted");
        Ok(parts)
    }

    /// Step 8 of 3.1.1 and what follows it: DRIVER_OK, the first receive notification, the
    /// MAC address of a device without one, and the receive mode the configuration asks for.
    fn start(&mut self, config: &Config) -> Result<()> {
        {
            let step = Step {
                name: &self.name,
                regs: &self.regs,
            };
            let ok = self.regs.status() | DEVICE_STATUS::DRIVER_OK::SET.value;
            self.regs.set_status(ok);
            step.check("DRIVER_OK")?;
        }
        if self.rx.vq.publish() {
            self.notify(RX_QUEUE)?;
        }
        let name = &self.name;
        let regs = &self.regs;
        let step = Step { name, regs };
        if !self.features.mac {
            // 5.1.5: without VIRTIO_NET_F_MAC the driver picks an address; a legacy device takes
            // it through the driver-writable config field (5.1.4, legacy). A modern device's
            // field is read-only: the driver sends from the address it picked.
            let mac = local_mac(name);
            log::info!("{name}: the device has no MAC address (no VIRTIO_NET_F_MAC); using {mac}");
            regs.write_mac(mac.0);
            step.check("writing the MAC address")?;
        }
        self.apply_promisc(config.promisc)
    }
}

/// Sets up queue `index` (4.1.4.8 legacy: select, read the size, write the page number; 4.1.5.1.3
/// modern: select, size, the three addresses, enable) with at most `want` entries where the
/// transport lets the driver choose.
fn setup_queue<T: Transport, A: DmaAllocator + ?Sized>(
    name: &str,
    regs: &mut T,
    queue: QueueWant,
    dma: &A,
    features: &Features,
) -> Result<Vq> {
    let QueueWant {
        index,
        want,
        scratch,
        vector,
    } = queue;
    let (max, in_use) = regs.queue_size(index);
    let step = Step { name, regs: &*regs };
    step.check("selecting a queue")?;
    if max == 0 {
        return Err(step.failed(format!(
            "queue {index} does not exist (its size reads 0): is this a virtio-net device?"
        )));
    }
    if in_use {
        return Err(step.failed(format!("queue {index} is already in use after a reset")));
    }
    let size = if regs.is_modern() {
        // The largest power of two no larger than both: split queues need one (2.4).
        let limit = want.min(usize::from(max)).max(1);
        1u16 << (usize::BITS - 1 - limit.leading_zeros())
    } else {
        max
    };
    let vq = if features.packed {
        Vq::Packed(packed::PackedQueue::new(
            name,
            index,
            size,
            dma,
            scratch,
            features.event_idx,
        )?)
    } else {
        Vq::Split(queue::Virtqueue::new(
            name,
            index,
            size,
            dma,
            scratch,
            regs.legacy_layout(),
            features.event_idx,
        )?)
    };
    if let Some(vector) = vector {
        // 4.1.5.1.3: the queue's vector before its addresses and enable.
        let result = regs.set_queue_vector(index, vector);
        let step = Step { name, regs: &*regs };
        step.check("writing a queue's MSI-X vector")?;
        result.map_err(|problem| step.failed(problem))?;
    }
    let result = regs.set_queue(index, size, vq.addrs());
    let step = Step { name, regs: &*regs };
    step.check("setting up a queue")?;
    result.map_err(|problem| step.failed(problem))?;
    log::debug!(
        "{name}: queue {index}: {size} entries ({}) at {:#x}",
        if features.packed { "packed" } else { "split" },
        vq.addrs().desc
    );
    Ok(vq)
}

/// What one queue's setup asks for: queue `index`, at most `want` entries where the transport
/// lets the driver choose, `scratch` bytes after the queue for the driver, and the MSI-X vector
/// to map it to (`None`: MSI-X is off, nothing is written).
struct QueueWant {
    index: u16,
    want: usize,
    scratch: usize,
    vector: Option<u16>,
}

/// What `init` builds; the registers join it in `new`.
struct Parts {
    features: Features,
    rx: RxQueue,
    tx: TxQueue,
    ctrl: Option<Vq>,
    chain: u16,
    hdr_len: usize,
}

/// One init step's context: checks and errors that name the device.
pub(super) struct Step<'a, T: Transport> {
    pub(super) name: &'a str,
    pub(super) regs: &'a T,
}

impl<T: Transport> Step<'_, T> {
    pub(super) fn failed(&self, problem: String) -> Error {
        Error::DeviceFailed {
            device: self.name.to_owned(),
            problem,
        }
    }

    /// An error if a port access failed since the last check, or if the device has given up
    /// (FAILED) or needs a reset (DEVICE_NEEDS_RESET, 2.1).
    pub(super) fn check(&self, what: &str) -> Result<()> {
        if let Some((kind, count)) = self.regs.take_error() {
            return Err(self.failed(format!(
                "{what}: {count} port IO access(es) to BAR0 failed ({kind}): is the device still there, and is this process root?"
            )));
        }
        let status = tock_registers::LocalRegisterCopy::<u8, DEVICE_STATUS::Register>::new(
            self.regs.status(),
        );
        if let Some((kind, count)) = self.regs.take_error() {
            return Err(self.failed(format!(
                "{what}: reading the device status failed ({count} access(es), {kind})"
            )));
        }
        if status.is_set(DEVICE_STATUS::FAILED) || status.is_set(DEVICE_STATUS::DEVICE_NEEDS_RESET)
        {
            return Err(self.failed(format!(
                "{what}: the device status reads {:#04x} (FAILED or DEVICE_NEEDS_RESET, virtio 1.0, 2.1): the device gave up",
                status.get()
            )));
        }
        Ok(())
    }

    /// Polls `done` for at most [`STEP_TIMEOUT`]; a port IO error ends the wait at once.
    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
        let start = Instant::now();
        loop {
            let finished = done();
            if let Some((kind, count)) = self.regs.take_error() {
                return Err(self.failed(format!(
                    "waiting for {what}: {count} port IO access(es) to BAR0 failed ({kind}): is the device still there, and is this process root?"
                )));
            }
            if finished {
                return Ok(());
            }
            if start.elapsed() >= STEP_TIMEOUT {
                return Err(self.failed(format!(
                    "{what} did not happen within {} ms: is this a virtio device, and does it respond to port IO?",
                    STEP_TIMEOUT.as_millis()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A locally administered unicast address (IEEE 802: bit 1 of the first byte set, bit 0 clear)
/// derived from the device name and the time, for a device without a MAC address of its own.
fn local_mac(name: &str) -> MacAddress {
    use std::hash::{BuildHasher, RandomState};
    let hash = RandomState::new().hash_one((name, Instant::now()));
    let b = hash.to_le_bytes();
    MacAddress([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
}
