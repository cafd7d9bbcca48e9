//! The 82599 interrupt path against the model (issue 14): the driver programs its vectors as
//! the datasheet says (read back from the model's registers, and no report from its rules), the
//! model throttles a vector by EITR in virtual time, a cause raised while the vector is masked
//! stays pending and sends its message when it is unmasked, a queue waiting in `wait` wakes when
//! frames arrive (another thread steps the world) and times out when none do, and bad input
//! (a throttle EITR cannot hold, more queues than vectors, interrupts without a way to deliver
//! them, a wait without interrupts) gives a clear error. The model's interrupt rules are held to
//! what they catch at the end.

mod common;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rixy::regs::ixgbe::{
    EIAC, EIAM, EICR, EICS, EIMS, EITR, GPIE, IVAR, InterruptVector, IvarEntry, RegisterId,
    Registers,
};
use rixy::sim::{Port, PortConfig, Severity, SimBar, World};
use rixy::{Config, Device, Error, InterruptSource, Packet};
use tock_registers::interfaces::{ReadWriteable, Writeable};

fn config(rx_queues: u16, itr_us: u32) -> Config {
    Config {
        rx_queues,
        tx_queues: 1,
        rx_ring_size: 128,
        tx_ring_size: 128,
        link_timeout: Duration::from_secs(1),
        interrupts: true,
        itr_us: Some(itr_us),
        ..Config::default()
    }
}

/// The error of an open that must fail.
#[track_caller]
fn refused(opened: rixy::Result<Device>) -> Error {
    match opened {
        Ok(dev) => panic!("{} opened", dev.name()),
        Err(e) => e,
    }
}

fn port(world: &World) -> Port {
    world.add_port(PortConfig {
        gprc_counts_drops: false,
        ..PortConfig::default()
    })
}

#[track_caller]
fn assert_no_reports(port: &Port) {
    let found = port.reports_at_least(Severity::Pedantic);
    assert!(
        found.is_empty(),
        "the model reported:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The port's registers, as a test writes them beside the driver (what a waiting driver does
/// to EIMS, or a model test's own programming).
fn regs(port: &Port) -> Registers<SimBar> {
    Registers::new(port.bar()).unwrap()
}

/// Receives everything the ring holds; returns how many packets.
fn drain(dev: &mut Device) -> usize {
    let mut got: VecDeque<Packet> = VecDeque::new();
    let mut n = 0;
    while dev.rx_batch(0, &mut got, 64).unwrap() > 0 {
        n += got.len();
        rixy::Mempool::free_bulk(got.drain(..));
    }
    n
}

#[test]
fn vectors_are_programmed_as_the_datasheet_says() {
    let world = World::new();
    let p = port(&world);
    let _dev = Device::on_sim_port("sim:irq", &world, &p, &config(4, 100)).unwrap();
    // 8.2.3.5.18: MSI-X mode, auto-mask on the message, the pending bit array.
    let gpie = p.register(RegisterId::GPIE, 0);
    assert!(GPIE::MSIX_MODE.is_set(gpie), "GPIE {gpie:#x}");
    assert!(GPIE::EIAME.is_set(gpie), "GPIE {gpie:#x}");
    assert!(GPIE::PBA_SUPPORT.is_set(gpie), "GPIE {gpie:#x}");
    // 8.2.3.5.16: receive queue n on vector n, valid; transmit queues unmapped.
    for entry in 0..2usize {
        let ivar = p.register(RegisterId::IVAR, entry);
        assert_eq!(
            IVAR::RX0_VECTOR.read(ivar),
            2 * entry as u32,
            "IVAR[{entry}]"
        );
        assert!(IVAR::RX0_VALID.is_set(ivar), "IVAR[{entry}] {ivar:#x}");
        assert_eq!(IVAR::RX1_VECTOR.read(ivar), 2 * entry as u32 + 1);
        assert!(IVAR::RX1_VALID.is_set(ivar), "IVAR[{entry}] {ivar:#x}");
        assert!(!IVAR::TX0_VALID.is_set(ivar) && !IVAR::TX1_VALID.is_set(ivar));
    }
    assert_eq!(
        p.register(RegisterId::IVAR, 2),
        0,
        "queue 4 and up: no entry"
    );
    // 8.2.3.5.5, 8.2.3.5.6: the four vectors clear and mask themselves on their message.
    assert_eq!(EIAC::RTXQ.read(p.register(RegisterId::EIAC, 0)), 0xF);
    assert_eq!(EIAM::RTXQ.read(p.register(RegisterId::EIAM, 0)), 0xF);
    // 8.2.3.5.12: 100 µs is 50 units of 2 µs, for each vector; the others untouched.
    for v in 0..4 {
        assert_eq!(
            EITR::ITR_INTERVAL.read(p.register(RegisterId::EITR, v)),
            50,
            "EITR[{v}]"
        );
    }
    assert_eq!(p.register(RegisterId::EITR, 4), 0);
    // Polling is the default: every vector stays masked until its queue waits.
    assert_eq!(p.register(RegisterId::EIMS, 0), 0);
    assert_no_reports(&p);
}

/// Each queue has a vector of its own: frames all steered to queue 1 wake queue 1 through
/// vector 1, and vector 0 sends nothing.
#[test]
fn each_receive_queue_wakes_through_its_own_vector() {
    let world = World::new();
    let p = port(&world);
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &config(2, 0)).unwrap();
    dev.set_rss_table(&[1; rixy::ixgbe::RSS_TABLE_LEN]).unwrap();
    let (mut rx, _tx) = dev.take_queues().unwrap();
    let (mut q0, mut q1) = {
        let q1 = rx.pop().unwrap();
        (rx.pop().unwrap(), q1)
    };
    std::thread::scope(|s| {
        let waiter = s.spawn(move || {
            let t = Instant::now();
            let ready = q1.wait(Duration::from_secs(10)).unwrap();
            ready && t.elapsed() < Duration::from_secs(10)
        });
        // The waiter has unmasked vector 1: it sleeps, or is about to.
        while p.register(RegisterId::EIMS, 0) & 0b10 == 0 {
            std::thread::yield_now();
        }
        p.inject_burst(3);
        world.step();
        assert!(
            waiter.join().unwrap(),
            "queue 1 woke with packets, before the timeout"
        );
    });
    assert_eq!(p.msix_messages(1), 1);
    assert_eq!(p.msix_messages(0), 0);
    assert!(!q0.wait(Duration::ZERO).unwrap(), "queue 0 got nothing");
    assert_no_reports(&p);
}

/// Frames every 10 µs of virtual time for 20 ms, the vector unmasked again after every step
/// (what a driver that waits whenever its ring is empty does); returns the messages sent.
fn messages_under_steady_traffic(itr_us: u32) -> u64 {
    let world = World::new();
    world.set_quantum(Duration::from_micros(10));
    let p = port(&world);
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &config(1, itr_us)).unwrap();
    let regs = regs(&p);
    let start = world.now();
    let mut received = 0;
    for _ in 0..2000 {
        p.inject_burst(1);
        world.step();
        received += drain(&mut dev);
        regs.eims().write(EIMS::RTXQ::val_checked(1).unwrap());
    }
    assert_eq!(received, 2000, "every frame was received");
    assert_eq!(world.now() - start, Duration::from_millis(20));
    assert_no_reports(&p);
    p.msix_messages(0)
}

#[test]
fn eitr_throttles_a_vector_in_virtual_time() {
    // Unthrottled, every frame (one per step) sends a message.
    assert_eq!(messages_under_steady_traffic(0), 2000);
    // 100 µs between messages: at most one per 10 steps over 20 ms (the first one at once),
    // and the vector is never idle longer than the interval while frames keep coming.
    let throttled = messages_under_steady_traffic(100);
    assert!(
        (195..=201).contains(&throttled),
        "{throttled} messages in 20 ms at one per 100 µs"
    );
    let throttled = messages_under_steady_traffic(1000);
    assert!(
        (19..=21).contains(&throttled),
        "{throttled} messages in 20 ms at one per 1000 µs"
    );
}

/// Transmit queues raise causes through IVAR too: transmit queue 0 mapped (by hand: rixy waits
/// only on receive) to vector 1 sends its message when its packet is sent.
#[test]
fn a_transmit_queue_raises_its_cause_through_ivar() {
    let world = World::new();
    let p = port(&world);
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &config(2, 0)).unwrap();
    let r = regs(&p);
    r.ivar(IvarEntry::try_from(0).unwrap())
        .modify(IVAR::TX0_VECTOR::val_checked(1).unwrap() + IVAR::TX0_VALID::SET);
    r.eims().write(EIMS::RTXQ::val_checked(1 << 1).unwrap());
    world.step();
    assert_eq!(p.msix_messages(1), 0, "nothing sent yet");
    let pool = dev.mempool(64, 2048).unwrap();
    let mut packets: VecDeque<Packet> = VecDeque::new();
    let mut packet = pool.alloc().unwrap();
    packet.set_len(60).unwrap();
    packets.push_back(packet);
    assert_eq!(dev.tx_batch(0, &mut packets).unwrap(), 1);
    world.step();
    assert_eq!(p.msix_messages(1), 1);
    assert_eq!(p.msix_messages(0), 0);
    assert_no_reports(&p);
}

#[test]
fn a_cause_raised_while_masked_is_not_lost() {
    let world = World::new();
    let p = port(&world);
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &config(1, 0)).unwrap();
    // The vector is masked (the driver polls): frames raise the cause, no message goes.
    p.inject_burst(2);
    world.step();
    assert_eq!(p.msix_messages(0), 0);
    assert_eq!(
        EICR::RTXQ.read(p.register(RegisterId::EICR, 0)),
        1,
        "pending"
    );
    // Unmasking the pending cause sends the message at once, without another frame or step;
    // then the message clears the cause (EIAC) and masks the vector (EIAM).
    regs(&p).eims().write(EIMS::RTXQ::val_checked(1).unwrap());
    assert_eq!(p.msix_messages(0), 1);
    assert_eq!(
        EICR::RTXQ.read(p.register(RegisterId::EICR, 0)),
        0,
        "auto-cleared"
    );
    assert_eq!(
        EIMS::RTXQ.read(p.register(RegisterId::EIMS, 0)),
        0,
        "auto-masked"
    );
    // The driver's wait finds the frames at once, whatever the interrupt did.
    assert!(dev.rx_wait(0, Duration::from_secs(5)).unwrap());
    assert_eq!(drain(&mut dev), 2);
    assert_no_reports(&p);
}

#[test]
fn a_waiting_queue_wakes_when_frames_arrive() {
    let world = World::new();
    let p = port(&world);
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &config(1, 10)).unwrap();
    let (mut rx, _tx) = dev.take_queues().unwrap();
    let mut rx = rx.pop().unwrap();
    let (done, woke) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let t = Instant::now();
        let ready = rx.wait(Duration::from_secs(10)).unwrap();
        let waited = t.elapsed();
        done.send(()).unwrap();
        (ready, waited, rx)
    });
    // The waiter unmasked its vector: it sleeps on the eventfd, or is about to.
    while p.register(RegisterId::EIMS, 0) & 1 == 0 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert!(woke.try_recv().is_err(), "nothing woke it yet");
    p.inject_burst(5);
    world.step();
    let (ready, waited, mut rx) = waiter.join().unwrap();
    assert!(ready);
    assert!(waited < Duration::from_secs(10), "woken, not timed out");
    // The message went with the first write-back; the step has written all five since.
    let mut got = VecDeque::new();
    assert_eq!(rx.rx_batch(&mut got, 64).unwrap(), 5);
    assert_eq!(p.msix_messages(0), 1, "woken by the one message");
    assert_no_reports(&p);
}

#[test]
fn a_waiting_queue_times_out_when_nothing_arrives() {
    let world = World::new();
    let p = port(&world);
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &config(1, 10)).unwrap();
    let stepper = {
        let world = world.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                world.step();
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let t = Instant::now();
    assert!(!dev.rx_wait(0, Duration::from_millis(50)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(50));
    stepper.join().unwrap();
    assert_eq!(
        p.register(RegisterId::EIMS, 0),
        0,
        "masked again after the wait"
    );
    assert_eq!(p.msix_messages(0), 0);
    // A frame that came while nobody waited is found by the next wait at once.
    p.inject_burst(1);
    world.step();
    assert!(dev.rx_wait(0, Duration::from_secs(5)).unwrap());
    assert_no_reports(&p);
}

#[test]
fn a_simulated_port_on_the_wall_clock_wakes_too() {
    // `sim:N`: a line-rate partner; nobody steps the world but the device calls.
    let mut dev = rixy::open(
        "sim:41",
        &Config {
            link_timeout: Duration::from_secs(2),
            ..config(1, 10)
        },
    )
    .unwrap();
    let t = Instant::now();
    assert!(dev.rx_wait(0, Duration::from_secs(5)).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5));
    let mut got = VecDeque::new();
    assert!(dev.rx_batch(0, &mut got, 32).unwrap() > 0);
}

#[test]
fn a_throttle_eitr_cannot_hold_is_refused() {
    for itr_us in [3, 1023, 1024, 5000] {
        let world = World::new();
        let p = port(&world);
        let err = refused(Device::on_sim_port(
            "sim:irq",
            &world,
            &p,
            &config(1, itr_us),
        ));
        let msg = err.to_string();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{msg}");
        assert!(
            msg.contains("steps of 2 µs") && msg.contains("1022"),
            "{msg}"
        );
        assert_eq!(p.access_count(), 0, "refused before the device was touched");
    }
    // Without interrupts the throttle is not used, and not checked.
    let world = World::new();
    let p = port(&world);
    let cfg = Config {
        interrupts: false,
        ..config(1, 5000)
    };
    Device::on_sim_port("sim:irq", &world, &p, &cfg).unwrap();
}

#[test]
fn more_queues_than_vectors_is_refused() {
    let world = World::new();
    let p = world.add_port(PortConfig {
        msix_vectors: 2,
        ..PortConfig::default()
    });
    let err = refused(Device::on_sim_port("sim:irq", &world, &p, &config(4, 10)));
    assert!(
        matches!(
            err,
            Error::TooFewVectors {
                needed: 4,
                available: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("use at most 2 receive queues"),
        "{err}"
    );
    assert_eq!(p.access_count(), 0);
    // The source refuses it too.
    assert!(matches!(
        p.enable_msix(3),
        Err(Error::TooFewVectors { needed: 3, .. })
    ));
    // Two queues fit.
    Device::on_sim_port("sim:irq", &world, &p, &config(2, 10)).unwrap();
}

#[test]
fn interrupts_on_a_device_mapped_through_sysfs_name_vfio() {
    // An 82599 bound to its kernel driver in a fake sysfs tree: refused before it is unbound.
    let sysfs = common::FakeSysfs::new();
    sysfs.add("0000:03:00.0", 0x8086, 0x10fb, 0x02);
    sysfs.bind("0000:03:00.0", "ixgbe");
    let cfg = Config {
        sysfs_root: sysfs.root(),
        ..config(1, 10)
    };
    let err = refused(rixy::open("0000:03:00.0", &cfg));
    assert!(matches!(err, Error::InterruptsNeedVfio { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("VFIO") && msg.contains("vfio-pci"), "{msg}");
    assert!(msg.starts_with("0000:03:00.0"), "{msg}");
    assert_eq!(sysfs.unbound("ixgbe"), "", "nothing was unbound");
}

#[test]
fn a_wait_without_interrupts_is_an_error() {
    let world = World::new();
    let p = port(&world);
    let cfg = Config {
        interrupts: false,
        ..config(1, 10)
    };
    let mut dev = Device::on_sim_port("sim:irq", &world, &p, &cfg).unwrap();
    let err = dev.rx_wait(0, Duration::from_millis(10)).unwrap_err();
    assert!(
        matches!(err, Error::InterruptsOff { queue: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Config::interrupts"), "{err}");
    // No vector was touched.
    assert_eq!(p.register(RegisterId::GPIE, 0), 0);
    assert_eq!(p.register(RegisterId::EIMS, 0), 0);
    // A waiting queue that has packets says so without an interrupt.
    p.inject_burst(1);
    world.step();
    assert!(dev.rx_wait(0, Duration::ZERO).unwrap());
}

/// The model's interrupt rules, each on the mistake it catches, with the device's registers
/// programmed by hand.
#[test]
fn the_model_checks_the_interrupt_programming() {
    let rules = |p: &Port| -> Vec<&'static str> { p.reports().iter().map(|r| r.rule).collect() };

    // A vector the host has not set up: the message is not delivered, and reported.
    let world = World::new();
    let p = port(&world);
    let r = regs(&p);
    r.gpie().write(GPIE::MSIX_MODE::SET);
    r.ivar(IvarEntry::try_from(0).unwrap())
        .write(IVAR::RX0_VECTOR::val_checked(3).unwrap() + IVAR::RX0_VALID::SET);
    r.eims().write(EIMS::RTXQ::val_checked(1 << 3).unwrap());
    r.eics().write(EICS::RTXQ::val_checked(1 << 3).unwrap());
    assert_eq!(rules(&p), ["msix-vector-not-enabled"]);
    assert_eq!(p.msix_messages(3), 0);
    // Once the host sets it up, software's EICS sends it.
    let irqs = p.enable_msix(4).unwrap();
    r.eims().write(EIMS::RTXQ::val_checked(1 << 3).unwrap());
    r.eics().write(EICS::RTXQ::val_checked(1 << 3).unwrap());
    assert_eq!(p.msix_messages(3), 1);
    assert_eq!(irqs[3].clear(), 1, "the host's eventfd was signalled");
    assert_eq!(irqs[0].clear(), 0);

    // An enabled cause no IVAR entry maps to.
    let p = port(&world);
    regs(&p)
        .eims()
        .write(EIMS::RTXQ::val_checked(1 << 5).unwrap());
    assert_eq!(rules(&p), ["interrupt-without-ivar"]);

    // An interval written in µs, unshifted, lands in the reserved low bits.
    let p = port(&world);
    regs(&p)
        .eitr(InterruptVector::try_from(0).unwrap())
        .set(100);
    let found = p.reports();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, "eitr-out-of-range");
    assert_eq!(found[0].section, "8.2.3.5.12");
    assert_eq!(found[0].severity, Severity::Warn);

    // A queue mapped to a vector the port's MSI-X table lacks.
    let p = world.add_port(PortConfig {
        msix_vectors: 8,
        ..PortConfig::default()
    });
    regs(&p)
        .ivar(IvarEntry::try_from(1).unwrap())
        .write(IVAR::RX1_VECTOR::val_checked(9).unwrap() + IVAR::RX1_VALID::SET);
    assert_eq!(rules(&p), ["ivar-vector-out-of-range"]);

    // A queue on vector 16 or above, which the model cannot raise (no EICS_EX and friends).
    let p = port(&world);
    regs(&p)
        .ivar(IvarEntry::try_from(0).unwrap())
        .write(IVAR::RX0_VECTOR::val_checked(20).unwrap() + IVAR::RX0_VALID::SET);
    assert_eq!(rules(&p), ["ivar-vector-not-modelled"]);

    // Several vectors set up, but MSI-X mode off: everything goes to vector 0.
    let p = port(&world);
    let irqs = p.enable_msix(2).unwrap();
    let r = regs(&p);
    r.ivar(IvarEntry::try_from(0).unwrap())
        .write(IVAR::RX0_VECTOR::val_checked(1).unwrap() + IVAR::RX0_VALID::SET);
    r.eims().write(EIMS::RTXQ::val_checked(1 << 1).unwrap());
    r.eics().write(EICS::RTXQ::val_checked(1 << 1).unwrap());
    assert_eq!(rules(&p), ["msix-mode-off"]);
    assert_eq!((irqs[0].clear(), irqs[1].clear()), (1, 0));
}

/// A second port of the same world, with its own MAC address.
fn second_port(world: &World) -> Port {
    let mut mac = rixy::sim::DEFAULT_MAC;
    mac[5] = 0x42;
    world.add_port(PortConfig {
        mac,
        ..PortConfig::default()
    })
}

#[test]
fn one_thread_waits_on_two_devices_and_wakes_for_either() {
    for which in 0..2 {
        let world = World::new();
        let ports = [port(&world), second_port(&world)];
        let mut devs: Vec<Device> = ports
            .iter()
            .map(|p| Device::on_sim_port("sim:irq", &world, p, &config(1, 10)).unwrap())
            .collect();
        let (done, woke) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let t = Instant::now();
            let [a, b] = &mut devs[..] else {
                unreachable!()
            };
            let ready = rixy::wait_any(&mut [(a, 0), (b, 0)], Duration::from_secs(10)).unwrap();
            done.send(()).unwrap();
            (ready, t.elapsed(), devs)
        });
        // Both vectors unmasked: the waiter sleeps on both eventfds, or is about to.
        while ports
            .iter()
            .any(|p| p.register(RegisterId::EIMS, 0) & 1 == 0)
        {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(woke.try_recv().is_err(), "nothing woke it yet");
        ports[which].inject_burst(3);
        world.step();
        let (ready, waited, mut devs) = waiter.join().unwrap();
        assert!(ready, "port {which}");
        assert!(waited < Duration::from_secs(10), "woken, not timed out");
        // Both vectors masked again, and the frames are on the port that got them.
        for p in &ports {
            assert_eq!(
                p.register(RegisterId::EIMS, 0) & 1,
                0,
                "masked after the wait"
            );
        }
        assert_eq!(drain(&mut devs[which]), 3);
        assert_eq!(drain(&mut devs[1 - which]), 0);
        for p in &ports {
            assert_no_reports(p);
        }
    }
}

#[test]
fn waiting_on_two_idle_devices_times_out_and_a_device_without_interrupts_is_refused() {
    let world = World::new();
    let ports = [port(&world), second_port(&world)];
    let mut a = Device::on_sim_port("sim:irq", &world, &ports[0], &config(1, 10)).unwrap();
    let mut b = Device::on_sim_port("sim:irq", &world, &ports[1], &config(1, 10)).unwrap();
    let t = Instant::now();
    let ready = rixy::wait_any(&mut [(&mut a, 0), (&mut b, 0)], Duration::from_millis(30)).unwrap();
    assert!(!ready);
    assert!(
        t.elapsed() >= Duration::from_millis(30),
        "{:?}",
        t.elapsed()
    );
    drop(b);
    let plain = Config {
        interrupts: false,
        ..config(1, 10)
    };
    let mut c = Device::on_sim_port("sim:plain", &world, &ports[1], &plain).unwrap();
    let err =
        rixy::wait_any(&mut [(&mut a, 0), (&mut c, 0)], Duration::from_millis(5)).unwrap_err();
    assert!(matches!(err, Error::InterruptsOff { .. }), "{err}");
    // The first device, armed before the refusal, was disarmed.
    assert_eq!(ports[0].register(RegisterId::EIMS, 0) & 1, 0);
}
