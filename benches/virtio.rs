//! `virtio`: the virtqueue operations of the transmit path (reap, header, describe, publish,
//! notification decision) against a device written here from the specification, in TSC cycles per
//! packet: batch 32, queue 256, split (VirtIO 1.0 2.4) with and without VIRTIO_F_EVENT_IDX, and
//! packed (1.1 2.7). The device's share is in the figures: it takes every available buffer and
//! returns it used after each batch, as QEMU's transmit flush does, touching each descriptor
//! once. Run: `cargo bench --bench virtio`.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::ErrorKind;

use criterion::{BatchSize, Throughput};
use rixy::memory::{DmaDomain, PlainAllocator};
use rixy::virtio::Virtio;
use rixy::virtio::transport::{QueueAddrs, Transport};
use rixy::{Config, Mempool};

const BATCH: usize = 32;
const QUEUE: u16 = 256;

// Feature bits (VirtIO 1.0 5.1.3 and 6; 1.1 6).
const F_MAC: u64 = 1 << 5;
const F_STATUS: u64 = 1 << 16;
const F_EVENT_IDX: u64 = 1 << 29;
const F_VERSION_1: u64 = 1 << 32;
const F_RING_PACKED: u64 = 1 << 34;
const P_AVAIL: u16 = 1 << 7;
const P_USED: u16 = 1 << 15;

/// Device-side state of one queue.
#[derive(Clone, Copy, Default)]
struct Queue {
    size: u16,
    addrs: Option<QueueAddrs>,
    /// Split: next available entry to take; packed: next position and its wrap counter.
    next: u16,
    wrap: bool,
    /// Packed: next used position and its wrap counter; split: the used index.
    used: u16,
    used_wrap: bool,
}

/// A modern virtio-net device in this process's memory (device address = virtual address).
struct Device {
    features: u64,
    status: Cell<u8>,
    driver_features: Cell<u64>,
    sel: Cell<u16>,
    queues: RefCell<[Queue; 3]>,
    notifications: Cell<u64>,
}

fn rd16(addr: u64) -> u16 {
    // SAFETY: `addr` is inside a queue the driver allocated from a PlainAllocator and gave the
    // device; it lives while the driver does, and every field is 2-aligned.
    unsafe { std::ptr::read_volatile(addr as *const u16) }
}

fn wr16(addr: u64, v: u16) {
    // SAFETY: as in `rd16`.
    unsafe { std::ptr::write_volatile(addr as *mut u16, v) }
}

fn wr32(addr: u64, v: u32) {
    // SAFETY: as in `rd16`, 4-aligned.
    unsafe { std::ptr::write_volatile(addr as *mut u32, v) }
}

impl Device {
    fn new(features: u64) -> Self {
        Device {
            features,
            status: Cell::new(0),
            driver_features: Cell::new(0),
            sel: Cell::new(0),
            queues: RefCell::new([Queue::default(); 3]),
            notifications: Cell::new(0),
        }
    }

    /// Returns every buffer the driver made available on the transmit queue (2.4.8 split, 1.1
    /// 2.7.1 packed).
    fn flush(&self) {
        let mut queues = self.queues.borrow_mut();
        let q = &mut queues[1];
        let Some(a) = q.addrs else { return };
        let n = q.size;
        if self.driver_features.get() & F_RING_PACKED != 0 {
            loop {
                let d = a.desc + 16 * u64::from(q.next);
                let flags = rd16(d + 14);
                if (flags & P_AVAIL != 0) != q.wrap || (flags & P_USED != 0) == q.wrap {
                    break;
                }
                let id = rd16(d + 12);
                q.next += 1;
                if q.next == n {
                    q.next = 0;
                    q.wrap = !q.wrap;
                }
                let u = a.desc + 16 * u64::from(q.used);
                wr32(u + 8, 0);
                wr16(u + 12, id);
                wr16(u + 14, if q.used_wrap { P_AVAIL | P_USED } else { 0 });
                q.used += 1;
                if q.used == n {
                    q.used = 0;
                    q.used_wrap = !q.used_wrap;
                }
            }
        } else {
            let avail_idx = rd16(a.driver + 2);
            while q.next != avail_idx {
                let head = rd16(a.driver + 4 + 2 * u64::from(q.next % n));
                let e = a.device + 4 + 8 * u64::from(q.used % n);
                wr32(e, u32::from(head));
                wr32(e + 4, 0);
                q.next = q.next.wrapping_add(1);
                q.used = q.used.wrapping_add(1);
            }
            wr16(a.device + 2, q.used);
            if self.driver_features.get() & F_EVENT_IDX != 0 {
                // Ask for a notification at the next entry, as QEMU does when it goes idle.
                wr16(a.device + 4 + 8 * u64::from(n), q.next);
            }
        }
    }
}

impl Transport for Device {
    fn is_modern(&self) -> bool {
        true
    }
    fn status(&self) -> u8 {
        self.status.get()
    }
    fn set_status(&self, status: u8) {
        self.status.set(status);
        if status == 0 {
            *self.queues.borrow_mut() = [Queue::default(); 3];
        }
    }
    fn device_features(&self) -> u64 {
        self.features
    }
    fn set_driver_features(&self, features: u64) {
        self.driver_features.set(features);
    }
    fn driver_features(&self) -> u64 {
        self.driver_features.get()
    }
    fn queue_size(&self, index: u16) -> (u16, bool) {
        self.sel.set(index);
        (if index < 2 { QUEUE } else { 0 }, false)
    }
    fn set_queue(&mut self, index: u16, size: u16, addrs: QueueAddrs) -> Result<(), String> {
        self.queues.borrow_mut()[usize::from(index)] = Queue {
            size,
            addrs: Some(addrs),
            wrap: true,
            used_wrap: true,
            ..Queue::default()
        };
        Ok(())
    }
    fn notify(&self, _index: u16) {
        self.notifications.set(self.notifications.get() + 1);
    }
    fn mac(&self) -> [u8; 6] {
        [2, 0, 0, 0, 0, 1]
    }
    fn write_mac(&self, _mac: [u8; 6]) -> bool {
        false
    }
    fn link_up(&self) -> bool {
        true
    }
    fn take_error(&self) -> Option<(ErrorKind, u64)> {
        None
    }
    fn dma_domain(&self) -> DmaDomain {
        DmaDomain::Virtual
    }
}

fn main() {
    let mut c = common::cycles_criterion().configure_from_args();
    let mut g = c.benchmark_group("virtio/tx/cycles");
    common::quick(&mut g);
    g.throughput(Throughput::Elements(BATCH as u64));
    let base = F_MAC | F_STATUS | F_VERSION_1;
    for (name, features) in [
        ("split", base),
        ("split+event_idx", base | F_EVENT_IDX),
        ("packed", base | F_EVENT_IDX | F_RING_PACKED),
    ] {
        let dma = PlainAllocator::new();
        let config = Config {
            buffer_size: 2048,
            ..Config::default()
        };
        let mut dev = Virtio::with_transport("bench".into(), Device::new(features), &dma, &config)
            .expect("the bench device opens");
        assert_eq!(dev.features().packed, features & F_RING_PACKED != 0);
        let pool = Mempool::new(&dma, 512, 2048).expect("a pool");
        let mut pending = VecDeque::with_capacity(BATCH);
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || (),
                |()| {
                    while pending.len() < BATCH {
                        let Some(mut p) = pool.alloc() else { break };
                        p.set_len(60).expect("60 bytes fit");
                        pending.push_back(p);
                    }
                    let sent = dev.tx_batch(0, &mut pending).expect("tx");
                    dev.transport().flush();
                    sent
                },
                BatchSize::SmallInput,
            )
        });
        dev.stats();
        let stats = dev.tx_queue_stats(0).expect("queue 0");
        eprintln!(
            "virtio/tx/{name}: {} packets, {:.4} notifications/packet",
            stats.packets,
            stats.notifications as f64 / stats.packets.max(1) as f64
        );
    }
    g.finish();
    c.final_summary();
}
