//! Properties of the ring index arithmetic in `rixy::ring`, used the way the drivers use it:
//! ixgbe's transmit ring (`next`, the full rule `next(next) == clean`, pending as
//! `distance(clean, next)`), ixgbe's receive tail (`advance(next, N-1)`), and virtio's
//! free-running `u16` counters (`slot`). Each is checked against a model that does not use the
//! helper it checks: plain `%` arithmetic or a queue of the slots the device owns.

use std::collections::VecDeque;

use proptest::prelude::*;
use rixy::ring::{MAX_RING, RingSize};

/// Every ring size a `RingSize` can hold.
fn ring_size() -> impl Strategy<Value = RingSize> {
    (0u32..=15).prop_map(|shift| RingSize::new(1 << shift).unwrap())
}

/// Ring sizes small enough for a few hundred one-slot moves to fill and wrap them.
fn small_ring_size() -> impl Strategy<Value = RingSize> {
    (0u32..=8).prop_map(|shift| RingSize::new(1 << shift).unwrap())
}

/// A move on a head/tail ring: software hands over up to k descriptors (stopping when the ring
/// is full) or the device completes up to k of those it owns. Moves go one slot at a time, as
/// the driver's loops do, so k stays small; small rings wrap and fill many times over.
#[derive(Clone, Debug)]
enum Move {
    HandOver(usize),
    Complete(usize),
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..300).prop_map(Move::HandOver),
            (0usize..300).prop_map(Move::Complete),
        ],
        0..200,
    )
}

proptest! {
    /// ixgbe's transmit bookkeeping (src/ixgbe/tx.rs): `next` is the next slot to fill, `clean`
    /// the oldest slot not yet given back; the ring is full when `next(next) == clean`, and
    /// `distance(clean, next)` descriptors are pending. The model is the queue of slots the
    /// device owns, in order.
    #[test]
    fn transmit_ring_bookkeeping(ring in small_ring_size(), start in any::<usize>(), moves in moves()) {
        let n = ring.get();
        let mut next = ring.mask(start);
        let mut clean = next;
        let mut owned: VecDeque<usize> = VecDeque::new();
        for m in moves {
            match m {
                Move::HandOver(k) => {
                    for _ in 0..k {
                        if ring.next(next) == clean {
                            // Full: exactly N-1 handed over, one slot kept empty (7.2.3.3).
                            prop_assert_eq!(owned.len(), n - 1);
                            break;
                        }
                        // The device walks its slots in order from `clean`.
                        prop_assert_eq!(next, (clean + owned.len()) % n);
                        owned.push_back(next);
                        next = ring.next(next);
                    }
                }
                Move::Complete(k) => {
                    for _ in 0..k.min(owned.len()) {
                        let done = owned.pop_front().unwrap();
                        prop_assert_eq!(done, clean, "completion out of order");
                        clean = ring.next(clean);
                    }
                }
            }
            prop_assert!(next < n && clean < n, "index left the ring: next {} clean {}", next, clean);
            prop_assert_eq!(ring.distance(clean, next), owned.len());
            prop_assert!(owned.len() < n, "{} owned of {}", owned.len(), n);
        }
    }

    /// ixgbe's receive tail (src/ixgbe/rx.rs): after processing up to `next`, the tail goes to
    /// `advance(next, N-1)`, the slot just before `next`, so the slot at `next` stays the
    /// driver's and the tail never meets the head the device is about to write.
    #[test]
    fn receive_tail_is_the_slot_before_next(ring in ring_size(), i in any::<usize>()) {
        let n = ring.get();
        let next = ring.mask(i);
        let tail = ring.advance(next, n - 1);
        prop_assert_eq!(tail, (next + n - 1) % n);
        prop_assert_eq!(ring.next(tail), next);
        prop_assert_eq!(ring.distance(tail, next), 1 % n);
    }

    #[test]
    fn stepping_matches_modular_arithmetic(ring in ring_size(), i in any::<usize>(), k in 0usize..100_000) {
        let n = ring.get();
        let wrapped = ring.mask(i);
        prop_assert!(wrapped < n);
        prop_assert_eq!(wrapped, i % n);
        prop_assert_eq!(ring.next(wrapped), (wrapped + 1) % n);
        prop_assert_eq!(ring.advance(wrapped, k), (wrapped + k) % n);
        prop_assert_eq!(ring.distance(wrapped, (wrapped + k) % n), k % n);
        // Free-running usize counters give the same slots and distances as wrapped ones, across
        // the usize wrap.
        let j = i.wrapping_add(k);
        prop_assert_eq!(ring.mask(j), (wrapped + k) % n);
        prop_assert_eq!(ring.distance(i, j), k % n);
    }

    /// virtio's free-running `u16` counters (src/virtio/queue.rs): `slot(idx)` is
    /// `idx % size`, and consecutive counters name consecutive slots across the u16 wrap.
    #[test]
    fn free_running_u16_counters(ring in ring_size(), used in any::<u16>(), outstanding in 0usize..=MAX_RING) {
        let n = ring.get();
        let outstanding = outstanding.min(n);
        let avail = used.wrapping_add(outstanding as u16);
        prop_assert_eq!(ring.slot(used), usize::from(used) % n);
        prop_assert_eq!(ring.slot(avail), (usize::from(used) + outstanding) % 65536 % n);
        prop_assert_eq!(ring.slot(used.wrapping_add(1)), (ring.slot(used) + 1) % n);
    }
}

#[test]
fn usize_and_u16_edges() {
    for shift in 0..=15 {
        let ring = RingSize::new(1 << shift).unwrap();
        let n = ring.get();
        assert_eq!(ring.next(usize::MAX), 0);
        assert_eq!(ring.mask(usize::MAX), n - 1);
        assert_eq!(ring.distance(usize::MAX, 0), 1 % n);
        assert_eq!(ring.distance(usize::MAX - 1, 1), 3 % n);
        assert_eq!(ring.slot(u16::MAX), (n - 1) & 0xffff);
        assert_eq!(ring.slot(u16::MAX.wrapping_add(1)), 0);
    }
}
