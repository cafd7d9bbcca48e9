//! Properties of the mempool: random interleavings of allocation, bulk allocation, drops, bulk
//! frees and raw round trips (as descriptor rings do) never hand a buffer out twice, never lose
//! one, and run out gracefully.

use std::collections::{HashMap, HashSet};

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
            2 => (0usize..200).prop_map(Op::AllocBulk),
            3 => any::<usize>().prop_map(Op::Drop),
            1 => (0usize..200).prop_map(Op::FreeBulk),
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
    pool: &Mempool,
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
        entries in 1usize..160,
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
            // Each live packet holds the pool, the test's handle too; a raw token does not.
            prop_assert_eq!(pool.references(), 1 + alive.len());
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

#[derive(Clone, Debug)]
enum MixedOp {
    /// Allocate this many from pool 0 or 1.
    Alloc(bool, usize),
    /// Shuffle the alive packets by this seed, then free the last n at once (both pools mixed,
    /// in runs of any length).
    FreeBulk(u64, usize),
    /// Drop one.
    Drop(usize),
}

proptest! {
    /// Bulk frees that mix two pools return every packet to its own pool, and each pool's
    /// reference count follows its own live packets (counted here, packet by packet).
    #[test]
    fn bulk_frees_of_mixed_pools_return_each_buffer_home(
        entries in (1usize..150, 1usize..150),
        ops in prop::collection::vec(prop_oneof![
            2 => (any::<bool>(), 0usize..160).prop_map(|(p, n)| MixedOp::Alloc(p, n)),
            2 => (any::<u64>(), 0usize..300).prop_map(|(s, n)| MixedOp::FreeBulk(s, n)),
            1 => any::<usize>().prop_map(MixedOp::Drop),
        ], 0..80),
    ) {
        let pools = [
            Mempool::new(&PlainAllocator::new(), entries.0, 256).unwrap(),
            Mempool::new(&PlainAllocator::new(), entries.1, 256).unwrap(),
        ];
        let mut alive: Vec<Packet> = Vec::new();
        for op in ops {
            match op {
                MixedOp::Alloc(which, n) => {
                    let pool = &pools[usize::from(which)];
                    let before = pool.free_count();
                    prop_assert_eq!(pool.alloc_bulk(&mut alive, n), n.min(before));
                }
                MixedOp::FreeBulk(seed, n) => {
                    // A cheap deterministic shuffle: runs of one pool of every length.
                    let mut x = seed | 1;
                    for i in (1..alive.len()).rev() {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alive.swap(i, (x % (i as u64 + 1)) as usize);
                    }
                    let n = n.min(alive.len());
                    let start = alive.len() - n;
                    prop_assert_eq!(Mempool::free_bulk(alive.drain(start..)), n);
                }
                MixedOp::Drop(i) => {
                    if !alive.is_empty() {
                        drop(alive.swap_remove(i % alive.len()));
                    }
                }
            }
            for (k, pool) in pools.iter().enumerate() {
                let mine: Vec<&Packet> = alive.iter().filter(|p| p.pool().same_pool(pool)).collect();
                prop_assert_eq!(pool.references(), 1 + mine.len(), "pool {}", k);
                prop_assert_eq!(pool.free_count() + mine.len(), pool.capacity(), "pool {}", k);
                let free: HashSet<u64> = pool.free_buffer_addrs().into_iter().collect();
                prop_assert_eq!(free.len(), pool.free_count(), "pool {}: a buffer free twice", k);
                for p in &mine {
                    prop_assert!(!free.contains(&p.device_addr()), "pool {}: a live buffer is free", k);
                }
            }
        }
    }
}

/// Packets allocated on one thread and freed on another, one by one and in bulk, while the
/// first keeps allocating: every buffer comes home and the pool's count ends at its one handle.
#[test]
fn packets_freed_on_another_thread_come_home() {
    let pool = Mempool::new(&PlainAllocator::new(), 512, 256).unwrap();
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Packet>>(4);
    let freer = std::thread::spawn(move || {
        let mut freed = 0usize;
        for (i, batch) in receive.into_iter().enumerate() {
            freed += batch.len();
            if i % 2 == 0 {
                Mempool::free_bulk(batch);
            } else {
                drop(batch);
            }
        }
        freed
    });
    let mut sent = 0;
    for round in 0..2000 {
        let mut batch = Vec::new();
        let got = pool.alloc_bulk(&mut batch, 1 + round % 100);
        sent += got;
        if let Some(p) = pool.alloc() {
            sent += 1;
            batch.push(p);
        }
        send.send(batch).unwrap();
    }
    drop(send);
    assert_eq!(freer.join().unwrap(), sent);
    assert!(sent > 2000);
    assert_eq!(pool.free_count(), pool.capacity());
    assert_eq!(pool.references(), 1);
    let distinct: HashSet<u64> = pool.free_buffer_addrs().into_iter().collect();
    assert_eq!(distinct.len(), pool.capacity());
}
