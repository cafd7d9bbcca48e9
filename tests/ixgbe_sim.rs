//! The ixgbe driver against the behavioural 82599 model: initialisation without a single
//! report from the model's checker, forwarding with exact counts and order, filters, and every
//! injected fault ending in a clear error or a recovery, never a panic, a hang or a lost buffer.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rixy::frame::FrameSpec;
use rixy::sim::{Delayed, Pace, Port, PortConfig, Report, Severity, SourceConfig, World};
use rixy::{Config, Device, Error, MacAddress, Mempool, Packet};

use common::accounting::check_buffers;

fn config() -> Config {
    Config {
        rx_ring_size: 256,
        tx_ring_size: 256,
        link_timeout: Duration::from_secs(1),
        ..Config::default()
    }
}

fn exact_port(world: &World) -> Port {
    world.add_port(PortConfig {
        gprc_counts_drops: false,
        ..PortConfig::default()
    })
}

/// Every report at `min` severity or worse, printed if there are any.
fn reports(port: &Port, min: Severity) -> Vec<Report> {
    port.reports_at_least(min)
}

#[track_caller]
fn assert_clean(port: &Port) {
    let found = reports(port, Severity::Pedantic);
    assert!(
        found.is_empty(),
        "the model reported:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn init_completes_without_a_single_report() {
    let world = World::new();
    let port = exact_port(&world);
    let dev = Device::on_sim_port("sim-a", &world, &port, &config()).expect("init");
    assert_clean(&port);
    // The only informational notes left are the ones rixy chooses not to follow.
    let info: Vec<&str> = reports(&port, Severity::Info)
        .iter()
        .map(|r| r.rule)
        .collect();
    assert_eq!(info, vec!["autoc-without-semaphore"], "{info:?}");
    assert!(dev.link().up);
    assert_eq!(dev.link().speed_mbps, 10_000);
    assert_eq!(dev.mac(), MacAddress(port.mac()));
}

/// A generator on port G sends `count` numbered frames to port A; a forwarder receives them
/// on A and sends them out of B, whose link partner is a sink.
#[test]
fn generator_forwarder_sink_exact_count_and_order() {
    let world = World::new();
    let (g, a, b) = (exact_port(&world), exact_port(&world), exact_port(&world));
    world.connect(&g, &a);
    let sink = world.attach_sink(&b, usize::MAX);
    let cfg = Config {
        promisc: false,
        ..config()
    };
    let mut gen_dev = Device::on_sim_port("gen", &world, &g, &cfg).unwrap();
    let mut a_dev = Device::on_sim_port("a", &world, &a, &cfg).unwrap();
    let mut b_dev = Device::on_sim_port("b", &world, &b, &cfg).unwrap();
    let pool = gen_dev.mempool(1024, 2048).unwrap();
    let spec = FrameSpec {
        dst_mac: a_dev.mac(),
        src_mac: gen_dev.mac(),
        ..FrameSpec::default()
    };

    const COUNT: u32 = 10_000;
    let mut next_seq = 0;
    let mut to_send = VecDeque::new();
    let mut forwarded = VecDeque::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.frames() < u64::from(COUNT) {
        assert!(
            Instant::now() < deadline,
            "stuck at {} frames",
            sink.frames()
        );
        while next_seq < COUNT && to_send.len() < 32 {
            let Some(mut p) = pool.alloc() else { break };
            p.set_len(spec.len).unwrap();
            spec.write(&mut p, next_seq).unwrap();
            to_send.push_back(p);
            next_seq += 1;
        }
        gen_dev.tx_batch(0, &mut to_send).unwrap();
        world.step();
        a_dev.rx_batch(0, &mut forwarded, 32).unwrap();
        for p in forwarded.iter_mut() {
            rixy::frame::touch(p);
        }
        b_dev.tx_batch(0, &mut forwarded).unwrap();
        world.step();
    }
    world.run_until_idle(100);

    let kept = sink.kept();
    assert_eq!(kept.len(), COUNT as usize);
    let seqs: Vec<u32> = kept.iter().map(|f| rixy::frame::seq(f).unwrap()).collect();
    assert!(
        seqs.iter().copied().eq(0..COUNT),
        "out of order or duplicated"
    );
    // Stats agree with the sink.
    let (gs, as_, bs) = (gen_dev.stats(), a_dev.stats(), b_dev.stats());
    assert_eq!(gs.tx_packets, u64::from(COUNT));
    assert_eq!(as_.rx_packets, u64::from(COUNT));
    assert_eq!(bs.tx_packets, sink.frames());
    assert_eq!(
        bs.tx_bytes,
        sink.bytes() + 4 * sink.frames(),
        "octets include the FCS"
    );
    assert_eq!(as_.rx_dropped + as_.rx_errors, 0);
    for port in [&g, &a, &b] {
        assert_clean(port);
    }
}

fn received_from_source(dst_mac: Option<[u8; 6]>, promisc: bool) -> (usize, u64) {
    let world = World::new();
    let port = exact_port(&world);
    world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(100),
            dst_mac,
            ..SourceConfig::default()
        },
    );
    let cfg = Config {
        promisc,
        ..config()
    };
    let mut dev = Device::on_sim_port("p", &world, &port, &cfg).unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        world.step();
        dev.rx_batch(0, &mut got, 64).unwrap();
    }
    assert_clean(&port);
    (got.len(), port.stats_snapshot().rx_filtered)
}

#[test]
fn promisc_off_drops_frames_for_another_mac_and_on_accepts_them() {
    let other = Some([0x02, 0x99, 0x99, 0x99, 0x99, 0x99]);
    assert_eq!(received_from_source(other, false), (0, 100));
    assert_eq!(received_from_source(other, true), (100, 0));
    // Its own address passes either way.
    assert_eq!(received_from_source(None, false), (100, 0));
}

#[test]
fn set_mac_keeps_the_address_valid_and_set_promisc_switches_live() {
    let world = World::new();
    let port = exact_port(&world);
    let cfg = Config {
        promisc: false,
        ..config()
    };
    let mut dev = Device::on_sim_port("p", &world, &port, &cfg).unwrap();
    let new_mac = MacAddress([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    dev.set_mac(new_mac).unwrap();
    assert_eq!(dev.mac(), new_mac);
    let mut got = Vec::new();
    let frame = |dst: MacAddress| {
        FrameSpec {
            dst_mac: dst,
            ..FrameSpec::default()
        }
        .to_vec(7)
        .unwrap()
    };
    port.inject_frame(&frame(new_mac), true);
    port.inject_frame(&frame(MacAddress(port.mac())), true);
    world.step();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(
        got.len(),
        1,
        "the new address is received, the old one no longer"
    );
    dev.set_promisc(true).unwrap();
    port.inject_frame(&frame(MacAddress(port.mac())), true);
    world.step();
    dev.rx_batch(0, &mut got, 32).unwrap();
    assert_eq!(got.len(), 2);
    assert_clean(&port);
}

/// Every buffer of `pools` is in exactly one place: free in its pool, in a device's ring, or
/// held by the test (each counted on its own, see `common::accounting`).
#[track_caller]
fn assert_accounted(pools: &[&Mempool], held_by_test: &[Packet], devices: &[&Device]) {
    if let Err(problem) = check_buffers(pools, devices, held_by_test) {
        panic!("{problem}");
    }
}

#[test]
fn a_burst_larger_than_the_ring_is_dropped_and_counted_then_traffic_resumes() {
    let world = World::new();
    let port = exact_port(&world);
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).unwrap();
    port.inject_burst(1000); // the ring holds 255
    world.step();
    let mut got: Vec<Packet> = Vec::new();
    while dev.rx_batch(0, &mut got, 64).unwrap() > 0 {}
    assert_eq!(got.len(), 255);
    let stats = dev.stats();
    assert_eq!(stats.rx_packets, 255);
    assert_eq!(stats.rx_dropped, 745);
    let pool = dev.rx_pool(0).unwrap().clone();
    assert_accounted(&[&pool], &got, &[&dev]);
    got.clear();
    port.inject_burst(10);
    world.step();
    assert_eq!(
        dev.rx_batch(0, &mut got, 64).unwrap(),
        10,
        "receiving resumed"
    );
    assert_accounted(&[&pool], &got, &[&dev]);
}

#[test]
fn link_flaps_stall_and_resume_transmission_without_losing_buffers() {
    let world = World::new();
    let (a, b) = (exact_port(&world), exact_port(&world));
    world.connect(&a, &b);
    let mut a_dev = Device::on_sim_port("a", &world, &a, &config()).unwrap();
    let mut b_dev = Device::on_sim_port("b", &world, &b, &config()).unwrap();
    let pool = a_dev.mempool(512, 2048).unwrap();
    let spec = FrameSpec::default();
    let fill = |q: &mut VecDeque<Packet>, n: usize| {
        for seq in 0..n {
            let mut p = pool.alloc().unwrap();
            p.set_len(spec.len).unwrap();
            spec.write(&mut p, seq as u32).unwrap();
            q.push_back(p);
        }
    };
    a.set_link(false);
    world.step();
    assert!(!a_dev.link().up);
    let mut q = VecDeque::new();
    fill(&mut q, 300);
    let taken = a_dev.tx_batch(0, &mut q).unwrap();
    assert_eq!(taken, 255, "the ring takes N-1 and keeps the rest out");
    for _ in 0..10 {
        world.step();
    }
    assert_eq!(
        a_dev.tx_batch(0, &mut q).unwrap(),
        0,
        "nothing completes while the link is down"
    );
    a.set_link(true);
    world.run_until_idle(100);
    assert!(a_dev.link().up);
    let mut got = Vec::new();
    while b_dev.rx_batch(0, &mut got, 64).unwrap() > 0 {}
    assert_eq!(got.len(), 255);
    assert_eq!(
        a_dev.tx_batch(0, &mut q).unwrap(),
        45,
        "the ring was cleaned and takes the rest"
    );
    drop(q);
    let (a_pool, b_pool) = (a_dev.rx_pool(0).unwrap(), b_dev.rx_pool(0).unwrap());
    assert!(got[0].pool().same_pool(b_pool));
    assert_accounted(&[&pool, a_pool, b_pool], &got, &[&a_dev, &b_dev]);
    for port in [&a, &b] {
        let bad: Vec<_> = reports(port, Severity::Warn);
        assert!(bad.is_empty(), "{bad:?}");
    }
}

fn open_with_fault(fault: Delayed) -> Result<Device, Error> {
    let world = World::new();
    let port = exact_port(&world);
    port.never_complete(fault);
    let cfg = Config {
        link_timeout: Duration::from_millis(200),
        ..config()
    };
    Device::on_sim_port("sim-fault", &world, &port, &cfg)
}

#[test]
fn init_steps_that_never_complete_are_timeouts_naming_the_step() {
    for (fault, names) in [
        (Delayed::Reset, "CTRL.RST"),
        (Delayed::EepromAutoRead, "EEC.ARD"),
        (Delayed::DmaInit, "RDRXCTL.DMAIDONE"),
        (Delayed::RxEnable, "RXDCTL.ENABLE"),
        (Delayed::TxEnable, "TXDCTL.ENABLE"),
    ] {
        let start = Instant::now();
        match open_with_fault(fault) {
            Err(Error::Timeout { device, what, .. }) => {
                assert_eq!(device, "sim-fault");
                assert!(what.contains(names), "{fault:?}: {what}");
            }
            Err(other) => panic!("{fault:?}: {other}"),
            Ok(_) => panic!("{fault:?}: opened"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{fault:?} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_link_that_never_comes_up_still_opens_the_device_with_its_link_down() {
    let dev = open_with_fault(Delayed::Link).expect("the link is not required to open");
    assert_eq!(dev.link(), rixy::Link::default());
}

#[test]
fn surprise_removal_stops_traffic_and_stats_without_panics() {
    let world = World::new();
    let port = exact_port(&world);
    world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(50),
            ..SourceConfig::default()
        },
    );
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).unwrap();
    world.step();
    let mut got = Vec::new();
    dev.rx_batch(0, &mut got, 64).unwrap();
    let before = dev.stats();
    assert_eq!(before.rx_packets, 50);
    port.surprise_removal();
    world.step();
    // The first empty batch after traffic checks the device (tests/ixgbe_faults.rs has more).
    assert!(matches!(
        dev.rx_batch(0, &mut got, 64),
        Err(Error::DeviceRemoved { .. })
    ));
    assert_eq!(
        dev.stats(),
        before,
        "a removed device reads all ones; nothing is added"
    );
    assert!(!dev.link().up);
    let mut q: VecDeque<Packet> = got.drain(..).collect();
    assert!(matches!(
        dev.tx_batch(0, &mut q),
        Err(Error::DeviceRemoved { .. })
    ));
    drop(dev); // resetting a removed device must not hang or panic either
}

#[test]
fn statistics_near_their_wrap_keep_all_36_bits_of_octets() {
    let world = World::new();
    let port = exact_port(&world);
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).unwrap();
    port.preload_stats(100);
    let stats = dev.stats();
    assert_eq!(stats.tx_packets, (1 << 32) - 100);
    assert_eq!(stats.tx_bytes, (1 << 36) - 100);
    assert_eq!(stats.rx_bytes, (1 << 36) - 100);
    // And the next read starts from zero: the counters cleared when read.
    assert_eq!(dev.stats(), stats);
}

#[test]
fn bad_requests_are_errors() {
    let world = World::new();
    let port = exact_port(&world);
    let mut dev = Device::on_sim_port("p", &world, &port, &config()).unwrap();
    let mut got = Vec::new();
    assert!(matches!(
        dev.rx_batch(0, &mut got, 256),
        Err(Error::BatchTooLarge {
            batch: 256,
            ring: 256,
            max: 255
        })
    ));
    assert!(dev.rx_batch(0, &mut got, 255).is_ok());
    assert!(matches!(
        dev.rx_batch(1, &mut got, 1),
        Err(Error::NoSuchQueue { queue: 1, .. })
    ));
    assert!(matches!(
        dev.tx_batch(3, &mut VecDeque::new()),
        Err(Error::NoSuchQueue { queue: 3, .. })
    ));
}

#[test]
fn a_sim_port_opened_by_address_receives_its_line_rate_source_in_real_time() {
    let mut dev = rixy::open("sim:3", &config()).unwrap();
    assert_eq!(dev.name(), "sim:3");
    assert_eq!(dev.mac(), MacAddress([0x02, 0x00, 0x5e, 0x10, 0x00, 0x03]));
    let mut got = Vec::new();
    let start = Instant::now();
    let mut seqs = Vec::new();
    while start.elapsed() < Duration::from_millis(200) {
        dev.rx_batch(0, &mut got, 32).unwrap();
        seqs.extend(got.drain(..).map(|p| rixy::frame::seq(&p).unwrap()));
    }
    assert!(seqs.len() > 1000, "only {} frames in 200 ms", seqs.len());
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers only increase"
    );
    // A 10 Gbit/s source offers 14.88 Mpps; in 200 ms at most about 3 million frames.
    let stats = dev.stats();
    assert!(
        stats.rx_packets + stats.rx_dropped <= 3_100_000,
        "{stats:?}"
    );
    // The device counts what reached its ring; what the application has not fetched yet is
    // still there.
    let fetched = seqs.len() as u64;
    assert!(
        (fetched..fetched + 256).contains(&stats.rx_packets),
        "{stats:?} vs {fetched}"
    );
    assert_eq!(
        stats.rx_dropped, 0,
        "the source pauses instead of overflowing the ring"
    );
    assert_eq!(
        dev.sim_wire(),
        Some(rixy::SimWire::default()),
        "nothing was sent"
    );
    // One driver per port.
    let again = rixy::open("sim:3", &config())
        .err()
        .expect("sim:3 is open already");
    assert!(again.to_string().contains("already open"), "{again}");
    assert!(matches!(
        rixy::open("sim:x", &config()),
        Err(Error::InvalidDeviceAddress { .. })
    ));
}

/// The base page size: what the simulator's allocator (anonymous memory) rounds each region to.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).expect("a page size")
}

fn round_to_page(bytes: usize) -> usize {
    bytes.div_ceil(page_size()) * page_size()
}

/// `Device::memory` reports the rings and pools the driver allocated, per queue, with the
/// allocator's rounding: computed here from the ring and pool parameters (16-byte descriptors,
/// 82599 datasheet 7.1.5 and 7.2.3.2), and within the configuration's bound.
#[test]
fn memory_reports_each_queue_as_allocated() {
    let page = page_size();
    for (rx_queues, tx_queues, rx_ring, tx_ring, pool, buffer) in [
        (1, 1, 512, 512, 0, 4096),
        // Rings of 64 × 16 = 1 KiB: the allocator rounds each up to a page.
        (2, 3, 64, 128, 100, 8192),
        (4, 2, 1024, 256, 3000, 4096),
    ] {
        let cfg = Config {
            rx_queues,
            tx_queues,
            rx_ring_size: rx_ring,
            tx_ring_size: tx_ring,
            mempool_size: pool,
            buffer_size: buffer,
            ..config()
        };
        let world = World::new();
        let port = exact_port(&world);
        let dev = Device::on_sim_port("sim-a", &world, &port, &cfg).expect("init");
        let m = dev.memory();
        assert_eq!(m.rx.len(), usize::from(rx_queues));
        assert_eq!(m.tx.len(), usize::from(tx_queues));
        let buffers = if pool == 0 { 2 * rx_ring } else { pool };
        for (q, rx) in m.rx.iter().enumerate() {
            assert_eq!(rx.ring_entries, rx_ring);
            assert_eq!(
                rx.ring_bytes,
                round_to_page(rx_ring * 16),
                "rx {q} of {cfg:?}"
            );
            assert_eq!(rx.pool_buffers, buffers);
            assert_eq!(rx.buffer_size, buffer);
            assert_eq!(rx.pool_bytes, round_to_page(buffers * buffer));
            assert_eq!(dev.rx_pool(q as u16).unwrap().capacity(), buffers);
        }
        for tx in &m.tx {
            assert_eq!(tx.ring_entries, tx_ring);
            assert_eq!(tx.ring_bytes, round_to_page(tx_ring * 16));
            assert_eq!((tx.pool_buffers, tx.pool_bytes), (0, 0));
        }
        let expected = usize::from(rx_queues)
            * (round_to_page(rx_ring * 16) + round_to_page(buffers * buffer))
            + usize::from(tx_queues) * round_to_page(tx_ring * 16);
        assert_eq!(m.total(), expected);
        let bound = cfg.memory_bound(page);
        assert!(m.total() <= bound, "{} > {bound}", m.total());
        // Small rings cost a whole page: a bound without the rounding is below what was
        // allocated.
        if rx_ring * 16 < page {
            assert!(m.total() > cfg.memory_bound(1));
        }
        assert_clean(&port);
    }
}

/// Memory grows linearly with the ring size and the pool size, by exactly what one descriptor
/// and one buffer cost, and the bound grows alike.
#[test]
fn memory_grows_linearly_with_rings_and_pools() {
    let page = page_size();
    let open = |rx_ring: usize, pool: usize| {
        let cfg = Config {
            rx_queues: 2,
            rx_ring_size: rx_ring,
            mempool_size: pool,
            ..config()
        };
        let world = World::new();
        let port = exact_port(&world);
        let dev = Device::on_sim_port("sim-a", &world, &port, &cfg).expect("init");
        (dev.memory().total(), cfg.memory_bound(page))
    };
    // Rings of 1024, 2048, 4096 descriptors (16, 32, 64 KiB: whole pages), pool fixed.
    let rings: Vec<_> = [1024, 2048, 4096].map(|r| open(r, 8192)).into();
    assert_eq!(rings[1].0 - rings[0].0, 2 * 1024 * 16);
    assert_eq!(rings[2].0 - rings[1].0, 2 * 2048 * 16);
    assert_eq!(rings[1].1 - rings[0].1, 2 * 1024 * 16);
    // Pools of 4096, 8192, 16384 buffers of 4 KiB, ring fixed.
    let pools: Vec<_> = [4096, 8192, 16384].map(|p| open(512, p)).into();
    assert_eq!(pools[1].0 - pools[0].0, 2 * 4096 * 4096);
    assert_eq!(pools[2].0 - pools[1].0, 2 * 8192 * 4096);
    assert_eq!(pools[2].1 - pools[1].1, 2 * 8192 * 4096);
    for (total, bound) in rings.iter().chain(&pools) {
        assert!(total <= bound);
    }
}
