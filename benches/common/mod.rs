//! Shared by the benchmarks: a criterion measurement in TSC cycles, so results read as
//! cycles per packet like the ixy paper's, next to criterion's wall-clock time.

#![allow(dead_code)]

pub mod sim;

use std::time::Duration;

use criterion::measurement::ValueFormatter;
use criterion::measurement::{Measurement, WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput};

/// Time-stamp-counter cycles (`rdtsc`, fenced so the measured code cannot leak out of the
/// interval). On an invariant-TSC machine these are reference cycles at the nominal frequency.
pub struct Tsc;

/// The time-stamp counter now, fenced: work before the call has finished and work after it has
/// not started when the counter is read.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn now() -> u64 {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: rdtsc and lfence have no preconditions on x86_64.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Nanoseconds since the first call, where there is no time-stamp counter.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn now() -> u64 {
    // Elsewhere: nanoseconds since the first call, so the benches still run.
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

impl Measurement for Tsc {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        now()
    }
    fn end(&self, start: u64) -> u64 {
        now().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CyclesFormatter
    }
}

struct CyclesFormatter;

impl ValueFormatter for CyclesFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "cycles"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per, unit) = match *throughput {
            Throughput::Elements(n) => (n, "cycles/packet"),
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n, "cycles/byte"),
            Throughput::Bits(n) => (n, "cycles/bit"),
            Throughput::ElementsAndBytes { elements, .. } => (elements, "cycles/packet"),
        };
        for v in values {
            *v /= per.max(1) as f64;
        }
        unit
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "cycles"
    }
}

/// A criterion that measures in TSC cycles.
pub fn cycles_criterion() -> Criterion<Tsc> {
    Criterion::default().with_measurement(Tsc)
}

/// A criterion that measures wall-clock time.
pub fn time_criterion() -> Criterion<WallTime> {
    Criterion::default()
}

/// Keeps a group short, so that a whole `cargo bench` takes minutes on a small machine: 20
/// samples after a short warm-up, one second of measurement each.
pub fn quick<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
}
