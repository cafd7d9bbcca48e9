//! A behavioural model of the Intel 82599, for testing drivers without hardware.
//!
//! The model follows `research/ixgbe-model.md`: every register read and write goes through
//! [`SimBar`] (a [`Bus`]) into the model, which gives reads their side effects (clear-on-read
//! statistics, self-clearing reset, delayed bits, the queue-enable handshake), moves frames
//! between descriptor rings and simulated wires, and checks everything the driver does against
//! the datasheet. DMA goes through [`SimDma`], whose regions the model can check for liveness:
//! the model never touches memory the driver did not allocate through it or has freed.
//!
//! ```
//! use rixy::sim::{PortConfig, SourceConfig, World};
//! let world = World::new();
//! let a = world.add_port(PortConfig::default());
//! let b = world.add_port(PortConfig::default());
//! world.connect(&a, &b);
//! let sink = world.attach_sink(&b, 4);
//! // ... a driver runs on a.bar() and a.dma(); the test calls world.step() between its calls.
//! world.step();
//! assert_eq!(sink.frames(), 0);
//! ```
//!
//! ## Time
//!
//! Virtual time advances only in [`World::step`], by one quantum (10 µs by default). Delayed
//! state changes (reset, EEPROM auto-read, DMA init, queue enable, link-up) fire after both a
//! minimum time and a minimum number of reads of their register: with [`Timing::Fast`] after
//! two reads (and no wall time), so a driver's init finishes after a few polls without any
//! `step`; with [`Timing::Realistic`] after one read and datasheet-like wall-clock delays (reset
//! 1 ms, EEPROM and DMA init 5 ms, queue enable 200 µs, link 300 ms). A `step` also fires every
//! delay whose time has passed in virtual time.
//!
//! ## The checker
//!
//! Every violation becomes a [`Report`] with a severity, a rule name, the register or
//! descriptor, the value, the ring state, the datasheet section and the access index. Rules
//! (research notes §7; severities as the notes suggest):
//!
//! | rule | severity |
//! |---|---|
//! | `access-misaligned`, `access-width`, `access-outside-bar` | ERROR |
//! | `undefined-offset`, `read-write-only` | WARN |
//! | `write-read-only` (RO registers, statistics), `write-ro-bits` (EEC.ARD/EE_PRES…, RDRXCTL.DMAIDONE) | WARN |
//! | `reserved-bits-written` (EIMC bit 31, DTXMXSZRQ 31:12, TXDCTL reserved bits) | WARN |
//! | `access-within-1ms-of-reset` | PEDANTIC |
//! | `write-during-reset` (dropped), `write-before-reset-settled` (< 10 ms) | WARN |
//! | `config-before-init-done` (RX/TX set up before EEC.ARD and RDRXCTL.DMAIDONE read 1) | WARN |
//! | `no-eimc-after-reset`, `eims-zero`, `packet-buffer-size`, `secrx-handshake-skipped`, `tx-arbiter-enabled`, `autoc-without-semaphore` | INFO |
//! | `ring-base-invalid`, `ring-length-invalid`, `ring-outside-dma-memory`, `srrctl-bsizepacket`, `srrctl-desctype` (at enable) | ERROR |
//! | `ring-register-written-while-enabled` | ERROR |
//! | `tail-before-enable`, `tx-enable-without-te`, `crc-strip-mismatch` | ERROR |
//! | `ns-dis-not-set`, `dca-rxctrl-bit12`, `rdrxctl-rsc-bits`, `txdctl-thresholds`, `rxen-before-queues` | WARN |
//! | `head-written` (different value while enabled: WARN, ignored; same value: PEDANTIC) | WARN / PEDANTIC |
//! | `tail-out-of-range` (also at enable, with `head-out-of-range`: the queue stops), `tail-overrun`, `hw-descriptor-modified` | ERROR |
//! | `rx-buffer-address` (0, all ones, outside DMA memory), `rx-dma-fault`, `ring-dma-fault` | ERROR |
//! | `rx-buffer-overrun-latent` (BSIZEPACKET runs past the buffer's DMA region) | WARN |
//! | `rx-stale-dd` | WARN |
//! | `buffer-posted-twice`, `buffer-posted-while-in-tx`, `buffer-posted-while-in-rx` | ERROR |
//! | `tx-dtyp`, `tx-paylen-mismatch`, `tx-paylen-too-small`, `tx-too-many-descriptors`, `tx-buffer-address`, `head-writeback-fault` | ERROR |
//! | `tx-dtalen-zero`, `tx-no-ifcs`, `tx-oversize`, `tx-tso-not-modelled`, `tx-last-without-rs` (at quiescence) | WARN |
//! | `filter-changed-while-rxen` (FCTRL, RAL/RAH, MTA, VLNCTRL, MCSTCTRL), `rah0-av-cleared`, `interrupt-without-ivar` | WARN |
//! | `stat-high-without-low` | PEDANTIC |
//!
//! Rules that would fire per packet or per descriptor in a loop are reported once per queue
//! (or per reset) where noted in their text; a port keeps at most 10 000 reports.
//!
//! ## Any driver input
//!
//! No register access (any offset, width and value), descriptor content or order of operations
//! makes the model panic or hang: what the datasheet forbids is reported, and a queue whose
//! ring cannot work (an invalid base or length, a head or tail outside the ring at enable, a
//! ring it cannot read) stops until the driver disables and enables it again. One
//! [`World::step`] reads each running ring at most twice over
//! ([`ModelCounters::descriptor_reads`]), and every frame that reaches a port ends in exactly
//! one of its receive [`ModelCounters`], unless it is still on its way (injected for the next
//! step, or waiting in the FIFO: [`Port::rx_fifo_frames`]).
//! `tests/sim_fuzz.rs` holds the model to this with random driver sequences.

mod device;
mod dma;
mod frame;
mod report;
mod rx;
mod tx;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::memory::DmaDomain;
use crate::regs::ixgbe::RegisterId;
use crate::regs::{Bus, DmaMaster};

use device::{BAR_LEN, Ctx, Device, Holder};
use dma::Registry;
use frame::{FCS_LEN, Frame, FramePool, TEST_FRAME_LEN, WIRE_OVERHEAD};

pub use dma::SimDma;
pub use frame::{TEST_SRC_MAC, test_frame_seq};
pub use report::{Direction, Report, RingState, RuleSummary, Severity, by_rule};

/// How long delayed state changes take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timing {
    /// Two reads of the register, no wall time: init completes after a few polls.
    #[default]
    Fast,
    /// Datasheet-like wall-clock delays (reset ≈ 1 ms, link ≈ 300 ms) and one read.
    Realistic,
}

/// When the device reads a descriptor it owns (research notes §3 "Descriptor prefetch").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fetch {
    /// Snapshot at the tail bump: later driver writes to owned descriptors are ignored.
    #[default]
    Eager,
    /// Read each descriptor when it is used.
    Lazy,
}

/// The delayed state changes faults can hold back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delayed {
    /// CTRL.RST / LRST clearing themselves.
    Reset,
    /// EEC.ARD rising after a reset.
    EepromAutoRead,
    /// RDRXCTL.DMAIDONE rising after a reset.
    DmaInit,
    /// RXDCTL.ENABLE reading 1.
    RxEnable,
    /// TXDCTL.ENABLE reading 1.
    TxEnable,
    /// LINKS.LINK_UP rising.
    Link,
}

/// A receive write-back the device gets wrong (fault injection, [`Port::bad_write_backs`]): what
/// a driver's defensive receive path must survive. The frame's data is DMAed as usual (never
/// beyond BSIZEPACKET); only the descriptors that describe it lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadWriteBack {
    /// PKT_LEN of the frame's descriptor reads this many bytes, whatever was written (a value
    /// above SRRCTL.BSIZEPACKET is a length beyond the buffer).
    Length(u16),
    /// The frame's last descriptor lacks EOP, as if the frame went on in the next descriptor
    /// (DS 7.1.6.2: "EOP: end of packet").
    NoEop,
    /// The frame is spread over this many descriptors (at least 2, at most one per byte), EOP
    /// only on the last, as a frame longer than BSIZEPACKET would be (DS 7.1.6.2).
    Split(u8),
    /// The frame's last descriptor reports a MAC error (RXE in the advanced write-back, CE in
    /// the legacy one), as when FCTRL.SBP lets a bad frame through.
    MacError,
}

/// Configuration of one simulated port.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// MAC address in the EEPROM (`RAL`/`RAH[0]` after reset). The default address gets the port's
    /// number added to its last byte, so ports made with defaults differ.
    pub mac: [u8; 6],
    /// Delays of the delayed bits.
    pub timing: Timing,
    /// Descriptor fetch mode.
    pub fetch: Fetch,
    /// Strict mode: a tail written before ENABLE was read as 1 is ignored, and the MTA resets
    /// to garbage.
    pub strict: bool,
    /// Whether GPRC/GORC count frames later dropped for lack of descriptors or FIFO room (the
    /// Linux driver's "hardware counting issue"), or only frames that reach a ring.
    pub gprc_counts_drops: bool,
}

/// The MAC address [`PortConfig::default`] uses (plus the port number in the last byte).
pub const DEFAULT_MAC: [u8; 6] = [0x02, 0x00, 0x5E, 0x10, 0x00, 0x00];

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            mac: DEFAULT_MAC,
            timing: Timing::Fast,
            fetch: Fetch::Eager,
            strict: false,
            gprc_counts_drops: true,
        }
    }
}

/// What the model itself counted on one port, cumulative (never cleared by reads or resets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCounters {
    /// Frames written into RX rings.
    pub rx_frames: u64,
    /// Bytes written into RX rings (after CRC strip).
    pub rx_bytes: u64,
    /// RX descriptors written back.
    pub rx_descriptors: u64,
    /// Frames dropped for lack of descriptors with SRRCTL.DROP_EN (QPRDC).
    pub rx_dropped_no_desc: u64,
    /// Frames dropped because the RX FIFO was full (MPC).
    pub rx_missed: u64,
    /// Frames the L2 filter rejected.
    pub rx_filtered: u64,
    /// Frames dropped for MAC errors (runt, oversize, CRC).
    pub rx_errors: u64,
    /// Frames ignored because RXCTRL.RXEN was 0.
    pub rx_ignored: u64,
    /// Frames dropped because their queue was disabled, or stopped by a violation (an invalid
    /// ring, a ring the device cannot read).
    pub rx_dropped_queue_disabled: u64,
    /// Frames lost because the link was down.
    pub rx_lost_link_down: u64,
    /// Frames that were waiting in the receive FIFO when the device reset.
    pub rx_lost_reset: u64,
    /// Frames transmitted.
    pub tx_frames: u64,
    /// Bytes transmitted (without FCS).
    pub tx_bytes: u64,
    /// Packets the device could not send (bad descriptors or buffers).
    pub tx_dropped: u64,
    /// Descriptors read from the rings in memory (hand-over snapshots and fetches): the
    /// model's work. In one [`World::step`] a queue's ring is read at most twice over (a
    /// hand-over at enable, then its use), so a step's work is bounded by the rings' sizes.
    pub descriptor_reads: u64,
}

/// How fast a traffic source sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// 10 Gbit/s on virtual time (14.88 Mpps of 60-byte frames).
    #[default]
    LineRate,
    /// As many frames per step as the port has free RX descriptors: nothing is dropped.
    AsFastAsDescriptors,
    /// 10 Gbit/s, but paused while the port has no free RX descriptors, as a link partner
    /// honouring 802.3x flow control would: nothing is dropped, and a paused link does not save
    /// up what it could not send.
    LineRateWithFlowControl,
}

/// A traffic source: sequence-numbered 60-byte UDP frames like ixy's pktgen.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceConfig {
    /// Sending rate.
    pub pace: Pace,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Destination MAC (default: the port's own address).
    pub dst_mac: Option<[u8; 6]>,
    /// First sequence number.
    pub first_seq: u32,
}

struct Source {
    port: usize,
    cfg: SourceConfig,
    dst: [u8; 6],
    seq: u32,
    sent: u64,
    credit_bits: u64,
    stopped: bool,
}

#[derive(Default)]
struct Sink {
    port: usize,
    keep: usize,
    frames: u64,
    bytes: u64,
    bad_fcs: u64,
    kept: Vec<Vec<u8>>,
}

struct PortSlot {
    dev: Device,
    partner: Option<usize>,
    rx_in: VecDeque<Frame>,
    out: Vec<Frame>,
}

struct WorldInner {
    ports: Vec<PortSlot>,
    posted: HashMap<u64, Holder>,
    pool: FramePool,
    virt: u64,
    quantum_ns: u64,
    sources: Vec<Source>,
    sinks: Vec<Sink>,
    steps: u64,
    auto_step: Option<u32>,
    accesses_since_step: u32,
}

#[derive(Clone)]
struct Shared {
    inner: Rc<RefCell<WorldInner>>,
    dma: Rc<RefCell<Registry>>,
}

impl Shared {
    /// Runs `f` on port `port`'s device with a context.
    fn with_dev<R>(&self, port: usize, f: impl FnOnce(&mut Device, &mut Ctx<'_>) -> R) -> R {
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

    fn after_access(&self) {
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
    fn step(&self) -> u64 {
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
                    sink.frames += 1;
                    sink.bytes += frame.data.len() as u64;
                    if !frame.fcs_ok {
                        sink.bad_fcs += 1;
                    }
                    if sink.kept.len() < sink.keep {
                        sink.kept.push(frame.data.clone());
                    }
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

/// Frames a 10 Gbit/s link carries in one more quantum, with what is left over kept for the next.
fn line_rate_frames(src: &mut Source, quantum_ns: u64) -> u64 {
    // 10 Gbit/s = 10 bits per ns.
    src.credit_bits += quantum_ns * 10;
    let cost = ((TEST_FRAME_LEN + FCS_LEN + WIRE_OVERHEAD) * 8) as u64;
    let n = src.credit_bits / cost;
    src.credit_bits -= n * cost;
    n
}

/// Frames the port can take into its RX ring now, counting the ones already on their way.
fn rx_room(src: &Source, port: &mut PortSlot, pool: &mut FramePool) -> u64 {
    let mut probe = pool.get();
    frame::test_frame(&mut probe, src.dst, src.seq);
    let q = port.dev.select_queue(&probe);
    pool.put(probe);
    let room = port.dev.rx_room(q);
    let queued = port.rx_in.len() + port.dev.fifo.len();
    room.saturating_sub(queued) as u64
}

/// Makes the frames a source sends in one quantum.
fn generate(src: &mut Source, port: &mut PortSlot, quantum_ns: u64, pool: &mut FramePool) -> u64 {
    if src.stopped {
        return 0;
    }
    let mut n = match src.cfg.pace {
        Pace::LineRate => line_rate_frames(src, quantum_ns),
        Pace::AsFastAsDescriptors => rx_room(src, port, pool),
        Pace::LineRateWithFlowControl => {
            let room = rx_room(src, port, pool);
            let n = line_rate_frames(src, quantum_ns);
            if n > room {
                src.credit_bits = 0;
            }
            n.min(room)
        }
    };
    if let Some(count) = src.cfg.count {
        n = n.min(count.saturating_sub(src.sent));
        if src.sent + n >= count {
            src.stopped = true;
        }
    }
    for _ in 0..n {
        let mut data = pool.get();
        frame::test_frame(&mut data, src.dst, src.seq);
        src.seq = src.seq.wrapping_add(1);
        port.rx_in.push_back(Frame { data, fcs_ok: true });
    }
    src.sent += n;
    n
}

/// A set of simulated ports, the links between them, traffic sources and sinks.
/// Single-threaded: its handles are `Rc`s, and a clone is another handle on the same world.
#[derive(Clone)]
pub struct World {
    shared: Shared,
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
                    posted: HashMap::new(),
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
            dev: Device::new(cfg, index as u32),
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

    /// Plugs a traffic source into `p`'s receive side.
    pub fn attach_source(&self, p: &Port, src: SourceConfig) -> SourceHandle {
        let mut w = self.shared.inner.borrow_mut();
        w.sources.push(Source {
            port: p.index,
            dst: src.dst_mac.unwrap_or(p.mac),
            seq: src.first_seq,
            cfg: src,
            sent: 0,
            credit_bits: 0,
            stopped: false,
        });
        SourceHandle {
            shared: self.shared.clone(),
            index: w.sources.len() - 1,
        }
    }

    /// Counts every frame `p` transmits, keeping the first `keep` of them.
    pub fn attach_sink(&self, p: &Port, keep: usize) -> SinkHandle {
        let mut w = self.shared.inner.borrow_mut();
        w.sinks.push(Sink {
            port: p.index,
            keep,
            ..Sink::default()
        });
        SinkHandle {
            shared: self.shared.clone(),
            index: w.sinks.len() - 1,
        }
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

/// A handle on one simulated 82599 port.
#[derive(Clone)]
pub struct Port {
    shared: Shared,
    index: usize,
    mac: [u8; 6],
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
            registry: self.shared.dma.clone(),
        }
    }

    /// Every protocol violation seen so far.
    pub fn reports(&self) -> Vec<Report> {
        self.shared.inner.borrow().ports[self.index]
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
        let mut w = self.shared.inner.borrow_mut();
        w.ports[self.index].dev.reports.list.clear();
        w.ports[self.index].dev.reports.dropped = 0;
    }

    /// Reports that did not fit the port's report log.
    pub fn reports_dropped(&self) -> u64 {
        self.shared.inner.borrow().ports[self.index]
            .dev
            .reports
            .dropped
    }

    /// Frames waiting in the receive FIFO for descriptors.
    pub fn rx_fifo_frames(&self) -> usize {
        self.shared.inner.borrow().ports[self.index].dev.fifo.len()
    }

    /// What the model counted.
    pub fn stats_snapshot(&self) -> ModelCounters {
        self.shared.inner.borrow().ports[self.index].dev.counters
    }

    /// Register accesses so far (the access index of the last one).
    pub fn access_count(&self) -> u64 {
        self.shared.inner.borrow().ports[self.index]
            .dev
            .access_index
    }

    /// Element `idx` of register `id` as stored, without the side effects of a read (for
    /// tests: a statistics counter is not cleared, no delay advances).
    pub fn register(&self, id: RegisterId, idx: usize) -> u32 {
        let id = id.info().alias_of.unwrap_or(id);
        self.shared.inner.borrow().ports[self.index]
            .dev
            .get(id, idx)
    }

    /// The ring of queue `queue` as the device uses it (head, tail, descriptors), or `None`
    /// while the queue is not running: disabled, still enabling, or stopped because its
    /// configuration or a tail was invalid (the reports say which). Queues are 0 to 127.
    pub fn ring(&self, direction: Direction, queue: u16) -> Option<RingState> {
        let w = self.shared.inner.borrow();
        w.ports[self.index]
            .dev
            .running_ring(direction, usize::from(queue))
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.shared.inner.borrow().ports[self.index].dev.link_up
    }

    /// Interrupt causes pending and enabled (EICR & EIMS).
    pub fn interrupts_pending(&self) -> u32 {
        let w = self.shared.inner.borrow();
        let d = &w.ports[self.index].dev;
        d.get(RegisterId::EICR, 0) & d.get(RegisterId::EIMS, 0)
    }

    // ---- faults ------------------------------------------------------------------------------

    /// Fault: the link goes down (frames arriving are lost, TX freezes, EICR.LSC is raised) or
    /// comes back (after the link delay; LSC again).
    pub fn set_link(&self, up: bool) {
        self.shared.inner.borrow_mut().ports[self.index]
            .dev
            .set_carrier(up);
    }

    /// Fault: the delayed change `d` never completes (the bit never flips).
    pub fn never_complete(&self, d: Delayed) {
        self.shared.inner.borrow_mut().ports[self.index]
            .dev
            .set_never(d, true);
    }

    /// Undoes [`Port::never_complete`]: `d` completes on the next poll or step that is due.
    pub fn allow_complete(&self, d: Delayed) {
        self.shared.inner.borrow_mut().ports[self.index]
            .dev
            .set_never(d, false);
    }

    /// Fault: `n` test frames (to the port's own address) arrive at once, on the next step.
    pub fn inject_burst(&self, n: usize) {
        let mut w = self.shared.inner.borrow_mut();
        let WorldInner { ports, pool, .. } = &mut *w;
        for seq in 0..n {
            let mut data = pool.get();
            frame::test_frame(&mut data, self.mac, seq as u32);
            ports[self.index]
                .rx_in
                .push_back(Frame { data, fcs_ok: true });
        }
    }

    /// Puts one frame (destination MAC to payload, without FCS) on the port's wire; it arrives
    /// on the next step. With `fcs_ok = false` its FCS is wrong.
    pub fn inject_frame(&self, data: &[u8], fcs_ok: bool) {
        let mut w = self.shared.inner.borrow_mut();
        let WorldInner { ports, pool, .. } = &mut *w;
        let mut v = pool.get();
        v.extend_from_slice(data);
        ports[self.index].rx_in.push_back(Frame { data: v, fcs_ok });
    }

    /// Fault: the next `frames` frames the port writes into its receive rings are written back
    /// wrongly, as `fault` says (after any bad write-backs still pending).
    pub fn bad_write_backs(&self, fault: BadWriteBack, frames: usize) {
        let mut w = self.shared.inner.borrow_mut();
        let pending = &mut w.ports[self.index].dev.bad_write_backs;
        pending.extend(std::iter::repeat_n(fault, frames));
    }

    /// Bad write-backs still to come ([`Port::bad_write_backs`]).
    pub fn bad_write_backs_pending(&self) -> usize {
        self.shared.inner.borrow().ports[self.index]
            .dev
            .bad_write_backs
            .len()
    }

    /// Cancels the bad write-backs still to come: from now on every write-back is right.
    pub fn clear_bad_write_backs(&self) {
        self.shared.inner.borrow_mut().ports[self.index]
            .dev
            .bad_write_backs
            .clear();
    }

    /// Fault: every statistics counter is set `headroom` below its wrap (2^32, or 2^36 for the
    /// octet counters).
    pub fn preload_stats(&self, headroom: u64) {
        self.shared.inner.borrow_mut().ports[self.index]
            .dev
            .preload_stats(headroom);
    }

    /// Fault: the device falls off the bus. Every read returns 0xFFFF_FFFF, writes are ignored,
    /// DMA stops.
    pub fn surprise_removal(&self) {
        self.shared.inner.borrow_mut().ports[self.index].dev.removed = true;
    }

    /// Fault: a spontaneous device reset (registers to defaults, queues off, DMA stopped) that
    /// completes after the reset delay.
    pub fn spontaneous_reset(&self) {
        self.shared
            .with_dev(self.index, |d, ctx| d.spontaneous_reset(ctx));
    }
}

/// A handle on one traffic source.
pub struct SourceHandle {
    shared: Shared,
    index: usize,
}

impl SourceHandle {
    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.shared.inner.borrow().sources[self.index].sent
    }

    /// The sequence number of the next frame.
    pub fn next_seq(&self) -> u32 {
        self.shared.inner.borrow().sources[self.index].seq
    }

    /// Stops the source for good.
    pub fn stop(&self) {
        self.shared.inner.borrow_mut().sources[self.index].stopped = true;
    }
}

/// A handle on one traffic sink.
pub struct SinkHandle {
    shared: Shared,
    index: usize,
}

impl SinkHandle {
    /// Frames received.
    pub fn frames(&self) -> u64 {
        self.shared.inner.borrow().sinks[self.index].frames
    }

    /// Bytes received (destination MAC to payload, without FCS).
    pub fn bytes(&self) -> u64 {
        self.shared.inner.borrow().sinks[self.index].bytes
    }

    /// Frames received with a wrong (or missing) FCS.
    pub fn bad_fcs(&self) -> u64 {
        self.shared.inner.borrow().sinks[self.index].bad_fcs
    }

    /// The frames kept (the first `keep`).
    pub fn kept(&self) -> Vec<Vec<u8>> {
        self.shared.inner.borrow().sinks[self.index].kept.clone()
    }
}

/// The BAR0 of a simulated port: a [`Bus`] whose every access runs the model.
#[derive(Clone)]
pub struct SimBar {
    shared: Shared,
    port: usize,
}

impl std::fmt::Debug for SimBar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBar").field("port", &self.port).finish()
    }
}

impl SimBar {
    /// A 32-bit read at any offset, checked by the model (an offset the [`Bus`] contract would
    /// forbid is reported, not undefined behaviour).
    pub fn read_raw(&self, offset: usize) -> u32 {
        let v = self.shared.with_dev(self.port, |d, ctx| {
            if let Some(bad) = bad_offset(d, offset, 4) {
                return bad;
            }
            d.read32(offset, ctx)
        });
        self.shared.after_access();
        v
    }

    /// A 32-bit write at any offset, checked by the model.
    pub fn write_raw(&self, offset: usize, value: u32) {
        self.shared.with_dev(self.port, |d, ctx| {
            if bad_offset(d, offset, 4).is_none() {
                d.write32(offset, value, ctx);
            }
        });
        self.shared.after_access();
    }

    fn narrow(&self, offset: usize, width: u32, write: bool) -> u32 {
        self.shared.with_dev(self.port, |d, _| {
            d.access_index += 1;
            d.report(
                Severity::Error,
                "access-width",
                "8.1",
                None,
                Some(offset as u64),
                None,
                format!(
                    "{width}-bit {} at {offset:#07x}: registers take 32-bit accesses only{}",
                    if write { "write" } else { "read" },
                    if write { "; dropped" } else { "" }
                ),
            );
            d.peek(offset & !3)
        })
    }
}

/// Reports an access that is misaligned or outside the BAR; returns what a read gives then.
fn bad_offset(d: &mut Device, offset: usize, width: usize) -> Option<u32> {
    let rule = if offset.checked_add(width).is_none_or(|e| e > BAR_LEN) {
        "access-outside-bar"
    } else if !offset.is_multiple_of(4) {
        "access-misaligned"
    } else {
        return None;
    };
    d.access_index += 1;
    d.report(
        Severity::Error,
        rule,
        "8.1",
        None,
        Some(offset as u64),
        None,
        format!("access at {offset:#x}: registers are dword-aligned 32-bit words in a {BAR_LEN:#x}-byte BAR; the access is dropped"),
    );
    Some(!0)
}

/// A simulated port reaches the DMA memory of its world, and no other.
impl DmaMaster for SimBar {
    fn dma_domain(&self) -> DmaDomain {
        self.shared.dma.borrow().domain
    }
}

impl Bus for SimBar {
    fn len(&self) -> usize {
        BAR_LEN
    }

    unsafe fn read8(&self, offset: usize) -> u8 {
        let v = self.narrow(offset, 8, false);
        v.to_le_bytes()[offset % 4]
    }

    unsafe fn read16(&self, offset: usize) -> u16 {
        let v = self.narrow(offset, 16, false).to_le_bytes();
        let i = (offset % 4) & !1;
        u16::from_le_bytes([v[i], v[i + 1]])
    }

    unsafe fn read32(&self, offset: usize) -> u32 {
        self.read_raw(offset)
    }

    unsafe fn read64(&self, offset: usize) -> u64 {
        self.narrow(offset, 64, false);
        let lo = self.read_raw(offset);
        // Saturating: an offset at the top of the address space is outside the BAR, reported.
        let hi = self.read_raw(offset.saturating_add(4));
        u64::from(lo) | u64::from(hi) << 32
    }

    unsafe fn write8(&self, offset: usize, _value: u8) {
        self.narrow(offset, 8, true);
    }

    unsafe fn write16(&self, offset: usize, _value: u16) {
        self.narrow(offset, 16, true);
    }

    unsafe fn write32(&self, offset: usize, value: u32) {
        self.write_raw(offset, value);
    }

    unsafe fn write64(&self, offset: usize, value: u64) {
        self.shared.with_dev(self.port, |d, _| {
            d.access_index += 1;
            d.report(
                Severity::Error,
                "access-width",
                "8.1",
                None,
                Some(offset as u64),
                None,
                format!("64-bit write at {offset:#07x}: registers take 32-bit accesses only; done as two 32-bit writes"),
            );
        });
        self.write_raw(offset, value as u32);
        self.write_raw(offset.saturating_add(4), (value >> 32) as u32);
    }
}
