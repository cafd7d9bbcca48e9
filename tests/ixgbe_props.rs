//! Random sequences of receive batches, transmit batches, traffic bursts and link flaps against
//! the 82599 model: every buffer stays accounted for after every step, and the model's checker
//! has nothing to report.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use rixy::frame::FrameSpec;
use rixy::sim::{PortConfig, Severity, World};
use rixy::{Config, Device, Packet};

use common::accounting::check_buffers;

#[derive(Clone, Debug)]
enum Op {
    /// Receive up to n packets on B and keep them.
    Rx(usize),
    /// Send n new packets from A (plus whatever the ring refused before).
    Tx(usize),
    /// n frames arrive at B at once from outside.
    Burst(usize),
    /// Drop n of the packets the application holds.
    Free(usize),
    /// A's link goes down or up.
    Link(bool),
    /// Time passes.
    Step(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..128).prop_map(Op::Rx),
        (0usize..200).prop_map(Op::Tx),
        (0usize..400).prop_map(Op::Burst),
        (0usize..200).prop_map(Op::Free),
        any::<bool>().prop_map(Op::Link),
        (1usize..5).prop_map(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn buffers_are_never_lost_and_the_model_sees_no_violation(ops in prop::collection::vec(op(), 1..60)) {
        let world = World::new();
        let port = |w: &World| w.add_port(PortConfig { gprc_counts_drops: false, ..PortConfig::default() });
        let (a, b) = (port(&world), port(&world));
        world.connect(&a, &b);
        let config = Config {
            rx_ring_size: 128,
            tx_ring_size: 128,
            link_timeout: Duration::from_millis(50),
            ..Config::default()
        };
        let mut a_dev = Device::on_sim_port("a", &world, &a, &config).unwrap();
        let mut b_dev = Device::on_sim_port("b", &world, &b, &config).unwrap();
        let tx_pool = a_dev.mempool(256, 2048).unwrap();
        let spec = FrameSpec::default();
        let mut held: Vec<Packet> = Vec::new();
        let mut refused: VecDeque<Packet> = VecDeque::new();
        let mut seq = 0u32;

        for op in ops {
            match op {
                Op::Rx(n) => {
                    b_dev.rx_batch(0, &mut held, n).unwrap();
                }
                Op::Tx(n) => {
                    for _ in 0..n {
                        let Some(mut p) = tx_pool.alloc() else { break };
                        p.set_len(spec.len).unwrap();
                        spec.write(&mut p, seq).unwrap();
                        seq += 1;
                        refused.push_back(p);
                    }
                    a_dev.tx_batch(0, &mut refused).unwrap();
                }
                Op::Burst(n) => b.inject_burst(n),
                Op::Free(n) => {
                    let keep = held.len().saturating_sub(n);
                    held.truncate(keep);
                }
                Op::Link(up) => a.set_link(up),
                Op::Step(k) => {
                    for _ in 0..k {
                        world.step();
                    }
                }
            }
            world.step();
            let pools = [&tx_pool, a_dev.rx_pool(0).unwrap(), b_dev.rx_pool(0).unwrap()];
            prop_assert_eq!(check_buffers(&pools, &[&a_dev, &b_dev], held.iter().chain(&refused)), Ok(()));
        }
        a.set_link(true);
        world.run_until_idle(1000);
        for p in [&a, &b] {
            let found = p.reports_at_least(Severity::Pedantic);
            prop_assert!(found.is_empty(), "{}", found.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
        }
    }
}
