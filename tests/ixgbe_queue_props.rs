//! The queue handles' bookkeeping against a reference: random sequences of steps, receive and
//! transmit batches of random sizes (through the device or through a handle), handles taken
//! and dropped (their queues parked and taken back), and packets freed one by one or in bulk,
//! on a port with two receive queues whose link partner sends several flows, forwarding to a
//! port with two transmit queues.
//!
//! After every operation every buffer is in exactly one place, counted independently (the
//! pools' free stacks, the devices' rings, the handles' rings, the packets the test holds); and
//! the reference, what the test has seen, agrees with the driver: every frame received once,
//! each flow in order, every frame handed to a transmit queue arriving once at the sink.

mod common;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use proptest::prelude::*;
use rixy::frame;
use rixy::sim::{Pace, PortConfig, Severity, SourceConfig, World};
use rixy::{Config, Device, Mempool, Packet, RxQueue, TxQueue};

const QUEUES: u16 = 2;

#[derive(Clone, Debug)]
enum Op {
    Step(u8),
    /// Receive up to n on queue q (through its handle if it is out).
    Rx(u16, usize),
    /// Send up to n of the held packets on queue q of the other port.
    Tx(u16, usize),
    /// Take the receive (false) or transmit (true) handle of queue q out, or drop it if out.
    Toggle(bool, u16),
    /// Free n held packets, in bulk or one by one.
    Free(usize, bool),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (1u8..4).prop_map(Op::Step),
            4 => (0..QUEUES, 1usize..127).prop_map(|(q, n)| Op::Rx(q, n)),
            4 => (0..QUEUES, 0usize..160).prop_map(|(q, n)| Op::Tx(q, n)),
            2 => (any::<bool>(), 0..QUEUES).prop_map(|(t, q)| Op::Toggle(t, q)),
            1 => (0usize..100, any::<bool>()).prop_map(|(n, b)| Op::Free(n, b)),
        ],
        1..80,
    )
}

fn config() -> Config {
    Config {
        rx_queues: QUEUES,
        tx_queues: QUEUES,
        rx_ring_size: 128,
        tx_ring_size: 64,
        link_timeout: Duration::from_secs(1),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn handles_lose_nothing_and_keep_every_flow_in_order(ops in ops()) {
        let world = World::new();
        let pc = PortConfig { gprc_counts_drops: false, ..PortConfig::default() };
        let mut mac_b = rixy::sim::DEFAULT_MAC;
        mac_b[5] = 2;
        let a = world.add_port(pc.clone());
        let b = world.add_port(PortConfig { mac: mac_b, ..pc });
        let source = world.attach_source(&a, SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(3000),
            flows: 8,
            ..SourceConfig::default()
        });
        let sink = world.attach_sink(&b, 4000);
        let mut dev_a = Device::on_sim_port("sim:a", &world, &a, &config()).unwrap();
        let mut dev_b = Device::on_sim_port("sim:b", &world, &b, &config()).unwrap();
        let pools: Vec<Mempool> = (0..QUEUES)
            .flat_map(|q| [dev_a.rx_pool(q).unwrap().clone(), dev_b.rx_pool(q).unwrap().clone()])
            .collect();
        let mut rx: Vec<Option<RxQueue>> = (0..QUEUES).map(|_| None).collect();
        let mut tx: Vec<Option<TxQueue>> = (0..QUEUES).map(|_| None).collect();
        let mut held: VecDeque<Packet> = VecDeque::new();
        // The reference: sequence numbers received, per flow in arrival order; handed to a
        // transmit ring.
        let mut seen: HashSet<u32> = HashSet::new();
        let mut by_flow: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
        let mut sent: u64 = 0;

        for op in ops {
            match op {
                Op::Step(k) => for _ in 0..k { world.step() },
                Op::Rx(q, n) => {
                    let mut got = Vec::new();
                    match &mut rx[usize::from(q)] {
                        Some(h) => h.rx_batch(&mut got, n).unwrap(),
                        None => dev_a.rx_batch(q, &mut got, n).unwrap(),
                    };
                    for p in got {
                        let f = frame::parse(&p).expect("a test frame");
                        prop_assert!(seen.insert(f.seq), "frame {} received twice", f.seq);
                        by_flow.entry(f.src_port).or_default().push(f.seq);
                        held.push_back(p);
                    }
                }
                Op::Tx(q, n) => {
                    let mut batch: VecDeque<Packet> = held.drain(..n.min(held.len())).collect();
                    let took = match &mut tx[usize::from(q)] {
                        Some(h) => h.tx_batch(&mut batch).unwrap(),
                        None => dev_b.tx_batch(q, &mut batch).unwrap(),
                    };
                    sent += took as u64;
                    // What the ring did not take goes back to the front, in order.
                    while let Some(p) = batch.pop_back() {
                        held.push_front(p);
                    }
                }
                Op::Toggle(transmit, q) => {
                    let q_ = usize::from(q);
                    if transmit {
                        match tx[q_].take() {
                            Some(h) => drop(h),
                            None => tx[q_] = Some(dev_b.take_tx_queue(q).unwrap()),
                        }
                    } else {
                        match rx[q_].take() {
                            Some(h) => drop(h),
                            None => rx[q_] = Some(dev_a.take_rx_queue(q).unwrap()),
                        }
                    }
                }
                Op::Free(n, bulk) => {
                    let n = n.min(held.len());
                    if bulk {
                        Mempool::free_bulk(held.drain(..n));
                    } else {
                        for p in held.drain(..n) {
                            drop(p);
                        }
                    }
                }
            }
            let mut more = Vec::new();
            for h in rx.iter().flatten() {
                more.extend(h.held_buffer_addrs().into_iter().map(|a| (a, format!("rx handle {}", h.queue()))));
            }
            for h in tx.iter().flatten() {
                more.extend(h.held_buffer_addrs().into_iter().map(|a| (a, format!("tx handle {}", h.queue()))));
            }
            let pool_refs: Vec<&Mempool> = pools.iter().collect();
            common::accounting::check_buffers_and(&pool_refs, &[&dev_a, &dev_b], held.iter(), more)
                .map_err(TestCaseError::fail)?;
        }

        // Drain: everything sent arrives at the sink once.
        for _ in 0..20 {
            world.step();
            for q in 0..QUEUES {
                let mut nothing = VecDeque::new();
                match &mut tx[usize::from(q)] {
                    Some(h) => h.tx_batch(&mut nothing).unwrap(),
                    None => dev_b.tx_batch(q, &mut nothing).unwrap(),
                };
            }
        }
        prop_assert_eq!(sink.frames(), sent);
        let mut arrived: Vec<u32> = sink.kept().iter().map(|f| frame::parse(f).unwrap().seq).collect();
        let n = arrived.len();
        arrived.sort_unstable();
        arrived.dedup();
        prop_assert_eq!(arrived.len(), n, "a frame arrived twice");
        for (flow, seqs) in &by_flow {
            prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "flow {} out of order: {:?}", flow, seqs);
        }
        prop_assert!(source.sent() >= seen.len() as u64);
        for port in [&a, &b] {
            let found = port.reports_at_least(Severity::Pedantic);
            prop_assert!(found.is_empty(), "the model reported: {:?}", found);
        }
    }
}
