//! Properties of the ring index arithmetic in `rixy::ring`.

use proptest::prelude::*;
use rixy::ring::{MAX_RING, RingSize};

/// Every ring size a `RingSize` can hold.
fn ring_size() -> impl Strategy<Value = RingSize> {
    (0u32..=15).prop_map(|shift| RingSize::new(1 << shift).unwrap())
}

/// A move on a head/tail ring: software hands over descriptors (tail moves) or the device
/// completes some (head moves), each by at most what the ownership rule allows.
#[derive(Clone, Debug)]
enum Move {
    HandOver(usize),
    Complete(usize),
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..70_000).prop_map(Move::HandOver),
            (0usize..70_000).prop_map(Move::Complete),
        ],
        0..200,
    )
}

proptest! {
    #[test]
    fn ownership_adds_up(ring in ring_size(), head in any::<usize>(), tail in any::<usize>()) {
        let n = ring.get();
        let used = ring.in_flight(head, tail);
        let free = ring.free_to_hand_over(head, tail);
        prop_assert_eq!(used + free, n - 1);
        prop_assert!(used < n);
    }

    #[test]
    fn random_head_tail_moves(ring in ring_size(), start in any::<usize>(), moves in moves()) {
        let n = ring.get();
        let mut head = ring.mask(start);
        let mut tail = head;
        // A model of the ring as a count of device-owned descriptors.
        let mut owned = 0usize;
        for m in moves {
            match m {
                Move::HandOver(k) => {
                    let k = k.min(ring.free_to_hand_over(head, tail));
                    tail = ring.advance(tail, k);
                    owned += k;
                }
                Move::Complete(k) => {
                    let k = k.min(ring.in_flight(head, tail));
                    head = ring.advance(head, k);
                    owned -= k;
                }
            }
            prop_assert!(head < n && tail < n, "index left the ring: head {} tail {}", head, tail);
            prop_assert_eq!(ring.in_flight(head, tail), owned);
            prop_assert_eq!(ring.in_flight(head, tail) + ring.free_to_hand_over(head, tail), n - 1);
            prop_assert!(owned < n);
        }
    }

    #[test]
    fn stepping_matches_modular_arithmetic(ring in ring_size(), i in any::<usize>(), k in 0usize..100_000) {
        let n = ring.get();
        let wrapped = ring.mask(i);
        prop_assert!(wrapped < n);
        prop_assert_eq!(ring.next(wrapped), (wrapped + 1) % n);
        prop_assert_eq!(ring.advance(wrapped, k), (wrapped + k) % n);
        prop_assert_eq!(ring.distance(wrapped, ring.advance(wrapped, k)), k % n);
        // Free-running usize counters give the same slots and distances as wrapped ones, across
        // the usize wrap.
        let j = i.wrapping_add(k);
        prop_assert_eq!(ring.mask(j), ring.advance(wrapped, k));
        prop_assert_eq!(ring.distance(i, j), k % n);
    }

    #[test]
    fn free_running_u16_counters(ring in ring_size(), used in any::<u16>(), outstanding in 0usize..=MAX_RING, extra in 1u16..1000) {
        let n = ring.get();
        let outstanding = outstanding.min(n);
        let avail = used.wrapping_add(outstanding as u16);
        prop_assert_eq!(RingSize::pending(used, avail) as usize, outstanding);
        prop_assert_eq!(ring.virtq_free(avail, used), Some(n - outstanding));
        // The slot of a counter is its value modulo n, also across the u16 wrap.
        prop_assert_eq!(ring.slot(avail), (used as usize + outstanding) % 65536 % n);
        prop_assert_eq!(ring.slot(avail), ring.advance(ring.slot(used), outstanding));
        // More outstanding than the queue holds is a device error, never a wrong count.
        if n + (extra as usize) < 65536 {
            let too_far = used.wrapping_add((n + extra as usize) as u16);
            prop_assert_eq!(ring.virtq_free(too_far, used), None);
        }
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
        assert_eq!(ring.in_flight(usize::MAX - 1, 1), 3 % n);
        assert_eq!(ring.slot(u16::MAX), (n - 1) & 0xffff);
        assert_eq!(ring.slot(u16::MAX.wrapping_add(1)), 0);
        assert_eq!(RingSize::pending(u16::MAX, 0), 1);
        assert_eq!(ring.virtq_free(0, u16::MAX), Some(n - 1));
    }
}
