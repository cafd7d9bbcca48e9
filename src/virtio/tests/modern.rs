//! The driver against the model's modern interface (VirtIO 1.0 4.1.4): capabilities, 64-bit
//! feature negotiation with FEATURES_OK, queue setup through the common configuration,
//! notifications at `queue_notify_off * notify_off_multiplier`; split rings with and without
//! VIRTIO_F_EVENT_IDX; packed rings (1.1 2.7).

use super::*;
use crate::virtio::transport::{Modern, ModernLayout, find_modern};

type ModernNic = Virtio<Modern<FakeBar>>;

/// A modern model offering `features` (64 bits), queues of 256, 256 and 64 entries.
pub(super) fn modern_device(features: u64) -> (Rc<RefCell<State>>, FakeDma) {
    let (state, dma) = device(0);
    {
        let mut s = state.borrow_mut();
        s.modern = true;
        s.features64 = features;
        for q in &mut s.queues {
            q.p_avail_wrap = true;
            q.p_used_wrap = true;
        }
    }
    (state, dma)
}

pub(super) fn layout() -> ModernLayout {
    let (cfg, caps) = modern_config_space();
    find_modern(&cfg, &caps).unwrap().unwrap()
}

fn open_modern_with(features: u64, config: &Config) -> Result<(ModernNic, Rc<RefCell<State>>)> {
    let (state, dma) = modern_device(features);
    let dev = Virtio::new_modern(
        "fake".into(),
        FakeBar(state.clone()),
        &layout(),
        None,
        &dma,
        config,
    )?;
    Ok((dev, state))
}

fn open_modern(features: u64) -> (ModernNic, Rc<RefCell<State>>) {
    open_modern_with(features, &config()).unwrap()
}

/// A pool in the model's DMA memory, for tests that send many batches.
fn tx_pool(state: &Rc<RefCell<State>>) -> Mempool {
    let dma = state.borrow().dma.clone().unwrap();
    Mempool::new(&dma, 256, 2048).unwrap()
}

/// Packets from `pool` holding `frames`.
fn from_pool(pool: &Mempool, frames: &[Vec<u8>]) -> VecDeque<Packet> {
    frames
        .iter()
        .map(|f| {
            let mut p = pool.alloc().unwrap();
            p.set_len(f.len()).unwrap();
            p.copy_from_slice(f);
            p
        })
        .collect()
}

const WANTED: u64 = (F_MAC | F_STATUS | F_CTRL_VQ | F_CTRL_RX) as u64;

#[test]
fn the_capabilities_locate_the_structures_in_one_bar() {
    assert_eq!(
        layout(),
        ModernLayout {
            bar: 4,
            common: (0, 0x1000),
            notify: (0x3000, 0x1000),
            notify_off_multiplier: 4,
            isr: Some((0x1000, 0x1000)),
            device: (0x2000, 0x1000),
        }
    );
    // A legacy-only device: no vendor capability but the PCI access one.
    let (cfg, caps) = modern_config_space();
    assert_eq!(find_modern(&cfg, &caps[..1]), Ok(None));
    assert_eq!(find_modern(&cfg, &[]), Ok(None));
}

#[test]
fn malformed_capabilities_are_clear_errors() {
    let check = |poke: &[(usize, &[u8])], caps_len: usize, want: &str| {
        let (cfg, caps) = modern_config_space();
        for &(at, bytes) in poke {
            cfg.poke(at, bytes);
        }
        let err = find_modern(&cfg, &caps[..caps_len]).unwrap_err();
        assert!(err.contains(want), "{err}");
    };
    // cap_len of the common capability below struct virtio_pci_cap.
    check(&[(0x54 + 2, &[8])], 5, "less than the 16");
    // The notification capability too short for its multiplier.
    check(&[(0x84 + 2, &[16])], 5, "virtio_pci_notify_cap");
    // No notification capability at all.
    check(&[], 4, "no notification capability");
    // The device configuration in another BAR.
    check(&[(0x74 + 4, &[2])], 5, "rixy maps one BAR");
    // A capability that runs past the end of configuration space.
    let (cfg, _) = modern_config_space();
    let caps = [crate::pci::Capability {
        id: 0x09,
        offset: 0xf8,
    }];
    assert!(
        find_modern(&cfg, &caps)
            .unwrap_err()
            .contains("past the end")
    );
}

#[test]
fn negotiates_version_1_and_only_what_it_uses_then_sets_up_queues() {
    let (dev, state) = open_modern(F_QEMU_MODERN | 0xffff_ffff & !0x3);
    let s = state.borrow();
    // EVENT_IDX with VERSION_1; nothing else the device offers (INDIRECT, offloads, ...).
    assert_eq!(
        s.driver_features64,
        WANTED | F_EVENT_IDX | F_VERSION_1,
        "{:#x}",
        s.driver_features64
    );
    // 3.1.1: reset, ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK.
    assert_eq!(
        s.status_writes[..5],
        [
            0,
            S_ACKNOWLEDGE,
            S_ACKNOWLEDGE | S_DRIVER,
            S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK,
            S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK
        ]
    );
    for (q, size) in [(0, 256), (1, 256), (2, 64)] {
        let qs = s.queues[q];
        assert_eq!((qs.enable, qs.size), (1, size), "queue {q}");
        // 2.4: descriptor table 16-, available ring 2-, used ring 4-aligned.
        assert!(qs.desc % 16 == 0 && qs.driver % 2 == 0 && qs.device % 4 == 0);
        assert!(qs.desc != 0 && qs.driver > qs.desc && qs.device > qs.driver);
    }
    // The receive queue full and notified at its own address (queue_notify_off 0 * 4).
    assert_eq!(s.avail_idx(0), 256);
    assert_eq!(s.notify_writes.first(), Some(&(0, 0)));
    // The control queue's promiscuous command, at address 2 * 4.
    assert_eq!(s.ctrl_commands, [(0, 0, 1)]);
    assert!(s.notify_writes.contains(&(8, 2)));
    drop(s);
    let f = dev.features();
    assert!(f.version_1 && f.event_idx && !f.packed && !f.any_layout);
    assert_eq!(dev.mac(), MacAddress(MAC));
    assert!(dev.link().up);
}

#[test]
fn the_config_ring_size_shrinks_a_modern_queue() {
    let config = Config {
        rx_ring_size: 64,
        tx_ring_size: 128,
        ..config()
    };
    let (dev, state) = open_modern_with(F_QEMU_MODERN, &config).unwrap();
    assert_eq!(
        (dev.rx_ring_size(0), dev.tx_ring_size(0)),
        (Some(64), Some(128))
    );
    assert_eq!(state.borrow().queues[1].size, 128);
}

#[test]
fn missing_or_unwanted_transport_features_name_the_qemu_option() {
    let err = |features: u64| {
        open_modern_with(features, &config())
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(F_QEMU_MODERN & !F_VERSION_1);
    assert!(
        e.contains("VIRTIO_F_VERSION_1") && e.contains("disable-modern"),
        "{e}"
    );
    let e = err(F_QEMU_MODERN | F_ACCESS_PLATFORM);
    assert!(
        e.contains("VIRTIO_F_ACCESS_PLATFORM") && e.contains("iommu_platform=off"),
        "{e}"
    );
    // A device that does not keep FEATURES_OK.
    let (state, dma) = modern_device(F_QEMU_MODERN);
    state.borrow_mut().refuse_features_ok = true;
    let e = Virtio::new_modern(
        "fake".into(),
        FakeBar(state.clone()),
        &layout(),
        None,
        &dma,
        &config(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("FEATURES_OK"), "{e}");
    assert_eq!(
        state.borrow().status,
        0,
        "device not reset after the failure"
    );
}

#[test]
fn a_modern_mac_address_is_read_only() {
    let (mut dev, _) = open_modern(F_QEMU_MODERN);
    let e = dev.set_mac(MacAddress([2, 0, 0, 0, 0, 1])).unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
}

/// Receives and sends `rounds` batches through `dev`, checking every frame: the ring goes
/// round many times. Returns the packets moved each way.
fn traffic(dev: &mut ModernNic, state: &Rc<RefCell<State>>, rounds: usize) -> (u64, u64) {
    let mut received = 0u64;
    let mut sent = 0u64;
    let pool = tx_pool(state);
    for round in 0..rounds {
        let n = 1 + round % 31;
        let frames: Vec<Vec<u8>> = (0..n).map(|i| frame((round + i) as u8, 60 + i)).collect();
        for f in &frames {
            assert!(state.borrow_mut().deliver(f));
        }
        let mut got = Vec::new();
        assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), n);
        let got: Vec<Vec<u8>> = got.iter().map(|p| p.to_vec()).collect();
        assert_eq!(got, frames, "round {round}");
        received += n as u64;
        let mut queue = from_pool(&pool, &frames);
        assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), n);
        let out = state.borrow_mut().transmit();
        assert_eq!(
            out.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
            frames,
            "round {round}"
        );
        assert!(out.iter().all(|(_, lens)| lens.len() == 1));
        sent += n as u64;
    }
    let stats = dev.stats();
    assert_eq!((stats.rx_packets, stats.tx_packets), (received, sent));
    assert_eq!((stats.rx_errors, stats.tx_errors), (0, 0));
    (received, sent)
}

#[test]
fn modern_split_queues_move_frames_with_the_12_byte_header() {
    for features in [F_QEMU_MODERN, F_QEMU_MODERN & !F_EVENT_IDX] {
        let (mut dev, state) = open_modern(features);
        let (rx, tx) = traffic(&mut dev, &state, 100);
        assert!(rx > 256 * 5 && tx > 256 * 5, "the rings did not go round");
        let pool = dev.rx_pool(0).unwrap();
        assert_eq!(pool.free_count() + dev.buffers_held(), pool.capacity());
    }
}

#[test]
fn packed_queues_are_used_when_offered_and_wrap_many_times() {
    let (mut dev, state) = open_modern(F_QEMU_MODERN | F_RING_PACKED);
    assert!(dev.features().packed);
    assert_ne!(state.borrow().driver_features64 & F_RING_PACKED, 0);
    // 1.1 2.7.14: the driver asks for no interrupts (DISABLE) on every queue.
    for q in 0..3 {
        assert_eq!(state.borrow().driver_event_flags(q), 1, "queue {q}");
    }
    assert_eq!(state.borrow().ctrl_commands, [(0, 0, 1)]);
    let before = state.borrow().queues[1];
    let (rx, tx) = traffic(&mut dev, &state, 200);
    assert!(rx > 256 * 10 && tx > 256 * 10);
    // The device's wrap counters flipped with each lap: tx went round tx / 256 times.
    let after = state.borrow().queues[1];
    let laps = (u64::from(after.p_used) + tx - u64::from(before.p_used)) / 256;
    assert!(laps >= 10, "{laps}");
    assert_eq!(after.p_used_wrap, laps % 2 == 0);
    let pool = dev.rx_pool(0).unwrap();
    assert_eq!(pool.free_count() + dev.buffers_held(), pool.capacity());
}

#[test]
fn packed_rings_can_be_turned_off_for_measurement() {
    let config = Config {
        virtio_packed: false,
        ..config()
    };
    let (mut dev, state) = open_modern_with(F_QEMU_MODERN | F_RING_PACKED, &config).unwrap();
    assert!(!dev.features().packed);
    assert_eq!(state.borrow().driver_features64 & F_RING_PACKED, 0);
    traffic(&mut dev, &state, 20);
}

#[test]
fn packed_used_descriptors_that_lie_are_counted_not_trusted() {
    let (mut dev, state) = open_modern(F_QEMU_MODERN | F_RING_PACKED);
    // Transmit: the device returns an id that is not in flight, then the real ones.
    let mut queue = packets(&state, &[frame(1, 60), frame(2, 60)]);
    assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), 2);
    {
        let mut s = state.borrow_mut();
        let (a, _) = s.take_avail(1).unwrap();
        let (b, _) = s.take_avail(1).unwrap();
        s.push_used(1, 999, 0);
        s.push_used(1, u32::from(a), 0);
        s.push_used(1, u32::from(b), 0);
    }
    let stats = dev.stats();
    assert_eq!((stats.tx_packets, stats.tx_errors), (1, 1), "{stats:?}");
    // Receive: a length beyond the buffer, and one shorter than the header.
    {
        let mut s = state.borrow_mut();
        let (a, _) = s.take_avail(0).unwrap();
        let (b, _) = s.take_avail(0).unwrap();
        s.push_used(0, u32::from(a), 1 << 20);
        s.push_used(0, u32::from(b), 4);
    }
    assert!(state.borrow_mut().deliver(&frame(3, 60)));
    let mut got = Vec::new();
    assert_eq!(dev.rx_batch(0, &mut got, 32).unwrap(), 1);
    assert_eq!(got[0].to_vec(), frame(3, 60));
    let stats = dev.stats();
    assert_eq!(stats.rx_errors, 2);
    drop(got);
    // The receive pool lost nothing (the transmit packet still in flight is another pool's).
    let pool = dev.rx_pool(0).unwrap();
    let rx_held = dev.buffers_held() - dev.tx_pending(0);
    assert_eq!(pool.free_count() + rx_held, pool.capacity());
}

/// The reference for notifications with event index: the model's own walk over the indices
/// (or ring positions) the driver made available in the batch.
fn asked(event: u16, old: u16, new: u16) -> bool {
    let mut i = old;
    while i != new {
        if i == event {
            return true;
        }
        i = i.wrapping_add(1);
    }
    false
}

#[test]
fn split_event_index_notifies_exactly_when_avail_event_asks_across_the_wrap() {
    let (mut dev, state) = open_modern(F_QEMU_MODERN);
    assert!(dev.features().event_idx);
    // Flags are ignored with EVENT_IDX: NO_NOTIFY set changes nothing.
    state.borrow().set_used_flags(1, USED_F_NO_NOTIFY);
    let mut seed = 0x2545_f491_u32;
    let mut rnd = move |n: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed % n
    };
    let (mut expected, mut notified) = (0, 0);
    let mut total = 0u64;
    let pool = tx_pool(&state);
    // More than 65536 entries, so the 16-bit indices wrap round.
    while total < 70_000 {
        let n = 1 + rnd(32) as usize;
        let old = state.borrow().avail_idx(1);
        let event = old.wrapping_add(rnd(48) as u16).wrapping_sub(8);
        state.borrow().set_avail_event(1, event);
        let frames: Vec<Vec<u8>> = (0..n).map(|i| frame(i as u8, 60)).collect();
        let mut queue = from_pool(&pool, &frames);
        let before = state.borrow().notify_writes.len();
        assert_eq!(dev.tx_batch(0, &mut queue).unwrap(), n);
        let new = state.borrow().avail_idx(1);
        assert_eq!(new, old.wrapping_add(n as u16));
        let did = state.borrow().notify_writes.len() - before;
        let want = asked(event, old, new);
        assert_eq!(did, usize::from(want), "event {event} old {old} new {new}");
        expected += usize::from(want);
        notified += did;
        assert_eq!(state.borrow_mut().transmit().len(), n);
        total += n as u64;
    }
    assert!(expected > 100 && expected < notified + 1);
    assert_eq!(
        dev.tx_queue_stats(0).unwrap().notifications as usize,
        notified
    );
    // 2.4.7.2: used_event stays one behind what the driver has read, where the device never
    // interrupts.
    dev.stats();
    let s = state.borrow();
    let (_, _, used, _) = s.rings(1);
    assert_eq!(s.used_event(1), s.u16_at(used + 2).wrapping_sub(1));
}

#[test]
fn without_event_index_the_flags_decide() {
    let (mut dev, state) = open_modern(F_QEMU_MODERN & !F_EVENT_IDX);
    assert!(!dev.features().event_idx);
    assert_eq!(state.borrow().driver_features64 & F_EVENT_IDX, 0);
    state.borrow().set_used_flags(1, USED_F_NO_NOTIFY);
    let before = state.borrow().notify_writes.len();
    let mut queue = packets(&state, &[frame(1, 60)]);
    dev.tx_batch(0, &mut queue).unwrap();
    assert_eq!(state.borrow().notify_writes.len(), before);
    state.borrow().set_used_flags(1, 0);
    let mut queue = packets(&state, &[frame(2, 60)]);
    dev.tx_batch(0, &mut queue).unwrap();
    assert_eq!(state.borrow().notify_writes[before..], [(4, 1)]);
}

#[test]
fn packed_event_suppression_notifies_exactly_when_the_device_asks() {
    let (mut dev, state) = open_modern(F_QEMU_MODERN | F_RING_PACKED);
    let mut seed = 0x9e37_79b9_u32;
    let mut rnd = move |n: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed % n
    };
    let size = 256u16;
    // The driver's position as the model sees it: descriptors made available so far.
    let mut made = 0u64;
    let mut checked = [0usize; 3];
    let pool = tx_pool(&state);
    for batch in 0..3000 {
        let n = 1 + rnd(32) as u16;
        let mode = rnd(3) as u16; // 0 ENABLE, 1 DISABLE, 2 DESC
        // A position within two rings of where the driver is, with its wrap counter.
        let target = made + u64::from(rnd(u32::from(size) * 2)) - u64::from(size / 2).min(made);
        let (offset, wrap) = ((target % 256) as u16, (target / 256).is_multiple_of(2));
        state
            .borrow()
            .set_device_event(1, offset | (u16::from(wrap) << 15), mode);
        let before = state.borrow().notify_writes.len();
        let frames: Vec<Vec<u8>> = (0..n).map(|i| frame(i as u8, 60)).collect();
        let mut queue = from_pool(&pool, &frames);
        assert_eq!(
            dev.tx_batch(0, &mut queue).unwrap(),
            usize::from(n),
            "batch {batch}"
        );
        let did = state.borrow().notify_writes.len() - before;
        // Reference: the device named a position (and wrap counter: 1 on even laps) within a
        // ring of the current lap's start; it wants a notification once that position is
        // available, in this batch or before (see `PackedIndex::wants_notification`).
        let new = made + u64::from(n);
        let lap = new / 256 * 256;
        let named = (lap.saturating_sub(256)..lap + 256)
            .find(|&p| (p % 256) as u16 == offset && (p / 256).is_multiple_of(2) == wrap);
        let want = match mode {
            0 => true,
            1 => false,
            _ => named.is_some_and(|p| p < new),
        };
        assert_eq!(
            did,
            usize::from(want),
            "batch {batch} mode {mode} target {target} made {made}"
        );
        checked[usize::from(mode)] += usize::from(want);
        made += u64::from(n);
        assert_eq!(state.borrow_mut().transmit().len(), usize::from(n));
    }
    assert!(checked[2] > 20, "{checked:?}");
}

/// A generator against a device that flushes like QEMU's transmit bottom half (notifications
/// off while it runs, on again with the event index or DESC position at the next entry it reads
/// when it is done, then one more look): the driver must notify whenever the device asks, or the
/// device, which runs only when told, stalls with buffers available.
#[test]
fn a_qemu_like_flushing_device_never_stalls() {
    let flavours = [
        ("split", F_QEMU_MODERN & !F_EVENT_IDX),
        ("split+event_idx", F_QEMU_MODERN),
        ("packed", (F_QEMU_MODERN & !F_EVENT_IDX) | F_RING_PACKED),
        ("packed+event_idx", F_QEMU_MODERN | F_RING_PACKED),
    ];
    for (name, features, early) in flavours
        .iter()
        .flat_map(|&(n, f)| [(n, f, false), (n, f, true)])
    {
        let (mut dev, state) = open_modern(features);
        state.borrow_mut().bh = true;
        state.borrow_mut().enable_before_flush = early;
        let name = format!(
            "{name}{}",
            if early { " (on before the flush)" } else { "" }
        );
        let pool = tx_pool(&state);
        let mut pending = VecDeque::new();
        let mut sent = 0;
        for turn in 0..3000 {
            while pending.len() < 32 {
                let Some(mut p) = pool.alloc() else { break };
                p.set_len(60).unwrap();
                pending.push_back(p);
            }
            dev.tx_batch(0, &mut pending).unwrap();
            // The device runs only when its flush was scheduled by a notification.
            if turn % 3 == 0 {
                sent += state.borrow_mut().bh_run(48);
            }
            let s = state.borrow();
            let stalled = !s.bh_pending && {
                drop(s);
                state.borrow_mut().take_avail_peek(1)
            };
            assert!(
                !stalled,
                "{name}: turn {turn}: buffers available, device idle, not notified"
            );
        }
        assert!(sent > 40_000, "{name}: {sent}");
    }
}
