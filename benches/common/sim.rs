//! The driver benchmarks' fixtures: the ixgbe driver on simulated 82599 ports whose link
//! partners never make it wait, the same traffic with the model alone, and the timer that lets a
//! benchmark count the driver's cycles apart from the model's.
//!
//! ## The traffic
//!
//! Port `rx` has a traffic source that sends as fast as the port has free receive descriptors
//! (`Pace::AsFastAsDescriptors`): after every `World::step` the receive ring is full again. Port
//! `tx` has a sink and no partner: every descriptor handed over is sent, and its DD written back,
//! in the next step. One iteration is one step and one batch: `rx` receives a batch and frees
//! it, `tx` allocates a batch and sends it, `fwd` receives a batch on one port, touches one byte
//! of each packet and sends the batch on the other (ixy's forwarder, one direction).
//!
//! ## The model's share
//!
//! The model runs in the same thread as the driver: in `World::step` and behind every register
//! access (a tail write snapshots and checks the descriptors it hands over). Two ways to take it
//! out, both used:
//!
//! - [`MeteredDriver::driver_cycles`] times the model inline: the step is left out of the measured
//!   interval and every register access is timed by [`Metered`] and subtracted, as is the
//!   timer's own cost ([`TimerCost`]). What is left is the driver (and the forwarder's touch).
//! - [`Replay`] measures the model alone: the same world and traffic, with the driver replaced by
//!   the least a driver can do for the model (write the descriptors it needs, move the tails; no
//!   status checks, no mempool, no bookkeeping). Total minus this is a second estimate of the
//!   driver's share; it leaves out the bare descriptor stores, which the replay does too.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::rc::Rc;

use criterion::measurement::Measurement;
use criterion::{BenchmarkGroup, BenchmarkId, Throughput};
use rixy::Config;
use rixy::frame::touch;
use rixy::ixgbe::Ixgbe;
use rixy::memory::DmaDomain;
use rixy::memory::{Mempool, Packet};
use rixy::regs::Descriptor;
use rixy::regs::ixgbe::adv_tx_desc::to_device::{CMD_TYPE_LEN, OLINFO_STATUS};
use rixy::regs::ixgbe::{AdvRxDesc, AdvTxDesc, RegisterId, Registers, RxQueue, TxQueue};
use rixy::regs::{Bus, DmaMaster};
use rixy::sim::{Pace, Port, PortConfig, Severity, SimBar, SourceConfig, World};
use tock_registers::interfaces::Writeable;

use super::{Tsc, now};

/// Bytes of the frames the source sends (and the `tx` benchmark sends): the minimum frame.
pub const FRAME_LEN: usize = 60;

/// Which path a benchmark drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Receive a batch and free it.
    Rx,
    /// Allocate a batch and send it.
    Tx,
    /// Receive a batch on one port, touch one byte of each packet, send it on the other.
    Fwd,
}

impl Kind {
    fn receives(self) -> bool {
        self != Kind::Tx
    }
    fn sends(self) -> bool {
        self != Kind::Rx
    }
}

/// One benchmark's setting.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// The path.
    pub kind: Kind,
    /// Packets per batch.
    pub batch: usize,
    /// Descriptors per ring (both directions).
    pub ring: usize,
}

impl Setup {
    fn config(&self) -> Config {
        Config {
            rx_ring_size: self.ring,
            tx_ring_size: self.ring,
            ..Config::default()
        }
    }
}

/// The simulated ports of a setup: a source-fed receive port and a sink-drained transmit port,
/// each only if the path needs it.
struct Ports {
    world: World,
    rx: Option<Port>,
    tx: Option<Port>,
}

impl Ports {
    fn new(kind: Kind) -> Ports {
        let world = World::new();
        let rx = kind.receives().then(|| {
            let p = world.add_port(PortConfig::default());
            world.attach_source(
                &p,
                SourceConfig {
                    pace: Pace::AsFastAsDescriptors,
                    ..SourceConfig::default()
                },
            );
            p
        });
        let tx = kind.sends().then(|| {
            let p = world.add_port(PortConfig::default());
            world.attach_sink(&p, 0);
            p
        });
        Ports { world, rx, tx }
    }

    /// Panics if the model saw the driver break a rule: a benchmark of a wrong driver measures
    /// nothing.
    fn check(&self) {
        for (port, report) in self.world.reports() {
            assert!(
                report.severity > Severity::Warn,
                "port {port}: the model reports {report:?}"
            );
        }
    }
}

/// A bus that counts the cycles its accesses spend in the bus below (the model, for a
/// [`SimBar`]) and how many accesses there were.
pub struct Metered<I> {
    inner: I,
    spent: Rc<Cell<u64>>,
    accesses: Rc<Cell<u64>>,
}

impl<I: Bus> Metered<I> {
    /// `inner`, metered into two shared counters.
    pub fn new(inner: I, spent: Rc<Cell<u64>>, accesses: Rc<Cell<u64>>) -> Self {
        Metered {
            inner,
            spent,
            accesses,
        }
    }

    #[inline(always)]
    fn timed<T>(&self, access: impl FnOnce(&I) -> T) -> T {
        let start = now();
        let value = access(&self.inner);
        let end = now();
        self.spent.set(self.spent.get() + end.wrapping_sub(start));
        self.accesses.set(self.accesses.get() + 1);
        value
    }
}

impl<I: Bus> Bus for Metered<I> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    unsafe fn read8(&self, offset: usize) -> u8 {
        // SAFETY: the caller upholds the contract, which is the same for the inner bus.
        self.timed(|b| unsafe { b.read8(offset) })
    }
    unsafe fn read16(&self, offset: usize) -> u16 {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.read16(offset) })
    }
    unsafe fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.read32(offset) })
    }
    unsafe fn read64(&self, offset: usize) -> u64 {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.read64(offset) })
    }
    unsafe fn write8(&self, offset: usize, value: u8) {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.write8(offset, value) })
    }
    unsafe fn write16(&self, offset: usize, value: u16) {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.write16(offset, value) })
    }
    unsafe fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.write32(offset, value) })
    }
    unsafe fn write64(&self, offset: usize, value: u64) {
        // SAFETY: as above.
        self.timed(|b| unsafe { b.write64(offset, value) })
    }
}

impl<I: DmaMaster> DmaMaster for Metered<I> {
    fn dma_domain(&self) -> DmaDomain {
        self.inner.dma_domain()
    }
}

/// A bus that does nothing, to measure what [`Metered`] itself costs.
struct NullBus;

impl Bus for NullBus {
    fn len(&self) -> usize {
        usize::MAX
    }
    unsafe fn read8(&self, _: usize) -> u8 {
        0
    }
    unsafe fn read16(&self, _: usize) -> u16 {
        0
    }
    unsafe fn read32(&self, _: usize) -> u32 {
        0
    }
    unsafe fn read64(&self, _: usize) -> u64 {
        0
    }
    unsafe fn write8(&self, _: usize, _: u8) {}
    unsafe fn write16(&self, _: usize, _: u16) {}
    unsafe fn write32(&self, _: usize, _: u32) {}
    unsafe fn write64(&self, _: usize, _: u64) {}
}

/// What the timer adds to a measured interval, in cycles.
#[derive(Clone, Copy, Debug)]
pub struct TimerCost {
    /// What an empty interval (`now()` right after `now()`) reads.
    pub interval: u64,
    /// What one access through [`Metered`] adds to an enclosing interval beyond the cycles it
    /// records itself (the timer reads, the counter updates).
    pub metered_access: u64,
}

impl TimerCost {
    /// Measures both, as medians of many tries.
    pub fn calibrate() -> TimerCost {
        fn median(mut v: Vec<u64>) -> u64 {
            v.sort_unstable();
            v[v.len() / 2]
        }
        let interval = median(
            (0..10_001)
                .map(|_| {
                    let a = now();
                    now().wrapping_sub(a)
                })
                .collect(),
        );
        const ACCESSES: u64 = 64;
        let spent = Rc::new(Cell::new(0));
        let bus = Metered::new(NullBus, spent.clone(), Rc::default());
        let metered_access = median(
            (0..1001)
                .map(|_| {
                    spent.set(0);
                    let a = now();
                    for i in 0..ACCESSES {
                        // SAFETY: NullBus has no preconditions; it touches no memory.
                        unsafe { std::hint::black_box(&bus).write32(i as usize * 4, 0) };
                    }
                    let total = now().wrapping_sub(a);
                    total.saturating_sub(interval + spent.get()) / ACCESSES
                })
                .collect(),
        );
        TimerCost {
            interval,
            metered_access,
        }
    }
}

/// The real driver on the ports of a [`Setup`].
pub struct Driver<B: Bus> {
    setup: Setup,
    ports: Ports,
    rx: Option<Ixgbe<B>>,
    tx: Option<Ixgbe<B>>,
    /// The generator's pool (`tx`).
    pool: Option<Mempool>,
    packets: VecDeque<Packet>,
    /// Batches run, and packets that went all the way (received, sent or forwarded).
    batches: u64,
    moved: u64,
}

impl Driver<SimBar> {
    /// The driver, on the model's own bus.
    pub fn plain(setup: Setup) -> Self {
        Driver::new(setup, |p| p.bar())
    }
}

/// The driver on a [`Metered`] bus, with the counters and the timer's cost.
pub struct MeteredDriver {
    driver: Driver<Metered<SimBar>>,
    spent: Rc<Cell<u64>>,
    accesses: Rc<Cell<u64>>,
    cost: TimerCost,
}

impl MeteredDriver {
    /// Sets up `setup` with every register access metered.
    pub fn new(setup: Setup) -> Self {
        let spent = Rc::new(Cell::new(0));
        let accesses = Rc::new(Cell::new(0));
        let driver = Driver::new(setup, |p| {
            Metered::new(p.bar(), spent.clone(), accesses.clone())
        });
        MeteredDriver {
            driver,
            spent,
            accesses,
            cost: TimerCost::calibrate(),
        }
    }

    /// Runs `iters` iterations and returns the cycles the driver spent in them: each batch is
    /// timed without the step before it, and the model's handling of the driver's register
    /// accesses and the timer's own cost are taken out.
    pub fn driver_cycles(&mut self, iters: u64) -> u64 {
        self.spent.set(0);
        self.accesses.set(0);
        let mut measured = 0u64;
        for _ in 0..iters {
            self.driver.step();
            let start = now();
            self.driver.batch();
            measured += now().wrapping_sub(start);
        }
        let overhead = iters * self.cost.interval + self.accesses.get() * self.cost.metered_access;
        measured.saturating_sub(self.spent.get() + overhead)
    }

    /// The timer's cost measured at setup.
    pub fn cost(&self) -> TimerCost {
        self.cost
    }

    /// See [`Driver::check`].
    pub fn check(&self) {
        self.driver.check();
    }
}

impl<B: Bus + DmaMaster> Driver<B> {
    /// Builds the world, opens the driver on each port with a bus made by `bus`, and runs until
    /// the rings are in their steady state.
    pub fn new(setup: Setup, bus: impl Fn(&Port) -> B) -> Self {
        let ports = Ports::new(setup.kind);
        let config = setup.config();
        let open = |p: &Port| {
            Ixgbe::new(format!("sim:{}", p.index()), bus(p), &p.dma(), &config)
                .expect("the driver opens on the model")
        };
        let rx = ports.rx.as_ref().map(open);
        let tx = ports.tx.as_ref().map(open);
        let pool = ports
            .tx
            .as_ref()
            .filter(|_| setup.kind == Kind::Tx)
            .map(|p| {
                let pool =
                    Mempool::new(&p.dma(), 2 * setup.ring, config.buffer_size).expect("a tx pool");
                // Fill every buffer with a frame once, as a generator does.
                let mut all = Vec::new();
                pool.alloc_bulk(&mut all, pool.capacity());
                for packet in &mut all {
                    packet.set_len(FRAME_LEN).expect("a frame fits");
                    packet.fill(0);
                    packet[..6].fill(0xff);
                    packet[12..14].copy_from_slice(&[0x08, 0x00]);
                }
                pool
            });
        let mut d = Driver {
            setup,
            ports,
            rx,
            tx,
            pool,
            packets: VecDeque::with_capacity(setup.batch),
            batches: 0,
            moved: 0,
        };
        d.warm_up();
        d
    }

    fn warm_up(&mut self) {
        for _ in 0..2 * self.setup.ring.div_ceil(self.setup.batch) + 2 {
            self.step();
            self.batch();
        }
        self.check();
    }

    /// Advances the model by one step: the source refills the receive ring, the transmit ring
    /// is sent and written back.
    #[inline(always)]
    pub fn step(&self) {
        self.ports.world.step();
    }

    /// The driver's part of one iteration: one batch of the setup's path.
    #[inline(always)]
    pub fn batch(&mut self) {
        let n = self.setup.batch;
        let moved = match self.setup.kind {
            Kind::Rx => {
                let rx = self.rx.as_mut().expect("rx port");
                let got = rx.rx_batch(0, &mut self.packets, n).expect("rx_batch");
                Mempool::free_bulk(self.packets.drain(..));
                got
            }
            Kind::Tx => {
                let pool = self.pool.as_ref().expect("tx pool");
                pool.alloc_bulk(&mut self.packets, n);
                for p in self.packets.iter_mut() {
                    p.set_len(FRAME_LEN).expect("a frame fits");
                }
                let tx = self.tx.as_mut().expect("tx port");
                let sent = tx.tx_batch(0, &mut self.packets).expect("tx_batch");
                Mempool::free_bulk(self.packets.drain(..));
                sent
            }
            Kind::Fwd => {
                let rx = self.rx.as_mut().expect("rx port");
                rx.rx_batch(0, &mut self.packets, n).expect("rx_batch");
                for p in self.packets.iter_mut() {
                    touch(p);
                }
                let tx = self.tx.as_mut().expect("tx port");
                let sent = tx.tx_batch(0, &mut self.packets).expect("tx_batch");
                Mempool::free_bulk(self.packets.drain(..));
                sent
            }
        };
        self.batches += 1;
        self.moved += moved as u64;
    }

    /// One iteration: a step, then a batch.
    #[inline(always)]
    pub fn iteration(&mut self) {
        self.step();
        self.batch();
    }

    /// Panics unless every batch so far was full (the driver never waited) and the model saw no
    /// rule broken.
    pub fn check(&self) {
        assert_eq!(
            self.moved,
            self.batches * self.setup.batch as u64,
            "{:?}: a batch came up short, so the driver waited",
            self.setup
        );
        self.ports.check();
    }
}

/// One descriptor ring of a port, driven by [`Replay`] directly in memory.
struct RingView {
    base: NonNull<u8>,
    mask: usize,
    next: usize,
}

impl RingView {
    /// The ring whose base address registers are `low`/`high` for queue 0 of `port`.
    fn of(port: &Port, low: RegisterId, high: RegisterId, size: usize) -> RingView {
        let addr = u64::from(port.register(low, 0)) | u64::from(port.register(high, 0)) << 32;
        RingView {
            // The simulator's DMA addresses are the virtual addresses.
            base: NonNull::new(addr as *mut u8).expect("the ring is set up"),
            mask: size - 1,
            next: 0,
        }
    }

    /// Descriptor `i`'s memory.
    fn slot(&self, i: usize) -> NonNull<u8> {
        // SAFETY: `i & mask < size` descriptors of 16 bytes lie inside the ring's region.
        unsafe { self.base.add((i & self.mask) * 16) }
    }
}

/// The model alone: the world, the ports and the traffic of a [`Setup`], with the driver's
/// work replaced by the least the model needs. The real driver opens the ports (so the model is
/// set up exactly as in the benchmark of the driver) and is then never called again; its rings
/// and buffers stay alive inside this value.
pub struct Replay {
    setup: Setup,
    ports: Ports,
    _drivers: Vec<Ixgbe<SimBar>>,
    rx: Option<(Registers<SimBar>, RingView)>,
    tx: Option<(Registers<SimBar>, RingView)>,
    /// The buffer posted in each receive descriptor.
    posted: Vec<u64>,
    /// Buffers free to post or send, and those sent in the last batch.
    free: VecDeque<u64>,
    in_flight: VecDeque<u64>,
    _buffers: Vec<Packet>,
    batches: u64,
}

impl Replay {
    /// Builds the world and takes the rings over from a freshly opened driver.
    pub fn new(setup: Setup) -> Replay {
        let ports = Ports::new(setup.kind);
        let config = setup.config();
        let mut drivers = Vec::new();
        let mut open = |p: &Port| {
            drivers.push(
                Ixgbe::new(format!("sim:{}", p.index()), p.bar(), &p.dma(), &config)
                    .expect("the driver opens on the model"),
            );
        };
        ports.rx.iter().for_each(&mut open);
        ports.tx.iter().for_each(&mut open);
        let regs = |p: &Port| Registers::new(p.bar()).expect("a BAR");
        let rx = ports.rx.as_ref().map(|p| {
            (
                regs(p),
                RingView::of(p, RegisterId::RDBAL, RegisterId::RDBAH, setup.ring),
            )
        });
        let tx = ports.tx.as_ref().map(|p| {
            (
                regs(p),
                RingView::of(p, RegisterId::TDBAL, RegisterId::TDBAH, setup.ring),
            )
        });
        // The buffers the driver posted: the read format's first quadword, still in place
        // because the model has not written anything back yet.
        let posted = rx.as_ref().map_or_else(Vec::new, |(_, ring)| {
            (0..setup.ring)
                // SAFETY: the descriptor lies in the ring (see `slot`), which the driver in
                // `drivers` keeps alive; nothing else runs while this reads it.
                .map(|i| unsafe { ring.slot(i).cast::<u64>().read_volatile() })
                .collect()
        });
        // Spare buffers to post and to send: as many as a batch in flight and one being built.
        let spare_port = ports.tx.as_ref().or(ports.rx.as_ref()).expect("a port");
        let pool =
            Mempool::new(&spare_port.dma(), 2 * setup.batch, config.buffer_size).expect("a pool");
        let mut buffers = Vec::new();
        pool.alloc_bulk(&mut buffers, pool.capacity());
        for p in &mut buffers {
            p.set_len(FRAME_LEN).expect("a frame fits");
            p.fill(0);
            p[..6].fill(0xff);
        }
        let free = buffers.iter().map(|p| p.device_addr()).collect();
        let mut r = Replay {
            setup,
            ports,
            _drivers: drivers,
            rx,
            tx,
            posted,
            free,
            in_flight: VecDeque::with_capacity(setup.batch),
            _buffers: buffers,
            batches: 0,
        };
        for _ in 0..2 * setup.ring.div_ceil(setup.batch) + 2 {
            r.iteration();
        }
        r.check();
        r
    }

    /// One iteration: a step, then the least a driver must do for one batch.
    #[inline(always)]
    pub fn iteration(&mut self) {
        self.ports.world.step();
        // The step sent the last batch and wrote its status back: its buffers are free again.
        self.free.extend(self.in_flight.drain(..));
        let n = self.setup.batch;
        for i in 0..n {
            let sent = match self.setup.kind {
                // The received buffer goes straight back into its descriptor.
                Kind::Rx => {
                    let (_, ring) = self.rx.as_mut().expect("rx ring");
                    let slot = ring.next & ring.mask;
                    post(ring, self.posted[slot]);
                    None
                }
                Kind::Tx => Some(self.free.pop_front().expect("a free buffer")),
                // The received buffer is sent; a free one takes its place.
                Kind::Fwd => {
                    let (_, ring) = self.rx.as_mut().expect("rx ring");
                    let slot = ring.next & ring.mask;
                    let fresh = self.free.pop_front().expect("a free buffer");
                    let received = std::mem::replace(&mut self.posted[slot], fresh);
                    post(ring, fresh);
                    Some(received)
                }
            };
            if let Some(buffer) = sent {
                let (_, ring) = self.tx.as_mut().expect("tx ring");
                send(ring, buffer, i + 1 == n);
                self.in_flight.push_back(buffer);
            }
        }
        if let Some((regs, ring)) = &self.rx {
            let last = ring.next.wrapping_sub(1) & ring.mask;
            regs.rdt(RxQueue::at::<0>()).set(last as u32);
        }
        if let Some((regs, ring)) = &self.tx {
            regs.tdt(TxQueue::at::<0>())
                .set((ring.next & ring.mask) as u32);
        }
        self.batches += 1;
    }

    /// Panics unless the model moved a full batch in every iteration and saw no rule broken.
    pub fn check(&self) {
        let want = self.batches * self.setup.batch as u64;
        if let Some(p) = &self.ports.rx {
            // The first step filled the ring (all but one descriptor); every later one
            // refilled the batch taken.
            let got = p.stats_snapshot().rx_frames;
            let want = (self.setup.ring - 1) as u64 + want - self.setup.batch as u64;
            assert_eq!(got, want, "{:?}: frames received", self.setup);
        }
        if let Some(p) = &self.ports.tx {
            // The last batch is sent by the next step.
            let got = p.stats_snapshot().tx_frames;
            assert_eq!(
                got,
                want - self.setup.batch as u64,
                "{:?}: frames sent",
                self.setup
            );
        }
        self.ports.check();
    }
}

/// Hands receive descriptor `ring.next` to the device with `buffer` (7.1.6.1's read format).
#[inline(always)]
fn post(ring: &mut RingView, buffer: u64) {
    // SAFETY: the slot is a descriptor of the ring (see `RingView::slot`), written back by the
    // model and not yet handed over again; nothing else references the ring's memory.
    let desc = unsafe { AdvRxDesc::view(ring.slot(ring.next)) };
    desc.to_device().pkt_addr().set(buffer);
    desc.to_device().hdr_addr().set(0);
    ring.next = ring.next.wrapping_add(1);
}

/// Places one frame of [`FRAME_LEN`] bytes at `buffer` in transmit descriptor `ring.next`, with
/// RS if it is the last of its batch, as the driver does (7.2.3.2.4).
#[inline(always)]
fn send(ring: &mut RingView, buffer: u64, last: bool) {
    // SAFETY: as in `post`: a descriptor the device has finished with (the step completed the
    // whole ring) or never had.
    let desc = unsafe { AdvTxDesc::view(ring.slot(ring.next)) };
    let mut command = CMD_TYPE_LEN::DTYP::DATA
        + CMD_TYPE_LEN::DEXT::SET
        + CMD_TYPE_LEN::EOP::SET
        + CMD_TYPE_LEN::IFCS::SET
        + CMD_TYPE_LEN::DTALEN::value::<{ FRAME_LEN as u32 }>();
    if last {
        command += CMD_TYPE_LEN::RS::SET;
    }
    desc.to_device().buffer_addr().set(buffer);
    desc.to_device().cmd_type_len().write(command);
    desc.to_device()
        .olinfo_status()
        .write(OLINFO_STATUS::PAYLEN::value::<{ FRAME_LEN as u32 }>());
    ring.next = ring.next.wrapping_add(1);
}

/// Benchmarks `setup` as `total` (driver and model, one step and one batch per iteration) and
/// `model` (the model alone, [`Replay`]), per packet, under `param` in group `g`.
pub fn total_and_model<M: Measurement>(g: &mut BenchmarkGroup<'_, M>, setup: Setup, param: usize) {
    g.throughput(Throughput::Elements(setup.batch as u64));
    let mut driver = None;
    g.bench_function(BenchmarkId::new("total", param), |b| {
        let d = driver.get_or_insert_with(|| Driver::plain(setup));
        b.iter(|| d.iteration())
    });
    if let Some(d) = driver.take() {
        d.check();
    }
    let mut replay = None;
    g.bench_function(BenchmarkId::new("model", param), |b| {
        let r = replay.get_or_insert_with(|| Replay::new(setup));
        b.iter(|| r.iteration())
    });
    if let Some(r) = replay.take() {
        r.check();
    }
}

/// Benchmarks `setup` as `driver`: the driver's cycles alone, the model timed inline and taken
/// out ([`MeteredDriver::driver_cycles`]).
pub fn driver_only(g: &mut BenchmarkGroup<'_, Tsc>, setup: Setup, param: usize) {
    g.throughput(Throughput::Elements(setup.batch as u64));
    let mut metered = None;
    g.bench_function(BenchmarkId::new("driver", param), |b| {
        let m = metered.get_or_insert_with(|| MeteredDriver::new(setup));
        b.iter_custom(|iters| m.driver_cycles(iters))
    });
    if let Some(m) = metered.take() {
        m.check();
    }
}

/// All three benchmarks of `setup` in cycles, in group `group`/cycles, and `total` and `model`
/// in time, in group `group`/time.
pub fn cycles_and_time(
    cycles: &mut criterion::Criterion<Tsc>,
    time: &mut criterion::Criterion,
    group: &str,
    setups: &[(Setup, usize)],
) {
    let mut g = cycles.benchmark_group(format!("{group}/cycles"));
    super::quick(&mut g);
    for &(setup, param) in setups {
        total_and_model(&mut g, setup, param);
        driver_only(&mut g, setup, param);
    }
    g.finish();
    let mut g = time.benchmark_group(format!("{group}/time"));
    super::quick(&mut g);
    for &(setup, param) in setups {
        total_and_model(&mut g, setup, param);
    }
    g.finish();
}
