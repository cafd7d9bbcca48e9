//! The paper's forwarder on the simulated 82599: receive a batch on one port, touch one byte of
//! each packet, send the batch on the other. Swept over the batch size (ring 512) and the ring
//! size (batch 32), in TSC cycles and in time per packet, with the model's share measured apart
//! (see `common/sim.rs`).

mod common;

use common::sim::{Kind, Setup, cycles_and_time};

/// Batch sizes of the sweep (ixy's Figure 6).
const BATCHES: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/// Ring sizes of the sweep, at batch 32.
const RINGS: [usize; 7] = [64, 128, 256, 512, 1024, 2048, 4096];

fn main() {
    let mut cycles = common::cycles_criterion().configure_from_args();
    let mut time = common::time_criterion().configure_from_args();
    let by_batch: Vec<_> = BATCHES
        .iter()
        .map(|&batch| {
            let setup = Setup {
                kind: Kind::Fwd,
                batch,
                ring: 512,
            };
            (setup, batch)
        })
        .collect();
    cycles_and_time(&mut cycles, &mut time, "fwd-batch", &by_batch);
    let by_ring: Vec<_> = RINGS
        .iter()
        .map(|&ring| {
            let setup = Setup {
                kind: Kind::Fwd,
                batch: 32,
                ring,
            };
            (setup, ring)
        })
        .collect();
    cycles_and_time(&mut cycles, &mut time, "fwd-ring", &by_ring);
    cycles.final_summary();
    time.final_summary();
}
