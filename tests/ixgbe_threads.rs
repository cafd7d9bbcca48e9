//! Queues served by threads: an 82599 port's queues taken out as handles
//! (`Device::take_queues`), moved to threads and forwarding against the model with RSS
//! spreading the flows. Nothing may be lost, each flow keeps its order, the per-queue counts the
//! driver keeps add up to what the device (the model's counters) counts, every buffer is
//! accounted for, counted independently, and the model reports nothing.
//!
//! And the handles' bad input: a queue that does not exist, a queue taken twice, a queue used
//! through the device while its handle is out, a handle used after its device closed.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rixy::frame;
use rixy::sim::{Pace, Port, PortConfig, Severity, SourceConfig, World};
use rixy::{Config, Device, Error, Mempool, Packet, RxQueue, TxQueue};

const _: () = {
    const fn send<T: Send>() {}
    send::<Device>();
    send::<RxQueue>();
    send::<TxQueue>();
    send::<Packet>();
    send::<Mempool>();
};

fn config(queues: u16) -> Config {
    Config {
        rx_queues: queues,
        tx_queues: queues,
        rx_ring_size: 128,
        tx_ring_size: 128,
        link_timeout: Duration::from_secs(1),
        ..Config::default()
    }
}

fn port(world: &World, last_mac_byte: u8) -> Port {
    let mut mac = rixy::sim::DEFAULT_MAC;
    mac[5] = last_mac_byte;
    world.add_port(PortConfig {
        mac,
        gprc_counts_drops: false,
        ..PortConfig::default()
    })
}

#[track_caller]
fn assert_no_reports(port: &Port) {
    let found = port.reports_at_least(Severity::Pedantic);
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

/// What one forwarding thread did.
#[derive(Default)]
struct Forwarded {
    received: u64,
    sent: u64,
}

/// Forwards from each `rx` to its `tx` until `done`; a packet the transmit ring cannot take
/// waits for the next turn (nothing is dropped).
fn forward(pairs: &mut [(RxQueue, TxQueue)], done: &AtomicBool) -> rixy::Result<Forwarded> {
    let mut pending: Vec<VecDeque<Packet>> = pairs.iter().map(|_| VecDeque::new()).collect();
    let mut did = Forwarded::default();
    while !done.load(Ordering::Relaxed) {
        for ((rx, tx), pending) in pairs.iter_mut().zip(&mut pending) {
            if pending.is_empty() {
                did.received += rx.rx_batch(pending, 32)? as u64;
                for p in pending.iter_mut() {
                    frame::touch(p);
                }
            }
            did.sent += tx.tx_batch(pending)? as u64;
        }
    }
    // What is still pending goes back to its pool (and is counted as not sent).
    Ok(did)
}

/// `queues` queue pairs of port a forwarding to port b on `threads` threads (queue pair i on
/// thread i mod threads), `count` frames over `flows` flows from a's link partner.
fn forward_on_threads(queues: u16, threads: usize, count: u64, flows: u32) {
    let world = World::new();
    let a = port(&world, 1);
    let b = port(&world, 2);
    let source = world.attach_source(
        &a,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(count),
            flows,
            ..SourceConfig::default()
        },
    );
    let sink = world.attach_sink(&b, count as usize);
    let mut dev_a = Device::on_sim_port("sim:a", &world, &a, &config(queues)).unwrap();
    let mut dev_b = Device::on_sim_port("sim:b", &world, &b, &config(queues)).unwrap();
    let (rx_a, tx_a) = dev_a.take_queues().unwrap();
    let (rx_b, tx_b) = dev_b.take_queues().unwrap();
    assert_eq!(
        (rx_a.len(), tx_b.len()),
        (usize::from(queues), usize::from(queues))
    );
    let pools: Vec<Mempool> = rx_a.iter().chain(&rx_b).map(|q| q.pool().clone()).collect();
    // Port a's transmit queues and b's receive queues stay unused, with their handles out.
    drop((tx_a, rx_b));

    let mut per_thread: Vec<Vec<(RxQueue, TxQueue)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, pair) in rx_a.into_iter().zip(tx_b).enumerate() {
        assert_eq!(pair.0.queue(), i as u16);
        per_thread[i % threads].push(pair);
    }
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = per_thread
        .into_iter()
        .map(|mut pairs| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let did = forward(&mut pairs, &done);
                (did, pairs)
            })
        })
        .collect();
    // This thread is the hardware: it runs the model while the workers serve the queues.
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.frames() < count && Instant::now() < deadline {
        world.step();
    }
    done.store(true, Ordering::Relaxed);
    let mut forwarded = Forwarded::default();
    let mut handles = Vec::new();
    for worker in workers {
        let (did, pairs) = worker.join().expect("a forwarding thread panicked");
        let did = did.expect("a batch failed");
        forwarded.received += did.received;
        forwarded.sent += did.sent;
        handles.extend(pairs);
    }
    handles.sort_by_key(|(rx, _)| rx.queue());
    let what = format!("{queues} queues on {threads} threads");
    assert_eq!(source.sent(), count, "{what}: the source sent all");
    assert_eq!(sink.frames(), count, "{what}: nothing lost");
    assert_eq!(
        (forwarded.received, forwarded.sent),
        (count, count),
        "{what}"
    );

    // Each flow on one queue, so in order: the sink's frames of one flow have increasing
    // sequence numbers, and every sequence number arrived once.
    let mut by_flow: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
    for f in sink.kept() {
        let parsed = frame::parse(&f).expect("a test frame");
        by_flow.entry(parsed.src_port).or_default().push(parsed.seq);
    }
    assert_eq!(by_flow.len(), flows as usize, "{what}: flows seen");
    let mut all: Vec<u32> = Vec::new();
    for (port, seqs) in &by_flow {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{what}: flow {port} out of order: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (0..count as u32).collect::<Vec<_>>(), "{what}");

    // Per queue, as the handles counted: every queue received, and the queues add up to what
    // the device counted (the model's GPRC and GPTC, read through the driver).
    let rx_per_queue: Vec<u64> = handles.iter().map(|(rx, _)| rx.stats().packets).collect();
    let tx_per_queue: Vec<u64> = handles.iter().map(|(_, tx)| tx.stats().packets).collect();
    assert!(
        rx_per_queue.iter().all(|&n| n > 0),
        "{what}: every queue receives: {rx_per_queue:?}"
    );
    for q in 0..queues {
        assert_eq!(
            dev_a.rx_queue_stats(q).unwrap().packets,
            rx_per_queue[usize::from(q)]
        );
    }
    let (stats_a, stats_b) = (dev_a.stats(), dev_b.stats());
    assert_eq!(
        rx_per_queue.iter().sum::<u64>(),
        stats_a.rx_packets,
        "{what}"
    );
    assert_eq!(
        tx_per_queue.iter().sum::<u64>(),
        stats_b.tx_packets,
        "{what}"
    );
    assert_eq!(
        stats_a.rx_dropped + stats_a.rx_errors + stats_b.tx_errors,
        0
    );

    // Every buffer accounted for: the handles go back to their devices, and then each buffer
    // is free in its pool or held in a ring, once.
    drop(handles);
    let pool_refs: Vec<&Mempool> = pools.iter().collect();
    common::accounting::check_buffers(&pool_refs, &[&dev_a, &dev_b], std::iter::empty())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_no_reports(&a);
    assert_no_reports(&b);
}

#[test]
fn two_queues_on_two_threads_forward_everything_in_order() {
    forward_on_threads(2, 2, 3000, 16);
}

#[test]
fn four_queues_on_two_threads_forward_everything_in_order() {
    forward_on_threads(4, 2, 3000, 16);
}

fn one_port(queues: u16) -> (World, Port, Device) {
    let world = World::new();
    let a = port(&world, 1);
    let dev = Device::on_sim_port("sim:a", &world, &a, &config(queues)).unwrap();
    (world, a, dev)
}

#[test]
fn a_queue_the_device_lacks_or_whose_handle_is_out_is_refused() {
    let (_world, port, mut dev) = one_port(2);
    assert!(matches!(
        dev.take_rx_queue(2),
        Err(Error::NoSuchQueue {
            queue: 2,
            queues: 2,
            ..
        })
    ));
    assert!(matches!(
        dev.take_tx_queue(7),
        Err(Error::NoSuchQueue { .. })
    ));
    let rx1 = dev.take_rx_queue(1).unwrap();
    let err = dev.take_rx_queue(1).unwrap_err();
    assert!(matches!(err, Error::QueueTaken { queue: 1, .. }), "{err}");
    assert!(err.to_string().contains("drop the handle"), "{err}");
    let mut batch = Vec::new();
    assert!(matches!(
        dev.rx_batch(1, &mut batch, 8),
        Err(Error::QueueTaken {
            kind: "receive",
            queue: 1,
            ..
        })
    ));
    // The other queue is still the device's.
    dev.rx_batch(0, &mut batch, 8).unwrap();
    // Dropped, the handle gives its queue back, buffers and all.
    let held = dev.buffers_held();
    drop(rx1);
    assert!(dev.buffers_held() > held);
    dev.rx_batch(1, &mut batch, 8).unwrap();
    let again = dev.take_rx_queue(1).unwrap();
    assert_eq!(again.queue(), 1);
    assert_no_reports(&port);
}

#[test]
fn a_handle_used_after_its_device_closed_fails_and_gives_its_buffers_back() {
    let (world, port, mut dev) = one_port(2);
    let source = world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(10),
            flows: 4,
            ..SourceConfig::default()
        },
    );
    let (mut rx, mut tx) = dev.take_queues().unwrap();
    let pool = rx[0].pool().clone();
    world.run_until_idle(100);
    assert_eq!(source.sent(), 10);
    let mut got = VecDeque::new();
    for q in &mut rx {
        q.rx_batch(&mut got, 32).unwrap();
    }
    assert_eq!(got.len(), 10);
    drop(dev);
    for q in &mut rx {
        let err = q.rx_batch(&mut got, 32).unwrap_err();
        assert!(matches!(err, Error::DeviceClosed { .. }), "{err}");
        assert!(err.to_string().contains("sim:a was closed"), "{err}");
    }
    let err = tx[0].tx_batch(&mut got).unwrap_err();
    assert!(matches!(err, Error::DeviceClosed { .. }), "{err}");
    assert_eq!(got.len(), 10, "a refused batch keeps its packets");
    // The handles own their buffers: dropped, every buffer is back in its pool.
    drop((rx, tx, got));
    assert_eq!(pool.free_count(), pool.capacity());
    assert_eq!(pool.references(), 1, "only the test's handle is left");
}

#[test]
fn a_redirection_table_naming_a_queue_the_device_lacks_is_refused_and_changes_nothing() {
    let (_world, port, mut dev) = one_port(4);
    let before = dev.rss_table().expect("RSS is on with four queues");
    let mut table = before;
    table[100] = 4;
    let err = dev.set_rss_table(&table).unwrap_err();
    assert!(
        err.to_string().contains("entry 100 names receive queue 4"),
        "{err}"
    );
    assert_eq!(dev.rss_table(), Some(before));
    // A table naming only queues 2 and 3 is taken.
    let table = std::array::from_fn(|i| 2 + (i % 2) as u16);
    dev.set_rss_table(&table).unwrap();
    assert_eq!(dev.rss_table(), Some(table));
    let (_world, _port1, mut one) = one_port(1);
    assert!(one.set_rss_key(&rixy::ixgbe::DEFAULT_RSS_KEY).is_err());
    assert_eq!(one.rss_table(), None);
    assert_no_reports(&port);
}
