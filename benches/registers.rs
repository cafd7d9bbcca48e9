//! The typed register layer against raw volatile accesses on the same memory: a typed write or
//! read must compile to the same single load or store, so the ratio must be 1.00 within noise.

mod common;

use std::hint::black_box;
use std::ptr::NonNull;

use criterion::measurement::Measurement;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rixy::regs::Mmio;
use rixy::regs::ixgbe::{Registers, TxQueue};
use tock_registers::interfaces::{Readable, Writeable};

/// Accesses per iteration, so the loop overhead is spread thin.
const N: u32 = 64;

fn registers<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    let mut memory = vec![0u64; Registers::<Mmio>::SIZE / 8];
    let base = NonNull::new(memory.as_mut_ptr().cast::<u8>()).expect("a vector is not null");
    // SAFETY: `memory` outlives every use of the bus below, is 8-byte aligned, and is not
    // referenced while the bus is in use.
    let regs = Registers::new(unsafe { Mmio::new(base, Registers::<Mmio>::SIZE) })
        .expect("the window is the register space");
    let queue = TxQueue::at::<5>();
    let offset = regs.tdt(queue).offset();
    let raw = base.as_ptr().wrapping_add(offset).cast::<u32>();

    g.throughput(Throughput::Elements(u64::from(N)));
    g.bench_function("typed_write", |b| {
        b.iter(|| {
            for i in 0..N {
                regs.tdt(queue).set(black_box(i));
            }
        })
    });
    g.bench_function("raw_write", |b| {
        b.iter(|| {
            for i in 0..N {
                // SAFETY: `raw` points to the same aligned register inside `memory`.
                unsafe { raw.write_volatile(black_box(i)) };
            }
        })
    });
    g.bench_function("typed_read", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for _ in 0..N {
                sum = sum.wrapping_add(regs.tdt(queue).get());
            }
            black_box(sum)
        })
    });
    g.bench_function("raw_read", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for _ in 0..N {
                // SAFETY: as above.
                sum = sum.wrapping_add(unsafe { raw.read_volatile() });
            }
            black_box(sum)
        })
    });
    // `memory` is still alive here, after the last access through `regs`.
    black_box(&memory);
}

fn cycles(c: &mut Criterion<common::Tsc>) {
    let mut g = c.benchmark_group("registers/cycles");
    common::quick(&mut g);
    registers(&mut g);
}

fn time(c: &mut Criterion) {
    let mut g = c.benchmark_group("registers/time");
    common::quick(&mut g);
    registers(&mut g);
}

criterion_group!(name = by_cycles; config = Criterion::default().with_measurement(common::Tsc); targets = cycles);
criterion_group!(by_time, time);
criterion_main!(by_cycles, by_time);
