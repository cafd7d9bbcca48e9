//! Queues as handles: what the port and the handles of its queues share, and the handles
//! themselves, which move to the threads that serve them.
//!
//! The 82599's queues are independent: each has its own ring registers (RDT, TDT, RXDCTL,
//! TXDCTL, 8.2.3.8 and 8.2.3.9), and nothing a receive or transmit batch does touches another
//! queue's registers or memory. So a queue can be served by its own thread with no lock: its
//! handle owns its ring, its buffers and a view of the port's registers, and shares with the
//! port only what is written once (a failure found by a health check, the close) or read by
//! others (its counters).

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tock_registers::interfaces::Readable;

use super::rx::RxRing;
use super::tx::TxRing;
use crate::config::{QueueCounters, QueueStats};
use crate::error::Failure;
use crate::memory::{DmaDomain, Mempool, Packet};
use crate::regs::Bus;
use crate::regs::ixgbe::{self, RXDCTL, Registers, TXDCTL};
use crate::{Error, Result};

/// What a port and the handles of its queues share.
pub(crate) struct Shared {
    /// The device's name, for errors.
    pub(crate) name: String,
    /// The memory the device reaches by DMA.
    pub(crate) domain: DmaDomain,
    /// Set once, by the first health check that finds the device gone or reset.
    failure: OnceLock<Failure>,
    /// Set when the port is closed (its driver dropped, the device reset).
    closed: AtomicBool,
    /// Per receive queue: packets, bytes, frames dropped.
    pub(crate) rx_counters: Box<[QueueCounters]>,
    /// Per transmit queue: packets, bytes, packets dropped.
    pub(crate) tx_counters: Box<[QueueCounters]>,
    /// Rings whose handles were dropped while the port may still run: the device may still
    /// write into their buffers, so they are kept until the port is reset (they go when the
    /// last of the port and its handles does), or until the port takes them back.
    parked_rx: Mutex<Vec<RxRing>>,
    parked_tx: Mutex<Vec<TxRing>>,
}

impl Shared {
    pub(crate) fn new(name: String, domain: DmaDomain, rx_queues: u16, tx_queues: u16) -> Self {
        let counters = |n: u16| (0..n).map(|_| QueueCounters::default()).collect();
        Shared {
            name,
            domain,
            failure: OnceLock::new(),
            closed: AtomicBool::new(false),
            rx_counters: counters(rx_queues),
            tx_counters: counters(tx_queues),
            parked_rx: Mutex::new(Vec::new()),
            parked_tx: Mutex::new(Vec::new()),
        }
    }

    /// The error every batch gets once the device failed or was closed.
    #[inline]
    pub(crate) fn check_running(&self) -> Result<()> {
        if let Some(failure) = self.failure.get() {
            return Err(failure.error(&self.name));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::DeviceClosed {
                device: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Marks the port closed: every handle's next batch fails with [`Error::DeviceClosed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Remembers `failure` (every batch of every queue from now on reports it) and returns its
    /// error. The first failure found stays.
    pub(crate) fn fail(&self, failure: Failure) -> Error {
        let failure = self.failure.get_or_init(|| failure);
        let error = failure.error(&self.name);
        log::debug!("{error}");
        error
    }

    /// The health check of an empty receive batch: one read of RXDCTL, which a removed device
    /// answers with all ones (confirmed by STATUS) and a device that reset itself with ENABLE
    /// clear (8.2.3.8.6: a reset disables every queue; the driver never does after init).
    pub(crate) fn check_rx_queue<B: Bus>(
        &self,
        regs: &Registers<B>,
        queue: ixgbe::RxQueue,
    ) -> Result<()> {
        let rxdctl = regs.rxdctl(queue).extract();
        let enabled = rxdctl.is_set(RXDCTL::ENABLE);
        self.check_queue(
            regs,
            rxdctl.get(),
            enabled,
            ("receive", queue.get(), "RXDCTL"),
        )
    }

    /// The health check of an empty transmit batch, on TXDCTL (8.2.3.9.10) as for receive.
    pub(crate) fn check_tx_queue<B: Bus>(
        &self,
        regs: &Registers<B>,
        queue: ixgbe::TxQueue,
    ) -> Result<()> {
        let txdctl = regs.txdctl(queue).extract();
        let enabled = txdctl.is_set(TXDCTL::ENABLE);
        self.check_queue(
            regs,
            txdctl.get(),
            enabled,
            ("transmit", queue.get(), "TXDCTL"),
        )
    }

    /// What a read of a queue's control register says (`control`, its ENABLE bit `enabled`):
    /// all ones from a removed device, ENABLE clear after a reset. The last argument names the
    /// queue in the evidence: direction, number, register.
    fn check_queue<B: Bus>(
        &self,
        regs: &Registers<B>,
        control: u32,
        enabled: bool,
        (kind, queue, register): (&str, usize, &str),
    ) -> Result<()> {
        if control == u32::MAX && removed(regs) {
            return Err(self.fail(Failure::Removed));
        }
        if !enabled {
            return Err(self.fail(Failure::Reset {
                evidence: format!("{kind} queue {queue} reads disabled ({register}.ENABLE = 0)"),
            }));
        }
        Ok(())
    }

    /// Keeps the ring of a dropped receive handle until the port is reset or takes it back.
    fn park_rx(&self, ring: RxRing) {
        lock(&self.parked_rx).push(ring);
    }

    fn park_tx(&self, ring: TxRing) {
        lock(&self.parked_tx).push(ring);
    }

    /// The device address of every buffer the parked rings hold, and how many.
    pub(crate) fn parked_buffer_addrs(&self) -> Vec<u64> {
        let rx = lock(&self.parked_rx);
        let tx = lock(&self.parked_tx);
        let rx = rx.iter().flat_map(|r| r.held());
        let tx = tx.iter().flat_map(|t| t.in_flight());
        rx.chain(tx).map(Packet::device_addr).collect()
    }

    /// The ring of receive queue `queue`, if its handle was dropped.
    pub(crate) fn unpark_rx(&self, queue: usize) -> Option<RxRing> {
        let mut parked = lock(&self.parked_rx);
        let i = parked.iter().position(|r| r.queue.get() == queue)?;
        Some(parked.swap_remove(i))
    }

    /// The ring of transmit queue `queue`, if its handle was dropped.
    pub(crate) fn unpark_tx(&self, queue: usize) -> Option<TxRing> {
        let mut parked = lock(&self.parked_tx);
        let i = parked.iter().position(|r| r.queue.get() == queue)?;
        Some(parked.swap_remove(i))
    }
}

/// A lock whose holder cannot panic (pushes, removals): a poisoned one still guards a
/// consistent list.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the device has fallen off the bus: a removed PCIe device reads all ones, and
/// STATUS never does otherwise (its reserved bits read 0).
pub(crate) fn removed<B: Bus>(regs: &Registers<B>) -> bool {
    regs.status().get() == u32::MAX
}

/// A receive queue of an 82599 port, taken from it to be served on its own (by another thread,
/// say): its ring, its buffers and pool, and the registers of the port. Dropping it gives the
/// queue back to the port, which keeps its buffers until the device stops.
pub struct RxHandle<B: Bus> {
    ring: ManuallyDrop<RxRing>,
    regs: Registers<B>,
    shared: Arc<Shared>,
}

/// A transmit queue of an 82599 port, taken from it to be served on its own; see [`RxHandle`].
pub struct TxHandle<B: Bus> {
    ring: ManuallyDrop<TxRing>,
    regs: Registers<B>,
    shared: Arc<Shared>,
}

impl<B: Bus> RxHandle<B> {
    pub(super) fn new(ring: RxRing, regs: Registers<B>, shared: Arc<Shared>) -> Self {
        RxHandle {
            ring: ManuallyDrop::new(ring),
            regs,
            shared,
        }
    }

    /// Receives up to `max` packets into `out`, as [`Ixgbe::rx_batch`](super::Ixgbe::rx_batch)
    /// does for this queue. After the port was closed: [`Error::DeviceClosed`].
    #[inline]
    pub fn rx_batch<E: Extend<Packet>>(&mut self, out: &mut E, max: usize) -> Result<usize> {
        self.ring.rx_batch(&self.regs, &self.shared, out, max)
    }

    /// Waits up to `timeout` for packets, as [`Ixgbe::rx_wait`](super::Ixgbe::rx_wait) does
    /// for this queue: `true` when the next batch takes something, `false` on the timeout.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<bool> {
        self.ring.wait(&mut self.regs, &self.shared, timeout)
    }

    /// The queue's number.
    pub fn queue(&self) -> u16 {
        self.ring.queue.get() as u16
    }

    /// What this queue received so far.
    pub fn stats(&self) -> QueueStats {
        self.shared.rx_counters[self.ring.queue.get()].get()
    }

    /// The pool the queue's buffers come from.
    pub fn pool(&self) -> &Mempool {
        &self.ring.pool
    }

    /// The device address of every buffer the queue holds (posted or spare).
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        self.ring.held().map(Packet::device_addr).collect()
    }
}

impl<B: Bus> TxHandle<B> {
    pub(super) fn new(ring: TxRing, regs: Registers<B>, shared: Arc<Shared>) -> Self {
        TxHandle {
            ring: ManuallyDrop::new(ring),
            regs,
            shared,
        }
    }

    /// Sends packets from the front of `packets`, as [`Ixgbe::tx_batch`](super::Ixgbe::tx_batch)
    /// does for this queue. After the port was closed: [`Error::DeviceClosed`].
    #[inline]
    pub fn tx_batch(&mut self, packets: &mut std::collections::VecDeque<Packet>) -> Result<usize> {
        self.ring.tx_batch(&self.regs, &self.shared, packets)
    }

    /// The queue's number.
    pub fn queue(&self) -> u16 {
        self.ring.queue.get() as u16
    }

    /// What this queue sent so far.
    pub fn stats(&self) -> QueueStats {
        self.shared.tx_counters[self.ring.queue.get()].get()
    }

    /// Descriptors the device has not confirmed yet.
    pub fn pending(&self) -> usize {
        self.ring.pending()
    }

    /// The device address of every buffer the queue holds (sent, not yet confirmed).
    pub fn held_buffer_addrs(&self) -> Vec<u64> {
        self.ring.in_flight().map(Packet::device_addr).collect()
    }
}

impl<B: Bus> Drop for RxHandle<B> {
    fn drop(&mut self) {
        // SAFETY: `ring` is not touched again: this is the handle's drop.
        let ring = unsafe { ManuallyDrop::take(&mut self.ring) };
        self.shared.park_rx(ring);
    }
}

impl<B: Bus> Drop for TxHandle<B> {
    fn drop(&mut self) {
        // SAFETY: `ring` is not touched again: this is the handle's drop.
        let ring = unsafe { ManuallyDrop::take(&mut self.ring) };
        self.shared.park_tx(ring);
    }
}
