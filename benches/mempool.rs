//! Mempool cost per packet: one allocation and free at a time, and in bulk (as a driver's
//! refill and a generator's batch use it). Reported in TSC cycles and in time.

mod common;

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rixy::memory::{Mempool, PlainAllocator};

fn mempool<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    let pool = Mempool::new(&PlainAllocator::new(), 4096, 2048).expect("a 8 MiB pool");
    g.throughput(Throughput::Elements(1));
    g.bench_function("alloc_free_single", |b| {
        b.iter(|| {
            let p = pool.alloc();
            black_box(&p);
        })
    });
    for batch in [32usize, 256] {
        let mut packets = Vec::with_capacity(batch);
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("alloc_free_bulk_{batch}"), |b| {
            b.iter(|| {
                pool.alloc_bulk(&mut packets, batch);
                black_box(&packets);
                Mempool::free_bulk(packets.drain(..));
            })
        });
    }
}

fn cycles(c: &mut Criterion<common::Tsc>) {
    let mut g = c.benchmark_group("mempool/cycles");
    common::quick(&mut g);
    mempool(&mut g);
}

fn time(c: &mut Criterion) {
    let mut g = c.benchmark_group("mempool/time");
    common::quick(&mut g);
    mempool(&mut g);
}

criterion_group!(name = by_cycles; config = Criterion::default().with_measurement(common::Tsc); targets = cycles);
criterion_group!(by_time, time);
criterion_main!(by_cycles, by_time);
