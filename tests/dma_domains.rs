//! DMA domains: a device is only ever given memory it reaches. A pool of plain memory or of
//! another simulated world is refused by `tx_batch` with an error that loses nothing (every
//! packet stays in the caller's queue, in order), and a driver opened with an allocator of
//! another domain refuses to start. Checked against the 82599 model, whose DMA checker reports
//! any access outside its world's memory.

use std::collections::VecDeque;
use std::time::Duration;

use rixy::frame::FrameSpec;
use rixy::ixgbe::Ixgbe;
use rixy::memory::{DmaDomain, PlainAllocator};
use rixy::sim::{Port, PortConfig, Severity, SinkHandle, World};
use rixy::{Config, Device, Error, Mempool, Packet};

fn config() -> Config {
    Config {
        rx_ring_size: 64,
        tx_ring_size: 64,
        link_timeout: Duration::from_secs(1),
        ..Config::default()
    }
}

/// A port of `world` whose link partner is a sink, and a device on it.
fn port_with_sink(world: &World) -> (Port, SinkHandle, Device) {
    let port = world.add_port(PortConfig::default());
    let sink = world.attach_sink(&port, 0);
    let dev = Device::on_sim_port("p", world, &port, &config()).unwrap();
    (port, sink, dev)
}

/// `n` numbered frames from `pool`, each 60 bytes.
fn frames(pool: &Mempool, first: u32, n: u32) -> VecDeque<Packet> {
    let spec = FrameSpec::default();
    (first..first + n)
        .map(|seq| {
            let mut p = pool.alloc().unwrap();
            p.set_len(spec.len).unwrap();
            spec.write(&mut p, seq).unwrap();
            p
        })
        .collect()
}

/// The buffer (pool, index) of every packet, in queue order.
fn identities(q: &VecDeque<Packet>) -> Vec<(u32, u32)> {
    q.iter().map(|p| (p.pool().id(), p.pool_index())).collect()
}

#[track_caller]
fn assert_no_reports(port: &Port) {
    let found = port.reports_at_least(Severity::Warn);
    assert!(found.is_empty(), "the model reported: {found:?}");
}

/// Sends `q` on `dev`, expecting a refusal for packet `bad` that takes nothing; then checks
/// that the device sent nothing and the model saw no bad DMA.
#[track_caller]
fn assert_refused(
    world: &World,
    port: &Port,
    sink: &SinkHandle,
    dev: &mut Device,
    q: &mut VecDeque<Packet>,
    bad: usize,
) {
    let before = identities(q);
    let sent_before = sink.frames();
    let err = dev.tx_batch(0, q).unwrap_err();
    match &err {
        Error::ForeignDmaDomain {
            device_domain,
            memory_domain,
            what,
            ..
        } => {
            assert_ne!(device_domain, memory_domain);
            assert!(
                what.starts_with(&format!("packet {bad} ")),
                "{what}: expected packet {bad}"
            );
        }
        other => panic!("expected a DMA domain refusal, got: {other}"),
    }
    assert!(err.to_string().contains("nothing was sent"), "{err}");
    assert_eq!(identities(q), before, "every packet stays, in order");
    world.run_until_idle(100);
    assert_eq!(sink.frames(), sent_before, "nothing reached the wire");
    assert_eq!(
        dev.buffers_held(),
        dev.rx_pool(0).unwrap().capacity() - dev.rx_pool(0).unwrap().free_count()
    );
    assert_no_reports(port);
}

#[test]
fn a_plain_memory_pool_is_refused_by_a_simulated_port() {
    let world = World::new();
    let (port, sink, mut dev) = port_with_sink(&world);
    let plain = Mempool::new(&PlainAllocator::new(), 8, 2048).unwrap();
    assert_eq!(plain.domain(), DmaDomain::Virtual);
    let mut q = frames(&plain, 0, 8);
    assert_refused(&world, &port, &sink, &mut dev, &mut q, 0);
}

#[test]
fn a_pool_of_another_world_is_refused() {
    let (world_a, world_b) = (World::new(), World::new());
    let (_, _, a_dev) = port_with_sink(&world_a);
    let (port_b, sink_b, mut b_dev) = port_with_sink(&world_b);
    let a_pool = a_dev.mempool(8, 2048).unwrap();
    assert_ne!(a_pool.domain(), b_dev.mempool(1, 2048).unwrap().domain());
    let mut q = frames(&a_pool, 0, 8);
    assert_refused(&world_b, &port_b, &sink_b, &mut b_dev, &mut q, 0);
}

#[test]
fn one_foreign_packet_among_good_ones_stops_the_whole_batch_and_the_rest_goes_later() {
    let world = World::new();
    let (port, sink, mut dev) = port_with_sink(&world);
    let good = dev.mempool(16, 2048).unwrap();
    let plain = Mempool::new(&PlainAllocator::new(), 1, 2048).unwrap();
    let mut q = frames(&good, 0, 5);
    q.extend(frames(&plain, 5, 1));
    q.extend(frames(&good, 6, 5));
    assert_refused(&world, &port, &sink, &mut dev, &mut q, 5);
    // The caller takes the foreign packet out; everything else goes, in order.
    let foreign = q.remove(5).unwrap();
    assert_eq!(foreign.pool().id(), plain.id());
    assert_eq!(dev.tx_batch(0, &mut q).unwrap(), 10);
    world.run_until_idle(100);
    assert_eq!(sink.frames(), 10);
    assert_no_reports(&port);
}

#[test]
fn a_foreign_packet_beyond_what_the_ring_takes_is_left_for_a_later_batch() {
    // 63 free descriptors: the packet after them is not looked at yet.
    let world = World::new();
    let (port, sink, mut dev) = port_with_sink(&world);
    let good = dev.mempool(64, 2048).unwrap();
    let plain = Mempool::new(&PlainAllocator::new(), 1, 2048).unwrap();
    let mut q = frames(&good, 0, 63);
    q.extend(frames(&plain, 63, 1));
    assert_eq!(dev.tx_batch(0, &mut q).unwrap(), 63);
    assert_eq!(q.len(), 1);
    world.run_until_idle(100);
    assert_eq!(sink.frames(), 63);
    // Now it is first in line, and refused.
    assert_refused(&world, &port, &sink, &mut dev, &mut q, 0);
}

#[test]
fn a_driver_opened_with_memory_its_device_does_not_reach_refuses_to_start() {
    let other_world = World::new();
    let other = other_world.add_port(PortConfig::default());
    let world = World::new();
    for (what, dma) in [
        (
            "plain memory",
            &PlainAllocator::new() as &dyn rixy::memory::DmaAllocator,
        ),
        ("another world's memory", &other.dma()),
    ] {
        let port = world.add_port(PortConfig::default());
        match Ixgbe::new("p".into(), port.bar(), dma, &config()) {
            Ok(_) => panic!("the driver started on {what}"),
            Err(err) => assert!(
                matches!(err, Error::ForeignDmaDomain { .. }),
                "{what}: {err}"
            ),
        }
    }
}
