//! The world: simulated ports, the links between them, traffic, and virtual time, which moves
//! one quantum per [`World::step`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::config::{DEFAULT_MAC, PortConfig};
use super::dma::{Registry, SimDma};
use super::frame::{Frame, FramePool};
use super::model::{Ctx, PortModel, Posted};
use super::port::Port;
use super::report::Report;
use super::traffic::{Sink, SinkHandle, Source, SourceHandle, generate};
use crate::memory::DmaDomain;

/// One port of the world: its model, its link partner, and the frames on its wires.
pub(crate) struct PortSlot {
    pub(crate) dev: PortModel,
    pub(crate) partner: Option<usize>,
    /// Frames arriving at the port, received in the next step.
    pub(crate) rx_in: VecDeque<Frame>,
    /// Frames the port transmitted in this step, moved over the link at its end.
    pub(crate) out: Vec<Frame>,
}

/// Everything a world holds, behind the handles' lock.
pub(crate) struct WorldInner {
    pub(crate) ports: Vec<PortSlot>,
    /// Which descriptors hold which buffer address, over all ports.
    pub(crate) posted: Posted,
    pub(crate) pool: FramePool,
    /// The world's DMA memory: every region allocated through any of its ports.
    pub(crate) dma: Registry,
    /// Virtual time, in ns.
    pub(crate) virt: u64,
    pub(crate) quantum_ns: u64,
    pub(crate) sources: Vec<Source>,
    pub(crate) sinks: Vec<Sink>,
    pub(crate) steps: u64,
    pub(crate) auto_step: Option<u32>,
    pub(crate) accesses_since_step: u32,
}

/// What every handle on a world shares: the world and its DMA memory behind one lock, and the
/// world's DMA domain (fixed when the world is made, so read without the lock).
///
/// Locking: every public operation takes the lock once and holds it for the whole operation
/// (a register access with the step it may trigger, a [`World::step`], an allocation), and
/// nothing the model runs under the lock calls back into code that could take it again: the
/// model calls no driver or test code. A lock poisoned by a panic in another thread (a bug in
/// the model, as no driver input makes it panic) is taken over as it is, see [`Shared::lock`].
#[derive(Clone)]
pub(crate) struct Shared {
    inner: Arc<Mutex<WorldInner>>,
    pub(crate) domain: DmaDomain,
}

impl Shared {
    /// The world, locked until the guard drops.
    ///
    /// Poisoning: if another thread panicked while holding the lock, its panic has already
    /// been printed and fails that thread (and its test); this thread goes on with the world
    /// as the panic left it rather than panic a second time with a message that hides the
    /// first, or abort the process when the lock is taken in a `Drop` during unwinding (a
    /// driver that writes registers as it is dropped).
    pub(crate) fn lock(&self) -> MutexGuard<'_, WorldInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on port `port`'s device with a context, under one lock.
    pub(crate) fn with_dev<R>(
        &self,
        port: usize,
        f: impl FnOnce(&mut PortModel, &mut Ctx<'_>) -> R,
    ) -> R {
        self.lock().with_dev(port, f)
    }

    /// A register access: `f` on port `port`'s device, then the automatic step it may be
    /// due ([`World::set_auto_step`]), both under one lock.
    pub(crate) fn access<R>(
        &self,
        port: usize,
        f: impl FnOnce(&mut PortModel, &mut Ctx<'_>) -> R,
    ) -> R {
        let mut w = self.lock();
        let r = w.with_dev(port, f);
        w.after_access();
        r
    }

    /// One quantum under one lock; see [`WorldInner::step`].
    pub(crate) fn step(&self) -> u64 {
        self.lock().step()
    }
}

impl WorldInner {
    /// Runs `f` on port `port`'s device with a context.
    pub(crate) fn with_dev<R>(
        &mut self,
        port: usize,
        f: impl FnOnce(&mut PortModel, &mut Ctx<'_>) -> R,
    ) -> R {
        let WorldInner {
            ports,
            posted,
            pool,
            dma,
            ..
        } = self;
        let mut ctx = Ctx {
            dma,
            posted,
            pool,
            port: port as u16,
        };
        f(&mut ports[port].dev, &mut ctx)
    }

    /// Counts a register access and runs the step it makes due, if any.
    fn after_access(&mut self) {
        if let Some(n) = self.auto_step {
            self.accesses_since_step += 1;
            if self.accesses_since_step >= n {
                self.accesses_since_step = 0;
                self.step();
            }
        }
    }

    /// One quantum: delays, sources, every port's TX, the links, every port's RX. Returns how
    /// many frames moved (0 = nothing happened).
    pub(crate) fn step(&mut self) -> u64 {
        self.steps += 1;
        self.virt += self.quantum_ns;
        let virt = self.virt;
        let quantum = self.quantum_ns;
        let WorldInner {
            ports,
            posted,
            pool,
            dma,
            sources,
            sinks,
            ..
        } = self;
        let dma = &*dma;
        let mut activity = 0u64;
        for (i, p) in ports.iter_mut().enumerate() {
            let mut ctx = Ctx {
                dma,
                posted,
                pool,
                port: i as u16,
            };
            p.dev.advance(virt, &mut ctx);
        }
        for src in sources.iter_mut() {
            activity += generate(src, &mut ports[src.port], quantum, pool);
        }
        for (i, p) in ports.iter_mut().enumerate() {
            let mut ctx = Ctx {
                dma,
                posted,
                pool,
                port: i as u16,
            };
            let PortSlot { dev, out, .. } = p;
            activity += dev.run_tx(out, &mut ctx) as u64;
        }
        for i in 0..ports.len() {
            let mut out = std::mem::take(&mut ports[i].out);
            let partner = ports[i].partner;
            let loopback = ports[i].dev.loopback();
            for frame in out.drain(..) {
                for sink in sinks.iter_mut().filter(|s| s.port == i) {
                    sink.record(&frame);
                }
                if loopback {
                    let mut copy = pool.get();
                    copy.extend_from_slice(&frame.data);
                    ports[i].rx_in.push_back(Frame {
                        data: copy,
                        fcs_ok: frame.fcs_ok,
                    });
                }
                match partner {
                    Some(j) => ports[j].rx_in.push_back(frame),
                    None => pool.put(frame.data),
                }
            }
            ports[i].out = out;
        }
        for (i, p) in ports.iter_mut().enumerate() {
            let mut ctx = Ctx {
                dma,
                posted,
                pool,
                port: i as u16,
            };
            activity += p.dev.drain_fifo(&mut ctx) as u64;
            while let Some(f) = p.rx_in.pop_front() {
                activity += 1;
                p.dev.receive(f, &mut ctx);
            }
        }
        activity
    }
}

/// A set of simulated ports, the links between them, traffic sources and sinks.
///
/// A clone is another handle on the same world. The world and every handle on it ([`Port`],
/// [`SimBar`](super::SimBar), [`SimDma`], [`SourceHandle`], [`SinkHandle`]) are `Send` and
/// `Sync`: the ports of one world, and the queues of one port, may be driven from different
/// threads. Each register access and each [`World::step`] runs under one lock on the world,
/// so the model sees them one at a time, in some order.
#[derive(Clone)]
pub struct World {
    pub(crate) shared: Shared,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// An empty world with a quantum of 10 µs.
    pub fn new() -> Self {
        let dma = Registry::default();
        let domain = dma.domain;
        World {
            shared: Shared {
                inner: Arc::new(Mutex::new(WorldInner {
                    ports: Vec::new(),
                    posted: Posted::default(),
                    pool: FramePool::default(),
                    dma,
                    virt: 0,
                    quantum_ns: 10_000,
                    sources: Vec::new(),
                    sinks: Vec::new(),
                    steps: 0,
                    auto_step: None,
                    accesses_since_step: 0,
                })),
                domain,
            },
        }
    }

    /// Sets how much virtual time one [`World::step`] covers.
    pub fn set_quantum(&self, quantum: std::time::Duration) {
        self.shared.lock().quantum_ns = quantum.as_nanos().max(1) as u64;
    }

    /// Runs one [`World::step`] after every `n` register accesses of any port (`None`: never),
    /// so a driver loop that never returns to the test still sees time pass.
    pub fn set_auto_step(&self, every_n_accesses: Option<u32>) {
        let mut w = self.shared.lock();
        w.auto_step = every_n_accesses.map(|n| n.max(1));
        w.accesses_since_step = 0;
    }

    /// Adds a port, powered on: registers at their reset values, EEPROM read, link coming up.
    pub fn add_port(&self, mut cfg: PortConfig) -> Port {
        let mut w = self.shared.lock();
        let index = w.ports.len();
        if cfg.mac == DEFAULT_MAC {
            cfg.mac[5] = cfg.mac[5].wrapping_add(index as u8);
        }
        let mac = cfg.mac;
        w.ports.push(PortSlot {
            dev: PortModel::new(cfg, index as u32),
            partner: None,
            rx_in: VecDeque::new(),
            out: Vec::new(),
        });
        Port {
            shared: self.shared.clone(),
            index,
            mac,
        }
    }

    /// Links two ports: what `a` transmits, `b` receives, and the other way round.
    pub fn connect(&self, a: &Port, b: &Port) {
        let mut w = self.shared.lock();
        w.ports[a.index].partner = Some(b.index);
        w.ports[b.index].partner = Some(a.index);
    }

    /// Advances virtual time by one quantum: fires due delays, lets sources send, runs every
    /// port's TX, moves frames over the links and runs every port's RX. Deterministic.
    pub fn step(&self) {
        self.shared.step();
    }

    /// Steps until nothing moves any more (no frames generated, sent or received in a step) or
    /// `max_steps` have run; then runs the quiescence checks. Returns the steps taken.
    pub fn run_until_idle(&self, max_steps: usize) -> usize {
        let mut taken = 0;
        while taken < max_steps {
            taken += 1;
            if self.shared.step() == 0 {
                break;
            }
        }
        let mut w = self.shared.lock();
        for p in &mut w.ports {
            p.dev.quiescence_checks();
        }
        taken
    }

    /// Virtual time since the world was made.
    pub fn now(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.shared.lock().virt)
    }

    /// Every port's reports, port by port.
    pub fn reports(&self) -> Vec<(usize, Report)> {
        let w = self.shared.lock();
        w.ports
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.dev.reports.list.iter().cloned().map(move |r| (i, r)))
            .collect()
    }
}

/// Every public handle on a world may move to and be shared with other threads (issue 12's
/// multi-threaded forwarding against the model): checked at compile time.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<World>();
    send_sync::<Port>();
    send_sync::<super::SimBar>();
    send_sync::<SimDma>();
    send_sync::<SourceHandle>();
    send_sync::<SinkHandle>();
};

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that panics while it holds the world's lock poisons it; the other handles go
    /// on with the world as it was left instead of panicking a second time.
    #[test]
    fn a_poisoned_world_lock_is_taken_over() {
        let world = World::new();
        let port = world.add_port(PortConfig::default());
        let shared = world.shared.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = shared.lock();
            panic!("a panic under the world's lock (expected by this test)");
        })
        .join();
        assert!(panicked.is_err());
        assert!(world.shared.inner.is_poisoned());
        let before = port.access_count();
        port.bar().read_raw(0x8); // STATUS
        assert_eq!(port.access_count(), before + 1);
        world.step();
        assert_eq!(world.now(), std::time::Duration::from_micros(10));
    }
}
