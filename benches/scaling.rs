//! Two threads on two queue pairs: the forwarder's driver-side cycles per packet (batch 32,
//! ring 512) on one thread alone, and on one thread while a second thread forwards on queues of
//! its own at the same time. A driver that shares nothing on its packet path costs the same
//! per packet either way; the target is within 15%.
//!
//! Each thread drives its own pair of simulated ports, in a world of its own: the model runs a
//! world under one lock, so two threads stepping one world would measure the model's lock, not
//! the driver. What the two threads do share is everything process-wide the driver touches
//! (the allocator, the pools' and the queues' code, statics) and the machine's cores and caches.
//! The model's share is taken out as in the other driver benchmarks (`common/sim.rs`).

mod common;

use std::sync::Arc;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use common::sim::{Kind, MeteredDriver, Setup};
use criterion::{BenchmarkId, Throughput};

const SETUP: Setup = Setup {
    kind: Kind::Fwd,
    batch: 32,
    ring: 512,
};

/// A second thread forwarding on its own ports until dropped.
struct Neighbour {
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Neighbour {
    fn start() -> Neighbour {
        let running = Arc::new(AtomicBool::new(true));
        let ready = Arc::new(Barrier::new(2));
        let thread = {
            let (running, ready) = (Arc::clone(&running), Arc::clone(&ready));
            std::thread::spawn(move || {
                let mut driver = MeteredDriver::new(SETUP);
                ready.wait();
                let mut rounds = 0;
                while running.load(Ordering::Relaxed) {
                    driver.driver_cycles(64);
                    rounds += 1;
                }
                driver.check();
                rounds
            })
        };
        ready.wait();
        Neighbour {
            running,
            thread: Some(thread),
        }
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let rounds = t.join().expect("the neighbour thread panicked");
            assert!(rounds > 0, "the neighbour never ran");
        }
    }
}

fn main() {
    let mut c = common::cycles_criterion().configure_from_args();
    let mut g = c.benchmark_group("fwd-threads/cycles");
    common::quick(&mut g);
    g.throughput(Throughput::Elements(SETUP.batch as u64));
    for threads in [1usize, 2] {
        let mut metered = None;
        let mut neighbour = None;
        g.bench_function(BenchmarkId::new("driver", threads), |b| {
            let m = metered.get_or_insert_with(|| MeteredDriver::new(SETUP));
            if threads == 2 {
                neighbour.get_or_insert_with(Neighbour::start);
            }
            b.iter_custom(|iters| m.driver_cycles(iters))
        });
        drop(neighbour);
        if let Some(m) = metered.take() {
            m.check();
        }
    }
    g.finish();
    c.final_summary();
}
