//! MSI-X interrupts (issue 14) against the model: the vectors the driver programs and reads
//! back (legacy 4.1.4.8, where they move the device config; modern 4.1.4.3), a refused vector,
//! and the receive queue's wait: notifications on only while it waits, the model's message
//! waking it, the timeout, and packets already there. Then VIRTIO_F_ACCESS_PLATFORM, accepted
//! only in an IOMMU domain.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::modern::{layout, modern_device};
use super::*;
use crate::regs::virtio::Registers;
use crate::virtio::transport::Modern;

type Model = Rc<RefCell<State>>;

fn irq_config() -> Config {
    Config {
        interrupts: true,
        ..config()
    }
}

/// A legacy model with `vectors` MSI-X vectors, opened with interrupts.
fn open_legacy_irq(features: u32, vectors: u16) -> Result<(Virtio<Legacy<FakeBus>>, Model)> {
    let (state, dma) = device(features);
    state.borrow_mut().msix_count = vectors;
    let regs = Registers::new(FakeBus(state.clone()))?;
    let source = FakeMsix(state.clone());
    let dev = Virtio::with_interrupts(
        "fake".into(),
        Legacy::new(regs),
        &dma,
        &irq_config(),
        Some(&source),
    )?;
    Ok((dev, state))
}

/// A modern model offering `features`, with `vectors` vectors, opened with interrupts (packed
/// rings when offered).
fn open_modern_irq(features: u64, vectors: u16) -> Result<(Virtio<Modern<FakeBar>>, Model)> {
    let (state, dma) = modern_device(features);
    state.borrow_mut().msix_count = vectors;
    let transport = Modern::new(FakeBar(state.clone()), &layout(), None).unwrap();
    let source = FakeMsix(state.clone());
    let dev =
        Virtio::with_interrupts("fake".into(), transport, &dma, &irq_config(), Some(&source))?;
    Ok((dev, state))
}

const LEGACY: u32 = F_MAC | F_STATUS | F_CTRL_VQ | F_CTRL_RX | F_ANY_LAYOUT;
const SPLIT_NO_EVENT_IDX: u64 = F_QEMU_MODERN & !F_EVENT_IDX;
const PACKED: u64 = F_QEMU_MODERN | F_RING_PACKED;
const PACKED_NO_EVENT_IDX: u64 = (F_QEMU_MODERN | F_RING_PACKED) & !F_EVENT_IDX;

/// Whether `fd` is readable now.
fn readable(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, alive across the call; a zero timeout.
    let r = unsafe { libc::poll(&raw mut pfd, 1, 0) };
    r > 0
}

/// Runs `check` on a device of every kind: legacy split, modern split with and without
/// EVENT_IDX, packed with and without it.
fn on_every_kind(check: impl Fn(&mut dyn Waiting, &Rc<RefCell<State>>, &str)) {
    let (mut d, s) = open_legacy_irq(LEGACY, 2).unwrap();
    check(&mut d, &s, "legacy");
    for (features, kind) in [
        (F_QEMU_MODERN, "split, EVENT_IDX"),
        (SPLIT_NO_EVENT_IDX, "split"),
        (PACKED, "packed, EVENT_IDX"),
        (PACKED_NO_EVENT_IDX, "packed"),
    ] {
        let (mut d, s) = open_modern_irq(features, 4).unwrap();
        assert_eq!(d.features().packed, kind.starts_with("packed"), "{kind}");
        assert_eq!(d.features().event_idx, kind.contains("EVENT_IDX"), "{kind}");
        check(&mut d, &s, kind);
    }
}

/// The calls the wait tests make, whatever the transport.
trait Waiting {
    fn rx_wait(&mut self, timeout: Duration) -> Result<bool>;
    fn rx_arm(&mut self) -> Result<Option<RawFd>>;
    fn rx_disarm(&mut self) -> Result<bool>;
    fn rx(&mut self) -> usize;
}

impl<T: Transport> Waiting for Virtio<T> {
    fn rx_wait(&mut self, timeout: Duration) -> Result<bool> {
        Virtio::rx_wait(self, 0, timeout)
    }
    fn rx_arm(&mut self) -> Result<Option<RawFd>> {
        Virtio::rx_arm(self, 0)
    }
    fn rx_disarm(&mut self) -> Result<bool> {
        Virtio::rx_disarm(self, 0)
    }
    fn rx(&mut self) -> usize {
        let mut out = Vec::new();
        let n = self.rx_batch(0, &mut out, 64).unwrap();
        drop(out);
        n
    }
}

#[test]
fn legacy_vectors_are_programmed_and_the_device_config_moves() {
    let (mut dev, state) = open_legacy_irq(LEGACY, 2).unwrap();
    {
        let s = state.borrow();
        assert!(s.msix_enabled);
        // Written and read back: the receive queue on vector 0, the rest on none.
        assert_eq!(s.queues[0].vector, Some(0));
        assert_eq!(s.queues[1].vector, None);
        assert_eq!(s.queues[2].vector, None);
        assert_eq!(s.config_vector, None);
        let written: Vec<(u16, u16)> = s.vector_writes.clone();
        assert!(written.contains(&(NO_VECTOR, NO_VECTOR)), "{written:?}");
        assert!(written.contains(&(0, 0)), "{written:?}");
        assert!(written.contains(&(1, NO_VECTOR)), "{written:?}");
    }
    // The device config is at 0x18 now (the model panics on the 0x14 offsets): the MAC and the
    // link status read from there, and the MAC is written there.
    assert_eq!(dev.mac(), MacAddress(MAC));
    assert!(dev.link().up);
    state.borrow_mut().net_status = 0;
    assert!(!dev.link().up);
    let new = MacAddress([0x02, 1, 2, 3, 4, 5]);
    dev.set_mac(new).unwrap();
    assert_eq!(state.borrow().mac, new.0);
}

#[test]
fn modern_vectors_are_programmed_before_each_queue_is_enabled() {
    // The model asserts queue_msix_vector comes before queue_enable (4.1.5.1.3).
    let (_dev, state) = open_modern_irq(F_QEMU_MODERN, 4).unwrap();
    let s = state.borrow();
    assert_eq!(s.queues[0].vector, Some(0));
    assert_eq!(s.queues[1].vector, None);
    assert_eq!(s.queues[2].vector, None);
    assert_eq!(s.config_vector, None);
    assert!(s.vector_writes.contains(&(0, 0)), "{:?}", s.vector_writes);
    assert!(
        s.vector_writes.contains(&(NO_VECTOR, NO_VECTOR)),
        "{:?}",
        s.vector_writes
    );
}

#[test]
fn a_vector_the_device_refuses_is_a_clear_error_and_the_device_is_reset() {
    let check = |e: Error, state: &Rc<RefCell<State>>| {
        let msg = e.to_string();
        assert!(
            msg.contains("VIRTIO_MSI_NO_VECTOR") && msg.contains("queue 0"),
            "{msg}"
        );
        assert_eq!(state.borrow().status, 0, "device not reset");
    };
    // Legacy: the device cannot map the vector.
    let (state, dma) = device(LEGACY);
    {
        let mut s = state.borrow_mut();
        s.msix_count = 2;
        s.refuse_vectors = true;
    }
    let e = Virtio::with_interrupts(
        "fake".into(),
        Legacy::new(Registers::new(FakeBus(state.clone())).unwrap()),
        &dma,
        &irq_config(),
        Some(&FakeMsix(state.clone())),
    )
    .err()
    .unwrap();
    check(e, &state);
    // Modern.
    let (state, dma) = modern_device(F_QEMU_MODERN);
    {
        let mut s = state.borrow_mut();
        s.msix_count = 4;
        s.refuse_vectors = true;
    }
    let e = Virtio::with_interrupts(
        "fake".into(),
        Modern::new(FakeBar(state.clone()), &layout(), None).unwrap(),
        &dma,
        &irq_config(),
        Some(&FakeMsix(state.clone())),
    )
    .err()
    .unwrap();
    check(e, &state);
}

#[test]
fn interrupts_need_a_source_and_a_vector() {
    let (state, dma) = device(LEGACY);
    let e = Virtio::new("fake".into(), FakeBus(state.clone()), &dma, &irq_config())
        .err()
        .unwrap();
    assert!(matches!(e, Error::InterruptsNeedVfio { .. }), "{e}");
    assert!(state.borrow().status_writes.is_empty(), "device touched");
    let e = open_legacy_irq(LEGACY, 0).err().unwrap();
    assert!(matches!(e, Error::TooFewVectors { .. }), "{e}");
    // A throttle: virtio-net has none, so asking for one is refused, before the device is
    // touched.
    let (state, dma) = device(LEGACY);
    let throttled = Config {
        itr_us: Some(20),
        ..irq_config()
    };
    let e = Virtio::new("fake".into(), FakeBus(state.clone()), &dma, &throttled)
        .err()
        .unwrap();
    assert!(e.to_string().contains("virtio-net has none"), "{e}");
    assert!(state.borrow().status_writes.is_empty(), "device touched");
}

#[test]
fn a_waiting_queue_wakes_when_the_device_uses_a_buffer() {
    on_every_kind(|dev, state, kind| {
        assert!(
            !state.borrow().would_interrupt(0),
            "{kind}: not suppressed while polling"
        );
        // Polling: a used buffer sends nothing.
        assert!(state.borrow_mut().deliver(&frame(1, 60)));
        assert_eq!(state.borrow().msix_messages[0], 0, "{kind}");
        assert_eq!(dev.rx(), 1, "{kind}");
        // Armed: notifications on, and the device's message makes the eventfd readable.
        let fd = dev.rx_arm().unwrap().expect("nothing waiting: armed");
        assert!(
            state.borrow().would_interrupt(0),
            "{kind}: not enabled while waiting"
        );
        assert!(!readable(fd), "{kind}: a stale message");
        assert!(state.borrow_mut().deliver(&frame(2, 60)));
        assert_eq!(state.borrow().msix_messages[0], 1, "{kind}");
        assert!(readable(fd), "{kind}: no message");
        assert!(dev.rx_disarm().unwrap(), "{kind}: the packet is not seen");
        assert!(!readable(fd), "{kind}: eventfd not cleared");
        // Suppressed again.
        assert!(
            !state.borrow().would_interrupt(0),
            "{kind}: not suppressed after the wait"
        );
        assert_eq!(dev.rx(), 1, "{kind}");
        assert!(state.borrow_mut().deliver(&frame(3, 60)));
        assert_eq!(
            state.borrow().msix_messages[0],
            1,
            "{kind}: a message while polling"
        );
        assert_eq!(dev.rx(), 1, "{kind}");
        // The transmit queue has no vector: transmits send nothing.
        assert_eq!(state.borrow().msix_messages[1], 0, "{kind}");
    });
}

#[test]
fn a_wait_with_nothing_coming_times_out_and_suppresses_again() {
    on_every_kind(|dev, state, kind| {
        let start = Instant::now();
        assert!(!dev.rx_wait(Duration::from_millis(30)).unwrap(), "{kind}");
        assert!(start.elapsed() >= Duration::from_millis(30), "{kind}");
        assert!(!state.borrow().would_interrupt(0), "{kind}: left enabled");
        // A zero timeout does not sleep.
        assert!(!dev.rx_wait(Duration::ZERO).unwrap(), "{kind}");
        assert!(!state.borrow().would_interrupt(0), "{kind}: left enabled");
    });
}

#[test]
fn packets_waiting_mean_nothing_is_armed_and_no_wait() {
    on_every_kind(|dev, state, kind| {
        assert!(state.borrow_mut().deliver(&frame(1, 60)));
        assert_eq!(dev.rx_arm().unwrap(), None, "{kind}");
        assert!(!state.borrow().would_interrupt(0), "{kind}: armed anyway");
        let start = Instant::now();
        assert!(dev.rx_wait(Duration::from_secs(10)).unwrap(), "{kind}");
        assert!(start.elapsed() < Duration::from_secs(5), "{kind}: slept");
        assert!(dev.rx_disarm().unwrap(), "{kind}");
        assert_eq!(dev.rx(), 1, "{kind}");
        assert!(!dev.rx_disarm().unwrap(), "{kind}");
    });
}

#[test]
fn a_message_without_a_packet_does_not_end_the_wait() {
    let (mut dev, state) = open_legacy_irq(LEGACY, 2).unwrap();
    let irq = state.borrow().irqs[0].try_clone().unwrap();
    let spurious = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        irq.signal();
    });
    let start = Instant::now();
    assert!(!dev.rx_wait(0, Duration::from_millis(200)).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(200));
    spurious.join().unwrap();
}

#[test]
fn without_interrupts_waiting_is_an_error() {
    let (mut dev, _state) = open(LEGACY);
    for e in [
        dev.rx_wait(0, Duration::ZERO).err().unwrap(),
        dev.rx_arm(0).err().unwrap(),
        dev.rx_disarm(0).err().unwrap(),
    ] {
        assert!(matches!(e, Error::InterruptsOff { .. }), "{e}");
    }
    let (mut dev, _state) = open_legacy_irq(LEGACY, 2).unwrap();
    let e = dev.rx_arm(1).err().unwrap();
    assert!(matches!(e, Error::NoSuchQueue { .. }), "{e}");
}

#[test]
fn access_platform_is_accepted_only_in_an_iommu_domain() {
    let open_in = |features: u64, domain: DmaDomain| {
        let (state, mut dma) = modern_device(features);
        dma.domain = domain;
        state.borrow_mut().dma = Some(dma.clone());
        Virtio::new_modern(
            "fake".into(),
            FakeBar(state.clone()),
            &layout(),
            None,
            &dma,
            &config(),
        )
        .map(|dev| (dev, state))
    };
    let iommu = DmaDomain::Iommu(4242);
    let (dev, state) = open_in(F_QEMU_MODERN | F_ACCESS_PLATFORM, iommu).unwrap();
    assert!(dev.features().access_platform);
    assert_ne!(state.borrow().driver_features64 & F_ACCESS_PLATFORM, 0);
    // Refused where the driver hands out addresses the IOMMU would translate into others.
    let e = open_in(F_QEMU_MODERN | F_ACCESS_PLATFORM, DmaDomain::new_model())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("VIRTIO_F_ACCESS_PLATFORM"), "{e}");
    // An IOMMU domain for a device whose DMA bypasses the IOMMU is refused too.
    let e = open_in(F_QEMU_MODERN, iommu).err().unwrap().to_string();
    assert!(e.contains("bypasses the IOMMU"), "{e}");
    // Without the bit outside an IOMMU domain: not asked for.
    let (dev, state) = open_in(F_QEMU_MODERN, DmaDomain::new_model()).unwrap();
    assert!(!dev.features().access_platform);
    assert_eq!(state.borrow().driver_features64 & F_ACCESS_PLATFORM, 0);
}

#[test]
fn the_access_platform_probe_reads_the_offer_without_touching_the_device() {
    for (features, offered) in [
        (F_QEMU_MODERN | F_ACCESS_PLATFORM, true),
        (F_QEMU_MODERN, false),
    ] {
        let (state, _dma) = modern_device(features);
        let probe = crate::virtio::offers_access_platform(FakeBar(state.clone()), &layout());
        assert_eq!(probe, Ok(offered));
        let s = state.borrow();
        assert!(
            s.status_writes.is_empty(),
            "status written: {:?}",
            s.status_writes
        );
        assert_eq!(s.driver_features64, 0, "driver features written");
    }
}
