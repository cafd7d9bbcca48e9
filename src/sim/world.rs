//! The world: simulated ports, the links between them, traffic, and virtual time, which moves
//! one quantum per [`World::step`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::config::{DEFAULT_MAC, PortConfig};
use super::dma::Registry;
use super::frame::{Frame, FramePool};
use super::model::{Ctx, PortModel, Posted};
use super::port::Port;
use super::report::Report;
use super::traffic::{Sink, Source, generate};

/// One port of the world: its model, its link partner, and the frames on its wires.
pub(crate) struct PortSlot {
    pub(crate) dev: PortModel,
    pub(crate) partner: Option<usize>,
    /// Frames arriving at the port, received in the next step.
    pub(crate) rx_in: VecDeque<Frame>,
    /// Frames the port transmitted in this step, moved over the link at its end.
    pub(crate) out: Vec<Frame>,
}

/// Everything a world holds, behind the handles' shared reference.
pub(crate) struct WorldInner {
    pub(crate) ports: Vec<PortSlot>,
    /// Which descriptors hold which buffer address, over all ports.
    pub(crate) posted: Posted,
    pub(crate) pool: FramePool,
    /// Virtual time, in ns.
    pub(crate) virt: u64,
    pub(crate) quantum_ns: u64,
    pub(crate) sources: Vec<Source>,
    pub(crate) sinks: Vec<Sink>,
    pub(crate) steps: u64,
    pub(crate) auto_step: Option<u32>,
    pub(crate) accesses_since_step: u32,
}

/// What every handle on a world shares: the world, and its DMA memory.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) inner: Rc<RefCell<WorldInner>>,
    pub(crate) dma: Rc<RefCell<Registry>>,
}

impl Shared {
    /// Runs `f` on port `port`'s device with a context.
    pub(crate) fn with_dev<R>(
        &self,
        port: usize,
        f: impl FnOnce(&mut PortModel, &mut Ctx<'_>) -> R,
    ) -> R {
        let mut w = self.inner.borrow_mut();
        let dma = self.dma.borrow();
        let WorldInner {
            ports,
            posted,
            pool,
            ..
        } = &mut *w;
        let mut ctx = Ctx {
            dma: &dma,
            posted,
            pool,
            port: port as u16,
        };
        f(&mut ports[port].dev, &mut ctx)
    }

    pub(crate) fn after_access(&self) {
        let run = {
            let mut w = self.inner.borrow_mut();
            match w.auto_step {
                Some(n) => {
                    w.accesses_since_step += 1;
                    if w.accesses_since_step >= n {
                        w.accesses_since_step = 0;
                        true
                    } else {
                        false
                    }
                }
                None => false,
            }
        };
        if run {
            self.step();
        }
    }

    /// One quantum: delays, sources, every port's TX, the links, every port's RX. Returns how
    /// many frames moved (0 = nothing happened).
    pub(crate) fn step(&self) -> u64 {
        let mut w = self.inner.borrow_mut();
        let dma = self.dma.borrow();
        w.steps += 1;
        w.virt += w.quantum_ns;
        let virt = w.virt;
        let quantum = w.quantum_ns;
        let WorldInner {
            ports,
            posted,
            pool,
            sources,
            sinks,
            ..
        } = &mut *w;
        let mut activity = 0u64;
        for (i, p) in ports.iter_mut().enumerate() {
            let mut ctx = Ctx {
                dma: &dma,
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
                dma: &dma,
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
                dma: &dma,
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
/// Single-threaded: its handles are `Rc`s, and a clone is another handle on the same world.
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
        World {
            shared: Shared {
                inner: Rc::new(RefCell::new(WorldInner {
                    ports: Vec::new(),
                    posted: Posted::default(),
                    pool: FramePool::default(),
                    virt: 0,
                    quantum_ns: 10_000,
                    sources: Vec::new(),
                    sinks: Vec::new(),
                    steps: 0,
                    auto_step: None,
                    accesses_since_step: 0,
                })),
                dma: Rc::default(),
            },
        }
    }

    /// Sets how much virtual time one [`World::step`] covers.
    pub fn set_quantum(&self, quantum: std::time::Duration) {
        self.shared.inner.borrow_mut().quantum_ns = quantum.as_nanos().max(1) as u64;
    }

    /// Runs one [`World::step`] after every `n` register accesses of any port (`None`: never),
    /// so a driver loop that never returns to the test still sees time pass.
    pub fn set_auto_step(&self, every_n_accesses: Option<u32>) {
        let mut w = self.shared.inner.borrow_mut();
        w.auto_step = every_n_accesses.map(|n| n.max(1));
        w.accesses_since_step = 0;
    }

    /// Adds a port, powered on: registers at their reset values, EEPROM read, link coming up.
    pub fn add_port(&self, mut cfg: PortConfig) -> Port {
        let mut w = self.shared.inner.borrow_mut();
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
        let mut w = self.shared.inner.borrow_mut();
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
        let mut w = self.shared.inner.borrow_mut();
        for p in &mut w.ports {
            p.dev.quiescence_checks();
        }
        taken
    }

    /// Virtual time since the world was made.
    pub fn now(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.shared.inner.borrow().virt)
    }

    /// Every port's reports, port by port.
    pub fn reports(&self) -> Vec<(usize, Report)> {
        let w = self.shared.inner.borrow();
        w.ports
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.dev.reports.list.iter().cloned().map(move |r| (i, r)))
            .collect()
    }
}
