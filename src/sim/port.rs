//! A handle on one simulated port: its BAR, its DMA allocator, its reports, and what a test may
//! look at without side effects. The faults it can inject are in `faults.rs`.

use super::bus::SimBar;
use super::dma::SimDma;
use super::model::ModelCounters;
use super::report::{Direction, Report, RingState, Severity};
use super::world::Shared;
use crate::interrupt::{Interrupt, InterruptSource};
use crate::regs::ixgbe::RegisterId;
use crate::{Error, Result};

/// A handle on one simulated 82599 port.
#[derive(Clone)]
pub struct Port {
    pub(crate) shared: Shared,
    pub(crate) index: usize,
    pub(crate) mac: [u8; 6],
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("index", &self.index)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

impl Port {
    /// The port's number in its world.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The MAC address in the port's EEPROM.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The port's BAR0: every access goes into the model.
    pub fn bar(&self) -> SimBar {
        SimBar {
            shared: self.shared.clone(),
            port: self.index,
        }
    }

    /// The DMA allocator drivers of this port use (shared by the whole world, so a buffer from
    /// one port's mempool may be sent on another port).
    pub fn dma(&self) -> SimDma {
        SimDma {
            shared: self.shared.clone(),
        }
    }

    /// Every protocol violation seen so far.
    pub fn reports(&self) -> Vec<Report> {
        self.shared.lock().ports[self.index]
            .dev
            .reports
            .list
            .clone()
    }

    /// The reports of at least severity `min` (Error < Warn < Pedantic < Info).
    pub fn reports_at_least(&self, min: Severity) -> Vec<Report> {
        self.reports()
            .into_iter()
            .filter(|r| r.severity <= min)
            .collect()
    }

    /// Forgets the reports seen so far.
    pub fn clear_reports(&self) {
        let mut w = self.shared.lock();
        w.ports[self.index].dev.reports.list.clear();
        w.ports[self.index].dev.reports.dropped = 0;
    }

    /// Reports that did not fit the port's report log.
    pub fn reports_dropped(&self) -> u64 {
        self.shared.lock().ports[self.index].dev.reports.dropped
    }

    /// Frames waiting in the receive FIFO for descriptors.
    pub fn rx_fifo_frames(&self) -> usize {
        self.shared.lock().ports[self.index].dev.fifo.len()
    }

    /// What the model counted.
    pub fn stats_snapshot(&self) -> ModelCounters {
        self.shared.lock().ports[self.index].dev.counters
    }

    /// Register accesses so far (the access index of the last one).
    pub fn access_count(&self) -> u64 {
        self.shared.lock().ports[self.index].dev.access_index
    }

    /// Element `idx` of register `id` as stored, without the side effects of a read (for
    /// tests: a statistics counter is not cleared, no delay advances).
    pub fn register(&self, id: RegisterId, idx: usize) -> u32 {
        let id = id.info().alias_of.unwrap_or(id);
        self.shared.lock().ports[self.index].dev.get(id, idx)
    }

    /// The ring of queue `queue` as the device uses it (head, tail, descriptors), or `None`
    /// while the queue is not running: disabled, still enabling, or stopped because its
    /// configuration or a tail was invalid (the reports say which). Queues are 0 to 127.
    pub fn ring(&self, direction: Direction, queue: u16) -> Option<RingState> {
        let w = self.shared.lock();
        w.ports[self.index]
            .dev
            .running_ring(direction, usize::from(queue))
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.shared.lock().ports[self.index].dev.link_up
    }

    /// The MSI-X messages vector `vector` has sent so far (counted by the model, apart from the
    /// eventfds that deliver them); 0 for a vector beyond 63.
    pub fn msix_messages(&self, vector: u16) -> u64 {
        let w = self.shared.lock();
        let sent = &w.ports[self.index].dev.msix.sent;
        sent.get(usize::from(vector)).copied().unwrap_or(0)
    }

    /// Interrupt causes pending and enabled (EICR & EIMS).
    pub fn interrupts_pending(&self) -> u32 {
        let w = self.shared.lock();
        let d = &w.ports[self.index].dev;
        d.get(RegisterId::EICR, 0) & d.get(RegisterId::EIMS, 0)
    }
}

/// The port's MSI-X vectors, as a host (VFIO on real hardware) sets them up: one eventfd per
/// vector, which the model signals for each message the vector sends.
impl InterruptSource for Port {
    /// [`PortConfig::msix_vectors`](super::PortConfig::msix_vectors), at most 64 (IVAR names
    /// six-bit vectors).
    fn msix_vectors(&self) -> u16 {
        let w = self.shared.lock();
        w.ports[self.index].dev.cfg.msix_vectors.min(64)
    }

    fn enable_msix(&self, count: u16) -> Result<Vec<Interrupt>> {
        let available = self.msix_vectors();
        if count > available {
            return Err(Error::TooFewVectors {
                device: format!("simulated port {}", self.index),
                needed: u32::from(count),
                available: u32::from(available),
            });
        }
        let mut host = Vec::with_capacity(usize::from(count));
        let mut device = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let irq = Interrupt::new()?;
            device.push(irq.try_clone()?);
            host.push(irq);
        }
        self.shared.lock().ports[self.index].dev.msix.fds = device;
        Ok(host)
    }
}
