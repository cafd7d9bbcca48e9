//! Faults of the 82599 model driven through the ixgbe driver (issue 10, item 7): a reset that
//! outlasts the driver's first polls (and one that outlasts its patience), statistics read
//! across their 32-bit and 36-bit wraps, and the model's strictest checking over a port's whole
//! life. Spontaneous resets, removal and RSS have tests of their own (tests/ixgbe_rss.rs for
//! RSS).

use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rixy::frame::FrameSpec;
use rixy::ixgbe::Ixgbe;
use rixy::memory::DmaDomain;
use rixy::regs::ixgbe::{self as regs, CTRL, PacketBuffer, RegisterId, Registers, StatCounter};
use rixy::regs::{Bus, DmaMaster};
use rixy::sim::{
    Delayed, Fetch, Pace, Port, PortConfig, Report, Severity, SimBar, SourceConfig, Timing, World,
};
use rixy::{Config, Device, Error, MacAddress, Packet, Stats};

fn config() -> Config {
    Config {
        rx_ring_size: 256,
        tx_ring_size: 256,
        link_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// Every report at PEDANTIC or worse, one per line.
fn problems(port: &Port) -> Vec<String> {
    port.reports_at_least(Severity::Pedantic)
        .iter()
        .map(Report::to_string)
        .collect()
}

#[track_caller]
fn assert_no_reports(port: &Port) {
    let found = problems(port);
    assert!(
        found.is_empty(),
        "port {} reported:\n{}",
        port.index(),
        found.join("\n")
    );
}

// ---- slow reset ------------------------------------------------------------------------------

/// The offset of CTRL, from the datasheet file.
fn ctrl_offset() -> usize {
    regs::MAP
        .iter()
        .find(|&&(_, id, _)| id == RegisterId::CTRL)
        .map(|&(offset, _, _)| offset as usize)
        .expect("CTRL is declared")
}

/// A port's BAR with a slow reset in front of it: the port is told that its reset never
/// completes, and this bus lets it complete on the first read of CTRL that comes `takes` after
/// the driver set CTRL.RST. It also records what the driver did while the reset ran.
struct SlowReset {
    bar: SimBar,
    port: Port,
    takes: Duration,
    ctrl: usize,
    /// When CTRL.RST was written, while the reset runs.
    started: Cell<Option<Instant>>,
    /// Reads of CTRL while the reset ran.
    polls: Cell<u32>,
    /// Accesses of any other register while the reset ran.
    other_accesses: Cell<u32>,
    /// Writes of CTRL while the reset ran that did not reset it again.
    ctrl_writes: Cell<u32>,
    /// Whether the reset was let complete.
    completed: Cell<bool>,
}

impl SlowReset {
    fn new(port: &Port, takes: Duration) -> Self {
        port.never_complete(Delayed::Reset);
        SlowReset {
            bar: port.bar(),
            port: port.clone(),
            takes,
            ctrl: ctrl_offset(),
            started: Cell::new(None),
            polls: Cell::new(0),
            other_accesses: Cell::new(0),
            ctrl_writes: Cell::new(0),
            completed: Cell::new(false),
        }
    }

    fn before_access(&self, offset: usize, write: Option<u32>) {
        let Some(started) = self.started.get() else {
            if offset == self.ctrl
                && write.is_some_and(|v| CTRL::RST.is_set(v))
                && !self.completed.get()
            {
                self.started.set(Some(Instant::now()));
            }
            return;
        };
        if offset != self.ctrl {
            self.other_accesses.set(self.other_accesses.get() + 1);
            return;
        }
        if let Some(v) = write {
            if !CTRL::RST.is_set(v) {
                self.ctrl_writes.set(self.ctrl_writes.get() + 1);
            }
            return;
        }
        self.polls.set(self.polls.get() + 1);
        if started.elapsed() >= self.takes {
            self.port.allow_complete(Delayed::Reset);
            self.started.set(None);
            self.completed.set(true);
        }
    }
}

/// The slow-reset bus stands in front of the port: its DMA reaches the port's world.
impl DmaMaster for SlowReset {
    fn dma_domain(&self) -> DmaDomain {
        self.bar.dma_domain()
    }
}

impl Bus for SlowReset {
    fn len(&self) -> usize {
        self.bar.len()
    }

    unsafe fn read8(&self, offset: usize) -> u8 {
        self.before_access(offset & !3, None);
        // SAFETY: the caller keeps read8's contract, which is all SimBar's read8 needs.
        unsafe { self.bar.read8(offset) }
    }

    unsafe fn read16(&self, offset: usize) -> u16 {
        self.before_access(offset & !3, None);
        // SAFETY: the caller keeps read16's contract, which is all SimBar's read16 needs.
        unsafe { self.bar.read16(offset) }
    }

    unsafe fn read32(&self, offset: usize) -> u32 {
        self.before_access(offset, None);
        self.bar.read_raw(offset)
    }

    unsafe fn read64(&self, offset: usize) -> u64 {
        self.before_access(offset, None);
        // SAFETY: the caller keeps read64's contract, which is all SimBar's read64 needs.
        unsafe { self.bar.read64(offset) }
    }

    unsafe fn write8(&self, offset: usize, value: u8) {
        self.before_access(offset & !3, Some(u32::from(value)));
        // SAFETY: the caller keeps write8's contract, which is all SimBar's write8 needs.
        unsafe { self.bar.write8(offset, value) }
    }

    unsafe fn write16(&self, offset: usize, value: u16) {
        self.before_access(offset & !3, Some(u32::from(value)));
        // SAFETY: the caller keeps write16's contract, which is all SimBar's write16 needs.
        unsafe { self.bar.write16(offset, value) }
    }

    unsafe fn write32(&self, offset: usize, value: u32) {
        self.before_access(offset, Some(value));
        self.bar.write_raw(offset, value);
    }

    unsafe fn write64(&self, offset: usize, value: u64) {
        self.before_access(offset, Some(value as u32));
        // SAFETY: the caller keeps write64's contract, which is all SimBar's write64 needs.
        unsafe { self.bar.write64(offset, value) }
    }
}

/// What the driver's open did against a reset that takes `takes`.
struct SlowResetRun {
    result: rixy::Result<()>,
    polls: u32,
    other_accesses: u32,
    ctrl_writes: u32,
    completed: bool,
    elapsed: Duration,
}

fn open_with_slow_reset(world: &World, port: &Port, takes: Duration) -> SlowResetRun {
    let bus = SlowReset::new(port, takes);
    let start = Instant::now();
    let opened = Ixgbe::new("slow".into(), &bus, &port.dma(), &config());
    let elapsed = start.elapsed();
    let result = opened.map(|mut dev| {
        // The device works after its slow reset: a burst arrives, whole.
        port.inject_burst(100);
        world.step();
        let mut got: Vec<Packet> = Vec::new();
        while dev.rx_batch(0, &mut got, 64).unwrap() > 0 {}
        assert_eq!(got.len(), 100);
        assert_eq!(dev.stats().rx_packets, 100);
    });
    SlowResetRun {
        result,
        polls: bus.polls.get(),
        other_accesses: bus.other_accesses.get(),
        ctrl_writes: bus.ctrl_writes.get(),
        completed: bus.completed.get(),
        elapsed,
    }
}

#[test]
fn a_reset_that_outlasts_the_first_polls_is_waited_for_and_init_succeeds() {
    let world = World::new();
    let port = world.add_port(PortConfig {
        gprc_counts_drops: false,
        ..PortConfig::default()
    });
    let takes = Duration::from_millis(60);
    let run = open_with_slow_reset(&world, &port, takes);
    run.result.expect("init after a slow reset");
    assert!(run.completed, "the reset was never let finish");
    assert!(
        run.polls >= 2,
        "the reset outlasted the driver's first poll, yet CTRL was read {} times while it ran",
        run.polls
    );
    assert_eq!(
        (run.other_accesses, run.ctrl_writes),
        (0, 0),
        "the driver touched the device while the reset ran"
    );
    assert!(run.elapsed >= takes, "{:?}", run.elapsed);
    assert_no_reports(&port);
}

#[test]
fn a_reset_slower_than_the_drivers_bound_is_a_timeout_naming_it() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    // Longer than the driver waits for any init step; the bus would let it finish then.
    let takes = Duration::from_secs(30);
    let run = open_with_slow_reset(&world, &port, takes);
    match run.result {
        Err(Error::Timeout {
            device,
            what,
            waited_ms,
            ..
        }) => {
            assert_eq!(device, "slow");
            assert!(
                what.contains("global reset") && what.contains("CTRL.RST"),
                "{what}"
            );
            assert!(
                Duration::from_millis(waited_ms) < takes,
                "waited {waited_ms} ms"
            );
        }
        Err(other) => panic!("not a timeout: {other}"),
        Ok(()) => panic!("opened while the device was still in reset"),
    }
    assert!(!run.completed, "the driver waited for the whole reset");
    assert!(run.elapsed < takes, "{:?}", run.elapsed);
    assert!(run.polls >= 2, "CTRL read {} times", run.polls);
    // What it may do is reset the device again as it gives up (its drop stops every DMA);
    // nothing else.
    assert_eq!(
        (run.other_accesses, run.ctrl_writes),
        (0, 0),
        "the driver went on configuring a device in reset"
    );
    assert_no_reports(&port);
}

/// A device still in a reset the driver did not start (here one the device did on its own
/// just before the open; rixy's own close does the same): the driver waits for it before its
/// first write, which a device in reset would drop.
#[test]
fn a_reset_already_running_at_open_is_waited_for() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    port.spontaneous_reset();
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).expect("init");
    port.inject_burst(10);
    world.step();
    let mut got = Vec::new();
    assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 10);
    assert_no_reports(&port);

    // One that never ends is a timeout naming it, and the driver writes nothing meanwhile.
    let port = world.add_port(PortConfig::default());
    port.spontaneous_reset();
    port.never_complete(Delayed::Reset);
    let accesses = port.access_count();
    match Device::on_sim_port("q", &world, &port, &config()) {
        Err(Error::Timeout { what, .. }) => {
            assert!(what.contains("already in progress"), "{what}")
        }
        Err(other) => panic!("not a timeout: {other}"),
        Ok(_) => panic!("opened a device in reset"),
    }
    assert!(port.access_count() > accesses);
    assert_no_reports(&port);
}

// ---- statistics across their wraps -----------------------------------------------------------

/// What `preload_stats(headroom)` leaves in a 32-bit counter: `headroom` below 2^32, modulo
/// 2^32.
fn preloaded32(headroom: u64) -> u64 {
    (1u64 << 32).wrapping_sub(headroom) % (1 << 32)
}

/// And in a 36-bit octet counter: `headroom` below 2^36, modulo 2^36.
fn preloaded36(headroom: u64) -> u64 {
    (1u64 << 36).wrapping_sub(headroom) % (1 << 36)
}

/// Reads every missed-packet counter (MPC) once, which clears it. `preload_stats` sets them
/// near their wrap like every other counter; on hardware GPRC also counts the frames MPC counts
/// (the driver subtracts them), so a device with both near 2^32 would have missed more frames
/// than it received. The test keeps the preloaded MPCs out of its expectations this way.
fn clear_missed(port: &Port) {
    let mut regs = Registers::new(port.bar()).unwrap();
    for pb in PacketBuffer::all() {
        regs.mpc(pb).take();
    }
}

/// What the test counted itself: frames and wire bytes (FCS included) received by the
/// driver, from the packets rx_batch handed over.
#[derive(Default)]
struct Counted {
    rx_frames: u64,
    rx_wire_bytes: u64,
}

/// Receives what the port's source sends and sends every packet back out, reading the
/// statistics after every batch, until the source has sent `count` frames and they are all
/// back out on the wire. With the world stepping after every register access, frames arrive
/// between any two of the driver's reads, also between the low and high halves of a 36-bit
/// counter.
fn echo(
    world: &World,
    port: &Port,
    dev: &mut Device,
    source: &rixy::sim::SourceHandle,
    sink: &rixy::sim::SinkHandle,
    counted: &mut Counted,
    count: u64,
) {
    let mut queue: VecDeque<Packet> = VecDeque::new();
    let mut reads = 0u32;
    let deadline = Instant::now() + Duration::from_secs(120);
    while source.sent() < count || counted.rx_frames < count || sink.frames() < counted.rx_frames {
        assert!(
            Instant::now() < deadline,
            "stuck: sent {}, received {}, echoed {}",
            source.sent(),
            counted.rx_frames,
            sink.frames()
        );
        let before = queue.len();
        dev.rx_batch(0, &mut queue, 32).unwrap();
        for p in queue.range(before..) {
            counted.rx_frames += 1;
            counted.rx_wire_bytes += p.len() as u64 + 4;
        }
        dev.tx_batch(0, &mut queue).unwrap();
        dev.stats();
        reads += 1;
        world.step();
    }
    assert!(queue.is_empty());
    assert!(reads > 100, "only {reads} statistics reads");
    assert_eq!(
        port.stats_snapshot().rx_dropped_no_desc + port.stats_snapshot().rx_missed,
        0,
        "the source only sends what the ring has room for"
    );
}

#[test]
fn statistics_read_across_their_32_and_36_bit_wraps_stay_exact() {
    let world = World::new();
    let port = world.add_port(PortConfig {
        gprc_counts_drops: false,
        ..PortConfig::default()
    });
    let sink = world.attach_sink(&port, 0);
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).unwrap();
    world.set_auto_step(Some(1));
    let mut counted = Counted::default();
    // Phantom counts the preloads put in, per counter.
    let (mut phantom32, mut phantom36) = (0u64, 0u64);

    let expect = |dev: &mut Device, counted: &Counted, p32: u64, p36: u64, when: &str| {
        let want = Stats {
            rx_packets: p32 + counted.rx_frames,
            tx_packets: p32 + sink.frames(),
            rx_bytes: p36 + counted.rx_wire_bytes,
            tx_bytes: p36 + sink.bytes() + 4 * sink.frames(),
            // The per-queue drop counters (QPRDC) were preloaded too; nothing was dropped.
            rx_dropped: StatCounter::COUNT as u64 * p32,
            rx_errors: 0,
            tx_errors: 0,
        };
        assert_eq!(dev.stats(), want, "{when}");
    };

    // Phase 1: the counters start `headroom` short of their wraps and the driver reads them
    // before any traffic; then thousands of frames carry its 64-bit totals across 2^32
    // packets and 2^36 bytes, read after every batch.
    let headroom = 3000;
    port.preload_stats(headroom);
    clear_missed(&port);
    phantom32 += preloaded32(headroom);
    phantom36 += preloaded36(headroom);
    expect(
        &mut dev,
        &counted,
        phantom32,
        phantom36,
        "the preloaded values",
    );
    let count = 6000;
    let source = world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(count),
            ..SourceConfig::default()
        },
    );
    echo(&world, &port, &mut dev, &source, &sink, &mut counted, count);
    assert_eq!(counted.rx_frames, count);
    expect(&mut dev, &counted, phantom32, phantom36, "after phase 1");
    assert!(phantom32 + counted.rx_frames > 1 << 32);
    assert!(phantom36 + counted.rx_wire_bytes > 1 << 36);

    // Phase 2: the low half of each octet counter is 1000 short of its 32-bit wrap (the high
    // half at 0xE), and a whole ring of frames arrives before the first read: the low half
    // wraps and carries into the high half inside the device, between the driver's reads.
    let headroom = (1 << 32) + 1000;
    port.preload_stats(headroom);
    clear_missed(&port);
    phantom32 += preloaded32(headroom);
    phantom36 += preloaded36(headroom);
    let source = world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(count),
            ..SourceConfig::default()
        },
    );
    // The first frames arrive before the driver reads anything: the carry happened inside
    // the device.
    world.step();
    assert_eq!(port.register(RegisterId::GORCH, 0), 0xF);
    assert!(port.register(RegisterId::GORCL, 0) < 1 << 16);
    let mut counted2 = Counted::default();
    echo(
        &world,
        &port,
        &mut dev,
        &source,
        &sink,
        &mut counted2,
        count,
    );
    counted.rx_frames += counted2.rx_frames;
    counted.rx_wire_bytes += counted2.rx_wire_bytes;
    expect(&mut dev, &counted, phantom32, phantom36, "after phase 2");
    assert!(problems(&port).is_empty(), "{}", problems(&port).join("\n"));
}

// ---- the model's strictest checking ------------------------------------------------------------

/// The strictest model: strict mode (tails before ENABLE ignored, MTA garbage after reset),
/// datasheet wall-clock delays, and descriptors fetched when used, not when handed over.
fn strictest(fetch: Fetch) -> PortConfig {
    PortConfig {
        strict: true,
        timing: Timing::Realistic,
        fetch,
        ..PortConfig::default()
    }
}

/// One life of a pair of ports: G sends numbered frames of many flows to A, A (four receive
/// queues, RSS) sends every one back, both read their statistics, A's promiscuous mode goes
/// on and off while frames for other addresses arrive, and both close.
fn life(world: &World, g: &Port, a: &Port) {
    let sink_g = world.attach_sink(g, 0);
    let cfg = Config {
        promisc: false,
        ..config()
    };
    let mut gen_dev = Device::on_sim_port("g", world, g, &cfg).unwrap();
    let mut a_dev = Device::on_sim_port(
        "a",
        world,
        a,
        &Config {
            rx_queues: 4,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert!(gen_dev.link().up && a_dev.link().up);
    let pool = gen_dev.mempool(512, 2048).unwrap();

    const COUNT: u32 = 3000;
    let mut sent = 0u32;
    let mut to_send = VecDeque::new();
    let mut at_a: VecDeque<Packet> = VecDeque::new();
    let mut echoed = Vec::new();
    let mut queues_used = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while echoed.len() < COUNT as usize {
        assert!(
            Instant::now() < deadline,
            "stuck at {} echoed: g {:?} {:?}, a {:?} {:?}",
            echoed.len(),
            g.stats_snapshot(),
            problems(g),
            a.stats_snapshot(),
            problems(a)
        );
        while sent < COUNT && to_send.len() < 32 {
            let Some(mut p) = pool.alloc() else { break };
            let spec = FrameSpec {
                dst_mac: a_dev.mac(),
                src_mac: gen_dev.mac(),
                src_port: 1000 + (sent % 97) as u16,
                ..FrameSpec::default()
            };
            p.set_len(spec.len).unwrap();
            spec.write(&mut p, sent).unwrap();
            to_send.push_back(p);
            sent += 1;
        }
        gen_dev.tx_batch(0, &mut to_send).unwrap();
        world.step();
        for q in 0..4 {
            if a_dev.rx_batch(q, &mut at_a, 32).unwrap() > 0 {
                queues_used.insert(q);
            }
        }
        // Back to where it came from.
        for p in at_a.iter_mut() {
            let (dst, src) = (p[6..12].to_vec(), a_dev.mac());
            p[..6].copy_from_slice(&dst);
            p[6..12].copy_from_slice(&src.0);
        }
        a_dev.tx_batch(0, &mut at_a).unwrap();
        world.step();
        let mut back = Vec::new();
        gen_dev.rx_batch(0, &mut back, 32).unwrap();
        echoed.extend(back.iter().map(|p| rixy::frame::seq(p).unwrap()));
        if sent.is_multiple_of(512) {
            gen_dev.stats();
            a_dev.stats();
        }
    }
    world.run_until_idle(100);
    assert_eq!(queues_used.len(), 4, "{queues_used:?}");
    echoed.sort_unstable();
    assert!(echoed.iter().copied().eq(0..COUNT), "lost or duplicated");
    let (gs, as_) = (gen_dev.stats(), a_dev.stats());
    assert_eq!(
        (gs.tx_packets, gs.rx_packets),
        (u64::from(COUNT), u64::from(COUNT))
    );
    assert_eq!(
        (as_.tx_packets, as_.rx_packets),
        (u64::from(COUNT), u64::from(COUNT))
    );
    assert_eq!(sink_g.frames(), u64::from(COUNT));
    assert_eq!(
        gs.rx_dropped + gs.rx_errors + as_.rx_dropped + as_.rx_errors,
        0
    );

    // Frames for another unicast address and an unsubscribed multicast group: filtered with
    // promiscuous mode off (whatever the MTA held after the reset), received with it on.
    let stranger = |dst: [u8; 6]| {
        FrameSpec {
            dst_mac: MacAddress(dst),
            ..FrameSpec::default()
        }
        .to_vec(9)
        .unwrap()
    };
    let others = [
        [0x02, 0x99, 0x99, 0x99, 0x99, 0x99],
        [0x01, 0x00, 0x5e, 0x7f, 0x12, 0x34],
    ];
    let receive_all = |dev: &mut Device| {
        let mut got = Vec::new();
        for q in 0..4 {
            while dev.rx_batch(q, &mut got, 32).unwrap() > 0 {}
        }
        got.len()
    };
    let filtered = a.stats_snapshot().rx_filtered;
    for dst in others {
        a.inject_frame(&stranger(dst), true);
    }
    world.step();
    assert_eq!(receive_all(&mut a_dev), 0);
    assert_eq!(a.stats_snapshot().rx_filtered, filtered + 2);
    a_dev.set_promisc(true).unwrap();
    for dst in others {
        a.inject_frame(&stranger(dst), true);
    }
    world.step();
    assert_eq!(receive_all(&mut a_dev), 2);
    a_dev.set_promisc(false).unwrap();
    a.inject_frame(&stranger(others[0]), true);
    world.step();
    assert_eq!(receive_all(&mut a_dev), 0);
    assert_eq!(a.stats_snapshot().rx_filtered, filtered + 3);
    world.run_until_idle(100);
    // Close.
    drop(pool);
    drop(gen_dev);
    drop(a_dev);
}

#[test]
fn a_ports_whole_life_under_the_strictest_model_gives_no_report() {
    for fetch in [Fetch::Eager, Fetch::Lazy] {
        let world = World::new();
        let (g, a) = (
            world.add_port(strictest(fetch)),
            world.add_port(strictest(fetch)),
        );
        world.connect(&g, &a);
        // Two lives: the second opens the ports again right after the first closed them.
        life(&world, &g, &a);
        life(&world, &g, &a);
        world.run_until_idle(100);
        for port in [&g, &a] {
            assert_no_reports(port);
            let notes: BTreeSet<&str> = port
                .reports_at_least(Severity::Info)
                .iter()
                .map(|r| r.rule)
                .collect();
            assert_eq!(
                notes,
                BTreeSet::from(["autoc-without-semaphore"]),
                "{fetch:?}: the only note is the one rixy chooses not to follow"
            );
        }
    }
}
