//! Bringing the device up (VirtIO 1.0 section 3.1.1, with the legacy variant of 3.1.2): reset,
//! ACKNOWLEDGE, DRIVER, feature negotiation, queue setup, DRIVER_OK. Port IO cannot fail loudly
//! through a register read, so every step asks the bus for an error and checks the device
//! status for FAILED and DEVICE_NEEDS_RESET.

use super::*;

impl<B: CheckedBus> Virtio<B> {
    /// Resets and initialises the device whose legacy registers are on `bus` (3.1.1), with DMA
    /// memory from `dma`. `name` names it in logs and errors.
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
    ) -> Result<Self>
    where
        B: DmaMaster,
    {
        config.validate_for(&BUFFER_SIZES)?;
        if config.rx_queues != 1 || config.tx_queues != 1 {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "{name}: legacy virtio-net has one receive and one transmit queue, not {} and {}: ask for 1 of each",
                    config.rx_queues, config.tx_queues
                ),
            });
        }
        let domain = bus.dma_domain();
        let dma = InDomain {
            alloc: dma,
            domain,
            device: name.clone(),
        };
        let regs = Registers::new(bus)?;
        let parts = match Self::init(&name, &regs, &dma, config) {
            Ok(parts) => parts,
            Err(err) => {
                // 3.1.1: "If any of these steps go irrecoverably wrong, the driver SHOULD set the
                // FAILED status bit to indicate that it has given up on the device". Then reset
                // it, so that it forgets the queues whose memory has been freed (it never had
                // DRIVER_OK, so it has not used them).
                regs.device_status().modify(DEVICE_STATUS::FAILED::SET);
                regs.device_status().set(0);
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
            chain: parts.chain,
            promisc: None,
            totals: Stats::default(),
            domain,
            failure: None,
            rx_idle: IdleRun::default(),
            tx_idle: IdleRun::default(),
            rx_notifications: 0,
            tx_notifications: 0,
        };
        // From here on an error drops `dev`, whose `Drop` resets the device before the queues
        // and buffers are freed.
        if let Err(err) = dev.start(config) {
            dev.regs.device_status().modify(DEVICE_STATUS::FAILED::SET);
            return Err(err);
        }
        Ok(dev)
    }

    /// Steps 1 to 7 of 3.1.1 with the legacy variations (3.1.2, 4.1.4.8).
    fn init<A: DmaAllocator + ?Sized>(
        name: &str,
        regs: &Registers<B>,
        dma: &A,
        config: &Config,
    ) -> Result<Parts> {
        let step = Step { name, regs };
        // 1. Reset. A legacy device resets at once when 0 is written; wait for it anyway.
        regs.device_status().set(0);
        step.wait_for("the device status to read 0 after a reset", || {
            regs.device_status().get() == 0
        })?;
        step.check("reset")?;
        // 2, 3. The driver has noticed the device and knows how to drive it.
        regs.device_status().write(DEVICE_STATUS::ACKNOWLEDGE::SET);
        step.check("ACKNOWLEDGE")?;
        regs.device_status().modify(DEVICE_STATUS::DRIVER::SET);
        step.check("DRIVER")?;

        // 4. Feature negotiation. The legacy interface has no FEATURES_OK (3.1.2); the driver
        // reads GUEST_FEATURES back to learn whether the device took what was written.
        let offered = regs.host_features().extract();
        step.check("reading HOST_FEATURES")?;
        let features = Features::choose(offered);
        let wanted = features.guest_features();
        regs.guest_features().write(wanted);
        let accepted = regs.guest_features().get();
        step.check("writing GUEST_FEATURES")?;
        if accepted != wanted.value {
            return Err(step.failed(format!(
                "the device rejected the features the driver asked for: wrote GUEST_FEATURES {:#010x}, it reads {accepted:#010x} (HOST_FEATURES {:#010x})",
                wanted.value,
                offered.get()
            )));
        }
        log::info!(
            "{name}: features {features:?} (offered {:#010x})",
            offered.get()
        );

        // 7. Device-specific setup: the queues (4.1.4.8 legacy queue setup: select, read the
        // size, allocate, write the page number), then the receive buffers.
        let chain: u16 = if features.any_layout { 1 } else { 2 };
        let rx_vq = step.setup_queue(RX_QUEUE, dma, 0)?;
        let tx_vq = step.setup_queue(TX_QUEUE, dma, 0)?;
        let ctrl = if features.ctrl_vq {
            Some(step.setup_queue(CTRL_QUEUE, dma, ctrl::SCRATCH)?)
        } else {
            None
        };
        let heads = |vq: &Virtqueue| -> Result<Vec<u16>> {
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
        };
        // Buffers are posted before DRIVER_OK and notified after it (3.1.1 step 7, then 8).
        let posted = rx::fill(&mut parts.rx, chain);
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
            self.regs
                .device_status()
                .modify(DEVICE_STATUS::DRIVER_OK::SET);
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
            // it through the driver-writable config field (5.1.4, legacy).
            let mac = local_mac(name);
            log::info!("{name}: the device has no MAC address (no VIRTIO_NET_F_MAC); using {mac}");
            write_mac(regs, mac);
            step.check("writing the MAC address")?;
        }
        self.apply_promisc(config.promisc)
    }
}

/// What `init` builds; the registers join it in `new`.
struct Parts {
    features: Features,
    rx: RxQueue,
    tx: TxQueue,
    ctrl: Option<Virtqueue>,
    chain: u16,
}

/// One init step's context: checks and errors that name the device.
pub(super) struct Step<'a, B: CheckedBus> {
    pub(super) name: &'a str,
    pub(super) regs: &'a Registers<B>,
}

impl<B: CheckedBus> Step<'_, B> {
    fn failed(&self, problem: String) -> Error {
        Error::DeviceFailed {
            device: self.name.to_owned(),
            problem,
        }
    }

    /// An error if a port access failed since the last check, or if the device has given up
    /// (FAILED) or needs a reset (DEVICE_NEEDS_RESET, 2.1).
    pub(super) fn check(&self, what: &str) -> Result<()> {
        if let Some((kind, count)) = self.regs.bus().take_error() {
            return Err(self.failed(format!(
                "{what}: {count} port IO access(es) to BAR0 failed ({kind}): is the device still there, and is this process root?"
            )));
        }
        let status = self.regs.device_status().extract();
        if let Some((kind, count)) = self.regs.bus().take_error() {
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
            if let Some((kind, count)) = self.regs.bus().take_error() {
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

    /// Legacy queue setup (4.1.4.8, 4.1.5.1.3.1 legacy): select the queue, read its size (0:
    /// it does not exist), make sure it is not in use, allocate it and write its page number.
    fn setup_queue<A: DmaAllocator + ?Sized>(
        &self,
        index: u16,
        dma: &A,
        scratch: usize,
    ) -> Result<Virtqueue> {
        self.regs.queue_sel().set(index);
        let size = self.regs.queue_num().get();
        let in_use = self.regs.queue_pfn().read(QUEUE_PFN::PFN);
        self.check("selecting a queue")?;
        if size == 0 {
            return Err(self.failed(format!(
                "queue {index} does not exist (QUEUE_NUM reads 0): is this a virtio-net device?"
            )));
        }
        if in_use != 0 {
            return Err(self.failed(format!(
                "queue {index} is already in use (QUEUE_PFN {in_use:#x} after reset)"
            )));
        }
        let vq = Virtqueue::new(self.name, index, size, dma, scratch)?;
        self.regs
            .queue_pfn()
            .write(QUEUE_PFN::PFN::val_checked(vq.pfn())?);
        self.check("writing QUEUE_PFN")?;
        if self.regs.queue_pfn().get() != vq.pfn() {
            return Err(self.failed(format!(
                "queue {index} did not take page number {:#x}",
                vq.pfn()
            )));
        }
        log::debug!(
            "{}: queue {index}: {size} entries at pfn {:#x}",
            self.name,
            vq.pfn()
        );
        Ok(vq)
    }
}

/// Writes the six bytes of the config MAC field (5.1.4).
pub(super) fn write_mac<B: CheckedBus>(regs: &Registers<B>, mac: MacAddress) {
    for (byte, i) in mac.0.into_iter().zip(MacByte::all()) {
        regs.mac(i).set(byte);
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
