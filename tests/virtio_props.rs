//! Property tests for the virtqueue index arithmetic against reference models that count in
//! unbounded integers: the 16-bit event index test (VirtIO 1.0 2.4.7.2, 2.4.9.2) and the packed
//! ring's positions, wrap counters and event suppression (VirtIO 1.1 2.7.1, 2.7.10, 2.7.14).

use proptest::prelude::*;
use rixy::virtio::need_event;
use rixy::virtio::packed::{EventMode, PackedIndex};

/// Reference: the indices `old, old + 1, ..., new - 1` (counted with wrap-around) include `event`.
fn crossed(event: u16, old: u16, new: u16) -> bool {
    let mut i = old;
    while i != new {
        if i == event {
            return true;
        }
        i = i.wrapping_add(1);
    }
    false
}

/// Reference for a packed ring: absolute counts of descriptors made available and used.
#[derive(Debug)]
struct Reference {
    size: u64,
    avail: u64,
    used: u64,
}

impl Reference {
    fn position(&self, count: u64) -> (u16, bool) {
        // Lap 0 has wrap counter 1 (2.7.1: both counters start at 1).
        (
            (count % self.size) as u16,
            (count / self.size).is_multiple_of(2),
        )
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Make up to n descriptors available, then check notification against a device event.
    Avail(u16, u16, u8),
    /// Use a chain of n descriptors.
    Used(u16),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (1u16..40, any::<u16>(), 0u8..3).prop_map(|(n, e, m)| Op::Avail(n, e, m)),
            (1u16..40).prop_map(Op::Used),
        ],
        1..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// vring_need_event against a walk over the indices, for every batch up to half the index
    /// space (wider batches are impossible: a queue has at most 32768 entries).
    #[test]
    fn need_event_matches_a_walk(event: u16, old: u16, added in 0u16..=32768) {
        let new = old.wrapping_add(added);
        prop_assert_eq!(need_event(event, new, old), crossed(event, old, new));
    }

    /// A packed ring's positions, wrap counters, free count, used detection and DESC-mode
    /// notifications against absolute counts, over long random runs that go round small rings
    /// many times.
    #[test]
    fn packed_index_matches_absolute_counts(size in 1u16..=600, ops in ops()) {
        let mut idx = PackedIndex::new(size);
        let mut r = Reference { size: u64::from(size), avail: 0, used: 0 };
        for op in ops {
            match op {
                Op::Avail(n, event, mode) => {
                    let before = r.avail;
                    for _ in 0..n {
                        let got = idx.take_avail();
                        if r.avail - r.used == r.size {
                            prop_assert_eq!(got, None);
                            break;
                        }
                        prop_assert_eq!(got, Some(r.position(r.avail)));
                        r.avail += 1;
                    }
                    let (offset, wrap) = ((event & 0x7fff) % size, event & 0x8000 != 0);
                    let (m, want) = match mode {
                        0 => (EventMode::Enable, true),
                        1 => (EventMode::Disable, false),
                        _ => {
                            // The position named is the count with that offset and wrap
                            // counter within a ring of the current lap's start, either side;
                            // it asks for a notification once it is available.
                            // (Before the first lap, the window reaches back to counts below
                            // 0, the lap of wrap counter 0 before the first.)
                            let size = r.size as i64;
                            let lap = r.avail as i64 / size * size;
                            let at = |c: i64| {
                                (c.rem_euclid(size) as u16, c.div_euclid(size).rem_euclid(2) == 0)
                            };
                            let named = (lap - size..lap + size).find(|&c| at(c) == (offset, wrap));
                            let available = named.is_some_and(|c| c < r.avail as i64);
                            // A batch that made it available notifies by Linux's rule too.
                            let in_batch = (before..r.avail).any(|c| r.position(c) == (offset, wrap));
                            prop_assert!(!in_batch || available);
                            (EventMode::Desc { offset, wrap }, available)
                        }
                    };
                    prop_assert_eq!(idx.wants_notification(m), want, "{:?}", m);
                }
                Op::Used(n) => {
                    let ok = idx.take_used(n);
                    prop_assert_eq!(ok, u64::from(n) <= r.avail - r.used);
                    if ok {
                        r.used += u64::from(n);
                    }
                }
            }
            let (next_avail, avail_wrap) = r.position(r.avail);
            let (next_used, used_wrap) = r.position(r.used);
            prop_assert_eq!((idx.next_avail, idx.avail_wrap), (next_avail, avail_wrap));
            prop_assert_eq!((idx.next_used, idx.used_wrap), (next_used, used_wrap));
            prop_assert_eq!(u64::from(idx.free()), r.size - (r.avail - r.used));
            // What the device leaves at the used position: a used descriptor of this lap
            // (AVAIL = USED = the lap's counter) is used; the previous lap's, or one the driver
            // made available (AVAIL != USED), is not; nothing is used while nothing is out.
            let out = r.avail > r.used;
            prop_assert_eq!(idx.is_used(used_wrap, used_wrap), out);
            prop_assert!(!idx.is_used(!used_wrap, !used_wrap));
            prop_assert!(!idx.is_used(used_wrap, !used_wrap));
            prop_assert!(!idx.is_used(!used_wrap, used_wrap));
        }
    }
}
