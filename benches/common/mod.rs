//! Shared by the benchmarks: a criterion measurement in TSC cycles, so results read as
//! cycles per packet like the ixy paper's, next to criterion's wall-clock time.

#![allow(dead_code)]

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

/// Time-stamp-counter cycles (`rdtsc`, fenced so the measured code cannot leak out of the
/// interval). On an invariant-TSC machine these are reference cycles at the nominal frequency.
pub struct Tsc;

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn now() -> u64 {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: rdtsc and lfence have no preconditions on x86_64.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn now() -> u64 {
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
