//! Properties of the mempool: random interleavings of allocation, bulk allocation, drops, bulk
//! frees and raw round trips (as descriptor rings do) never hand a buffer out twice, never lose
//! one, and run out gracefully.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use proptest::prelude::*;
use rixy::memory::{HEADROOM, Mempool, Packet, PlainAllocator, RawBuffer};

#[derive(Clone, Debug)]
enum Op {
    Alloc,
    AllocBulk(usize),
    /// Drop the alive packet at this position (modulo the number alive).
    Drop(usize),
    /// Free this many alive packets at once.
    FreeBulk(usize),
    /// Hand this many alive packets to a "ring" as raw buffers.
    IntoRaw(usize),
    /// Take this many raw buffers back from the "ring".
    FromRaw(usize),
    /// Write a marker into an alive packet.
    Write(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(Op::Alloc),
            2 => (0usize..80).prop_map(Op::AllocBulk),
            3 => any::<usize>().prop_map(Op::Drop),
            1 => (0usize..80).prop_map(Op::FreeBulk),
            2 => (0usize..40).prop_map(Op::IntoRaw),
            2 => (0usize..40).prop_map(Op::FromRaw),
            2 => any::<usize>().prop_map(Op::Write),
        ],
        0..300,
    )
}

/// Every buffer of the pool turns up exactly once, counting three places separately: the pool's
/// free stack (walked), the raw tokens the "ring" holds and the packets the test holds. The
/// addresses found must be exactly the pool's buffers, none twice; and the pool's count of raw
/// tokens must match the tokens held.
fn check_accounting(
    pool: &Rc<Mempool>,
    alive: &[Packet],
    ring: &[RawBuffer],
) -> Result<(), TestCaseError> {
    let free = pool.free_buffer_addrs();
    prop_assert_eq!(free.len(), pool.free_count());
    let mut raw = Vec::new();
    for r in ring {
        match pool.raw_device_addr(r) {
            Some(addr) => raw.push(addr),
            None => {
                return Err(TestCaseError::fail(format!(
                    "token {r:?} is not the pool's"
                )));
            }
        }
    }
    let packets: Vec<u64> = alive.iter().map(Packet::device_addr).collect();
    // Where each buffer of the pool is, from the region's own addresses.
    let size = pool.buffer_size();
    let mut place: HashMap<u64, &str> = HashMap::new();
    for i in 0..pool.capacity() {
        let addr = pool.region().device_addr(i * size + HEADROOM).unwrap();
        place.insert(addr, "nowhere");
    }
    for (addrs, name) in [(&free, "free"), (&raw, "ring"), (&packets, "packet")] {
        for &addr in addrs {
            match place.get_mut(&addr) {
                None => {
                    return Err(TestCaseError::fail(format!(
                        "{name} buffer {addr:#x} is not one of the pool's"
                    )));
                }
                Some(p) if *p != "nowhere" => {
                    return Err(TestCaseError::fail(format!(
                        "buffer {addr:#x} is both {p} and {name}"
                    )));
                }
                Some(p) => *p = name,
            }
        }
    }
    let lost: Vec<_> = place
        .iter()
        .filter(|(_, p)| **p == "nowhere")
        .map(|(a, _)| format!("{a:#x}"))
        .collect();
    prop_assert!(
        lost.is_empty(),
        "buffers lost: {:?} (free {}, ring {}, packets {})",
        lost,
        free.len(),
        raw.len(),
        packets.len()
    );
    prop_assert_eq!(pool.raw_count(), ring.len());
    Ok(())
}

proptest! {
    #[test]
    fn never_twice_never_lost(
        entries in 1usize..64,
        shift in 7u32..13,
        ops in ops(),
    ) {
        let size = 1usize << shift;
        let pool = Mempool::new(&PlainAllocator::new(), entries, size).unwrap();
        let mut alive: Vec<Packet> = Vec::new();
        let mut ring: Vec<RawBuffer> = Vec::new();
        // Marker written into each buffer, to catch two handles sharing memory.
        let mut markers: HashMap<u32, u8> = HashMap::new();
        let mut next_marker = 1u8;

        for op in ops {
            match op {
                Op::Alloc => {
                    let before = pool.free_count();
                    match pool.alloc() {
                        Some(p) => {
                            prop_assert_eq!(p.len(), 0);
                            alive.push(p);
                        }
                        None => prop_assert_eq!(before, 0),
                    }
                }
                Op::AllocBulk(n) => {
                    let before = pool.free_count();
                    let len_before = alive.len();
                    let got = pool.alloc_bulk(&mut alive, n);
                    prop_assert_eq!(got, n.min(before));
                    prop_assert_eq!(alive.len(), len_before + got);
                }
                Op::Drop(i) => {
                    if !alive.is_empty() {
                        let p = alive.swap_remove(i % alive.len());
                        markers.remove(&p.pool_index());
                        drop(p);
                    }
                }
                Op::FreeBulk(n) => {
                    let n = n.min(alive.len());
                    let start = alive.len() - n;
                    for p in &alive[start..] {
                        markers.remove(&p.pool_index());
                    }
                    prop_assert_eq!(Mempool::free_bulk(alive.drain(start..)), n);
                }
                Op::IntoRaw(n) => {
                    for _ in 0..n.min(alive.len()) {
                        let p = alive.pop().unwrap();
                        let addr = p.device_addr();
                        let raw = p.into_raw();
                        prop_assert_eq!(pool.raw_device_addr(&raw), Some(addr));
                        ring.push(raw);
                    }
                }
                Op::FromRaw(n) => {
                    for _ in 0..n.min(ring.len()) {
                        // Rings complete in order: oldest first.
                        let raw = ring.remove(0);
                        let index = raw.index();
                        let p = pool.packet_from_raw(raw).unwrap();
                        prop_assert_eq!(p.pool_index(), index);
                        alive.push(p);
                    }
                }
                Op::Write(i) => {
                    if !alive.is_empty() {
                        let i = i % alive.len();
                        let p = &mut alive[i];
                        p.set_len(1).unwrap();
                        p[0] = next_marker;
                        markers.insert(p.pool_index(), next_marker);
                        next_marker = next_marker.wrapping_add(1).max(1);
                    }
                }
            }
            check_accounting(&pool, &alive, &ring)?;
            // Every marked packet still holds its own marker: no two handles share a buffer.
            for p in &alive {
                if let Some(&m) = markers.get(&p.pool_index()) {
                    prop_assert_eq!(p[0], m);
                }
            }
            // Device addresses follow the buffer index.
            let base = pool.region().device_addr(0).unwrap();
            for p in &alive {
                prop_assert_eq!(p.device_addr(), base + (p.pool_index() as usize * size + HEADROOM) as u64);
            }
        }

        // Return everything: nothing was lost.
        for raw in ring.drain(..) {
            alive.push(pool.packet_from_raw(raw).unwrap());
        }
        drop(alive);
        prop_assert_eq!(pool.free_count(), entries);
        prop_assert_eq!(pool.raw_count(), 0);
        let mut all = Vec::new();
        prop_assert_eq!(pool.alloc_bulk(&mut all, entries + 5), entries);
        let distinct: HashSet<u32> = all.iter().map(|p| p.pool_index()).collect();
        prop_assert_eq!(distinct.len(), entries);
    }
}

/// An `Extend` that drops what it is given: the pool must stay consistent even when the packets
/// it hands out go straight back while the bulk allocation is still running.
struct Discard(usize);

impl Extend<Packet> for Discard {
    fn extend<I: IntoIterator<Item = Packet>>(&mut self, iter: I) {
        for p in iter {
            self.0 += 1;
            drop(p);
        }
    }
}

#[test]
fn bulk_alloc_into_a_dropping_sink() {
    let pool = Mempool::new(&PlainAllocator::new(), 4, 2048).unwrap();
    let mut sink = Discard(0);
    // Every packet returns at once, so the pool never runs dry: exactly n are taken.
    assert_eq!(pool.alloc_bulk(&mut sink, 10), 10);
    assert_eq!(sink.0, 10);
    assert_eq!(pool.free_count(), 4);
}
