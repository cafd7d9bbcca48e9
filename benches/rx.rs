//! `rx` on the simulated 82599: receive a batch and free it, batch 32, ring 512, in TSC cycles and in
//! time per packet, with the model's share measured apart (see `common/sim.rs`).

mod common;

use common::sim::{Kind, Setup, cycles_and_time};

fn main() {
    let mut cycles = common::cycles_criterion().configure_from_args();
    let mut time = common::time_criterion().configure_from_args();
    let setup = Setup {
        kind: Kind::Rx,
        batch: 32,
        ring: 512,
    };
    cycles_and_time(&mut cycles, &mut time, "rx", &[(setup, 32)]);
    cycles.final_summary();
    time.final_summary();
}
