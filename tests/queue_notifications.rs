//! `QueueStats::notifications` on the 82599 (through a simulated port): one tail register write
//! per receive batch that consumed descriptors (RDT) and per transmit batch that placed packets
//! (TDT), none for empty batches, counted here independently from the batches' results.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rixy::{Config, Mempool};

#[test]
fn the_82599_counts_one_tail_write_per_batch_that_moved_something() {
    let config = Config {
        link_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let mut dev = rixy::open("sim:0", &config).unwrap();
    let base_rx = dev.rx_queue_stats(0).unwrap().notifications;
    let base_tx = dev.tx_queue_stats(0).unwrap().notifications;
    let pool: Mempool = dev.mempool(256, 2048).unwrap();

    let mut tx_batches = 0u64;
    for _ in 0..20 {
        let mut batch: VecDeque<_> = (0..32)
            .map(|_| {
                let mut p = pool.alloc().unwrap();
                p.set_len(60).unwrap();
                p
            })
            .collect();
        if dev.tx_batch(0, &mut batch).unwrap() > 0 {
            tx_batches += 1;
        }
        // An empty batch writes no tail.
        dev.tx_batch(0, &mut VecDeque::new()).unwrap();
    }
    assert!(tx_batches > 0);
    assert_eq!(
        dev.tx_queue_stats(0).unwrap().notifications - base_tx,
        tx_batches
    );

    let mut rx_batches = 0u64;
    let mut got = Vec::new();
    let start = Instant::now();
    while rx_batches < 20 && start.elapsed() < Duration::from_secs(10) {
        if dev.rx_batch(0, &mut got, 32).unwrap() > 0 {
            rx_batches += 1;
        }
        got.clear();
    }
    assert_eq!(rx_batches, 20, "the simulated source sent too little");
    assert_eq!(
        dev.rx_queue_stats(0).unwrap().notifications - base_rx,
        rx_batches
    );
}
